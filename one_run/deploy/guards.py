"""The guard `apply` runs before anything changes: a named volume of the profile that a
running container of another deployment mounts is refused (exit 2).

Two containers on one data directory are two MySQL servers on one set of files; it happens
when a profile is copied and renamed but its volumes are not.
"""
from .apply import NEW_SUFFIX, OLD_SUFFIX
from ..engines import HELPER_LABEL, Engine
from ..common.errors import UsageError
from ..model.runspec import RunSpec


def is_own(spec: RunSpec, name: str, labels: dict) -> bool:
    """The deployment's container, or one one-run leaves beside it (apply's temporaries, the
    kept previous containers, switch's helpers)."""
    return (name in (spec.name, spec.name + NEW_SUFFIX, spec.name + OLD_SUFFIX)
            or name.startswith(spec.name + "-previous-") or HELPER_LABEL in labels)


def check_not_shared(spec: RunSpec, engine: Engine, allow: bool = False) -> None:
    """Refuse (UsageError) when a running container of another deployment mounts a named
    volume of the spec. Raises EngineError when the engine cannot list them."""
    if allow:
        return
    for volume in sorted({v.source for v in spec.all_volumes if v.kind == "volume"}):
        others = [name for name, labels in engine.volume_users(volume) if not is_own(spec, name, labels)]
        if others:
            raise UsageError(
                f"the named volume {volume!r} is mounted by the running {engine.runtime} container {others[0]}, "
                f"which is not this deployment's ({spec.name}): two containers on one volume are two servers "
                f"writing one data directory — give this profile volumes of its own, or stop {others[0]} first; "
                "to share the volume anyway, pass --allow-shared-volume. Nothing was changed")
