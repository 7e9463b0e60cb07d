"""`one-run switch` and the wrong-runtime guard of `apply`, on the real engines.

Data is compared from inside containers (busybox find/stat/sha256sum/readlink), never
through one-run's own fingerprints, so the tests check what the deployment sees.
"""
import io
import tarfile
from pathlib import Path


from conftest import STANDIN, TestEngine, run_cli
from one_run.volume_copy import digest_tar

# Everything a volume holds, one line per entry: path, type, mode, owner, size, mtime, and
# the contents' sha256 or the link target.
SNAPSHOT = r'''
for v in /v/*; do
  cd "$v" || exit 1
  echo "== $v"
  find . | sort | while IFS= read -r f; do
    line=$(stat -c '%n %F %a %u:%g %s %Y' "$f")
    if [ -L "$f" ]; then line="$line -> $(readlink "$f")"
    elif [ -f "$f" ]; then line="$line $(sha256sum < "$f" | cut -d' ' -f1)"; fi
    echo "$line"
  done
done
'''

POPULATE = r'''
set -e
cd /var/lib/mysql
mkdir -p db/sub && chmod 750 db && echo "ibdata" > db/ibdata1 && chmod 640 db/ibdata1
chown 1234:1234 db/ibdata1 && chown 1234:999 db
printf 'secret' > db/sub/key && chmod 600 db/sub/key
touch -d "2021-03-04 05:06:07" db/ibdata1
cd /var/lib/one/datastores
mkdir -p 0 1 && dd if=/dev/urandom of=0/disk.img bs=1M count=50 2>/dev/null
ln -s 0/disk.img current && ln 0/disk.img 1/hardlink.img
echo run > 1/run.sh && chmod 4755 1/run.sh
echo "backup" > /var/lib/one/backups/one.sql && chmod 400 /var/lib/one/backups/one.sql
'''


def write_profile(folder: Path, runtime: str, name: str, volumes, body: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "one-run.toml"
    path.write_text(f'# switch test profile\nruntime = "{runtime}"\nsettle_time = 1\n\n'
                    f'[container]\nname = "{name}"\nimage = "{STANDIN}:1"\nrestart = "unless-stopped"\n'
                    f'stop_timeout = 5\nvolumes = ["{volumes[0]}:/var/lib/mysql", '
                    f'"{volumes[1]}:/var/lib/one/datastores"]\n{body}')
    return path


def both(docker: TestEngine, podman: TestEngine):
    """One container name and two volume names, cleaned up on both engines."""
    name = docker.container_name()
    podman.containers.append(name)
    volumes = [docker.volume_name(), docker.volume_name()]
    podman.volumes.extend(volumes)
    return name, volumes


def anonymous_volume(eng: TestEngine, name: str) -> str:
    mounts = {m["Destination"]: m for m in eng.inspect(name)["Mounts"]}
    return mounts["/var/lib/one/backups"]["Name"]


def snapshot(eng: TestEngine, volumes) -> str:
    """The contents of the volumes, as a throwaway container on that engine sees them."""
    mounts = []
    for i, volume in enumerate(volumes):
        mounts += ["-v", f"{volume}:/v/{i}"]
    out = eng.cli("run", "--rm", "--network", "none", *mounts, "--entrypoint", "sh", f"{STANDIN}:1",
                  "-c", SNAPSHOT)
    return out.stdout


def status(eng: TestEngine, name: str) -> str:
    return eng.inspect(name)["State"]["Status"]


def volume_exists(eng: TestEngine, volume: str) -> bool:
    return eng.cli("volume", "inspect", volume, check=False).returncode == 0


def no_helpers(eng: TestEngine, name: str):
    assert not [n for n in eng.names_like(name) if "one-run-switch" in n]


def test_docker_to_podman_and_back_keeps_every_byte(docker_engine, podman_engine, tmp_path):
    name, volumes = both(docker_engine, podman_engine)
    profile = write_profile(tmp_path / "p", "docker", name, volumes)
    assert run_cli("apply", profile).code == 0
    docker_engine.sh(name, POPULATE)
    anon = anonymous_volume(docker_engine, name)
    podman_engine.volumes.append(anon)
    before = snapshot(docker_engine, volumes + [anon])
    assert "disk.img" in before and "1234:1234" in before and "-> 0/disk.img" in before

    dry = run_cli("switch", profile, "--to", "podman", "--dry-run")
    assert dry.code == 0, dry.err
    assert "50.0 MiB" in dry.out and "dry run: nothing was changed" in dry.out
    assert status(docker_engine, name) == "running" and not podman_engine.exists(name)

    result = run_cli("switch", profile, "--to", "podman")
    assert result.code == 0, result.out + result.err
    assert "3 of 3 volumes done" in result.err
    assert 'runtime = "podman"' in profile.read_text()
    assert profile.read_text().startswith("# switch test profile\n")
    assert status(podman_engine, name) == "running"
    assert "BOOTSTRAP OK" in podman_engine.report(name)
    assert anonymous_volume(podman_engine, name) == anon
    assert snapshot(podman_engine, volumes + [anon]) == before
    # The source: stopped, kept, its data as it was.
    assert status(docker_engine, name) == "exited"
    assert snapshot(docker_engine, volumes + [anon]) == before
    no_helpers(docker_engine, name)
    no_helpers(podman_engine, name)
    # Same configuration: the profile applied on podman finds nothing to change.
    again = run_cli("apply", profile)
    assert again.code == 0 and "up to date" in again.out, again.out + again.err

    podman_engine.sh(name, "echo new > /var/lib/one/datastores/added && rm /var/lib/mysql/db/sub/key")
    changed = snapshot(podman_engine, volumes + [anon])

    refused = run_cli("switch", profile, "--to", "docker")
    assert refused.code == 2 and "--overwrite-volumes" in refused.err, refused.err
    assert status(podman_engine, name) == "running"

    back = run_cli("switch", profile, "--to", "docker", "--overwrite-volumes")
    assert back.code == 0, back.out + back.err
    assert 'runtime = "docker"' in profile.read_text()
    assert status(docker_engine, name) == "running"
    assert snapshot(docker_engine, volumes + [anon]) == changed
    assert status(podman_engine, name) == "exited"
    assert snapshot(podman_engine, volumes + [anon]) == changed

    cleanup = run_cli("switch", profile, "--to", "docker", "--cleanup")
    assert cleanup.code == 0, cleanup.err
    assert not podman_engine.exists(name)
    assert all(volume_exists(podman_engine, v) for v in volumes + [anon])  # cleanup never removes volumes


def test_failure_on_the_target_restarts_the_source_with_its_data(docker_engine, podman_engine, tmp_path):
    name, volumes = both(docker_engine, podman_engine)
    folder = tmp_path / "p"
    hook = folder / "config" / "post-bootstrap-hook.sh"
    hook.parent.mkdir(parents=True)
    hook.write_text("#!/bin/sh\n# fails on Podman only: it marks its containers with /run/.containerenv\n"
                    "[ -e /run/.containerenv ] && exit 3\nexit 0\n")
    hook.chmod(0o755)
    profile = write_profile(folder, "docker", name, volumes,
                            body='\n[config]\npost_bootstrap_hook = "config/post-bootstrap-hook.sh"\n')
    assert run_cli("apply", profile).code == 0
    docker_engine.sh(name, POPULATE)
    anon = anonymous_volume(docker_engine, name)
    podman_engine.volumes.append(anon)
    before = snapshot(docker_engine, volumes + [anon])
    source_id = docker_engine.inspect(name)["Id"]
    text = profile.read_text()

    result = run_cli("switch", profile, "--to", "podman")
    assert result.code == 1, result.out + result.err
    assert "runs again on docker" in result.err
    assert docker_engine.inspect(name)["Id"] == source_id and status(docker_engine, name) == "running"
    assert snapshot(docker_engine, volumes + [anon]) == before
    assert not podman_engine.names_like(name)
    assert not any(volume_exists(podman_engine, v) for v in volumes + [anon])  # switch created them
    assert profile.read_text() == text


def test_apply_on_the_wrong_runtime_is_refused(docker_engine, podman_engine, tmp_path):
    name, volumes = both(docker_engine, podman_engine)
    profile = write_profile(tmp_path / "p", "docker", name, volumes)
    assert run_cli("apply", profile).code == 0

    refused = run_cli("apply", profile, "--runtime", "podman")
    assert refused.code == 2
    assert f"one-run switch {profile} --to podman" in refused.err and "--allow-empty-volumes" in refused.err
    assert not podman_engine.names_like(name)

    # No container anywhere, but the data is in docker's volumes: still refused.
    docker_engine.sh(name, "echo data > /var/lib/mysql/ibdata1")
    anon = anonymous_volume(docker_engine, name)
    docker_engine.cli("rm", "-f", name)
    docker_engine.volumes.append(anon)
    refused = run_cli("apply", profile, "--runtime", "podman")
    assert refused.code == 2 and "switch" in refused.err, refused.err
    assert f"{volumes[0]} (missing on podman)" in refused.err

    forced = run_cli("apply", profile, "--runtime", "podman", "--allow-empty-volumes")
    assert forced.code == 0, forced.err
    assert status(podman_engine, name) == "running"


def _tar(entries) -> bytes:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as archive:
        for name, kind, content, link in entries:
            info = tarfile.TarInfo(name)
            info.type, info.mtime, info.mode = kind, 1_600_000_000, 0o644
            if link:
                info.linkname = link
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content) if content else None)
    return data.getvalue()


def test_fingerprint_ignores_entry_order_and_name_style():
    docker_style = _tar([("./", tarfile.DIRTYPE, b"", ""), ("./a", tarfile.REGTYPE, b"x" * 700, ""),
                         ("./b", tarfile.LNKTYPE, b"", "./a"), ("./l", tarfile.SYMTYPE, b"", "a")])
    podman_style = _tar([("/", tarfile.DIRTYPE, b"", ""), ("/l", tarfile.SYMTYPE, b"", "a"),
                         ("/b", tarfile.REGTYPE, b"x" * 700, ""), ("/a", tarfile.LNKTYPE, b"", "b")])
    one = digest_tar(docker_style[i:i + 100] for i in range(0, len(docker_style), 100))
    other = digest_tar([podman_style])
    assert one == other and (one.entries, one.files, one.bytes) == (4, 2, 1400)
    changed = _tar([("./", tarfile.DIRTYPE, b"", ""), ("./a", tarfile.REGTYPE, b"y" * 700, ""),
                    ("./b", tarfile.LNKTYPE, b"", "./a"), ("./l", tarfile.SYMTYPE, b"", "a")])
    assert digest_tar([changed]) != one


def test_source_that_cannot_start_again_gives_exit_4_with_commands(docker_engine, podman_engine, tmp_path,
                                                                    monkeypatch):
    from one_run import switch
    from one_run.engines.docker import DockerEngine
    from one_run.errors import EngineError
    from one_run.volume_copy import TreeDigest

    name, volumes = both(docker_engine, podman_engine)
    profile = write_profile(tmp_path / "p", "docker", name, volumes)
    assert run_cli("apply", profile).code == 0
    docker_engine.sh(name, "echo data > /var/lib/mysql/ibdata1")
    podman_engine.volumes.append(anonymous_volume(docker_engine, name))

    def refuse(self, cid):
        raise EngineError("docker: start refused (test)")

    monkeypatch.setattr(DockerEngine, "start", refuse)
    monkeypatch.setattr(switch, "fingerprint_volume", lambda *args: TreeDigest(0, 0, 0, "not the copy"))
    result = run_cli("switch", profile, "--to", "podman")
    assert result.code == 4, result.out + result.err
    assert "verification failed" in result.err and "could not be started again" in result.err
    assert f"to recover by hand:\n  docker start {name}" in result.err
    assert status(docker_engine, name) == "exited"
    assert not any(volume_exists(podman_engine, v) for v in volumes)
