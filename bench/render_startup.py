"""How much slower is `one-run render` than starting the bare interpreter?

Runs the installed console script on the full example profile and `python -c pass`
of the same interpreter, interleaved so both see the same machine load, and prints
the medians and their ratio. Target (issue 2): ratio <= 3.0.

A third command, the floor, does only what no render can skip: import argparse,
tomllib, shlex and json (the onecfg patch values are JSON), parse a one-subcommand
command line and load the profile with tomllib. Its ratio is the best any
argparse + tomllib tool can reach on this machine; render/floor is one-run's own cost
(target, issue 22: <= 1.25).

one-run is timed as README's first command leaves it: `pip install .` into a venv, which
byte-compiles the package. The bench makes such a venv in a temporary folder (`--no-deps`:
render imports no third-party package). A development venv's editable install is not what a
user runs: its import hook costs ~10 ms of every start, and where PYTHONDONTWRITEBYTECODE is
set (as in this machine's sessions) Python compiles one-run's ~4,000 lines at every start,
~40 ms, which would time Python's compiler rather than one-run.

    python bench/render_startup.py [--runs N]
"""
import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROFILE = ROOT / "profiles" / "full" / "one-run.toml"


FLOOR = """
import argparse, json, shlex, sys, tomllib
parser = argparse.ArgumentParser(prog="one-run")
render = parser.add_subparsers(dest="command").add_parser("render")
render.add_argument("profile")
with open(parser.parse_args(sys.argv[1:]).profile, "rb") as f:
    tomllib.load(f)
print(shlex.join(["docker", "run"]))
"""


def timed(argv) -> float:
    start = time.perf_counter()
    # stderr too: the example's keys are 0644 in a git checkout, and render warns about it.
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        venv = Path(folder) / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", "--no-deps",
                        str(ROOT)], check=True)
        return measure(venv / "bin" / "one-run", venv / "bin" / "python", args.runs)


def measure(script: Path, python: Path, runs: int) -> int:
    commands = {
        "python -c pass": [str(python), "-c", "pass"],
        "floor": [str(python), "-c", FLOOR, "render", str(PROFILE)],
        "one-run render": [str(script), "render", str(PROFILE)],
    }
    for argv in commands.values():
        timed(argv)  # warm the page cache
    times = {name: [] for name in commands}
    for _ in range(max(runs, 10)):
        for name, argv in commands.items():
            times[name].append(timed(argv))
    python, floor, render = (statistics.median(times[name]) for name in commands)
    for name, median in zip(commands, (python, floor, render)):
        print(f"{name:20s} median {median * 1000:7.1f} ms")
    runs = len(times["floor"])
    print(f"ratio render/python {render / python:7.2f}  (target <= 3.0, {runs} interleaved runs)")
    print(f"ratio floor/python  {floor / python:7.2f}  (the least argparse + tomllib + json allow)")
    print(f"ratio render/floor  {render / floor:7.2f}  (one-run's own share; target <= 1.25)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
