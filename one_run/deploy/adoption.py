"""A running container adopted as it is, without the recreate that would stamp one-run's labels.

After `capture`, the container already matches its profile; recreating it only to add the
hash label would cost the front-end a restart. apply records instead, in the state folder,
the labels it would have stamped (hash, salt, inputs), tied to the container's ID: a
container that is recreated has a new ID, so a record never outlives the container it
was made for. diff, status and the next apply read a container's labels through
`labels_of`, so an adopted container counts as applied from that profile.
"""
import json
from typing import Dict

from ..common.files import write_file
from ..engines import ContainerInfo
from .lock import state_dir


def _path(runtime: str, name: str):
    return state_dir() / f"{runtime}-{name}.adopted.json"


def record(runtime: str, current: ContainerInfo, labels: Dict[str, str]) -> str:
    """Keep `labels` (one-run's own, as apply would stamp them) for this container; where, as text."""
    path = _path(runtime, current.name)
    write_file(path, json.dumps({"id": current.id, "labels": labels}).encode(), 0o600)
    return str(path)


def labels_of(runtime: str, current: ContainerInfo) -> Dict[str, str]:
    """The container's labels, with the ones recorded when it was adopted (if it is that container)."""
    try:
        saved = json.loads(_path(runtime, current.name).read_text())
    except (OSError, ValueError):
        return current.labels
    if not isinstance(saved, dict) or saved.get("id") != current.id:
        return current.labels
    return {**saved.get("labels", {}), **current.labels}
