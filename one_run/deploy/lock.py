"""One apply at a time per container, and a journal that survives a killed apply.

The lock is an flock on a file per runtime and container name: the kernel drops it
when the process dies, so a SIGKILLed apply never leaves a stale lock behind. The
journal records what the swap has done so far, so the next apply can put things back.
"""
import fcntl
import json
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

from ..common.errors import ApplyFailedRestored
from ..common.files import write_file


def state_dir() -> Path:
    """Locks, the journal of an apply under way, adoption records. A persistent folder (XDG's
    state home): a host that loses power mid-apply keeps the journal its repair needs."""
    base = os.environ.get("ONE_RUN_STATE_DIR") or os.path.join(
        os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state"), "one-run")
    path = Path(base)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


@contextmanager
def apply_lock(runtime: str, name: str, timeout: float):
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
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()}")
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class Journal:
    """A small JSON record of an unfinished swap, written before each risky step."""

    def __init__(self, runtime: str, name: str):
        self.path = state_dir() / f"{runtime}-{name}.journal"

    def read(self) -> Optional[dict]:
        try:
            return json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return None

    def write(self, **record) -> None:
        write_file(self.path, json.dumps(record).encode(), 0o600)

    def clear(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
