"""The customization files on an engine that does not share this disk (a remote host): each
folder the container mounts (/certs, /ssh, /config) is a named volume of its own, named by
the contents' hash (runspec.delivery_volume) and mounted read-only.

A volume is filled through the engine's archive API by a helper container that never runs,
then read back through the same API and its files' names, modes and sha256 compared with the
profile's. A volume already there is checked the same way, so one
that an interrupted apply filled half-way is filled again, and one that render's commands
filled (`docker cp`, other times) is used as it is. Old volumes go when no container of the deployment mounts them any more, as the
staged folders do on a local engine.
"""
import hashlib
import io
import tarfile
from typing import Dict, Iterable, List, Optional, Tuple

from ..common.errors import EngineError, EngineUnavailable
from ..engines import ContainerInfo, Engine
from ..model.runspec import (DELIVERY_HELPER, DELIVERY_LABEL, DELIVERY_ROOT, FOLDER_MODE, RunSpec, StagedFile,
                             deployment_mounts)
from .volume_copy import relative_name, remove_quietly

Listing = Dict[str, Tuple[int, str]]  # file name -> (permission bits, sha256)


def folder_tar(files: List[StagedFile]) -> bytes:
    """One customization folder as a tar: the folder (0700) and its files, root's, with their modes."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        top = tarfile.TarInfo("./")
        top.type, top.mode = tarfile.DIRTYPE, FOLDER_MODE
        tar.addfile(top)
        for file in sorted(files, key=lambda f: f.name):
            info = tarfile.TarInfo(f"./{file.name}")
            info.size, info.mode = len(file.data), file.mode
            tar.addfile(info, io.BytesIO(file.data))
    return out.getvalue()


def expected(files: Iterable[StagedFile]) -> Listing:
    return {f.name: (f.mode, hashlib.sha256(f.data).hexdigest()) for f in files}


def held(engine: Engine, cid: str, path: str) -> Listing:
    """What the volume mounted at `path` in helper `cid` holds, as the engine archives it."""
    chunks = engine.archive_get(cid, path, owners=False)  # modes and contents: no running helper needed
    try:
        data = b"".join(chunks)
    finally:
        getattr(chunks, "close", lambda: None)()
    found: Listing = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            for member in tar:
                name = relative_name(member.name)
                if name == ".":  # the volume's own folder
                    continue
                content = tar.extractfile(member).read() if member.isfile() else b"\0not a file"
                found[name] = (member.mode & 0o7777, hashlib.sha256(content).hexdigest())
    except tarfile.TarError as exc:
        raise EngineError(f"{engine.label}: the archive of {path} is not readable: {exc}") from None
    return found


def deliver(engine: Engine, spec: RunSpec, say, current: Optional[ContainerInfo] = None) -> None:
    """Make each of the spec's delivery volumes hold exactly its folder; EngineError (nothing
    the deployment uses changed) when one cannot be filled or does not verify. The volumes
    `current` (the running deployment) mounts were verified when it was created."""
    wanted = spec.delivery_volumes
    mounted = {m.get("Name") for m in (current.attrs.get("Mounts") or [])} if current else set()
    unsure = [t for t, volume in wanted.items() if volume not in mounted]
    if not unsure:
        return
    helper_name = spec.name + DELIVERY_HELPER
    remove_quietly(engine, helper_name)  # an interrupted apply's
    files = {target: [f for f in spec.staged if f.target == target] for target in unsure}
    archives = {target: folder_tar(files[target]) for target in unsure}
    listings = {target: expected(files[target]) for target in unsure}
    missing = [t for t in unsure if engine.volume(wanted[t]) is None]
    for target in missing:
        engine.create_volume(wanted[target], {DELIVERY_LABEL: spec.name})
    helper = _helper(engine, spec, helper_name, {t: wanted[t] for t in unsure})
    try:
        # A volume there already was filled by another apply, or by render's commands, or
        # half-way by an apply that was interrupted: its contents say which.
        wrong = [t for t in unsure if t not in missing and held(engine, helper, DELIVERY_ROOT + t) != listings[t]]
        if wrong:
            remove_quietly(engine, helper)
            for target in wrong:
                _empty(engine, spec, wanted[target])
            helper = _helper(engine, spec, helper_name, {t: wanted[t] for t in unsure})
        sent = missing + wrong
        for target in sent:
            engine.archive_put(helper, DELIVERY_ROOT + target, iter([archives[target]]))
        for target in sent:
            got = held(engine, helper, DELIVERY_ROOT + target)
            if got != listings[target]:
                first = sorted(set(got.items()) ^ set(listings[target].items()))[0][0]
                raise EngineError(f"{engine.label}: the volume {wanted[target]} does not hold what was sent "
                                  f"(first difference: {first}); nothing the deployment uses was changed")
        if sent:
            say(f"  delivered {sum(len(archives[t]) for t in sent)} bytes of customization files to "
                f"{', '.join(wanted[t] for t in sent)}, verified")
    finally:
        remove_quietly(engine, helper)


def _helper(engine: Engine, spec: RunSpec, name: str, volumes: Dict[str, str]) -> str:
    image = spec.image if engine.image_attrs(spec.image) else engine.any_image()
    if not image:
        raise EngineUnavailable(f"{engine.label}: no image to run the helper that fills the customization "
                                "volumes; nothing was changed")
    mounts = [(volume, DELIVERY_ROOT + target, False) for target, volume in volumes.items()]
    # Created, never started: the archive API reads and writes a container that does not run.
    return engine.create_helper(image, mounts, name, command=["true"])


def _empty(engine: Engine, spec: RunSpec, volume: str) -> None:
    """A delivery volume whose contents are not what its name says, made anew and empty, unless
    a container mounts it (then it is not one-run's to change)."""
    users = engine.volume_users(volume)
    if users:
        raise EngineError(f"{engine.label}: the volume {volume} does not hold the files its name says, and "
                          f"{users[0][0]} mounts it; remove that container, or the volume, and apply again")
    engine.remove_volume(volume)
    engine.create_volume(volume, {DELIVERY_LABEL: spec.name})


def prune_delivered(engine: Engine, spec: RunSpec) -> List[str]:
    """Remove the deployment's delivery volumes that neither the spec nor any container of it
    mounts; the removed, returned. Nothing is removed when the engine cannot say which are used."""
    try:
        labelled = [v["Name"] for v in engine.volumes_labelled(DELIVERY_LABEL, spec.name)]
        unused = set(labelled) - set(spec.delivery_volumes.values())
        if not unused:
            return []
        unused -= {m["Name"] for m in deployment_mounts(engine, spec.name)
                   if m.get("Type") == "volume" and m.get("Name")}
        for volume in sorted(unused):
            engine.remove_volume(volume)
        return sorted(unused)
    except EngineError:
        return []
