"""The journal of a swap under way: a small JSON record written before each risky step, so
the next apply can put back what a killed one left (undo.repair)."""
import json
from typing import Optional

from ..common.files import write_file
from .lock import state_dir


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
