"""Writing a file one-run owns: exactly the mode asked (whatever the umask) from before the
first byte, and an existing file replaced atomically, so a reader never sees half a key or
the old file's mode, and a failed write leaves no partial file."""
import os
import tempfile
from pathlib import Path
from typing import Optional, Tuple


def write_file(path: Path, data: bytes, mode: int, owner: Optional[Tuple[int, int]] = None) -> None:
    """Create or replace `path` with `data` and `mode`; `owner` (uid, gid) where we may set it."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 & mode)
    except FileExistsError:
        fd = None
    if fd is not None:
        try:
            _fill(fd, data, mode, owner)
        except BaseException:
            os.unlink(path)  # ours, just created: no truncated key or secret is left behind
            raise
        return
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # 0600, O_EXCL
    try:
        _fill(fd, data, mode, owner)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _fill(fd: int, data: bytes, mode: int, owner: Optional[Tuple[int, int]]) -> None:
    with os.fdopen(fd, "wb") as f:
        if owner and owner != (os.geteuid(), os.getegid()):
            try:
                os.fchown(fd, *owner)
            except PermissionError:
                pass  # not root: the file stays ours, as the one it replaces was
        os.fchmod(fd, mode)  # the exact mode whatever the umask, before the first byte (and after fchown)
        f.write(data)
        f.flush()
        os.fsync(fd)
