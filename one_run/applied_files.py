"""The customization files a running container was applied with, kept so that a failed
apply can put them back.

The container mounts the profile's folders (/certs, /ssh, /config), not copies of them:
after an apply that failed on a changed certificate, hook or patch, the previous
container, started again, would read the same changed file and fail as well. So each
apply that leaves a container running keeps a copy of the files it mounted, with that
container's ID; a failed apply puts them back before it starts the previous container
again, and keeps the new version of each beside it as `<file>.rejected-<time>`.
"""
import hashlib
import json
import os
import stat
import time
from typing import Iterable, List, Optional, Tuple

from .files import write_file

MANIFEST = "manifest.json"


def store(profile_path: str) -> str:
    """Where the copies live: beside the profile, like the inline patch one-run writes."""
    folder, name = os.path.split(profile_path)
    return os.path.join(folder, ".one-run", os.path.splitext(name)[0], "applied")


def keep(profile_path: str, inputs: Iterable[str], container_id: str) -> None:
    """Copy each mounted file (host paths), as applied to container_id. Raises OSError."""
    root = store(profile_path)
    os.makedirs(root, mode=0o700, exist_ok=True)
    os.chmod(root, 0o700)  # the copies include private keys
    files = {}
    for path in inputs:
        with open(path, "rb") as f:
            data = f.read()
            info = os.fstat(f.fileno())
        digest = hashlib.sha256(data).hexdigest()
        write_file(os.path.join(root, digest), data, 0o600)
        files[path] = {"sha256": digest, "mode": stat.S_IMODE(info.st_mode), "uid": info.st_uid, "gid": info.st_gid}
    manifest = {"container": container_id, "files": files}
    write_file(os.path.join(root, MANIFEST), json.dumps(manifest, indent=1).encode(), 0o600)
    kept = {entry["sha256"] for entry in files.values()}
    for name in os.listdir(root):
        if name != MANIFEST and name not in kept:
            os.unlink(os.path.join(root, name))


def put_back(profile_path: str, container_id: str) -> List[Tuple[str, Optional[str]]]:
    """Restore the files container_id was applied with, where they differ now: a list of
    (path, where its new version is kept, or None if it had gone). Nothing when the copies
    are not of that container. Raises OSError."""
    root = store(profile_path)
    try:
        with open(os.path.join(root, MANIFEST)) as f:
            manifest = json.load(f)
    except (FileNotFoundError, ValueError):
        return []
    if manifest.get("container") != container_id:
        return []
    stamp = time.strftime("%Y%m%dT%H%M%S")
    restored = []
    for path, entry in manifest["files"].items():
        with open(os.path.join(root, entry["sha256"]), "rb") as f:
            data = f.read()
        try:
            with open(path, "rb") as f:
                if f.read() == data:
                    continue
            aside: Optional[str] = f"{path}.rejected-{stamp}"
            os.replace(path, aside)
        except FileNotFoundError:
            aside = None
        write_file(path, data, entry["mode"], (entry["uid"], entry["gid"]))
        restored.append((path, aside))
    return restored
