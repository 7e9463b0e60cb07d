"""The journal of a swap under way: a small JSON record written before each risky step, so
the next apply can put back what a killed one left (undo.repair).

A journal that cannot be read as one this one-run wrote (cut short by a power loss or a full
disk, garbled, or written by a newer one-run) is refused, never guessed at: read as "no
journal", or as "the watch passed", it could lead repair to remove the good container.
"""
import json
from typing import List, Optional

from ..common.errors import UsageError
from .naming import NEW_SUFFIX, OLD_SUFFIX
from .state import JOURNAL, Store

VERSION = 1  # of the record's form
# What each field must be; absent optional ones are None. Steps: swap.py's, in order.
STEPS = ("create", "created", "prepare", "stop", "snapshot", "restore-data", "swap", "start", "commit")
FIELDS = {"step": str, "new": (str, type(None)), "old": (str, type(None)), "old_running": bool, "passed": bool}
OPTIONAL = {"keep_previous": bool, "carried": list, "old_judge": (dict, type(None)), "snapshot": (dict, type(None)),
            "prepared": (dict, type(None))}


def wrong_fields(record: dict, required: dict, optional: Optional[dict] = None) -> List[str]:
    """The fields of a state record (the journal, a history revision) that are missing or of the
    wrong type: {field: type or types}; optional ones may be absent."""
    return [key for key, kind in required.items() if not isinstance(record.get(key), kind)] + \
        [key for key, kind in (optional or {}).items() if key in record and not isinstance(record[key], kind)]


class Journal:
    """A small JSON record of an unfinished swap, written before each risky step."""

    def __init__(self, store: Store, runtime: str, name: str):
        self.store, self.runtime, self.name = store, runtime, name

    @property
    def path(self) -> str:
        """Where it is, for messages (asked only then: the store is read under the lock)."""
        return self.store.where(JOURNAL)

    def read(self) -> Optional[dict]:
        """The record, None when there is none; UsageError (exit 2, nothing touched) when it is
        damaged or newer than this one-run."""
        text = self.store.read(JOURNAL)
        if text is None:
            return None
        try:
            record = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise self.refused(f"it is not the JSON one-run writes ({exc})") from None
        if not isinstance(record, dict):
            raise self.refused("it holds no record")
        if isinstance(record.get("version"), int) and record["version"] > VERSION:
            raise UsageError(f"{self.path}: a newer one-run wrote this journal of an interrupted apply (journal "
                             f"version {record['version']}; this one-run reads {VERSION}): run that one-run to "
                             "repair it; nothing was changed")
        wrong = wrong_fields(record, FIELDS, OPTIONAL)
        if wrong or record["step"] not in STEPS:
            raise self.refused(f"its field{'s' if len(wrong) > 1 else ''} {', '.join(wrong or ['step'])} "
                               "cannot be read")
        return record

    def refused(self, why: str) -> UsageError:
        cli, name = self.runtime, self.name
        return UsageError(
            f"{self.path}: the journal of an interrupted apply is damaged: {why}. one-run cannot tell what that "
            f"apply had done, so it changed nothing. See what is there with `{cli} ps -a --filter name={name}`; "
            f"make {name} the container you want to run (`{cli} rename {name}{OLD_SUFFIX} {name}` puts the previous "
            f"one back, `{cli} rm -f {name}{NEW_SUFFIX}` removes a new one that never passed its watch), then "
            f"{self.store.removal(JOURNAL)} and run the apply again")

    def write(self, **record) -> None:
        self.store.write(JOURNAL, json.dumps({**record, "version": VERSION}).encode())

    def clear(self) -> None:
        self.store.remove(JOURNAL)
