"""`one-run rollback`: recreate the container of an earlier revision, through apply's safe swap.

A revision (history.py) holds the profile text it was applied from and copies of the files
it mounted; rollback rebuilds the RunSpec from those, so the container is the one that ran
then, whatever the profile and its files say now. A revision's data is the snapshot the
NEXT revision took before it replaced it. With --with-data that snapshot is restored into
the volumes before the rolled-back container starts, after apply took a snapshot of the
data as it is (so the rollback can itself be rolled back). Without --with-data, a rollback
across an image change is refused: the newer image may have migrated the database.
"""
import sys
from typing import List, Optional

from ..common.errors import EngineUnavailable, UsageError


def pick(found: List[dict], to: Optional[int], profile_path: str) -> dict:
    """The revision to go back to: --to N, or the one before the newest."""
    if not found:
        raise UsageError(f"{profile_path}: no revision recorded yet (apply records one each time it succeeds); "
                         "there is nothing to roll back to")
    if to is None:
        if len(found) < 2:
            raise UsageError(f"{profile_path}: only revision {found[0]['revision']} is recorded; there is no earlier "
                             "one to roll back to")
        return found[1]
    for record in found:
        if record["revision"] == to:
            return record
    raise UsageError(f"{profile_path}: no revision {to}; recorded: {', '.join(str(r['revision']) for r in found)} "
                     "(`one-run history` lists them)")


def rollback(profile_path: str, runtime: Optional[str], to: Optional[int], with_data: bool, dry_run: bool) -> int:
    from ..deploy.history import read_revisions
    from ..deploy.state import store_for
    from ..engines import endpoint_for, get_engine
    from ..model.profile import load_profile

    current_profile = load_profile(profile_path, runtime)
    path = current_profile.path
    remote = endpoint_for(current_profile.runtime).remote
    engine = get_engine(current_profile.runtime) if remote else None  # the revisions are there
    with store_for(current_profile.runtime, current_profile.container.name, path, engine) as store:
        found, damaged = read_revisions(store)
        return _roll_back(current_profile, store, found, damaged, runtime, to, with_data, dry_run, engine)


def _roll_back(current_profile, store, found: List[dict], damaged, runtime: Optional[str], to: Optional[int],
               with_data: bool, dry_run: bool, engine) -> int:
    from ..deploy.apply import ApplyOptions, apply
    from ..deploy.history import recorded_files
    from ..deploy.snapshot import Snapshot
    from ..engines import endpoint_for, get_engine
    from ..model.profile import profile_from_text
    from ..model.runspec import build_runspec
    from ..model.validate import ensure_valid

    path = current_profile.path
    # A damaged revision could be the one meant (the one before the newest), or hold the target's data.
    unsure = [revision for revision in damaged if to is None or revision.number >= to]
    if unsure:
        raise UsageError(f"{path}: cannot tell which revision to roll back to, nor which snapshot holds its data, "
                         f"while a later one is damaged; nothing was changed. {unsure[0].line()}")
    target = pick(found, to, path)
    newest = found[0]
    profile = profile_from_text(path, target["profile_text"], runtime or target.get("runtime"))
    try:
        spec = build_runspec(profile, recorded_files(store, target, path), remote=endpoint_for(profile.runtime).remote)
    except OSError as exc:
        raise UsageError(f"revision {target['revision']}: its recorded files cannot be read: {exc}") from None
    store.close()  # apply reads the state afresh, under the lock
    for problem in ensure_valid(profile, spec, full=True):
        print(problem, file=sys.stderr, flush=True)
    if engine is None or engine.runtime != profile.runtime:
        engine = get_engine(profile.runtime)
    running = engine.get(spec.name)

    data: Optional[Snapshot] = None
    image_changed = running is not None and running.image_id.split(":")[-1] != \
        (target["image"]["id"] or "").split(":")[-1]
    if with_data:
        data = data_of(engine, found, target, spec.name)
        # The data as it is now is snapshotted first, whatever [snapshot] says, on the volumes restored.
        profile = profile._replace(snapshot=profile.snapshot._replace(
            when="always", volumes=tuple(v.source for v in data.volumes)))
    elif image_changed:
        raise UsageError(
            f"revision {target['revision']} ran {target['image']['ref']}, the container runs another image "
            f"({running.image[:60]}): the newer one may have migrated the database, which the older one refuses. "
            f"Use --with-data to restore the data as revision {target['revision']} left it too; what was written "
            f"since {next_time(found, target)} would then be lost (apply snapshots it first, so that rollback can "
            "be undone)")

    print(f"rollback to revision {target['revision']} ({target['time']}, {target['image']['ref']}) from revision "
          f"{newest['revision']}" + (f", with the data of snapshot {data.id} ({data.time})" if data else ""),
          flush=True)
    code = apply(profile, spec, ApplyOptions(force=bool(data), dry_run=dry_run), engine,
                 profile_text=target["profile_text"], data_to_restore=data)
    if code == 0 and not dry_run:
        kept = keep_text(path, target)
        print(f"{path} still holds the newer text: the next `one-run apply` brings revision {newest['revision']} "
              f"back. The text revision {target['revision']} was applied from is in {kept}: to stay on it, "
              f"`mv {kept} {path}`")
    return code


def keep_text(path: str, target: dict) -> str:
    """The revision's profile text beside the profile (never over it), for the user to adopt."""
    from ..common.files import write_file

    kept = f"{path}.rev-{target['revision']}"
    write_file(kept, target["profile_text"].encode(), 0o600)
    return kept


def data_of(engine, found: List[dict], target: dict, name: str):
    """The snapshot holding the data as `target` left it: the one the next revision took."""
    from ..common.errors import EngineError
    from ..deploy.snapshot import Snapshot, find_snapshot

    later = [r for r in found if r["revision"] > target["revision"]]
    following = min(later, key=lambda r: r["revision"]) if later else None
    if following is None or not following.get("snapshot"):
        raise UsageError(f"no snapshot holds the data as revision {target['revision']} left it (revision "
                         f"{following['revision'] if following else '-'} took none: [snapshot] when = "
                         "\"image-change\" snapshots only when the image changes); roll back without --with-data")
    recorded = Snapshot.from_json(following["snapshot"])
    try:
        present = find_snapshot(engine, name, recorded.id)
    except EngineError as exc:
        raise EngineUnavailable(str(exc)) from None
    if present is None:
        raise UsageError(f"snapshot {recorded.id} of revision {following['revision']} is gone (pruned by [snapshot] "
                         "keep, or removed); the data of that time cannot be restored")
    return present


def next_time(found: List[dict], target: dict) -> str:
    later = [r for r in found if r["revision"] > target["revision"]]
    return min(later, key=lambda r: r["revision"])["time"] if later else target["time"]
