"""Data snapshots: the deployment's volumes copied, inside the engine, into volumes of one-run's own.

An upgrade migrates the database when the new container bootstraps; the old image refuses
the migrated schema. So before a new container starts, apply copies the volumes
(`[snapshot]` says which, and when), and a rollback puts them back before it starts the
old container.

The copies are made by a helper container of the engine: the source volume mounted
read-only, the snapshot volume read-write, `cp -a` between them. No data passes through
Python or the host's paths, so rootless and remote engines work the same way and the
copy runs at the speed of the engine's storage.

The copy is made in two passes, so that the deployment is down only for what changed: the
pre-copy, while the old container still runs, then, once it is stopped, the delta: every
entry whose ctime is not older than the second before the pre-copy began (a write, a
chmod, a rename or a `touch -d` all set it, and nothing sets it back) is copied again,
entries gone from the source are removed, and directories get their modes, owners and times
back. The delta then verifies the copy against the source: a listing of every entry's
path, type, mode, owner, mtime, size, device and link target, equal on both sides.

A snapshot is one volume per copied volume, `<volume>-one-run-snap-<id>`, plus a marker
volume `<container>-one-run-snap-<id>-complete`, created LAST, whose labels record the
whole snapshot. Without its marker a snapshot is incomplete (an interrupted or killed
take): it is never listed nor restored, and prune removes it. Restore empties each
volume, copies the snapshot back, then compares a checksum listing of both sides
computed inside the helper (path, type and mode, owner, mtime, device, link target,
sha256 of the contents; atime, ctime and a symlink's own mtime, which busybox cp cannot
set, left out); running it again does the same, so an
interrupted restore is completed by running it again.
"""
import json
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from ..common.errors import EngineError, NotEnoughRoom, UsageError
from ..engines import HELPER_LABEL, Engine
from ..model.profile import SnapshotPolicy
from ..model.runspec import RunSpec
from .volume_copy import human

SNAPSHOT_LABEL = "one-run.snapshot"          # the deployment's container name, on every volume of a snapshot
OF_LABEL = "one-run.snapshot-of"             # the volume a snapshot volume copies
ID_LABEL = "one-run.snapshot-id"             # the snapshot's UTC time, shared by its volumes and its marker
COMPLETE_LABEL = "one-run.snapshot-complete"  # on the marker: the container name
RECORD_LABEL = "one-run.snapshot-record"     # on the marker: the Snapshot as JSON
SUFFIX = "-one-run-snap-"
EXCLUDED_PATHS = ("/var/lib/one/datastores", "/var/log")  # VM images or logs: only when the profile names them
RESERVE = 64 << 20  # bytes left free beyond the copy: the new container's bootstrap writes too
PROGRESS_EVERY = 2.0  # seconds between progress lines
POLL = 0.05  # seconds between looks at a helper: a copy is waited for while the deployment is down
ROOT = "/one-run-snapshot"
PROBE = "probe"  # the ID_LABEL of room_check's probe volume

# Sizes as the copy writes them: every entry's apparent size rounded up to 4 KiB blocks
# (cp materializes sparse files where it cannot keep them sparse), printed per argument. The
# volumes may be in use: what vanishes under find is not counted, and not an error.
MEASURE = r'''
for d in "$@"; do
  [ "$d" = -- ] && { df -Pk "$2" | tail -n 1; exit 0; }
  find "$d" -xdev -exec stat -c %s {} + 2>/dev/null |
    awk '{ s += int(($1 + 4095) / 4096) * 4096 } END { printf "%.0f\n", s }'
  shift
done
'''

NO_SPACE = 28  # ENOSPC: a copying helper's exit when the copy stopped on a full disk
# A full disk may leave no room for the engine's log of the helper either: the exit code says it.
ON_FULL_DISK = r'''[ "$(df -Pk "$dst" | awk 'NR == 2 {print $4}')" -lt 1024 ] && exit %d''' % NO_SPACE

# Copy volume i from $ROOT/src/i to $ROOT/dst/i, printing the bytes written so far every second.
COPY = r'''
n=$1 i=0
%(first)s
while [ "$i" -lt "$n" ]; do
  src=%(root)s/src/$i dst=%(root)s/dst/$i
  ( while :; do sleep 1; echo "progress $i $(du -sk "$dst" 2>/dev/null | cut -f1)"; done ) & watcher=$!
  %(empty)s
  cp -a "$src/." "$dst/"; rc=$?
  kill $watcher
  [ $rc = 0 ] || { %(on_full_disk)s
                   %(failed)s; }
  echo "copied $i"
  %(verify)s
  i=$((i + 1))
done
'''
# The pre-copy's first lines: the second from which the delta copies again. The clock file
# times are stamped with may lag the system's by a tick, hence the second before. Pages written
# through a shared mapping before that are written back first, so that a program's next write
# to them faults and stamps the file again.
SINCE = r'''since=$(( $(date +%%s) - 1 ))
j=0; while [ "$j" -lt "$n" ]; do sync -f %(root)s/src/$j 2>/dev/null || sync; j=$((j + 1)); done
echo "since $since"'''
# Once the source's container is stopped: bring each pre-copied volume up to date, then verify.
DELTA = r'''
n=$1 since=$2 i=0
# One line an entry: its kind (d: a directory, f: anything else), its ctime and its name.
entries() {
  cd "$1" && { find . -xdev -type d -exec stat -c 'd %%Z %%n' {} + &&
               find . -xdev ! -type d -exec stat -c 'f %%Z %%n' {} + ; }
}
# What to change in the copy, in the order to do it; a directory's mode, owner and times last,
# since every change inside it moves them.
PLAN='
  function name_of(line) { return substr(line, 3 + index(substr(line, 3), " ")) }
  function touched(name,  parent) {
    parent = name; sub(/\/[^\/]*$/, "", parent)
    if (parent != name) fix[parent] = 1
  }
  FNR == NR { kind[name_of($0)] = $1; next }
  { name = name_of($0); seen[name] = 1
    if (!(name in kind) || kind[name] != $1) {
      if (name in kind) remove[++removes] = name
      if ($1 == "d") { make[++makes] = name; fix[name] = 1 } else copy[++copies] = name
      touched(name)
    } else if ($2 >= since) {
      if ($1 == "d") fix[name] = 1; else { copy[++copies] = name; touched(name) }
    }
  }
  END {
    for (name in kind) if (!(name in seen)) { remove[++removes] = name; touched(name) }
    for (i = 1; i <= removes; i++) print "remove " remove[i]
    for (i = 1; i <= makes; i++) print "mkdir " make[i]
    for (i = 1; i <= copies; i++) print "copy " copy[i]
    for (name in fix) if (name in seen) print "fix " name
  }'
meta() {
  ( cd "$1" && { find . -xdev -type d -exec stat -c '%%n %%f %%u %%g %%Y' {} + &&
                 find . -xdev -type f -exec stat -c '%%n %%f %%u %%g %%Y %%s' {} + &&
                 find . -xdev ! -type d ! -type f ! -type l -exec stat -c '%%n %%f %%u %%g %%Y %%t,%%T' {} + &&
                 find . -xdev -type l -exec stat -c '%%n %%f %%u %%g %%N' {} + ; } |
    LC_ALL=C sort | sha256sum | cut -d' ' -f1 )
}
while [ "$i" -lt "$n" ]; do
  src=%(root)s/src/$i dst=%(root)s/dst/$i
  # A name with a newline in it would read as two lines: then the whole volume is copied again.
  if [ -n "$(cd "$src" && find . -xdev -name "$(printf '*\n*')" | head -n 1)" ]; then
    %(empty)s
    cp -a "$src/." "$dst/" || { %(on_full_disk)s
                                echo "copying volume $i again failed"; exit 1; }
    echo "delta $i all 0"
    echo "verify $i $(meta "$src") $(meta "$dst")"
    i=$((i + 1))
    continue
  fi
  ( entries "$dst" ) > /tmp/dst.entries && ( entries "$src" ) > /tmp/src.entries &&
    awk -v since="$since" "$PLAN" /tmp/dst.entries /tmp/src.entries > /tmp/changes ||
    { echo "listing volume $i failed"; exit 1; }
  copied=0 removed=0
  while IFS= read -r line; do
    op=${line%%%% *} name=${line#* }
    case $op in
      remove) rm -rf "$dst/$name" && removed=$((removed + 1)) ;;
      mkdir) mkdir "$dst/$name" ;;
      copy) rm -f "$dst/$name" && cp -a "$src/$name" "$dst/$name" && copied=$((copied + 1)) ;;
      fix) chown -h "$(stat -c %%u:%%g "$src/$name")" "$dst/$name" &&
           chmod "$(stat -c %%a "$src/$name")" "$dst/$name" && touch -r "$src/$name" "$dst/$name" ;;
    esac || { %(on_full_disk)s
              echo "bringing volume $i up to date failed at: $op $name"; exit 1; }
  done < /tmp/changes
  echo "delta $i $copied $removed"
  echo "verify $i $(meta "$src") $(meta "$dst")"
  i=$((i + 1))
done
'''
FAILED = 'echo "copy of volume $i failed: cp exited $rc"; exit $rc'
# Under a running container files vanish and change under cp: what it missed or copied half
# is copied again after the stop, and the verification there catches anything else.
PRECOPY_FAILED = 'echo "pre-copy of volume $i: cp exited $rc; what changed under it is copied after the stop"'
EMPTY = 'rm -rf "$dst"/* "$dst"/.[!.]* "$dst"/..?* || { echo "emptying volume $i failed"; exit 1; }'
LISTING = r'''listing() {
    ( cd "$1" && { find . -xdev ! -type l -exec stat -c '%n %f %u %g %Y %t,%T' {} + &&
                   find . -xdev -type l -exec stat -c '%n %f %u %g %N' {} + &&
                   find . -xdev -type f -exec sha256sum {} + ; } | LC_ALL=C sort | sha256sum | cut -d' ' -f1 )
  }
  echo "verify $i $(listing "$src") $(listing "$dst")"'''


@dataclass(frozen=True)
class SnapshotVolume:
    source: str   # the deployment's volume
    path: str     # where the deployment mounts it
    copy: str     # one-run's snapshot volume
    bytes: int    # as measured before the copy


@dataclass(frozen=True)
class Snapshot:
    id: str         # UTC time, e.g. 20261130T011500.123Z; orders the snapshots
    container: str  # the deployment's container name
    image: str      # the image the copy was made with (it has sh, cp, find, stat, sha256sum)
    volumes: Tuple[SnapshotVolume, ...]

    @property
    def marker(self) -> str:
        return f"{self.container}{SUFFIX}{self.id}-complete"

    @property
    def bytes(self) -> int:
        return sum(v.bytes for v in self.volumes)

    @property
    def time(self) -> str:
        """The id as ISO 8601, for people."""
        stamp = datetime.strptime(self.id, "%Y%m%dT%H%M%S.%fZ")
        return stamp.strftime("%Y-%m-%d %H:%M:%S UTC")

    def describe(self) -> str:
        listing = ", ".join(f"{short(v.source)} ({human(v.bytes)})" for v in self.volumes)
        return f"snapshot {self.id} of {listing}"

    def as_json(self) -> dict:
        return {"id": self.id, "container": self.container, "image": self.image,
                "volumes": [{"source": v.source, "path": v.path, "copy": v.copy, "bytes": v.bytes}
                            for v in self.volumes]}

    @classmethod
    def from_json(cls, data: dict) -> "Snapshot":
        return cls(data["id"], data["container"], data["image"],
                   tuple(SnapshotVolume(v["source"], v["path"], v["copy"], int(v["bytes"])) for v in data["volumes"]))


@dataclass(frozen=True)
class Restored:
    """What restore put back: each volume's checksum listing, equal on both sides."""

    snapshot: Snapshot
    digests: Dict[str, str]  # volume -> sha256 of its checksum listing
    seconds: float


def short(volume: str) -> str:
    """An anonymous volume's 64-hex name shortened as the engines' CLIs shorten IDs."""
    from ..model.normalize import is_anonymous_name

    return volume[:12] if is_anonymous_name(volume) else volume


def say_on_stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --- which volumes ---------------------------------------------------------------------

def snapshot_volumes(spec: RunSpec, carried: Sequence[Tuple[str, str]], policy: SnapshotPolicy
                     ) -> List[Tuple[str, str]]:
    """(volume name, container path) to copy: the profile's [snapshot] volumes, or by default
    every named volume and carried-over anonymous volume except the datastores and logs (and
    the customization files' volumes).
    `carried` is apply's carried_volumes() of the current container. UsageError (exit 2) for
    an entry that names no volume of the deployment."""
    # A remote engine's customization volumes hold the profile's files, which the history
    # records and apply delivers again: they are not data.
    delivered = set(spec.delivery_volumes.values())
    mounted = [(v.source, v.target.rstrip("/") or "/") for v in spec.all_volumes
               if v.kind == "volume" and v.source not in delivered]
    mounted += [(name, path.rstrip("/") or "/") for name, path in carried]
    if policy.volumes is None:
        return [(name, path) for name, path in mounted
                if not any(path == p or path.startswith(p + "/") for p in EXCLUDED_PATHS)]
    chosen = []
    for entry in policy.volumes:
        found = [(name, path) for name, path in mounted
                 if entry == name or (entry.startswith("/") and entry.rstrip("/") == path)]
        if not found:
            raise UsageError(f"[snapshot] volumes: {entry!r} is not a volume of {spec.name} "
                             f"(its volumes: {', '.join(f'{short(n)} at {p}' for n, p in mounted) or 'none'}); "
                             "name a volume, or the container path of one")
        chosen += [pair for pair in found if pair not in chosen]
    return chosen


def wanted(policy: SnapshotPolicy, image_changes: bool) -> bool:
    """Whether apply takes a snapshot for this change."""
    return policy.when == "always" or (policy.when == "image-change" and image_changes)


@dataclass(frozen=True)
class Planned:
    """What apply will snapshot, measured and room-checked before anything stops."""

    volumes: Tuple[Tuple[str, str], ...]  # (volume, container path)
    sizes: Dict[str, int]
    free: int
    image: str  # the old container's image: it has the tools, and it is present

    def lines(self) -> List[str]:
        """For describe_plan."""
        total = sum(self.sizes.values())
        head = (f"  snapshot: {len(self.volumes)} volume(s), {human(total)} ({human(self.free)} free on the engine's "
                "volume storage), pre-copied while the old container runs, brought up to date once it stops")
        return [head] + [f"    {short(name)} at {path} ({human(self.sizes[name])})" for name, path in self.volumes]


def plan(engine: Engine, policy: SnapshotPolicy, spec: RunSpec, current, carried: Sequence[Tuple[str, str]],
         new_image_id: Optional[str]) -> Optional[Planned]:
    """Before anything stops: what to snapshot when `current` (a ContainerInfo, or None) is
    replaced by a container of new_image_id, or None for no snapshot. Measures the volumes and
    the engine's free room (a helper and a probe volume, both removed): NotEnoughRoom (exit 3)
    when the copy does not fit; UsageError (exit 2) for [snapshot] volumes naming no volume."""
    if current is None:
        return None
    changes = new_image_id is None or current.image_id.split(":")[-1] != new_image_id.split(":")[-1]
    if not wanted(policy, changes):
        return None
    volumes = tuple(snapshot_volumes(spec, carried, policy))
    if not volumes:
        return None
    sizes, free = room_check(engine, volumes, current.image_id, spec.name)
    return Planned(volumes, sizes, free, current.image_id)


# --- helpers ---------------------------------------------------------------------------

HELPER_ROLES = ("precopy", "take")  # a snapshot's two helpers: the pre-copy's, then the delta's


def _helper_name(container: str, role: str) -> str:
    return f"{container}-one-run-snapshot-{role}"


def _create_helper(engine: Engine, image: str, mounts, name: str, script: str, args: List[str]) -> str:
    """A helper container that runs script when started (a killed run's leftover of that name,
    which holds no state, is removed first)."""
    leftover = engine.get(name)
    if leftover is not None and leftover.labels.get(HELPER_LABEL):
        engine.remove(leftover.id)
    return engine.create_helper(image, mounts, name, ["/bin/sh", "-c", script, "sh", *args])


def _run_created(engine: Engine, cid: str, image: str, on_line: Callable[[str], None] = lambda line: None
                 ) -> List[str]:
    """Start a helper made by _create_helper and wait for it; its output lines. on_line gets the
    last line every PROGRESS_EVERY seconds while it runs. The helper is removed (killed) whatever
    happens, KeyboardInterrupt included. EngineError if the script fails."""
    try:
        engine.start(cid)
        last = time.monotonic()
        while True:
            info = engine.get(cid)
            if info is None or info.status not in ("created", "running", "configured", "initialized"):
                break
            if time.monotonic() - last >= PROGRESS_EVERY:
                last = time.monotonic()
                tail = engine.logs(cid, 1).strip()
                if tail:
                    on_line(tail.splitlines()[-1])
            time.sleep(POLL)
        lines = engine.logs(cid, 10000).splitlines() if info else []
        if info is not None and info.exit_code == NO_SPACE:
            raise EngineError(f"{engine.runtime}: the engine's volume storage filled up during the copy (No space "
                              "left on device); the partial copy is removed. Free some room there and apply again")
        if info is None or info.exit_code != 0:
            why = "its helper container disappeared" if info is None else f"exit {info.exit_code}"
            raise EngineError(f"{engine.runtime}: the helper in image {image} failed ({why}): "
                              + " | ".join(line for line in lines[-8:] if not line.startswith("progress ")))
        return lines
    finally:
        try:
            engine.remove(cid)
        except EngineError:
            pass  # removed with the next run's leftover


def _run_helper(engine: Engine, image: str, mounts, name: str, script: str, args: List[str],
                on_line: Callable[[str], None] = lambda line: None) -> List[str]:
    """Run script in a helper container until it exits; its output lines (see _run_created)."""
    cid = _create_helper(engine, image, mounts, name, script, args)
    return _run_created(engine, cid, image, on_line)


# --- room ------------------------------------------------------------------------------

def measure(engine: Engine, volumes: Sequence[Tuple[str, str]], image: str, container: str,
            probe: bool = True) -> Tuple[Dict[str, int], Optional[int]]:
    """(volume -> bytes a copy writes, free bytes where the engine creates new volumes). The free
    space is measured in a fresh probe volume, created like the snapshot volumes and removed."""
    mounts = [(name, f"{ROOT}/src/{i}", True) for i, (name, _) in enumerate(volumes)]
    args = [path for _, path, _ in mounts]
    probe_name = f"{container}{SUFFIX}probe-{int(time.time() * 1000)}"
    if probe:
        engine.create_volume(probe_name, {SNAPSHOT_LABEL: container, ID_LABEL: PROBE})
        mounts.append((probe_name, f"{ROOT}/probe", False))
        args += ["--", f"{ROOT}/probe"]
    try:
        lines = _run_helper(engine, image, mounts, _helper_name(container, "measure"), MEASURE, args)
    finally:
        if probe:
            try:
                engine.remove_volume(probe_name)
            except EngineError:
                pass
    sizes = {name: int(lines[i]) for i, (name, _) in enumerate(volumes)}
    free = int(lines[len(volumes)].split()[3]) * 1024 if probe else None
    return sizes, free


def room_check(engine: Engine, volumes: Sequence[Tuple[str, str]], image: str, container: str
               ) -> Tuple[Dict[str, int], int]:
    """Before anything stops: (volume -> bytes, free bytes); NotEnoughRoom (exit 3), with the
    sizes, when the copies and RESERVE do not fit in the engine's volume storage."""
    sizes, free = measure(engine, volumes, image, container)
    needed = sum(sizes.values())
    if needed + RESERVE > free:
        listing = ", ".join(f"{short(name)} {human(sizes[name])}" for name, _ in volumes)
        raise NotEnoughRoom(
            f"not enough room on {engine.runtime}'s volume storage for the snapshot: it needs {human(needed)} "
            f"({listing}) plus {human(RESERVE)} to spare, and {human(free)} is free. Nothing was changed. Free "
            f"some room (`one-run history` lists the snapshots; older ones go with a lower [snapshot] keep), "
            f"or leave volumes out with [snapshot] volumes, or set [snapshot] when = \"never\"")
    return sizes, free


# --- take ------------------------------------------------------------------------------

def new_id() -> str:
    now = datetime.now(timezone.utc)
    return now.strftime("%Y%m%dT%H%M%S.") + f"{now.microsecond // 1000:03d}Z"


class _CopyProgress:
    """Turns the helper's "progress i KiB" lines into lines with size and throughput."""

    def __init__(self, verb: str, snapshot: Snapshot, say: Callable[[str], None]):
        self.verb, self.snapshot, self.say = verb, snapshot, say
        self.started = time.monotonic()
        self.before = 0  # bytes of the volumes already done

    def __call__(self, line: str) -> None:
        parts = line.split()
        if len(parts) != 3 or parts[0] != "progress":
            return
        i, done = int(parts[1]), int(parts[2]) * 1024
        volume = self.snapshot.volumes[i]
        self.before = sum(v.bytes for v in self.snapshot.volumes[:i])
        rate = (self.before + done) / max(time.monotonic() - self.started, 1e-6)
        self.say(f"{self.verb}: volume {i + 1}/{len(self.snapshot.volumes)} {short(volume.source)}: "
                 f"{human(done)} of about {human(volume.bytes)} ({human(rate)}/s)")

    def summary(self) -> str:
        took = time.monotonic() - self.started
        return f"{human(self.snapshot.bytes)} in {took:.1f} s ({human(self.snapshot.bytes / max(took, 1e-6))}/s)"


@dataclass(frozen=True)
class Prepared:
    """A snapshot's volumes and the helper that copies into them next: made while the container
    still runs, so that only what changes after its stop counts against the downtime."""

    snapshot: Snapshot
    helper: str                  # the pre-copy's helper; once pre-copied, the delta's
    since: Optional[int] = None  # once pre-copied: the second from which the delta copies again

    def as_json(self) -> dict:
        return {"snapshot": self.snapshot.as_json(), "helper": self.helper, "since": self.since}

    @classmethod
    def from_json(cls, data: dict) -> "Prepared":
        return cls(Snapshot.from_json(data["snapshot"]), data["helper"], data.get("since"))


def prepare(engine: Engine, container: str, volumes: Sequence[Tuple[str, str]], image: str,
            sizes: Optional[Dict[str, int]] = None) -> Prepared:
    """Make the snapshot volumes (labelled, without the marker: not a snapshot yet) and the
    pre-copy's helper. A failure or an interrupt removes what it made, and re-raises."""
    if sizes is None:
        sizes, _ = measure(engine, volumes, image, container, probe=False)
    snap_id = new_id()
    snapshot = Snapshot(snap_id, container, image, tuple(
        SnapshotVolume(name, path, f"{name}{SUFFIX}{snap_id}", sizes.get(name, 0)) for name, path in volumes))
    labels = {SNAPSHOT_LABEL: container, ID_LABEL: snap_id}
    made = []
    try:
        for volume in snapshot.volumes:
            engine.create_volume(volume.copy, {**labels, OF_LABEL: volume.source})
            made.append(volume.copy)
        script = COPY % {"root": ROOT, "first": SINCE % {"root": ROOT}, "empty": "", "verify": "",
                         "failed": PRECOPY_FAILED, "on_full_disk": ON_FULL_DISK}
        helper = _create_helper(engine, image, _mounts(snapshot), _helper_name(container, "precopy"), script,
                                [str(len(snapshot.volumes))])
    except BaseException:
        _remove_volumes(engine, made)
        raise
    return Prepared(snapshot, helper)


def _mounts(snapshot: Snapshot):
    return [(v.source, f"{ROOT}/src/{i}", True) for i, v in enumerate(snapshot.volumes)] + \
        [(v.copy, f"{ROOT}/dst/{i}", False) for i, v in enumerate(snapshot.volumes)]


def precopy(engine: Engine, prepared: Prepared, say: Callable[[str], None] = say_on_stderr) -> Prepared:
    """Copy the volumes while their container may still run, and make the delta's helper. An
    interrupt or failure removes what prepare made, and re-raises."""
    snapshot = prepared.snapshot
    progress = _CopyProgress("pre-copy", snapshot, say)
    try:
        lines = _run_created(engine, prepared.helper, snapshot.image, progress)
        since = next(int(line.split()[1]) for line in lines if line.startswith("since "))
        helper = _create_helper(engine, snapshot.image, _mounts(snapshot), _helper_name(snapshot.container, "take"),
                                DELTA % {"root": ROOT, "empty": EMPTY, "on_full_disk": ON_FULL_DISK},
                                [str(len(snapshot.volumes)), str(since)])
    except BaseException:
        abandon(engine, prepared)
        raise
    say(f"pre-copied {', '.join(short(v.source) for v in snapshot.volumes)}: {progress.summary()}")
    return Prepared(snapshot, helper, since)


def complete(engine: Engine, prepared: Prepared, say: Callable[[str], None] = say_on_stderr) -> Snapshot:
    """Bring the pre-copied snapshot up to date and verify it; the container using the volumes
    must be stopped (the caller guarantees it). An interrupt or failure removes the snapshot's
    volumes and re-raises; a killed copy leaves volumes without a marker, which never count as
    a snapshot and which prune removes."""
    snapshot = prepared.snapshot
    started = time.monotonic()
    try:
        lines = _run_created(engine, prepared.helper, snapshot.image)
        changes = [line.split()[2:] for line in lines if line.startswith("delta ")]
        for line in lines:
            parts = line.split()
            if len(parts) == 4 and parts[0] == "verify" and parts[2] != parts[3]:
                volume = snapshot.volumes[int(parts[1])]
                raise EngineError(f"{engine.runtime}: the snapshot of volume {short(volume.source)} does not match "
                                  f"it after the copy (listing {parts[3][:16]}, the volume's {parts[2][:16]})")
        if len(changes) != len(snapshot.volumes):
            raise EngineError(f"{engine.runtime}: the snapshot's helper did not verify every volume")
        engine.create_volume(snapshot.marker, {SNAPSHOT_LABEL: snapshot.container, ID_LABEL: snapshot.id,
                                               COMPLETE_LABEL: snapshot.container,
                                               RECORD_LABEL: json.dumps(snapshot.as_json(), separators=(",", ":"))})
    except BaseException:
        abandon(engine, prepared)
        raise
    copied, removed = (sum(int(change[k]) for change in changes if change[0] != "all") for k in (0, 1))
    whole = sum(change[0] == "all" for change in changes)
    say(f"snapshot {snapshot.id}: {', '.join(short(v.source) for v in snapshot.volumes)} up to date and verified "
        f"in {time.monotonic() - started:.1f} s ({copied} entries copied again, {removed} removed since the "
        "pre-copy" + (f"; {whole} volume(s) copied again whole: a name in it holds a newline" if whole else "")
        + ")")
    return snapshot


def abandon(engine: Engine, prepared: Prepared) -> None:
    """Remove a snapshot that was never completed: its helpers (the one recorded is one of the
    two, by name) and its volumes."""
    for role in HELPER_ROLES:
        info = engine.get(_helper_name(prepared.snapshot.container, role))
        if info is not None and info.labels.get(HELPER_LABEL):
            try:
                engine.remove(info.id)
            except EngineError:
                pass  # the volumes it holds stay too; prune removes them once it is gone
    _remove_volumes(engine, [v.copy for v in prepared.snapshot.volumes])


def abandon_by_hand(cli: str, prepared: Prepared) -> List[str]:
    """The commands that do what abandon does, for an operator whose engine did not answer."""
    helpers = " ".join(_helper_name(prepared.snapshot.container, role) for role in HELPER_ROLES)
    return [f"{cli} rm -f {helpers}  # the snapshot's helpers (one of them may be gone)",
            f"{cli} volume rm {' '.join(v.copy for v in prepared.snapshot.volumes)}  # its unfinished copies"]


def _remove_volumes(engine: Engine, names: Sequence[str]) -> None:
    for name in names:
        try:
            engine.remove_volume(name)
        except EngineError:
            pass  # without the marker it is no snapshot; prune removes it


def take(engine: Engine, container: str, volumes: Sequence[Tuple[str, str]], image: str,
         sizes: Optional[Dict[str, int]] = None, say: Callable[[str], None] = say_on_stderr) -> Snapshot:
    """prepare, precopy, then complete: for a container already stopped."""
    return complete(engine, precopy(engine, prepare(engine, container, volumes, image, sizes), say), say)


# --- restore ---------------------------------------------------------------------------

def restore(engine: Engine, snapshot: Snapshot, say: Callable[[str], None] = say_on_stderr,
            image: Optional[str] = None) -> Restored:
    """Put each volume of the snapshot back as it was, byte for byte, and verify it. The
    containers using the volumes must be stopped. Idempotent: after an interrupt or a failure
    (EngineError), running it again restores the same. `image` overrides the snapshot's
    helper image (gone since, say)."""
    image = image or snapshot.image
    if engine.image_attrs(image) is None:
        raise EngineError(f"{engine.runtime}: the image {image} that restores snapshot {snapshot.id} is gone; "
                          "pull it again (or pass another image with sh, cp, find, stat and sha256sum)")
    missing = [v.copy for v in snapshot.volumes if engine.volume(v.copy) is None]
    if missing:
        raise EngineError(f"{engine.runtime}: snapshot {snapshot.id} has lost its volume(s) {', '.join(missing)}")
    mounts = [(v.copy, f"{ROOT}/src/{i}", True) for i, v in enumerate(snapshot.volumes)]
    mounts += [(v.source, f"{ROOT}/dst/{i}", False) for i, v in enumerate(snapshot.volumes)]
    script = COPY % {"root": ROOT, "first": "", "empty": EMPTY, "verify": LISTING, "failed": FAILED,
                     "on_full_disk": ON_FULL_DISK}
    progress = _CopyProgress("restore", snapshot, say)
    lines = _run_helper(engine, image, mounts, _helper_name(snapshot.container, "restore"), script,
                        [str(len(snapshot.volumes))], progress)
    digests = {}
    for line in lines:
        parts = line.split()
        if len(parts) == 4 and parts[0] == "verify":
            volume = snapshot.volumes[int(parts[1])]
            if parts[2] != parts[3]:
                raise EngineError(f"{engine.runtime}: volume {short(volume.source)} does not match snapshot "
                                  f"{snapshot.id} after the copy (checksum listing {parts[3][:16]}, the snapshot's "
                                  f"{parts[2][:16]})")
            digests[volume.source] = parts[2]
    if len(digests) != len(snapshot.volumes):
        raise EngineError(f"{engine.runtime}: restoring snapshot {snapshot.id}: the helper did not verify every "
                          "volume")
    say(f"restored snapshot {snapshot.id} ({snapshot.time}): {progress.summary()}, verified "
        f"({', '.join(f'{short(name)} sha256 {digest[:12]}' for name, digest in digests.items())})")
    return Restored(snapshot, digests, time.monotonic() - progress.started)


# --- listing and pruning -----------------------------------------------------------------

def list_snapshots(engine: Engine, container: str) -> List[Snapshot]:
    """The complete snapshots of container, newest first."""
    found = []
    for volume in engine.volumes_labelled(COMPLETE_LABEL, container):
        try:
            found.append(Snapshot.from_json(json.loads((volume.get("Labels") or {})[RECORD_LABEL])))
        except (KeyError, ValueError, TypeError):
            continue  # not written by this one-run: left alone
    return sorted(found, key=lambda s: s.id, reverse=True)


def find_snapshot(engine: Engine, container: str, snap_id: str) -> Optional[Snapshot]:
    return next((s for s in list_snapshots(engine, container) if s.id == snap_id), None)


def discard(engine: Engine, snapshot: Snapshot) -> None:
    """Remove a snapshot's volumes: its marker first, so that from then on it no longer counts as one."""
    if engine.volume(snapshot.marker) is not None:
        engine.remove_volume(snapshot.marker)
    for volume in snapshot.volumes:
        if engine.volume(volume.copy) is not None:
            engine.remove_volume(volume.copy)


def prune(engine: Engine, container: str, keep: int, say: Callable[[str], None] = say_on_stderr) -> List[str]:
    """Remove container's snapshots beyond the newest `keep`, oldest first, and the volumes of
    incomplete ones; only volumes one-run labelled as its snapshots. The ids removed."""
    complete = list_snapshots(engine, container)
    removed = []
    for snapshot in reversed(complete[keep:]):
        discard(engine, snapshot)
        removed.append(snapshot.id)
        say(f"removed snapshot {snapshot.id} ({human(snapshot.bytes)}), beyond [snapshot] keep = {keep}")
    kept = {s.id for s in complete[:keep]}
    for volume in engine.volumes_labelled(SNAPSHOT_LABEL, container):
        labels = volume.get("Labels") or {}
        snap_id = labels.get(ID_LABEL)
        if snap_id and snap_id not in kept and snap_id not in removed and (OF_LABEL in labels or snap_id == PROBE):
            engine.remove_volume(volume["Name"])
            say(f"removed volume {volume['Name']}, left by an interrupted snapshot")
    return removed
