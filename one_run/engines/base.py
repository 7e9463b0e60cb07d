"""The one small interface both engine backends implement (Engine), and what it speaks in.

Backends translate a RunSpec into their SDK's calls and the SDK's answers into
ContainerInfo; they hold no business rules (those live in deploy/ and commands/).
"""
import os
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Tuple

from ..common.errors import EngineError
from ..model.runspec import RunSpec
from ..model.values import parse_ports

ARCHIVE_CHUNK = 1 << 20  # bytes per read of a volume archive stream
OTHER = {"docker": "podman", "podman": "docker"}  # the other runtime, for switch and its guards
# The first contact with an engine: one that accepts but never answers is reported within
# this, not after an SDK's default of minutes. Later calls may take longer (a stop waits for
# its stop timeout besides), up to CALL_TIMEOUT each.
CONNECT_TIMEOUT = 10
CALL_TIMEOUT = 120
HOST_HINT = "--host, the profile's `host`, or DOCKER_HOST / CONTAINER_HOST"


@dataclass
class ContainerInfo:
    id: str
    name: str
    image: str       # the reference the container was created from, as the user named it
    image_id: str
    status: str      # created | running | exited | ...
    exit_code: int
    labels: Dict[str, str]
    attrs: dict = field(repr=False)  # the engine's inspect document, for diff and capture
    health: Optional[str] = None

    @property
    def running(self) -> bool:
        return self.status == "running"


@dataclass(frozen=True)
class CreateRequest:
    """What to create: the spec, its resolved environment and extra labels and volumes."""

    spec: RunSpec
    name: str
    env: Dict[str, Optional[str]]  # None: a pass_env name not set where one-run runs
    labels: Dict[str, str]
    # (volume name, container path) of the old container's anonymous volumes, carried over.
    carried_volumes: Tuple[Tuple[str, str], ...] = ()
    # The `run` argv apply recorded for it (secrets by name only); Podman keeps it as the
    # container's CreateCommand, as `podman create` does. Docker has no such field.
    create_command: Tuple[str, ...] = ()


class Engine:
    """Interface of a backend. Every method raises one_run.common.errors types only."""

    runtime: str

    def __init__(self, endpoint):
        self.endpoint = endpoint  # endpoint.Endpoint: where it is, as the operator named it
        # One command looks an image up several times (plan, snapshot, diff, history); within
        # it only pull changes what a reference names.
        self._images: Dict[str, Optional[dict]] = {}

    @property
    def label(self) -> str:
        """The runtime, and where it runs when that is another host: how messages name the engine."""
        return f"{self.runtime} at {self.endpoint.name}" if self.endpoint.remote else self.runtime

    def get(self, name_or_id: str) -> Optional[ContainerInfo]: raise NotImplementedError

    def image_attrs(self, ref: str) -> Optional[dict]:
        """The image's inspect (by reference or ID), None when the engine has no such image;
        asked of the engine once per reference in a command."""
        if ref not in self._images:
            attrs = self._images[ref] = self.inspect_image(ref)
            if attrs:
                self._images[attrs["Id"]] = attrs
        return self._images[ref]

    def pull(self, ref: str, progress: Callable[[str], None]) -> None:
        """Pull ref; the images looked up so far are forgotten: a tag may name another one now."""
        self._images.clear()
        self.pull_image(ref, progress)

    def inspect_image(self, ref: str) -> Optional[dict]: raise NotImplementedError
    def pull_image(self, ref: str, progress: Callable[[str], None]) -> None: raise NotImplementedError
    def create(self, request: CreateRequest) -> str: raise NotImplementedError
    def start(self, cid: str) -> None: raise NotImplementedError
    def stop(self, cid: str) -> None: raise NotImplementedError
    def rename(self, cid: str, name: str) -> None: raise NotImplementedError
    def remove(self, cid: str) -> None: raise NotImplementedError
    def logs(self, cid: str, tail: "int | str") -> str: raise NotImplementedError  # tail: a count or "all"

    def exec(self, cid: str, argv: List[str]) -> Tuple[int, str]:
        """Run argv inside the running container; its exit code and output."""
        raise NotImplementedError

    def names_starting(self, prefix: str) -> List[Tuple[str, str]]:
        """(name, status) of the containers whose name starts with prefix."""
        raise NotImplementedError

    def volume_users(self, volume: str) -> List[Tuple[str, Dict[str, str]]]:
        """(name, labels) of the RUNNING containers that mount the named volume."""
        raise NotImplementedError

    # The profile fields update() can change on an existing container, durably (what inspect shows).
    updatable: frozenset = frozenset()

    def update(self, cid: str, **fields) -> None:
        """Change `updatable` fields in place: restart (values.Restart), memory (a size such as
        "512m"), cpus (a number)."""
        raise EngineError(f"{self.runtime}: cannot update {', '.join(fields)} in place")

    def disable_restart(self, cid: str) -> bool:
        """Set the container's restart policy to "no"; False where the engine cannot change it."""
        return False

    def run_health_check(self, cid: str) -> Optional[str]:
        """Run the container's health check now and return the resulting status, where the
        engine leaves scheduling the checks to someone else; None where it schedules them itself."""
        return None

    # --- volumes and archives (switch) ----------------------------------------
    # Volume data moves through the engine's own archive API, never through host
    # paths, so rootless Podman and remote engines work the same way.

    def volume(self, name: str) -> Optional[dict]: raise NotImplementedError  # inspect, None if missing
    def create_volume(self, name: str, labels: Dict[str, str]) -> None: raise NotImplementedError
    def remove_volume(self, name: str) -> None: raise NotImplementedError  # only volumes one-run created
    def volumes_labelled(self, label: str, value: str) -> List[dict]:
        """The inspect documents of the volumes whose label `label` is `value`."""
        raise NotImplementedError
    def volume_sizes(self) -> Dict[str, int]: raise NotImplementedError  # name -> bytes, where the engine knows
    def any_image(self) -> Optional[str]: raise NotImplementedError  # some local image id, for helpers

    def create_helper(self, image: str, mounts: List[Tuple[str, str, bool]], name: str,
                      command: Optional[List[str]] = None) -> str:
        """A container that is never the deployment: (volume, path, read_only) mounted, no network,
        no anonymous volumes for the image's VOLUMEs, labelled HELPER_LABEL, ready for archive_get
        and archive_put. With a command it is only created, and start() runs the command."""
        raise NotImplementedError

    def archive_get(self, cid: str, path: str, owners: bool = True) -> Iterator[bytes]:
        """The tar of directory `path` with entry names relative to it, its own entry included
        (named ".", "./", "/" or "" depending on the engine). Streams; closes when exhausted or closed.
        owners=False allows entries whose owners are not the files' own (a listing is enough)."""
        raise NotImplementedError

    def archive_put(self, cid: str, path: str, chunks: Iterable[bytes]) -> None:
        """Extract a tar (as archive_get produces it) into directory `path`, keeping the
        archive's numeric owners, modes, times and links. `chunks` is sent as it comes."""
        raise NotImplementedError

    def _chunks(self, response, what: str) -> Iterator[bytes]:
        """A streamed HTTP response of either SDK (both use requests) as chunks; EngineError on a cut."""
        import requests
        import urllib3.exceptions

        try:
            while True:
                chunk = response.raw.read(ARCHIVE_CHUNK, decode_content=True)
                if not chunk:
                    return
                yield chunk
        except (requests.RequestException, OSError, urllib3.exceptions.HTTPError) as exc:
            raise EngineError(f"{self.label}: {what} failed: {exc}") from None
        finally:
            response.close()


def port_bindings(ports: Iterable[str]) -> Dict[str, list]:
    """The profile's `-p` values as both SDKs take them: "80/tcp" -> [host_port or (host_ip, host_port), ...]."""
    bindings: Dict[str, list] = {}
    for text in ports:
        for port in parse_ports(text):
            bindings.setdefault(port.key, []).append((port.host_ip, port.host_port) if port.host_ip else port.host_port)
    return bindings


def unreachable_reason(endpoint: str, exc: Exception) -> str:
    """Why an engine could not be reached, in a few words rather than an SDK's nested repr."""
    if endpoint.startswith("unix://") and not os.path.exists(endpoint[len("unix://"):]):
        return "no socket there"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__
