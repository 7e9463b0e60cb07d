"""A running container adopted as it is, without the recreate that would stamp one-run's labels.

After `capture`, the container already matches its profile; recreating it only to add the
hash label would cost the front-end a restart. apply records instead, in the deployment's
state (state.py), the labels it would have stamped (hash, salt, inputs), tied to the
container's ID: a container that is recreated has a new ID, so a record never outlives the
container it was made for. diff, status and the next apply read a container's labels through
`labels_of`, so an adopted container counts as applied from that profile.
"""
import json
from typing import Dict

from ..engines import ContainerInfo, Engine
from ..model.confighash import HASH_LABEL
from .state import ADOPTED, Store, store_for


def record(store: Store, current: ContainerInfo, labels: Dict[str, str]) -> str:
    """Keep `labels` (one-run's own, as apply would stamp them) for this container; where, as text."""
    store.write(ADOPTED, json.dumps({"id": current.id, "labels": labels}).encode())
    return store.where(ADOPTED)


def labels_of(engine: Engine, current: ContainerInfo) -> Dict[str, str]:
    """The container's labels, with the ones recorded when it was adopted (if it is that container)."""
    if HASH_LABEL in current.labels:  # made by apply: nothing recorded for it counts
        return current.labels
    with store_for(engine.runtime, current.name, "", engine) as store:
        text = store.read(ADOPTED)
    try:
        saved = json.loads(text or b"null")
    except ValueError:
        return current.labels
    if not isinstance(saved, dict) or saved.get("id") != current.id:
        return current.labels
    return {**saved.get("labels", {}), **current.labels}
