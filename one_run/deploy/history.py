"""The revisions apply committed: what each container was made from, for `history` and `rollback`.

Revisions live beside the profile, in `.one-run/<stem>/history/<n>/` (as the applied and
staged files do): they belong to this profile, they survive reboots (the lock and journal
folder may be a tmpfs), and they move with the profile's folder. Each holds revision.json
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
from ..common.files import write_file
from ..engines import ContainerInfo, Engine
from ..model.confighash import HASH_LABEL
from ..model.profile import Profile, Watch, profile_from_text
from ..model.runspec import RunSpec, private_folder
from .journal import wrong_fields
from .snapshot import Snapshot
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

    def line(self) -> str:
        return (f"{self.path}: revision {self.number} is damaged ({self.why}) and left out; restore the file from a "
                f"backup, or remove its folder {os.path.dirname(self.path)} to forget that revision")


def history_dir(profile_path: str) -> str:
    return os.path.join(private_folder(profile_path), "history")


def recorded_files(profile_path: str, record: dict) -> Dict[str, Tuple[bytes, int]]:
    """A revision's customization files: path -> (contents, mode), for build_runspec."""
    folder = os.path.join(history_dir(profile_path), str(record["revision"]), "files")
    out = {}
    for entry in record.get("files") or []:
        with open(os.path.join(folder, entry["sha256"]), "rb") as f:
            out[entry["path"]] = (f.read(), entry["mode"])
    return out


def image_digest(engine: Engine, info: ContainerInfo) -> Optional[str]:
    """The registry digest of the image info runs, where the engine knows one."""
    image = engine.image_attrs(info.image_id) or {}
    digests = image.get("RepoDigests") or []
    return info.attrs.get("ImageDigest") or (digests[0].split("@", 1)[1] if digests else None)


def _mkdir(path: str) -> None:
    os.makedirs(path, mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)


def record_revision(engine: Engine, profile: Profile, spec: RunSpec, info: ContainerInfo,
                    snapshot: Optional[Snapshot], profile_text: Optional[str] = None) -> int:
    """Record the committed container `info` as the next revision; its number. The files are
    the staged copies it mounts; `profile_text` the text it was applied from (default: the
    profile file's). Raises OSError."""
    from ..model.profile import read_profile_text

    root = history_dir(profile.path)
    _mkdir(os.path.dirname(root))
    _mkdir(root)
    # After every folder, damaged or killed ones too: a number is never given twice.
    number = max((int(name) for name in os.listdir(root) if name.isdigit()), default=0) + 1
    folder = os.path.join(root, str(number))
    _mkdir(folder)
    _mkdir(os.path.join(folder, "files"))
    files = []
    for staged in spec.staged:
        digest = hashlib.sha256(staged.data).hexdigest()
        write_file(os.path.join(folder, "files", digest), staged.data, 0o600)
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
    write_file(os.path.join(folder, RECORD), json.dumps(record, indent=1).encode(), 0o600)
    return number


def revisions(profile_path: str) -> List[dict]:
    """The recorded revisions, newest first (damaged ones left out: read_revisions names them)."""
    return read_revisions(profile_path)[0]


def read_revisions(profile_path: str) -> Tuple[List[dict], List[DamagedRevision]]:
    """The recorded revisions, newest first, and the damaged ones. A folder without its
    revision.json is a record that was never finished (killed before its last write): no revision."""
    root = history_dir(profile_path)
    try:
        names = [name for name in os.listdir(root) if name.isdigit()]
    except FileNotFoundError:
        return [], []
    found, damaged = [], []
    for name in names:
        path = os.path.join(root, name, RECORD)
        try:
            with open(path, "rb") as f:
                record = json.loads(f.read())
        except FileNotFoundError:
            continue
        except (OSError, ValueError) as exc:
            damaged.append(DamagedRevision(int(name), path, f"not the JSON one-run writes: {exc}"))
            continue
        why = _damage(record, int(name))
        if why:
            damaged.append(DamagedRevision(int(name), path, why))
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


def judge(profile_path: str, info: ContainerInfo) -> Judge:
    """How the container `info` is judged when it is started again: by the [watch] of the newest
    revision that recorded it, read from that revision's profile text; else, for a deployment
    applied before revisions kept it, by its health check and the default settle time."""
    for record in revisions(profile_path):
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
