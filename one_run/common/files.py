"""Files one-run writes and the files a profile names.

A file one-run owns gets exactly the mode asked (whatever the umask) from before the first
byte, and is written atomically (a temporary file, synced, renamed, the folder synced), so a
reader never sees half a key or the old file's mode, and a failed write or a power loss leaves
no partial file. A file a profile names is read
only if it is a regular file of bounded size: never a FIFO that blocks, nor /dev/zero."""
import os
import stat
from typing import Iterable, Optional, Tuple, Union

PathLike = Union[str, "os.PathLike[str]"]  # pathlib and tempfile stay off render's start-up path


def write_file(path: PathLike, data: bytes, mode: int, owner: Optional[Tuple[int, int]] = None) -> None:
    """Create or replace `path` with `data` and `mode`; `owner` (uid, gid) where we may set it.
    Written whole or not at all, also across a power loss: a temporary file beside it, synced,
    renamed over it, and the folder synced, so the name never points at a cut file."""
    import tempfile
    from pathlib import Path

    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # 0600, O_EXCL
    try:
        _fill(fd, data, mode, owner)
        os.replace(tmp, path)
    except BaseException as exc:
        os.unlink(tmp)  # ours, never renamed: no cut key or secret is left behind
        if isinstance(exc, OSError) and not exc.filename:  # a full disk says so at the write: name the file
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        raise
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


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


MAX_INPUT_BYTES = 1 << 20  # a profile, secret or customization file is small; /dev/zero is not


class NotReadable(Exception):
    """Why a file the profile names cannot be read, as words that follow its path."""


def read_regular_file(path: str, limit: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of the regular file at `path` (links followed), at most `limit` of them;
    NotReadable otherwise. Opened without blocking, so a FIFO cannot hang the reader."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NotReadable("does not exist") from None
    except PermissionError:
        raise NotReadable("is not readable") from None
    except OSError as exc:
        raise NotReadable(f"cannot be read ({exc.strerror})") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotReadable("is not a regular file")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise NotReadable(f"cannot be read ({exc.strerror})") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise NotReadable(f"is larger than {limit >> 20} MiB")
    return data


GITIGNORED = ("/.one-run/", "*.bak", "*.bak-*")  # one-run's staged copies; init's and tls renew's backups


def ensure_gitignore(folder: PathLike, private: Iterable[str]) -> str:
    """Add to `folder`/.gitignore (kept as it is otherwise) the lines that keep `private`
    (patterns relative to folder: keys, secrets) and GITIGNORED out of git."""
    from pathlib import Path

    path = Path(folder) / ".gitignore"
    try:
        text = path.read_text()
    except FileNotFoundError:
        text = ""
    have = set(text.splitlines())
    missing = [line for line in (*private, *GITIGNORED) if line not in have]
    if missing:
        if text and not text.endswith("\n"):
            text += "\n"
        if not text:
            text = "# written by one-run: private keys, secrets, one-run's staged copies and backups stay out of git\n"
        write_file(path, (text + "".join(line + "\n" for line in missing)).encode(), 0o644)
    return str(path)
