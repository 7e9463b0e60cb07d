#!/usr/bin/env python3
"""Copy throughput of a 1 GB volume: switch's stream vs `tar` on the host, same run.

switch:  Docker's archive API → chunked upload to Podman's archive API, with the source
         fingerprinted from the same bytes in a second thread (what `switch` does per
         volume), then the copy fingerprinted again from Podman (its verification).
host tar: tar -C <docker volume mountpoint> -cf - . | tar -C <podman volume mountpoint> -xpf -
          (reads the engines' storage directly, which switch never does).

Needs the test engines (tests/run.sh, or DOCKER_HOST/CONTAINER_HOST) and the stand-in
image on both. Rounds alternate the two methods, each after a sync (so no round pays for
the previous one's writeback); the medians are compared. Helper containers are made
before the clock starts (switch makes them once per switch, not per volume).
Usage: python bench/switch_throughput.py [--size-mb 1024] [--files 8] [--rounds 3]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from one_run.deploy.volume_copy import copy_volume, fingerprint_volume  # noqa: E402
from one_run.engines import get_engine  # noqa: E402

IMAGE = "localhost/one-run-standin:1"


def sh(*argv, **kwargs) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kwargs).stdout


def mountpoint(cli: str, volume: str) -> str:
    return json.loads(sh(cli, "volume", "inspect", volume))[0]["Mountpoint"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    docker, podman = get_engine("docker"), get_engine("podman")
    tag = uuid.uuid4().hex[:8]
    source = f"bench-switch-src-{tag}"
    made = []  # (cli, volume)
    size = args.size_mb * 1024 * 1024
    src_helper = None
    try:
        docker.create_volume(source, {})
        made.append(("docker", source))
        per_file = args.size_mb // args.files
        sh("docker", "run", "--rm", "--network", "none", "-v", f"{source}:/d", "--entrypoint", "sh", IMAGE, "-c",
           f"i=0; while [ $i -lt {args.files} ]; do dd if=/dev/urandom of=/d/f$i bs=1M count={per_file} "
           f"2>/dev/null; i=$((i+1)); done; mkdir /d/dir; chown 1234:1234 /d/f0; ln -s f1 /d/link")
        size = per_file * args.files * 1024 * 1024
        src_dir = mountpoint("docker", source)
        src_helper = docker.create_helper(IMAGE, [(source, "/bench/src/0", True)], f"bench-switch-src-{tag}")
        results = {"tar": [], "copy": [], "copy+verify": []}
        for round_ in range(args.rounds):
            # host tar
            target = f"bench-switch-tar-{tag}-{round_}"
            podman.create_volume(target, {})
            made.append(("podman", target))
            dst_dir = mountpoint("podman", target)
            os.sync()  # no round pays for the previous round's writeback
            started = time.monotonic()
            subprocess.run(f"tar -C '{src_dir}' -cf - . | tar -C '{dst_dir}' --numeric-owner -xpf -",
                           shell=True, check=True)
            results["tar"].append(time.monotonic() - started)
            # switch's stream
            target = f"bench-switch-api-{tag}-{round_}"
            podman.create_volume(target, {})
            made.append(("podman", target))
            dst_helper = podman.create_helper(IMAGE, [(target, "/bench/dst/0", False)], f"bench-switch-dst-{tag}")
            try:
                os.sync()
                started = time.monotonic()
                digest = copy_volume(docker, src_helper, "/bench/src/0", podman, dst_helper, "/bench/dst/0",
                                     lambda n: None)
                copied = time.monotonic()
                check = fingerprint_volume(podman, dst_helper, "/bench/dst/0")
                verified = time.monotonic()
            finally:
                podman.remove(dst_helper)
            if check != digest:
                print(f"MISMATCH: {digest} vs {check}", file=sys.stderr)
                return 1
            results["copy"].append(copied - started)
            results["copy+verify"].append(verified - started)
            print(f"round {round_ + 1}: tar {results['tar'][-1]:.2f} s, switch copy {results['copy'][-1]:.2f} s, "
                  f"copy+verify {results['copy+verify'][-1]:.2f} s", flush=True)
        mib = size / 1024 / 1024
        tar_rate = mib / statistics.median(results["tar"])
        print(f"\n{mib:.0f} MiB in {args.files} files, median of {args.rounds} rounds:")
        print(f"  host tar (docker mountpoint → podman mountpoint): {tar_rate:8.1f} MiB/s")
        for key in ("copy", "copy+verify"):
            rate = mib / statistics.median(results[key])
            print(f"  switch {key:<12} (archive APIs):              {rate:8.1f} MiB/s  ratio {rate / tar_rate:.2f}")
        return 0
    finally:
        if src_helper:
            docker.remove(src_helper)
        for cli, volume in reversed(made):
            subprocess.run([cli, "volume", "rm", "-f", volume], capture_output=True)


if __name__ == "__main__":
    sys.exit(main())
