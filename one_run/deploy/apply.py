"""Make the running container match the profile, safely (DESIGN.md, "Apply: the safety rules").

`apply` is the one way in, for the `apply` and `maintenance` commands, `rollback` and
switch's target alike: the guards first (the deployment living on the other runtime, a
volume shared with another deployment), then, under the deployment's lock, the repair of
an interrupted apply, the plan (plan.py), and the action it names. A recreate is swap.py's
journaled steps; every failure of one is undone by undo.py. Volumes are never removed, and
the old container's anonymous volumes are carried over to the new one, as docker-compose
v1 does.
"""
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Optional, Tuple

from ..common.errors import ApplyFailedRestored, EngineError, NotWritten, RestoreFailed
from ..common.interrupts import as_keyboard_interrupt, deferred, shielded
from ..engines import ContainerInfo, Engine, get_engine
from ..model.profile import Profile
from ..model.runspec import RunSpec, write_generated_files
from . import adoption, delivery, snapshot
from .commit import record_revision
from .deployment import Deployment
from .guards import check_not_elsewhere, check_not_shared
from .lock import apply_lock
from .plan import Plan, describe_plan, make_plan, pull_progress
from .state import HISTORY, LocalStore, carry
from .survival import apply_warning, reboot_survival
from .swap import recreate
from .undo import leftovers, repair


@dataclass(frozen=True)
class ApplyOptions:
    force: bool = False
    dry_run: bool = False
    keep_previous: bool = False
    allow_empty_volumes: bool = False  # apply although the deployment lives on the other runtime
    allow_shared_volume: bool = False  # apply although another deployment's container mounts a volume


def apply(profile: Profile, spec: RunSpec, options: ApplyOptions = ApplyOptions(), engine: Optional[Engine] = None,
          profile_text: Optional[str] = None, data_to_restore: Optional[snapshot.Snapshot] = None,
          carried: Tuple[Tuple[str, str], ...] = ()) -> int:
    """Apply the profile: the guards, then the Applier. `profile_text` and `data_to_restore`
    are rollback's (the revision's text, its data); `carried` switch's (the copied anonymous
    volumes)."""
    # systemctl answers in a thread while the engine's SDK is imported: ~20 ms of apply's
    # overhead (bench (c)). Its answer serves the plan and the warning alike.
    with ThreadPoolExecutor(1) as pool:
        survival = pool.submit(reboot_survival, profile.runtime, spec.container.restart.name, spec.name,
                               profile.path)
        engine = engine or get_engine(profile.runtime)
    # Each refuses (exit 2) before anything is touched.
    check_not_elsewhere(profile, spec, engine, options.allow_empty_volumes)
    check_not_shared(spec, engine, options.allow_shared_volume)
    d = Deployment(engine, profile, spec, survival.result(), profile_text, data_to_restore, carried)
    warning = apply_warning(engine.runtime, spec.container.restart.name, spec.name, profile.path, d.survival)
    if warning:
        print(warning, file=sys.stderr)
    with as_keyboard_interrupt():
        return Applier(d).run(options)


class Applier:
    """One apply under the deployment's lock: repair, plan, then the plan's action."""

    def __init__(self, d: Deployment):
        self.d = d

    def run(self, options: ApplyOptions) -> int:
        d = self.d
        with apply_lock(d.engine.runtime, d.name, engine=d.engine), d.state:
            return self.locked(options)

    def locked(self, options: ApplyOptions) -> int:
        d = self.d
        if options.dry_run:
            plan = make_plan(d.engine, d.profile, d.spec, options.force)
            for line in leftovers(d) + describe_plan(plan, d.spec, d.engine, d.profile, d.survival):
                d.say(line)
            self.plan_data(plan)
            d.say("dry run: nothing was changed")
            return 0
        repair(d)
        d.state.tidy()
        self.carry_revisions()
        try:
            return self.change(options.force, options.keep_previous)
        except KeyboardInterrupt:  # before the swap began (plan, pull): the swap answers its own
            raise ApplyFailedRestored(f"interrupted before anything changed; {d.name} is as it was") from None

    def carry_revisions(self) -> None:
        """The revisions this client recorded while it applied the profile to a local engine go
        with the deployment to a remote one, on its first apply there (they are kept here too)."""
        d = self.d
        if d.engine.endpoint.remote:
            count = carry(LocalStore(d.engine.runtime, d.name, d.profile.path), d.state, once=True)
            if count:
                d.say(f"carried this client's revisions of {d.name} ({count} files) to {d.state.where(HISTORY)}")

    def change(self, force: bool, keep_previous: bool) -> int:
        d = self.d
        try:
            write_generated_files(d.spec)
        except OSError as exc:
            raise NotWritten.of(exc, "the staged copies of the profile's files") from None
        plan = make_plan(d.engine, d.profile, d.spec, force)
        for line in describe_plan(plan, d.spec, d.engine, d.profile, d.survival):
            d.say(line)
        if plan.pull:
            try:
                d.engine.pull(d.spec.image, pull_progress)
            except EngineError as exc:
                still = f"; {d.name} runs as it did" if plan.current and plan.current.running else ""
                raise EngineError(f"{exc}\nnothing was changed{still}") from None
            plan = make_plan(d.engine, d.profile, d.spec, force)
            if plan.action == "noop":
                d.say("  the pulled image is the one already running")
        if plan.action == "noop":
            d.say(f"up to date: {d.name} ({plan.current.id[:12]}) already matches the profile; nothing recreated")
            return 0
        if plan.action == "start":
            return self.start_existing(plan.current)
        if plan.action == "update":
            return self.update_in_place(plan)
        if plan.action == "adopt":
            return self.adopt(plan)
        planned = self.plan_data(plan)
        delivery.deliver(d.engine, d.spec, d.say, plan.current if plan.current and plan.current.running else None)
        if d.carried:  # switch's copies win over what the plan would carry from an old container
            by_path = {path: name for name, path in plan.carried}
            by_path.update({path: name for name, path in d.carried})
            plan.carried = tuple(sorted(((name, path) for path, name in by_path.items()), key=lambda p: p[1]))
        return recreate(d, plan, keep_previous, planned)

    def plan_data(self, plan: Plan) -> Optional[snapshot.Planned]:
        """The snapshot a recreate takes ([snapshot], or always before a rollback restores data),
        measured and room-checked before anything stops (exit 3 without room); its plan lines said."""
        d = self.d
        if plan.action != "recreate":
            return None
        image = d.engine.image_attrs(d.spec.image)
        planned = snapshot.plan(d.engine, d.profile.snapshot, d.spec, plan.current, plan.carried,
                                image["Id"] if image else None)
        if planned:
            for line in planned.lines():
                d.say(line)
        if d.data_to_restore:
            d.say(f"  then restore the data of snapshot {d.data_to_restore.id} "
                  f"({d.data_to_restore.time}) into its volumes, before the new container starts")
        return planned

    def start_existing(self, current: ContainerInfo) -> int:
        """Start the stopped container that already matches; if it does not come up, stop it
        again (exit 1), or say what is left (exit 4)."""
        d = self.d
        offset = d.watcher.log_offset(current.id)
        with deferred():
            if current.status == "restarting":
                # Crash-looping on an earlier version of the files: a start would be a no-op
                # while the engine's back-off waits, so stop it and start it afresh.
                d.engine.stop(current.id)
            d.engine.start(current.id)  # refused: nothing changed, exit 3
        try:
            failure = d.watcher(current.id, "it", offset)
        except EngineError as exc:
            failure = str(exc)
        except KeyboardInterrupt:
            failure = "interrupted"
        if not failure:
            d.say(f"started {d.name} ({current.id[:12]})")
            return 0
        with shielded():
            logs = d.log_tail(current.id)
            try:
                d.engine.stop(current.id)
            except EngineError as exc:
                raise RestoreFailed(f"{d.name} was started but {failure}, and stopping it again failed too: {exc}\n"
                                    f"what is left: {current.id[:12]} named {d.name}, maybe running\n"
                                    "to recover by hand:\n" + "".join(f"  {line}\n" for line in (
                                        *d.engine.endpoint.cli_reach(), f"{d.engine.runtime} stop {d.name}")) +
                                    f"no volume was removed\n{logs}") from None
        was = "it was restarting (crash-looping) before; it is stopped now" if current.status == "restarting" \
            else "it is stopped again, as it was"
        raise ApplyFailedRestored(f"{d.name} was started but {failure}; {was}\n{logs}")

    def update_in_place(self, plan: Plan) -> int:
        """Set the fields changed since the apply back to the profile's, on the same container
        (started if it is not running: a kept container brought back gets its policy back too)."""
        d = self.d
        current = plan.current
        d.engine.update(current.id, **plan.updates)  # refused: nothing changed, exit 3
        d.say(f"updated {', '.join(plan.updates)} of {d.name} ({current.id[:12]}) in place; nothing recreated")
        if not current.running:
            return self.start_existing(current)
        return 0

    def adopt(self, plan: Plan) -> int:
        """Record the labels a recreate would have stamped, for this very container (adoption.py)."""
        d = self.d
        where = adoption.record(d.state, plan.current, plan.stamped_labels())
        d.say(f"adopted: {d.name} ({plan.current.id[:12]}) runs as the profile says; recorded in {where}; "
              "nothing recreated")
        record_revision(self.d, plan.current.id, None)
        return 0
