"""A container's configuration in one normalised shape, made either from a RunSpec (what
`apply` would create) or from an engine's inspect document (what runs), so that the two
compare field by field and `capture` can write a profile from the second.

Both sides go through the same rules (measured on Docker 20.10 and Podman 4.3):

* What the image sets is subtracted: env entries and labels equal to the image's, anonymous
  volumes at the image's VOLUME paths, an entrypoint/cmd equal to the image's.
* What the engine injects is dropped: Podman's env `container=podman`, `TERM=xterm`,
  `HOME=/root`, `HOSTNAME=<hostname>` and, for an image without PATH, its default PATH; the generated hostname (the ID's first 12
  characters); the default shm size (Docker 64 MiB, Podman 64000 KiB); Podman's
  RLIMIT_NOFILE/NPROC unless the create command named them; Podman's empty restart policy
  (= "no"); Podman's z/Z, which it forgets once the container started, are taken from its
  create command (and not compared without one); the default network (Docker
  "default"/"bridge", Podman "bridge" on network "podman"); Podman's caps reported against its
  default set (`--cap-drop ALL` as each of them; on a privileged container, its computed caps
  and security options, and no devices: it ignores --device there); the volume options a mount
  has by default, per runtime and kind (VOLUME_DEFAULT_OPTIONS: Podman's nosuid,nodev on named
  volumes only, the rprivate propagation, never `private`); the tmpfs options rw, rprivate,
  nosuid, nodev, tmpcopyup, and Podman's own tmpfs at /run, /tmp, /var/tmp of a read-only
  container; one-run's own labels and systemd's PODMAN_SYSTEMD_UNIT.
* Values are put in one spelling: caps without `CAP_`, image references with registry and
  tag, sizes in bytes, anonymous volumes (64 hex digits, also when carried over by name) as
  anonymous, device permissions `rwm` when empty, Podman's security options as its inspect
  reports them (label= options one by one, no `no-new-privileges=false`, no mask/unmask).
* Order counts only where the engine cares (dns, entrypoint, command).

Options the profile cannot express are kept apart (`extras`): capture lists them, diff
reports them as what a recreate would drop.
"""
import json
import os
import re
import socket
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from .options import (BY_KEY, FLAGS, KEPT, Seen, cap_name, create_command_values, has_create_command, inspect_fields,
                      spec_fields)
from .profile import SecretRef
from .runspec import RunSpec
from .secrets import secret_value
from .values import PROPAGATION_OPTIONS, Mount, parse_mount, parse_ports

# The table's options the container keeps, then those of a shape of their own.
FIELDS = ("image", "maintenance", *(o.key for o in KEPT),
          "ports", "env", "volumes", "mounts", "labels", "entrypoint", "command")

PODMAN_ENV = {"container": "podman", "TERM": "xterm", "HOME": "/root"}
# What Podman sets PATH to when the image has none (containers/common's DefaultEnvVariables).
PODMAN_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
ENGINE_LABELS = ("PODMAN_SYSTEMD_UNIT",)
# The options a mount has when none are given, per (runtime, kind), as the engines report
# them: Docker's HostConfig.Binds holds only what was given, with rprivate propagation;
# Podman's Mounts[].Options says rbind, and nosuid,nodev on a named volume but not on a bind
# (a plain bind is suid, dev; either kind is exec), its .Propagation rprivate. An option
# here only restates the default (`suid` on a Podman bind), so it is not compared; `private`
# is not the default (rprivate is) and is reported as given (Binds, .Propagation).
VOLUME_DEFAULT_OPTIONS = {
    ("docker", "bind"): {"rw", "rprivate"},
    ("docker", "volume"): {"rw"},
    ("podman", "bind"): {"rw", "rbind", "rprivate", "suid", "dev", "exec"},
    ("podman", "volume"): {"rw", "rbind", "rprivate", "nosuid", "nodev", "exec"},
}
PODMAN_READ_ONLY_TMPFS = ("/run", "/tmp", "/var/tmp")
PRIVILEGED_SECURITY_OPT = {"label=disable", "seccomp=unconfined", "apparmor=unconfined"}
_ANONYMOUS_RE = re.compile(r"^[0-9a-f]{64}$")
SECRET_WORDS = ("PASS", "TOKEN", "SECRET", "KEY", "CREDENTIAL", "AUTH", "PRIVATE")  # PASS: PASSWORD, PASSWD


class _Unset:
    """An env name given without a value that the container keeps so: Docker's `-e NAME` with NAME
    unset, which also takes away the image's NAME (measured on 20.10); Podman 4.3 leaves such a
    name out, and only its create command still names it."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET = _Unset()


@dataclass
class Normal:
    fields: Dict[str, Any]
    # Running side only: options the profile model has no key for, where not at the engine default.
    extras: Dict[str, str] = field(default_factory=dict)
    # (volume name, container path, declared by the image) of the anonymous volumes.
    anonymous: List[Tuple[str, str, bool]] = field(default_factory=list)
    # Things normalisation could not decide (said on stderr by capture).
    notes: List[str] = field(default_factory=list)


def is_secret_name(name: str) -> bool:
    """The image reference's secret parameters, or a name that says it holds a secret."""
    from .validate import image_parameters

    param = image_parameters().get(name)
    if param is not None:
        return bool(param["secret"])
    upper = name.upper()
    return any(word in upper for word in SECRET_WORDS)


def is_anonymous_name(name: str) -> bool:
    return bool(_ANONYMOUS_RE.match(name or ""))


def normalize_image(ref: str) -> str:
    """`busybox` and `docker.io/library/busybox:latest` are one image reference."""
    if not ref or ref.startswith("sha256:"):
        return ref
    name, digest = (ref.split("@", 1) + [""])[:2]
    first, _, rest = name.partition("/")
    if not rest or ("." not in first and ":" not in first and first != "localhost"):
        name = "docker.io/" + name
    if name.startswith("docker.io/") and name.count("/") == 1:
        name = "docker.io/library/" + name[len("docker.io/"):]
    if ":" not in name.rsplit("/", 1)[-1] and not digest:
        name += ":latest"
    return f"{name}@{digest}" if digest else name


def _image_config(image: Optional[dict]) -> dict:
    cfg = (image or {}).get("Config") or {}
    if "Healthcheck" not in cfg and (image or {}).get("Healthcheck"):  # Podman's is beside Config, not in it
        cfg = {**cfg, "Healthcheck": image["Healthcheck"]}
    return cfg


def env_dict(items: Iterable[str]) -> Dict[str, str]:
    out: Dict[str, str] = {}
    for item in items or ():
        name, _, value = item.partition("=")
        out[name] = value
    return out


def _volume_options(options: Iterable[str], runtime: str, kind: str) -> Tuple[str, ...]:
    defaults = VOLUME_DEFAULT_OPTIONS.get((runtime, kind), set())
    return tuple(sorted({o for o in options if o and o not in defaults}))


def _bindings(pairs: Iterable[Tuple[str, Optional[int]]]) -> Tuple[Tuple[str, Optional[int]], ...]:
    cleaned = {("" if ip in ("", "0.0.0.0") else ip, port) for ip, port in pairs}
    return tuple(sorted(cleaned, key=lambda b: (b[0], b[1] or 0)))


def _command(cmd, image_cmd) -> Optional[Tuple[str, ...]]:
    value, default = tuple(cmd or ()), tuple(image_cmd or ())
    return None if value == default else value


def _common_env(env: Dict[str, str], image_env: Dict[str, str], runtime: str, hostname: Optional[str]):
    """Drop what the image and the engine put there; split off MAINTENANCE_MODE."""
    out = {}
    for name, value in env.items():
        if name in image_env and image_env[name] == value:
            continue
        if runtime == "podman" and (PODMAN_ENV.get(name) == value or (name == "HOSTNAME" and value == hostname)):
            continue
        if runtime == "podman" and name == "PATH" and "PATH" not in image_env and value == PODMAN_DEFAULT_PATH:
            continue
        out[name] = value
    maintenance = out.get("MAINTENANCE_MODE") == "yes"
    if out.get("MAINTENANCE_MODE") in ("yes", "no"):  # "no" is the image's default
        del out["MAINTENANCE_MODE"]
    return out, maintenance


def _labels(labels: Dict[str, str], image_labels: Dict[str, str]) -> Dict[str, str]:
    return {k: v for k, v in sorted((labels or {}).items())
            if not k.startswith("one-run.") and k not in ENGINE_LABELS and (image_labels or {}).get(k, None) != v}


# --- the profile side ---------------------------------------------------------

def spec_env_values(spec: RunSpec) -> Dict[str, Optional[str]]:
    """The spec's environment with secrets read (the callers have read them strictly first);
    None for a pass_env name not set here."""
    return {name: secret_value(value) if isinstance(value, SecretRef) else value for name, value in spec.env}


def _unset_names(env: Dict[str, Optional[str]], image_env: Dict[str, str], runtime: str) -> Dict[str, Any]:
    """pass_env names not set here, as the engine keeps them (see _Unset)."""
    return {name: UNSET if value is None else value for name, value in env.items()
            if value is not None or runtime == "docker" or name not in image_env}


def mount_normal(m: Mount, runtime: str) -> Tuple[str, str, Tuple[str, ...]]:
    """A --mount as (kind, source, options without the engine's defaults)."""
    if m.kind == "tmpfs":
        return ("tmpfs", "", tuple(sorted(m.tmpfs_options(runtime))))
    vol = m.as_volume()
    return (m.kind, vol.source, _volume_options(vol.options, runtime, m.kind))


def from_spec(spec: RunSpec, image: Optional[dict], default_caps: Optional[set] = None) -> Normal:
    """What `apply` would create from `spec`, normalised. `default_caps`: Podman's default
    capability set (as read from a running container), to report caps the way it does."""
    c, runtime = spec.container, spec.runtime
    cfg = _image_config(image)
    image_env = env_dict(cfg.get("Env"))
    hostname = c.hostname
    env, maintenance = _common_env(_unset_names(spec_env_values(spec), image_env, runtime), image_env, runtime,
                                   hostname)

    ports: Dict[str, list] = {}
    for text in c.ports:
        for port in parse_ports(text):
            ports.setdefault(port.key, []).append((port.host_ip, port.host_port))

    image_volumes = set(cfg.get("Volumes") or {})
    volumes = {}
    for vol in spec.volumes:
        target = vol.target.rstrip("/") or "/"
        if vol.kind == "anonymous":
            if target not in image_volumes:
                volumes[target] = ("anonymous", "", ())
        else:
            source = os.path.realpath(vol.source) if vol.kind == "bind" else vol.source
            volumes[target] = (vol.kind, source, _volume_options(vol.options, runtime, vol.kind))
    mounts = {m.target.rstrip("/") or "/": mount_normal(m, runtime) for m in c.mounts}

    options = spec_fields(c, runtime, cfg)
    if runtime == "podman":
        if c.privileged:  # Podman reports a privileged container's caps and security options as its own,
            # and ignores its --device (it has all the host's devices, at their own paths)
            options["cap_add"], options["cap_drop"], options["devices"] = (), (), ()
            options["security_opt"] = tuple(sorted(set(options["security_opt"]) - PRIVILEGED_SECURITY_OPT))
        elif default_caps is not None:  # as it reports them: what the container has against the default set
            dropped = default_caps if "ALL" in options["cap_drop"] else set(options["cap_drop"])
            has = (default_caps - dropped) | set(options["cap_add"])
            options["cap_add"] = tuple(sorted(has - default_caps))
            options["cap_drop"] = podman_drop_all(tuple(sorted(default_caps - has)), default_caps)
    implied_security(options, runtime)
    implied_tmpfs(options, runtime)
    if options["memory_swap"] is not None and options["memory_swap"] == 2 * (options["memory"] or 0):
        options["memory_swap"] = None  # the engines' own swap limit, as inspect reads it (unset)
    entrypoint = tuple(cfg.get("Entrypoint") or ()) if c.entrypoint is None else (c.entrypoint,)
    if c.command is not None:
        command = c.command
    else:
        command = () if c.entrypoint is not None else cfg.get("Cmd")

    fields = {
        "image": normalize_image(c.image),
        "maintenance": maintenance,
        **options,
        "ports": {k: _bindings(v) for k, v in sorted(ports.items(), key=_port_order)},
        "env": env,
        "volumes": dict(sorted(volumes.items())),
        "mounts": dict(sorted(mounts.items())),
        "labels": _labels(dict(c.labels), cfg.get("Labels") or {}),
        "entrypoint": None if entrypoint == tuple(cfg.get("Entrypoint") or ()) else entrypoint,
        "command": _command(command, cfg.get("Cmd")),
    }
    return Normal(fields)


# --- the running side -----------------------------------------------------------

def create_command_relabels(attrs: dict) -> Optional[Dict[str, set]]:
    """Container path → the z/Z options its -v had in the create command (Podman forgets
    them once the container has started), or None without a create command."""
    if not has_create_command(attrs):
        return None
    out: Dict[str, set] = {}
    for spec in create_command_values(attrs, "-v", "--volume"):
        if spec:
            parts = spec.split(":")
            target = parts[1] if len(parts) > 1 else parts[0]
            options = set(parts[2].split(",")) if len(parts) > 2 else set()
            out[target.rstrip("/") or "/"] = options & {"z", "Z"}
    return out


def podman_default_caps(attrs: dict) -> Optional[set]:
    """Podman reports CapAdd/CapDrop against its default set; this recovers that set."""
    if "BoundingCaps" not in attrs or (attrs.get("HostConfig") or {}).get("Privileged"):
        return None
    bounding = attrs["BoundingCaps"] or ()  # null when every capability is dropped
    host = attrs.get("HostConfig") or {}
    return ({cap_name(x) for x in bounding} - {cap_name(x) for x in host.get("CapAdd") or ()}) | \
        {cap_name(x) for x in host.get("CapDrop") or ()}


def podman_drop_all(caps: Tuple[str, ...], default_caps: Optional[set]) -> Tuple[str, ...]:
    """Podman reports `--cap-drop ALL` as each of its default capabilities dropped: one spelling, ALL."""
    if "ALL" in caps or (default_caps and default_caps <= set(caps)):
        return ("ALL",)
    return caps


def implied_tmpfs(options: Dict[str, Any], runtime: str) -> None:
    """Podman mounts a plain tmpfs at /run, /tmp and /var/tmp of a read-only container (its
    --read-only-tmpfs): one given there without options is the same mount."""
    if runtime == "podman" and options.get("read_only"):
        options["tmpfs"] = {path: opts for path, opts in options["tmpfs"].items()
                            if opts or path not in PODMAN_READ_ONLY_TMPFS}


def implied_security(options: Dict[str, Any], runtime: str) -> None:
    """Docker adds label=disable to a privileged container and to one that shares the host's PID
    or IPC namespace."""
    if runtime == "docker" and (options.get("privileged") or "host" in (options.get("pid"), options.get("ipc"))):
        options["security_opt"] = tuple(o for o in options["security_opt"] if o != "label=disable")


def _podman_entrypoint(value, attrs: dict, image_ep: Sequence[str]) -> Tuple[str, ...]:
    """Podman reports the entrypoint as one space-joined string."""
    if not isinstance(value, str):
        return tuple(value or ())
    if value == " ".join(image_ep):
        return tuple(image_ep)
    for given in create_command_values(attrs, "--entrypoint"):
        try:
            parsed = json.loads(given)
            if isinstance(parsed, list) and " ".join(parsed) == value:
                return tuple(parsed)
        except ValueError:
            pass
        if given == value:
            return (given,)
    return tuple(value.split(" ")) if value else ()


def _mounts(attrs: dict, runtime: str, image_volumes: set, skip=frozenset()):
    """volumes dict and the anonymous volumes list from the inspect document; `skip`: the
    targets of Docker's --mount mounts, read apart."""
    host = attrs.get("HostConfig") or {}
    binds = {}
    if runtime == "docker":
        for text in host.get("Binds") or ():
            parts = text.split(":")
            if len(parts) >= 2:
                binds[parts[1].rstrip("/") or "/"] = parts[2].split(",") if len(parts) > 2 else []
        # An anonymous --mount volume (a profile's mounts name theirs) is read as a -v one; its
        # options are in its spec: the Mode Docker reports for it ("z") is no option the user gave.
        for mount in anonymous_long_mounts(attrs):
            binds[(mount.get("Target") or "").rstrip("/") or "/"] = _long_mount_options(mount)
    relabels = (create_command_relabels(attrs) or {}) if runtime == "podman" else {}
    volumes, anonymous = {}, []
    for mount in attrs.get("Mounts") or ():
        kind = mount.get("Type")
        target = (mount.get("Destination") or "").rstrip("/") or "/"
        if kind not in ("bind", "volume") or target in skip:
            continue
        if target in binds:
            options = binds[target]
        else:
            options = [o for o in (mount.get("Mode") or "").split(",") if o]
            options += list(mount.get("Options") or ())
            if mount.get("RW") is False:
                options.append("ro")
            if mount.get("Propagation") and runtime == "podman":
                options.append(mount["Propagation"])
            options += sorted(relabels.get(target, ()))
        if kind == "bind":
            volumes[target] = ("bind", os.path.realpath(mount.get("Source") or ""),
                               _volume_options(options, runtime, "bind"))
        elif is_anonymous_name(mount.get("Name", "")):
            anonymous.append((mount["Name"], target, target in image_volumes))
            if target not in image_volumes:
                volumes[target] = ("anonymous", "", ())
        else:
            volumes[target] = ("volume", mount.get("Name", ""), _volume_options(options, runtime, "volume"))
    return dict(sorted(volumes.items())), sorted(anonymous, key=lambda a: a[1])


def anonymous_long_mounts(attrs: dict) -> List[dict]:
    """Docker's anonymous --mount volumes (HostConfig.Mounts), which a profile writes as -v."""
    return [m for m in (attrs.get("HostConfig") or {}).get("Mounts") or ()
            if (m.get("Type") or "").lower() == "volume" and not m.get("Source")]


# The fields of Docker's HostConfig.Mounts entries that docker_mounts reads (and, for the
# tables, which of their keys).
MOUNT_READ = {"Type": (), "Source": (), "Target": (), "ReadOnly": (), "BindOptions": ("Propagation",),
              "VolumeOptions": ("NoCopy",), "TmpfsOptions": ("SizeBytes", "Mode")}


def docker_mounts(attrs: dict) -> List[Mount]:
    """Docker's --mount binds, named volumes and tmpfs (HostConfig.Mounts), as a profile's mounts."""
    out = []
    for m in (attrs.get("HostConfig") or {}).get("Mounts") or ():
        kind = (m.get("Type") or "").lower()
        if kind not in ("bind", "volume", "tmpfs") or (kind == "volume" and not m.get("Source")):
            continue
        tmpfs = m.get("TmpfsOptions") or {}
        source = os.path.realpath(m["Source"]) if kind == "bind" else m.get("Source") or ""
        out.append(Mount("", kind, m.get("Target") or "", source, bool(m.get("ReadOnly")),
                         (m.get("BindOptions") or {}).get("Propagation") or "",
                         bool((m.get("VolumeOptions") or {}).get("NoCopy")), tmpfs.get("SizeBytes") or None,
                         tmpfs.get("Mode")))
    return out


def podman_mount_targets(attrs: dict) -> List[str]:
    """The targets of the --mount options of a Podman create command: its inspect reports them
    exactly as it reports -v and --tmpfs (measured on 4.3), so only the create command tells."""
    targets = []
    for text in create_command_values(attrs, "--mount"):
        try:
            targets.append(parse_mount(text, "podman").target.rstrip("/") or "/")
        except ValueError:
            continue
    return targets


MOUNT_WORDS = {"ro": "ro", "nocopy": "volume-nocopy", "size": "tmpfs-size", "mode": "tmpfs-mode"}


def mount_spec(target: str, value: Tuple[str, str, Tuple[str, ...]]) -> str:
    """A normal mount as the profile's mounts write it (ro, which both engines take on every kind)."""
    kind, source, options = value
    words = [f"type={kind}"] + ([f"source={source}"] if source else []) + [f"target={target}"]
    for opt in options:
        name, eq, rest = opt.partition("=")
        if opt in PROPAGATION_OPTIONS:
            words.append(f"bind-propagation={opt}")
        else:
            words.append(MOUNT_WORDS.get(name, name) + eq + rest)
    return ",".join(words)


def move_to_mounts(fields: Dict[str, Any], targets: Iterable[str]) -> None:
    """Podman: the volumes and tmpfs at `targets` are read as the --mount mounts they were made by."""
    for target in targets:
        if target in fields["volumes"] and fields["volumes"][target][0] != "anonymous":
            fields["mounts"][target] = fields["volumes"].pop(target)
        elif target in (fields.get("tmpfs") or {}):
            options = []
            for opt in fields["tmpfs"].pop(target).split(","):
                if opt.startswith("mode="):
                    opt = f"mode={int(opt[5:], 8):o}"
                if opt:
                    options.append(opt)
            fields["mounts"][target] = ("tmpfs", "", tuple(sorted(options)))
    fields["mounts"] = dict(sorted(fields["mounts"].items()))


def _long_mount_options(mount: dict) -> List[str]:
    options = ["ro"] if mount.get("ReadOnly") else []
    propagation = (mount.get("BindOptions") or {}).get("Propagation")
    if propagation:
        options.append(propagation)
    if (mount.get("VolumeOptions") or {}).get("NoCopy"):
        options.append("nocopy")
    return options


def bare_env_names(attrs: dict, runtime: str) -> List[str]:
    """The env names given without a value that the container keeps so (see _Unset): Docker's
    Config.Env entries without "=", Podman's create command's that Config.Env lacks."""
    env = (attrs.get("Config") or {}).get("Env") or ()
    if runtime == "docker":
        return [item for item in env if "=" not in item]
    named = {item.partition("=")[0] for item in env}
    return [value for value in create_command_values(attrs, "-e", "--env") if "=" not in value and value not in named]


def from_inspect(attrs: dict, image: Optional[dict], runtime: str) -> Normal:
    """What runs, normalised; `image` is the inspect document of the image it runs."""
    cfg, host = attrs.get("Config") or {}, attrs.get("HostConfig") or {}
    icfg = _image_config(image)
    notes: List[str] = []
    if image is None:
        notes.append("the container's image is gone, so its defaults could not be told from choices")

    # Podman's HOSTNAME is the host's own in the host's UTS namespace.
    hostname = socket.gethostname() if host.get("UTSMode") == "host" else cfg.get("Hostname")
    given = {**env_dict(e for e in cfg.get("Env") or () if "=" in e),
             **{name: UNSET for name in bare_env_names(attrs, runtime)}}
    env, maintenance = _common_env(given, env_dict(icfg.get("Env")), runtime, hostname)
    for mount in anonymous_long_mounts(attrs):
        notes.append(f"the --mount at {mount.get('Target')} (an anonymous volume) is written as a -v volume: the "
                     "same mount, but a profile's mounts name their volumes")

    if runtime == "podman":
        env = _create_command_order(env, attrs)
    ports = {}
    picked = _create_command_picked_ports(attrs) if runtime == "podman" else {}
    # Podman reports the host ports -P picked for the exposed ports as bindings (Docker keeps them
    # out of HostConfig): only the -p ports of its create command are the profile's.
    published = _create_command_published(attrs) if runtime == "podman" and \
        (cfg.get("Annotations") or {}).get("io.podman.annotations.publish-all") == "TRUE" else None
    for key, bindings in sorted((host.get("PortBindings") or {}).items(), key=_port_order):
        if bindings and (published is None or key in published):
            pairs = [(b.get("HostIp") or "", int(b["HostPort"]) if b.get("HostPort") else None) for b in bindings]
            for ip, explicit in picked.get(key, ()):
                chosen = [p for p in pairs if p[0] == ip and p[1] is not None and p[1] not in explicit]
                if chosen:  # Podman reports the port it picked; the user asked for any
                    pairs[pairs.index(chosen[0])] = (ip, None)
            ports[key] = _bindings(pairs)

    image_volumes = set(icfg.get("Volumes") or {})
    mounts = dict(sorted((m.target.rstrip("/") or "/", mount_normal(m, runtime)) for m in docker_mounts(attrs))) \
        if runtime == "docker" else {}
    volumes, anonymous = _mounts(attrs, runtime, image_volumes, set(mounts))

    options = inspect_fields(Seen(attrs, cfg, host, icfg, runtime, notes))
    implied_security(options, runtime)
    implied_tmpfs(options, runtime)
    if runtime == "podman" and not options["privileged"]:
        options["cap_drop"] = podman_drop_all(options["cap_drop"], podman_default_caps(attrs))
    if runtime == "podman" and options["privileged"]:
        options["cap_add"], options["cap_drop"] = (), ()
        options["security_opt"] = tuple(sorted(set(options["security_opt"]) - PRIVILEGED_SECURITY_OPT))

    image_ep = tuple(icfg.get("Entrypoint") or ())
    entrypoint = _podman_entrypoint(cfg.get("Entrypoint"), attrs, image_ep) if runtime == "podman" \
        else tuple(cfg.get("Entrypoint") or ())
    fields = {
        "image": normalize_image(attrs.get("ImageName") or cfg.get("Image") or ""),
        "maintenance": maintenance,
        **options,
        "ports": ports,
        "env": env,
        "volumes": volumes,
        "mounts": mounts,
        "labels": _labels(cfg.get("Labels") or {}, icfg.get("Labels") or {}),
        "entrypoint": None if entrypoint == image_ep else entrypoint,
        "command": _command(cfg.get("Cmd"), icfg.get("Cmd")),
    }
    if runtime == "podman":
        move_to_mounts(fields, podman_mount_targets(attrs))
    return Normal(fields, _extras(attrs, image, runtime), anonymous, notes)


def _port_order(item) -> Tuple[int, str]:
    port, _, proto = item[0].partition("/")
    return (int(port) if port.isdigit() else 0, proto)


def _create_command_published(attrs: dict) -> set:
    """The port keys the create command's -p options name."""
    keys = set()
    for text in create_command_values(attrs, "-p", "--publish"):
        try:
            keys.update(port.key for port in parse_ports(text))
        except ValueError:
            continue
    return keys


def _create_command_picked_ports(attrs: dict) -> Dict[str, List[Tuple[str, set]]]:
    """Port key → [(host ip, host ports given explicitly)] for each -p without a host port in
    the create command: Podman reports the port it picked for those, Docker an empty one."""
    parsed = []
    for text in create_command_values(attrs, "-p", "--publish"):
        try:
            parsed += parse_ports(text)
        except ValueError:
            continue
    out: Dict[str, List[Tuple[str, set]]] = {}
    for port in parsed:
        if port.host_port is None:
            explicit = {p.host_port for p in parsed if p.key == port.key and p.host_port is not None}
            out.setdefault(port.key, []).append((port.host_ip, explicit))
    return out


def _create_command_order(env: Dict[str, str], attrs: dict) -> Dict[str, str]:
    """Podman does not keep the env's order; its create command does."""
    order = [value.split("=", 1)[0] for value in create_command_values(attrs, "-e", "--env")]
    rank = {name: i for i, name in enumerate(order)}
    return dict(sorted(env.items(), key=lambda kv: rank.get(kv[0], len(rank))))


# The annotations Podman 4.3 sets itself (what --rm, --init, -P, --privileged... say; the CLI's manager).
PODMAN_OWN_ANNOTATIONS = ("io.podman.annotations.", "io.kubernetes.cri-o.", "io.container.manager",
                          "org.opencontainers.")


def _extras(attrs: dict, image: Optional[dict], runtime: str) -> Dict[str, str]:
    """Run options set on the container that the profile model has no key for."""
    cfg, host = attrs.get("Config") or {}, attrs.get("HostConfig") or {}
    icfg = _image_config(image)
    out: Dict[str, str] = {}

    def note(name, value):
        if value not in (None, "", 0, False, [], {}):
            out[name] = value if isinstance(value, str) else json.dumps(value)

    if (cfg.get("User") or "") != (icfg.get("User") or ""):
        out["user"] = cfg.get("User") or "(the image's user)"
    workdir = cfg.get("WorkingDir") or ""
    if workdir not in ("", "/") and workdir != (icfg.get("WorkingDir") or ""):
        out["workdir"] = workdir
    note("domainname", cfg.get("Domainname"))
    note("tty", cfg.get("Tty"))
    note("interactive", cfg.get("OpenStdin"))
    # `docker create -i` (no -d) sets it for an attached start: stdin closes after the first
    # client detaches. one-run creates as `run -d -i` does, without it: named, not dropped silently.
    note("stdin_once", cfg.get("StdinOnce"))
    if not (runtime == "podman" and host.get("NanoCpus")):  # Podman keeps --cpus as a quota and period too
        note("cpu_quota", host.get("CpuQuota"))
        note("cpu_period", host.get("CpuPeriod"))
    for key, name in (("MemoryReservation", "memory_reservation"), ("CpuShares", "cpu_shares"),
                      ("CpusetCpus", "cpuset_cpus"), ("CpusetMems", "cpuset_mems"), ("BlkioWeight", "blkio_weight"),
                      ("OomKillDisable", "oom_kill_disable"), ("OomScoreAdj", "oom_score_adj"),
                      ("ReadonlyRootfs", "read_only"), ("AutoRemove", "rm"), ("Init", "init"),
                      ("PublishAllPorts", "publish_all"), ("VolumesFrom", "volumes_from"), ("Links", "links"),
                      ("GroupAdd", "group_add"), ("Sysctls", "sysctls"), ("DnsOptions", "dns_options"),
                      ("DnsSearch", "dns_search"), ("CgroupParent", "cgroup_parent"),
                      ("DeviceCgroupRules", "device_cgroup_rule"), ("DeviceRequests", "gpus"),
                      ("UsernsMode", "userns")):
        note(name, host.get(key))
    # Measured falsy by default on both engines (Docker 20.10, Podman 4.3): named when set.
    for key, name in (("BlkioWeightDevice", "blkio_weight_device"), ("BlkioDeviceReadBps", "device_read_bps"),
                      ("BlkioDeviceWriteBps", "device_write_bps"), ("BlkioDeviceReadIOps", "device_read_iops"),
                      ("BlkioDeviceWriteIOps", "device_write_iops"), ("CpuRealtimePeriod", "cpu_rt_period"),
                      ("CpuRealtimeRuntime", "cpu_rt_runtime"), ("Isolation", "isolation"),
                      ("KernelMemory", "kernel_memory"), ("VolumeDriver", "volume_driver"),
                      ("StorageOpt", "storage_opt"), ("CgroupConf", "cgroup_conf")):
        note(name, host.get(key))
    if host.get("MemorySwappiness") not in (None, -1, 0 if runtime == "podman" else None):
        out["memory_swappiness"] = str(host["MemorySwappiness"])
    if runtime == "podman":  # what only Podman's inspect holds, with its defaults
        note("timeout", cfg.get("Timeout"))
        note("tz", cfg.get("Timezone"))
        note("chrootdirs", cfg.get("ChrootDirs"))
        if cfg.get("Umask") not in (None, "", "0022"):
            out["umask"] = cfg["Umask"]
        if cfg.get("HealthcheckOnFailureAction") not in (None, "", "none"):
            out["health_on_failure"] = cfg["HealthcheckOnFailureAction"]
        if cfg.get("Passwd") is False:
            out["passwd"] = "false"
        note("annotations", {k: v for k, v in (cfg.get("Annotations") or {}).items()
                             if not k.startswith(PODMAN_OWN_ANNOTATIONS)})
        # What else its create command set that no key carries (options.FLAGS), read from the
        # words before the image: a container command's own words are not flags of Podman's.
        argv = cfg.get("CreateCommand") or []
        image = attrs.get("ImageName") or cfg.get("Image")
        words = argv[:argv.index(image)] if image in argv else argv
        for flag, (verdict, _) in FLAGS.items():
            name = flag.lstrip("-").replace("-", "_")
            if verdict in ("named", "unnamed") and name not in out and \
                    any(word == flag or word.startswith(flag + "=") for word in words):
                out[name] = "set by its create command"
    swap = host.get("MemorySwap")
    if swap not in (None, 0, -1) and swap != 2 * (host.get("Memory") or 0):
        out["memory_swap"] = str(swap)
    pids = host.get("PidsLimit")
    if pids not in (None, 0, -1) and not (runtime == "podman" and pids == 2048):
        out["pids_limit"] = str(pids)
    for key, name, defaults in (("IpcMode", "ipc", ("", "private", "shareable")),
                                ("PidMode", "pid", ("", "private")), ("UTSMode", "uts", ("", "private"))):
        if (host.get(key) or "") not in defaults:
            out[name] = host[key]
    log = (host.get("LogConfig") or {}).get("Type")
    if runtime == "docker" and log not in (None, "", "json-file"):
        out["log_driver"] = log
    if runtime == "docker":
        note("mac_address", cfg.get("MacAddress"))
        if (cfg.get("StopSignal") or "") not in ("", "SIGTERM", "15", icfg.get("StopSignal") or "SIGTERM"):
            out["stop_signal"] = cfg["StopSignal"]
    elif cfg.get("StopSignal") not in (None, 15):
        out["stop_signal"] = str(cfg["StopSignal"])
    networks = (attrs.get("NetworkSettings") or {}).get("Networks") or {}
    if len(networks) > 1:
        out["networks"] = ", ".join(sorted(networks))
    for mount in host.get("Mounts") or ():  # docker --mount: binds, volumes and tmpfs are read above
        if (mount.get("Type") or "").lower() not in ("bind", "volume", "tmpfs"):
            out[f"mount {mount.get('Target')}"] = json.dumps(mount)
            continue
        unread = {key: value for key, value in mount.items() if key not in MOUNT_READ and value}
        for key, read in MOUNT_READ.items():
            rest = {k: v for k, v in (mount.get(key) or {}).items() if k not in read and v} if read else {}
            if rest:
                unread[key] = rest
        if unread:  # e.g. volume-opt, volume-label, consistency: a profile's mounts do not take them
            out[f"mount {mount.get('Target')} options"] = json.dumps(unread)
    return {name: value for name, value in out.items() if name not in BY_KEY}  # the table's are read above
