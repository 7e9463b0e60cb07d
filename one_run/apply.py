"""Make the running container match the profile, safely (DESIGN.md, "Apply: the safety rules").

Decide first (a Plan, printed by --dry-run), then act: pull before anything stops;
create the new container under a temporary name while the old one still runs; stop
the old, swap the names, start the new and watch it; put the old one back if the new
one does not stay up. Volumes are never removed, and the old container's anonymous
volumes are carried over to the new one, as docker-compose v1 does.
"""
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Dict, List, Optional, Tuple

from . import adoption, applied_files
from .confighash import HASH_LABEL, INPUTS_LABEL, SALT_LABEL, config_hash, input_label, new_salt
from .engines import ContainerInfo, CreateRequest, Engine
from .errors import ApplyFailedRestored, EngineError, RestoreFailed, UsageError
from .lock import Journal, apply_lock
from .profile import Profile, SecretRef
from .render import run_argv, secret_value
from .runspec import RunSpec, write_generated_files

NEW_SUFFIX = "-one-run-new"
OLD_SUFFIX = "-one-run-old"
PROFILE_LABEL = "one-run.profile"
APPLIED_LABEL = "one-run.applied"
LOCK_TIMEOUT = 120.0
HEALTH_TIMEOUT = 300.0
LOG_LINES = 20


@dataclass
class Plan:
    action: str  # create | recreate | update | adopt | start | noop
    reasons: List[str]
    current: Optional[ContainerInfo]
    env: Dict[str, str] = field(repr=False)
    labels: Dict[str, str]
    carried: Tuple[Tuple[str, str], ...] = ()
    pull: bool = False
    updates: Dict[str, object] = field(default_factory=dict)  # action "update": Engine.update's fields


def resolve_env(spec: RunSpec, strict: bool = True) -> Tuple[Dict[str, str], Dict[str, str]]:
    """The container's environment with secrets read, and the secrets alone (for the hash).
    A secret that cannot be read is a UsageError, or left out when not `strict`."""
    env, secrets = {}, {}
    for name, value in spec.env:
        if isinstance(value, SecretRef):
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
    covered = {v.target for v in spec.volumes if v.kind != "anonymous"}
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
    if current is None:
        return Plan("create", [f"no container named {spec.name}"], None, env, labels, pull=pull)
    reasons = []
    if not applied.get(HASH_LABEL) and current.running and not force and not pull and not spec.inputs and \
            image is not None and current.image_id.split(":")[-1] == image["Id"].split(":")[-1]:
        # Made outside one-run (e.g. then captured): kept as it is when nothing differs. Not when the
        # profile stages files ([tls], [ssh], [config]): that container mounts the user's folders.
        from .diff import config_differences

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
        from .diff import config_differences, in_place_updates

        drift = config_differences(engine, spec, current)
        updates = in_place_updates(engine, spec, drift)
        if updates:
            return Plan("update", [d.line() for d in drift], current, env, labels, updates=updates)
        reasons += [d.line() for d in drift]
    carried = carried_volumes(current, spec, image)
    if reasons or pull:
        return Plan("recreate", reasons or ["pull = \"always\": recreate if the pulled image is new"],
                    current, env, labels, carried, pull)
    if not current.running:
        return Plan("start", [f"container is {current.status}"], current, env, labels)
    return Plan("noop", [], current, env, labels)


def describe_plan(plan: Plan, spec: RunSpec, engine: Engine, settle_time: float) -> List[str]:
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
        lines.append(f"  rename the new container {spec.name}, start it, watch it for {settle_time:g} s")
        if plan.current:
            lines.append("  then remove the previous container; no volume is ever removed")
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


def health_interval(attrs: dict) -> float:
    """Seconds between health checks, as the engines read the image's HEALTHCHECK (0: 30 s)."""
    return ((attrs["Config"].get("Healthcheck") or {}).get("Interval") or 30e9) / 1e9


class Applier:
    def __init__(self, engine: Engine, profile: Profile, spec: RunSpec):
        self.engine, self.profile, self.spec = engine, profile, spec
        self.name = spec.name
        self.journal = Journal(engine.runtime, spec.name)
        self.replaced = False

    def say(self, text: str) -> None:
        print(text, flush=True)

    def run(self, force=False, dry_run=False, keep_previous=False,
            explain: Callable[[ContainerInfo], List[str]] = lambda current: []) -> int:
        with apply_lock(self.engine.runtime, self.name, LOCK_TIMEOUT):
            if dry_run:
                plan = make_plan(self.engine, self.profile, self.spec, force, explain)
                for line in self.leftovers() + describe_plan(plan, self.spec, self.engine, self.profile.settle_time):
                    self.say(line)
                self.say("dry run: nothing was changed")
                return 0
            self.repair()
            try:
                return self.change(force, keep_previous, explain)
            except KeyboardInterrupt:  # Ctrl-C, or SIGTERM/SIGHUP (cli), outside the swap's own handling
                self.interrupted()

    def change(self, force: bool, keep_previous: bool, explain: Callable[[ContainerInfo], List[str]]) -> int:
        write_generated_files(self.spec)
        plan = make_plan(self.engine, self.profile, self.spec, force, explain)
        for line in describe_plan(plan, self.spec, self.engine, self.profile.settle_time):
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
            self.keep_applied_files(plan.current.id)
            self.say(f"up to date: {self.name} ({plan.current.id[:12]}) already matches the profile; nothing recreated")
            return 0
        if plan.action == "start":
            return self.start_existing(plan.current)
        if plan.action == "update":
            return self.update_in_place(plan)
        if plan.action == "adopt":
            return self.adopt(plan)
        return self.swap(plan, keep_previous)

    def interrupted(self):
        """Say truthfully where an interrupt outside the swap's rollback left things."""
        if self.replaced:  # only the last words were left to say
            raise KeyboardInterrupt
        if self.journal.read():  # the swap had begun, and its rollback was interrupted too
            raise RestoreFailed(f"interrupted while {self.name} was being replaced; run the same apply again: it "
                                "first repairs what an interrupted apply leaves (the previous container back "
                                "under its name, or the new one kept if it runs)")
        leftover = self.engine_get_quietly(self.name + NEW_SUFFIX)
        if leftover:  # created, not yet journaled: nothing else had changed
            try:
                self.engine.remove(leftover.id)
            except EngineError as exc:
                raise RestoreFailed(f"interrupted; the container {leftover.name} it had just created is left: {exc}\n"
                                    f"to recover by hand:\n  {self.engine.runtime} rm -f {leftover.name}") from None
        raise ApplyFailedRestored(f"interrupted before anything changed; {self.name} is as it was")

    def start_existing(self, current: ContainerInfo) -> int:
        """Start the stopped container that already matches; if it does not stay up, stop it
        again (exit 1), or say what is left (exit 4)."""
        if current.status == "restarting":
            # Crash-looping on an earlier version of the files: a start would be a no-op
            # while the engine's back-off waits, so stop it and start it afresh.
            self.engine.stop(current.id)
        self.engine.start(current.id)  # refused: nothing changed, exit 3
        try:
            failure = self.watch(current.id, "it")
        except EngineError as exc:
            failure = str(exc)
        except KeyboardInterrupt:
            failure = "interrupted"
        if not failure:
            self.keep_applied_files(current.id)
            self.say(f"started {self.name} ({current.id[:12]})")
            return 0
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
        self.keep_applied_files(current.id)
        return 0

    def adopt(self, plan: Plan) -> int:
        """Record the labels a recreate would have stamped, for this very container (adoption.py)."""
        labels = {**plan.labels, APPLIED_LABEL: datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
        where = adoption.record(self.engine.runtime, plan.current, labels)
        self.keep_applied_files(plan.current.id)
        self.say(f"adopted: {self.name} ({plan.current.id[:12]}) runs as the profile says; recorded in {where}; "
                 "nothing recreated")
        return 0

    def keep_applied_files(self, cid: str) -> None:
        """Copies of the mounted files as cid runs with them, for a failed apply to put back."""
        if not self.spec.inputs:
            return
        try:
            applied_files.keep(self.profile.path, self.spec.inputs, cid)
        except OSError as exc:
            print(f"warning: could not keep a copy of the applied files in {applied_files.store(self.profile.path)} "
                  f"({exc}); if a later apply fails, the files it changed cannot be put back", file=sys.stderr)

    # --- the swap -------------------------------------------------------------

    def swap(self, plan: Plan, keep_previous: bool) -> int:
        labels = {**plan.labels, APPLIED_LABEL: datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
        request = CreateRequest(self.spec, self.name + NEW_SUFFIX, plan.env, labels, plan.carried,
                                tuple(run_argv(self.spec)))  # secrets by name only
        new_id = self.engine.create(request)  # fails before anything changed: exit 3
        old = plan.current
        self.journal.write(new=new_id, old=old.id if old else None, old_running=bool(old and old.running))
        try:
            if old:
                if old.running:
                    self.say(f"stopping {old.id[:12]} ...")
                    self.engine.stop(old.id)
                self.engine.rename(old.id, self.name + OLD_SUFFIX)
            self.engine.rename(new_id, self.name)
            self.engine.start(new_id)
            failure = self.watch(new_id)
        except EngineError as exc:
            failure = str(exc)
        except KeyboardInterrupt:  # Ctrl-C, or SIGTERM/SIGHUP (cli): the old container goes back
            failure = "interrupted"
        if failure:
            self.roll_back(new_id, old, failure)
        if old:
            if keep_previous:
                kept = f"{self.name}-previous-{old.id[:12]}"
                self.engine.rename(old.id, kept)
                self.say(f"kept the previous container as {kept} (stopped){hold_stopped(self.engine, old)}")
            else:
                self.engine.remove(old.id)
        self.journal.clear()
        self.replaced = True
        self.keep_applied_files(new_id)
        self.say(f"applied: {self.name} ({new_id[:12]}) is running")
        return 0

    def watch(self, cid: str, what: str = "the new container") -> Optional[str]:
        """None when the container stays up for the settle time (and turns healthy), else why not
        (a sentence about `what`)."""
        start = time.monotonic()
        settle_until = start + self.profile.settle_time
        health_until = start + HEALTH_TIMEOUT
        next_check = None
        while True:
            info = self.engine.get(cid)
            if info is None:
                return f"{what} disappeared"
            if info.status != "running":
                return f"{what} is {info.status} (exit code {info.exit_code})"
            if info.attrs.get("RestartCount"):
                return f"{what} exited and was restarted"
            now = time.monotonic()
            if info.health == "starting" and not self.profile.maintenance:
                # Where the engine does not schedule the checks itself (Podman without systemd),
                # run them at the image's interval, or the status would never leave "starting".
                interval = health_interval(info.attrs)
                next_check = next_check or start + interval
                if now >= next_check:
                    next_check = now + interval
                    try:
                        info.health = self.engine.run_health_check(cid) or info.health
                    except EngineError:
                        pass  # it stopped meanwhile: the next look says so
            waiting_health = info.health == "starting" and not self.profile.maintenance
            if info.health == "unhealthy" and not self.profile.maintenance:
                return f"{what} reports unhealthy"
            if now >= settle_until and not waiting_health:
                return None
            if now >= health_until:
                return f"{what} was not healthy after {HEALTH_TIMEOUT:.0f} s"
            time.sleep(0.2)

    def log_tail(self, cid: str) -> str:
        try:
            text = self.engine.logs(cid, LOG_LINES).rstrip()
        except EngineError as exc:
            return f"(its logs could not be read: {exc})"
        if not text:
            return "the new container printed nothing"
        return "last log lines of the new container:\n" + "\n".join("  | " + line for line in text.splitlines())

    def roll_back(self, new_id: str, old: Optional[ContainerInfo], failure: str):
        logs = self.log_tail(new_id)
        files = self.put_back_files(old) if old else ""
        try:
            self.engine.remove(new_id)
            if old:
                self.engine.rename(old.id, self.name)
                if old.running:
                    self.engine.start(old.id)
        except EngineError as exc:
            raise RestoreFailed(self.stuck_report(new_id, old, failure, exc) + files) from None
        self.journal.clear()
        if old and old.running:
            # Started again is not running again: it may fail on what made the new one fail.
            try:
                again = self.watch(old.id, "it")
            except EngineError as exc:
                again = str(exc)
            if again:
                if self.spec.inputs and not files:
                    files = ("\nit mounts the same folders as the new one, and no copy of the files it was applied "
                             "with was kept to put back: a changed certificate, key, patch or hook fails it too")
                raise RestoreFailed(
                    f"apply failed: {failure}; the previous container {old.id[:12]} was started again, but {again}"
                    f"{files}\nwhat is left: {self.name} ({old.id[:12]}), not running as it did; no volume was removed\n"
                    f"to recover by hand: mend the profile or the files it mounts, then `one-run apply "
                    f"{self.profile.path}`; `{self.engine.runtime} logs {self.name}` shows why it fails\n{logs}") from None
        previous = f"the previous container {old.id[:12]} runs again" if old and old.running else \
            ("the previous container is back under its name" if old else "nothing else was changed")
        raise ApplyFailedRestored(f"apply failed: {failure}; {previous}{files}\n{logs}")

    def put_back_files(self, old: ContainerInfo) -> str:
        """Put back the files old was applied with (it mounts the same folders); what was done, as text."""
        try:
            restored = applied_files.put_back(self.profile.path, old.id)
        except OSError as exc:
            return f"\nthe files it was applied with could not be put back: {exc}"
        return "".join(f"\n  {path} put back as it was applied; " +
                       (f"the new version is kept as {aside}" if aside else "it had been removed")
                       for path, aside in restored)

    def stuck_report(self, new_id: str, old: Optional[ContainerInfo], failure: str, exc: Exception) -> str:
        cli = self.engine.runtime
        lines = [f"apply failed ({failure}) and restoring the previous container failed too: {exc}",
                 "what is left:"]
        for cid, label in ((new_id, "new (failed)"), (old.id if old else None, "previous")):
            if cid:
                info = self.engine_get_quietly(cid)
                lines.append(f"  {label}: {cid[:12]} " + (f"named {info.name}, {info.status}" if info else "gone"))
        lines.append("to recover by hand:")
        lines.append(f"  {cli} rm -f {new_id[:12]}")
        if old:
            lines.append(f"  {cli} rename {old.id[:12]} {self.name}")
            lines.append(f"  {cli} start {self.name}")
        lines.append("no volume was removed")
        return "\n".join(lines)

    def engine_get_quietly(self, cid: str) -> Optional[ContainerInfo]:
        try:
            return self.engine.get(cid)
        except EngineError:
            return None

    # --- leftovers of a killed apply -----------------------------------------

    def leftovers(self) -> List[str]:
        found = []
        for suffix in (NEW_SUFFIX, OLD_SUFFIX):
            info = self.engine.get(self.name + suffix)
            if info:
                found.append(f"  found {info.name} ({info.id[:12]}, {info.status}) left by an interrupted apply: "
                             "apply will repair this first")
        return found

    def repair(self) -> None:
        """Undo an apply that was killed half-way, before deciding anything else."""
        new = self.engine.get(self.name + NEW_SUFFIX)
        old = self.engine.get(self.name + OLD_SUFFIX)
        record = self.journal.read() or {}
        if new:
            self.say(f"repair: removing {new.name} ({new.id[:12]}), left by an interrupted apply")
            self.engine.remove(new.id)
        if old:
            current = self.engine.get(self.name)
            if current and current.running:
                self.say(f"repair: {self.name} runs; removing the previous container {old.name} ({old.id[:12]})")
                self.engine.remove(old.id)
            else:
                if current:
                    self.say(f"repair: removing the half-started {self.name} ({current.id[:12]})")
                    self.engine.remove(current.id)
                self.say(f"repair: restoring {old.name} ({old.id[:12]}) as {self.name}{self.put_back_files(old)}")
                self.engine.rename(old.id, self.name)
                if record.get("old_running", True):
                    self.engine.start(old.id)
        elif record.get("old_running") and record.get("old"):
            current = self.engine.get(record["old"])
            if current and not current.running and current.name == self.name:
                self.say(f"repair: restarting {self.name} ({current.id[:12]}), stopped by an interrupted apply")
                self.engine.start(current.id)
        self.journal.clear()
