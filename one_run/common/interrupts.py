"""Ctrl-C, SIGTERM and SIGHUP while one-run changes containers.

They end the command the way Ctrl-C does, as a KeyboardInterrupt, so the restore
runs instead of the process dying half-way. But an engine call that changes
something is never cut in the middle: the engine finishes it anyway (a stop keeps
stopping once asked), so an interrupt raised inside would leave one-run guessing
what happened. Such calls run in `deferred()` blocks, where an interrupt waits for
the block's end; a restore runs in `shielded()`, where it is noted and dropped,
since the restore is already the answer to it.
"""
import contextlib
import os
import signal
import sys

_depth = 0        # deferred()/shielded() blocks open
_pending = False  # an interrupt arrived inside one
_shielded = 0


def _interrupt(signum, frame):
    global _pending
    if signum == signal.SIGHUP:
        # The terminal is gone: writing to it would fail the restore that follows.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
    if _depth:
        if not _pending:
            what = "putting things back first" if _shielded else "finishing the engine call under way first"
            print(f"interrupt received: {what}", file=sys.stderr, flush=True)
        _pending = True
        return
    raise KeyboardInterrupt


@contextlib.contextmanager
def as_keyboard_interrupt():
    """For the duration of a changing command. A signal the caller set to be ignored (nohup,
    or SIGINT in a background job) stays ignored."""
    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) in (signal.SIG_DFL, signal.default_int_handler):
            previous[signum] = signal.signal(signum, _interrupt)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def pending() -> bool:
    """Whether an interrupt waits for the end of the current block."""
    return _pending


@contextlib.contextmanager
def deferred():
    """An interrupt inside waits for the block to end, then raises KeyboardInterrupt
    (unless the block itself raised: its failure is handled the same way)."""
    global _depth, _pending
    _depth += 1
    try:
        yield
    except BaseException:
        _depth -= 1
        if not _depth:
            _pending = False
        raise
    _depth -= 1
    if not _depth and _pending:
        _pending = False
        raise KeyboardInterrupt


@contextlib.contextmanager
def shielded():
    """An interrupt inside is noted and dropped: the block answers one already (a restore),
    or comes after the change succeeded."""
    global _depth, _pending, _shielded
    _depth += 1
    _shielded += 1
    try:
        yield
    finally:
        _depth -= 1
        _shielded -= 1
        if not _depth:
            _pending = False
