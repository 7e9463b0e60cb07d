"""The one small interface both engine backends implement, and how an engine is found.

Backends translate a RunSpec into their SDK's calls and the SDK's answers into
ContainerInfo; they hold no business rules (those live in apply/diff/capture).
"""
from dataclasses import dataclass, field
from typing import Callable, Dict, Optional, Tuple

from ..runspec import RunSpec


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
    env: Dict[str, str]
    labels: Dict[str, str]
    # (volume name, container path) of the old container's anonymous volumes, carried over.
    carried_volumes: Tuple[Tuple[str, str], ...] = ()


class Engine:
    """Interface of a backend. Every method raises one_run.errors types only."""

    runtime: str
    endpoint: str

    def get(self, name_or_id: str) -> Optional[ContainerInfo]: raise NotImplementedError
    def image_id(self, ref: str) -> Optional[str]: raise NotImplementedError
    def image_attrs(self, ref: str) -> dict: raise NotImplementedError
    def pull(self, ref: str, progress: Callable[[str], None]) -> None: raise NotImplementedError
    def create(self, request: CreateRequest) -> str: raise NotImplementedError
    def start(self, cid: str) -> None: raise NotImplementedError
    def stop(self, cid: str) -> None: raise NotImplementedError
    def rename(self, cid: str, name: str) -> None: raise NotImplementedError
    def remove(self, cid: str) -> None: raise NotImplementedError
    def logs(self, cid: str, tail: int) -> str: raise NotImplementedError


def get_engine(runtime: str) -> Engine:
    """Connect to the runtime's engine the way its own tools find it; EngineUnavailable if not."""
    if runtime == "docker":
        from .docker import DockerEngine
        return DockerEngine()
    from .podman import PodmanEngine
    return PodmanEngine()
