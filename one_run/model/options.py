"""The run options of [container], each declared once.

An Option states everything about one `docker run` / `podman run` option: its profile key,
type and checks, its documentation, its words on the run command, its docker-py create
arguments, its libpod create fields, how each engine's inspect reports it (engine defaults
folded away), how capture writes it back and how diff shows it. profile, render, both
engine backends, normalize, capture, diff and docs loop over OPTIONS and name no option
themselves.

The options with a shape of their own (name, image, ports, env, pass_env, volumes, mounts,
labels, entrypoint, command) and the rules that tie options together (Podman reports the caps and
security options of a privileged container as its own) stay where they are.

Adding an option: one entry in OPTIONS, built with the helpers below; tests/test_options.py
generates its tests (validation, render on both runtimes, apply and inspect read back,
capture round trip, diff) from the entry's `sample` and `bad` values.
"""
import json
import re
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

from . import values
from .values import human_size

RUNTIMES = ("docker", "podman")
# Run options one-run refuses for a deployment it recreates, by the name a profile or capture would
# give them: (the flag, why). validate refuses the key with the reason, capture names the flag with it.
NOT_CARRIED = {
    "rm": ("--rm", "the engine removes such a container when it stops, so a `docker stop`, a crash or a reboot "
                   "would leave no deployment and nothing to roll back to; one-run keeps the container and "
                   "recreates it from the profile (restart = \"unless-stopped\" brings it back after a reboot)"),
    "links": ("--link", "a legacy Docker feature that ties the container to another one's name and address at "
                        "its create; put both on a user-defined network ([container] network) and use the "
                        "other's name"),
    "volumes_from": ("--volumes-from", "it mounts the volumes of another container, which one-run does not "
                                       "manage: its snapshots, backups, switch and shared-volume guard would not "
                                       "see them; name those volumes in [container] volumes instead"),
}

# Every flag of `docker create` (20.10) and `podman create` (4.3) that is not an entry of OPTIONS, and
# what one-run does with it (tests/test_flag_inventory.py holds both CLIs' --help to this):
#   key: a profile key of its own shape; refused: NOT_CARRIED; create-time: it leaves nothing on
#   the container to carry (what it does lands where one-run reads it, or concerns the CLI alone);
#   named: not carried, and capture and diff name it on a container (normalize's extras);
#   unnamed: not carried, and not yet seen by capture: a container made with it is not recreated exactly.
_KEY, _REFUSED, _CREATE, _NAMED, _UNNAMED = "key", "refused", "create-time", "named", "unnamed"
FLAGS = {
    "--name": (_KEY, "[container] name"), "--publish": (_KEY, "[container] ports"),
    "--env": (_KEY, "[env], or [container] pass_env for -e NAME"), "--volume": (_KEY, "[container] volumes"),
    "--mount": (_KEY, "[container] mounts"), "--label": (_KEY, "[container] labels"),
    "--entrypoint": (_KEY, "[container] entrypoint"),
    **{flag: (_REFUSED, why) for flag, why in NOT_CARRIED.values()},
    "--attach": (_CREATE, "attaches the CLI to a start; one-run runs detached"),
    "--cidfile": (_CREATE, "writes the ID to a file on the client"),
    "--conmon-pidfile": (_CREATE, "writes a PID to a file on the host"),
    "--pidfile": (_CREATE, "writes a PID to a file on the host"),
    "--quiet": (_CREATE, "the CLI's pull output"), "--help": (_CREATE, "the CLI's help"),
    "--authfile": (_CREATE, "registry credentials for the pull"), "--tls-verify": (_CREATE, "the pull's TLS"),
    "--disable-content-trust": (_CREATE, "image verification at the pull (a no-op in Podman)"),
    "--platform": (_CREATE, "picks the image; the container records the image it runs"),
    "--arch": (_CREATE, "picks the image"), "--os": (_CREATE, "picks the image"),
    "--variant": (_CREATE, "picks the image"),
    "--replace": (_CREATE, "replaces a container of that name; apply's swap does that safely"),
    "--env-file": (_CREATE, "its variables land in the container's environment, which [env] carries"),
    "--label-file": (_CREATE, "its labels land in the container's labels, which [container] labels carries"),
    "--env-host": (_CREATE, "the host's variables land in the environment, which [env] carries"),
    "--env-merge": (_CREATE, "merged variables land in the environment, which [env] carries"),
    "--http-proxy": (_CREATE, "proxy variables land in the environment, which [env] carries"),
    "--unsetenv": (_CREATE, "the environment it leaves is what [env] carries"),
    "--unsetenv-all": (_CREATE, "the environment it leaves is what [env] carries"),
    **{flag: (_NAMED, "no profile key yet; capture and diff name it") for flag in (
        "--cpu-quota", "--cpu-period", "--blkio-weight", "--oom-kill-disable", "--cgroup-parent",
        "--device-cgroup-rule", "--gpus", "--userns", "--blkio-weight-device", "--device-read-bps",
        "--device-write-bps", "--device-read-iops", "--device-write-iops", "--cpu-rt-period", "--cpu-rt-runtime",
        "--isolation", "--kernel-memory", "--volume-driver", "--storage-opt", "--cgroup-conf",
        "--memory-swappiness", "--timeout", "--tz", "--chrootdirs", "--umask", "--health-on-failure",
        "--annotation")},
    # Podman-only flags: Podman records them in the container's create command, where normalize reads them.
    **{flag: (_NAMED, "no profile key; Podman keeps it in the container's create command, where capture and diff "
                      "find it") for flag in (
        "--cgroups", "--gidmap", "--uidmap", "--subgidname", "--subuidname", "--hostuser", "--image-volume",
        "--init-path", "--no-hosts", "--passwd-entry", "--personality", "--read-only-tmpfs", "--requires", "--rootfs",
        "--sdnotify", "--seccomp-policy", "--secret", "--systemd")},
    "--pod": (_NAMED, "a container in a pod belongs to the pod's lifecycle, not to one profile; named from Podman's "
                      "create command"),
    "--pod-id-file": (_NAMED, "a container in a pod belongs to the pod's lifecycle, not to one profile; named from "
                              "Podman's create command"),
    "--init-ctr": (_NAMED, "a pod's init container; named from Podman's create command"),
    "--cgroupns": (_UNNAMED, "named on Podman, from its create command; on Docker its default is the host's "
                             "or a private namespace by the cgroup version, and capture does not tell them yet"),
    "--link-local-ip": (_UNNAMED, "a Docker network's link-local address: no profile key, and capture does not see "
                                  "it yet"),
}
MIN_MEMORY = 6 * 1024 ** 2  # Docker refuses a memory limit below this
DEFAULT_STOP_TIMEOUT = 120  # seconds: MySQL inside must flush before SIGKILL (docker's 10 s is too short)
ENGINE_STOP_TIMEOUT = 10  # what both engines use when none was given
DEFAULT_SHM = {"docker": 64 * 1024 ** 2, "podman": 64000 * 1024}
CPU_PERIOD = 100_000  # microseconds, the CFS period `podman run --cpus` uses
PODMAN_INJECTED_ULIMITS = ("nofile", "nproc")


# --- profile value kinds: (what the message calls it, checker) -----------------

def _is_str(v):
    return isinstance(v, str)


def _is_bool(v):
    return isinstance(v, bool)


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_str_list(v):
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _is_str_table(v):
    return isinstance(v, dict) and all(isinstance(x, str) for x in v.values())


def _is_ulimit_table(v):
    return isinstance(v, dict) and all(_is_int(x) or isinstance(x, str) for x in v.values())


def _is_size(v):
    return isinstance(v, str) or _is_int(v)


STRING = ("a string", _is_str)
BOOL = ("true or false", _is_bool)
INT = ("a whole number", _is_int)
NUMBER = ("a number", _is_number)
STRINGS = ("an array of strings", _is_str_list)
STRING_TABLE = ("a table of strings", _is_str_table)


class Seen(NamedTuple):
    """One inspect document as the options read it: the container's Config and HostConfig,
    the image's Config, the runtime, and the notes normalisation could not decide."""

    attrs: dict
    cfg: dict
    host: dict
    image_cfg: dict
    runtime: str
    notes: List[str]


Problems = List[Tuple[str, Optional[str]]]  # (message, fix)


class Option(NamedTuple):
    key: str                      # under [container]
    kind: Tuple[str, Callable]    # profile type: (description, checker)
    meaning: str                  # docs: what it is
    example: str                  # docs: a TOML value
    renders: str                  # docs: what it becomes
    default: Any = None           # the model's value when the key is absent
    default_text: str = ""        # docs, where the model's default does not say it
    runtimes: Tuple[str, ...] = RUNTIMES
    kept: bool = True             # the container keeps it (inspect shows it); pull is apply's only
    # Another option whose value the engine hooks need: they then take (value, that value).
    joined: str = ""
    runtimes_text: str = ""       # docs, where "docker, podman" does not say it
    # profile value -> model value (ValueError: a problem at the key)
    model: Callable[[Any], Any] = lambda v: v
    # model value (and runtime) -> problems, each (message, fix)
    check: Callable[[Any, str], Problems] = lambda v, runtime: []
    # model value -> the groups of words on the run command
    words: Callable[[Any], List[List[str]]] = lambda v: []
    # model value -> docker-py create_host_config() / create_container() keyword arguments
    docker_host: Callable[[Any], dict] = lambda v: {}
    docker_create: Callable[[Any], dict] = lambda v: {}
    # model value -> podman-py create() keyword arguments / libpod create fields (lists extend,
    # tables merge with what is there)
    podman_kwargs: Callable[[Any], dict] = lambda v: {}
    podman_spec: Callable[[Any], dict] = lambda v: {}
    # model value, runtime -> the normal value; Seen -> the normal value
    spec: Callable[[Any, str], Any] = lambda v, runtime: v
    inspect: Callable[[Seen], Any] = lambda seen: None
    # normal value, say(message) -> the profile value, None to leave the key out
    capture: Callable[[Any, Callable[[str], None]], Any] = lambda v, say: v
    # normal value -> diff's display text
    text: Callable[[Any], str] = lambda v: "(none)" if v in (None, (), "") else str(v)
    keyed: str = ""               # diff: a table compared entry by entry, "name." or "name " first
    # image config -> the normal value the image gives (folded to None on both sides, as unset)
    image_default: Optional[Callable[[dict], Any]] = None
    # normal value, image config, runtime -> the normal value as the engine completes it from the image
    image_fill: Optional[Callable[[Any, dict, str], Any]] = None
    sample: Any = None            # tests: a valid profile value the stand-in image runs with
    bad: Any = None               # tests: a value validation refuses
    needs: Dict[str, Any] = {}    # tests: other keys the sample needs (memory_swap needs memory)


# --- helpers for the common shapes -------------------------------------------

def _flag(flag: str):
    """One `--flag VALUE` group when set."""
    return lambda v: [[flag, str(v)]] if v not in (None, "") else []


def _each(flag: str, form: Callable[[Any], str] = str):
    return lambda v: [[flag, form(x)] for x in v]


def _parsed_each(parse) -> Callable[[Any, str], Problems]:
    def check(items, runtime):
        out = []
        for item in items:
            try:
                parse(item)
            except ValueError as exc:
                out.append((f"{item!r}: {exc}", None))
        return out
    return check


def _not_an_option(*values_) -> Problems:
    """A value printed as a word of its own must not read as an option of `docker run`."""
    return [(f"{v!r} starts with \"-\": the printed run command would read it as an option", "remove the leading \"-\"")
            for v in values_ if isinstance(v, str) and v.startswith("-")]


def _list_text(v) -> str:
    return ", ".join(v) if v else "(none)"


def _or_none(v):
    return v or None


def _size_model(v):
    return None if v is None else str(v)


def _size_check(v, runtime) -> Problems:
    if v is None:
        return []
    try:
        values.size_bytes(v)
    except ValueError as exc:
        return [(f"{v!r}: {exc}", None)]
    return []


def _size_text(default: str):
    return lambda v: default if v is None else human_size(v)


def cap_name(name: str) -> str:
    """A capability without its CAP_ prefix, upper case."""
    name = name.upper()
    return name[4:] if name.startswith("CAP_") else name


def cli_caps(caps) -> Optional[List[str]]:
    """--cap-add/--cap-drop as `docker run` sends them: upper case, CAP_ prefixed (but ALL),
    once each, sorted; the daemon keeps them as sent."""
    names = {cap.upper() for cap in caps}
    return sorted(n if n == "ALL" or n.startswith("CAP_") else "CAP_" + n for n in names) or None


def _caps_check(key: str):
    def check(caps, runtime):
        return [(f"{cap!r} is not a capability name", "write it as NET_ADMIN, SYS_ADMIN, ...")
                for cap in caps if not re.match(r"^(CAP_)?[A-Z_]+$", cap.upper()) and cap.upper() != "ALL"]
    return check


def rlimit(value: int) -> int:
    """-1 (unlimited) as libpod takes it: RLIM_INFINITY, as `podman run --ulimit` sends it."""
    return 2 ** 64 - 1 if value == -1 else value


# --- Podman's create command: what its inspect forgets -------------------------

def has_create_command(attrs: dict) -> bool:
    """Whether Podman recorded the command that created the container (the source of what its
    inspect forgets or cannot tell apart: z/Z, chosen ulimits, the env's order, ...)."""
    return bool((attrs.get("Config") or {}).get("CreateCommand"))


def create_command_values(attrs: dict, *flags: str) -> List[str]:
    """The values the create command gave any of `flags`, in order, written either as
    `--flag value` or as `--flag=value`; [] without a create command."""
    argv = (attrs.get("Config") or {}).get("CreateCommand") or []
    found, i = [], 0
    while i < len(argv):
        word = argv[i]
        flag, eq, value = word.partition("=")
        if word in flags and i + 1 < len(argv):
            found.append(argv[i + 1])
            i += 1  # the value is not a flag of its own
        elif eq and flag in flags:
            found.append(value)
        i += 1
    return found


def create_command_ulimits(attrs: dict) -> Optional[set]:
    """Names of the ulimits a Podman create command set, or None without a create command."""
    if not has_create_command(attrs):
        return None
    return {value.split("=", 1)[0].lower() for value in create_command_values(attrs, "--ulimit") if value}


# --- the options of the existing profile ---------------------------------------

def _hostname_inspect(seen: Seen):
    import socket  # here: render never reads an inspect, and socket costs its start-up ~3 ms

    hostname = seen.cfg.get("Hostname") or None
    on_host = seen.host.get("NetworkMode") == "host" or seen.host.get("UTSMode") == "host"
    if hostname == seen.attrs.get("Id", "")[:12] or (on_host and hostname == socket.gethostname()):
        return None  # the engine's: the ID, or the host's own on the host network or UTS namespace
    return hostname


def _restart_inspect(seen: Seen) -> str:
    restart = seen.host.get("RestartPolicy") or {}
    name = restart.get("Name") or "no"  # Podman's empty policy is "no"
    return f"{name}:{restart['MaximumRetryCount']}" \
        if name == "on-failure" and restart.get("MaximumRetryCount") else name


def normal_network(name: Optional[str], runtime: str) -> Optional[str]:
    """None for the engine's default network."""
    if not name or name in ("default", "bridge") or (runtime == "podman" and name == "podman"):
        return None
    return name


def _network_inspect(seen: Seen):
    network = seen.host.get("NetworkMode")
    if seen.runtime == "podman" and network == "bridge":
        names = sorted((seen.attrs.get("NetworkSettings") or {}).get("Networks") or {})
        if len(names) == 1:
            network = names[0]
        else:  # several: the one it was created on (as Docker's NetworkMode); extras list them all
            given = [v.partition(":")[0] for v in create_command_values(seen.attrs, "--network", "--net")]
            network = next((n for n in given if n in names), None)
    return normal_network(network, seen.runtime)


NETNS_MODES = ("host", "none", "bridge", "private", "slirp4netns", "pasta")


def podman_network(network: Optional[str]) -> dict:
    """--network's value as the libpod create payload's netns/networks/network_options, as
    podman's CLI sends it (ParseNetworkFlag): a namespace mode, or the bridge joined to the
    network of that name. podman-py's network_mode would make every value a netns mode."""
    if not network:
        return {}
    mode, _, value = network.partition(":")
    if mode == "container" and value:
        return {"netns": {"nsmode": "container", "value": value}}
    if mode == "ns" and value:
        return {"netns": {"nsmode": "path", "value": value}}
    if mode in ("slirp4netns", "pasta") and value:
        return {"netns": {"nsmode": mode}, "network_options": {mode: value.split(",")}}
    if network in NETNS_MODES:
        return {"netns": {"nsmode": network}}
    return {"netns": {"nsmode": "bridge"}, "networks": {network: {}}}


def podman_security(options) -> dict:
    """--security-opt values (checked by validate, values.parse_security_opt) as the libpod
    create payload's fields, as podman's CLI sends them (parseSecurityOpt); podman-py would
    pass each whole value on as an SELinux option."""
    out: dict = {}
    annotations = {}
    for key, value in map(values.parse_security_opt, options):
        if key == "no-new-privileges":
            out["no_new_privileges"] = value == "true"
        elif key == "label":
            out.setdefault("selinux_opts", []).append(value)
            annotations["io.podman.annotations.label"] = ",label=".join(out["selinux_opts"])
        elif key == "apparmor":
            out["apparmor_profile"] = annotations["io.podman.annotations.apparmor"] = value
        elif key == "seccomp":
            out["seccomp_profile_path"] = annotations["io.podman.annotations.seccomp"] = value
        elif key == "mask":
            out.setdefault("mask", []).extend(value.split(":"))
        elif key == "unmask":
            out.setdefault("unmask", []).append(value)
        elif key == "systempaths":  # =unconfined, the only value it takes
            out.setdefault("unmask", []).append("ALL")
        elif key == "proc-opts":
            out["procfs_opts"] = value.split(",")
    if annotations:
        out["annotations"] = annotations
    return out


def _podman_security_opt(opt: str) -> Optional[str]:
    """A --security-opt as Podman's inspect reports it: no-new-privileges without =true, and
    nothing for the options it does not report (mask, unmask, proc-opts, systempaths)."""
    key, sep, value = opt.partition("=")
    if key == "no-new-privileges":
        return None if sep and value.lower() in ("false", "0") else key
    return None if key in ("mask", "unmask", "proc-opts", "systempaths") else opt


def _security_spec(opts, runtime):
    if runtime == "podman":
        return tuple(sorted(set(filter(None, map(_podman_security_opt, opts)))))
    return tuple(sorted(set(opts)))


def _security_inspect(seen: Seen):
    found = seen.host.get("SecurityOpt") or ()
    if seen.runtime == "podman":  # it reports all label= options as one "label=a,label=b"
        found = [part if i == 0 else "label=" + part for opt in found
                 for i, part in enumerate(opt.split(",label=") if opt.startswith("label=") else [opt])]
    return tuple(sorted(set(found)))


def _extra_hosts_check(items, runtime):
    return _not_an_option(*items) + _parsed_each(values.parse_extra_host)(items, runtime)


def _device_normal(text: str) -> str:
    return ":".join(values.parse_device(text))


def _devices_inspect(seen: Seen):
    # Podman 4.3 reports no permissions (its CgroupPermissions is empty): its create command has them.
    given = {}
    for text in create_command_values(seen.attrs, "--device"):
        try:
            host, inside, perms = values.parse_device(text)
        except ValueError:
            continue
        given[(host, inside)] = perms
    found = []
    for d in seen.host.get("Devices") or ():
        host, inside = d.get("PathOnHost"), d.get("PathInContainer") or d.get("PathOnHost")
        found.append(f"{host}:{inside}:{d.get('CgroupPermissions') or given.get((host, inside), 'rwm')}")
    return tuple(sorted(found))


def _device_capture(devices, say):
    def spec(text):
        host, inside, perms = text.split(":")
        out = host if inside == host else f"{host}:{inside}"
        return out if perms == "rwm" else f"{host}:{inside}:{perms}"
    return [spec(d) for d in devices] or None


TMPFS_DEFAULT_OPTIONS = {"rw", "rprivate", "nosuid", "nodev", "tmpcopyup"}


def tmpfs_options(options: str) -> str:
    """A tmpfs's options without the defaults, sizes in one spelling; in the order given,
    which both engines keep."""
    kept = []
    for opt in (options or "").split(","):
        if not opt or opt in TMPFS_DEFAULT_OPTIONS:
            continue
        if opt.startswith("size="):
            try:
                opt = "size=" + human_size(values.size_bytes(opt[5:]))
            except ValueError:
                pass
        kept.append(opt)
    return ",".join(kept)


def _tmpfs_spec(items, runtime):
    return {path: tmpfs_options(opts) for path, opts in sorted(values.parse_tmpfs(t) for t in items)}


def _tmpfs_podman(items):
    # As `podman run --tmpfs PATH:OPTS` sends it: podman-py's mounts keep only size and mode.
    mounts = [{"destination": path, "type": "tmpfs", "source": "tmpfs", **({"options": opts.split(",")} if opts else {})}
              for path, opts in (values.parse_tmpfs(t) for t in items)]
    return {"mounts": mounts} if mounts else {}


def _shm_spec(v, runtime):
    shm = values.size_bytes(v) if v else None
    return None if shm in (None, DEFAULT_SHM[runtime]) else shm


def _shm_inspect(seen: Seen):
    shm = seen.host.get("ShmSize")
    return None if shm in (None, 0, DEFAULT_SHM[seen.runtime]) else int(shm)


def _memory_check(v, runtime) -> Problems:
    problems = _size_check(v, runtime)
    if v is not None and not problems and values.size_bytes(v) < MIN_MEMORY:
        problems.append((f"memory {v!r} is below the engines' least limit, 6 MiB", "write e.g. \"512m\""))
    return problems


def memory_limits(memory: Optional[str]) -> dict:
    """--memory as both CLIs send it, in docker-py's names: the swap limit is twice the memory,
    as the engines make it when none is given (an update must say so, or it keeps the old swap)."""
    if not memory:
        return {}
    limit = values.size_bytes(memory)
    return {"mem_limit": limit, "memswap_limit": 2 * limit}


def _cpus_podman(v):
    # As `podman run --cpus` sends it; podman-py drops nano_cpus.
    return {"cpu_period": CPU_PERIOD, "cpu_quota": round(v * CPU_PERIOD)} if v else {}


def _cpus_text(v) -> str:
    """The shortest spelling (2, 1.5) unless it loses digits, which %g does past six."""
    short = f"{v:g}"
    return short if float(short) == v else repr(float(v))


def _cpus_capture(v, say):
    if v is None:
        return None
    return int(v // 10 ** 9) if v % 10 ** 9 == 0 else v / 1e9


def _ulimits_model(table):
    out = []
    for name, value in (table or {}).items():
        out.append(values.parse_ulimit(name, value))
    return tuple(out)


def _ulimits_inspect(seen: Seen):
    found = {}
    for u in seen.host.get("Ulimits") or ():
        name = u.get("Name", "").lower()
        name = name[len("rlimit_"):] if name.startswith("rlimit_") else name
        found[name] = (int(u.get("Soft")), int(u.get("Hard")))
    if seen.runtime == "podman":
        chosen = create_command_ulimits(seen.attrs)
        for name in PODMAN_INJECTED_ULIMITS:
            if name in found and (chosen is None or name not in chosen):
                value = found.pop(name)
                if chosen is None:
                    seen.notes.append(f"ulimit {name}={value[0]}:{value[1]} may be Podman's default or a choice "
                                      "(the container has no create command to tell): not captured")
    return dict(sorted(found.items()))


def _stop_timeout_capture(v, say):
    if v < DEFAULT_STOP_TIMEOUT:
        say(f"note: the container stops with a {v} s timeout, kept as stop_timeout; "
            f"one-run's default is {DEFAULT_STOP_TIMEOUT} s so MySQL can flush before SIGKILL")
    return v


# --- helpers of the options added with the table -------------------------------

def _bool_option(key: str, flag: str, meaning: str, inspect: Callable[[Seen], Any], docker_host: str = "",
                 docker_create: str = "", podman: str = "", runtimes=RUNTIMES) -> Option:
    """A switch: `flag` when true; false is the engines' default."""
    return Option(
        key, BOOL, meaning, "true", f"`{flag}`", default=False, default_text="false", runtimes=runtimes,
        words=lambda v: [[flag]] if v else [],
        docker_host=lambda v: {docker_host: True} if v and docker_host else {},
        docker_create=lambda v: {docker_create: True} if v and docker_create else {},
        podman_spec=lambda v: {podman: True} if v and podman else {},
        spec=lambda v, runtime: bool(v), inspect=lambda seen: bool(inspect(seen)),
        capture=lambda v, say: True if v else None, text=lambda v: "true" if v else "false", sample=True, bad="yes")


def _cpuset_option(key: str, meaning: str, what: str, example: str, libpod: str, field: str, bad: str) -> Option:
    """A cpuset list (--cpuset-cpus, --cpuset-mems): "0-3", "0,2"."""
    flag = "--" + key.replace("_", "-")
    return Option(
        key, STRING, meaning, f'"{example}"', f"`{flag}`", default_text="all",
        check=lambda v, runtime: [] if re.match(r"^\d+(-\d+)?(,\d+(-\d+)?)*$", v) else
        [(f"{key} {v!r} is not a list of {what}", "write e.g. \"0-3\" or \"0,2\"")],
        words=_flag(flag), docker_host=lambda v: {key: v} if v else {},
        podman_spec=lambda v: _resource(("cpu", libpod), v) if v else {},
        spec=lambda v, runtime: v or None, inspect=lambda seen: seen.host.get(field) or None, sample="0", bad=bad)


def _int_check(low: int, high: Optional[int] = None):
    def check(v, runtime):
        if v < low or (high is not None and v > high):
            return [(f"{v} is out of range", f"write a number from {low}" + (f" to {high}" if high is not None else ""))]
        return []
    return check


def _signal_name(text) -> str:
    """SIGINT, INT or 2 -> SIGINT (ValueError if no such signal)."""
    import signal

    text = str(text).upper()
    try:
        if text.isdigit():
            return signal.Signals(int(text)).name
        return signal.Signals[text if text.startswith("SIG") else "SIG" + text].name
    except (KeyError, ValueError):
        raise ValueError(f"{text!r} is not a signal name such as SIGINT or SIGQUIT") from None


def _signal_number(name: str) -> int:
    import signal

    return signal.Signals[name].value


def _stop_signal_inspect(seen: Seen):
    found = seen.cfg.get("StopSignal")
    try:
        name = _signal_name(found) if found not in (None, "") else "SIGTERM"
    except ValueError:
        return str(found)
    return None if name == "SIGTERM" else name


def _resource(path: Tuple[str, ...], value) -> dict:
    """libpod's resource_limits nested at `path` (e.g. ("memory", "reservation"))."""
    out: dict = {path[-1]: value}
    for part in reversed(path[:-1]):
        out = {part: out}
    return {"resource_limits": out}


def _size_option(key: str, flag: str, meaning: str, example: str, docker_host: str, libpod: Tuple[str, ...],
                 inspect_key: str, sample: str) -> Option:
    return Option(
        key, ("a size such as \"512m\"", _is_size), meaning, f'"{example}"', f"`{flag}`", default_text="none",
        model=_size_model, check=_size_check, words=_flag(flag),
        docker_host=lambda v: {docker_host: values.size_bytes(v)} if v else {},
        podman_spec=lambda v: _resource(libpod, values.size_bytes(v)) if v else {},
        spec=lambda v, runtime: values.size_bytes(v) if v else None,
        inspect=lambda seen: seen.host.get(inspect_key) or None,
        capture=lambda v, say: None if v is None else human_size(v), text=_size_text("(none)"),
        sample=sample, bad="lots")


def _memory_swap_bytes(v: str) -> int:
    return -1 if v == "-1" else values.size_bytes(v)


def _memory_swap_check(v, runtime) -> Problems:
    if v == "-1" and runtime == "podman":
        # Podman 4.3's CLI makes it twice the memory (measured in the cgroup); its API refuses it.
        return [("podman cannot keep unlimited swap (-1)", "write a size, or leave memory_swap out for twice memory")]
    if v is None or v == "-1":
        return []
    return _size_check(v, runtime)


def _memory_swap_inspect(seen: Seen):
    swap, memory = seen.host.get("MemorySwap"), seen.host.get("Memory") or 0
    if swap in (None, 0) or not memory or swap == 2 * memory:
        return None  # the engines' own: twice the memory limit, or nothing without one
    return swap


PODMAN_PIDS_LIMIT = 2048  # Podman's default (containers.conf), which its inspect cannot tell from a choice


def _pids_normal(pids, runtime: str):
    if pids in (None, 0, -1) or (runtime == "podman" and pids == PODMAN_PIDS_LIMIT):
        return None
    return pids


def _strings_option(key: str, flag: str, meaning: str, example: str, docker_host: str, libpod: str,
                    inspect_key: str, sample, bad) -> Option:
    return Option(
        key, STRINGS, meaning, example, f"`{flag}` each", default=(), model=tuple,
        check=lambda v, runtime: _not_an_option(*v), words=_each(flag),
        docker_host=lambda v: {docker_host: list(v)} if v else {},
        podman_spec=lambda v: {libpod: list(v)} if v else {},
        inspect=lambda seen: tuple(seen.host.get(inspect_key) or ()), capture=lambda v, say: list(v) or None,
        text=_list_text, sample=sample, bad=bad)


LOG_DEFAULT_DRIVER = {"docker": "json-file", "podman": "k8s-file"}  # this machine's engines' defaults
PODMAN_LOG_OPTS = ("max-size", "tag", "path")  # what Podman's --log-opt takes


def decimal_bytes(text: str) -> int:
    """A log size as both engines read it (go-units FromHumanSize): decimal units, 10m = 10 MB."""
    match = re.match(r"^(\d+(?:\.\d+)?) ?([kKmMgGtTpP]?)[iI]?[bB]?$", text)
    if not match:
        raise ValueError(f"size {text!r}: write a number with an optional unit k, m or g")
    return int(float(match.group(1)) * 1000 ** " kmgtp".index(match.group(2).lower() or " "))


def _decimal_text(value: int) -> str:
    for unit, size in (("g", 10 ** 9), ("m", 10 ** 6), ("k", 10 ** 3)):
        if value and value % size == 0:
            return f"{value // size}{unit}"
    return str(value)


def _log_opts_normal(opts: dict) -> dict:
    return {k: str(decimal_bytes(v)) if k == "max-size" else v for k, v in sorted(opts.items())}


def _log_opts_check(opts, runtime) -> Problems:
    problems = []
    if "max-size" in opts:
        try:
            decimal_bytes(opts["max-size"])
        except ValueError as exc:
            problems.append((f"log_opts max-size: {exc}", None))
    other = [k for k in opts if k not in PODMAN_LOG_OPTS]
    if runtime == "podman" and other:
        problems.append((f"podman keeps no log option {', '.join(other)}", f"podman takes {', '.join(PODMAN_LOG_OPTS)}"))
    return problems


def _log_opts_podman(opts) -> dict:
    if not opts:
        return {}
    config: dict = {}
    if "max-size" in opts:
        config["size"] = decimal_bytes(opts["max-size"])
    if "path" in opts:
        config["path"] = opts["path"]
    if "tag" in opts:
        config["options"] = {"tag": opts["tag"]}
    return {"log_configuration": config}


def _log_opts_inspect(seen: Seen):
    log = seen.host.get("LogConfig") or {}
    if seen.runtime == "docker":
        return _log_opts_normal(log.get("Config") or {})
    found = {}
    if log.get("Size") not in (None, "", "0B"):
        found["max-size"] = str(decimal_bytes(log["Size"].upper().replace("B", "")))
    if log.get("Tag"):
        found["tag"] = log["Tag"]
    given = dict(v.split("=", 1) for v in create_command_values(seen.attrs, "--log-opt") if "=" in v)
    if "path" in given:  # Podman reports its own log path as well: only a given one is a choice
        found["path"] = log.get("Path") or given["path"]
    return found


def _log_driver_inspect(seen: Seen):
    driver = (seen.host.get("LogConfig") or {}).get("Type") or None
    return None if driver == LOG_DEFAULT_DRIVER[seen.runtime] else driver


def _namespace_option(key: str, flag: str, meaning: str, docker_host: str, libpod: str, inspect_key: str,
                      modes: Tuple[str, ...], defaults: Tuple[str, ...], sample: str,
                      podman_inspect: Optional[Callable[[Seen], Any]] = None,
                      podman_modes: Tuple[str, ...] = ()) -> Option:
    """`podman_modes`: what only Podman takes (Docker's CLI and API refuse `--pid/--uts private`)."""
    def check(v, runtime):
        allowed = modes + (podman_modes if runtime == "podman" else ())
        if v in allowed or (v.startswith("container:") and len(v) > len("container:")):
            return []
        return [(f"{key} {v!r} is not a namespace mode {runtime} takes",
                 f"write one of {', '.join(allowed)} or container:NAME")]

    def podman(v):
        if not v:
            return {}
        mode, _, name = v.partition(":")
        return {libpod: {"nsmode": mode, **({"value": name} if name else {})}}

    return Option(
        key, STRING, meaning, f'"{sample}"', f"`{flag}`", default_text="private", check=check, words=_flag(flag),
        docker_host=lambda v: {docker_host: v} if v else {}, podman_spec=podman,
        spec=lambda v, runtime: None if v in (None, *defaults) else v,
        inspect=lambda seen: podman_inspect(seen) if podman_inspect and seen.runtime == "podman" else
        None if (seen.host.get(inspect_key) or "") in defaults else seen.host[inspect_key],
        text=lambda v: v or "(private)", sample=sample, bad="shared")


def _expose_normal(text: str) -> str:
    port, _, proto = text.partition("/")
    return f"{port}/{proto or 'tcp'}"


def _expose_check(items, runtime) -> Problems:
    out = []
    for item in items:
        port, _, proto = item.partition("/")
        if not port.isdigit() or not 0 < int(port) < 65536 or (proto or "tcp") not in values.PROTOCOLS:
            out.append((f"expose {item!r} is not a port[/protocol]", "write e.g. \"9999\" or \"9999/udp\""))
    return out


def _expose_inspect(seen: Seen):
    if seen.runtime == "podman":  # Podman 4.3's inspect does not show them: its create command does
        return tuple(sorted({_expose_normal(v) for v in create_command_values(seen.attrs, "--expose")}))
    published = set(seen.host.get("PortBindings") or {})
    exposed = set(seen.cfg.get("ExposedPorts") or {}) - published - set(seen.image_cfg.get("ExposedPorts") or {})
    return tuple(sorted(exposed))


def _mac_inspect(seen: Seen):
    if seen.runtime == "docker":
        return seen.cfg.get("MacAddress") or None
    if not create_command_values(seen.attrs, "--mac-address"):
        return None  # Podman reports the MAC it picked as well: only a given one is a choice
    return (seen.attrs.get("NetworkSettings") or {}).get("MacAddress") or None


def _sysctls_inspect(seen: Seen):
    if seen.runtime == "podman":  # Podman 4.3's inspect has no sysctls: its create command has them
        return dict(sorted(v.split("=", 1) for v in create_command_values(seen.attrs, "--sysctl") if "=" in v))
    return dict(sorted((seen.host.get("Sysctls") or {}).items()))


def user_network(network: Optional[str]) -> bool:
    """Whether --network names a network of its own (where a static address and aliases apply)."""
    return bool(network) and network not in NETNS_MODES and network not in ("default", "podman") and \
        not network.startswith(("container:", "ns:", "slirp4netns:", "pasta:"))


def _endpoint_docker(field: str, wrap: Callable[[Any], Any]):
    """A docker-py create_container() networking_config entry on the joined network."""
    def hook(joined):
        value, network = joined
        if not value:
            return {}
        return {"networking_config": {"EndpointsConfig": {network: wrap(value)}}}
    return hook


def _endpoint_podman(field: str, wrap: Callable[[Any], Any]):
    def hook(joined):
        value, network = joined
        return {"networks": {network: {field: wrap(value)}}} if value else {}
    return hook


def _network_settings(seen: Seen) -> dict:
    return (seen.attrs.get("NetworkSettings") or {}).get("Networks") or {}


def _address_inspect(ipam_key: str, flag: str):
    def inspect(seen: Seen):
        if seen.runtime == "podman":  # Podman's inspect does not tell a given address from a picked one
            found = create_command_values(seen.attrs, flag)
            return found[-1] if found else None
        found = [((s or {}).get("IPAMConfig") or {}).get(ipam_key) for s in _network_settings(seen).values()]
        return next((f for f in found if f), None)
    return inspect


def _aliases_inspect(seen: Seen):
    # Both engines add the container's short ID (Docker also its name on some versions).
    own = {seen.attrs.get("Id", "")[:12], (seen.attrs.get("Name") or "").lstrip("/")}
    return tuple(sorted({a for s in _network_settings(seen).values() for a in (s or {}).get("Aliases") or ()} - own))


def _address_option(key: str, flag: str, meaning: str, example: str, ipam_key: str, version: int,
                    sample: str) -> Option:
    def check(v, runtime):
        try:
            import ipaddress

            if ipaddress.ip_address(v).version == version:
                return []
        except ValueError:
            pass
        return [(f"{key} {v!r} is not an IPv{version} address", None)]

    return Option(
        key, STRING, meaning + " (needs network = a user-defined network)", f'"{example}"', f"`{flag}`",
        default_text="the engine's pick", check=check, words=_flag(flag), joined="network",
        docker_create=_endpoint_docker(key, lambda v: {"IPAMConfig": {ipam_key: v}}),
        podman_spec=_endpoint_podman("static_ips", lambda v: [v]), spec=lambda v, runtime: v or None,
        inspect=_address_inspect(ipam_key, flag), text=lambda v: v or "(the engine's pick)", sample=sample,
        bad="10.0.0", needs={"network": "{network}"})


# --- health check ---------------------------------------------------------------

HEALTH_KEYS = ("test", "interval", "timeout", "retries", "start_period")
# The engines' defaults for what a health check leaves out. Rendered and sent every time: left
# out, Docker takes the image's HEALTHCHECK values instead and Podman's CLI these.
HEALTH_DEFAULTS = {"interval": "30s", "timeout": "30s", "retries": 3, "start_period": "0s"}
_DURATION_UNITS = {"h": 3600 * 10 ** 9, "m": 60 * 10 ** 9, "s": 10 ** 9, "ms": 10 ** 6}
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


class Health(NamedTuple):
    """A [container] healthcheck table, its left-out durations and retries the engines' defaults."""

    test: Tuple[str, ...]
    interval: str = HEALTH_DEFAULTS["interval"]
    timeout: str = HEALTH_DEFAULTS["timeout"]
    retries: int = HEALTH_DEFAULTS["retries"]
    start_period: str = HEALTH_DEFAULTS["start_period"]

    def nanoseconds(self, key: str) -> int:
        return duration_ns(getattr(self, key))


def _is_health(v):
    return v is False or isinstance(v, dict)


def duration_ns(text: str) -> int:
    """A duration as both CLIs read it (Go's time.ParseDuration), in the units h, m, s, ms."""
    if not isinstance(text, str) or not text or _DURATION_RE.sub("", text):
        raise ValueError(f"{text!r} is not a duration")
    return round(sum(float(n) * _DURATION_UNITS[unit] for n, unit in _DURATION_RE.findall(text)))


def duration_text(ns: int) -> str:
    """Nanoseconds as the shortest duration text: 90 s is 1m30s."""
    if ns % 10 ** 9:
        return f"{ns // 10 ** 6}ms" if ns % 10 ** 6 == 0 else f"{ns / 1e9:g}s"
    seconds = ns // 10 ** 9
    parts = [(seconds // 3600, "h"), (seconds // 60 % 60, "m"), (seconds % 60, "s")]
    return "".join(f"{n}{unit}" for n, unit in parts if n) or "0s"


def _health_model(v):
    if v is False:
        return False
    unknown = [k for k in v if k not in HEALTH_KEYS]
    if unknown:
        raise ValueError(f"unknown key `{unknown[0]}` in healthcheck: it takes {', '.join(HEALTH_KEYS)}")
    if "test" not in v:
        raise ValueError("the healthcheck has no test: write test = [\"CMD-SHELL\", \"COMMAND\"], or "
                         "healthcheck = false to turn the image's off")
    if not _is_str_list(v["test"]):
        raise ValueError("healthcheck test must be an array of strings, such as [\"CMD-SHELL\", \"COMMAND\"]")
    if "retries" in v and not _is_int(v["retries"]):
        raise ValueError(f"healthcheck retries must be a whole number, not {v['retries']!r}")
    return Health(tuple(v["test"]), **{k: v[k] for k in HEALTH_KEYS[1:] if k in v})


def _health_check(v, runtime) -> Problems:
    if v is False:
        return []
    problems: Problems = []
    test = v.test
    if test[:1] == ("CMD",):
        problems.append((f"healthcheck test {json.dumps(list(test))}: the exec form has no `run` option (`--health-cmd` "
                         "runs its command with a shell)", "write it as [\"CMD-SHELL\", \"COMMAND\"]"))
    elif test[:1] == ("NONE",):
        problems.append(("healthcheck test [\"NONE\"] turns the health check off", "write healthcheck = false"))
    elif len(test) != 2 or test[0] != "CMD-SHELL" or not test[1].strip():
        problems.append((f"healthcheck test {json.dumps(list(test))} is not [\"CMD-SHELL\", \"COMMAND\"]",
                         "write test = [\"CMD-SHELL\", \"curl -f http://localhost/ || exit 1\"]"))
    for key in ("interval", "timeout", "start_period"):
        text = getattr(v, key)
        try:
            ns = duration_ns(text)
        except ValueError as exc:
            problems.append((f"healthcheck {key}: {exc}", "write a duration such as \"30s\" or \"1m30s\" "
                             "(units h, m, s, ms)"))
            continue
        if ns < 10 ** 6 and (key != "start_period" or ns):  # what Docker refuses
            problems.append((f"healthcheck {key} {text!r} is below 1ms", "write e.g. \"30s\""))
    if v.retries < 1:
        problems.append((f"healthcheck retries = {v.retries}", "write 1 or more (the engines' default is 3)"))
    return problems


def _health_words(v) -> List[List[str]]:
    if v is None:
        return []
    if v is False:
        return [["--no-healthcheck"]]
    words = [["--health-cmd", v.test[1]], ["--health-interval", v.interval], ["--health-timeout", v.timeout],
             ["--health-retries", str(v.retries)]]
    return words + ([["--health-start-period", v.start_period]] if v.nanoseconds("start_period") else [])


def _health_engine(v, names: Tuple[str, ...]) -> Optional[dict]:
    """The health check in an engine's fields (docker-py's or libpod's names), durations in ns."""
    if v is None:
        return None
    if v is False:
        return {names[0]: ["NONE"]}
    return {names[0]: list(v.test), names[1]: v.nanoseconds("interval"), names[2]: v.nanoseconds("timeout"),
            names[3]: v.retries, names[4]: v.nanoseconds("start_period")}


def health_normal(check: Optional[dict]) -> Optional[dict]:
    """An inspect's Healthcheck as diff shows it, entry by entry; what it leaves at 0 is the
    engines' default. None without one."""
    test = (check or {}).get("Test") or []
    if not test:
        return None
    if test[0] == "NONE":
        return {"test": '["NONE"]'}
    defaults = {k: duration_ns(x) if isinstance(x, str) else x for k, x in HEALTH_DEFAULTS.items()}
    ns = {key: check.get(field) or defaults[key] for key, field in
          (("interval", "Interval"), ("timeout", "Timeout"), ("retries", "Retries"), ("start_period", "StartPeriod"))}
    return {"test": json.dumps(list(test)), **{k: str(x) if k == "retries" else duration_text(x) for k, x in ns.items()}}


def _health_spec(v, runtime):
    engine = _health_engine(v, ("Test", "Interval", "Timeout", "Retries", "StartPeriod"))
    return health_normal(engine)


def _health_fill(v, image: dict, runtime: str):
    """Docker fills a start period of 0 from the image's HEALTHCHECK (Podman does not)."""
    image_start = ((image.get("Healthcheck") or {}).get("StartPeriod")) or 0
    if runtime == "docker" and v and "start_period" in v and not duration_ns(v["start_period"]) and image_start:
        return {**v, "start_period": duration_text(image_start)}
    return v


def _health_capture(v, say):
    if v is None:
        return None
    test = json.loads(v["test"])
    if test == ["NONE"]:
        return False
    if test[0] != "CMD-SHELL":
        say(f"not captured: healthcheck test = {v['test']} (a profile's test is [\"CMD-SHELL\", \"COMMAND\"]: "
            "`--health-cmd` runs its command with a shell; a recreate drops it)")
        return None
    table: Dict[str, Any] = {"test": test}
    for key in HEALTH_KEYS[1:]:
        value = int(v[key]) if key == "retries" else v[key]
        if value != HEALTH_DEFAULTS[key]:
            table[key] = value
    return table


# --- OCI runtime ----------------------------------------------------------------

# What each engine runs a container with when it is not told (Docker's default-runtime;
# Podman's containers.conf runtime, crun or runc by distribution).
OCI_DEFAULTS = {"docker": ("runc",), "podman": ("runc", "crun")}


def _oci_runtime_inspect(seen: Seen):
    found = seen.host.get("Runtime") if seen.runtime == "docker" else seen.attrs.get("OCIRuntime")
    return None if found in (None, "", *OCI_DEFAULTS[seen.runtime]) else found


OPTIONS: Tuple[Option, ...] = (
    Option(
        "hostname", STRING, "the container's host name", '"one.example.com"', "`--hostname`",
        default_text="the engine's (the container ID)", check=lambda v, runtime: _not_an_option(v),
        words=_flag("--hostname"), docker_create=lambda v: {"hostname": v}, podman_kwargs=lambda v: {"hostname": v},
        spec=lambda v, runtime: v or None, inspect=_hostname_inspect,
        text=lambda v: "(engine default)" if v is None else v, sample="one.example.com", bad="-h"),
    Option(
        "privileged", BOOL, "full privileges, as the OpenNebula image's docs run it", "true", "`--privileged`",
        default=False, words=lambda v: [["--privileged"]] if v else [],
        docker_host=lambda v: {"privileged": v}, podman_kwargs=lambda v: {"privileged": v},
        inspect=lambda seen: bool(seen.host.get("Privileged")), capture=lambda v, say: True if v else None,
        text=lambda v: "true" if v else "false", sample=True, bad="yes"),
    Option(
        "restart", STRING, "restart policy: no | always | unless-stopped | on-failure[:N]; on Docker, a "
        "changed policy is set back in place by apply", '"unless-stopped"', "`--restart`",
        default=values.Restart(), default_text='"no"', model=values.parse_restart,
        words=lambda v: [["--restart", v.format()]] if v.name != "no" else [],
        docker_host=lambda v: {"restart_policy": {"Name": v.name, "MaximumRetryCount": v.retries}},
        podman_kwargs=lambda v: {"restart_policy": {"Name": v.name, "MaximumRetryCount": v.retries}},
        spec=lambda v, runtime: v.format(), inspect=_restart_inspect,
        capture=lambda v, say: None if v == "no" else v, text=str, sample="on-failure:3", bad="sometimes"),
    Option(
        "pull", STRING, "when apply pulls the image: missing | always | never (before anything stops)", '"always"',
        "`--pull` (when not missing)", default="missing",
        check=lambda v, runtime: [] if v in values.PULL_POLICIES else
        [(f"pull policy {v!r} is not one of {', '.join(values.PULL_POLICIES)}", None)],
        words=lambda v: [["--pull", v]] if v != "missing" else [], kept=False, sample="never", bad="sometimes"),
    Option(
        "stop_timeout", INT, "seconds the engine waits after SIGTERM before SIGKILL (MySQL must flush)", "180",
        "`--stop-timeout`", default=DEFAULT_STOP_TIMEOUT,
        check=lambda v, runtime: [("stop_timeout must not be negative", None)] if v < 0 else [],
        words=lambda v: [["--stop-timeout", str(v)]], docker_create=lambda v: {"stop_timeout": v},
        podman_kwargs=lambda v: {"stop_timeout": v},
        inspect=lambda seen: int(seen.cfg["StopTimeout"] if seen.cfg.get("StopTimeout") is not None
                                 else ENGINE_STOP_TIMEOUT),
        capture=_stop_timeout_capture, text=str, sample=33, bad=-1),
    Option(
        "network", STRING, "the network or network mode", '"host"', "`--network`", default_text="the engine's bridge",
        check=lambda v, runtime: _not_an_option(v), words=_flag("--network"),
        docker_host=lambda v: {"network_mode": v}, podman_spec=podman_network,
        spec=normal_network, inspect=_network_inspect,
        text=lambda v: "(engine default)" if v is None else v, sample="none", bad="-x"),
    Option(
        "dns", STRINGS, "DNS servers, in order", '["192.0.2.53"]', "`--dns` each", default=(), model=tuple,
        check=_parsed_each(values.check_ip), words=_each("--dns"),
        docker_host=lambda v: {"dns": list(v) or None}, podman_kwargs=lambda v: {"dns": list(v)},
        inspect=lambda seen: tuple(seen.host.get("Dns") or ()), capture=lambda v, say: list(v) or None,
        text=_list_text, sample=["192.0.2.53", "192.0.2.54"], bad=["not-an-ip"]),
    Option(
        "extra_hosts", STRINGS, "extra /etc/hosts entries, host:ip", '["db.example.com:192.0.2.10"]',
        "`--add-host` each", default=(), model=tuple, check=_extra_hosts_check, words=_each("--add-host"),
        docker_host=lambda v: {"extra_hosts": list(v) or None},
        podman_kwargs=lambda v: {"extra_hosts": dict(h.split(":", 1) for h in v)},
        spec=lambda v, runtime: tuple(sorted(set(v))),
        inspect=lambda seen: tuple(sorted(set(seen.host.get("ExtraHosts") or ()))),
        capture=lambda v, say: list(v) or None, text=_list_text, sample=["db.example.com:192.0.2.10"],
        bad=["db.example.com"]),
    Option(
        "cap_add", STRINGS, "capabilities to add", '["NET_ADMIN"]', "`--cap-add` each", default=(), model=tuple,
        check=_caps_check("cap_add"), words=_each("--cap-add"), docker_host=lambda v: {"cap_add": cli_caps(v)},
        podman_kwargs=lambda v: {"cap_add": list(v)}, spec=lambda v, runtime: tuple(sorted({cap_name(x) for x in v})),
        inspect=lambda seen: tuple(sorted({cap_name(x) for x in seen.host.get("CapAdd") or ()})),
        capture=lambda v, say: list(v) or None, text=_list_text, sample=["NET_ADMIN"], bad=["net admin"]),
    Option(
        "cap_drop", STRINGS, "capabilities to drop", '["MKNOD"]', "`--cap-drop` each", default=(), model=tuple,
        check=_caps_check("cap_drop"), words=_each("--cap-drop"), docker_host=lambda v: {"cap_drop": cli_caps(v)},
        podman_kwargs=lambda v: {"cap_drop": list(v)}, spec=lambda v, runtime: tuple(sorted({cap_name(x) for x in v})),
        inspect=lambda seen: tuple(sorted({cap_name(x) for x in seen.host.get("CapDrop") or ()})),
        capture=lambda v, say: list(v) or None, text=_list_text, sample=["MKNOD"], bad=["mk-nod"]),
    Option(
        "devices", STRINGS, "host devices, host[:container[:perms]]", '["/dev/kvm"]', "`--device` each",
        default=(), model=tuple, check=_parsed_each(values.parse_device), words=_each("--device"),
        docker_host=lambda v: {"devices": [_device_normal(d) for d in v] or None},
        podman_kwargs=lambda v: {"devices": list(v)},
        spec=lambda v, runtime: tuple(sorted(_device_normal(d) for d in v)), inspect=_devices_inspect,
        capture=_device_capture, text=_list_text, sample=["/dev/null:/dev/one-null:r"], bad=["dev/null"]),
    Option(
        "security_opt", STRINGS, "security options, as `--security-opt` takes them", '["no-new-privileges"]',
        "`--security-opt` each", default=(), model=tuple, runtimes_text="docker, podman (checked against "
        "Podman's keys for podman)", check=lambda v, runtime: _not_an_option(*v), words=_each("--security-opt"),
        docker_host=lambda v: {"security_opt": list(v) or None}, podman_spec=podman_security,
        spec=_security_spec, inspect=_security_inspect, capture=lambda v, say: list(v) or None, text=_list_text,
        sample=["no-new-privileges"], bad=["-no-new-privileges"]),
    Option(
        "shm_size", ("a size such as \"64m\"", _is_size), "size of /dev/shm", '"256m"', "`--shm-size`",
        default_text="the engine's (Docker 64m, Podman 64000k)", model=_size_model, check=_size_check,
        words=_flag("--shm-size"),
        docker_host=lambda v: {"shm_size": values.size_bytes(v) if v else None},
        podman_kwargs=lambda v: {"shm_size": values.size_bytes(v)} if v else {},
        spec=_shm_spec, inspect=_shm_inspect, capture=lambda v, say: None if v is None else human_size(v),
        text=_size_text("(engine default)"), sample="128m", bad="lots"),
    Option(
        "memory", ("a size such as \"4g\"", _is_size), "memory limit (swap limit twice that, as the engines make "
        "it); on Docker, a changed limit is set back in place by apply", '"4g"', "`--memory`",
        default_text="no limit", model=_size_model, check=_memory_check, words=_flag("--memory"),
        docker_host=memory_limits, podman_kwargs=memory_limits,
        spec=lambda v, runtime: values.size_bytes(v) if v else None,
        inspect=lambda seen: seen.host.get("Memory") or None,
        capture=lambda v, say: None if v is None else human_size(v), text=_size_text("(no limit)"),
        sample="512m", bad="1k"),
    Option(
        "cpus", ("a number of CPUs such as 2 or 1.5", _is_number), "CPU limit, in CPUs; on Docker, a changed limit "
        "is set back in place by apply", "1.5", "`--cpus`", default_text="no limit",
        check=lambda v, runtime: [(f"cpus = {v} is not a number of CPUs", "write a positive number such as 2 or 1.5")]
        if v is not None and v <= 0 else [],
        words=lambda v: [["--cpus", _cpus_text(v)]] if v else [],
        docker_host=lambda v: {"nano_cpus": round(v * 1e9)} if v else {}, podman_kwargs=_cpus_podman,
        spec=lambda v, runtime: round(v * 1e9) if v else None,  # in billionths, as the engines keep it
        inspect=lambda seen: seen.host.get("NanoCpus") or None, capture=_cpus_capture,
        text=lambda v: "(no limit)" if v is None else f"{v / 1e9:g}", sample=0.5, bad=0),
    Option(
        "tmpfs", STRINGS, "tmpfs mounts, path[:options]", '["/run:size=64m"]', "`--tmpfs` each", default=(),
        model=tuple, check=_parsed_each(values.parse_tmpfs), words=_each("--tmpfs"),
        docker_host=lambda v: {"tmpfs": dict(values.parse_tmpfs(t) for t in v) or None}, podman_spec=_tmpfs_podman,
        spec=_tmpfs_spec,
        inspect=lambda seen: {path: tmpfs_options(opts) for path, opts in sorted((seen.host.get("Tmpfs") or {}).items())},
        capture=lambda v, say: [f"{path}:{opts}" if opts else path for path, opts in v.items()] or None,
        text=lambda v: "(none)" if v is None else (v or "(no options)"), keyed="tmpfs ",
        sample=["/scratch:size=16m"], bad=["scratch"]),
    Option(
        "ulimits", ("a table of numbers or \"soft:hard\" strings", _is_ulimit_table),
        "resource limits, name = N or \"soft:hard\" (-1: unlimited)", '{ nofile = "1024:65536" }',
        "`--ulimit NAME=SOFT:HARD` each", default=(), model=_ulimits_model, words=_each("--ulimit", lambda u: u.format()),
        docker_host=lambda v: {"ulimits": [{"Name": u.name, "Soft": u.soft, "Hard": u.hard} for u in v] or None},
        podman_kwargs=lambda v: {"ulimits": [{"Name": u.name, "Soft": rlimit(u.soft), "Hard": rlimit(u.hard)}
                                             for u in v]},
        spec=lambda v, runtime: {u.name: (u.soft, u.hard) for u in sorted(v)}, inspect=_ulimits_inspect,
        capture=lambda v, say: {n: s if s == h else f"{s}:{h}" for n, (s, h) in v.items()} or None,
        text=lambda v: f"{v[0]}:{v[1]}" if v else "(none)", keyed="ulimits.",
        sample={"nofile": "1024:2048", "nproc": "1024:1024"}, bad={"nofile": "lots"}),
    # --- the process
    Option(
        "user", STRING, "the user (and group) the image's command runs as, name or uid[:gid]", '"oneadmin"',
        "`--user`", default_text="the image's", check=lambda v, runtime: _not_an_option(v), words=_flag("--user"),
        docker_create=lambda v: {"user": v} if v else {}, podman_spec=lambda v: {"user": v} if v else {},
        spec=lambda v, runtime: v or None, inspect=lambda seen: seen.cfg.get("User") or None,
        image_default=lambda image: image.get("User") or None, sample="root", bad="-u"),
    Option(
        "workdir", STRING, "the working folder of the image's command", '"/var/lib/one"', "`--workdir`",
        default_text="the image's",
        check=lambda v, runtime: [] if v.startswith("/") else [(f"workdir {v!r} is not an absolute path",
                                                                   "write it from /")],
        words=_flag("--workdir"), docker_create=lambda v: {"working_dir": v} if v else {},
        podman_spec=lambda v: {"work_dir": v} if v else {},
        spec=lambda v, runtime: v or None, inspect=lambda seen: seen.cfg.get("WorkingDir") or None,
        image_default=lambda image: image.get("WorkingDir") or "/", sample="/tmp", bad="tmp"),
    _bool_option("tty", "--tty", "a terminal for the command (`docker run -t`)", lambda seen: seen.cfg.get("Tty"),
                 docker_create="tty", podman="terminal"),
    _bool_option("interactive", "--interactive", "keep the command's standard input open (`docker run -i`)",
                 lambda seen: seen.cfg.get("OpenStdin"), docker_create="stdin_open", podman="stdin"),
    _bool_option("publish_all", "--publish-all", "publish every port the image exposes on a host port the engine "
                 "picks (`-P`)", lambda seen: seen.host.get("PublishAllPorts") or  # Podman 4.3: always false there
                 (seen.cfg.get("Annotations") or {}).get("io.podman.annotations.publish-all") == "TRUE",
                 docker_host="publish_all_ports",
                 podman="publish_image_ports"),
    _bool_option("read_only", "--read-only", "the container's root filesystem read-only (volumes and tmpfs "
                 "stay writable)", lambda seen: seen.host.get("ReadonlyRootfs"), docker_host="read_only",
                 podman="read_only_filesystem"),
    Option(
        "stop_signal", STRING, "the signal that stops the container (before stop_timeout runs out)", '"SIGQUIT"',
        "`--stop-signal`", default_text="the image's, else SIGTERM", model=_signal_name,
        words=_flag("--stop-signal"), docker_create=lambda v: {"stop_signal": v} if v else {},
        podman_spec=lambda v: {"stop_signal": _signal_number(v)} if v else {},
        spec=lambda v, runtime: None if v in (None, "SIGTERM") else v, inspect=_stop_signal_inspect,
        image_default=lambda image: _signal_name(image["StopSignal"]) if image.get("StopSignal") else None,
        text=lambda v: v or "(SIGTERM)", sample="SIGINT", bad="SIGNOTHING"),
    Option(
        "healthcheck", ("a table (test, interval, timeout, retries, start_period), or false", _is_health),
        "the container's health check, instead of the image's HEALTHCHECK; false turns the image's off. test is "
        "[\"CMD-SHELL\", COMMAND]; interval and timeout (default 30s), start_period (default 0s; Docker then "
        "takes the image's) are durations such as \"1m30s\"; retries defaults to 3. apply waits for it to pass "
        "([watch] timeout)",
        '{ test = ["CMD-SHELL", "curl -f http://localhost/ || exit 1"], interval = "1m" }',
        "`--health-cmd`, `--health-interval`, `--health-timeout`, `--health-retries` (and `--health-start-period` "
        "when set); false: `--no-healthcheck`", default_text="the image's", model=_health_model, check=_health_check,
        words=_health_words,
        docker_create=lambda v: {} if v is None else
        {"healthcheck": _health_engine(v, ("test", "interval", "timeout", "retries", "start_period"))},
        podman_spec=lambda v: {} if v is None else
        {"healthconfig": _health_engine(v, ("Test", "Interval", "Timeout", "Retries", "StartPeriod"))},
        spec=_health_spec, inspect=lambda seen: health_normal(seen.cfg.get("Healthcheck")),
        image_default=lambda image: health_normal(image.get("Healthcheck")), image_fill=_health_fill,
        capture=_health_capture, text=lambda v: "(none)" if v is None else v, keyed="healthcheck.",
        sample={"test": ["CMD-SHELL", "true"], "interval": "1s", "timeout": "5s", "retries": 4, "start_period": "10s"},
        bad={"test": ["CMD-SHELL", "true"], "interval": "soon"}),
    # --- resources
    _size_option("memory_reservation", "--memory-reservation", "a soft memory limit, below memory", "2g",
                 "mem_reservation", ("memory", "reservation"), "MemoryReservation", "256m"),
    Option(
        "memory_swap", ("a size such as \"8g\", or -1 for unlimited swap (docker)", _is_size),
        "memory plus swap limit (needs memory)", '"8g"', "`--memory-swap`", default_text="twice memory",
        model=_size_model, check=_memory_swap_check, words=_flag("--memory-swap"),
        docker_host=lambda v: {"memswap_limit": _memory_swap_bytes(v)} if v else {},
        podman_spec=lambda v: _resource(("memory", "swap"), _memory_swap_bytes(v)) if v else {},
        spec=lambda v, runtime: _memory_swap_bytes(v) if v else None, inspect=_memory_swap_inspect,
        capture=lambda v, say: None if v is None else (-1 if v == -1 else human_size(v)),
        text=lambda v: "(twice memory)" if v is None else "unlimited" if v == -1 else human_size(v),
        sample="768m", bad="lots", needs={"memory": "512m"}),
    Option(
        "cpu_shares", INT, "the CPU weight against other containers (1024: the default weight)", "512",
        "`--cpu-shares`", default_text="none", check=_int_check(2, 262144), words=_flag("--cpu-shares"),
        docker_host=lambda v: {"cpu_shares": v} if v else {},
        podman_spec=lambda v: _resource(("cpu", "shares"), v) if v else {},
        inspect=lambda seen: seen.host.get("CpuShares") or None, sample=512, bad=1),
    _cpuset_option("cpuset_cpus", "the CPUs it may run on", "CPUs", "0-3", "cpus", "CpusetCpus", bad="first"),
    _cpuset_option("cpuset_mems", "the memory nodes (NUMA) it may use", "memory nodes", "0", "mems", "CpusetMems",
                   bad="node0"),
    Option(
        "pids_limit", INT, "the most processes it may run (-1: no limit)", "4096", "`--pids-limit`",
        default_text="the engine's (Podman 2048)", check=_int_check(-1), words=_flag("--pids-limit"),
        docker_host=lambda v: {"pids_limit": v} if v else {},
        podman_spec=lambda v: _resource(("pids", "limit"), v) if v else {},
        spec=_pids_normal, inspect=lambda seen: _pids_normal(seen.host.get("PidsLimit"), seen.runtime), sample=512,
        bad=-2),
    Option(
        "oom_score_adj", INT, "the kernel's OOM-killer preference, -1000 (never) to 1000", "-500",
        "`--oom-score-adj`", default_text="0", check=_int_check(-1000, 1000), words=_flag("--oom-score-adj"),
        docker_host=lambda v: {"oom_score_adj": v} if v else {},
        podman_spec=lambda v: {"oom_score_adj": v} if v else {},
        spec=lambda v, runtime: v or None, inspect=lambda seen: seen.host.get("OomScoreAdj") or None,
        sample=100, bad=2000),
    # --- DNS
    _strings_option("dns_search", "--dns-search", "DNS search domains", '["example.com"]', "dns_search",
                    "dns_search", "DnsSearch", ["example.com"], ["-x"]),
    _strings_option("dns_options", "--dns-option", "resolver options", '["ndots:2"]', "dns_opt", "dns_option",
                    "DnsOptions", ["ndots:2"], ["-x"]),
    _bool_option("init", "--init", "an init process (docker-init, catatonit) that reaps zombies and forwards "
                 "signals", lambda seen: seen.host.get("Init"), docker_host="init", podman="init"),
    Option(
        "oci_runtime", STRING, "the OCI runtime Docker runs the container with, by its name in the daemon's "
        "runtimes (`docker info`); not the top-level runtime, which picks the engine", '"runc"', "`--runtime`",
        default_text="the daemon's (runc)", runtimes=("docker",),
        runtimes_text="docker (`podman run` has no --runtime: Podman's is containers.conf's)",
        check=lambda v, runtime: [] if re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", v) else
        [(f"oci_runtime {v!r} is not a runtime name", "write the name `docker info` lists under Runtimes, "
          "e.g. \"runc\" (Docker takes no path)")],
        words=_flag("--runtime"), docker_host=lambda v: {"runtime": v} if v else {},
        spec=lambda v, runtime: None if v in (None, *OCI_DEFAULTS[runtime]) else v, inspect=_oci_runtime_inspect,
        text=lambda v: v or "(the engine's)", sample="io.containerd.runc.v2", bad="/usr/sbin/runc"),
    # --- logging
    Option(
        "log_driver", STRING, "the log driver (`docker logs` and one-run's watch need one that keeps logs)",
        '"local"', "`--log-driver`", default_text="the engine's (json-file, k8s-file)",
        check=lambda v, runtime: _not_an_option(v), words=_flag("--log-driver"),
        docker_host=lambda v: {"log_config": {"Type": v}} if v else {},
        podman_spec=lambda v: {"log_configuration": {"driver": v}} if v else {},
        spec=lambda v, runtime: None if v in (None, LOG_DEFAULT_DRIVER[runtime]) else v,
        inspect=_log_driver_inspect, text=lambda v: v or "(engine default)", sample="none", bad="-x"),
    Option(
        "log_opts", STRING_TABLE, "the log driver's options (Podman: max-size, tag, path)",
        '{ max-size = "10m", max-file = "3" }', "`--log-opt NAME=VALUE` each", default={}, model=dict,
        check=_log_opts_check, words=lambda v: [["--log-opt", f"{k}={x}"] for k, x in v.items()],
        docker_host=lambda v: {"log_config": {"Config": dict(v)}} if v else {}, podman_spec=_log_opts_podman,
        spec=lambda v, runtime: _log_opts_normal(v), inspect=_log_opts_inspect,
        capture=lambda v, say: {k: _decimal_text(int(x)) if k == "max-size" else x for k, x in v.items()} or None,
        text=lambda v: "(none)" if v is None else v, keyed="log_opts.", sample={"max-size": "10m"},
        bad={"max-size": "lots"}),
    # --- names, kernel, groups
    Option(
        "domainname", STRING, "the container's NIS domain name", '"example.com"', "`--domainname`",
        default_text="none", runtimes=("docker",), runtimes_text="docker (Podman has no such option)",
        check=lambda v, runtime: _not_an_option(v), words=_flag("--domainname"),
        docker_create=lambda v: {"domainname": v} if v else {}, spec=lambda v, runtime: v or None,
        inspect=lambda seen: seen.cfg.get("Domainname") or None, sample="example.com", bad="-x"),
    Option(
        "mac_address", STRING, "the container's MAC address on its network", '"02:42:ac:11:00:99"',
        "`--mac-address`", default_text="the engine's pick", runtimes=("docker",),
        runtimes_text="docker (Podman takes it per network: not carried yet)",
        check=lambda v, runtime: [] if re.match(r"^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$", v) else
        [(f"mac_address {v!r} is not a MAC address", "write six hex pairs, e.g. 02:42:ac:11:00:99")],
        words=_flag("--mac-address"), docker_create=lambda v: {"mac_address": v} if v else {},
        spec=lambda v, runtime: v.lower() if v else None,
        inspect=lambda seen: (_mac_inspect(seen) or "").lower() or None, sample="02:42:ac:11:00:99",
        bad="02:42"),
    Option(
        "sysctls", STRING_TABLE, "namespaced kernel parameters", '{ "net.ipv4.tcp_keepalive_time" = "600" }',
        "`--sysctl NAME=VALUE` each", default={}, model=dict,
        check=lambda v, runtime: _not_an_option(*v),
        words=lambda v: [["--sysctl", f"{k}={x}"] for k, x in v.items()],
        docker_host=lambda v: {"sysctls": dict(v)} if v else {}, podman_spec=lambda v: {"sysctl": dict(v)} if v else {},
        spec=lambda v, runtime: dict(sorted(v.items())), inspect=_sysctls_inspect,
        capture=lambda v, say: dict(v) or None, text=lambda v: "(none)" if v is None else v, keyed="sysctls.",
        sample={"net.ipv4.tcp_keepalive_time": "600"}, bad={"-x": "1"}),
    _strings_option("group_add", "--group-add", "more groups for the container's user", '["kvm"]', "group_add",
                    "groups", "GroupAdd", ["42"], ["-x"]),
    # --- networking
    Option(
        "expose", STRINGS, "ports exposed without publishing them, port[/protocol]", '["9869"]', "`--expose` each",
        default=(), model=tuple, check=_expose_check, words=_each("--expose"),
        docker_create=lambda v: {"ports": [(int(p.split("/")[0]), p.split("/")[1]) for p in map(_expose_normal, v)]}
        if v else {},
        podman_spec=lambda v: {"expose": {int(p.split("/")[0]): p.split("/")[1] for p in map(_expose_normal, v)}}
        if v else {},
        spec=lambda v, runtime: tuple(sorted({_expose_normal(p) for p in v})), inspect=_expose_inspect,
        capture=lambda v, say: [p[:-4] if p.endswith("/tcp") else p for p in v] or None, text=_list_text,
        sample=["9999", "9998/udp"], bad=["port"]),
    _address_option("ip", "--ip", "a static IPv4 address on the network", "172.20.0.10", "IPv4Address", 4,
                    "{prefix}.10"),
    _address_option("ip6", "--ip6", "a static IPv6 address on the network (made with --ipv6)", "fd00:1::10",
                    "IPv6Address", 6, "{prefix6}::10"),
    Option(
        "network_aliases", STRINGS, "more names of the container on the network (needs network = a user-defined "
        "network)", '["opennebula"]', "`--network-alias` each", default=(), model=tuple, joined="network",
        check=lambda v, runtime: _not_an_option(*v), words=_each("--network-alias"),
        docker_create=_endpoint_docker("network_aliases", lambda v: {"Aliases": list(v)}),
        podman_spec=_endpoint_podman("aliases", list), spec=lambda v, runtime: tuple(sorted(set(v))),
        inspect=_aliases_inspect, capture=lambda v, say: list(v) or None, text=_list_text, sample=["frontend"],
        bad=["-x"], needs={"network": "{network}"}),
    # --- namespaces
    _namespace_option("pid", "--pid", "the PID namespace: host, or container:NAME", "pid_mode", "pidns", "PidMode",
                      ("host",), ("", "private"), "host", podman_modes=("private",)),
    _namespace_option("ipc", "--ipc", "the IPC namespace: host, none, private, shareable, or container:NAME",
                      "ipc_mode", "ipcns", "IpcMode", ("host", "none", "private", "shareable"),
                      ("", "private", "shareable"), "none",
                      # Podman 4.3 reports every IPC mode as shareable: its create command has the one given.
                      podman_inspect=lambda seen: next((v for v in reversed(create_command_values(
                          seen.attrs, "--ipc")) if v not in ("", "private", "shareable")), None)),
    _namespace_option("uts", "--uts", "the UTS namespace (host name): host, or container:NAME", "uts_mode",
                      "utsns", "UTSMode", ("host",), ("", "private"), "host", podman_modes=("private",)),
)

BY_KEY: Dict[str, Option] = {o.key: o for o in OPTIONS}


def supported(option: Option, runtime: str) -> Problems:
    if runtime in option.runtimes:
        return []
    return [(f"`{option.key}` is not supported by {runtime}",
             f"remove it, or run the deployment on {' or '.join(option.runtimes)}")]


def merge_into(payload: dict, fields: dict) -> None:
    """Create fields into a body: lists extend, tables merge (at every depth), the rest is set."""
    for key, value in fields.items():
        if isinstance(value, list) and isinstance(payload.get(key), list):
            payload[key] = payload[key] + value
        elif isinstance(value, dict) and isinstance(payload.get(key), dict):
            payload[key] = dict(payload[key])
            merge_into(payload[key], value)
        else:
            payload[key] = value


def groups(c) -> List[List[str]]:
    """The run command's groups of the table's options, in the table's order."""
    return [group for option in OPTIONS for group in option.words(getattr(c, option.key))]


def engine_value(option: Option, c):
    """What an option's engine hooks take: its value, or (its value, the joined option's)."""
    value = getattr(c, option.key)
    return (value, getattr(c, option.joined)) if option.joined else value


def joined_problems(option: Option, value, options: Dict[str, Any]) -> Problems:
    """An option joined to the network needs a network of its own."""
    if option.joined == "network" and value and not user_network(options.get("network")):
        return [(f"`{option.key}` applies to a user-defined network, and network is "
                 f"{options.get('network') or 'the default bridge'}",
                 "set network = \"NAME\" to a network made with `docker network create NAME` or "
                 "`podman network create NAME`")]
    return []


def docker_kwargs(c) -> Tuple[dict, dict]:
    """(create_host_config kwargs, create_container kwargs) of the table's options."""
    host: dict = {}
    create: dict = {}
    for option in OPTIONS:
        value = engine_value(option, c)
        merge_into(host, option.docker_host(value))
        merge_into(create, option.docker_create(value))
    return host, create


def podman_kwargs(c) -> dict:
    out: dict = {}
    for option in OPTIONS:
        out.update(option.podman_kwargs(engine_value(option, c)))
    return out


def podman_spec(c, payload: dict) -> None:
    for option in OPTIONS:
        merge_into(payload, option.podman_spec(engine_value(option, c)))


KEPT = tuple(o for o in OPTIONS if o.kept)


def _unless_image(option: Option, value, image_cfg: dict):
    if option.image_default is not None and value == option.image_default(image_cfg):
        return None
    return value


def _spec_value(option: Option, c, runtime: str, image_cfg: dict):
    value = option.spec(getattr(c, option.key), runtime)
    return option.image_fill(value, image_cfg, runtime) if option.image_fill else value


def spec_fields(c, runtime: str, image_cfg: dict) -> Dict[str, Any]:
    return {o.key: _unless_image(o, _spec_value(o, c, runtime, image_cfg), image_cfg) for o in KEPT}


def inspect_fields(seen: Seen) -> Dict[str, Any]:
    return {o.key: _unless_image(o, o.inspect(seen), seen.image_cfg) for o in KEPT}


def capture_values(fields: Dict[str, Any], say: Callable[[str], None], runtime: str) -> Dict[str, Any]:
    out = {}
    for option in KEPT:
        if runtime not in option.runtimes:  # set by other means (e.g. the engine's configuration)
            if fields[option.key] is not None:
                say(f"not captured: {option.key} = {option.text(fields[option.key])} ({runtime} takes no "
                    f"{option.key}; a recreate drops it)")
            continue
        value = option.capture(fields[option.key], say)
        if value is not None:
            out[option.key] = value
    return out
