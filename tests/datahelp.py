"""What the snapshot and backup tests share: a deployment of the schema stand-in with a DB
volume of odd files, and a checksum listing of a volume computed by the engine itself."""
import subprocess
import time
from pathlib import Path

from conftest import STANDIN, TestEngine, run_cli

DB = "/var/lib/mysql"
# Odd files: a few MB of random data, modes, owners, symlinks (one dangling), a hard link,
# an empty directory with the sticky bit, an old directory mtime, a name with a space.
FILL = (f"cd {DB} && mkdir -p db/sub empty && dd if=/dev/urandom of=db/ibdata1 bs=1M count=4 2>/dev/null && "
        "echo secret > db/sub/key && chmod 600 db/sub/key && chown 9869:9869 db db/sub/key && "
        "ln -s db/ibdata1 link && ln -s /nonexistent dangling && chmod 1777 empty && chown 123:456 empty && "
        "echo h > hard && ln hard hard2 && printf 'a b' > 'sp ace' && touch -d '2020-01-02 03:04:05' db/sub")
DAMAGE = f"cd {DB} && rm -rf db empty && echo junk > new && chmod 644 hard"
# Random changes for as long as the container runs, of every kind the delta must catch: a
# file rewritten to the same size with its old mtime put back (so only its ctime tells), an
# append, a new file, a removal, a rename of a file and of a directory, a chmod, a chown, a
# symlink pointed elsewhere, a file turned into a directory and back.
WRITER = f"""cd {DB} && mkdir -p w && i=0 && while :; do
  i=$((i + 1)); n=$((RANDOM % 40)); f=w/f$n
  case $((RANDOM % 9)) in
    0|1) [ -f "$f" ] && {{ m=$(stat -c %Y "$f"); s=$(stat -c %s "$f")
           dd if=/dev/urandom of="$f" bs=1 count=8 seek=$((RANDOM % (s + 1))) conv=notrunc 2>/dev/null
           [ "$(stat -c %s "$f")" = "$s" ] && touch -d "@$m" "$f"; }} ;;
    2) head -c $((RANDOM % 65536)) /dev/urandom >> "$f" ;;
    3) rm -rf "$f" ;;
    4) [ -e "$f" ] && mv "$f" "w/f$((RANDOM % 40))" ;;
    5) chmod $((RANDOM % 8))$((RANDOM % 8))0 "$f" 2>/dev/null; chown $((RANDOM % 3)):$((RANDOM % 3)) "$f" 2>/dev/null ;;
    6) rm -rf "$f"; mkdir -p "$f/d$((RANDOM % 3))" && echo $i > "$f/x" ;;
    7) ln -sfn "f$((RANDOM % 40))" w/link ;;
    8) [ -d w/d$n ] && mv w/d$n w/e$n || {{ mv w/e$n w/d$n 2>/dev/null || mkdir w/d$n; }} ;;
  esac
done"""
LISTING = ("cd /v && { find . -xdev ! -type l -exec stat -c '%n %f %u %g %Y' {} + && "
           "find . -xdev -type l -exec stat -c '%n %f %u %g %N' {} + && "
           "find . -xdev -type f -exec sha256sum {} + ; } | LC_ALL=C sort")


def deploy(folder: Path, eng: TestEngine, tag: str = "s1", snapshot: str = "", env: str = ""):
    """Apply a profile with a DB volume and a datastores volume; (profile path, name, db volume)."""
    name = eng.container_name()
    db, datastores = eng.volume_name(), eng.volume_name()
    folder.mkdir(parents=True, exist_ok=True)
    profile = folder / "one-run.toml"
    profile.write_text(f'runtime = "{eng.runtime}"\nsettle_time = 1\n\n[container]\nname = "{name}"\n'
                       f'image = "{STANDIN}:{tag}"\nrestart = "unless-stopped"\nstop_timeout = 2\n'
                       f'volumes = ["{db}:{DB}", "{datastores}:/var/lib/one/datastores"]\n'
                       + (f"\n[env]\n{env}\n" if env else "") + (f"\n[snapshot]\n{snapshot}\n" if snapshot else ""))
    result = run_cli("apply", profile)
    assert result.code == 0, result.err
    return profile, name, db


def fill(eng: TestEngine, name: str) -> None:
    eng.sh(name, FILL)


def start_writer(eng: TestEngine, name: str) -> subprocess.Popen:
    """WRITER running in container name, over 40 small files and a 64 MiB one made first."""
    eng.sh(name, f"mkdir -p {DB}/w && i=0 && while [ $i -lt 40 ]; do head -c $((i * 4096)) /dev/urandom "
                 f"> {DB}/w/f$i; i=$((i + 1)); done && dd if=/dev/urandom of={DB}/big bs=1M count=64 2>/dev/null")
    return subprocess.Popen([eng.runtime, "exec", name, "sh", "-c", WRITER], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def listing(eng: TestEngine, volume: str) -> str:
    """The volume's entries with type, mode, owner, mtime, link target and content sha256."""
    return eng.cli("run", "--rm", "--network", "none", "-v", f"{volume}:/v:ro", "--entrypoint", "sh",
                   f"{STANDIN}:s1", "-c", LISTING).stdout


def on_volume(eng: TestEngine, volume: str, script: str) -> None:
    eng.cli("run", "--rm", "--network", "none", "-v", f"{volume}:{DB}", "--entrypoint", "sh",
            f"{STANDIN}:s1", "-c", script)


def snapshot_volumes_of(eng: TestEngine, name: str) -> list:
    return eng.cli("volume", "ls", "-q", "--filter", f"label=one-run.snapshot={name}").stdout.split()


def forget_snapshots(eng: TestEngine, name: str) -> None:
    """Test cleanup: the snapshot volumes one-run made for container name."""
    for volume in snapshot_volumes_of(eng, name):
        eng.cli("volume", "rm", "-f", volume, check=False)


def wait_for(predicate, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
