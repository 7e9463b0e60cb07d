"""`one-run switch PROFILE --to R`: move the deployment, with its volumes' data, to the other runtime.

Named volumes live inside each engine's own storage, so applying the profile on the
other runtime would start an EMPTY OpenNebula. Switch moves the data first:

  1. decide, touching nothing: the source container, the volumes to move (the profile's
     named volumes and the source container's anonymous ones), their sizes, and what the
     target already holds (target volumes with data are refused unless --overwrite-volumes);
  2. pull the image on the target while the source still runs; create missing target volumes;
  3. stop the source (its stop timeout honoured), so the database files are consistent;
  4. stream each volume through the engines' archive APIs (volume_copy), then fingerprint
     the copy on the target and compare it with the source's fingerprint;
  5. apply the profile on the target (the usual create/verify/rollback), with the copied
     anonymous volumes mounted where the image would otherwise make empty ones;
  6. set `runtime` in the profile. The source container stays, stopped, with its volumes,
     until `--cleanup`; cleanup removes only the container, never a volume.

Any failure after step 2 starts the source again and removes the target volumes switch
created (exit 1); if that cannot be done, exit 4 with what is left and the commands.

check_not_elsewhere() is the guard `apply` runs first: it refuses (exit 2) to apply on a
runtime while the deployment lives on the other one.
"""
import os
import sys
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from ..deploy import history
from ..deploy.apply import (LOCK_TIMEOUT, Applier, Plan, carried_volumes, hold_stopped, pull_needed, pull_progress,
                    resolve_env)
from ..engines import HELPER_LABEL, ContainerInfo, Engine, endpoint_named, get_engine
from ..common.errors import (ApplyFailedRestored, EngineError, EngineUnavailable, OneRunError, RestoreFailed,
                     UsageError)
from ..deploy.lock import apply_lock
from ..model.normalize import is_anonymous_name
from ..model.profile import Profile, load_profile
from ..model.runspec import RunSpec, write_generated_files
from ..deploy.volume_copy import TreeDigest, copy_volume, fingerprint_volume, has_entries, human
from ..deploy.watch import Watcher, expects_health_check
from ..deploy.watch import describe as describe_watch

OTHER = {"docker": "podman", "podman": "docker"}
SRC_ROOT, DST_ROOT, PROBE_ROOT = "/one-run-switch/src", "/one-run-switch/dst", "/one-run-switch/probe"
SWITCHED_FROM_LABEL = "one-run.switched-from"  # on target volumes switch created
PROGRESS_EVERY = 2.0  # seconds between progress lines on stderr
HELPER_POLL = 0.2


@dataclass
class Move:
    """One volume to move: source name → target name, mounted at path by the deployment."""

    source: str
    target: str
    path: str
    anonymous: bool
    size: Optional[int] = None
    state: str = "missing"  # on the target: missing | empty | has data | not inspected
    created: bool = False
    digest: Optional[TreeDigest] = None
    made_by: Optional[str] = None  # the existing target volume's SWITCHED_FROM_LABEL

    @property
    def origin(self) -> str:
        return f", made by an earlier switch from {self.made_by}" if self.made_by else ""

    @property
    def overwrites(self) -> bool:
        return self.state in ("has data", "not inspected")


# --- the guard apply runs first ---------------------------------------------------

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


def probe_volumes(engine: Engine, names: List[str], image: str) -> Dict[str, Optional[bool]]:
    """name → whether the volume holds anything (None: could not look, no image to make a helper)."""
    helper_image = image if engine.image_attrs(image) is not None else engine.any_image()
    if not names or helper_image is None:
        return {name: None for name in names}
    mounts = [(name, f"{PROBE_ROOT}/{i}", True) for i, name in enumerate(names)]
    cid = engine.create_helper(helper_image, mounts, f"one-run-probe-{os.urandom(6).hex()}")
    try:
        return {name: has_entries(engine, cid, path) for name, path, _ in mounts}
    finally:
        _remove_quietly(engine, cid)


def short(volume: str) -> str:
    """An anonymous volume's 64-hex name shortened as the engines' CLIs shorten IDs."""
    return volume[:12] if is_anonymous_name(volume) else volume


def size_text(size: Optional[int]) -> str:
    """A volume's size as the engine reported it (its count may lag: data was seen in volumes it called empty)."""
    return "size unknown" if size is None else ("reported empty" if size == 0 else human(size))


def of_about(done: int, size: Optional[int]) -> str:
    """The " of about SIZE" part, while the size is a useful estimate: not unknown, 0, or already passed."""
    return f" of about {human(size)}" if size and size >= done else ""


def _remove_quietly(engine: Engine, cid: str) -> Optional[str]:
    try:
        engine.remove(cid)
        return None
    except EngineError as exc:
        return str(exc)


# --- switch -------------------------------------------------------------------------

class _TargetApplier(Applier):
    """The target's apply, mounting the copied anonymous volumes where the image has VOLUMEs."""

    def __init__(self, *args, switch_carried: Tuple[Tuple[str, str], ...] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.switch_carried = switch_carried

    def swap(self, plan: Plan, keep_previous: bool, planned=None) -> int:
        by_path = {path: name for name, path in plan.carried}
        by_path.update({path: name for name, path in self.switch_carried})
        plan.carried = tuple(sorted(((name, path) for path, name in by_path.items()), key=lambda p: p[1]))
        return super().swap(plan, keep_previous, planned)


class _Progress:
    """Bytes and volumes done, on stderr, at most every PROGRESS_EVERY seconds."""

    def __init__(self, moves: List[Move]):
        self.moves = moves
        sizes = [m.size for m in moves]
        self.total = sum(sizes) if None not in sizes else None
        self.done_bytes = 0
        self.current: Optional[Move] = None
        self.volume_bytes = 0
        self.started = self.last = time.monotonic()

    def begin(self, move: Move) -> None:
        self.current, self.volume_bytes = move, 0
        self.volume_started = time.monotonic()

    def __call__(self, n: int) -> None:
        self.done_bytes += n
        self.volume_bytes += n
        now = time.monotonic()
        if now - self.last >= PROGRESS_EVERY:
            self.last = now
            self.line()

    def line(self) -> None:
        index = self.moves.index(self.current) + 1
        rate = self.done_bytes / max(time.monotonic() - self.started, 1e-6)
        of = of_about(self.volume_bytes, self.current.size)
        overall = human(self.done_bytes) + of_about(self.done_bytes, self.total)
        print(f"switch: volume {index}/{len(self.moves)} {short(self.current.source)}: {human(self.volume_bytes)}{of} "
              f"streamed (all volumes: {overall}, {human(rate)}/s); {index - 1} of {len(self.moves)} volumes done",
              file=sys.stderr, flush=True)

    def end(self, move: Move) -> None:
        index = self.moves.index(move) + 1
        took = time.monotonic() - self.volume_started
        print(f"switch: volume {index}/{len(self.moves)} {short(move.source)} copied and verified in {took:.1f} s "
              f"({move.digest.describe()}); {index} of {len(self.moves)} volumes done", file=sys.stderr, flush=True)


class Switcher:
    def __init__(self, profile: Profile, spec: RunSpec, to: str):
        self.profile, self.spec, self.to = profile, spec, to
        self.name = spec.name
        self.dst = get_engine(to)
        self.src = get_engine(OTHER[to])
        self.helpers: List[Tuple[Engine, str]] = []
        self.copying = False
        self.applying = False

    def say(self, text: str) -> None:
        print(text, flush=True)

    @staticmethod
    def warn(text: str) -> None:
        print(f"warning: {text}", file=sys.stderr, flush=True)

    def helper_name(self, role: str) -> str:
        return f"{self.name}-one-run-switch-{role}"

    # --- deciding ---------------------------------------------------------------

    def run(self, dry_run=False, cleanup=False, overwrite=False) -> int:
        with apply_lock(self.src.runtime, self.name, LOCK_TIMEOUT):
            source, target = self.src.get(self.name), self.dst.get(self.name)
            if source is None:
                if target is not None:
                    return self.already_switched(None, target, cleanup, dry_run)
                raise UsageError(f"no container named {self.name} on {self.src.runtime} (nor on {self.dst.runtime}): "
                                 f"nothing to switch; `one-run apply --runtime {self.to}` creates a new deployment")
            if target is not None and target.running:
                if source.running:
                    raise UsageError(f"{self.name} runs on both {self.src.runtime} ({source.id[:12]}) and "
                                     f"{self.dst.runtime} ({target.id[:12]}); stop the one that is not the "
                                     f"deployment by hand, then run switch again")
                return self.already_switched(source, target, cleanup, dry_run)
            resolve_env(self.spec)  # a missing secret is bad input: found now, before anything changes
            pull = pull_needed(self.dst, self.spec, self.dst.image_attrs(self.spec.image))
            moves, missing = self.plan_moves(source, target)
            self.inspect_targets(moves)
            pulled = False
            if pull and not dry_run and any(m.state == "not inspected" for m in moves):
                # The target has no image at all to look inside its volumes with: the pull (which
                # only adds an image) comes first, then the look.
                self.pull()
                pull, pulled = False, True
                self.inspect_targets(moves)
            for line in self.describe(source, target, moves, missing, pull, cleanup):
                self.say(line)
            refused = [m for m in moves if m.overwrites]
            if refused and not overwrite:
                listing = "; ".join(f"{m.target} ({m.state}{m.origin})" for m in refused)
                changed = f"Nothing else was changed (only {self.spec.image} was pulled)" if pulled \
                    else "Nothing was changed"
                raise UsageError(f"{self.dst.runtime} already has volumes that would be overwritten: {listing}. "
                                 f"{changed}. Pass --overwrite-volumes to replace their contents with "
                                 f"the {self.src.runtime} data, or remove them first")
            if dry_run:
                self.say("dry run: nothing was changed")
                return 0
            self.remove_leftover_helpers()
            if pull:
                self.pull()
            self.execute(source, target, moves)
        self.finish(source, cleanup)
        self.note_moved_volumes(source, moves)
        return 0

    def pull(self) -> None:
        self.say(f"pulling {self.spec.image} on {self.dst.runtime} while {self.name} still runs "
                 f"on {self.src.runtime} ...")
        self.dst.pull(self.spec.image, pull_progress)

    def plan_moves(self, source: ContainerInfo, target: Optional[ContainerInfo]) -> Tuple[List[Move], List[str]]:
        """The profile's named volumes, then the source's anonymous ones (the volumes apply carries over)."""
        moves, missing = [], []
        for vol in self.spec.all_volumes:
            if vol.kind == "volume":
                if self.src.volume(vol.source) is None:
                    missing.append(vol.source)
                else:
                    moves.append(Move(vol.source, vol.source, vol.target, anonymous=False))
        # A stopped container of this name on the target (the source of an earlier switch) keeps
        # its own volumes at those paths: copy into them, since apply will start or carry them.
        at_target = {m["Destination"]: m["Name"] for m in ((target.attrs.get("Mounts") or []) if target else [])
                     if m.get("Type") == "volume"}
        image = self.src.image_attrs(source.image_id)
        for name, path in carried_volumes(source, self.spec, image):
            moves.append(Move(name, at_target.get(path, name), path, anonymous=True))
        try:
            sizes = self.src.volume_sizes()
        except EngineError:
            sizes = {}
        for move in moves:
            move.size = sizes.get(move.source)
        return moves, missing

    def inspect_targets(self, moves: List[Move]) -> None:
        volumes = {m.target: self.dst.volume(m.target) for m in moves}
        existing = [m for m in moves if volumes[m.target] is not None]
        found = probe_volumes(self.dst, [m.target for m in existing], self.spec.image) if existing else {}
        for move in existing:
            full = found.get(move.target)
            move.state = "not inspected" if full is None else ("has data" if full else "empty")
            # Left by an earlier switch: one that finished (its data is of that time), or one killed half-way.
            move.made_by = (volumes[move.target].get("Labels") or {}).get(SWITCHED_FROM_LABEL)

    def describe(self, source, target, moves, missing, pull, cleanup) -> List[str]:
        src, dst = self.src.runtime, self.dst.runtime
        lines = [f"switch {self.name}: {src} → {dst}",
                 f"  source: {src} container {source.id[:12]} ({source.status}), image {source.image}"]
        if target is not None:
            lines.append(f"  target: {dst} already has a stopped container {self.name} ({target.id[:12]}, "
                         f"{target.status}); apply will start or replace it")
        if pull:
            lines.append(f"  pull {self.spec.image} on {dst} first, while the source still runs")
        if source.running:
            lines.append(f"  stop {source.id[:12]} on {src} (stop timeout {self.spec.container.stop_timeout} s) "
                         "so the data is consistent")
        lines.append(f"  copy {len(moves)} volume(s) through the engines' archive APIs, then verify each on {dst}:")
        for move in moves:
            kind = "anonymous volume" if move.anonymous else "volume"
            action = {"missing": "create it", "empty": "fill the empty volume",
                      "has data": "OVERWRITE its data", "not inspected": "exists, could not be inspected: overwrite"}
            # The target by its full name: the one `volume ls` will show (an anonymous volume keeps its 64 hex).
            lines.append(f"    {kind} {short(move.source)} at {move.path} ({size_text(move.size)}) → {dst} volume "
                         f"{move.target}: {action[move.state]}{move.origin if move.overwrites else ''}")
        for name in missing:
            lines.append(f"    volume {name}: not on {src}; apply creates it empty on {dst}")
        lines.append(f"  apply the profile on {dst}: create, start; on failure start the {src} container again")
        health = expects_health_check(self.spec.container.healthcheck, self.dst.image_attrs(self.spec.image))
        lines += [f"    {line}" for line in describe_watch(self.profile.watch, self.profile.maintenance, health)]
        lines.append(f"  set runtime = \"{self.to}\" in {self.profile.path}")
        if cleanup:
            lines.append(f"  then remove the stopped {src} container; its volumes are kept")
        else:
            lines.append(f"  keep the {src} container stopped, volumes untouched, until `switch --cleanup`")
        return lines

    # --- doing ------------------------------------------------------------------

    def remove_leftover_helpers(self) -> None:
        for engine in (self.src, self.dst):
            for role in ("src", "dst", "clear"):
                info = engine.get(self.helper_name(role))
                if info is not None and info.labels.get(HELPER_LABEL):
                    engine.remove(info.id)

    def helper(self, engine: Engine, image: str, mounts, role: str, command=None) -> str:
        cid = engine.create_helper(image, mounts, self.helper_name(role), command)
        self.helpers.append((engine, cid))
        return cid

    def drop_helpers(self) -> List[str]:
        problems = []
        while self.helpers:
            engine, cid = self.helpers.pop()
            problem = _remove_quietly(engine, cid)
            if problem:
                problems.append(f"helper container {cid[:12]} on {engine.runtime} is left: {problem} "
                                f"(`{engine.runtime} rm -f {cid[:12]}`)")
        return problems

    def execute(self, source: ContainerInfo, target: Optional[ContainerInfo], moves: List[Move]) -> None:
        was_running = source.running
        try:
            write_generated_files(self.spec)
            labels = {SWITCHED_FROM_LABEL: self.src.runtime}
            for move in moves:
                if move.state == "missing":
                    self.dst.create_volume(move.target, labels)
                    move.created = True
            self.copying = True  # from here on, existing target volumes may change
            self.empty_targets([m for m in moves if m.state != "missing"])
            src_mounts = [(m.source, f"{SRC_ROOT}/{i}", True) for i, m in enumerate(moves)]
            dst_mounts = [(m.target, f"{DST_ROOT}/{i}", False) for i, m in enumerate(moves)]
            src_helper = self.helper(self.src, source.image_id, src_mounts, "src") if moves else None
            dst_helper = self.helper(self.dst, self.spec.image, dst_mounts, "dst") if moves else None
            if was_running:
                self.say(f"stopping {self.name} ({source.id[:12]}) on {self.src.runtime} ...")
                self.src.stop(source.id)
            self.copy(moves, src_helper, dst_helper)
            for problem in self.drop_helpers():
                self.warn(problem)
            carried = tuple((m.target, m.path) for m in moves if m.anonymous)
            self.applying = True  # from here on, a container may run on the target
            _TargetApplier(self.dst, self.profile, self.spec, switch_carried=carried).run()
        except BaseException as exc:  # KeyboardInterrupt too: the source must run again
            self.restore(source, was_running, moves, exc)

    def empty_targets(self, moves: List[Move]) -> None:
        """Remove everything inside the target volumes being overwritten, so the copy is exact."""
        full = [m for m in moves if m.overwrites]
        if not full:
            return
        paths = [f"{DST_ROOT}/{i}" for i in range(len(full))]
        self.say(f"emptying {len(full)} {self.dst.runtime} volume(s) to overwrite: {', '.join(m.target for m in full)}")
        script = 'for d in "$@"; do rm -rf "$d"/* "$d"/.[!.]* "$d"/..?* || exit 1; done'
        cid = self.helper(self.dst, self.spec.image, [(m.target, p, False) for m, p in zip(full, paths)], "clear",
                          ["/bin/sh", "-c", script, "sh", *paths])
        self.dst.start(cid)
        while True:
            info = self.dst.get(cid)
            if info is None or info.status not in ("created", "running", "configured", "initialized"):
                break
            time.sleep(HELPER_POLL)
        if info is None or info.exit_code != 0:
            logs = self.dst.logs(cid, 20) if info else ""
            raise EngineError(f"{self.dst.runtime}: emptying the volumes to overwrite failed "
                              f"({'helper gone' if info is None else f'exit {info.exit_code}'}): {logs.strip()}")
        for problem in self.drop_helpers():
            self.warn(problem)

    def copy(self, moves: List[Move], src_helper: str, dst_helper: str) -> None:
        progress = _Progress(moves)
        for i, move in enumerate(moves):
            progress.begin(move)
            move.digest = copy_volume(self.src, src_helper, f"{SRC_ROOT}/{i}", self.dst, dst_helper,
                                      f"{DST_ROOT}/{i}", progress)
            copied = fingerprint_volume(self.dst, dst_helper, f"{DST_ROOT}/{i}")
            if copied != move.digest:
                raise EngineError(f"verification failed for volume {move.source}: {self.src.runtime} has "
                                  f"{move.digest.describe()}, the copy on {self.dst.runtime} has {copied.describe()}")
            progress.end(move)

    def restore(self, source: ContainerInfo, was_running: bool, moves: List[Move], exc: BaseException):
        failure = "interrupted" if isinstance(exc, KeyboardInterrupt) else \
            (exc.message if isinstance(exc, OneRunError) else f"{type(exc).__name__}: {exc}")
        problems = self.drop_helpers()
        if isinstance(exc, RestoreFailed):
            problems.append(f"the {self.dst.runtime} apply could not put things back:\n{exc.message}")
        recover = []
        # The target had no running container of this name (run() checks): one running now was
        # started by this switch's apply, and must not run beside the source (ports, data).
        target_left = self.stop_target(was_running) if self.applying else None
        if target_left:
            problems.append(target_left)
            recover.append(f"{self.dst.runtime} stop {self.name}")
            if was_running:
                recover.append(f"{self.src.runtime} start {self.name}")
        for move in moves:
            if move.created:
                try:
                    self.dst.remove_volume(move.target)
                except EngineError as err:
                    problems.append(f"{self.dst.runtime} volume {move.target}, created by switch, is left: {err}")
                    recover.append(f"{self.dst.runtime} volume rm {move.target}")
        if was_running and not target_left:
            problem = self.start_source(source)
            if problem:
                problems.append(problem)
                recover.insert(0, f"{self.src.runtime} start {self.name}")
        kept = [m.target for m in moves if self.copying and not m.created]
        note = (f"\nthe {self.dst.runtime} volumes that existed before keep what was written into them: "
                f"{', '.join(kept)}" if kept else "")
        untouched = f"the {self.src.runtime} volumes were only read, never changed"
        if not problems:
            again = (f"{self.name} runs again on {self.src.runtime} ({source.id[:12]})" if was_running
                     else f"{self.name} stays stopped on {self.src.runtime}, as it was")
            raise ApplyFailedRestored(f"switch to {self.dst.runtime} failed: {failure}\n{again}; {untouched}; "
                                      f"volumes switch created on {self.dst.runtime} were removed{note}") from None
        lines = [f"switch to {self.dst.runtime} failed: {failure}",
                 "and restoring the previous state failed too:"] + [f"  {p}" for p in problems]
        lines.append(f"{untouched}{note}")
        if recover:
            lines.append("to recover by hand:")
            lines += [f"  {command}" for command in recover]
        raise RestoreFailed("\n".join(lines)) from None

    def stop_target(self, was_running: bool) -> Optional[str]:
        """Stop a container of the deployment's name left running on the target; why not, if it could not be."""
        try:
            info = self.dst.get(self.name)
            if info is not None and info.running:
                self.say(f"stopping {self.name} ({info.id[:12]}) on {self.dst.runtime} ...")
                self.dst.stop(info.id)
            return None
        except EngineError as err:
            so = f", so the {self.src.runtime} one was not started again" if was_running else ""
            return f"the {self.dst.runtime} container {self.name} may still run{so}: {err}"

    def start_source(self, source: ContainerInfo) -> Optional[str]:
        try:
            # judged by the [watch] it was applied with, not by the profile being switched
            watcher = Watcher.judging(self.src, history.judge(self.profile.path, source), self.say)
            offset = watcher.log_offset(source.id)
            self.src.start(source.id)
            failure = watcher(source.id, "it", offset)
        except EngineError as err:
            return f"the {self.src.runtime} container {self.name} ({source.id[:12]}) could not be started again: {err}"
        if failure:
            return f"the {self.src.runtime} container {self.name} was started again but {failure}"
        return None

    # --- after success --------------------------------------------------------

    def finish(self, source: ContainerInfo, cleanup: bool) -> None:
        self.say(f"switched: {self.name} runs on {self.dst.runtime}")
        self.set_runtime()
        if cleanup:
            self.cleanup(source)
        else:
            self.say(f"the {self.src.runtime} container {self.name} ({source.id[:12]}) is kept, stopped, with its "
                     f"volumes untouched{hold_stopped(self.src, source)}; when the deployment on {self.dst.runtime} "
                     f"is checked, remove it with `one-run switch {self.profile.path} --to {self.to} --cleanup`")

    def note_moved_volumes(self, source: ContainerInfo, moves: List[Move]) -> None:
        """capture's comment on an anonymous volume says it lives only in the captured container;
        after the move that container is the source, kept or removed: say where the data is now."""
        from ..model.profile_edit import replace_comment

        for move in (m for m in moves if m.anonymous):
            try:
                replace_comment(self.profile.path, f"Anonymous volume {short(move.source)} at {move.path} ",
                                f"Anonymous volume {short(move.target)} at {move.path}: moved from {self.src.runtime} "
                                f"to {self.to} by `one-run switch`; its data lives only in the {self.to} container "
                                f"{self.name}; apply carries it over when it recreates that container, but a named "
                                "volume is safer.")
            except OneRunError as exc:
                self.warn(exc.message)

    def set_runtime(self) -> None:
        from ..model.profile_edit import set_top_level

        try:
            if set_top_level(self.profile.path, "runtime", f'"{self.to}"'):
                self.say(f"{self.profile.path}: runtime = \"{self.to}\"")
        except OneRunError as exc:
            self.warn(exc.message)

    def already_switched(self, source: Optional[ContainerInfo], target: ContainerInfo, cleanup: bool,
                         dry_run: bool) -> int:
        self.say(f"{self.name} is already on {self.dst.runtime} ({target.id[:12]}, {target.status}); "
                 + (f"the {self.src.runtime} container {source.id[:12]} is stopped" if source
                    else f"{self.src.runtime} has no container of that name"))
        if dry_run:
            if cleanup and source:
                self.say(f"  would remove the stopped {self.src.runtime} container {source.id[:12]}; volumes kept")
            self.say("dry run: nothing was changed")
            return 0
        self.set_runtime()
        if cleanup and source:
            self.cleanup(source)
        return 0

    def cleanup(self, source: ContainerInfo) -> None:
        """Remove the stopped source container; its volumes are kept (listed, with the command)."""
        info = self.src.get(source.id)
        if info is None:
            return
        if info.running:
            raise UsageError(f"the {self.src.runtime} container {self.name} ({info.id[:12]}) is running again; "
                             "not removing it")
        volumes = [m["Name"] for m in info.attrs.get("Mounts") or [] if m.get("Type") == "volume"]
        self.src.remove(info.id)
        self.say(f"removed the stopped {self.src.runtime} container {self.name} ({info.id[:12]})")
        if volumes:
            self.say(f"its volumes are kept; once you no longer need them: "
                     f"{self.src.runtime} volume rm {' '.join(volumes)}")
