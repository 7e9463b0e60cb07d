"""Make the running container match the profile, safely (DESIGN.md, "Apply: the safety rules").

Decide first (a Plan, printed by --dry-run), then act: pull before anything stops;
create the new container under a temporary name while the old one still runs; stop
the old, swap the names, start the new and watch it; put the old one back if the new
one does not stay up. Volumes are never removed, and the old container's anonymous
volumes are carried over to the new one, as docker-compose v1 does.
"""
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Dict, List, Optional, Tuple

from . import adoption, history, snapshot, watch
from ..common import interrupts
from .survival import Survival, reboot_survival
from ..model.confighash import HASH_LABEL, INPUTS_LABEL, SALT_LABEL, config_hash, input_label, new_salt
from ..engines import ContainerInfo, CreateRequest, Engine
from ..common.errors import ApplyFailedRestored, EngineError, EngineUnavailable, RestoreFailed, UsageError
from ..common.interrupts import deferred, shielded
from .lock import Journal, apply_lock
from ..model.profile import Profile, SecretRef
from ..model.render import run_argv, secret_value
from ..model.runspec import RunSpec, prune_staged, staged_in_use, unused_staged, write_generated_files
from .watch import Judge, Watcher, expects_health_check

NEW_SUFFIX = "-one-run-new"
OLD_SUFFIX = "-one-run-old"
PROFILE_LABEL = "one-run.profile"
APPLIED_LABEL = "one-run.applied"
LOCK_TIMEOUT = 120.0
LOG_LINES = 20
TEST_PAUSE = "ONE_RUN_TEST_PAUSE"  # tests only: pause after a step, to signal apply exactly there
TEST_PAUSE_SECONDS = 60


@dataclass
class Plan:
    action: str  # create | recreate | update | adopt | start | noop
    reasons: List[str]
    current: Optional[ContainerInfo]
    env: Dict[str, str] = field(repr=False)
    labels: Dict[str, str]
    carried: Tuple[Tuple[str, str], ...] = ()
    pull: bool = False
    health_check: bool = False  # the profile or the image declares one
    updates: Dict[str, object] = field(default_factory=dict)  # action "update": Engine.update's fields


def resolve_env(spec: RunSpec, strict: bool = True) -> Tuple[Dict[str, Optional[str]], Dict[str, str]]:
    """The container's environment with secrets read, and the secrets alone (for the hash).
    A secret that cannot be read is a UsageError, or left out when not `strict`. A pass_env
    name not set here is None: each engine does with it what its CLI does with `-e NAME`."""
    env: Dict[str, Optional[str]] = {}
    secrets: Dict[str, str] = {}
    for name, value in spec.env:
        if isinstance(value, SecretRef) and value.source == "pass":
            env[name] = secret_value(value)
            if env[name] is not None:
                secrets[name] = env[name]
        elif isinstance(value, SecretRef):
            try:
                env[name] = secrets[name] = secret_value(value)
            except KeyError:
                if strict:
                    raise UsageError(f"secret variable ${value.ref} (for {name}) is not set; export it first") from None
            except OSError as exc:
                if strict:
                    raise UsageError(f"cannot read secret file {value.path} (for {name}): {exc.strerror}") from None
        else:
            env[name] = value
    return env, secrets


def carried_volumes(current: ContainerInfo, spec: RunSpec, image: Optional[dict]) -> Tuple[Tuple[str, str], ...]:
    """The old container's volumes at paths that would otherwise get a new, empty anonymous volume."""
    image_volumes = set(((image or {}).get("Config") or {}).get("Volumes") or {})
    anonymous = image_volumes | {v.target for v in spec.volumes if v.kind == "anonymous"}
    covered = {v.target for v in spec.volumes if v.kind != "anonymous"} | {m.target for m in spec.container.mounts}
    out = []
    for mount in current.attrs.get("Mounts") or []:
        target = mount.get("Destination")
        if mount.get("Type") == "volume" and target in anonymous and target not in covered:
            out.append((mount["Name"], target))
    return tuple(sorted(out, key=lambda pair: pair[1]))


def pull_needed(engine: Engine, spec: RunSpec, image: Optional[dict]) -> bool:
    """Whether the image must be pulled before anything stops, by the profile's pull policy;
    `image` is the engine's inspect of spec.image (None: not present). UsageError when it is
    missing and pull = "never"."""
    policy = spec.container.pull
    if image is None and policy == "never":
        raise UsageError(f"image {spec.image} is not present on {engine.runtime} and pull = \"never\"; "
                         f"pull it there first, or set pull = \"missing\" under [container]")
    return policy == "always" or (image is None and policy == "missing")


def pull_progress(text: str) -> None:
    """An engine's pull progress line, on stderr."""
    if text:
        print(text, file=sys.stderr, flush=True)


def make_plan(engine: Engine, profile: Profile, spec: RunSpec, force: bool,
              explain: Callable[[ContainerInfo], List[str]]) -> Plan:
    current = engine.get(spec.name)
    env, secrets = resolve_env(spec)
    applied = adoption.labels_of(engine.runtime, current) if current else {}
    salt = applied.get(SALT_LABEL) or new_salt()
    image = engine.image_attrs(spec.image)
    pull = pull_needed(engine, spec, image)
    labels = {HASH_LABEL: config_hash(spec, secrets, salt), SALT_LABEL: salt, PROFILE_LABEL: str(profile.path)}
    if spec.inputs:  # which customization file changed, for diff (salted digests, as the hash)
        labels[INPUTS_LABEL] = input_label(spec, salt)
    health = expects_health_check(spec.container.healthcheck, image)
    if current is None:
        return Plan("create", [f"no container named {spec.name}"], None, env, labels, pull=pull, health_check=health)
    reasons = []
    if not applied.get(HASH_LABEL) and current.running and not force and not pull and not spec.inputs and \
            image is not None and current.image_id.split(":")[-1] == image["Id"].split(":")[-1]:
        # Made outside one-run (e.g. then captured): kept as it is when nothing differs. Not when the
        # profile stages files ([tls], [ssh], [config]): that container mounts the user's folders.
        from .compare import config_differences

        if not config_differences(engine, spec, current):
            return Plan("adopt", [f"{spec.name} was not created by one-run, and it matches the profile"],
                        current, env, labels)
    if applied.get(HASH_LABEL) != labels[HASH_LABEL]:
        reasons += explain(current) or ["the profile or a file it mounts changed since the last apply"]
    if image is not None and current.image_id.split(":")[-1] != image["Id"].split(":")[-1]:
        reasons.append(f"image {spec.image} now resolves to {image['Id'][:19]}, the container runs {current.image_id[:19]}")
    if force:
        reasons.append("--force")
    if not reasons and not pull:
        # Same profile, same image, but changed since (e.g. `docker update`): apply and diff never disagree.
        from .compare import config_differences, in_place_updates

        drift = config_differences(engine, spec, current)
        updates = in_place_updates(engine, spec, drift)
        if updates:
            return Plan("update", [d.line() for d in drift], current, env, labels, updates=updates)
        reasons += [d.line() for d in drift]
    carried = carried_volumes(current, spec, image)
    if reasons or pull:
        return Plan("recreate", reasons or ["pull = \"always\": recreate if the pulled image is new"],
                    current, env, labels, carried, pull, health)
    if not current.running:
        return Plan("start", [f"container is {current.status}"], current, env, labels, health_check=health)
    return Plan("noop", [], current, env, labels, health_check=health)


def describe_plan(plan: Plan, spec: RunSpec, engine: Engine, profile: Profile, survival: Survival) -> List[str]:
    lines = [f"{engine.runtime} container {spec.name}: {plan.action}"]
    lines += [f"  because: {reason}" for reason in plan.reasons]
    if plan.action == "adopt":
        lines.append(f"  adopt {plan.current.id[:12]} as it runs: record it as applied from this profile "
                     "(in one-run's state folder); nothing is recreated")
    if plan.action == "update":
        lines.append(f"  update {', '.join(plan.updates)} of {plan.current.id[:12]} in place; nothing is recreated"
                     + ("" if plan.current.running else ", then start it"))
    if plan.pull:
        lines.append(f"  pull {spec.image} first, while the current container keeps running")
    if plan.action in ("create", "recreate"):
        lines.append(f"  create {spec.name}{NEW_SUFFIX} from {spec.image}")
        for name, target in plan.carried:
            lines.append(f"    with the anonymous volume {target} (volume {name[:12]}) carried over, so its data is kept")
        if plan.current:
            timeout = plan.current.attrs.get("Config", {}).get("StopTimeout")
            lines.append(f"  stop {plan.current.id[:12]} (its stop timeout{f': {timeout} s' if timeout else ''}), "
                         f"rename it {spec.name}{OLD_SUFFIX}")
        lines.append(f"  rename the new container {spec.name}, start it")
        lines += [f"  {line}" for line in watch.describe(profile.watch, profile.maintenance, plan.health_check)]
        if plan.current:
            lines.append("  then remove the previous container (if the new one is not up: remove the new one, "
                         "put the previous one back and start it); no volume is ever removed")
    elif plan.action == "start":
        lines += [f"  start it; {line}" for line in watch.describe(profile.watch, profile.maintenance,
                                                                     plan.health_check)]
    lines.append(f"  after a host reboot: {survival.summary()}")
    if survival.fix:
        lines.append(f"    to fix: {survival.fix}")
    return lines


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


class Applier:
    """One apply, as journaled steps: create → stop → swap → start → watch → commit.

    Each step is written to the journal before it acts, and each engine call that changes
    something runs whole (interrupts wait for it: interrupts.deferred). Every failure — a
    watch that fails, an engine error, Ctrl-C/SIGTERM/SIGHUP, or the next apply finding the
    journal of a SIGKILLed one — goes through the one `undo`, which looks at the engine's
    real state. The previous container is removed only once the new one passed its watch.
    """

    def __init__(self, engine: Engine, profile: Profile, spec: RunSpec, survival: Optional[Survival] = None):
        self.engine, self.profile, self.spec = engine, profile, spec
        self.name = spec.name
        self.journal = Journal(engine.runtime, spec.name)
        self.record: dict = {}
        self.data_note = ""  # what undo did to the data, for the message
        self.watcher = Watcher(engine, profile.watch, profile.maintenance, self.say)
        # For the plan and apply's warning alike: it asks systemctl, once.
        self.survival = survival or reboot_survival(engine.runtime, spec.container.restart.name, spec.name,
                                                    profile.path)
        # Set by `rollback`: the text the revision was applied from, and the data snapshot to
        # restore into the volumes before the new container starts (--with-data).
        self.profile_text: Optional[str] = None
        self.data_to_restore: Optional[snapshot.Snapshot] = None

    def say(self, text: str) -> None:
        print(text, flush=True)

    def run(self, force=False, dry_run=False, keep_previous=False,
            explain: Callable[[ContainerInfo], List[str]] = lambda current: []) -> int:
        with apply_lock(self.engine.runtime, self.name, LOCK_TIMEOUT):
            if dry_run:
                plan = make_plan(self.engine, self.profile, self.spec, force, explain)
                for line in self.leftovers() + describe_plan(plan, self.spec, self.engine, self.profile, self.survival):
                    self.say(line)
                self.plan_data(plan)
                self.say("dry run: nothing was changed")
                return 0
            self.repair()
            try:
                return self.change(force, keep_previous, explain)
            except KeyboardInterrupt:  # before the swap began (plan, pull): the swap answers its own
                raise ApplyFailedRestored(f"interrupted before anything changed; {self.name} is as it was") from None

    def change(self, force: bool, keep_previous: bool, explain: Callable[[ContainerInfo], List[str]]) -> int:
        write_generated_files(self.spec)
        plan = make_plan(self.engine, self.profile, self.spec, force, explain)
        for line in describe_plan(plan, self.spec, self.engine, self.profile, self.survival):
            self.say(line)
        if plan.pull:
            try:
                self.engine.pull(self.spec.image, pull_progress)
            except EngineError as exc:
                raise EngineError(f"{exc}\nnothing was changed" + (f"; {self.name} runs as it did" if
                                                                   plan.current and plan.current.running else "")) from None
            plan = make_plan(self.engine, self.profile, self.spec, force, explain)
            if plan.action == "noop":
                self.say("  the pulled image is the one already running")
        if plan.action == "noop":
            self.say(f"up to date: {self.name} ({plan.current.id[:12]}) already matches the profile; nothing recreated")
            return 0
        if plan.action == "start":
            return self.start_existing(plan.current)
        if plan.action == "update":
            return self.update_in_place(plan)
        if plan.action == "adopt":
            return self.adopt(plan)
        return self.swap(plan, keep_previous, self.plan_data(plan))

    def plan_data(self, plan: Plan) -> Optional[snapshot.Planned]:
        """The snapshot a recreate takes ([snapshot], or always before a rollback restores data),
        measured and room-checked before anything stops (exit 3 without room); its plan lines said."""
        if plan.action != "recreate":
            return None
        image = self.engine.image_attrs(self.spec.image)
        planned = snapshot.plan(self.engine, self.profile.snapshot, self.spec, plan.current, plan.carried,
                                image["Id"] if image else None)
        if planned:
            for line in planned.lines():
                self.say(line)
        if self.data_to_restore:
            self.say(f"  then restore the data of snapshot {self.data_to_restore.id} "
                     f"({self.data_to_restore.time}) into its volumes, before the new container starts")
        return planned

    def start_existing(self, current: ContainerInfo) -> int:
        """Start the stopped container that already matches; if it does not come up, stop it
        again (exit 1), or say what is left (exit 4)."""
        offset = self.watcher.log_offset(current.id)
        with deferred():
            if current.status == "restarting":
                # Crash-looping on an earlier version of the files: a start would be a no-op
                # while the engine's back-off waits, so stop it and start it afresh.
                self.engine.stop(current.id)
            self.engine.start(current.id)  # refused: nothing changed, exit 3
        try:
            failure = self.watcher(current.id, "it", offset)
        except EngineError as exc:
            failure = str(exc)
        except KeyboardInterrupt:
            failure = "interrupted"
        if not failure:
            self.say(f"started {self.name} ({current.id[:12]})")
            return 0
        with shielded():
            logs = self.log_tail(current.id)
            try:
                self.engine.stop(current.id)
            except EngineError as exc:
                raise RestoreFailed(f"{self.name} was started but {failure}, and stopping it again failed too: {exc}\n"
                                    f"what is left: {current.id[:12]} named {self.name}, maybe running\n"
                                    f"to recover by hand:\n  {self.engine.runtime} stop {self.name}\n"
                                    f"no volume was removed\n{logs}") from None
        was = "it was restarting (crash-looping) before; it is stopped now" if current.status == "restarting" \
            else "it is stopped again, as it was"
        raise ApplyFailedRestored(f"{self.name} was started but {failure}; {was}\n{logs}")

    def update_in_place(self, plan: Plan) -> int:
        """Set the fields changed since the apply back to the profile's, on the same container
        (started if it is not running: a kept container brought back gets its policy back too)."""
        current = plan.current
        self.engine.update(current.id, **plan.updates)  # refused: nothing changed, exit 3
        self.say(f"updated {', '.join(plan.updates)} of {self.name} ({current.id[:12]}) in place; nothing recreated")
        if not current.running:
            return self.start_existing(current)
        return 0

    def adopt(self, plan: Plan) -> int:
        """Record the labels a recreate would have stamped, for this very container (adoption.py)."""
        labels = {**plan.labels, APPLIED_LABEL: datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
        where = adoption.record(self.engine.runtime, plan.current, labels)
        self.say(f"adopted: {self.name} ({plan.current.id[:12]}) runs as the profile says; recorded in {where}; "
                 "nothing recreated")
        self.record_revision(plan.current.id, None)
        return 0

    # --- the swap -------------------------------------------------------------

    def step(self, **changes) -> None:
        """Record what is about to be done (or was just done) before the next step acts."""
        self.record.update(changes)
        self.journal.write(**self.record)

    def pause_for_tests(self, after: str) -> None:
        if os.environ.get(TEST_PAUSE) == after:
            print(f"test pause after {after}", file=sys.stderr, flush=True)
            until = time.monotonic() + TEST_PAUSE_SECONDS
            while time.monotonic() < until and not interrupts.pending():
                time.sleep(0.1)

    def swap(self, plan: Plan, keep_previous: bool, planned: Optional[snapshot.Planned] = None) -> int:
        labels = {**plan.labels, APPLIED_LABEL: datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
        request = CreateRequest(self.spec, self.name + NEW_SUFFIX, plan.env, labels, plan.carried,
                                tuple(run_argv(self.spec)))  # secrets by name only
        old = plan.current
        self.record = {"step": "create", "new": None, "old": old.id if old else None,
                       "old_running": bool(old and old.running), "keep_previous": keep_previous,
                       "carried": [name for name, _ in plan.carried], "passed": False,
                       # what judges the old container should the undo start it again: its own
                       # revision's [watch], not this profile's (also after a SIGKILL)
                       "old_judge": history.judge(self.profile.path, old).as_json() if old else None}
        try:
            with deferred():
                self.step()
                new_id = self.engine.create(request)
                self.step(step="created", new=new_id)
        except EngineError:
            self.journal.clear()
            raise  # refused: nothing was created, nothing changed (exit 3)
        except KeyboardInterrupt:  # it waited for the create: remove what it created
            self.roll_back("interrupted")
        try:
            self.say(f"created {self.name}{NEW_SUFFIX} ({new_id[:12]})")
            self.pause_for_tests("created")
            prepared = None
            if planned:  # its volumes and helper made while the old container still runs
                with deferred():
                    self.step(step="prepare")
                    prepared = snapshot.prepare(self.engine, self.name, planned.volumes, planned.image,
                                                planned.sizes)
                    self.step(prepared={"snapshot": prepared.snapshot.as_json(), "helper": prepared.helper})
                self.pause_for_tests("prepared")
            if old and old.running:
                timeout = (old.attrs.get("Config") or {}).get("StopTimeout")
                self.say(f"stopping {old.id[:12]}" + (f" (up to its stop timeout, {timeout} s)" if timeout else "")
                         + " ...")
                with deferred():
                    self.step(step="stop")
                    self.engine.stop(old.id)
                self.pause_for_tests("stopped")
            if prepared:
                self.step(step="snapshot")
                taken = snapshot.copy(self.engine, prepared, self.say)
                self.step(snapshot=taken.as_json(), prepared=None)
                self.pause_for_tests("snapshot")
            if self.data_to_restore:
                self.step(step="restore-data")
                snapshot.restore(self.engine, self.data_to_restore, self.say)
            with deferred():
                self.step(step="swap")
                if old:
                    self.engine.rename(old.id, self.name + OLD_SUFFIX)
                self.engine.rename(new_id, self.name)
            self.pause_for_tests("swapped")
            with deferred():
                self.step(step="start")
                self.engine.start(new_id)
            self.say(f"started {self.name} ({new_id[:12]})")
            self.pause_for_tests("started")
            failure = self.watcher(new_id)
        except EngineError as exc:
            failure = str(exc)
        except KeyboardInterrupt:
            failure = "interrupted"
        if failure:
            self.roll_back(failure)
        with shielded():  # it passed: an interrupt from here on changes nothing
            self.step(step="commit", passed=True)
            self.pause_for_tests("passed")
            self.commit(self.record)
            self.say(f"applied: {self.name} ({new_id[:12]}) is running")
        return 0

    def commit(self, record: dict) -> None:
        """The new container passed its watch: retire the previous one, clear the journal."""
        old = self.engine.get(record["old"]) if record.get("old") else None
        if old:
            if record.get("keep_previous"):
                kept = f"{self.name}-previous-{old.id[:12]}"
                self.engine.rename(old.id, kept)
                self.say(f"kept the previous container as {kept} (stopped){hold_stopped(self.engine, old)}")
            else:
                self.engine.remove(old.id)
        self.journal.clear()
        self.record_revision(record["new"], record.get("snapshot"))
        self.prune_staged()
        if record.get("snapshot"):  # only a new snapshot can take the count beyond `keep`
            try:
                snapshot.prune(self.engine, self.name, self.profile.snapshot.keep, self.say)
            except EngineError as exc:
                print(f"warning: could not prune the old snapshots: {exc}", file=sys.stderr)

    def record_revision(self, cid: str, taken: Optional[dict]) -> None:
        """The history's record of what now runs, with the snapshot taken before it."""
        try:
            info = self.engine.get(cid)
            number = history.record_revision(self.engine, self.profile, self.spec, info,
                                             snapshot.Snapshot.from_json(taken) if taken else None,
                                             self.profile_text)
        except (OSError, EngineError) as exc:
            print(f"warning: the revision could not be recorded in the history: {exc}", file=sys.stderr)
            return
        self.say(f"recorded as revision {number} (`one-run history {self.profile.path}`)")

    def prune_staged(self) -> None:
        """Remove the staged customization folders no container of the deployment mounts any
        more, on either runtime (a switch keeps its source on the other one). The other runtime
        is asked only when this one leaves something to remove, and nothing is removed when it
        cannot be asked."""
        from ..engines import endpoint_named, get_engine

        # The new container mounts the spec's own folder: with no other, there is nothing to ask.
        keep = {self.spec.staged_folder} if self.spec.staged_folder else set()
        if not unused_staged(self.profile.path, keep):
            return
        try:
            keep |= staged_in_use(self.engine, self.name)
            if not unused_staged(self.profile.path, keep):
                return
            other = "podman" if self.engine.runtime == "docker" else "docker"
            if endpoint_named(other):
                keep |= staged_in_use(get_engine(other), self.name)
            removed = prune_staged(self.profile.path, keep)
        except (EngineUnavailable, EngineError):
            return  # which folders it uses is not known: keep them all
        if removed:
            self.say(f"removed {len(removed)} staged folder(s) no container uses any more")

    def log_tail(self, cid: str) -> str:
        try:
            text = self.engine.logs(cid, LOG_LINES).rstrip()
        except EngineError as exc:
            return f"(its logs could not be read: {exc})"
        if not text:
            return "the new container printed nothing"
        return "last log lines of the new container:\n" + "\n".join("  | " + line for line in text.splitlines())

    def roll_back(self, failure: str):
        """Undo the swap this apply journaled; raises ApplyFailedRestored (exit 1) or RestoreFailed (4)."""
        record = self.record
        with shielded():
            new = self.new_container(record)
            logs = self.log_tail(new.id) if new else ""
            # The old container mounts its own staged copies: the profile's files are not touched.
            files = "\nthe profile's edited files are untouched and were not applied" if self.spec.staged else ""
            try:
                restarted = self.undo(record)
            except EngineError as exc:
                raise RestoreFailed(self.stuck_report(record, failure, exc) + files) from None
        touched = record["step"] not in ("create", "created")
        if restarted:
            # Started again is not running again: it may fail on what made the new one fail.
            old, offset, judge = restarted
            self.say(f"the new container was not up; the previous container {old.id[:12]} is started again"
                     f"{self.data_note}, watching it {judge.words()}")
            try:
                again = Watcher.judging(self.engine, judge, self.say)(old.id, "it", offset)
            except EngineError as exc:
                again = str(exc)
            except KeyboardInterrupt:
                raise ApplyFailedRestored(f"apply failed: {failure}; the previous container {old.id[:12]} was started "
                                          f"again, and the wait for it to be up was interrupted: `one-run status "
                                          f"{self.profile.path}` tells whether it is{files}\n{logs}") from None
            if again:
                raise RestoreFailed(
                    f"apply failed: {failure}; the previous container {old.id[:12]} was started again and watched "
                    f"{judge.words()}, but {again}"
                    f"{files}\nwhat is left: {self.name} ({old.id[:12]}), not running as it did; no volume was removed\n"
                    f"to recover by hand: mend the profile or the files it mounts, then `one-run apply "
                    f"{self.profile.path}`; `{self.engine.runtime} logs {self.name}` shows why it fails\n{logs}") from None
        old_id = record.get("old")
        if not touched:
            previous = f"nothing else had changed; {self.name} is as it was" if old_id else "nothing else was changed"
        elif restarted:
            previous = f"the previous container {old_id[:12]} runs again"
        else:
            previous = ("the previous container is back under its name" if old_id
                        else "the new container was removed")
        raise ApplyFailedRestored(f"apply failed: {failure}; {previous}{self.data_note}{files}"
                                  + (f"\n{logs}" if logs else ""))

    def new_container(self, record: dict) -> Optional[ContainerInfo]:
        """The container this apply created, if it exists: by its ID, or by its temporary name
        when the apply was killed while creating it."""
        if record.get("new"):
            return self.engine.get(record["new"])
        found = self.engine.get(self.name + NEW_SUFFIX)
        return found if found and found.id != record.get("old") else None

    def undo(self, record: dict) -> Optional[Tuple[ContainerInfo, int, Judge]]:
        """Put the state before the journaled swap back, from what the engine holds now: remove
        the new container (and the anonymous volumes its create made), give the previous one its
        name back, and start it if it was running. The previous container, the log offset its
        watch starts from and what judges it, when it was started again. EngineError if the
        engine refuses."""
        if record.get("prepared"):  # a snapshot prepared, or being copied, and never finished
            snapshot.abandon(self.engine, snapshot.Prepared(snapshot.Snapshot.from_json(
                record["prepared"]["snapshot"]), record["prepared"]["helper"]))
        new = self.new_container(record)
        if new:
            made = self.volumes_made_by(new, record)
            self.engine.remove(new.id)
            for volume in made:
                try:
                    self.engine.remove_volume(volume)
                except EngineError:
                    pass  # still used, or gone: it is empty either way, and never carried data
        old = self.engine.get(record["old"]) if record.get("old") else None
        if record.get("old") and old is None:
            raise EngineError(f"the previous container {record['old'][:12]} is gone")
        self.restore_data(record)
        if old is None:
            self.journal.clear()
            return None
        if old.name != self.name:  # an interrupt before the swap leaves it its name
            self.engine.rename(old.id, self.name)
        if record.get("step") == "stop" and old.running:
            # Killed while stopping it: the engine may still be at it. Let that stop end
            # before the start, or the start would come first and the stop after it.
            self.engine.stop(old.id)
            old = self.engine.get(old.id) or old
        restarted = None
        if record.get("old_running") and not old.running:
            # A journal of an earlier one-run carries no judge: the history still knows it.
            judge = Judge.from_json(record["old_judge"]) if record.get("old_judge") else \
                history.judge(self.profile.path, old)
            offset = Watcher.judging(self.engine, judge, self.say).log_offset(old.id)
            self.engine.start(old.id)
            restarted = (old, offset, judge)
        self.journal.clear()
        return restarted

    def restore_data(self, record: dict) -> None:
        """Once the new container may have written to the volumes (it was started, or a rollback
        restored older data into them), put back the snapshot taken after the old one stopped,
        verified, before the old one starts: its database schema is the old one's."""
        if record.get("step") not in ("restore-data", "start") or not record.get("snapshot"):
            return
        taken = snapshot.Snapshot.from_json(record["snapshot"])
        snapshot.restore(self.engine, taken, self.say)
        self.data_note = f"; the data was restored from snapshot {taken.id}, taken {taken.time}, and verified"

    def volumes_made_by(self, new: ContainerInfo, record: dict) -> List[str]:
        """The anonymous volumes the engine made for the new container (the image's VOLUMEs
        that nothing was carried to): empty when it was created, used by nothing else."""
        named = {v.source for v in self.spec.all_volumes if v.kind == "volume"} | set(record.get("carried") or ())
        return [m["Name"] for m in new.attrs.get("Mounts") or []
                if m.get("Type") == "volume" and m.get("Name") and m["Name"] not in named]

    def stuck_report(self, record: dict, failure: str, exc: Exception) -> str:
        cli = self.engine.runtime
        new_id, old_id = record.get("new"), record.get("old")
        lines = [f"apply failed ({failure}) and restoring the previous container failed too: {exc}",
                 "what is left:"]
        for cid, label in ((new_id, "new (failed)"), (old_id, "previous")):
            if cid:
                info = self.engine_get_quietly(cid)
                lines.append(f"  {label}: {cid[:12]} " + (f"named {info.name}, {info.status}" if info else "gone"))
        lines.append("to recover by hand:")
        if new_id:
            lines.append(f"  {cli} rm -f {new_id[:12]}")
        if old_id:
            lines.append(f"  {cli} rename {old_id[:12]} {self.name}")
            lines.append(f"  {cli} start {self.name}")
        if record.get("snapshot"):
            taken = snapshot.Snapshot.from_json(record["snapshot"])
            lines.append(f"the data: snapshot {taken.id} holds the volumes as they were before; the same apply, run "
                         "again, restores it before it starts the previous container")
        lines.append("or run the same apply again: it first puts back what an interrupted apply leaves")
        lines.append("no volume was removed")
        return "\n".join(lines)

    def engine_get_quietly(self, cid: str) -> Optional[ContainerInfo]:
        try:
            return self.engine.get(cid)
        except EngineError:
            return None

    # --- what a killed apply leaves --------------------------------------------

    def leftovers(self) -> List[str]:
        found = []
        for suffix in (NEW_SUFFIX, OLD_SUFFIX):
            info = self.engine.get(self.name + suffix)
            if info:
                found.append(f"  found {info.name} ({info.id[:12]}, {info.status}) left by an interrupted apply: "
                             "apply will repair this first")
        if self.journal.read():
            found.append(f"  found the journal of an interrupted apply ({self.journal.path}): apply will repair "
                         "this first")
        return found

    def repair(self) -> None:
        """Finish or undo an apply that was killed half-way, before deciding anything else:
        one whose new container had passed its watch is finished; any other is undone."""
        record = self.journal.read()
        with shielded():
            if record is None:
                record = self.record_from_names()
                if record is None:
                    return
            self.record = record
            try:
                self.finish_or_undo(record)
            except EngineError as exc:
                raise RestoreFailed(self.stuck_report(record, "an earlier apply was interrupted", exc)) from None

    def finish_or_undo(self, record: dict) -> None:
        if record.get("passed"):
            self.say(f"repair: an interrupted apply had brought up {self.name} ({record['new'][:12]}) and it "
                     "passed its watch; finishing it")
            self.commit(record)
            return
        new = self.new_container(record)
        self.say("repair: an earlier apply was interrupted before its new container passed its watch; "
                 + (f"removing {new.name} ({new.id[:12]}) and " if new else "")
                 + ("putting the previous container back" if record.get("old") else "nothing else to undo"))
        restarted = self.undo(record)
        if self.data_note:
            self.say(f"repair: {self.data_note.lstrip('; ')}")
        if restarted:
            self.say(f"repair: started {self.name} ({restarted[0].id[:12]}) again, as it was running")

    def record_from_names(self) -> Optional[dict]:
        """A journal for leftovers whose journal is lost (its folder emptied by a reboot): what
        the temporary names say, read on the safe side — the new container never counts as passed."""
        left = {found for found, _ in self.engine.names_starting(self.name)}
        if not left & {self.name + NEW_SUFFIX, self.name + OLD_SUFFIX}:
            return None  # one list call, the common case
        new = self.engine.get(self.name + NEW_SUFFIX)
        old = self.engine.get(self.name + OLD_SUFFIX)
        if old:
            current = self.engine.get(self.name)
            if current and not new:
                new = current  # the swap had happened: the container under the name is the new one
            return {"step": "swap", "new": new.id if new else None, "old": old.id, "old_running": True,
                    "passed": False}
        if new:
            return {"step": "created", "new": new.id, "old": None, "old_running": False, "passed": False}
        return None
