"""Apply's decision, made before anything changes (and all that --dry-run prints): what the
profile asks of the container the engine holds — create, recreate, update in place, adopt,
start, or nothing — and why, in the plan's words.
"""
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Dict, List, Optional, Tuple

from ..common.errors import UsageError
from ..engines import ContainerInfo, Engine
from ..model.confighash import HASH_LABEL, INPUTS_LABEL, SALT_LABEL, config_hash, input_label, new_salt
from ..model.profile import Profile
from ..model.runspec import RunSpec
from ..model.secrets import resolve_env
from . import adoption, watch
from .naming import APPLIED_LABEL, NEW_SUFFIX, OLD_SUFFIX, PROFILE_LABEL
from .survival import Survival
from .watch import expects_health_check


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

    def stamped_labels(self) -> Dict[str, str]:
        """The labels with the time of this apply, as the container made (or adopted) carries them."""
        return {**self.labels, APPLIED_LABEL: datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}


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


def make_plan(engine: Engine, profile: Profile, spec: RunSpec, force: bool) -> Plan:
    """What apply would do, decided from the engine's state without changing it."""
    current = engine.get(spec.name)
    env, secrets = resolve_env(spec)
    applied = adoption.labels_of(engine, current) if current else {}
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
        from .compare import recreate_reasons

        reasons += recreate_reasons(engine, spec, current) or \
            ["the profile or a file it mounts changed since the last apply"]
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
    lines = [f"{engine.label} container {spec.name}: {plan.action}"]
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
        if spec.delivered:
            lines.append(f"  deliver the customization files through the engine, verified: "
                         f"{', '.join(spec.delivery_volumes.values())} (read-only)")
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
