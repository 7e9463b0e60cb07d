"""Profile vs running container, field by field: what `apply` would change, and why.

Both sides are normalised by one_run.model.normalize; here they are compared and each
difference becomes one `field: running → profile` line. Secret values never appear:
a secret difference reads "changed". Changed contents of mounted customization files
come from the per-file digests apply stamps in the one-run.inputs label.
"""
import shlex
from typing import Any, Dict, List, NamedTuple, Optional

from ..engines import ContainerInfo, Engine
from ..model.confighash import (HASH_LABEL, INPUTS_LABEL, SALT_LABEL, config_hash, input_label, input_paths,
                                parse_input_label)
from ..model.normalize import (FIELDS, UNSET, Normal, from_inspect, from_spec, is_secret_name, mount_spec,
                               move_to_mounts, normalize_image, podman_default_caps)
from ..model.options import BY_KEY, PODMAN_INJECTED_ULIMITS, has_create_command
from ..model.profile import SecretRef
from ..model.runspec import RunSpec, staged_digest
from ..model.secrets import resolve_env
from ..model.values import Port, Volume, order_options
from .adoption import labels_of

ARROW = "→"
FILE_KEYS = {
    "TLS_CERT": "tls.cert", "TLS_KEY": "tls.key",
    "ONEADMIN_SSH_PRIVKEY": "ssh.private_key", "ONEADMIN_SSH_PUBKEY": "ssh.public_key",
    "OPENNEBULA_ONECFG_PATCH": "config.onecfg_patch",
    "OPENNEBULA_PREBOOTSTRAP_HOOK": "config.pre_bootstrap_hook",
    "OPENNEBULA_POSTBOOTSTRAP_HOOK": "config.post_bootstrap_hook",
}
KEYED = {"env": "env.", "labels": "labels.", "ports": "ports ", "volumes": "volumes ", "mounts": "mounts ",
         **{o.key: o.keyed for o in BY_KEY.values() if o.keyed}}


class Difference(NamedTuple):
    field: str
    running: Optional[str]  # display text; None for a secret
    profile: Optional[str]
    secret: bool = False
    note: str = ""

    def line(self) -> str:
        if self.secret:
            if self.running is None and self.profile is None:
                text = f"{self.field}: changed (secret, values not shown)"
            else:
                text = f"{self.field}: {self.running or 'set'} {ARROW} {self.profile or 'set'} (secret, value not shown)"
        else:
            text = f"{self.field}: {self.running} {ARROW} {self.profile}"
        return f"{text}: {self.note}" if self.note else text

    def as_json(self) -> Dict[str, Any]:
        return {"field": self.field, "running": self.running, "profile": self.profile,
                "secret": self.secret, "note": self.note or None}


# --- display ------------------------------------------------------------------

def _volume_text(target: str, value) -> str:
    kind, source, options = value
    if kind == "anonymous":
        return f"{target} (anonymous volume)"
    return Volume(target, source, kind, tuple(order_options(options))).format()


def _text(name: str, value, key: str = "") -> str:
    if name in BY_KEY:
        return BY_KEY[name].text(value)
    if name == "ports":
        return ", ".join(Port.of(key, *b).format() for b in value) if value else "(none)"
    if name == "volumes":
        return _volume_text(key, value) if value else "(none)"
    if name == "mounts":
        return mount_spec(key, value) if value else "(none)"
    if name == "env" and value is UNSET:
        return "(named without a value)"
    if name == "env":
        return "(unset)" if value is None else repr(value) if (not value or value != value.strip()) else value
    if name == "labels":
        return "(none)" if value is None else (value or "(no options)")
    if name == "maintenance":
        return "on" if value else "off"
    if name in ("entrypoint", "command"):
        return "(the image's)" if value is None else (shlex.join(value) if value else "(empty)")
    return "(none)" if value is None else str(value)


# --- comparison -----------------------------------------------------------------

def _secret_side(value) -> Optional[str]:
    """A secret's side of a difference: whether it is there, never its value (None)."""
    return "(unset)" if value is None else "(named without a value)" if value is UNSET else None


def _ports_equal(running, profile) -> bool:
    """A profile binding without a host port matches whichever port the engine picked, once
    the bindings with a host port have taken theirs."""
    if running == profile:
        return True
    left = list(running)
    for ip, port in sorted(profile, key=lambda b: b[1] is None):
        match = next((b for b in left if b[0] == ip and (port is None or b[1] == port)), None)
        if match is None:
            return False
        left.remove(match)
    return not left


def compare(running: Normal, profile: Normal, secret_names=frozenset()) -> List[Difference]:
    out: List[Difference] = []
    for name in FIELDS:
        a, b = running.fields.get(name), profile.fields.get(name)
        if name in KEYED:
            a, b = a or {}, b or {}
            for key in list(a) + [k for k in b if k not in a]:
                x, y = a.get(key), b.get(key)
                if name == "ports" and x is not None and y is not None and _ports_equal(x, y):
                    continue
                if x == y:
                    continue
                label = f"{KEYED[name]}{key}"
                if name == "env" and (key in secret_names or is_secret_name(key)):
                    out.append(Difference(label, _secret_side(x), _secret_side(y), True))
                else:
                    out.append(Difference(label, _text(name, x, key), _text(name, y, key)))
        elif a != b:
            out.append(Difference(name, _text(name, a), _text(name, b)))
    for name, value in running.extras.items():
        out.append(Difference(name, value, "(not settable in a profile)", note="a recreate drops it"))
    return out


def normals(engine: Engine, spec: RunSpec, current: ContainerInfo):
    """(running, profile) normalised, each against its own image."""
    running_image = engine.image_attrs(current.image_id)
    profile_image = engine.image_attrs(spec.image)
    running = from_inspect(current.attrs, running_image, engine.runtime)
    if profile_image is None and normalize_image(spec.image) == running.fields["image"]:
        profile_image = running_image
    caps = podman_default_caps(current.attrs) if engine.runtime == "podman" else None
    profile = from_spec(spec, profile_image, default_caps=caps)
    if engine.runtime == "podman" and not has_create_command(current.attrs):
        # Without a create command, Podman's injected nofile/nproc cannot be told from chosen ones,
        # nor can z/Z (forgotten once the container started) be seen: compare neither.
        for name in PODMAN_INJECTED_ULIMITS:
            profile.fields["ulimits"].pop(name, None)
        for side in (running, profile):
            side.fields["volumes"] = {t: (kind, source, tuple(o for o in options if o not in ("z", "Z")))
                                      for t, (kind, source, options) in side.fields["volumes"].items()}
        # Nor can a --mount be told from a -v or --tmpfs (the profile's mounts say which are), nor
        # a name given without a value that Podman left out.
        move_to_mounts(running.fields, profile.fields["mounts"])
        profile.fields["env"] = {k: v for k, v in profile.fields["env"].items() if v is not UNSET}
    return running, profile


def config_differences(engine: Engine, spec: RunSpec, current: ContainerInfo) -> List[Difference]:
    running, profile = normals(engine, spec, current)
    mounted, wanted = running.fields["volumes"], profile.fields["volumes"]
    for target, (kind, source, options) in wanted.items():
        # Staged copies moved or changed are not a mount to tell about: the file lines and the
        # hash say what changed in them.
        if target in mounted and staged_digest(source) and staged_digest(mounted[target][1] or ""):
            mounted[target] = (mounted[target][0], source, mounted[target][2])
    secret_names = {name for name, value in spec.env if isinstance(value, SecretRef)}
    return compare(running, profile, secret_names)


def in_place_updates(engine: Engine, spec: RunSpec, found: List[Difference]) -> Dict[str, Any]:
    """The Engine.update fields that set every difference back to the profile, or {} when one of
    them needs a recreate. An update cannot lift a limit, only set one."""
    c = spec.container
    wanted = {"restart": c.restart, "memory": c.memory, "cpus": c.cpus}
    if not found or any(d.field not in engine.updatable or wanted[d.field] is None for d in found):
        return {}
    return {d.field: wanted[d.field] for d in found}


def bookkeeping(engine: Engine, spec: RunSpec, current: ContainerInfo, secrets: Dict[str, str],
                config_found: bool) -> List[Difference]:
    """Changed file contents, and a hash that differs with nothing else to show for it."""
    labels = labels_of(engine, current)
    salt = labels.get(SALT_LABEL)
    if not labels.get(HASH_LABEL) or not salt:
        return [Difference("one-run.hash", "(none)", "(this profile)",
                           note="the container was not created by one-run; apply adopts it as it is when nothing "
                                "else differs and the profile stages no files, and recreates it otherwise")]
    wanted = config_hash(spec, secrets, salt)
    if labels[HASH_LABEL] == wanted:
        if not config_found:
            return []
        return [Difference("one-run.hash", wanted[:12], wanted[:12],
                           note="the container was changed after the apply (e.g. by `docker update`); apply "
                                "sets it back in place where the engine can, and recreates it otherwise")]
    out = []
    if INPUTS_LABEL in labels:
        applied, now = parse_input_label(labels[INPUTS_LABEL]), parse_input_label(input_label(spec, salt))
        paths = input_paths(spec)
        for name in applied:
            if name in now and now[name] != applied[name]:
                out.append(Difference(FILE_KEYS.get(name, name), f"as applied ({applied[name][:8]})",
                                      f"changed on disk ({now[name][:8]})",
                                      note=f"the contents of {paths.get(name)} changed since the last apply"))
    if out or config_found:
        return out
    if INPUTS_LABEL not in labels and spec.inputs:
        note = ("a file the profile mounts (cert, keys, patch, hooks) or the profile's wording changed since "
                "the last apply; this container has no one-run.inputs label to tell which")
    else:
        note = ("the profile changed in a way that does not change the container (e.g. the pull policy, or a value "
                "now passed as a secret reference); apply recreates it to record the new hash")
    return [Difference("one-run.hash", labels[HASH_LABEL][:12], wanted[:12], note=note)]


def image_difference(engine: Engine, spec: RunSpec, current: ContainerInfo) -> List[Difference]:
    """Same reference, other image: the tag moved (pull, rebuild) since the container was created."""
    image = engine.image_attrs(spec.image)
    running = current.image_id.split(":")[-1]
    if image is None:
        if spec.container.pull == "never":
            return []
        return [Difference("image id", running[:12], "(not here)", note=f"apply pulls {spec.image} first")]
    wanted = image["Id"].split(":")[-1]
    if wanted != running:
        return [Difference("image id", running[:12], wanted[:12], note=f"{spec.image} now points to another image")]
    return []


def differences(engine: Engine, spec: RunSpec, current: ContainerInfo) -> List[Difference]:
    """Everything `apply` would change. An unreadable secret is a UsageError, as for apply."""
    secrets = resolve_env(spec)[1]
    found = config_differences(engine, spec, current)
    same_image = not any(d.field == "image" for d in found)
    # A moved tag is not a change made to the container after the apply: apply recreates for it.
    return found + (image_difference(engine, spec, current) if same_image else []) + \
        bookkeeping(engine, spec, current, secrets, bool(found))


def recreate_reasons(engine: Engine, spec: RunSpec, current: ContainerInfo) -> List[str]:
    """For apply's plan: the reasons for a recreate (the image ID is apply's own reason)."""
    secrets = resolve_env(spec)[1]  # apply has read them (strictly) just before
    found = config_differences(engine, spec, current)
    return [d.line() for d in found + bookkeeping(engine, spec, current, secrets, bool(found))]
