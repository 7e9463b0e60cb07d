"""The guards `apply` runs before anything changes, each refusing with exit 2:

- the deployment lives on the other runtime (its container, or its volumes' data, is there):
  applying here would start OpenNebula without its data; `switch` moves it instead;
- a named volume of the profile is mounted by a running container of another deployment:
  two containers on one data directory are two MySQL servers on one set of files (it
  happens when a profile is copied and renamed but its volumes are not).
"""
import sys
from typing import Optional

from ..common.errors import EngineError, EngineUnavailable, OneRunError, UsageError
from ..engines import HELPER_LABEL, OTHER, Engine, endpoint_named, get_engine
from ..model.profile import Profile, load_profile
from ..model.runspec import RunSpec
from .naming import KEPT_INFIX, NEW_SUFFIX, OLD_SUFFIX
from .volume_copy import probe_volumes


def is_own(spec: RunSpec, name: str, labels: dict) -> bool:
    """The deployment's container, or one one-run leaves beside it (apply's temporaries, the
    kept previous containers, switch's helpers)."""
    return (name in (spec.name, spec.name + NEW_SUFFIX, spec.name + OLD_SUFFIX)
            or name.startswith(spec.name + KEPT_INFIX) or HELPER_LABEL in labels)


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


def check_not_elsewhere(profile: Profile, spec: RunSpec, engine: Engine, allow_empty: bool = False) -> None:
    """Refuse (UsageError, exit 2) to apply on engine's runtime while the deployment lives on the other.

    It lives on the other runtime when a container of its name exists there (and this side
    has no container that could be the deployment), or when no container exists on either
    side but the profile's named volumes hold data there and are missing or empty here.
    """
    if allow_empty:
        return
    here = engine.get(spec.name)
    if here is not None and here.running:
        return
    try:
        other = get_engine(OTHER[engine.runtime])
    except (EngineUnavailable, EngineError) as exc:
        if endpoint_named(OTHER[engine.runtime]):  # there, but down: the deployment may live there
            print(f"warning: {exc.message}; so whether the deployment lives on {OTHER[engine.runtime]} "
                  f"could not be checked", file=sys.stderr)
        return  # no such engine here: nothing there can be lost
    hint = (f"to move it with its data run `one-run switch {profile.path} --to {engine.runtime}`; "
            f"to start an empty deployment on {engine.runtime} anyway, pass --allow-empty-volumes")
    there = other.get(spec.name)
    if there is not None:
        # Both stopped: the profile's own `runtime` says which one is the deployment.
        if here is None or there.running or file_runtime(profile) != engine.runtime:
            where = f"{other.runtime} container {spec.name} ({there.id[:12]}, {there.status})"
            also = f"; the {engine.runtime} container {here.id[:12]} is {here.status}" if here else ""
            # A switch killed after its target started leaves exactly this: the profile not yet edited.
            finish = (f"; if a switch to {other.runtime} was interrupted, `one-run switch {profile.path} "
                      f"--to {other.runtime}` completes it" if there.running and here else "")
            raise UsageError(f"the deployment lives on {other.runtime}: {where}{also}. Applying on "
                             f"{engine.runtime} would run OpenNebula without its data — {hint}{finish}")
        return
    if here is not None:
        return
    named = [v.source for v in spec.all_volumes if v.kind == "volume"]
    elsewhere = [name for name in named if other.volume(name) is not None]
    if not elsewhere:
        return
    full_there = [n for n, full in probe_volumes(other, elsewhere, spec.image).items() if full is not False]
    if not full_there:
        return
    existing_here = [n for n in full_there if engine.volume(n) is not None]
    full_here = probe_volumes(engine, existing_here, spec.image) if existing_here else {}
    empty_here = [n for n in full_there if not full_here.get(n)]
    if empty_here:
        listing = ", ".join(f"{n} ({'empty' if n in existing_here else 'missing'} on {engine.runtime})"
                            for n in empty_here)
        raise UsageError(f"the deployment's data lives on {other.runtime}: its volumes hold data there, "
                         f"and not here: {listing} — {hint}")


def file_runtime(profile: Profile) -> Optional[str]:
    """The `runtime` the profile's file says (profile.runtime may come from --runtime); None
    when the file does not load for its own runtime (so it is not the one it was checked for)."""
    try:
        return load_profile(profile.path).runtime
    except OneRunError:
        return None
