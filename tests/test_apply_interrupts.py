"""A real apply, signalled at every point of the swap, on both engines.

Each point is a row: the apply is stopped there (a test pause right after the step, or
the step's own wait: the old container's stop, the new container's watch) and gets
SIGINT, SIGTERM or SIGHUP (it must put the old container back itself: exit 1), or
SIGKILL (the next apply must repair it). Either way, exactly one container carries the
name, it is the old one with its data, and nothing temporary is left.
"""
import json
import os
import select
import signal
import subprocess
import sys
import time

import pytest
from conftest import run_cli, standin_profile

# point -> (what apply prints when it is there, the test pause that holds it there)
POINTS = {
    "created": ("test pause after created", "created"),
    "precopy": ("test pause after precopy", "precopy"),  # the snapshot's volumes and pre-copy helper made
    "prepared": ("test pause after prepared", "prepared"),  # pre-copied, the delta's helper made
    "stopping": ("stopping ", None),          # the old container ignores SIGTERM: stop takes its timeout
    "stopped": ("test pause after stopped", "stopped"),   # before the snapshot
    "snapshot": ("test pause after snapshot", "snapshot"),  # the data copied, before the rename
    "swapped": ("test pause after swapped", "swapped"),   # after the rename, before the start
    "started": ("test pause after started", "started"),   # the start done, the watch not begun
    "watching": ("started ", None),           # the new container bootstraps for 30 s
}
SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGKILL]
WATCH = 'ready_log = "STANDIN READY"\nsettle_time = 0.5\ntimeout = 60\n'


def ids(eng, name):
    return {n: eng.inspect(n)["Id"] for n in eng.names_like(name)}


def start_apply(profile, tmp_path, pause=None):
    env = dict(os.environ, ONE_RUN_STATE_DIR=str(tmp_path / "one-run-state"))
    if pause:
        env["ONE_RUN_TEST_PAUSE"] = pause
    return subprocess.Popen([sys.executable, "-m", "one_run", "apply", str(profile)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, bufsize=0)


def read_until(process, marker: str, timeout: float = 60) -> str:
    """apply's output up to the line holding marker (it must get there). Raw reads: a
    buffered reader would hold lines that select() no longer sees."""
    seen = b""
    deadline = time.monotonic() + timeout
    while marker.encode() not in seen:
        assert time.monotonic() < deadline, f"apply never printed {marker!r}:\n{seen.decode()}"
        ready, _, _ = select.select([process.stdout], [], [], 0.5)
        if ready:
            chunk = os.read(process.stdout.fileno(), 65536)
            assert chunk, f"apply ended before {marker!r}:\n{seen.decode()}"
            seen += chunk
    return seen.decode()


def finish(process, signum) -> str:
    process.send_signal(signum)
    try:
        return process.communicate(timeout=120)[0].decode()
    finally:
        process.kill()


def deployment(engine, tmp_path, point):
    """A running old container (its data written) and the profile text of a new one."""
    name = engine.container_name()
    slow_stop = 'STANDIN_IGNORE_TERM = "yes"\n' if point == "stopping" else ""
    snapshot = '[snapshot]\nwhen = "always"\n' if point in ("precopy", "prepared", "snapshot") else ""
    profile = standin_profile(tmp_path, engine, name, container="stop_timeout = 3\n",
                              body='[env]\nOPENNEBULA_HOST = "old.example.com"\n' + slow_stop + snapshot,
                              watch=WATCH)
    first = run_cli("apply", profile)
    assert first.code == 0, first.out + first.err
    engine.sh(name, "echo precious > /var/lib/one/datastores/data.txt")
    old_text = profile.read_text()
    new_text = old_text.replace("old.example.com", "new.example.com")
    if point == "watching":
        new_text = new_text.replace("[env]\n", '[env]\nSTANDIN_BOOTSTRAP_SECONDS = "30"\n')
    return name, profile, old_text, new_text


def signalled(engine, tmp_path, point, signum):
    """A deployment whose apply of a new profile text is held at `point` and given `signum`:
    (name, profile, the old text, the old container's ID, the apply's process, what it printed)."""
    name, profile, old_text, new_text = deployment(engine, tmp_path, point)
    old = engine.inspect(name)["Id"]
    profile.write_text(new_text)
    marker, pause = POINTS[point]
    apply = start_apply(profile, tmp_path, pause)
    out = read_until(apply, marker)
    if point == "watching":
        time.sleep(1)
    return name, profile, old_text, old, apply, out + finish(apply, signum)


def old_runs_as_it_was(engine, tmp_path, name, old):
    """Exactly one container carries the name: the old one, running its configuration, with its data; no
    journal is left."""
    assert ids(engine, name) == {name: old}
    state = engine.inspect(name)
    assert state["State"]["Running"] and "OPENNEBULA_HOST=old.example.com" in state["Config"]["Env"]
    assert engine.read(name, "/var/lib/one/datastores/data.txt") == "precious\n"
    assert not (tmp_path / "one-run-state" / f"{engine.runtime}-{name}.journal").exists()


@pytest.mark.parametrize("point", list(POINTS))
@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: s.name)
def test_a_signal_at_any_point_of_the_swap_leaves_the_old_container_running(engine, tmp_path, point, signum):
    name, profile, old_text, old, apply, out = signalled(engine, tmp_path, point, signum)

    if signum == signal.SIGKILL:
        assert apply.returncode == -signal.SIGKILL
        profile.write_text(old_text)  # the repairing apply, of the profile the old container runs
        repaired = run_cli("apply", profile)
        assert repaired.code == 0, out + repaired.out + repaired.err
        assert "repair: " in repaired.out
        assert "up to date" in repaired.out or f"started {name}" in repaired.out, repaired.out
    else:
        assert apply.returncode == 1, out
        if signum != signal.SIGHUP:  # after a hang-up, messages go nowhere
            assert "interrupt" in out
    old_runs_as_it_was(engine, tmp_path, name, old)
    # no snapshot helper left, and no snapshot volume but those of complete snapshots
    assert not [n for n in engine.names_like(name) if n != name]
    labels = [json.loads(engine.cli("volume", "inspect", v).stdout)[0]["Labels"] for v in engine.cli(
        "volume", "ls", "-q", "--filter", f"label=one-run.snapshot={name}").stdout.split()]
    assert {x["one-run.snapshot-id"] for x in labels} == \
        {x["one-run.snapshot-id"] for x in labels if "one-run.snapshot-complete" in x}


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: s.name)
def test_a_signal_after_the_new_container_passed_its_watch_keeps_it(engine, tmp_path, signum):
    name, profile, _, new_text = deployment(engine, tmp_path, "passed")
    profile.write_text(new_text)
    apply = start_apply(profile, tmp_path, "passed")
    out = read_until(apply, "test pause after passed")
    out += finish(apply, signum)

    if signum == signal.SIGKILL:
        repaired = run_cli("apply", profile)
        assert repaired.code == 0 and "passed its watch; finishing it" in repaired.out, repaired.out
        assert "up to date" in repaired.out
    else:
        assert apply.returncode == 0, out
        if signum != signal.SIGHUP:
            assert f"applied: {name}" in out
    assert list(ids(engine, name)) == [name]
    state = engine.inspect(name)
    assert state["State"]["Running"] and "OPENNEBULA_HOST=new.example.com" in state["Config"]["Env"]
    assert engine.read(name, "/var/lib/one/datastores/data.txt") == "precious\n"


@pytest.fixture
def both_cores_busy():
    """A CPU hog on each core for the test's length (issue 24: the repair of a SIGKILL once failed on a
    loaded machine)."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 2)]
    yield
    for hog in hogs:
        hog.kill()
        hog.wait()


@pytest.mark.parametrize("point", ["stopping", "watching"])  # the stop and the watch wait longest
def test_a_sigkill_under_load_is_repaired_by_the_next_apply(engine, tmp_path, point, both_cores_busy):
    name, profile, old_text, old, _, _ = signalled(engine, tmp_path, point, signal.SIGKILL)
    profile.write_text(old_text)

    repaired = run_cli("apply", profile)

    assert repaired.code == 0 and "repair: " in repaired.out, repaired.out + repaired.err
    old_runs_as_it_was(engine, tmp_path, name, old)
