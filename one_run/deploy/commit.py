"""The last step of a recreate, once the new container passed its watch (also when a killed
apply that got that far is repaired): retire the previous container, clear the journal,
record the revision, and tidy what no container uses any more."""
import sys
from typing import Optional

from ..common.errors import EngineError, EngineUnavailable
from ..engines import OTHER, ContainerInfo, Engine, endpoint_named, get_engine
from ..model.runspec import prune_staged, staged_in_use, unused_staged
from . import delivery, history, snapshot
from .deployment import Deployment
from .naming import kept_name


def commit(d: Deployment, record: dict) -> None:
    """The new container passed its watch: retire the previous one, clear the journal."""
    old = d.engine.get(record["old"]) if record.get("old") else None
    if old:
        if record.get("keep_previous"):
            kept = kept_name(d.name, old.id)
            d.engine.rename(old.id, kept)
            d.say(f"kept the previous container as {kept} (stopped){hold_stopped(d.engine, old)}")
        else:
            d.engine.remove(old.id)
    d.journal.clear()
    record_revision(d, record["new"], record.get("snapshot"))
    prune_unused_staged(d)
    removed = delivery.prune_delivered(d.engine, d.spec)
    if removed:
        d.say(f"removed {len(removed)} customization volume(s) no container uses any more")
    if record.get("snapshot"):  # only a new snapshot can take the count beyond `keep`
        try:
            snapshot.prune(d.engine, d.name, d.profile.snapshot.keep, d.say)
        except EngineError as exc:
            print(f"warning: could not prune the old snapshots: {exc}", file=sys.stderr)


def hold_stopped(engine: Engine, info: ContainerInfo) -> str:
    """Keep a replaced container that is kept (stopped) from being started by its restart
    policy: Docker starts `always` containers whenever the daemon starts, which would run it
    beside its replacement. What was done, as a clause for the user."""
    policy = ((info.attrs.get("HostConfig") or {}).get("RestartPolicy") or {}).get("Name") or "no"
    if policy == "no":
        return ""
    try:
        if engine.disable_restart(info.id):
            return f"; its restart policy ({policy}) is now \"no\", so it is not started beside the new one"
        why = f"{engine.runtime} cannot change it"
    except EngineError as exc:
        why = str(exc)
    return (f"; its restart policy is still {policy} ({why}): should {engine.runtime} start it again, at boot, "
            "it would run beside the new one — remove it once the new one is checked")


def record_revision(d: Deployment, cid: str, taken: Optional[dict]) -> None:
    """The history's record of what now runs, with the snapshot taken before it."""
    try:
        info = d.engine.get(cid)
        number = history.record_revision(d.state, d.engine, d.profile, d.spec, info,
                                         snapshot.Snapshot.from_json(taken) if taken else None, d.profile_text)
    except (OSError, EngineError) as exc:
        print(f"warning: the revision could not be recorded in the history: {exc}", file=sys.stderr)
        return
    d.say(f"recorded as revision {number} (`one-run history {d.profile.path}`)")


def prune_unused_staged(d: Deployment) -> None:
    """Remove the staged customization folders no container of the deployment mounts any
    more, on either runtime (a switch keeps its source on the other one). The other runtime
    is asked only when this one leaves something to remove, and nothing is removed when it
    cannot be asked."""
    # The new container mounts the spec's own folder: with no other, there is nothing to ask.
    keep = {d.spec.staged_folder} if d.spec.staged_folder else set()
    if not unused_staged(d.profile.path, keep):
        return
    try:
        keep |= staged_in_use(d.engine, d.name)
        if not unused_staged(d.profile.path, keep):
            return
        other = OTHER[d.engine.runtime]
        if endpoint_named(other):
            keep |= staged_in_use(get_engine(other), d.name)
        removed = prune_staged(d.profile.path, keep)
    except (EngineUnavailable, EngineError):
        return  # which folders it uses is not known: keep them all
    if removed:
        d.say(f"removed {len(removed)} staged folder(s) no container uses any more")
