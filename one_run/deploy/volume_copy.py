"""Stream one volume's tar from one engine into another, and fingerprint what each side holds.

The source engine's archive stream is read chunk by chunk and sent, as it comes, as
the body of the target engine's archive upload (chunked HTTP): memory use stays at a
few chunks whatever the volume's size, and nothing is written to local disk. The same
chunks are fingerprinted on the way through. The target is then fingerprinted from
its own engine's archive of the copied volume, so each side's fingerprint comes from
that side's engine.

A fingerprint (TreeDigest) is the entry count, the regular files' count and total
bytes, and a sha256 over one sorted record per entry: relative path, type, permission
bits, numeric uid/gid, mtime (seconds), symlink target, device numbers, and the
sha256 of the contents. Hard links are recorded as the file they link to, since the
two engines may walk a tree in different orders. Extended attributes travel inside
the tar as far as each engine carries them, but are left out of the fingerprint for
that reason.
"""
import hashlib
import os
import queue
import tarfile
import threading
from typing import Callable, Dict, Iterable, Iterator, List, NamedTuple, Optional

from ..common.errors import EngineError
from ..engines import Engine

PROBE_ROOT = "/one-run-switch/probe"  # where a probe helper mounts the volumes it looks into
# Chunks (of about 1 MiB) read ahead of the upload or the file write: a write held up by
# the kernel's dirty-page throttling then no longer stops the engine's stream (backup of
# 1000 MiB into a file: 5.5 s read and written in turn, 3.6 s with 8 read ahead, 2.8 s with 64).
PREFETCH_CHUNKS = 64


class TreeDigest(NamedTuple):
    entries: int
    files: int
    bytes: int
    sha256: str

    def describe(self) -> str:
        return f"{self.entries} entries, {self.files} files, {human(self.bytes)}, sha256 {self.sha256[:16]}"


def human(size: Optional[float]) -> str:
    if size is None:
        return "size unknown"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def relative_name(name: str) -> str:
    """Entry names as either engine writes them ("./a", "/a", "a", ".", "/", "") → "a" or "."."""
    while name.startswith("./"):
        name = name[2:]
    name = name.strip("/")
    return name if name and name != "." else "."


def _pax_records(data: bytes) -> dict:
    """The `<length> <key>=<value>\\n` records of a PAX header."""
    records, at = {}, 0
    while at < len(data):
        space = data.index(b" ", at)
        length = int(data[at:space])
        key, _, value = data[space + 1:at + length - 1].partition(b"=")
        records[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        at += length
    return records


class TarFingerprint:
    """Fingerprints a tar stream fed chunk by chunk.

    A small streaming reader of its own: ustar/GNU headers through tarfile.TarInfo.frombuf,
    plus PAX ('x', 'g') records and GNU long names ('L', 'K'), which is what Go's archive/tar
    (Docker, Podman), GNU tar and busybox tar write. Contents are hashed straight from the
    chunks without copying them: tarfile's own stream mode costs more than the hashing.
    """

    SPECIAL = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK)

    def __init__(self):
        self.records: List[bytes] = []
        self.contents = {}  # relative path -> (sha256, size), for hard links
        self.entries = self.files = self.bytes = 0
        self.ended = False  # the end-of-archive block was seen
        self._header = bytearray()
        self._remaining = self._pad = 0
        self._collect: Optional[bytearray] = None  # the data of a special header
        self._special: Optional[bytes] = None
        self._hash = None
        self._member = None
        self._pending, self._global = {}, {}

    def feed(self, chunk: bytes) -> None:
        view, i, n = memoryview(chunk), 0, len(chunk)
        while i < n:
            if self._remaining:
                take = min(self._remaining, n - i)
                if self._collect is not None:
                    self._collect += view[i:i + take]
                elif self._hash is not None:
                    self._hash.update(view[i:i + take])
                self._remaining -= take
                i += take
                if not self._remaining:
                    self._end_data()
            elif self._pad:
                take = min(self._pad, n - i)
                self._pad -= take
                i += take
            elif self.ended:
                return  # the end-of-archive zeros and the record padding
            else:
                take = min(tarfile.BLOCKSIZE - len(self._header), n - i)
                self._header += view[i:i + take]
                i += take
                if len(self._header) == tarfile.BLOCKSIZE:
                    block = bytes(self._header)
                    self._header.clear()
                    self._on_header(block)

    def _on_header(self, block: bytes) -> None:
        if block == tarfile.NUL * tarfile.BLOCKSIZE:
            self.ended = True
            return
        info = tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
        size = info.size
        if info.type in self.SPECIAL:
            self._special, self._collect = info.type, bytearray()
        else:
            pax = {**self._global, **self._pending.pop("pax", {})}
            name = pax.get("path") or self._pending.pop("name", None) or info.name
            link = pax.get("linkpath") or self._pending.pop("link", None) or info.linkname
            self._pending.clear()
            size = int(pax.get("size", size))
            uid, gid = int(pax.get("uid", info.uid)), int(pax.get("gid", info.gid))
            self._member = (name, info, link, uid, gid, int(float(pax.get("mtime", info.mtime))), size)
            self._hash = hashlib.sha256() if info.type in tarfile.REGULAR_TYPES else None
        self._remaining, self._pad = size, -size % tarfile.BLOCKSIZE
        if not size:
            self._end_data()

    def _end_data(self) -> None:
        if self._collect is not None:
            data, kind = bytes(self._collect), self._special
            self._collect = self._special = None
            if kind in (tarfile.XHDTYPE, tarfile.XGLTYPE):
                records = _pax_records(data)
                if kind == tarfile.XGLTYPE:
                    self._global.update(records)
                else:
                    self._pending["pax"] = records
            else:
                text = data.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
                self._pending["name" if kind == tarfile.GNUTYPE_LONGNAME else "link"] = text
            return
        name, info, link, uid, gid, mtime, size = self._member
        name, sha, kind = relative_name(name), "", info.type
        if info.type in tarfile.REGULAR_TYPES:
            kind, sha = tarfile.REGTYPE, self._hash.hexdigest()
            self.contents[name] = (sha, size)
        elif info.type == tarfile.LNKTYPE:
            kind = tarfile.REGTYPE
            sha, size = self.contents.get(relative_name(link), ("missing:" + link, 0))
        if info.type != tarfile.SYMTYPE:
            link = ""
        if kind == tarfile.REGTYPE:
            self.files += 1
            self.bytes += size
        else:
            size = 0
        self.entries += 1
        dev = f"{info.devmajor},{info.devminor}" if info.type in (tarfile.CHRTYPE, tarfile.BLKTYPE) else ""
        self.records.append("\0".join((name, kind.decode(), oct(info.mode & 0o7777), str(uid), str(gid),
                                       str(size), str(mtime), link, dev, sha)).encode("utf-8", "surrogateescape"))
        self._hash = self._member = None

    def result(self) -> TreeDigest:
        if self._remaining or self._header or self._collect is not None or self._member is not None:
            raise tarfile.ReadError("the archive ends in the middle of an entry")
        h = hashlib.sha256()
        for record in sorted(self.records):
            h.update(record + b"\n")
        return TreeDigest(self.entries, self.files, self.bytes, h.hexdigest())


def digest_tar(chunks: Iterable[bytes]) -> TreeDigest:
    """The fingerprint of a tar stream."""
    fingerprint = TarFingerprint()
    for chunk in chunks:
        fingerprint.feed(chunk)
    return fingerprint.result()


def _tar_error(engine: Engine, what: str, exc: Exception) -> EngineError:
    return EngineError(f"{engine.runtime}: the archive of {what} could not be read as tar: {exc}")


class Prefetch(threading.Thread):
    """Reads the source stream ahead into a bounded queue, so reading from one engine and
    sending to the other overlap (socket reads and writes release the GIL)."""

    def __init__(self, chunks: Iterator[bytes]):
        super().__init__(daemon=True)
        self.chunks, self.queue, self.stop = chunks, queue.Queue(maxsize=PREFETCH_CHUNKS), threading.Event()

    def run(self):
        try:
            for chunk in self.chunks:
                if not self._hand(chunk):
                    return
            self._hand(None)
        except BaseException as exc:  # handed to the consumer, in its thread
            self._hand(exc)
        finally:
            getattr(self.chunks, "close", lambda: None)()

    def _hand(self, item) -> bool:
        """Queue item for the consumer; False once it has quit (stop set), so a full queue
        nobody reads any more never holds this thread, or the source stream, forever."""
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[bytes]:
        while True:
            item = self.queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item


def copy_volume(src: Engine, src_cid: str, src_path: str, dst: Engine, dst_cid: str, dst_path: str,
                progress: Callable[[int], None]) -> TreeDigest:
    """Stream src_path (a volume mounted in helper src_cid) into dst_path (in dst_cid).

    Returns the source's fingerprint, computed from the very bytes that were sent.
    """
    fingerprint = TarFingerprint()
    source = Prefetch(iter(src.archive_get(src_cid, src_path)))
    source.start()
    ended = False

    def body() -> Iterator[bytes]:
        nonlocal ended
        for chunk in source:
            fingerprint.feed(chunk)
            progress(len(chunk))
            yield chunk
        ended = True

    try:
        dst.archive_put(dst_cid, dst_path, body())
    except (tarfile.TarError, ValueError) as exc:
        raise _tar_error(src, src_path, exc) from None
    finally:
        source.stop.set()
    if not ended:
        raise EngineError(f"{dst.runtime}: the upload ended before the {src.runtime} archive of {src_path} did")
    try:
        return fingerprint.result()
    except tarfile.TarError as exc:
        raise _tar_error(src, src_path, exc) from None


def fingerprint_volume(engine: Engine, cid: str, path: str) -> TreeDigest:
    """The fingerprint of a volume (mounted at path in helper cid) as its engine archives it."""
    chunks = engine.archive_get(cid, path)
    try:
        return digest_tar(chunks)
    except (tarfile.TarError, ValueError) as exc:
        raise _tar_error(engine, path, exc) from None
    finally:
        getattr(chunks, "close", lambda: None)()


def has_entries(engine: Engine, cid: str, path: str) -> bool:
    """True when the directory at path (in helper cid) holds anything; reads only the first headers.

    The directory's own entry comes first, under whichever name the engine gives it ("./",
    "/", or its base name: Podman's archive API names it differently in a running container).
    """
    chunks = engine.archive_get(cid, path, owners=False)
    fingerprint = TarFingerprint()
    try:
        for chunk in chunks:
            fingerprint.feed(chunk)
            if fingerprint.entries > 1 or (fingerprint.entries == 1 and fingerprint._member is not None):
                return True
            if fingerprint.ended:
                break
        return False
    except (tarfile.TarError, ValueError) as exc:
        raise _tar_error(engine, path, exc) from None
    finally:
        getattr(chunks, "close", lambda: None)()


def probe_volumes(engine: Engine, names: List[str], image: str) -> Dict[str, Optional[bool]]:
    """name → whether the volume holds anything (None: could not look, no image to make a helper)."""
    helper_image = image if engine.image_attrs(image) is not None else engine.any_image()
    if not names or helper_image is None:
        return {name: None for name in names}
    mounts = [(name, f"{PROBE_ROOT}/{i}", True) for i, name in enumerate(names)]
    cid = engine.create_helper(helper_image, mounts, f"one-run-probe-{os.urandom(6).hex()}")
    try:
        return {name: has_entries(engine, cid, path) for name, path, _ in mounts}
    finally:
        remove_quietly(engine, cid)


def remove_quietly(engine: Engine, cid: str) -> Optional[str]:
    """Remove a helper container; why not, if it could not be (the caller says what is left)."""
    try:
        engine.remove(cid)
        return None
    except EngineError as exc:
        return str(exc)
