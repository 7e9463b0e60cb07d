"""The revisions apply committed: what each container was made from, for `history` and `rollback`.

Revisions live in the deployment's store (state.py), under `history/<n>/`: for a local engine
beside the profile, in `.one-run/<stem>/history/<n>/` (as the staged files are), so they
belong to this profile, survive reboots and move with its folder; for a remote engine in
the deployment's state volume there, seen by every client. Each holds revision.json
(profile text, configuration hash, image reference, ID and digest, container ID, the
mounted files' host paths and sha256, the snapshot taken before it, the time) and a copy
of each mounted file, named by its sha256. Folders 0700, files 0600: the copies include
private keys.
"""
import hashlib
import json
import os
from datetime import datetime, timezone
from typing import Dict, List, NamedTuple, Optional, Tuple

from ..common.errors import OneRunError, ProfileError
from ..engines import ContainerInfo, Engine
from ..model.confighash import HASH_LABEL
from ..model.profile import Profile, Watch, profile_from_text
from ..model.runspec import RunSpec
from .journal import wrong_fields
from .snapshot import Snapshot
from .state import HISTORY, Store
from .watch import Judge, runs_in_maintenance

RECORD = "revision.json"
VERSION = 1  # of the record's form
SHAPE = {"revision": int, "time": str, "runtime": str, "profile_text": str, "image": dict, "container": dict,
         "files": list}


class DamagedRevision(NamedTuple):
    """A revision.json that cannot be read whole: cut short, garbled, or from a newer one-run."""

    number: int
    path: str
    why: str
    forget: str  # how the user forgets it: the removal of its folder

    def line(self) -> str:
        return (f"{self.path}: revision {self.number} is damaged ({self.why}) and left out; restore the file from a "
                f"backup, or {self.forget} to forget that revision")


def _folder(number) -> str:
    return f"{HISTORY}/{number}"


def recorded_files(store: Store, record: dict, profile_path: str) -> Dict[str, Tuple[bytes, int]]:
    """A revision's customization files: path -> (contents, mode), for build_runspec of the
    profile at `profile_path`. A file beside the profile it was applied from is found beside this
    one: the same profile in another checkout (a CI runner's) or a moved folder. OSError when one
    is missing."""
    out = {}
    was = os.path.dirname(record.get("profile") or profile_path)
    for entry in record.get("files") or []:
        key = f"{_folder(record['revision'])}/files/{entry['sha256']}"
        data = store.read(key)
        if data is None:
            raise FileNotFoundError(2, "a recorded file is missing", store.where(key))
        path = entry["path"]
        if os.path.commonpath([was, path]) == was:
            path = os.path.join(os.path.dirname(profile_path), os.path.relpath(path, was))
        out[path] = (data, entry["mode"])
    return out


def image_digest(engine: Engine, info: ContainerInfo) -> Optional[str]:
    """The registry digest of the image info runs, where the engine knows one."""
    image = engine.image_attrs(info.image_id) or {}
    digests = image.get("RepoDigests") or []
    return info.attrs.get("ImageDigest") or (digests[0].split("@", 1)[1] if digests else None)


def record_revision(store: Store, engine: Engine, profile: Profile, spec: RunSpec, info: ContainerInfo,
                    snapshot: Optional[Snapshot], profile_text: Optional[str] = None) -> int:
    """Record the committed container `info` as the next revision; its number. The files are
    the staged copies it mounts; `profile_text` the text it was applied from (default: the
    profile file's). Raises OSError or EngineError."""
    from ..model.profile import read_profile_text

    # After every folder, damaged or killed ones too: a number is never given twice.
    number = max((int(name) for name in store.names(HISTORY) if name.isdigit()), default=0) + 1
    files = []
    for staged in spec.staged:
        digest = hashlib.sha256(staged.data).hexdigest()
        store.write(f"{_folder(number)}/files/{digest}", staged.data, 0o600)
        files.append({"path": staged.source, "sha256": digest, "mode": staged.mode})
    record = {
        "revision": number,
        "time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "runtime": engine.runtime,
        "profile": profile.path,
        "profile_text": profile_text if profile_text is not None else read_profile_text(profile.path),
        "config_hash": info.labels.get(HASH_LABEL),
        "image": {"ref": spec.image, "id": info.image_id, "digest": image_digest(engine, info)},
        "container": {"id": info.id, "name": info.name},
        "files": files,
        "snapshot": snapshot.as_json() if snapshot else None,
        "version": VERSION,
    }
    # Written last: a folder without it (a killed record) is no revision.
    store.write(f"{_folder(number)}/{RECORD}", json.dumps(record, indent=1).encode(), 0o600)
    return number


def revisions(store: Store) -> List[dict]:
    """The recorded revisions, newest first (damaged ones left out: read_revisions names them)."""
    return read_revisions(store)[0]


def read_revisions(store: Store) -> Tuple[List[dict], List[DamagedRevision]]:
    """The recorded revisions, newest first, and the damaged ones. A folder without its
    revision.json is a record that was never finished (killed before its last write): no revision."""
    found, damaged = [], []
    for name in store.names(HISTORY):
        if not name.isdigit():
            continue
        key = f"{_folder(name)}/{RECORD}"
        where, forget = store.where(key), store.removal(_folder(name))
        try:
            data = store.read(key)
        except OSError as exc:
            damaged.append(DamagedRevision(int(name), where, f"it cannot be read: {exc}", forget))
            continue
        if data is None:
            continue
        try:
            record = json.loads(data)
        except ValueError as exc:
            damaged.append(DamagedRevision(int(name), where, f"not the JSON one-run writes: {exc}", forget))
            continue
        why = _damage(record, int(name))
        if why:
            damaged.append(DamagedRevision(int(name), where, why, forget))
        else:
            found.append(record)
    return (sorted(found, key=lambda r: r["revision"], reverse=True),
            sorted(damaged, key=lambda d: d.number, reverse=True))


def _damage(record, number: int) -> Optional[str]:
    if not isinstance(record, dict):
        return "it holds no record"
    if isinstance(record.get("version"), int) and record["version"] > VERSION:
        return f"a newer one-run wrote it (version {record['version']}; this one-run reads {VERSION})"
    wrong = wrong_fields(record, SHAPE)
    if wrong:
        return f"{', '.join(wrong)} cannot be read"
    if record["revision"] != number:
        return f"it says revision {record['revision']}, in the folder of revision {number}"
    return None


def judge(store: Store, profile_path: str, info: ContainerInfo) -> Judge:
    """How the container `info` is judged when it is started again: by the [watch] of the newest
    revision that recorded it, read from that revision's profile text; else, for a deployment
    applied before revisions kept it, by its health check and the default settle time."""
    for record in revisions(store):
        if (record.get("container") or {}).get("id") == info.id and record.get("profile_text"):
            try:
                watch = profile_from_text(profile_path, record["profile_text"], record.get("runtime")).watch
            except ProfileError:
                break  # a text this one-run no longer reads: judged as if none were recorded
            return Judge(watch, runs_in_maintenance(info), record["revision"])
    return Judge(Watch(), runs_in_maintenance(info), None)


def snapshot_state(engine: Optional[Engine], record: dict) -> Optional[str]:
    """Whether a revision's snapshot is still there: present | pruned | None (not checked)."""
    if engine is None or not record.get("snapshot"):
        return None
    snapshot = Snapshot.from_json(record["snapshot"])
    try:
        there = engine.volume(snapshot.marker) is not None and all(
            engine.volume(v.copy) is not None for v in snapshot.volumes)
    except OneRunError:
        return None
    return "present" if there else "pruned"
