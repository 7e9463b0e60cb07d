"""Errors whose class carries the exit code, and the Problem record that checks report.

Exit codes are the contract of DESIGN.md: 1 failed but restored, 2 bad input
(nothing touched), 3 engine unreachable before any change, 4 failed and NOT restored.
"""
from typing import List, NamedTuple, Optional


class Problem(NamedTuple):
    """One finding of a check: where it is, what is wrong, how to mend it."""

    message: str
    file: Optional[str] = None
    key: Optional[str] = None
    line: Optional[int] = None
    fix: Optional[str] = None
    warning: bool = False

    def __str__(self) -> str:
        where = self.file or ""
        if self.line:
            where += f":{self.line}"
        if self.key:
            where += f" [{self.key}]" if where else f"[{self.key}]"
        text = f"{where}: {self.message}" if where else self.message
        if self.fix:
            text += f" — {self.fix}"
        return ("warning: " if self.warning else "error: ") + text


class OneRunError(Exception):
    exit_code = 2

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class ProfileError(OneRunError):
    """Bad input: every problem found, none of them fixed. Nothing was touched."""

    exit_code = 2

    def __init__(self, problems: List[Problem], conclusion: Optional[str] = None):
        """`conclusion` is a last error line, for when the problems alone (warnings) do not say why it failed."""
        self.problems = list(problems)
        lines = [str(p) for p in self.problems] + ([f"error: {conclusion}"] if conclusion else [])
        super().__init__("\n".join(lines))


class UsageError(OneRunError):
    exit_code = 2


class EngineUnavailable(OneRunError):
    """The engine could not be reached, or refused, before anything changed."""

    exit_code = 3


class NotEnoughRoom(EngineUnavailable):
    """The copy a command is about to make does not fit where it would go; nothing was changed."""


class NotWritten(OneRunError):
    """A file one-run writes (a state file, a staged copy) could not be written, before anything
    changed: a full disk, a folder one may not write."""

    exit_code = 3

    @staticmethod
    def words(exc: OSError, what: str = "its state file") -> str:
        """What could not be written and why, in words that say what filled."""
        where = f" {exc.filename}" if exc.filename else ""
        return f"one-run could not write {what}{where}: {exc.strerror or exc}"

    @classmethod
    def of(cls, exc: OSError, what: str = "its state file") -> "NotWritten":
        return cls(f"{cls.words(exc, what)}; nothing was changed")


class EngineError(OneRunError):
    """The engine refused a call. Before anything changed this is exit 3; apply
    catches it once it has touched something and restores or reports."""

    exit_code = 3


class ApplyFailedRestored(OneRunError):
    """The change failed; the previous container runs again."""

    exit_code = 1


class RestoreFailed(OneRunError):
    """The change failed and the previous state could NOT be restored."""

    exit_code = 4
