"""The engines: how one is found (get_engine), and the interface the backends implement
(base.py), re-exported here for the layers above."""
import gc
import sys

from ..model.endpoint import Endpoint, endpoint_for, endpoint_named, name_host
from ..model.runspec import HELPER_LABEL
from .base import (ARCHIVE_CHUNK, CALL_TIMEOUT, CONNECT_TIMEOUT, OTHER, ContainerInfo, CreateRequest, Engine,
                   port_bindings, unreachable_reason)

__all__ = ["ARCHIVE_CHUNK", "CALL_TIMEOUT", "CONNECT_TIMEOUT", "HELPER_LABEL", "OTHER", "ContainerInfo",
           "CreateRequest", "Endpoint", "Engine", "endpoint_for", "endpoint_named", "get_engine", "name_host",
           "port_bindings", "unreachable_reason"]


def get_engine(runtime: str) -> Engine:
    """Connect to the runtime's engine where endpoint_for says it is; EngineUnavailable if not."""
    endpoint = endpoint_for(runtime)
    if runtime in sys.modules:  # the SDK package is named after its runtime
        return _connect(endpoint)
    # The SDK import makes some 16 000 objects the cyclic collector tracks, and they live
    # until exit. Left to the collector, they are walked again and again during the import
    # and once more at interpreter exit: 70-110 ms of an apply whose whole overhead budget
    # is 0.35 s (bench (c)). Frozen, the collector skips them; it still collects the rest.
    gc.disable()
    try:
        return _connect(endpoint)
    finally:
        gc.freeze()
        gc.enable()


def _connect(endpoint: Endpoint) -> Engine:
    base_url = endpoint.url.text
    if endpoint.url.scheme == "ssh":
        from .ssh import forwarded_socket
        base_url = forwarded_socket(endpoint.url, endpoint.identity, endpoint.socket, CONNECT_TIMEOUT)
    if endpoint.runtime == "docker":
        from .docker import DockerEngine
        return DockerEngine(endpoint, base_url)
    from .podman import PodmanEngine
    return PodmanEngine(endpoint, base_url)
