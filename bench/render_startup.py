"""How much slower is `one-run render` than starting the bare interpreter?

Runs the installed console script on the full example profile and `python -c pass`
of the same interpreter, interleaved so both see the same machine load, and prints
the medians and their ratio. Target (issue 2): ratio <= 3.0.

    python bench/render_startup.py [--runs N]
"""
import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROFILE = ROOT / "profiles" / "full" / "one-run.toml"


def timed(argv) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    script = Path(sys.executable).parent / "one-run"
    if not script.exists():
        sys.exit(f"{script} not found: install one-run into this interpreter's environment first (pip install -e .)")
    render = [str(script), "render", str(PROFILE)]
    baseline = [sys.executable, "-c", "pass"]
    timed(render), timed(baseline)  # warm the page cache
    render_times, baseline_times = [], []
    for _ in range(max(args.runs, 10)):
        baseline_times.append(timed(baseline))
        render_times.append(timed(render))
    r, b = statistics.median(render_times), statistics.median(baseline_times)
    print(f"python -c pass      median {b * 1000:7.1f} ms")
    print(f"one-run render      median {r * 1000:7.1f} ms")
    print(f"ratio render/python {r / b:7.2f}  (target <= 3.0, {len(render_times)} interleaved runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
