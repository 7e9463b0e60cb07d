#!/usr/bin/env python3
"""Data at disk speed: the snapshot copy, the upgrade's downtime with its pre-copied snapshot,
backup and restore, each against its manual procedure in the same run, on both engines.

copy:     snapshot.take of the stopped DB volume (pre-copy, then the delta and its verification),
          the sizes measured beforehand as apply measures them before the stop; in each round
          tar, take, take, tar, since the second of two copies in a row is the slower here.
          Baseline: tar -C <DB volume> -cf - . | tar -C <new volume> -xpf -   Target ≥ 0.8× its throughput.
upgrade:  `one-run apply` of an image change (:s1 -> :s2, which migrates the DB's schema) with
          [snapshot] on the DB volume, while a writer in the old container keeps changing
          5 % of the files (or, in the "all" case, every file), from before the apply until
          the stop. Its downtime: a poller, the old container seen not running -> the new
          one seen running. Baseline: the careful manual procedure, stop; tar the volume on
          the host into a file; rm; run (the rendered command).
          Targets: ≤ 0.3× with 5 % changed, ≤ 1.0× with all of it changed.
backup:   `one-run backup` in all. Baseline: stop; tar -cf FILE; start.   Target ≤ 1.5×.
restore:  `one-run restore --yes` in all (it verifies the archive before and the volume after).
          Baseline: stop; empty the volume; tar -xpf FILE; start.        Target ≤ 1.5×.

Needs the test engines (tests/engines.sh: DOCKER_HOST, CONTAINER_HOST) with the stand-in images
:s1 and :s2. Rounds alternate one-run and the baseline, each after a sync; medians are compared,
and `uptime` is printed before and after.
Usage: python bench/snapshot_throughput.py [--runtime docker,podman] [--size-mb 2048] [--files 40] [--rounds 2]
"""
import argparse
import contextlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from one_run.cli import main as one_run  # noqa: E402
from one_run.deploy import snapshot  # noqa: E402
from one_run.engines import get_engine  # noqa: E402

IMAGE = "localhost/one-run-standin:s1"
DB = "/var/lib/mysql"
# figure -> (what is compared, target, "min": one-run's throughput over the baseline's must
# reach it, "max": one-run's time over the baseline's must stay within it)
TARGETS = {
    "copy": ("snapshot copy vs host tar pipe, throughput", 0.8, "min"),
    "upgrade 5%": ("upgrade downtime, 5 % changed, vs stop; tar; rm; run", 0.3, "max"),
    "upgrade all": ("upgrade downtime, all changed, vs stop; tar; rm; run", 1.0, "max"),
    "backup": ("backup in all vs stop; tar -cf; start", 1.5, "max"),
    "restore": ("restore in all vs stop; empty; tar -xf; start", 1.5, "max"),
}
# The writer in the old container: 5 % of the files get a new 64 KiB block every 0.1 s, or
# every file is touched (its ctime moves: the delta copies it again whole).
WRITERS = {
    "upgrade 5%": f"cd {DB} && while :; do for f in $(ls ib* | head -n $1); do dd if=/dev/urandom of=$f bs=64k count=1 "
                  "seek=$((RANDOM % 16)) conv=notrunc 2>/dev/null; done; sleep 0.1; done",
    "upgrade all": f"cd {DB} && while :; do touch ib*; sleep 0.1; done",
}


def sh(*argv) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def mountpoint(cli: str, volume: str) -> str:
    return json.loads(sh(cli, "volume", "inspect", volume))[0]["Mountpoint"]


def quiet(*argv) -> int:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return one_run([str(a) for a in argv])


def timed(fn) -> float:
    os.sync()  # no round pays for the previous round's writeback
    started = time.monotonic()
    fn()
    os.sync()  # the data is on disk, for both sides alike
    return time.monotonic() - started


def empty(path: str) -> None:
    for entry in os.listdir(path):
        full = os.path.join(path, entry)
        shutil.rmtree(full) if os.path.isdir(full) and not os.path.islink(full) else os.unlink(full)


class Downtime(threading.Thread):
    """From the first look that sees `old` not running to the first that sees another container
    of that name running; looks every 10 ms through the engine's API."""

    def __init__(self, engine, name: str, old: str):
        super().__init__(daemon=True)
        self.engine, self.name, self.old = engine, name, old
        self.down = self.up = None
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            try:
                info = self.engine.get(self.name)
            except Exception:  # between the renames, or a busy engine: not running
                info = None
            now = time.monotonic()
            running = info is not None and info.running
            if self.down is None and not (running and info.id == self.old):
                self.down = now
            if self.down is not None and running and info.id != self.old:
                self.up = now
                return
            time.sleep(0.01)

    def measure(self, fn) -> float:
        self.start()
        time.sleep(0.05)
        fn()
        self.join(120)
        self.done.set()
        return self.up - self.down


class Bench:
    def __init__(self, cli: str, args, work: Path):
        self.cli, self.args, self.work = cli, args, work
        self.engine = get_engine(cli)
        tag = uuid.uuid4().hex[:8]
        self.name, self.db = f"bench-snap-{tag}", f"bench-snap-db-{tag}"
        self.made = []
        self.results = {figure: ([], []) for figure in TARGETS}  # (one-run's, the baseline's)
        self.changed = []  # entries the upgrade's delta copied again

    def profile(self, tag: str, when: str, keep: int = 1) -> Path:
        path = self.work / f"{self.cli}-{tag}-{when}.toml"
        path.write_text(f'runtime = "{self.cli}"\n\n[container]\nname = "{self.name}"\n'
                        f'image = "localhost/one-run-standin:{tag}"\nstop_timeout = 5\nvolumes = ["{self.db}:{DB}"]\n\n'
                        f'[watch]\nsettle_time = 0\n\n[snapshot]\nwhen = "{when}"\nvolumes = ["{self.db}"]\n'
                        f'keep = {keep}\n')
        return path

    def run(self) -> None:
        cli, name, args = self.cli, self.name, self.args
        base = self.profile("s1", "never")
        if quiet("apply", base) != 0:
            raise RuntimeError(f"{cli}: apply of the bench deployment failed")
        per_file = args.size_mb // args.files
        sh(cli, "exec", name, "sh", "-c", f"i=0; while [ $i -lt {args.files} ]; do dd if=/dev/urandom "
           f"of={DB}/ib$(printf %03d $i) bs=1M count={per_file} 2>/dev/null; i=$((i+1)); done")
        self.mib = per_file * args.files
        src = mountpoint(cli, self.db)
        for round_ in range(args.rounds):
            self.copy_round(src, round_)
            self.backup_round(base, src, round_)
            for case in WRITERS:
                self.upgrade_round(case, src)
            print(f"{cli} round {round_ + 1}: " + ", ".join(
                f"{k} {v[0][-1]:.2f}/{v[1][-1]:.2f} s" for k, v in self.results.items() if v[0]), flush=True)

    def copy_round(self, src: str, round_: int) -> None:
        cli, name = self.cli, self.name
        sh(cli, "stop", name)
        target = f"{self.db}-tar-{round_}"
        sh(cli, "volume", "create", target)
        self.made.append(target)
        dst = mountpoint(cli, target)
        volumes = [(self.db, DB)]
        sizes, _ = snapshot.measure(self.engine, volumes, IMAGE, name, probe=False)
        taken = []

        def tar():
            self.results["copy"][1].append(timed(lambda: subprocess.run(
                f"tar -C '{src}' -cf - . | tar -C '{dst}' --numeric-owner -xpf -", shell=True, check=True)))

        def take():
            self.results["copy"][0].append(timed(lambda: taken.append(
                snapshot.take(self.engine, name, volumes, IMAGE, sizes, say=lambda line: None))))

        # On this machine a copy of 2 GB right after another runs up to twice as slow as the first
        # (the disk's write-back): each side goes first once and second once in every round.
        for copy in (tar, take, take, tar):
            copy()
            if taken:
                snapshot.discard(self.engine, taken.pop())
        sh(cli, "volume", "rm", target)
        sh(cli, "start", name)

    def backup_round(self, profile: Path, src: str, round_: int) -> None:
        cli, name = self.cli, self.name
        out, archive = self.work / f"backup-{round_}", self.work / f"tar-{round_}.tar"

        def manual_backup():
            sh(cli, "stop", name)
            subprocess.run(["tar", "-C", src, "-cf", str(archive), "."], check=True)
            sh(cli, "start", name)

        def manual_restore():
            sh(cli, "stop", name)
            empty(src)
            subprocess.run(["tar", "-C", src, "--numeric-owner", "-xpf", str(archive)], check=True)
            sh(cli, "start", name)

        self.results["backup"][1].append(timed(manual_backup))
        self.results["backup"][0].append(timed(lambda: quiet("backup", profile, "-o", out)))
        self.results["restore"][1].append(timed(manual_restore))
        self.results["restore"][0].append(timed(lambda: quiet("restore", profile, out, "--yes")))
        shutil.rmtree(out)
        archive.unlink()

    def upgrade_round(self, case: str, src: str) -> None:
        """apply (its snapshot pre-copied under the writer) vs stop; tar; rm; run, for the same :s1 -> :s2 upgrade."""
        cli, name = self.cli, self.name
        old, new = self.profile("s1", "never"), self.profile("s2", "image-change")
        argv = json.loads(sh(sys.executable, "-m", "one_run", "render", "--format", "json", str(new)))

        def back_to_s1():  # untimed: schema 1 again, the s1 container running
            sh(cli, "exec", name, "sh", "-c", f"echo 1 > {DB}/schema")
            if quiet("apply", old) != 0:
                raise RuntimeError("could not go back to :s1")
            os.sync()

        back_to_s1()
        changing = max(1, self.args.files * 5 // 100)
        sh(cli, "exec", "-d", name, "sh", "-c", WRITERS[case], "sh", str(changing))
        time.sleep(0.3)  # the writer is at work before the apply begins
        said = io.StringIO()
        watch = Downtime(self.engine, name, self.engine.get(name).id)

        def apply():
            with contextlib.redirect_stdout(said), contextlib.redirect_stderr(said):
                if one_run(["apply", str(new)]) != 0:
                    raise RuntimeError(said.getvalue())

        self.results[case][0].append(watch.measure(apply))
        self.changed.append(next((line for line in said.getvalue().splitlines() if "up to date and verified" in line),
                                 "(no snapshot line)"))
        back_to_s1()
        archive = self.work / "careful.tar"

        def careful():
            sh(cli, "stop", name)
            subprocess.run(["tar", "-C", src, "-cf", str(archive), "."], check=True)
            sh(cli, "rm", name)
            subprocess.run([cli, *argv[1:]], check=True, capture_output=True)

        watch = Downtime(self.engine, name, self.engine.get(name).id)
        self.results[case][1].append(watch.measure(careful))
        archive.unlink()

    def report(self) -> bool:
        print(f"\n{self.cli}, {self.mib} MiB in {self.args.files} files, median of {self.args.rounds} rounds:")
        met = True
        for figure, (what, target, kind) in TARGETS.items():
            ours, theirs = (statistics.median(v) for v in self.results[figure])
            ratio = theirs / ours if kind == "min" else ours / theirs
            ok = ratio >= target if kind == "min" else ratio <= target
            met &= ok
            if figure == "copy":
                detail = f"{self.mib / ours:7.1f} MiB/s vs {self.mib / theirs:7.1f} MiB/s"
            else:
                detail = f"{ours:6.2f} s vs {theirs:6.2f} s"
            rounds = " ".join(f"{a:.2f}/{b:.2f}" for a, b in zip(*self.results[figure]))
            print(f"  {what:55} {detail:28} ratio {ratio:5.2f}  target {'>=' if kind == 'min' else '<='} "
                  f"{target}: {'PASS' if ok else 'MISS'}   (s, one-run/baseline, each round: {rounds})")
        print("  the upgrades' snapshot lines:")
        for line in self.changed:
            print(f"    {line.strip()}")
        return met

    def clean(self) -> None:
        subprocess.run([self.cli, "rm", "-f", "-v", self.name], capture_output=True)
        with contextlib.suppress(Exception):
            for taken in snapshot.list_snapshots(self.engine, self.name):
                self.made += [v.copy for v in taken.volumes] + [taken.marker]
        for volume in reversed(self.made + [self.db]):
            subprocess.run([self.cli, "volume", "rm", "-f", volume], capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtime", default="docker,podman", help="comma-separated: docker, podman")
    parser.add_argument("--size-mb", type=int, default=2048)
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-snap-"))
    print("load before:", sh("uptime").strip())
    benches = [Bench(cli, args, work) for cli in args.runtime.split(",")]
    try:
        for bench in benches:
            bench.run()
        met = [bench.report() for bench in benches]
        print("load after:", sh("uptime").strip())
        return 0 if all(met) else 1
    finally:
        for bench in benches:
            bench.clean()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
