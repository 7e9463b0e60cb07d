"""A recreate, as journaled steps that read in order: create → pre-copy → stop → snapshot → swap → start
→ watch → commit, or undo.

Each step is written to the journal before it acts, and each engine call that changes
something runs whole (interrupts wait for it: interrupts.deferred). Every failure goes to
undo.roll_back; the previous container is removed only once the new one passed its watch.
"""
from typing import Optional

from ..common.errors import EngineError, NotWritten
from ..common.interrupts import deferred, shielded
from ..engines import CreateRequest
from ..model.render import run_argv
from . import history, snapshot
from .commit import commit
from .deployment import Deployment
from .naming import NEW_SUFFIX, OLD_SUFFIX
from .plan import Plan
from .undo import roll_back


def recreate(d: Deployment, plan: Plan, keep_previous: bool, planned: Optional[snapshot.Planned]) -> int:
    old = plan.current
    d.record = {"step": "create", "new": None, "old": old.id if old else None,
                "old_running": bool(old and old.running), "keep_previous": keep_previous,
                "carried": [name for name, _ in plan.carried], "passed": False,
                # what judges the old container should the undo start it again: its own
                # revision's [watch], not this profile's (also after a SIGKILL)
                "old_judge": history.judge(d.state, d.profile.path, old).as_json() if old else None}
    new_id = create(d, plan)
    try:
        d.say(f"created {d.name}{NEW_SUFFIX} ({new_id[:12]})")
        d.pause_for_tests("created")
        prepared = prepare_snapshot(d, planned)
        stop_old(d, plan)
        take_snapshot(d, prepared)
        restore_rollback_data(d)
        swap_names(d, plan, new_id)
        start_new(d, new_id)
        failure = d.watcher(new_id)
    except EngineError as exc:
        failure = str(exc)
    except OSError as exc:  # a state write: the journal's disk full, or its folder gone
        failure = NotWritten.words(exc)
    except KeyboardInterrupt:
        failure = "interrupted"
    if failure:
        roll_back(d, failure)
    with shielded():  # it passed: an interrupt from here on changes nothing
        try:
            d.step(step="commit", passed=True)
        except OSError as exc:
            # Unrecorded, the commit still goes on; killed before it ends, the repair would take
            # the new container for one that never passed and put the previous one back.
            d.say(f"warning: {NotWritten.words(exc)}; committing all the same")
        d.pause_for_tests("passed")
        commit(d, d.record)
        d.say(f"applied: {d.name} ({new_id[:12]}) is running")
    return 0


def create(d: Deployment, plan: Plan) -> str:
    """The new container, under its temporary name, while the old one still runs."""
    request = CreateRequest(d.spec, d.name + NEW_SUFFIX, plan.env, plan.stamped_labels(), plan.carried,
                            tuple(run_argv(d.spec)))  # secrets by name only
    try:
        with deferred():
            try:
                d.step()
            except OSError as exc:
                raise NotWritten.of(exc) from None  # nothing was created yet (exit 3)
            new_id = d.engine.create(request)
            d.step(step="created", new=new_id)
    except EngineError:
        d.journal.clear()
        raise  # refused: nothing was created, nothing changed (exit 3)
    except OSError as exc:  # created, but not recorded: remove it
        roll_back(d, NotWritten.words(exc))
    except KeyboardInterrupt:  # it waited for the create: remove what it created
        roll_back(d, "interrupted")
    return new_id


def prepare_snapshot(d: Deployment, planned: Optional[snapshot.Planned]) -> Optional[snapshot.Prepared]:
    """The snapshot's volumes, pre-copied while the old container still runs (an interrupt
    during the pre-copy is taken at once: nothing was stopped yet)."""
    if not planned:
        return None
    with deferred():
        d.step(step="prepare")
        prepared = snapshot.prepare(d.engine, d.name, planned.volumes, planned.image, planned.sizes)
        d.step(prepared=prepared.as_json())
    d.pause_for_tests("precopy")
    prepared = snapshot.precopy(d.engine, prepared, d.say)
    d.step(prepared=prepared.as_json())
    d.pause_for_tests("prepared")
    return prepared


def stop_old(d: Deployment, plan: Plan) -> None:
    old = plan.current
    if not (old and old.running):
        return
    timeout = (old.attrs.get("Config") or {}).get("StopTimeout")
    d.say(f"stopping {old.id[:12]}" + (f" (up to its stop timeout, {timeout} s)" if timeout else "") + " ...")
    with deferred():
        d.step(step="stop")
        d.engine.stop(old.id)
    d.pause_for_tests("stopped")


def take_snapshot(d: Deployment, prepared: Optional[snapshot.Prepared]) -> None:
    """The data brought up to date while nothing writes to it (the old container stopped, the new one
    not started), and verified."""
    if not prepared:
        return
    d.step(step="snapshot")
    taken = snapshot.complete(d.engine, prepared, d.say)
    d.step(snapshot=taken.as_json(), prepared=None)
    d.pause_for_tests("snapshot")


def restore_rollback_data(d: Deployment) -> None:
    """`rollback --with-data`: the revision's data, into the volumes before its container starts."""
    if d.data_to_restore:
        d.step(step="restore-data")
        snapshot.restore(d.engine, d.data_to_restore, d.say)


def swap_names(d: Deployment, plan: Plan, new_id: str) -> None:
    with deferred():
        d.step(step="swap")
        if plan.current:
            d.engine.rename(plan.current.id, d.name + OLD_SUFFIX)
        d.engine.rename(new_id, d.name)
    d.pause_for_tests("swapped")


def start_new(d: Deployment, new_id: str) -> None:
    with deferred():
        d.step(step="start")
        d.engine.start(new_id)
    d.say(f"started {d.name} ({new_id[:12]})")
    d.pause_for_tests("started")
