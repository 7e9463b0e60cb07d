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

from ..common.errors import ApplyFailedRestored

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
def apply_lock(runtime: str, name: str, timeout: Optional[float] = None):
    """Hold the deployment's lock, waiting up to `timeout` (default LOCK_TIMEOUT) for another one-run."""
    timeout = LOCK_TIMEOUT if timeout is None else timeout
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
