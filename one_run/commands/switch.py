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

The guard apply runs first, refusing to apply on a runtime while the deployment lives on
the other one, is deploy/guards.py's check_not_elsewhere.
"""
import json
import sys
from typing import List, Optional

from ..common.errors import ApplyFailedRestored, EngineError, OneRunError, RestoreFailed, UsageError
from ..deploy import history
from ..deploy.apply import ApplyOptions, apply
from ..deploy.commit import hold_stopped
from ..deploy.lock import apply_lock
from ..deploy.plan import pull_needed, pull_progress
from ..deploy.state import carry, store_for
from ..deploy.volume_move import Move, VolumeMover, short, size_text
from ..deploy.watch import Watcher
from ..deploy.watch import describe as describe_watch
from ..deploy.watch import expects_health_check
from ..engines import OTHER, ContainerInfo, get_engine
from ..model.profile import Profile
from ..model.runspec import RunSpec, write_generated_files
from ..model.secrets import resolve_env

# --- switch -------------------------------------------------------------------------

class Switcher:
    def __init__(self, profile: Profile, spec: RunSpec, to: str):
        self.profile, self.spec, self.to = profile, spec, to
        self.name = spec.name
        self.dst = get_engine(to)
        self.src = get_engine(OTHER[to])
        self.mover = VolumeMover(self.src, self.dst, spec)
        self.copying = False
        self.applying = False

    def say(self, text: str) -> None:
        print(text, flush=True)

    @staticmethod
    def warn(text: str) -> None:
        print(f"warning: {text}", file=sys.stderr, flush=True)

    # --- deciding ---------------------------------------------------------------

    def run(self, dry_run=False, cleanup=False, overwrite=False) -> int:
        with apply_lock(self.src.runtime, self.name, engine=self.src):
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
            moves, missing = self.mover.plan_moves(source, target)
            self.mover.inspect_targets(moves)
            pulled = False
            if pull and not dry_run and any(m.state == "not inspected" for m in moves):
                # The target has no image at all to look inside its volumes with: the pull (which
                # only adds an image) comes first, then the look.
                self.pull()
                pull, pulled = False, True
                self.mover.inspect_targets(moves)
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
            self.mover.remove_leftover_helpers()
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

    def execute(self, source: ContainerInfo, target: Optional[ContainerInfo], moves: List[Move]) -> None:
        was_running = source.running
        try:
            write_generated_files(self.spec)
            self.mover.create_missing(moves)
            self.copying = True  # from here on, existing target volumes may change
            self.mover.empty_targets([m for m in moves if m.state != "missing"])
            src_helper, dst_helper = self.mover.open_helpers(source, moves)
            if was_running:
                self.say(f"stopping {self.name} ({source.id[:12]}) on {self.src.runtime} ...")
                self.src.stop(source.id)
            self.mover.copy(moves, src_helper, dst_helper)
            for problem in self.mover.drop_helpers():
                self.warn(problem)
            carried = tuple((m.target, m.path) for m in moves if m.anonymous)
            self.carry_history()
            self.applying = True  # from here on, a container may run on the target
            # The data is moved: the deployment living on the source is why this apply runs.
            apply(self.profile, self.spec, ApplyOptions(allow_empty_volumes=True), self.dst, carried=carried)
        except BaseException as exc:  # KeyboardInterrupt too: the source must run again
            self.restore(source, was_running, moves, exc)

    def carry_history(self) -> None:
        """On a remote host each engine keeps the deployment's revisions in a volume of its own:
        the target's starts with the source's (locally both runtimes share the profile's)."""
        with store_for(self.src.runtime, self.name, self.profile.path, self.src) as src, \
                store_for(self.dst.runtime, self.name, self.profile.path, self.dst) as dst:
            carry(src, dst)

    def restore(self, source: ContainerInfo, was_running: bool, moves: List[Move], exc: BaseException):
        failure = "interrupted" if isinstance(exc, KeyboardInterrupt) else \
            (exc.message if isinstance(exc, OneRunError) else f"{type(exc).__name__}: {exc}")
        problems = self.mover.drop_helpers()
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
            with store_for(self.src.runtime, self.name, self.profile.path, self.src) as store:
                judge = history.judge(store, self.profile.path, source)
            watcher = Watcher.judging(self.src, judge, self.say)
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
            # The host names the engine of the runtime the profile says: the target's now.
            host = self.dst.endpoint.name
            if self.profile.host and self.profile.host != host and \
                    set_top_level(self.profile.path, "host", json.dumps(host)):
                self.say(f"{self.profile.path}: host = {json.dumps(host)}")
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


def switch(profile: Profile, spec: RunSpec, to: str, dry_run: bool, cleanup: bool, overwrite: bool) -> int:
    from ..common.interrupts import as_keyboard_interrupt

    with as_keyboard_interrupt():
        return Switcher(profile, spec, to).run(dry_run=dry_run, cleanup=cleanup, overwrite=overwrite)
