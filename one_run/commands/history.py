"""`one-run history`: the revisions apply recorded, newest first, with their data snapshots."""
import json
import sys

from ..common.errors import EngineUnavailable
from ..deploy.history import read_revisions, snapshot_state
from ..deploy.snapshot import Snapshot
from ..deploy.state import store_for
from ..deploy.volume_copy import human
from ..engines import endpoint_for, get_engine
from ..model.profile import Profile


def history(profile: Profile, fmt: str) -> int:
    remote = endpoint_for(profile.runtime).remote
    engine = get_engine(profile.runtime) if remote else None  # the revisions are there
    with store_for(profile.runtime, profile.container.name, profile.path, engine) as store:
        found, damaged = read_revisions(store)
    for revision in damaged:
        print(f"warning: {revision.line()}", file=sys.stderr)
    unchecked = None
    if engine is None and any(r.get("snapshot") for r in found):
        try:
            engine = get_engine(profile.runtime)
        except EngineUnavailable as exc:
            unchecked = exc.message
    for record in found:
        if record.get("snapshot"):
            record["snapshot"]["state"] = snapshot_state(engine, record)
    if fmt == "json":
        print(json.dumps({"profile": profile.path, "revisions": found,
                          "damaged": [revision._asdict() for revision in damaged]}, indent=2))
        return 0
    if not found:
        print(f"{profile.path}: no revision recorded yet; each successful `one-run apply` records one")
        return 0
    for record in found:
        image = record["image"]
        digest = f", digest {image['digest']}" if image.get("digest") else ""
        print(f"revision {record['revision']}  {record['time']}  {record['runtime']} container "
              f"{record['container']['id'][:12]}  image {image['ref']}{digest}  profile hash "
              f"{(record.get('config_hash') or '?')[:12]}")
        if record.get("snapshot"):
            snapshot = Snapshot.from_json(record["snapshot"])
            state = record["snapshot"]["state"] or "not checked"
            print(f"  data before it: {snapshot.describe()}, {human(snapshot.bytes)} in all ({state})")
        if record.get("files"):
            print(f"  files: {', '.join(f['path'] for f in record['files'])}")
    if unchecked:
        print(f"(whether the snapshots are still there was not checked: {unchecked})", file=sys.stderr)
    return 0
