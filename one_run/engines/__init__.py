"""The engines: how one is found (get_engine), and the interface the backends implement
(base.py), re-exported here for the layers above."""
import gc
import os
import sys

from .base import (ARCHIVE_CHUNK, CALL_TIMEOUT, CONNECT_TIMEOUT, HELPER_LABEL, OTHER, ContainerInfo, CreateRequest,
                   Engine, port_bindings, unreachable_reason)

__all__ = ["ARCHIVE_CHUNK", "CALL_TIMEOUT", "CONNECT_TIMEOUT", "HELPER_LABEL", "OTHER", "ContainerInfo",
           "CreateRequest", "Engine", "endpoint_named", "get_engine", "port_bindings", "unreachable_reason"]


def endpoint_named(runtime: str) -> bool:
    """Whether this machine names an engine of that runtime: its variable set, or its default
    socket present (so an engine that cannot be reached there is down, not absent)."""
    if runtime == "docker":
        from .docker import DEFAULT_SOCKET as socket
        variable = "DOCKER_HOST"
    else:
        from .podman import default_socket
        socket, variable = default_socket(), "CONTAINER_HOST"
    return bool(os.environ.get(variable)) or os.path.exists(socket[len("unix://"):])


def get_engine(runtime: str) -> Engine:
    """Connect to the runtime's engine the way its own tools find it; EngineUnavailable if not."""
    if runtime in sys.modules:  # the SDK package is named after its runtime
        return _connect(runtime)
    # The SDK import makes some 16 000 objects the cyclic collector tracks, and they live
    # until exit. Left to the collector, they are walked again and again during the import
    # and once more at interpreter exit: 70-110 ms of an apply whose whole overhead budget
    # is 0.35 s (bench (c)). Frozen, the collector skips them; it still collects the rest.
    gc.disable()
    try:
        return _connect(runtime)
    finally:
        gc.freeze()
        gc.enable()


def _connect(runtime: str) -> Engine:
    if runtime == "docker":
        from .docker import DockerEngine
        return DockerEngine()
    from .podman import PodmanEngine
    return PodmanEngine()
