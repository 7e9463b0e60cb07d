"""The interrupt matrix and the machine's faults with both cores busy (issue 24, item 4).

A CPU hog per core (a busy loop, at the same priority as everything else) runs while pytest
runs the signal matrix (tests/test_apply_interrupts.py), the engine stopped and killed mid-swap,
the full disk during the snapshot copy (tests/test_engine_restart.py) and the damaged state
(tests/test_damaged_state.py). Each case already asserts the invariant (one container with the
name, the old one with its data, nothing left over) and the exit code; this script reports
how many passed under load, and how long the run took against the same run without the hog.
It reports; it does not assert.

    tests/engines.sh start /tmp/eng && source /tmp/eng/env
    .venv/bin/python bench/under_load.py [--workers N] [--no-baseline] [TEST_MODULE ...]
"""
import argparse
import multiprocessing
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULES = ["tests/test_apply_interrupts.py", "tests/test_engine_restart.py", "tests/test_damaged_state.py"]


def hog() -> None:
    while True:
        pass


def run_tests(workers: int, modules) -> tuple:
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", str(workers),
                           *modules], cwd=ROOT, capture_output=True, text=True)
    took = time.monotonic() - start
    summary = (done.stdout.strip().splitlines() or ["(no output)"])[-1]
    failed = [line for line in done.stdout.splitlines() if line.startswith("FAILED")]
    return took, summary, failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-baseline", action="store_true", help="skip the run without the hog")
    parser.add_argument("modules", nargs="*", default=MODULES, help="the test modules (default: the three above)")
    args = parser.parse_args()
    if not args.no_baseline:
        quiet, summary, _ = run_tests(args.workers, args.modules)
        print(f"quiet machine: {summary} ({quiet:.0f} s)", flush=True)
    hogs = [multiprocessing.Process(target=hog, daemon=True) for _ in range(os.cpu_count() or 2)]
    for process in hogs:
        process.start()
    try:
        loaded, summary, failed = run_tests(args.workers, args.modules)
    finally:
        for process in hogs:
            process.terminate()
    print(f"both cores busy ({len(hogs)} hogs): {summary} ({loaded:.0f} s)")
    for line in failed:
        print(f"  {line}")
    passed = int((re.search(r"(\d+) passed", summary) or [0, 0])[1])
    print(f"under load: {passed} passed, {len(failed)} failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
