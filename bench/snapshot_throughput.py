#!/usr/bin/env python3
"""Snapshot copy, backup and restore of a 500 MB DB volume, each against `tar` on the host, same run.

snapshot: snapshot.take (a helper container of the engine runs `cp -a` from the DB volume
          into a new snapshot volume), the deployment stopped, as apply takes it.
          Baseline: tar -C <DB volume mountpoint> -cf - . | tar -C <new volume mountpoint> -xpf -
          Target: the snapshot's throughput ≥ 0.5 × host tar's.
backup:   `one-run backup` (stop, snapshot inside the engine, start, then the snapshot streamed
          out of the engine's archive API into DIR with its sha256), its wall time and its
          reported downtime.
          Baseline: stop; tar -C <mountpoint> -cf FILE .; start (the careful manual backup).
restore:  `one-run restore --yes` (verify the archive, stop, empty, extract through the
          archive API, verify the volume, start). Baseline: stop; empty the mountpoint;
          tar -C <mountpoint> -xpf FILE; start.

upgrade:  `one-run apply` of an image change (:s1 -> :s2, which migrates the DB's schema) with
          [snapshot] on the DB volume: its downtime (a poller: the old container seen not
          running -> the new one seen running). Baseline: the careful manual procedure,
          stop; tar the volume on the host into a file; rm; run (the rendered command).
          Target: apply's downtime <= 1.0 x the manual one.

Needs the test engines (tests/run.sh, or DOCKER_HOST/CONTAINER_HOST) with the stand-in
image :s1 (tests/engines.sh). Rounds alternate one-run and the baseline, each after a sync;
the medians are compared, and `uptime` is printed before and after.
Usage: python bench/snapshot_throughput.py [--runtime docker] [--size-mb 500] [--files 5] [--rounds 3]
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

from one_run import snapshot  # noqa: E402
from one_run.cli import main as one_run  # noqa: E402
from one_run.engines import get_engine  # noqa: E402

IMAGE = "localhost/one-run-standin:s1"


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
        self.join(60)
        self.done.set()
        return self.up - self.down


def upgrade_rounds(cli, engine, name, db, work, rounds, results):
    """apply (with its snapshot) vs stop; tar; rm; run, for the same :s1 -> :s2 upgrade."""
    def profile(tag, when):
        path = work / f"upgrade-{tag}-{when}.toml"
        path.write_text(f'runtime = "{cli}"\n\n[container]\nname = "{name}"\nimage = "localhost/one-run-standin:{tag}"\n'
                        f'stop_timeout = 5\nvolumes = ["{db}:/var/lib/mysql"]\n\n[watch]\nsettle_time = 0\n\n'
                        f'[snapshot]\nwhen = "{when}"\nvolumes = ["{db}"]\nkeep = 1\n')
        return path

    old, new = profile("s1", "never"), profile("s2", "image-change")
    argv = json.loads(subprocess.run([sys.executable, "-m", "one_run", "render", "--format", "json", str(new)],
                                     check=True, capture_output=True, text=True).stdout)

    def back_to_s1():  # untimed: schema 1 again, the s1 container running
        sh(cli, "exec", name, "sh", "-c", "echo 1 > /var/lib/mysql/schema")
        if quiet("apply", old) != 0:
            raise RuntimeError("could not go back to :s1")

    src = mountpoint(cli, db)
    for round_ in range(rounds):
        back_to_s1()
        os.sync()
        watch = Downtime(engine, name, engine.get(name).id)
        results["upgrade apply"].append(watch.measure(lambda: quiet("apply", new)))
        back_to_s1()
        os.sync()
        archive = work / "careful.tar"

        def careful():
            sh(cli, "stop", name)
            subprocess.run(["tar", "-C", src, "-cf", str(archive), "."], check=True)
            sh(cli, "rm", name)
            subprocess.run([cli, *argv[1:]], check=True, capture_output=True)

        watch = Downtime(engine, name, engine.get(name).id)
        results["upgrade manual"].append(watch.measure(careful))
        archive.unlink()
        print(f"upgrade round {round_ + 1}: apply {results['upgrade apply'][-1]:.2f} s down, careful manual "
              f"{results['upgrade manual'][-1]:.2f} s down", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtime", choices=("docker", "podman"), default="docker")
    parser.add_argument("--size-mb", type=int, default=500)
    parser.add_argument("--files", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cli, engine = args.runtime, get_engine(args.runtime)
    tag = uuid.uuid4().hex[:8]
    name, db = f"bench-snap-{tag}", f"bench-snap-db-{tag}"
    work = Path(tempfile.mkdtemp(prefix="bench-snap-"))
    made = []
    print("load before:", sh("uptime").strip())
    try:
        profile = work / "one-run.toml"
        profile.write_text(f'runtime = "{cli}"\nsettle_time = 1\n\n[container]\nname = "{name}"\nimage = "{IMAGE}"\n'
                           f'stop_timeout = 5\nvolumes = ["{db}:/var/lib/mysql"]\n\n[snapshot]\nvolumes = ["{db}"]\n')
        if quiet("apply", profile) != 0:
            print("apply of the bench deployment failed", file=sys.stderr)
            return 1
        per_file = args.size_mb // args.files
        sh(cli, "exec", name, "sh", "-c", f"i=0; while [ $i -lt {args.files} ]; do dd if=/dev/urandom "
           f"of=/var/lib/mysql/ib$i bs=1M count={per_file} 2>/dev/null; i=$((i+1)); done")
        mib = per_file * args.files
        src = mountpoint(cli, db)
        results = {k: [] for k in ("snapshot", "tar copy", "backup", "backup downtime", "tar backup",
                                   "restore", "tar restore", "upgrade apply", "upgrade manual")}
        for round_ in range(args.rounds):
            # snapshot copy vs host tar copy, the deployment stopped
            sh(cli, "stop", name)
            target = f"bench-snap-tar-{tag}-{round_}"
            sh(cli, "volume", "create", target)
            made.append(target)
            dst = mountpoint(cli, target)
            results["tar copy"].append(timed(lambda: subprocess.run(
                f"tar -C '{src}' -cf - . | tar -C '{dst}' --numeric-owner -xpf -", shell=True, check=True)))
            taken = []
            results["snapshot"].append(timed(lambda: taken.append(
                snapshot.take(engine, name, [(db, "/var/lib/mysql")], IMAGE, say=lambda line: None))))
            made += [v.copy for v in taken[0].volumes] + [taken[0].marker]
            sh(cli, "start", name)
            # backup vs stop; host tar into a file; start
            out = work / f"backup-{round_}"
            tarfile_ = work / f"tar-{round_}.tar"

            def manual_backup():
                sh(cli, "stop", name)
                subprocess.run(["tar", "-C", src, "-cf", str(tarfile_), "."], check=True)
                sh(cli, "start", name)

            results["tar backup"].append(timed(manual_backup))
            results["backup"].append(timed(lambda: quiet("backup", profile, "-o", out)))
            results["backup downtime"].append(json.loads((out / "manifest.json").read_text())["downtime_seconds"])

            # restore vs stop; empty; host tar extract; start
            def manual_restore():
                sh(cli, "stop", name)
                for entry in os.listdir(src):
                    path = os.path.join(src, entry)
                    shutil.rmtree(path) if os.path.isdir(path) and not os.path.islink(path) else os.unlink(path)
                subprocess.run(["tar", "-C", src, "--numeric-owner", "-xpf", str(tarfile_)], check=True)
                sh(cli, "start", name)

            results["tar restore"].append(timed(manual_restore))
            results["restore"].append(timed(lambda: quiet("restore", profile, out, "--yes")))
            shutil.rmtree(out)
            tarfile_.unlink()
            print(f"round {round_ + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in results.items() if v),
                  flush=True)
        upgrade_rounds(cli, engine, name, db, work, args.rounds, results)
        med = {k: statistics.median(v) for k, v in results.items()}
        print(f"\n{args.runtime}, {mib} MiB in {args.files} files, median of {args.rounds} rounds:")
        print(f"  snapshot copy (helper cp -a):  {mib / med['snapshot']:7.1f} MiB/s   host tar copy "
              f"{mib / med['tar copy']:7.1f} MiB/s   ratio {med['tar copy'] / med['snapshot']:.2f} (target >= 0.5)")
        print(f"  backup: {med['backup']:7.2f} s in all, down {med['backup downtime']:.2f} s   "
              f"stop; host tar -cf; start {med['tar backup']:.2f} s (all of it down)   "
              f"time ratio {med['backup'] / med['tar backup']:.2f}, downtime ratio "
              f"{med['backup downtime'] / med['tar backup']:.2f}")
        print(f"  restore (verify, stop, put, verify, start): {med['restore']:7.2f} s   "
              f"stop; empty; host tar -xf; start {med['tar restore']:.2f} s   "
              f"ratio {med['restore'] / med['tar restore']:.2f}")
        print(f"  upgrade :s1 -> :s2 with the snapshot: apply down {med['upgrade apply']:.2f} s   careful manual "
              f"(stop; tar; rm; run) down {med['upgrade manual']:.2f} s   ratio "
              f"{med['upgrade apply'] / med['upgrade manual']:.2f} (target <= 1.0)")
        print("load after:", sh("uptime").strip())
        return 0
    finally:
        subprocess.run([cli, "rm", "-f", "-v", name], capture_output=True)  # -v: its anonymous volume
        with contextlib.suppress(Exception):
            for volume in snapshot.list_snapshots(engine, name):
                made += [v.copy for v in volume.volumes] + [volume.marker]
        for volume in reversed(made + [db]):
            subprocess.run([cli, "volume", "rm", "-f", volume], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
