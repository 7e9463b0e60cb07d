"""Where a deployment's own state is kept: the journal of a swap under way, the labels of an
adopted container, and the revisions (history.py).

On a local engine, files on this disk: the journal and the adoption record in the state
folder (lock.state_dir), the revisions beside the profile. On an engine that does not share
this disk (a remote host), a volume of one-run's own on that engine, `<container>.one-run-state`,
read and written through the archive API of a helper container that never runs: every client
that reaches the engine sees one journal and one history, kept as long as the engine's volumes.
The first apply from a client that still holds local state of the deployment carries it there.
"""
import io
import os
import tarfile
from typing import Dict, List, Optional, Set

from ..common.errors import EngineUnavailable
from ..common.files import write_file
from ..engines import Engine
from ..model.endpoint import endpoint_for
from ..model.runspec import private_folder
from .lock import state_dir
from .volume_copy import relative_name, remove_quietly

JOURNAL, ADOPTED, HISTORY = "journal.json", "adopted.json", "history"
STATE_SUFFIX = ".one-run-state"  # the volume: <container>.one-run-state
STATE_LABEL = "one-run.state"  # on that volume: the container's name
# The helper that reads and writes it: <container>-one-run-state-<random>, one per reader, so
# a `history` on one client and an apply on another never remove each other's.
HELPER_SUFFIX = "-one-run-state-"
ROOT = "/one-run-state"  # where the helper mounts it
# What a removed file holds in the volume: the archive API writes, never deletes. A write cut
# short leaves a prefix of what was written, never this.
REMOVED = b"\0one-run: removed\n"


class Store:
    """Files by key ("journal.json", "history/3/revision.json"): read, written whole, listed."""

    def read(self, key: str) -> Optional[bytes]: raise NotImplementedError  # None: not there
    def write(self, key: str, data: bytes, mode: int = 0o600) -> None: raise NotImplementedError
    def remove(self, key: str) -> None: raise NotImplementedError
    def names(self, folder: str) -> List[str]: raise NotImplementedError  # its entries' names; [] if none
    def where(self, key: str) -> str: raise NotImplementedError  # for messages
    def removal(self, key: str) -> str: raise NotImplementedError  # how a user removes it, for messages

    def close(self) -> None:
        pass

    def tidy(self) -> None:
        """Remove what killed readers of the store left (under the deployment's lock)."""


class LocalStore(Store):
    """The files on this disk, where one-run has always kept them."""

    def __init__(self, runtime: str, name: str, profile_path: str):
        self.runtime, self.name, self.profile_path = runtime, name, profile_path

    def path(self, key: str) -> str:
        if key == HISTORY or key.startswith(HISTORY + "/"):
            return os.path.join(private_folder(self.profile_path), key)
        # The journal keeps the name it had before this module: a journal an older one-run left is found.
        suffix = {JOURNAL: "journal", ADOPTED: "adopted.json"}[key]
        return str(state_dir() / f"{self.runtime}-{self.name}.{suffix}")

    def read(self, key: str) -> Optional[bytes]:
        try:
            with open(self.path(key), "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def write(self, key: str, data: bytes, mode: int = 0o600) -> None:
        path = self.path(key)
        top = private_folder(self.profile_path) if key.startswith(HISTORY) else str(state_dir())
        folder = os.path.dirname(path)
        made = []
        while not os.path.isdir(folder) and len(folder) >= len(top):
            made.append(folder)
            folder = os.path.dirname(folder)
        for folder in reversed(made):  # folders 0700: the revisions hold private keys
            os.makedirs(folder, mode=0o700, exist_ok=True)
            os.chmod(folder, 0o700)
        write_file(path, data, mode)

    def remove(self, key: str) -> None:
        try:
            os.unlink(self.path(key))
        except FileNotFoundError:
            pass

    def names(self, folder: str) -> List[str]:
        try:
            return os.listdir(self.path(folder))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def where(self, key: str) -> str:
        return self.path(key)

    def removal(self, key: str) -> str:
        return f"delete {self.path(key)}"


class VolumeStore(Store):
    """The files in the volume `<container>.one-run-state` on the engine, read whole once (the
    journal, the adoption record and the revisions of one deployment are small) and written one
    by one through the archive API."""

    def __init__(self, engine: Engine, name: str):
        self.engine, self.name = engine, name
        self.volume = name + STATE_SUFFIX
        self._files: Optional[Dict[str, bytes]] = None
        self._folders: Set[str] = set()
        self._helper: Optional[str] = None
        self._image: Optional[str] = None

    def _load(self) -> Dict[str, bytes]:
        if self._files is not None:
            return self._files
        self._files = {}
        if self.engine.volume(self.volume) is None:
            return self._files
        # Contents and modes are enough: no running helper.
        chunks = self.engine.archive_get(self._helper_id(), ROOT, owners=False)
        try:
            data = b"".join(chunks)
        finally:
            getattr(chunks, "close", lambda: None)()
        try:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
                for member in tar:
                    key = relative_name(member.name)
                    if member.isdir() and key != ".":
                        self._folders.add(key)
                    elif member.isfile():
                        self._files[key] = tar.extractfile(member).read()
        except tarfile.TarError as exc:
            self._files = None
            raise EngineUnavailable(f"{self.engine.label}: the volume {self.volume}, which holds the deployment's "
                                    f"journal and history, cannot be read: {exc}; nothing was changed") from None
        return self._files

    def _helper_id(self) -> str:
        if self._helper is None:
            self._image = self.engine.any_image()
            if not self._image:
                raise EngineUnavailable(f"{self.engine.label}: no image to run the helper that reads the volume "
                                        f"{self.volume} (the deployment's journal and history); nothing was changed")
            # Created, never started: the archive API reads and writes a container that does not run.
            self._helper = self.engine.create_helper(self._image, [(self.volume, ROOT, False)],
                                                     self.name + HELPER_SUFFIX + os.urandom(4).hex(), command=["true"])
        return self._helper

    def read(self, key: str) -> Optional[bytes]:
        data = self._load().get(key)
        return None if data == REMOVED else data

    def write(self, key: str, data: bytes, mode: int = 0o600) -> None:
        files = self._load()
        if self.engine.volume(self.volume) is None:
            self.engine.create_volume(self.volume, {STATE_LABEL: self.name})
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
            parts = key.split("/")
            for depth in range(1, len(parts)):  # the folders on the way, 0700: revisions hold private keys
                folder = tarfile.TarInfo("/".join(parts[:depth]))
                folder.type, folder.mode = tarfile.DIRTYPE, 0o700
                tar.addfile(folder)
            info = tarfile.TarInfo(key)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
        self.engine.archive_put(self._helper_id(), ROOT, iter([out.getvalue()]))
        files[key] = data
        self._folders.update("/".join(parts[:depth]) for depth in range(1, len(parts)))

    def remove(self, key: str) -> None:
        if self.read(key) is not None:
            self.write(key, REMOVED)

    def names(self, folder: str) -> List[str]:
        files = self._load()
        prefix = folder + "/"
        found = {key[len(prefix):].split("/")[0] for key, data in files.items()
                 if key.startswith(prefix) and data != REMOVED}
        found |= {key[len(prefix):].split("/")[0] for key in self._folders if key.startswith(prefix)}
        return sorted(found)

    def where(self, key: str) -> str:
        return f"{key} in the volume {self.volume} on {self.engine.label}"

    def removal(self, key: str) -> str:
        command = (f"{self.engine.runtime} run --rm -v {self.volume}:/s --entrypoint rm {self._image or 'IMAGE'} "
                   f"-rf /s/{key}")
        return f"remove it there (`{'; '.join([*self.engine.endpoint.cli_reach(), command])}`)"

    def tidy(self) -> None:
        for name, _ in self.engine.names_starting(self.name + HELPER_SUFFIX):
            info = self.engine.get(name)
            if info is not None and info.id != self._helper:
                remove_quietly(self.engine, info.id)

    def close(self) -> None:
        if self._helper is not None:
            remove_quietly(self.engine, self._helper)
            self._helper = None


def store_for(runtime: str, name: str, profile_path: str, engine: Optional[Engine] = None) -> Store:
    """The deployment's store: the volume on a remote engine (`engine`, or the one the profile
    names), the local files otherwise."""
    if not (engine.endpoint.remote if engine is not None else endpoint_for(runtime).remote):
        return LocalStore(runtime, name, profile_path)
    if engine is None:
        from ..engines import get_engine

        engine = get_engine(runtime)
    return VolumeStore(engine, name)


def carry(source: Store, target: Store) -> int:
    """Copy the revisions of `source` into `target` when it has none (the first apply to a remote
    engine from a client that applied locally; a switch to the host's other engine); how many
    files. The source keeps its copies: nothing is lost when the target cannot be written."""
    if target.names(HISTORY) or not source.names(HISTORY):
        return 0
    count = 0
    for key in _walk(source, HISTORY):
        data = source.read(key)
        if data is not None:
            target.write(key, data)
            count += 1
    return count


def _walk(store: Store, folder: str) -> List[str]:
    """The keys of the files under `folder`, revision.json of each revision last (it makes the revision)."""
    keys = []
    for name in store.names(folder):
        key = f"{folder}/{name}"
        inner = store.names(key)
        keys += _walk(store, key) if inner else [key]
    return sorted(keys, key=lambda k: (k.count("/") == 2 and k.endswith("/revision.json"), k))
