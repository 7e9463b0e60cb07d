"""Which engine a command talks to: the host the operator named, and the socket there.

Precedence: `--host`, then the profile's `host`, then DOCKER_HOST / CONTAINER_HOST, then
the runtime's local socket. A host named by the flag or the profile is the profile's
runtime's, and the environment is then not read for it: a profile that names its host is
never applied elsewhere because of a stray variable. The other runtime (apply's guards)
is looked for on the same host.
"""
import os
from typing import List, NamedTuple, Optional, Tuple

from ..common.errors import EngineUnavailable, UsageError
from .values import HostUrl, parse_host

ENV_VARIABLE = {"docker": "DOCKER_HOST", "podman": "CONTAINER_HOST"}
# The socket of each runtime on a host reached over SSH, when its URL names none: the
# system service's, as root has it there (a rootless one is named by its path).
REMOTE_SOCKET = {"docker": "/var/run/docker.sock", "podman": "/run/podman/podman.sock"}
FORWARDED = "/tmp/one-run-{runtime}.sock"  # a forward of a docker socket the CLI cannot name over ssh://

_named: Optional[Tuple[str, str, str]] = None  # (the host as written, where, the runtime it was named for)


def local_socket(runtime: str) -> str:
    if runtime == "docker":
        return "unix:///var/run/docker.sock"
    if os.geteuid() == 0:
        return "unix:///run/podman/podman.sock"
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR", f"/run/user/{os.geteuid()}")
    return f"unix://{runtime_dir}/podman/podman.sock"


class Endpoint(NamedTuple):
    runtime: str
    name: str  # as the operator named it, for messages: ssh://root@fe1, unix:///..., a context's name
    url: HostUrl  # where it leads: ssh, unix or tcp
    # An identity file a podman system connection names (ssh's -i).
    identity: Optional[str] = None

    @property
    def remote(self) -> bool:
        """The engine does not share this machine's disk: no client path may reach it."""
        return self.url.scheme != "unix"

    @property
    def socket(self) -> str:
        """The socket's path on the engine's host (ssh and unix)."""
        return self.url.path or REMOTE_SOCKET[self.runtime]

    @property
    def cli_host(self) -> str:
        """The URL as the runtime's own CLI takes it in DOCKER_HOST / CONTAINER_HOST."""
        url = self.url
        if url.scheme == "ssh" and self.runtime == "podman" and not url.path:
            return f"{url.text.rstrip('/')}{REMOTE_SOCKET['podman']}"
        return url.text

    def cli_reach(self) -> List[str]:
        """The shell lines after which the runtime's own CLI reaches this engine: render's, and
        those of the commands an error names; none for a local one."""
        import shlex

        if not self.remote:
            return []
        variable = ENV_VARIABLE[self.runtime]
        if self.runtime == "docker" and self.url.scheme == "ssh" and self.socket != REMOTE_SOCKET["docker"]:
            # The docker CLI's ssh:// reaches the default socket only: forward this one.
            local = FORWARDED.format(runtime=self.runtime)
            return [f"ssh -fnNT -o ExitOnForwardFailure=yes -o StreamLocalBindUnlink=yes -L {local}:{self.socket} "
                    f"{shlex.join(ssh_destination(self.url))}", f"export {variable}=unix://{local}"]
        return [f"export {variable}={shlex.quote(self.cli_host)}"]


def ssh_destination(url: HostUrl, identity: Optional[str] = None) -> List[str]:
    """The ssh(1) words that reach url's host: port, user, identity, then the host after `--`
    (so that no host can be read as an option)."""
    words = ["-p", str(url.port)] if url.port else []
    words += ["-l", url.user] if url.user else []
    words += ["-i", os.path.expanduser(identity)] if identity else []
    return words + ["--", url.host.strip("[]")]


def name_host(flag: Optional[str], profile_host: Optional[str], runtime: str) -> None:
    """Record the host the command line or the profile names for `runtime` (None for neither)."""
    global _named
    _named = ((flag, "--host", runtime) if flag else (profile_host, "the profile's host", runtime) if profile_host
              else None)


def endpoint_for(runtime: str) -> Endpoint:
    """The runtime's endpoint by the precedence above; UsageError for a host that does not parse,
    EngineUnavailable for the other runtime beside a host that names one engine only."""
    if _named:
        text, source, named_runtime = _named
        if runtime != named_runtime:
            return _beside(text, source, runtime)
    else:
        source = ENV_VARIABLE[runtime]
        text = os.environ.get(source) or local_socket(runtime)
    try:
        url = parse_host(text)
        if url.scheme == "name" and _named:  # the variables hold URLs (DOCKER_CONTEXT is another one)
            url, identity = _named_connection(runtime, text)
            return Endpoint(runtime, text, url, identity)
        if url.scheme == "tcp" and runtime == "podman" and _named:
            raise ValueError("Podman's API is reached over ssh:// or unix://, not tcp://")
    except ValueError as exc:
        if _named:
            raise UsageError(f"{source} {text!r}: {exc}") from None
        url = HostUrl("other", text)
    if url.scheme in ("name", "other"):  # a variable's value the SDK may still take (http://, fd://, ...)
        return Endpoint(runtime, text, HostUrl("other", text))
    return Endpoint(runtime, text, url)


def _beside(text: str, source: str, runtime: str) -> Endpoint:
    """The other runtime's engine on the named host: over SSH, the socket its variable names on
    that same host (a rootless Podman's), else its default socket there; beside a local socket,
    this machine's own; beside tcp:// or a context, none is known."""
    url = parse_host(text)
    if url.scheme == "ssh":
        try:
            variable = parse_host(os.environ.get(ENV_VARIABLE[runtime]) or "")
            if variable.scheme == "ssh" and variable.without_path == url.without_path and variable.path:
                return Endpoint(runtime, variable.text, variable)
        except ValueError:
            pass
        bare = url._replace(path="", text=url.without_path)
        return Endpoint(runtime, bare.text, bare)
    if url.scheme == "unix":
        variable = os.environ.get(ENV_VARIABLE[runtime]) or local_socket(runtime)
        try:
            return Endpoint(runtime, variable, parse_host(variable))
        except ValueError:
            return Endpoint(runtime, variable, HostUrl("other", variable))
    raise EngineUnavailable(f"{source} {text} names one engine; no {runtime} engine beside it is known")


def endpoint_named(runtime: str) -> bool:
    """Whether an engine of that runtime is known to be there: its host named (by the flag, the
    profile or its variable) or its local socket present. An engine that cannot be reached
    there is down, not absent. The other runtime on a remote host may or may not be there."""
    if _named and runtime == _named[2]:
        return True
    if _named and parse_host(_named[0]).scheme != "unix":
        return False
    return bool(os.environ.get(ENV_VARIABLE[runtime])) or os.path.exists(local_socket(runtime)[len("unix://"):])


def _named_connection(runtime: str, name: str) -> Tuple[HostUrl, Optional[str]]:
    """A docker context's or podman system connection's URL (and identity file); ValueError if none."""
    import json

    home = os.path.expanduser("~")
    if runtime == "docker":
        import hashlib

        folder = os.environ.get("DOCKER_CONFIG") or os.path.join(home, ".docker")
        meta = os.path.join(folder, "contexts", "meta", hashlib.sha256(name.encode()).hexdigest(), "meta.json")
        try:
            with open(meta, encoding="utf-8") as f:
                return parse_host(json.load(f)["Endpoints"]["docker"]["Host"]), None
        except (OSError, ValueError, KeyError, TypeError):
            raise ValueError(f"no docker context of that name ({meta}); `docker context ls` lists them") from None
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    for found in (_podman_connection_json, _podman_connection_conf):
        entry = found(os.path.join(config, "containers"), name)
        if entry:
            return parse_host(entry.get("uri") or entry.get("URI") or ""), entry.get("identity") or entry.get("Identity")
    raise ValueError("no podman system connection of that name; `podman system connection list` lists them")


def _podman_connection_json(folder: str, name: str) -> Optional[dict]:
    import json

    try:  # podman 4.8 and later
        with open(os.path.join(folder, "podman-connections.json"), encoding="utf-8") as f:
            return json.load(f)["Connection"]["Connections"].get(name)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _podman_connection_conf(folder: str, name: str) -> Optional[dict]:
    try:  # podman before 4.8: containers.conf, [engine.service_destinations.NAME]
        import tomllib
    except ImportError:  # Python < 3.11
        import tomli as tomllib
    try:
        with open(os.path.join(folder, "containers.conf"), "rb") as f:
            return tomllib.load(f)["engine"]["service_destinations"].get(name)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
