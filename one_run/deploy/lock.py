"""One apply at a time per container, and the state folder that holds the lock and journal.

The lock is an flock on a file per runtime and container name: the kernel drops it
when the process dies, so a SIGKILLed apply never leaves a stale lock behind.
"""
import fcntl
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

from ..common.errors import ApplyFailedRestored, EngineUnavailable

LOCK_TIMEOUT = 120.0  # seconds a second one-run waits for the first one's change to end


def state_dir() -> Path:
    """Locks, the journal of an apply under way, adoption records. A persistent folder (XDG's
    state home): a host that loses power mid-apply keeps the journal its repair needs."""
    base = os.environ.get("ONE_RUN_STATE_DIR") or os.path.join(
        os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state"), "one-run")
    path = Path(base)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


@contextmanager
def apply_lock(runtime: str, name: str, timeout: Optional[float] = None, engine=None):
    """Hold the deployment's lock, waiting up to `timeout` (default LOCK_TIMEOUT) for another one-run;
    for an engine reached over SSH (`engine`), on its host too."""
    timeout = LOCK_TIMEOUT if timeout is None else timeout
    with _local_lock(runtime, name, timeout):
        if engine is not None and engine.endpoint.url.scheme == "ssh":
            with _host_lock(engine, runtime, name, timeout):
                yield
        else:
            yield


# On the engine's host: flock(1) on a file in /run/lock, held by a shell whose stdin is this
# process's pipe over the SSH connection. When one-run ends, killed or not, or the connection
# drops, the pipe closes, `cat` ends and the kernel there drops the lock: another client on
# another machine waits for it, and a dead one never leaves it behind.
HOST_LOCK = """command -v flock >/dev/null || { echo noflock; exit 127; }
lock=/run/lock/one-run-$1.lock
[ -d /run/lock ] && [ -w /run/lock ] || lock=/tmp/one-run-$1.lock
if ! flock -n "$lock" true; then echo "busy $(cat "$lock.holder" 2>/dev/null)"; fi
flock -w "$3" "$lock" sh -c 'printf %s "$1" > "$0.holder"; echo held; exec cat >/dev/null' "$lock" "$2" \
  || { echo "timeout $(cat "$lock.holder" 2>/dev/null)"; exit 75; }
"""


@contextmanager
def _host_lock(engine, runtime: str, name: str, timeout: float):
    import shlex
    import socket
    import subprocess

    from ..engines import CONNECT_TIMEOUT
    from ..engines.ssh import connection

    endpoint = engine.endpoint
    holder = f"pid {os.getpid()} on {socket.gethostname()}"
    command = shlex.join(["sh", "-c", HOST_LOCK, "one-run", f"{runtime}-{name}", holder, str(int(timeout))])
    held = connection(endpoint.url, endpoint.identity, CONNECT_TIMEOUT).run(command)
    try:
        for line in held.stdout:
            word, _, who = line.strip().partition(" ")
            if word == "busy":
                print(f"waiting for another one-run ({who or 'another client'}) on {endpoint.name}, which is "
                      f"changing {runtime} container {name} ...", file=sys.stderr, flush=True)
            elif word == "timeout":
                raise ApplyFailedRestored(
                    f"another one-run ({who or 'another client'}) is changing {runtime} container {name} on "
                    f"{endpoint.name}; waited {timeout:.0f} s and changed nothing — try again when it has finished")
            elif word == "noflock":
                raise EngineUnavailable(f"{endpoint.name} has no `flock` (util-linux), which holds the "
                                        "deployment's lock there; install it there. Nothing was changed")
            elif word == "held":
                break
        else:
            raise EngineUnavailable(f"cannot take the deployment's lock on {endpoint.name} (flock there): "
                                    f"{held.stderr.read().strip() or 'the command ended'}; nothing was changed")
        yield
    finally:
        held.stdin.close()  # the lock's holder there ends, and with it the lock
        try:
            held.wait(5)
        except subprocess.TimeoutExpired:
            held.kill()


@contextmanager
def _local_lock(runtime: str, name: str, timeout: float):
    path = state_dir() / f"{runtime}-{name}.lock"
    with open(path, "a+") as f:
        deadline = time.monotonic() + timeout
        holder = None
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if holder is None:
                    f.seek(0)
                    holder = f.read().strip() or "another process"
                    print(f"waiting for another one-run ({holder}), which is changing {runtime} container {name} ...",
                          file=sys.stderr, flush=True)
                if time.monotonic() >= deadline:
                    raise ApplyFailedRestored(
                        f"another one-run ({holder}) is changing {runtime} container {name}; waited {timeout:.0f} s "
                        "and changed nothing — try again when it has finished") from None
                time.sleep(0.2)
        try:  # who holds it, for the message of the one that waits; the flock is the lock
            f.seek(0)
            f.truncate()
            f.write(f"pid {os.getpid()}")
            f.flush()
        except OSError:
            pass
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
