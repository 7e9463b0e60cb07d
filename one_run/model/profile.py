"""TOML profile → typed, frozen model.

Every structural problem (malformed TOML, unknown key, wrong type, missing key, a
port or volume string Docker would reject) is collected with its file, key and line,
and reported together in one ProfileError: the user mends them all in one pass.
"""
import collections
import os
import re
import sys
from typing import Dict, List, NamedTuple, Optional, Tuple, Union

from ..common.errors import Problem, ProfileError
from ..common.files import MAX_INPUT_BYTES, NotReadable, read_regular_file
from . import values
from .options import (BOOL, INT, NOT_CARRIED, NUMBER, OPTIONS, RUNTIMES, STRING, STRING_TABLE, STRINGS, _is_int,
                      _is_str_list, joined_problems, supported)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python < 3.11 only
    import tomli as tomllib

DEFAULT_SETTLE_TIME = 5.0
DEFAULT_WATCH_TIMEOUT = 900  # seconds: the real bootstrap (onecfg, hooks, MySQL, oned, Sunstone) takes minutes
MAX_DEPTH = 32  # tables and arrays within each other; a profile needs 3


class SecretRef(NamedTuple):
    """A value read at apply time from the caller's environment or from a file. "pass" is a
    name of [container] pass_env: the value of that same name, which may be unset."""

    source: str  # "env", "file" or "pass"
    ref: str     # the variable name, or the path as written in the profile
    path: Optional[str] = None  # absolute, for "file"

    def describe(self) -> str:
        return f"${self.ref}" if self.source == "env" else str(self.path)


EnvValue = Union[str, SecretRef]


# The [container] keys of their own shape, then every option of the table (one_run.model.options).
Container = collections.namedtuple(
    "Container", ["name", "image", "ports", "volumes", "labels", "entrypoint", "command", "pass_env", "mounts"]
    + [o.key for o in OPTIONS], defaults=[(), (), (), None, None, (), ()] + [o.default for o in OPTIONS])
Container.__doc__ = ("The [container] table: name, image, ports, volumes, labels, entrypoint, command, pass_env, "
                     "mounts and OPTIONS.")


class Tls(NamedTuple):
    cert: str
    key: str


class Ssh(NamedTuple):
    private_key: str
    public_key: str


class Config(NamedTuple):
    onecfg_patch: Optional[str] = None
    patch_lines: Optional[Tuple[str, ...]] = None  # inline patch, written to a file one-run owns
    pre_bootstrap_hook: Optional[str] = None
    post_bootstrap_hook: Optional[str] = None


class Watch(NamedTuple):
    """When a started container counts as up: ready (its log line, its command, or the image's
    health check) within `timeout`, then still running `settle_time` later."""

    ready_log: Optional[str] = None          # a regular expression its log must print
    ready_command: Optional[Tuple[str, ...]] = None  # run inside it until it exits 0
    timeout: float = DEFAULT_WATCH_TIMEOUT
    settle_time: float = DEFAULT_SETTLE_TIME


SNAPSHOT_WHEN = ("image-change", "always", "never")
DEFAULT_SNAPSHOT_KEEP = 3


class SnapshotPolicy(NamedTuple):
    """[snapshot]: when apply copies the deployment's volumes before a new container starts."""

    when: str = "image-change"
    volumes: Optional[Tuple[str, ...]] = None  # volume names or container paths; None: the default set
    keep: int = DEFAULT_SNAPSHOT_KEEP


class Profile(NamedTuple):
    path: str  # absolute; paths are plain strings: pathlib costs `render` 4 ms of start-up
    runtime: str
    container: Container
    maintenance: bool = False
    host: Optional[str] = None  # the engine's location (values.parse_host); None: the environment's
    allow_system_paths: bool = False
    watch: Watch = Watch()
    env: Tuple[Tuple[str, EnvValue], ...] = ()
    tls: Optional[Tls] = None
    ssh: Optional[Ssh] = None
    config: Optional[Config] = None
    snapshot: SnapshotPolicy = SnapshotPolicy()
    lines: Dict[str, int] = {}  # dotted key -> line, for messages; never mutated

    @property
    def folder(self) -> str:
        return os.path.dirname(self.path)

    def problem(self, key: str, message: str, fix: Optional[str] = None, warning: bool = False) -> Problem:
        """A Problem located at `key` in this profile's file."""
        return Problem(message, str(self.path), key, self.line_of(key), fix, warning)

    def line_of(self, key: str) -> Optional[int]:
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key.rpartition(".")[0]
        return None


# --- schema: key -> (type description, checker) -----------------------------

def _is_patch(v):
    return isinstance(v, str) or _is_str_list(v)


TOP_KEYS = {"runtime": STRING, "host": STRING, "maintenance": BOOL, "settle_time": NUMBER, "allow_system_paths": BOOL}
TABLES = ("container", "env", "tls", "ssh", "config", "watch", "snapshot")
CONTAINER_KEYS = {
    "name": STRING, "image": STRING, **{o.key: o.kind for o in OPTIONS},
    "ports": STRINGS, "volumes": STRINGS, "labels": STRING_TABLE, "entrypoint": STRING, "command": STRINGS,
    "pass_env": STRINGS, "mounts": STRINGS,
}
TLS_KEYS = {"cert": STRING, "key": STRING}
SSH_KEYS = {"private_key": STRING, "public_key": STRING}
CONFIG_KEYS = {"onecfg_patch": ("a file path or an array of patch lines", _is_patch),
               "pre_bootstrap_hook": STRING, "post_bootstrap_hook": STRING}
WATCH_KEYS = {"ready_log": STRING, "ready_command": STRINGS, "timeout": NUMBER, "settle_time": NUMBER}
SNAPSHOT_KEYS = {"when": STRING, "volumes": STRINGS, "keep": INT}
REQUIRED = {"container": ("name", "image"), "tls": ("cert", "key"), "ssh": ("private_key", "public_key")}

_HEADER_RE = re.compile(r"^\s*\[\s*([A-Za-z0-9_.\-\"' ]+?)\s*\]\s*(#.*)?$")
_KEY_RE = re.compile(r"^\s*(\"[^\"]*\"|'[^']*'|[A-Za-z0-9_-]+)\s*=")


def key_lines(text: str) -> Dict[str, int]:
    """Dotted key -> 1-based line, found by a plain scan (tomllib keeps no positions)."""
    lines: Dict[str, int] = {}
    table = ""
    depth = 0  # inside a multi-line array, keys are not top-level assignments
    for number, line in enumerate(text.splitlines(), 1):
        if depth == 0:
            header = _HEADER_RE.match(line)
            if header:
                table = header.group(1).strip().strip("\"'")
                lines.setdefault(table, number)
                continue
            key = _KEY_RE.match(line)
            if key:
                name = key.group(1).strip("\"'")
                lines.setdefault(f"{table}.{name}" if table else name, number)
        depth += line.count("[") - line.count("]")
        depth = max(depth, 0)
    return lines


def closest(word: str, choices) -> Optional[str]:
    import difflib  # only on a mistake: keeps it off the start-up path

    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return match[0] if match else None


def _toml_kind(value) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return "a date"  # the only other kind of TOML value


def _toml_text(value) -> str:
    """An item as the profile writes it (tables and arrays elided: they can be long)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        return "{ ... }"
    if isinstance(value, list):
        return "[ ... ]"
    return str(value)


def _string_fix(dotted: str, item) -> str:
    if isinstance(item, (dict, list)):
        return "write each item as one quoted string"
    if dotted == "container.ports" and _is_int(item):
        # A bare number would publish the container port on a host port the engine picks.
        return f"write it as a string, host port first, e.g. \"{item}:{item}\""
    return f"write it in quotes: \"{_toml_text(item)}\""


class _Reader:
    """Walks the parsed document, collecting every problem instead of stopping at the first."""

    def __init__(self, path: str, lines: Dict[str, int]):
        self.path = path
        self.lines = lines
        self.problems: List[Problem] = []

    def add(self, key: str, message: str, fix: Optional[str] = None):
        line = None
        probe = key
        while probe and line is None:
            line = self.lines.get(probe)
            probe = probe.rpartition(".")[0]
        self.problems.append(Problem(message, str(self.path), key, line, fix))

    def table(self, data: dict, prefix: str, schema: dict) -> dict:
        """Type-checked known keys of one table; unknown keys reported with the closest name."""
        out = {}
        for key, value in data.items():
            dotted = f"{prefix}.{key}" if prefix else key
            if key not in schema:
                if prefix == "" and key in TABLES:
                    self.add(dotted, f"`{key}` must be a table", f"write it as [{key}]")
                    continue
                if prefix == "container" and key in NOT_CARRIED:
                    flag, why = NOT_CARRIED[key]
                    self.add(dotted, f"`{key}` ({flag}) is not carried: {why}", f"remove `{key}`")
                    continue
                near = closest(key, list(schema) + ([] if prefix else list(TABLES)))
                self.add(dotted, f"unknown key `{key}`",
                         f"did you mean `{near}`?" if near else f"valid keys: {', '.join(sorted(schema))}")
                continue
            kind, check = schema[key]
            if isinstance(value, list) and not check(value) and check([str(x) for x in value]):
                # An array of strings with a few wrong items: name each, not the whole array.
                for index, item in enumerate(value):
                    if not isinstance(item, str):
                        self.add(dotted, f"{dotted}[{index}] = {_toml_text(item)} is {_toml_kind(item)}, "
                                         "not a string", _string_fix(dotted, item))
                continue
            if not check(value):
                self.add(dotted, f"`{key}` must be {kind}, not {type(value).__name__} {value!r}")
                continue
            out[key] = value
        for key in REQUIRED.get(prefix, ()):
            if key not in data:
                self.add(prefix, f"missing required key `{key}` in [{prefix}]", f"add `{key} = ...` under [{prefix}]")
        return out

    def parsed(self, key: str, parse, value):
        try:
            return parse(value)
        except ValueError as exc:
            self.add(key, f"{value!r}: {exc}")
            return None

    def resolve(self, text: str) -> str:
        """A path as written, against the profile's folder; links are kept, so that a file
        keeps the name the profile gives it (Let's Encrypt's live/cert.pem, not archive/cert3.pem)."""
        return os.path.abspath(os.path.join(os.path.dirname(self.path), os.path.expanduser(text)))


def read_profile_text(path: str) -> str:
    try:
        raw = read_regular_file(path, MAX_INPUT_BYTES)
    except NotReadable as exc:
        if str(exc) == "does not exist":
            raise ProfileError([Problem("profile file not found", str(path),
                                        fix="check the path, or create one with `one-run init`")]) from None
        raise ProfileError([Problem(f"the profile {exc}", str(path),
                                    fix="name a TOML file (a regular file of at most "
                                        f"{MAX_INPUT_BYTES >> 20} MiB)")]) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ProfileError([Problem("the profile is not UTF-8 text", str(path), line=line,
                                    fix="save it as UTF-8")]) from None


def load_profile(path, runtime: Optional[str] = None) -> Profile:
    """Load and type-check a profile; `runtime` (from --runtime) wins over the file's."""
    path = os.path.abspath(path)
    return profile_from_text(path, read_profile_text(path), runtime)


def profile_from_text(path: str, text: str, runtime: Optional[str] = None) -> Profile:
    """A profile's text as if it were the file at `path` (its relative paths resolve there):
    the text of a recorded revision, for rollback."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"line (\d+)", str(exc))
        raise ProfileError([Problem(f"malformed TOML: {exc}", str(path), line=int(found.group(1)) if found else None,
                                    fix="see https://toml.io for the syntax")]) from None
    except RecursionError:  # tomllib recurses into inline arrays and tables
        raise ProfileError([_too_deep(path)]) from None
    lines = key_lines(text)
    problems = _shape_problems(path, data, lines)
    if problems:
        raise ProfileError(problems)
    return profile_from_data(path, data, lines, runtime)


def _too_deep(path: str, key: Optional[str] = None, line: Optional[int] = None) -> Problem:
    return Problem(f"tables and arrays are nested deeper than {MAX_DEPTH} levels", str(path), key, line,
                   "a profile nests at most a few levels: look for a runaway [ or {")


def _shape_problems(path: str, data: dict, lines: Dict[str, int]) -> List[Problem]:
    """Nesting too deep, and NUL bytes (no program takes them in an argument or a variable):
    found walking the document without recursion, before anything reads it."""
    problems: List[Problem] = []
    stack = [("", data, 0)]
    while stack:
        dotted, value, depth = stack.pop()
        if depth > MAX_DEPTH:
            return [_too_deep(path, dotted.split(".")[0] or None, lines.get(dotted.split(".")[0]))]
        if isinstance(value, dict):
            for key, item in value.items():
                child = f"{dotted}.{key}" if dotted else key
                if "\0" in key:
                    problems.append(_nul(path, child, lines))
                stack.append((child, item, depth + 1))
        elif isinstance(value, list):
            stack.extend((dotted, item, depth + 1) for item in value)
        elif isinstance(value, str) and "\0" in value:
            problems.append(_nul(path, dotted, lines))
    return problems


def _nul(path: str, key: str, lines: Dict[str, int]) -> Problem:
    line = None
    probe = key
    while probe and line is None:
        line = lines.get(probe)
        probe = probe.rpartition(".")[0]
    return Problem("a NUL character (\\u0000) in a key or value: no program takes it in an argument "
                   "or an environment variable", str(path), key.replace("\0", "\\u0000"), line,
                   "remove it")


def profile_from_data(path: str, data: dict, lines: Dict[str, int], runtime: Optional[str] = None) -> Profile:
    r = _Reader(path, lines)
    top = r.table({k: v for k, v in data.items() if not isinstance(v, dict) or k not in TABLES}, "", TOP_KEYS)
    for name in TABLES:
        if name in data and not isinstance(data[name], dict):
            r.add(name, f"`{name}` must be a table", f"write it as [{name}]")
    tables = {name: data[name] for name in TABLES if isinstance(data.get(name), dict)}
    if "container" not in tables:
        r.add("container", "missing required table [container]", "add [container] with at least name and image")

    runtime = runtime or top.get("runtime", "docker")
    if runtime not in RUNTIMES:
        r.add("runtime", f"runtime {runtime!r} is not docker or podman")
    watch = _watch(r, r.table(tables.get("watch", {}), "watch", WATCH_KEYS), top)
    if "host" in top:
        r.parsed("host", values.parse_host, top["host"])

    container = _container(r, r.table(tables.get("container", {}), "container", CONTAINER_KEYS), runtime)
    env = _env(r, tables.get("env", {}))
    for name in container.pass_env if container else ():
        if name in dict(env):
            r.add("container.pass_env", f"{name} is in pass_env and in [env]: one value would hide the other",
                  f"remove it from [env] to take {name} from the environment one-run runs in, or from pass_env "
                  "to set it in the profile")
    tls = ssh = config = None
    if "tls" in tables:
        t = r.table(tables["tls"], "tls", TLS_KEYS)
        if len(t) == 2:
            tls = Tls(r.resolve(t["cert"]), r.resolve(t["key"]))
    if "ssh" in tables:
        s = r.table(tables["ssh"], "ssh", SSH_KEYS)
        if len(s) == 2:
            ssh = Ssh(r.resolve(s["private_key"]), r.resolve(s["public_key"]))
    if "config" in tables:
        c = r.table(tables["config"], "config", CONFIG_KEYS)
        patch = c.get("onecfg_patch")
        config = Config(
            onecfg_patch=r.resolve(patch) if isinstance(patch, str) else None,
            patch_lines=tuple(patch) if isinstance(patch, list) else None,
            pre_bootstrap_hook=r.resolve(c["pre_bootstrap_hook"]) if "pre_bootstrap_hook" in c else None,
            post_bootstrap_hook=r.resolve(c["post_bootstrap_hook"]) if "post_bootstrap_hook" in c else None,
        )
    snapshot = _snapshot(r, r.table(tables["snapshot"], "snapshot", SNAPSHOT_KEYS), container) \
        if "snapshot" in tables else SnapshotPolicy()
    if r.problems:
        raise ProfileError(r.problems)
    return Profile(path=path, runtime=runtime, container=container, maintenance=top.get("maintenance", False),
                   host=top.get("host"), allow_system_paths=top.get("allow_system_paths", False), watch=watch, env=env, tls=tls,
                   ssh=ssh, config=config, snapshot=snapshot, lines=lines)


def _watch(r: _Reader, w: dict, top: dict) -> Watch:
    if "settle_time" in top and "settle_time" in w:
        r.add("settle_time", "settle_time is set twice, at the top level and under [watch]",
              "keep only the one under [watch]")
    settle = w.get("settle_time", top.get("settle_time", DEFAULT_SETTLE_TIME))
    where = "watch.settle_time" if "settle_time" in w else "settle_time"
    if settle < 0:
        r.add(where, "settle_time must not be negative")
    timeout = w.get("timeout", DEFAULT_WATCH_TIMEOUT)
    if timeout <= 0:
        r.add("watch.timeout", "timeout must be more than 0 seconds", f"the default is {DEFAULT_WATCH_TIMEOUT}")
    pattern = w.get("ready_log")
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as exc:
            r.add("watch.ready_log", f"ready_log is not a valid regular expression: {exc}",
                  "escape special characters with a backslash, e.g. \\. for a dot")
        if pattern == "":
            r.add("watch.ready_log", "ready_log is empty, so it would match at once", "write the line to wait for")
    command = w.get("ready_command")
    if command is not None and not command:
        r.add("watch.ready_command", "ready_command is empty", "write the program and its arguments, "
              "e.g. [\"supervisorctl\", \"status\"]")
    return Watch(ready_log=pattern, ready_command=tuple(command) if command else None,
                 timeout=float(timeout), settle_time=float(settle))


def _container(r: _Reader, c: dict, runtime: str) -> Optional[Container]:
    name = c.get("name", "")
    if name and (not values.NAME_RE.match(name) or len(name) < 2):
        r.add("container.name", f"container name {name!r} is not valid",
              "use letters, digits, _ . - (starting with a letter or digit)")
    image = c.get("image", "")
    if "image" in c and not values.is_image_reference(image):
        r.add("container.image", f"image reference {image!r} is not valid",
              "write it as [registry[:port]/]name[:tag][@digest], the name in lower case, "
              "e.g. docker.io/opennebula/opennebula:6.0")
    options = {}
    for option in OPTIONS:
        options[option.key] = option.default
        if option.key not in c:
            continue
        key, given = f"container.{option.key}", c[option.key]
        try:
            value = option.model(given)
        except ValueError as exc:
            r.add(key, str(exc) if isinstance(given, dict) else f"{given!r}: {exc}")
            continue
        for message, fix in supported(option, runtime) + option.check(value, runtime):
            r.add(key, message, fix)
        options[option.key] = value
    for option in OPTIONS:
        for message, fix in joined_problems(option, options[option.key], options):
            r.add(f"container.{option.key}", message, fix)
    _not_an_option(r, "container.entrypoint", c.get("entrypoint"))
    for label in c.get("labels", {}):
        _not_an_option(r, f"container.labels.{label}", label)
    published = []  # (spec, its ports) of each valid port so far
    for spec in c.get("ports", ()):
        ports = r.parsed("container.ports", values.parse_ports, spec)
        if not ports:
            continue
        for earlier, earlier_ports in published:
            clash = values.host_port_clash(earlier_ports, ports)
            if clash:
                where = f"{clash[0]}-{clash[1]}" if clash[1] > clash[0] else str(clash[0])
                r.add("container.ports", f"{earlier!r} and {spec!r} both bind host port {where}/{ports[0].protocol}, "
                      "which the engine refuses",
                      "give one of them another host port (the number before the container port), "
                      "or bind each to its own host address")
        published.append((spec, ports))
    if c.get("network") == "host" and c.get("ports"):
        # Docker's API refuses it, Docker's CLI drops the ports, Podman keeps them: three outcomes.
        r.add("container.ports", "ports are published while network = \"host\": with the host network the "
              "container uses the host's ports directly, so there is nothing to publish",
              "remove `ports`, or use another network")
    volumes = []
    for spec in c.get("volumes", ()):
        vol = r.parsed("container.volumes", lambda s: values.parse_volume(s, runtime), spec)
        if vol and vol.kind == "bind":
            # Links resolved: what is mounted is where they lead, and that is what validate judges.
            vol = values.Volume(vol.target, os.path.realpath(r.resolve(vol.source)), "bind", vol.options)
        if vol:
            volumes.append(vol)
    targets = [v.target.rstrip("/") for v in volumes]
    for target in sorted({t for t in targets if targets.count(t) > 1}):
        r.add("container.volumes", f"two volumes are mounted at {target}", "keep one mount per container path")
    mounts = []
    for text in c.get("mounts", ()):
        mount = r.parsed("container.mounts", lambda s: values.parse_mount(s, runtime), text)
        if mount and mount.kind == "bind":
            mount = mount._replace(source=os.path.realpath(mount.source))  # what validate judges, as for volumes
        if mount:
            mounts.append(mount)
    taken = {t: "volumes" for t in targets}
    taken.update({values.parse_tmpfs(t)[0].rstrip("/"): "tmpfs" for t in options.get("tmpfs") or ()
                  if _parses(values.parse_tmpfs, t)})
    for mount in mounts:
        target = mount.target.rstrip("/")
        if target in taken:
            where = "an earlier mount" if taken[target] == "mounts" else f"`{taken[target]}`"
            r.add("container.mounts", f"{mount.text!r} mounts at {target}, and so does {where}",
                  "keep one mount per container path")
        taken[target] = "mounts"
    pass_env = c.get("pass_env", ())
    for passed in pass_env:
        if not values.ENV_NAME_RE.match(passed):
            r.add("container.pass_env", f"{passed!r} is not an environment variable name",
                  "use letters, digits and _, not starting with a digit")
    for passed in sorted({n for n in pass_env if pass_env.count(n) > 1}):
        r.add("container.pass_env", f"{passed} is named twice", "keep one")
    for label in c.get("labels", {}):
        if label.startswith("one-run."):
            r.add(f"container.labels.{label}", f"label {label!r} is reserved for one-run's own bookkeeping",
                  "choose another prefix")
        if "=" in label:
            # apply would set the key as written, but the printed `--label a=b=v` sets key `a` = `b=v`.
            key, _, rest = label.partition("=")
            r.add(f"container.labels.{label}", f"label key {label!r} contains \"=\": the printed "
                  f"`--label {label}=...` would set label {key!r} to {rest + '=...'!r}, not what apply sets",
                  f"rename it without \"=\", e.g. \"{label.replace('=', '.')}\"")
        if any(ch.isspace() for ch in label):
            r.add(f"container.labels.{label}", f"label key {label!r} contains whitespace, which docker's CLI "
                  "refuses", f"rename it without whitespace, e.g. \"{'-'.join(label.split()) or 'name'}\"")
    entrypoint = c.get("entrypoint")
    if entrypoint == "":
        r.add("container.entrypoint", "entrypoint must not be empty", "remove the key to keep the image's")
    elif entrypoint is not None and entrypoint.lstrip().startswith("["):
        # Podman's CLI reads `--entrypoint '[...]'` as a JSON array; Docker's and both SDKs take it as one word.
        r.add("container.entrypoint", f"entrypoint {entrypoint!r} looks like a JSON array: Podman's run command "
              "would read it as one, Docker's and apply as one executable's name",
              "the entrypoint is one executable: write entrypoint = \"/path/to/program\" and put its arguments "
              "in command = [...]")
    return Container(
        name=name, image=image, ports=tuple(c.get("ports", ())), volumes=tuple(volumes),
        labels=tuple(c.get("labels", {}).items()), entrypoint=entrypoint,
        command=tuple(c["command"]) if "command" in c else None, pass_env=tuple(pass_env), mounts=tuple(mounts),
        **options,
    )


def _parses(parse, text) -> bool:
    try:
        parse(text)
        return True
    except ValueError:
        return False


def mount_volumes(c: Container) -> Tuple[values.Volume, ...]:
    """The binds and volumes of `mounts`, as `-v` writes them (what counts beside `volumes`)."""
    return tuple(m.as_volume() for m in c.mounts if m.kind != "tmpfs")


def _not_an_option(r: _Reader, key: str, value) -> None:
    """A value printed as a word of its own must not read as an option of `docker run`."""
    if isinstance(value, str) and value.startswith("-"):
        r.add(key, f"{value!r} starts with \"-\": the printed run command would read it as an option",
              "remove the leading \"-\"")


def _snapshot(r: _Reader, s: dict, container: Optional[Container]) -> SnapshotPolicy:
    when = s.get("when", "image-change")
    if when not in SNAPSHOT_WHEN:
        near = closest(when, SNAPSHOT_WHEN)
        r.add("snapshot.when", f"when = {when!r} is not one of {', '.join(SNAPSHOT_WHEN)}",
              f"did you mean \"{near}\"?" if near else "write when = \"image-change\" (the default)")
    keep = s.get("keep", DEFAULT_SNAPSHOT_KEEP)
    if keep < 1:
        r.add("snapshot.keep", f"keep = {keep}: apply keeps at least the snapshot it has just taken",
              "write keep = 1 or more, or when = \"never\" for no snapshots")
    volumes = s.get("volumes")
    mounted = container.volumes + mount_volumes(container) if container else ()
    for entry in volumes or ():
        if entry.startswith("/"):
            bind = next((v for v in mounted if v.kind == "bind" and v.target.rstrip("/") == entry.rstrip("/")), None)
            if bind:
                r.add("snapshot.volumes", f"{entry} is the bind mount of host folder {bind.source}: a snapshot "
                      "copies volumes, not host folders", f"remove {entry!r} from [snapshot] volumes")
        elif not any(v.kind == "volume" and v.source == entry for v in mounted):
            names = [v.source for v in mounted if v.kind == "volume"]
            near = closest(entry, names)
            r.add("snapshot.volumes", f"{entry!r} is not a named volume of [container] volumes or mounts",
                  f"did you mean {near!r}?" if near else
                  "name a volume of [container] volumes or mounts, or the container path it is mounted at")
    return SnapshotPolicy(when=when, volumes=tuple(volumes) if volumes is not None else None, keep=keep)


def _env(r: _Reader, table: dict) -> Tuple[Tuple[str, EnvValue], ...]:
    out = []
    for name, value in table.items():
        key = f"env.{name}"
        if not values.ENV_NAME_RE.match(name):
            r.add(key, f"{name!r} is not a valid environment variable name", "use letters, digits and _")
            continue
        if isinstance(value, bool):
            r.add(key, f"{name} = {str(value).lower()}: the image reads yes/no strings",
                  f"write {name} = \"{'yes' if value else 'no'}\"")
        elif isinstance(value, str):
            out.append((name, value))
        elif isinstance(value, (int, float)):
            out.append((name, str(value)))
        elif isinstance(value, dict):
            ref = _secret(r, name, value)
            if ref:
                out.append((name, ref))
        else:
            r.add(key, f"{name} must be a string, a number, {{ env = \"VAR\" }} or {{ file = \"path\" }}")
    return tuple(out)


def _secret(r: _Reader, name: str, value: dict) -> Optional[SecretRef]:
    # The values are never echoed: a mistyped reference may hold the secret itself.
    key = f"env.{name}"
    forms = {"env": f"{name} = {{ env = \"VAR\" }}", "file": f"{name} = {{ file = \"path\" }}"}
    usage = f"write {forms['env']} or {forms['file']}"
    unknown = [k for k in value if k not in forms]
    if unknown:
        near = closest(unknown[0], forms)
        r.add(key, f"secret reference of {name}: unknown key `{unknown[0]}`; the table takes exactly one key, "
                   "`env` or `file`", f"did you mean `{near}`? write {forms[near]}" if near else usage)
        return None
    if len(value) != 1:
        keys = " and ".join(f"`{k}`" for k in value) or "no key"
        r.add(key, f"secret reference of {name} has {keys}; the table takes exactly one key, `env` or `file`",
              usage)
        return None
    source, ref = next(iter(value.items()))
    if not isinstance(ref, str):
        r.add(key, f"secret reference of {name}: `{source}` must be a string", f"write {forms[source]}")
        return None
    if source == "env":
        if not values.ENV_NAME_RE.match(ref):
            r.add(key, f"secret reference of {name}: the `env` value is not an environment variable name "
                       "(it is not shown here: it may be the secret itself)",
                  f"write {forms['env']} with VAR made of letters, digits and _; to keep the value in a file, "
                  f"write {forms['file']}")
            return None
        return SecretRef("env", ref)
    return SecretRef("file", ref, r.resolve(ref))
