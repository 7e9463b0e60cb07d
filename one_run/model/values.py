"""Short-syntax run options (ports, volumes, restart, ulimits, ...) as typed values.

Each type parses the string a user writes in a profile (the same string `docker run`
takes) and formats itself back, so the profile, the printed command and `capture`
share one spelling. Parse errors are ValueError with a message that says what Docker
accepts; the profile loader turns them into Problems with file, key and line.
"""
import re
from typing import List, NamedTuple, Optional, Tuple

NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
PROTOCOLS = ("tcp", "udp", "sctp")
# Options `-v` takes on every engine, and the extra ones only Podman knows.
VOLUME_OPTIONS = {"rw", "ro", "z", "Z", "nocopy", "shared", "rshared", "slave",
                  "rslave", "private", "rprivate", "consistent", "cached", "delegated"}
PODMAN_VOLUME_OPTIONS = {"U", "O", "exec", "noexec", "suid", "nosuid", "dev", "nodev", "copy"}
PROPAGATION_OPTIONS = ("shared", "rshared", "slave", "rslave", "private", "rprivate")
RESTART_NAMES = ("no", "always", "unless-stopped", "on-failure")
PULL_POLICIES = ("missing", "always", "never")

# The image reference grammar of distribution/reference (docker and podman parse it alike).
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
IMAGE_RE = re.compile(
    rf"^(?:(?P<domain>{_DOMAIN})/)?(?P<path>{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    r"(?::[\w][\w.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$")


def is_image_reference(text: str) -> bool:
    """Whether docker and podman take `text` as an image: the grammar, and the first component
    is a registry only if it has a dot or a port or is localhost (else it is a lower-case path)."""
    match = IMAGE_RE.match(text)
    if not match or len(match.group("path")) + len(match.group("domain") or "") > 255:
        return False
    domain = match.group("domain")
    if domain and not ("." in domain or ":" in domain or domain == "localhost"):
        return domain == domain.lower()
    return True


def check_ip(text: str) -> str:
    import ipaddress  # rarely needed, so kept off the start-up path

    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an IP address") from None
    return text


def _port_number(text: str, what: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"{what} {text!r} is not a port number (1-65535)")
    return int(text)


def _port_range(text: str, what: str) -> Tuple[int, int]:
    first, _, last = text.partition("-")
    start = _port_number(first, what)
    end = _port_number(last, what) if last else start
    if end < start:
        raise ValueError(f"{what} range {text!r} ends before it starts")
    return start, end


class Port(NamedTuple):
    """One published port: host_port None means the engine picks one."""

    container_port: int
    protocol: str = "tcp"
    host_ip: str = ""
    host_port: Optional[int] = None

    @property
    def key(self) -> str:
        return f"{self.container_port}/{self.protocol}"

    @classmethod
    def of(cls, key: str, host_ip: str = "", host_port: Optional[int] = None) -> "Port":
        """The port published at `key` ("80/tcp", as engines key them) on one host binding."""
        port, _, proto = key.partition("/")
        return cls(int(port), proto or "tcp", host_ip, host_port)

    def format(self) -> str:
        """As `-p` takes it (the inverse of parse_ports for one port)."""
        ip = f"[{self.host_ip}]" if ":" in self.host_ip else self.host_ip
        if ip:
            text = f"{ip}:{self.host_port or ''}:{self.container_port}"
        else:
            text = f"{self.host_port}:{self.container_port}" if self.host_port else str(self.container_port)
        return text if self.protocol == "tcp" else f"{text}/{self.protocol}"


def parse_ports(spec: str) -> List[Port]:
    """`[[ip:][host[-end]]:]container[-end][/proto]`, as `docker run -p` takes it."""
    body, _, proto = spec.partition("/")
    proto = proto or "tcp"
    if proto not in PROTOCOLS:
        raise ValueError(f"protocol {proto!r} is not one of {', '.join(PROTOCOLS)}")
    host_ip = ""
    if body.startswith("["):
        end = body.find("]")
        if end < 0 or body[end + 1:end + 2] != ":":
            raise ValueError("an IPv6 host address is written [addr]:host:container")
        host_ip, body = body[1:end], body[end + 2:]
        fields = body.split(":")
        if len(fields) != 2:
            raise ValueError("expected [addr]:host:container")
        host_part, container_part = fields
    else:
        fields = body.split(":")
        if len(fields) == 1:
            host_part, container_part = "", fields[0]
        elif len(fields) == 2:
            host_part, container_part = fields
        elif len(fields) == 3:
            host_ip, host_part, container_part = fields
        else:
            raise ValueError("expected [ip:][host:]container[/proto]; write IPv6 addresses in brackets")
    if host_ip:
        check_ip(host_ip)
    c_start, c_end = _port_range(container_part, "container port")
    if not host_part:
        return [Port(p, proto, host_ip) for p in range(c_start, c_end + 1)]
    h_start, h_end = _port_range(host_part, "host port")
    if h_end - h_start != c_end - c_start:
        raise ValueError("host and container port ranges must have the same length")
    return [Port(c, proto, host_ip, h_start + i) for i, c in enumerate(range(c_start, c_end + 1))]


def _addresses_overlap(a: str, b: str) -> bool:
    """True when two host addresses of `-p` share a socket address: no address binds every
    address of both families, 0.0.0.0 and :: every address of theirs."""
    if not a or not b:
        return True
    import ipaddress  # only for ports bound to an address

    x, y = ipaddress.ip_address(a), ipaddress.ip_address(b)
    return x.version == y.version and (x == y or x.is_unspecified or y.is_unspecified)


def host_port_clash(a: List[Port], b: List[Port]) -> Optional[Tuple[int, int]]:
    """The host ports (first, last) that two parse_ports results both bind, or None.

    Each result is one spec, so its host ports are one consecutive range on one address."""
    if not a or not b or a[0].host_port is None or b[0].host_port is None:
        return None  # the engine picks a free host port
    if a[0].protocol != b[0].protocol or not _addresses_overlap(a[0].host_ip, b[0].host_ip):
        return None
    first, last = max(a[0].host_port, b[0].host_port), min(a[-1].host_port, b[-1].host_port)
    return (first, last) if first <= last else None


class Volume(NamedTuple):
    """A `-v` mount: kind is "bind" (absolute host path), "volume" (named) or "anonymous"."""

    target: str
    source: str = ""
    kind: str = "anonymous"
    options: Tuple[str, ...] = ()

    def format(self) -> str:
        if self.kind == "anonymous":
            return self.target
        text = f"{self.source}:{self.target}"
        return f"{text}:{','.join(self.options)}" if self.options else text


def order_options(options) -> List[str]:
    """Volume options in the order people write them: z first, then ro, then the rest."""
    return sorted(options, key=lambda o: (0 if o in ("z", "Z") else 1 if o in ("ro", "rw") else 2, o))


def is_host_path(source: str) -> bool:
    return source.startswith(("/", "./", "../", "~")) or source in (".", "..")


def parse_volume(spec: str, runtime: str = "docker") -> Volume:
    """`target`, `name:target[:opts]` or `path:target[:opts]`; paths left as written."""
    fields = spec.split(":")
    if len(fields) == 1:
        source, target, opts = "", fields[0], ""
    elif len(fields) == 2:
        source, target, opts = fields[0], fields[1], ""
    elif len(fields) == 3:
        source, target, opts = fields
    else:
        raise ValueError("expected [source:]target[:options]")
    if not target.startswith("/"):
        raise ValueError(f"container path {target!r} must be absolute")
    if target == "/":
        raise ValueError("the container's / cannot be a mount target")
    options = tuple(o for o in opts.split(",") if o) if opts else ()
    allowed = VOLUME_OPTIONS | (PODMAN_VOLUME_OPTIONS if runtime == "podman" else set())
    for opt in options:
        if opt not in allowed:
            extra = " (Podman only)" if opt in PODMAN_VOLUME_OPTIONS else ""
            raise ValueError(f"volume option {opt!r} is not accepted by {runtime}{extra}; "
                             f"use a comma-separated list of {', '.join(sorted(VOLUME_OPTIONS))}")
    if "ro" in options and "rw" in options:
        raise ValueError("a volume cannot be both ro and rw")
    if not source:
        return Volume(target)
    if is_host_path(source):
        return Volume(target, source, "bind", options)
    if not NAME_RE.match(source) or len(source) < 2:
        raise ValueError(f"{source!r} is neither a volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]+) "
                         "nor a host path (start it with /, ./ or ../)")
    propagation = [o for o in options if o in PROPAGATION_OPTIONS]
    if propagation and runtime == "docker":
        # Docker refuses it at create ("field BindOptions must not be specified"); Podman honours it.
        raise ValueError(f"mount propagation ({propagation[0]}) applies to bind mounts only: docker refuses it on "
                         f"the named volume {source!r}; remove {propagation[0]!r}, or mount a host path instead")
    return Volume(target, source, "volume", options)


class Mount(NamedTuple):
    """A `--mount` as the profile writes it (`text`, rendered unchanged), and what it says."""

    text: str
    kind: str  # "bind", "volume" or "tmpfs"
    target: str
    source: str = ""
    read_only: bool = False
    propagation: str = ""
    nocopy: bool = False
    size: Optional[int] = None  # tmpfs, bytes
    mode: Optional[int] = None  # tmpfs, permission bits

    def tmpfs_options(self, runtime: str) -> Tuple[str, ...]:
        """A tmpfs mount's options as each engine makes them from this --mount (measured: Docker
        20.10 takes tmpfs-size=0 as no size at all, so the kernel's default of half the memory;
        Podman 4.3 passes size=0, which the kernel reads as no limit)."""
        size = self.size if runtime == "podman" else self.size or None
        return (("ro",) if self.read_only else ()) + ((f"size={human_size(size)}",) if size is not None else ()) + \
            ((f"mode={self.mode:o}",) if self.mode is not None else ())

    def as_volume(self) -> Volume:
        """The same bind or named volume as `-v` writes it (tmpfs: not a volume)."""
        options = (("ro",) if self.read_only else ()) + ((self.propagation,) if self.propagation else ()) + \
            (("nocopy",) if self.nocopy else ())
        return Volume(self.target, self.source, self.kind, options)


# The --mount keys both CLIs and SDKs take (Docker 20.10, Podman 4.3, measured), by type; each
# alias under its one name. Podman 4.3 refuses volume-nocopy, and readonly except on a bind.
MOUNT_KEYS = {"source": "source", "src": "source", "target": "target", "dst": "target", "destination": "target",
              "readonly": "ro", "ro": "ro", "bind-propagation": "bind-propagation",
              "volume-nocopy": "volume-nocopy", "tmpfs-size": "tmpfs-size", "tmpfs-mode": "tmpfs-mode"}
MOUNT_TYPE_KEYS = {"bind": {"source", "target", "ro", "bind-propagation"},
                   "volume": {"source", "target", "ro", "volume-nocopy"},
                   "tmpfs": {"target", "ro", "tmpfs-size", "tmpfs-mode"}}
_BOOL_WORDS = {"": True, "true": True, "false": False}


def parse_mount(text: str, runtime: str = "docker") -> Mount:
    """A `--mount` value, read as the Docker CLI reads it (one CSV record, quotes allowed)."""
    import csv

    try:
        fields = next(csv.reader([text]), [])
    except csv.Error as exc:
        raise ValueError(f"is not one comma-separated record ({exc}); quote a field holding a comma") from None
    given = {}
    for item in fields:
        key, eq, value = item.partition("=")
        key = key.strip().lower()
        if key == "type":
            name = "type"
        elif key in MOUNT_KEYS:
            name = MOUNT_KEYS[key]
        else:
            raise ValueError(f"--mount key {key!r} is not one one-run takes ({', '.join(['type', *MOUNT_KEYS])}); "
                             "remove it, or use `volumes` or `tmpfs` for the mount")
        if name in given:
            raise ValueError(f"{name} is given twice; keep one")
        if not eq and name not in ("ro", "volume-nocopy"):
            raise ValueError(f"{key} needs a value: write {key}=...")
        given[name] = (key, value)
    kind = given.pop("type", (None, ""))[1]
    if kind not in MOUNT_TYPE_KEYS:
        raise ValueError("a mount begins with type=bind, type=volume or type=tmpfs")
    for name, (key, _) in given.items():
        if name not in MOUNT_TYPE_KEYS[kind]:
            raise ValueError(f"{key} does not apply to a {kind} mount; remove it")
    if runtime == "podman" and "volume-nocopy" in given:
        raise ValueError("Podman's --mount refuses volume-nocopy; remove it, or run the deployment on docker")
    if runtime == "podman" and kind != "bind" and given.get("ro", ("",))[0] == "readonly":
        raise ValueError(f"Podman's --mount takes readonly on a bind only; write ro on this {kind} mount")
    flags = {}
    for name in ("ro", "volume-nocopy"):
        word = given.get(name, ("", "false"))[1].lower()
        if word not in _BOOL_WORDS:
            raise ValueError(f"{given[name][0]}={word!r} is not true or false")
        flags[name] = _BOOL_WORDS[word]
    target = given.get("target", ("", ""))[1]
    if not target.startswith("/") or target.rstrip("/") == "":
        raise ValueError("target must be an absolute container path other than /, e.g. target=/var/lib/one")
    source = given.get("source", ("", ""))[1]
    if kind == "bind" and not source.startswith("/"):
        raise ValueError("a bind mount's source must be an absolute host path, e.g. source=/srv/one")
    if kind == "volume" and not (NAME_RE.match(source) and len(source) >= 2):
        raise ValueError("a volume mount's source must name the volume ([a-zA-Z0-9][a-zA-Z0-9_.-]+): an anonymous "
                         "volume's data is not kept by a recreate; name one, or write it in `volumes`")
    propagation = given.get("bind-propagation", ("", ""))[1]
    if propagation and propagation not in PROPAGATION_OPTIONS:
        raise ValueError(f"bind-propagation={propagation!r} is not one of {', '.join(PROPAGATION_OPTIONS)}")
    size = mode = None
    if "tmpfs-size" in given:
        size = size_bytes(given["tmpfs-size"][1])
    if "tmpfs-mode" in given:
        try:
            mode = int(given["tmpfs-mode"][1], 8)
        except ValueError:
            raise ValueError(f"tmpfs-mode={given['tmpfs-mode'][1]!r} is not octal permission bits, e.g. 1770") from None
    return Mount(text, kind, target, source, flags["ro"], propagation, flags["volume-nocopy"], size, mode)


class Restart(NamedTuple):
    name: str = "no"
    retries: int = 0

    def format(self) -> str:
        return f"{self.name}:{self.retries}" if self.retries else self.name


def parse_restart(spec: str) -> Restart:
    name, sep, count = spec.partition(":")
    if name not in RESTART_NAMES:
        raise ValueError(f"restart policy {spec!r} is not one of no, always, unless-stopped, on-failure[:N]")
    if sep:
        if name != "on-failure" or not count.isdigit():
            raise ValueError("only on-failure takes a retry count, as on-failure:N")
        return Restart(name, int(count))
    return Restart(name)


class Ulimit(NamedTuple):
    name: str
    soft: int
    hard: int

    def format(self) -> str:
        return f"{self.name}={self.soft}:{self.hard}"


def parse_ulimit(name: str, value) -> Ulimit:
    """`nofile = 1024` or `nofile = "1024:2048"`; -1 means unlimited, as in docker."""
    if not re.match(r"^[a-z]+$", name):
        raise ValueError(f"ulimit name {name!r} must be lower-case, as `nofile`, `nproc`, `memlock`")
    text = str(value)
    soft_text, _, hard_text = text.partition(":")
    try:
        soft = int(soft_text)
        hard = int(hard_text) if hard_text else soft
    except ValueError:
        raise ValueError(f"ulimit {name} = {value!r}: write a number or \"soft:hard\"") from None
    if hard != -1 and (soft == -1 or soft > hard):
        raise ValueError(f"ulimit {name}: soft limit {soft} is above hard limit {hard}")
    return Ulimit(name, soft, hard)


def parse_extra_host(spec: str) -> Tuple[str, str]:
    """`host:ip` (split at the first colon, so IPv6 addresses keep theirs)."""
    host, sep, ip = spec.partition(":")
    if not sep or not host or not ip:
        raise ValueError("expected host:ip, as docker run --add-host takes it")
    if ip != "host-gateway":
        check_ip(ip)
    return host, ip


def parse_device(spec: str) -> Tuple[str, str, str]:
    """`/dev/host[:/dev/container[:rwm]]`."""
    fields = spec.split(":")
    if len(fields) > 3 or not fields[0].startswith("/"):
        raise ValueError("expected /dev/host[:/dev/container[:permissions]]")
    host = fields[0]
    inside = fields[1] if len(fields) > 1 and fields[1] else host
    perms = fields[2] if len(fields) > 2 else "rwm"
    if not inside.startswith("/"):
        raise ValueError(f"container device path {inside!r} must be absolute")
    if not perms or set(perms) - set("rwm"):
        raise ValueError(f"device permissions {perms!r} must be letters of rwm")
    return host, inside, perms


def parse_tmpfs(spec: str) -> Tuple[str, str]:
    path, _, options = spec.partition(":")
    if not path.startswith("/"):
        raise ValueError(f"tmpfs path {path!r} must be absolute")
    return path, options


SIZE_RE = re.compile(r"^\d+[bkmgBKMG]?$")


def human_size(value: int) -> str:
    """Bytes as the engines' CLIs take a size: the largest of g, m, k that divides it."""
    for unit, size in (("g", 1024 ** 3), ("m", 1024 ** 2), ("k", 1024)):
        if value and value % size == 0:
            return f"{value // size}{unit}"
    return str(value)


def size_bytes(spec: str) -> int:
    """`64m` → bytes, with docker's binary units."""
    if not SIZE_RE.match(spec):
        raise ValueError(f"size {spec!r}: write a number with an optional unit b, k, m or g")
    units = {"b": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}
    unit = spec[-1].lower()
    return int(spec[:-1]) * units[unit] if unit in units else int(spec)


# The keys of `podman run --security-opt KEY=VALUE` (podman's parseSecurityOpt).
PODMAN_SECURITY_KEYS = ("label", "apparmor", "seccomp", "mask", "unmask", "systempaths", "proc-opts")


def parse_security_opt(spec: str) -> Tuple[str, str]:
    """A `--security-opt` as Podman takes it → (key, value): `no-new-privileges[=BOOL]` (value
    "true" or "false"), `systempaths=unconfined`, or KEY=VALUE for the other PODMAN_SECURITY_KEYS."""
    key, sep, value = spec.partition("=")
    if key == "no-new-privileges":
        if sep and value.lower() not in ("true", "false", "1", "0"):
            raise ValueError(f"security option {spec!r}: no-new-privileges takes true or false")
        return key, "true" if not sep or value.lower() in ("true", "1") else "false"
    if not sep or key not in PODMAN_SECURITY_KEYS:
        raise ValueError(f"security option {spec!r} is not one Podman takes: no-new-privileges, or KEY=VALUE "
                         f"with KEY one of {', '.join(PODMAN_SECURITY_KEYS)}")
    if key == "systempaths" and value != "unconfined":
        raise ValueError(f"security option {spec!r}: systempaths takes only unconfined")
    return key, value


class HostUrl(NamedTuple):
    """Where the engine runs, as `--host` or the profile's `host` names it: ssh://[user@]host[:port][/socket],
    unix:///socket, tcp://host:port, or (scheme "name") a docker context or podman system connection."""

    scheme: str
    text: str
    user: Optional[str] = None
    host: str = ""
    port: Optional[int] = None
    path: str = ""

    @property
    def without_path(self) -> str:
        """The URL without its socket's path: the host, whichever socket on it."""
        return self.text[:len(self.text) - len(self.path)] if self.path else self.text


HOST_FORMS = "ssh://[user@]host[:port][/socket], unix:///socket, tcp://host:port, or a context/connection name"


def parse_host(text: str) -> HostUrl:
    """The engine's location; ValueError naming the forms it may take."""
    scheme, sep, rest = text.partition("://")
    if not sep:
        if not NAME_RE.match(text):
            raise ValueError(f"not a host URL nor a context name; write {HOST_FORMS}")
        return HostUrl("name", text)
    if scheme == "unix":
        if not rest.startswith("/"):
            raise ValueError("a unix socket path must be absolute, as in unix:///run/podman/podman.sock")
        return HostUrl("unix", text, path=rest)
    if scheme not in ("ssh", "tcp"):
        raise ValueError(f"the scheme {scheme!r} is not ssh, unix or tcp; write {HOST_FORMS}")
    where, slash, path = rest.partition("/")
    user, at, hostport = where.rpartition("@")
    host, port = hostport, None
    # Neither may start with "-": ssh would read it as an option (-oProxyCommand=...).
    match = re.match(r"^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9_.][A-Za-z0-9_.-]*)(?::(\d+))?$", hostport)
    if not match or (at and not re.match(r"^[A-Za-z0-9_.][A-Za-z0-9_.-]*$", user)):
        raise ValueError(f"expected {scheme}://{'[user@]' if scheme == 'ssh' else ''}host[:port]")
    host, port = match.group(1), int(match.group(2)) if match.group(2) else None
    if port is not None and not 0 < port < 65536:
        raise ValueError(f"port {port} is not between 1 and 65535")
    if scheme == "tcp":
        if at or path:
            raise ValueError("a tcp endpoint is tcp://host:port, with no user or path")
        if port is None:
            raise ValueError(f"name the port, as in tcp://{host}:2376")
        return HostUrl("tcp", text, host=host, port=port)
    return HostUrl("ssh", text, user or None, host, port, "/" + path if slash and path else "")
