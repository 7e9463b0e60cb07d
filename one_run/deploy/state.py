"""Where a deployment's own state is kept: the journal of a swap under way, the labels of an
adopted container, and the revisions (history.py).

On a local engine, files on this disk: the journal and the adoption record in the state
folder (lock.state_dir), the revisions beside the profile. On an engine that does not share
this disk (a remote host), volumes of one-run's own on that engine (VolumeStore), read and
written through the archive API of a helper container that never runs: every client that
reaches the engine sees one journal and one history, kept as long as the engine's volumes.
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
CARRIED = HISTORY + "/carried-"  # + a hash of the target: a source's note that carry saw that target
STATE_SUFFIX = ".one-run-state"  # the revisions' volume: <container>.one-run-state
STATE_LABEL = "one-run.state"  # on it: the container's name
JOURNAL_SUFFIX = ".one-run-journal-"  # the journal's: <container>.one-run-journal-<n>
JOURNAL_LABEL = "one-run.journal-of"  # on it: the container's name
JOURNAL_RECORD_LABEL = "one-run.journal"  # on it: the record
# The helper that reads and writes it: <container>-one-run-state-<random>, one per reader, so
# a `history` on one client and an apply on another never remove each other's.
HELPER_SUFFIX = "-one-run-state-"
ROOT = "/one-run-state"  # where the helper mounts it


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

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

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


class _Volume:
    """A volume of files, read whole at first use through a helper created then."""

    def __init__(self, engine: Engine, name: str, volume: str, image: Optional[str]):
        self.engine, self.name, self.volume, self.image = engine, name, volume, image
        self.files: Optional[Dict[str, bytes]] = None
        self.folders: Set[str] = set()
        self.helper: Optional[str] = None
        self.used = False  # a helper was made: the volume exists, and a killed one-run may have left one too

    def load(self) -> Dict[str, bytes]:
        if self.files is not None:
            return self.files
        self.files = {}
        if self.engine.volume(self.volume) is None:
            return self.files
        # Contents and modes are enough: no running helper.
        chunks = self.engine.archive_get(self.helper_id(), ROOT, owners=False)
        try:
            data = b"".join(chunks)
        finally:
            getattr(chunks, "close", lambda: None)()
        try:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
                for member in tar:
                    key = relative_name(member.name)
                    if member.isdir() and key != ".":
                        self.folders.add(key)
                    elif member.isfile():
                        self.files[key] = tar.extractfile(member).read()
        except tarfile.TarError as exc:
            self.files = None
            raise EngineUnavailable(f"{self.engine.label}: the volume {self.volume}, which holds the deployment's "
                                    f"state, cannot be read: {exc}; nothing was changed") from None
        return self.files

    def helper_id(self) -> str:
        if self.helper is None:
            if not (self.image and self.engine.image_attrs(self.image)):
                self.image = self.engine.any_image()
            if not self.image:
                raise EngineUnavailable(f"{self.engine.label}: no image to run the helper that reads the volume "
                                        f"{self.volume} (the deployment's state); nothing was changed")
            # Created, never started: the archive API reads and writes a container that does not run.
            self.used = True
            self.helper = self.engine.create_helper(self.image, [(self.volume, ROOT, False)],
                                                    self.name + HELPER_SUFFIX + os.urandom(4).hex(), command=["true"])
        return self.helper

    def write(self, key: str, data: bytes, mode: int) -> None:
        files = self.load()
        if self.engine.volume(self.volume) is None:
            self.engine.create_volume(self.volume, {STATE_LABEL: self.name})
        out = io.BytesIO()
        parts = key.split("/")
        with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for depth in range(1, len(parts)):  # the folders on the way, 0700: revisions hold private keys
                folder = tarfile.TarInfo("/".join(parts[:depth]))
                folder.type, folder.mode = tarfile.DIRTYPE, 0o700
                tar.addfile(folder)
            info = tarfile.TarInfo(key)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
        self.engine.archive_put(self.helper_id(), ROOT, iter([out.getvalue()]))
        files[key] = data
        self.folders.update("/".join(parts[:depth]) for depth in range(1, len(parts)))

    def close(self) -> None:
        if self.helper is not None:
            remove_quietly(self.engine, self.helper)
            self.helper = None


class VolumeStore(Store):
    """The deployment's state on the engine. The revisions and the adoption record: files in the
    volume `<container>.one-run-state`, read whole at first use (they are small) and written
    one by one through the archive API. The journal, written before each step of a swap: the
    label of an empty volume `<container>.one-run-journal-<n>`, each record a new volume, the
    newest the one read; all go when the swap ends. A volume is made whole or not at all, so a
    record is never cut short, and an apply with nothing to repair asks the engine one question."""

    def __init__(self, engine: Engine, name: str, image: Optional[str] = None):
        self.engine, self.name = engine, name
        self.state = _Volume(engine, name, name + STATE_SUFFIX, image)
        self._journals: Optional[Dict[str, str]] = None  # the journal volumes there: name -> record
        self.interrupted = False  # a journal was there: a killed one-run's helper may be too

    def journals(self) -> List[str]:
        """The journal volumes there, oldest first."""
        if self._journals is None:
            self._journals = {v["Name"]: (v.get("Labels") or {}).get(JOURNAL_RECORD_LABEL) or ""
                              for v in self.engine.volumes_labelled(JOURNAL_LABEL, self.name)}
            self.interrupted = bool(self._journals)
        return sorted(self._journals, key=_journal_number)

    def _journal(self) -> Optional[bytes]:
        found = self.journals()
        return self._journals[found[-1]].encode() if found else None

    def read(self, key: str) -> Optional[bytes]:
        return self._journal() if key == JOURNAL else self.state.load().get(key)

    def write(self, key: str, data: bytes, mode: int = 0o600) -> None:
        if key != JOURNAL:
            self.state.write(key, data, mode)
            return
        # One call a record: the earlier ones stay, under lower numbers, until the journal is removed.
        before = self.journals()
        made = f"{self.name}{JOURNAL_SUFFIX}{_journal_number(before[-1]) + 1 if before else 1}"
        self.engine.create_volume(made, {JOURNAL_LABEL: self.name, JOURNAL_RECORD_LABEL: data.decode()})
        self._journals[made] = data.decode()

    def remove(self, key: str) -> None:
        """The journal, the one record one-run removes."""
        if key != JOURNAL:
            raise ValueError(f"{key}: only the journal is removed")
        for volume in self.journals():  # the newest last: cut short, what is left is still the last record
            self.engine.remove_volume(volume)
            del self._journals[volume]

    def names(self, folder: str) -> List[str]:
        prefix = folder + "/"
        keys = set(self.state.load()) | self.state.folders
        return sorted({key[len(prefix):].split("/")[0] for key in keys if key.startswith(prefix)})

    def where(self, key: str) -> str:
        if key == JOURNAL:
            volume = self.journals()[-1] if self.journals() else f"{self.name}{JOURNAL_SUFFIX}<n>"
            return f"the journal in the label {JOURNAL_RECORD_LABEL} of the volume {volume} on {self.engine.label}"
        return f"{key} in the volume {self.state.volume} on {self.engine.label}"

    def removal(self, key: str) -> str:
        if key == JOURNAL:
            command = f"{self.engine.runtime} volume rm {' '.join(self.journals())}"
        else:
            command = (f"{self.engine.runtime} run --rm -v {self.state.volume}:/s --entrypoint rm "
                       f"{self.state.image or 'IMAGE'} -rf /s/{key}")
        return f"remove it there (`{'; '.join([*self.engine.endpoint.cli_reach(), command])}`)"

    def tidy(self) -> None:
        if not (self.state.used or self.interrupted):
            return  # nothing was there: a killed reader's helper waits for an apply that reads or repairs
        for name, _ in self.engine.names_starting(self.name + HELPER_SUFFIX):
            info = self.engine.get(name)
            if info is not None and info.id != self.state.helper:
                remove_quietly(self.engine, info.id)

    def close(self) -> None:
        self.state.close()


def _journal_number(volume: str) -> int:
    number = volume.rpartition("-")[2]
    return int(number) if number.isdigit() else 0


def store_for(runtime: str, name: str, profile_path: str, engine: Optional[Engine] = None,
              image: Optional[str] = None) -> Store:
    """The deployment's store: volumes on a remote engine (`engine`, or the one the profile
    names; their helper runs `image` where the engine has it), the local files otherwise."""
    if not (engine.endpoint.remote if engine is not None else endpoint_for(runtime).remote):
        return LocalStore(runtime, name, profile_path)
    if engine is None:
        from ..engines import get_engine

        engine = get_engine(runtime)
    return VolumeStore(engine, name, image)


def carry(source: Store, target: Store, once: bool = False) -> int:
    """Copy the revisions of `source` into `target` when it has none (the first apply to a remote
    engine from a client that applied locally; a switch to the host's other engine); how many
    files. The source keeps its copies: nothing is lost when the target cannot be written. With
    `once`, the source remembers the target was seen, so the next apply does not read it for this."""
    import hashlib

    seen = f"{CARRIED}{hashlib.sha256(target.where(HISTORY).encode()).hexdigest()[:16]}"
    # The source first: usually this client's, and empty or seen.
    if not source.names(HISTORY) or (once and source.read(seen) is not None):
        return 0
    count = 0
    if not target.names(HISTORY):
        for key in _walk(source, HISTORY):
            data = source.read(key)
            if data is not None and not key.startswith(CARRIED):
                target.write(key, data)
                count += 1
    if once:
        source.write(seen, target.where(HISTORY).encode())
    return count


def _walk(store: Store, folder: str) -> List[str]:
    """The keys of the files under `folder`, revision.json of each revision last (it makes the revision)."""
    keys = []
    for name in store.names(folder):
        key = f"{folder}/{name}"
        inner = store.names(key)
        keys += _walk(store, key) if inner else [key]
    return sorted(keys, key=lambda k: (k.count("/") == 2 and k.endswith("/revision.json"), k))
