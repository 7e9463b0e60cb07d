"""`one-run backup` and `one-run restore`: consistent volume archives on the host, and back.

Backup stops the container (its stop timeout honoured) so the database files are
consistent, streams each volume's tar out of the engine's archive API into DIR (the
same volumes a snapshot copies: [snapshot] volumes, or all but the datastores and
logs), starts the container again and says how long it was down. manifest.json, written
last, names each archive with its size and sha256; a folder without it is an incomplete
backup. Only the sha256 is computed while the container is down.

Restore checks everything before it touches anything: the manifest, each archive's
size and sha256, and that each archive reads as a whole tar (a damaged or incomplete
backup is exit 2); that read also yields the fingerprint of the archive's contents
(volume_copy.TreeDigest). Then it stops the container, empties each volume, extracts
the archive into it, compares the volume's fingerprint with the archive's, and starts
the container. Interrupted or failed there, the
container stays stopped (its data half restored) and running restore again completes it.
"""
import hashlib
import json
import os
import shutil
import sys
import tarfile
import time
from datetime import datetime, timezone
from typing import Callable, Dict, Iterator, List, Optional, Tuple

from ..common.errors import ApplyFailedRestored, EngineError, NotEnoughRoom, RestoreFailed, UsageError
from ..common.files import write_file
from ..deploy.history import image_digest
from ..deploy.lock import apply_lock
from ..deploy.plan import carried_volumes
from ..deploy.snapshot import (RESERVE, ROOT, Snapshot, _run_helper, abandon, complete, discard, measure, precopy,
                               prepare, short, snapshot_volumes)
from ..deploy.volume_copy import Prefetch, TarFingerprint, TreeDigest, fingerprint_volume, human
from ..engines import ARCHIVE_CHUNK, HELPER_LABEL, ContainerInfo, Engine
from ..model.confighash import HASH_LABEL
from ..model.profile import Profile
from ..model.runspec import RunSpec

MANIFEST = "manifest.json"
FORMAT = 1
PROGRESS_EVERY = 2.0
TAR_OVERHEAD = 1.02  # headers and padding, over the bytes measured
EMPTY = 'for d in "$@"; do rm -rf "$d"/* "$d"/.[!.]* "$d"/..?* || exit 1; done'


def say_on_stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class _Progress:
    def __init__(self, verb: str, count: int, say: Callable[[str], None]):
        self.verb, self.count, self.say = verb, count, say
        self.started = self.last = time.monotonic()
        self.total = 0

    def __call__(self, index: int, name: str, done: int, size: Optional[int]) -> None:
        now = time.monotonic()
        if now - self.last >= PROGRESS_EVERY:
            self.last = now
            of = f" of about {human(size)}" if size else ""
            rate = (self.total + done) / max(now - self.started, 1e-6)
            self.say(f"{self.verb}: volume {index + 1}/{self.count} {short(name)}: {human(done)}{of} "
                     f"({human(rate)}/s)")


def _deployment(engine: Engine, spec: RunSpec) -> ContainerInfo:
    current = engine.get(spec.name)
    if current is None:
        raise UsageError(f"no {engine.runtime} container named {spec.name}: nothing to back up or restore into; "
                         f"`one-run apply` creates it")
    return current


# --- backup ------------------------------------------------------------------------------

def backup(engine: Engine, profile: Profile, spec: RunSpec, out: str, say: Callable[[str], None] = print) -> int:
    with apply_lock(engine.runtime, spec.name, engine=engine):
        current = _deployment(engine, spec)
        carried = carried_volumes(current, spec, engine.image_attrs(current.image_id))
        volumes = snapshot_volumes(spec, carried, profile.snapshot)
        if not volumes:
            raise UsageError(f"{spec.name} has no volume to back up ([snapshot] volumes chooses them)")
        if os.path.exists(os.path.join(out, MANIFEST)):
            raise UsageError(f"{out} already holds a backup ({MANIFEST}); choose another folder with -o")
        os.makedirs(out, mode=0o700, exist_ok=True)
        sizes, engine_free = measure(engine, volumes, current.image_id, spec.name)
        needed = int(sum(sizes.values()) * TAR_OVERHEAD)
        free = shutil.disk_usage(out).free
        if needed > free:
            raise NotEnoughRoom(f"not enough room in {out} for the backup: it needs about {human(needed)} ("
                                + ", ".join(f"{short(n)} {human(sizes[n])}" for n, _ in volumes)
                                + f"), and {human(free)} is free. Nothing was changed; choose another folder with -o")
        # With room on the engine, the container is down only for a snapshot (a copy inside the
        # engine, at disk speed), and the archives are written from it while it runs again.
        via_snapshot = current.running and sum(sizes.values()) + RESERVE <= engine_free
        say(f"backup of {spec.name} ({current.id[:12]}, {current.status}) into {out}: "
            + ", ".join(f"{short(n)} at {p} ({human(sizes[n])})" for n, p in volumes))
        return _backup(engine, profile, spec, current, volumes, sizes, out, via_snapshot, say)


def _backup(engine, profile, spec, current, volumes, sizes, out, via_snapshot, say) -> int:
    helper_name = f"{spec.name}-one-run-snapshot-backup"
    leftover = engine.get(helper_name)
    if leftover is not None and leftover.labels.get(HELPER_LABEL):
        engine.remove(leftover.id)
    was_running, stopped_at, downtime, written = current.running, None, 0.0, []
    entries, helper, copy, prepared = [], None, None, None
    try:
        if via_snapshot:  # pre-copied while it runs: the downtime is the copy of what changes meanwhile
            prepared = precopy(engine, prepare(engine, spec.name, volumes, current.image_id, sizes), say)
        if was_running:
            say(f"stopping {spec.name} ({current.id[:12]}) for a consistent copy ...")
            engine.stop(current.id)
            stopped_at = time.monotonic()
        if via_snapshot:
            ready, prepared = prepared, None  # complete removes it itself when it fails
            copy = complete(engine, ready, say)
            engine.start(current.id)
            downtime = time.monotonic() - stopped_at
            say(f"{spec.name} runs again (down {downtime:.1f} s); writing the archives from the snapshot")
        sources = [v.copy for v in copy.volumes] if copy else [name for name, _ in volumes]
        helper = engine.create_helper(current.image_id, [(name, f"{ROOT}/src/{i}", True)
                                                         for i, name in enumerate(sources)], helper_name)
        progress = _Progress("backup", len(volumes), say)
        for i, (name, path) in enumerate(volumes):
            archive = f"{i:02d}-{short(name)}.tar"
            partial = os.path.join(out, archive + ".partial")
            written.append(partial)
            digest, size = _write_archive(engine, helper, f"{ROOT}/src/{i}", partial,
                                          lambda done: progress(i, name, done, sizes[name]))
            progress.total += size
            os.replace(partial, os.path.join(out, archive))
            written[-1] = os.path.join(out, archive)
            entries.append({"name": name, "path": path, "anonymous": name not in
                            {v.source for v in spec.all_volumes if v.kind == "volume"},
                            "archive": archive, "archive_bytes": size, "sha256": digest,
                            "data_bytes": sizes[name]})
    except BaseException as exc:
        for path in written:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        if prepared:
            abandon(engine, prepared)
        problems = [p for p in (_drop(engine, helper) if helper else None, _discard(engine, copy) if copy else None,
                                None if downtime else _start_again(engine, current, was_running)) if p]
        failure = "interrupted" if isinstance(exc, KeyboardInterrupt) else getattr(exc, "message", str(exc))
        if problems:
            raise RestoreFailed(f"backup failed: {failure}; and {'; '.join(problems)}") from None
        state = f"{spec.name} runs again" if was_running else f"{spec.name} stays stopped, as it was"
        raise ApplyFailedRestored(f"backup failed: {failure}; {state}; no backup was written (the partial "
                                  f"archives in {out} were removed)") from None
    problems = [p for p in (_drop(engine, helper), _discard(engine, copy) if copy else None) if p]
    if not copy:
        again = _start_again(engine, current, was_running)
        if again:
            raise RestoreFailed(f"the archives were written, but {again}")
        downtime = time.monotonic() - stopped_at if stopped_at else 0.0
    for path in written:  # on disk before the manifest says the backup is complete; the container need not wait
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    manifest = {
        "format": FORMAT, "time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "runtime": engine.runtime, "container": {"name": spec.name, "id": current.id},
        "image": {"ref": current.image, "id": current.image_id, "digest": image_digest(engine, current)},
        "profile": profile.path, "profile_hash": current.labels.get(HASH_LABEL),
        "downtime_seconds": round(downtime, 3), "volumes": entries,
    }
    try:
        write_file(os.path.join(out, MANIFEST), json.dumps(manifest, indent=1).encode(), 0o600)
    except OSError as exc:  # a full disk at the last write: no backup that looks complete is left
        for path in written:
            os.unlink(path)
        state = f"{spec.name} runs again" if was_running else f"{spec.name} stays stopped, as it was"
        raise ApplyFailedRestored(f"backup failed: the manifest could not be written: {exc.filename}: "
                                  f"{exc.strerror}; {state}; no backup was written (the archives in {out} were "
                                  "removed)") from None
    for problem in problems:
        say(f"warning: {problem}")
    total = sum(e["archive_bytes"] for e in entries)
    say(f"backup written: {out} ({len(entries)} archive(s), {human(total)})")
    if was_running:
        say(f"{spec.name} was down {downtime:.1f} s")
    return 0


def _write_archive(engine: Engine, helper: str, path: str, target: str, progress: Callable[[int], None]
                   ) -> Tuple[str, int]:
    """Stream the volume at path (in helper) into file target; (sha256, bytes)."""
    sha, size = hashlib.sha256(), 0
    chunks = Prefetch(iter(engine.archive_get(helper, path)))
    chunks.start()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
                sha.update(chunk)
                size += len(chunk)
                progress(size)
    finally:
        chunks.stop.set()
    return sha.hexdigest(), size


def _discard(engine: Engine, copy: Snapshot) -> Optional[str]:
    """Remove the snapshot a backup was written from (it was only the backup's consistent copy)."""
    try:
        discard(engine, copy)
        return None
    except EngineError as exc:
        return f"its snapshot {copy.id} is left ({exc}); the next apply's prune removes it"


def _drop(engine: Engine, cid: str) -> Optional[str]:
    try:
        engine.remove(cid)
        return None
    except EngineError as exc:
        return f"the helper container {cid[:12]} is left ({exc}): `{engine.runtime} rm -f {cid[:12]}`"


def _start_again(engine: Engine, current: ContainerInfo, was_running: bool) -> Optional[str]:
    if not was_running:
        return None
    try:
        engine.start(current.id)
        return None
    except EngineError as exc:
        return (f"{current.name} ({current.id[:12]}) could not be started again: {exc}\n"
                "to recover by hand: " +
                "; ".join([*engine.endpoint.cli_reach(), f"{engine.runtime} start {current.name}"]))


# --- restore -----------------------------------------------------------------------------

def read_manifest(folder: str) -> dict:
    path = os.path.join(folder, MANIFEST)
    try:
        with open(path) as f:
            manifest = json.load(f)
        manifest["volumes"] = [dict(v) for v in manifest["volumes"]]
        for entry in manifest["volumes"]:
            for key in ("name", "path", "archive", "archive_bytes", "sha256"):
                entry[key]  # noqa: B018 - each must be there
    except FileNotFoundError:
        raise UsageError(f"{folder} is not a complete one-run backup: it has no {MANIFEST} (an interrupted "
                         "backup writes none); nothing was touched") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{path} is damaged ({type(exc).__name__}: {exc}); nothing was touched") from None
    if manifest.get("format") != FORMAT:
        raise UsageError(f"{path}: format {manifest.get('format')!r} is not one this one-run reads ({FORMAT}); "
                         "nothing was touched")
    return manifest


def _archive_chunks(path: str) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while True:
            chunk = f.read(ARCHIVE_CHUNK)
            if not chunk:
                return
            yield chunk


def verify_backup(folder: str, manifest: dict, say: Callable[[str], None]) -> Dict[str, TreeDigest]:
    """Each archive whole, of the recorded size and sha256; UsageError (exit 2) if not. The
    fingerprint of each archive's contents, by archive name."""
    fingerprints = {}
    progress = _Progress("verify", len(manifest["volumes"]), say)
    for i, entry in enumerate(manifest["volumes"]):
        path = os.path.join(folder, entry["archive"])
        try:
            size = os.path.getsize(path)
        except OSError as exc:
            raise UsageError(f"backup {folder}: archive {entry['archive']} of volume {short(entry['name'])} is "
                             f"missing ({exc.strerror}); nothing was touched") from None
        if size != entry["archive_bytes"]:
            raise UsageError(f"backup {folder}: archive {entry['archive']} has {size} bytes, the manifest says "
                             f"{entry['archive_bytes']} (incomplete or damaged); nothing was touched")
        sha, fingerprint, done = hashlib.sha256(), TarFingerprint(), 0
        try:
            for chunk in _archive_chunks(path):
                sha.update(chunk)
                fingerprint.feed(chunk)
                done += len(chunk)
                progress(i, entry["name"], done, size)
            if sha.hexdigest() != entry["sha256"]:
                raise ValueError(f"its sha256 is {sha.hexdigest()[:16]}..., the manifest says "
                                 f"{entry['sha256'][:16]}...")
            fingerprints[entry["archive"]] = fingerprint.result()
        except (OSError, ValueError, tarfile.TarError) as exc:
            raise UsageError(f"backup {folder}: archive {entry['archive']} of volume {short(entry['name'])} "
                             f"is damaged: {exc}; nothing was touched") from None
        progress.total += size
    say(f"verified {len(manifest['volumes'])} archive(s) of {folder} (size, sha256, whole tar)")
    return fingerprints


def _targets(current: ContainerInfo, manifest: dict) -> List[Tuple[dict, str]]:
    """(manifest entry, the volume to restore it into): the volume the container mounts at
    the entry's path (an anonymous volume's name differs once the container is recreated)."""
    mounted = {m.get("Destination", "").rstrip("/"): m["Name"] for m in current.attrs.get("Mounts") or []
               if m.get("Type") == "volume"}
    out = []
    for entry in manifest["volumes"]:
        name = mounted.get(entry["path"].rstrip("/"))
        if name is None and not entry.get("anonymous"):
            name = entry["name"]
        if name is None:
            raise UsageError(f"{current.name} mounts no volume at {entry['path']}, where the backup's anonymous "
                             f"volume {short(entry['name'])} was; nothing was touched")
        out.append((entry, name))
    return out


def restore(engine: Engine, profile: Profile, spec: RunSpec, folder: str, yes: bool,
            say: Callable[[str], None] = print) -> int:
    manifest = read_manifest(folder)
    fingerprints = verify_backup(folder, manifest, say_on_stderr)
    with apply_lock(engine.runtime, spec.name, engine=engine):
        current = _deployment(engine, spec)
        targets = _targets(current, manifest)
        if current.running and not yes:
            raise UsageError(f"{spec.name} ({current.id[:12]}) is running: restore stops it and replaces the data "
                             f"of {', '.join(short(n) for _, n in targets)} with the backup of "
                             f"{manifest['time']}; pass --yes to do so. Nothing was touched")
        if manifest["image"]["id"].split(":")[-1] != current.image_id.split(":")[-1]:
            say(f"warning: the backup was made from image {manifest['image']['ref']} "
                f"({manifest['image']['id'].split(':')[-1][:12]}); {spec.name} runs "
                f"{current.image} ({current.image_id.split(':')[-1][:12]}): its database schema may differ")
        say(f"restore of {spec.name} from {folder} ({manifest['time']}): "
            + ", ".join(f"{short(n)} at {e['path']}" for e, n in targets))
        return _restore(engine, profile, spec, current, folder, targets, fingerprints, say)


def _restore(engine, profile, spec, current, folder, targets, fingerprints, say) -> int:
    image = current.image_id
    helpers = []
    stopped_at = time.monotonic()
    try:
        if current.running:
            say(f"stopping {spec.name} ({current.id[:12]}) ...")
            engine.stop(current.id)
            stopped_at = time.monotonic()
        mounts = [(name, f"{ROOT}/dst/{i}", False) for i, (_, name) in enumerate(targets)]
        _run_helper(engine, image, mounts, f"{spec.name}-one-run-snapshot-empty", EMPTY,
                    [path for _, path, _ in mounts])
        name = f"{spec.name}-one-run-snapshot-restore"
        leftover = engine.get(name)
        if leftover is not None and leftover.labels.get(HELPER_LABEL):
            engine.remove(leftover.id)
        helper = engine.create_helper(image, mounts, name)
        helpers.append(helper)
        progress = _Progress("restore", len(targets), say)
        for i, (entry, volume) in enumerate(targets):
            done = [0]

            def chunks(path=os.path.join(folder, entry["archive"]), i=i, volume=volume, done=done):
                for chunk in _archive_chunks(path):
                    done[0] += len(chunk)
                    progress(i, volume, done[0], entry["archive_bytes"])
                    yield chunk

            engine.archive_put(helper, f"{ROOT}/dst/{i}", chunks())
            progress.total += entry["archive_bytes"]
            restored = fingerprint_volume(engine, helper, f"{ROOT}/dst/{i}")
            expected = fingerprints[entry["archive"]]
            if restored != expected:
                raise EngineError(f"volume {short(volume)} does not match its archive after the restore "
                                  f"({restored.describe()}; the archive: {expected.describe()})")
            say(f"restored volume {short(volume)}: {restored.describe()}, verified")
    except BaseException as exc:
        for cid in helpers:
            _drop(engine, cid)
        failure = "interrupted" if isinstance(exc, KeyboardInterrupt) else getattr(exc, "message", str(exc))
        raise RestoreFailed(
            f"restore failed: {failure}\nwhat is left: {spec.name} ({current.id[:12]}) stopped, its volumes "
            f"{', '.join(short(n) for _, n in targets)} partly restored; the backup in {folder} is untouched\n"
            f"to recover: run the same restore again (it starts over and completes it): "
            f"one-run restore {profile.path} {folder}") from None
    for cid in helpers:
        problem = _drop(engine, cid)
        if problem:
            say(f"warning: {problem}")
    engine.start(current.id)
    say(f"restored: {spec.name} ({current.id[:12]}) started again; it was down {time.monotonic() - stopped_at:.1f} s")
    return 0
