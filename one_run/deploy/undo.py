"""Every failure of a recreate ends here: `roll_back` (the watch failed, an engine error,
Ctrl-C/SIGTERM/SIGHUP) and `repair` (the next apply finding the journal of a SIGKILLed one)
both go through the one `undo`, which looks at the engine's real state and puts back what
was there. The previous container, started again, is judged by the [watch] it was applied
with (watch.Judge), never by the new profile's.
"""
from typing import List, Optional, Tuple

from ..common.errors import ApplyFailedRestored, EngineError, RestoreFailed
from ..common.interrupts import shielded
from ..engines import ContainerInfo
from ..model.secrets import secret_values
from . import history, snapshot
from .commit import commit
from .deployment import Deployment
from .naming import NEW_SUFFIX, OLD_SUFFIX
from .watch import Judge, Watcher

# The journal's steps before the old container is stopped and renamed: it still has its name.
BEFORE_THE_STOP = ("create", "created", "prepare")


def roll_back(d: Deployment, failure: str):
    """Undo the swap this apply journaled; raises ApplyFailedRestored (exit 1) or RestoreFailed (4)."""
    record = d.record
    with shielded():
        try:
            new = d.new_container(record)
        except EngineError:  # the engine, or the connection to it, went away: undo says what is left
            new = None
        logs = d.log_tail(new.id) if new else ""
        # The old container mounts its own staged copies: the profile's files are not touched.
        files = "\nthe profile's edited files are untouched and were not applied" if d.spec.staged else ""
        try:
            restarted = undo(d, record)
        except EngineError as exc:
            raise RestoreFailed(stuck_report(d, record, failure, exc) + files) from None
    touched = record["step"] not in BEFORE_THE_STOP
    if restarted:
        # Started again is not running again: it may fail on what made the new one fail.
        old, offset, judge = restarted
        d.say(f"the new container was not up; the previous container {old.id[:12]} is started again"
              f"{d.data_note}, watching it {judge.words()}")
        try:
            held = secret_values(d.spec, (old.attrs.get("Config") or {}).get("Env"))  # its own, maybe older, values
            again = Watcher.judging(d.engine, judge, d.say, held)(old.id, "it", offset)
        except EngineError as exc:
            again = str(exc)
        except KeyboardInterrupt:
            raise ApplyFailedRestored(f"apply failed: {failure}; the previous container {old.id[:12]} was started "
                                      f"again, and the wait for it to be up was interrupted: `one-run status "
                                      f"{d.profile.path}` tells whether it is{files}\n{logs}") from None
        if again:
            raise RestoreFailed(
                f"apply failed: {failure}; the previous container {old.id[:12]} was started again and watched "
                f"{judge.words()}, but {again}"
                f"{files}\nwhat is left: {d.name} ({old.id[:12]}), not running as it did; no volume was removed\n"
                f"to recover by hand: mend the profile or the files it mounts, then `one-run apply "
                f"{d.profile.path}`; `{d.engine.runtime} logs {d.name}` shows why it fails\n{logs}") from None
    old_id = record.get("old")
    if not touched:
        previous = f"nothing else had changed; {d.name} is as it was" if old_id else "nothing else was changed"
    elif restarted:
        previous = f"the previous container {old_id[:12]} runs again"
    else:
        previous = ("the previous container is back under its name" if old_id
                    else "the new container was removed")
    raise ApplyFailedRestored(f"apply failed: {failure}; {previous}{d.data_note}{files}"
                              + (f"\n{logs}" if logs else ""))


def undo(d: Deployment, record: dict) -> Optional[Tuple[ContainerInfo, int, Judge]]:
    """Put the state before the journaled swap back, from what the engine holds now: remove
    the new container (and the anonymous volumes its create made), give the previous one its
    name back, and start it if it was running. The previous container, the log offset its
    watch starts from and what judges it, when it was started again. EngineError if the
    engine refuses."""
    if record.get("prepared"):  # a snapshot prepared, or being copied, and never finished
        snapshot.abandon(d.engine, snapshot.Prepared.from_json(record["prepared"]))
    new = d.new_container(record)
    if new:
        made = volumes_made_by(d, new, record)
        d.engine.remove(new.id)
        for volume in made:
            try:
                d.engine.remove_volume(volume)
            except EngineError:
                pass  # still used, or gone: it is empty either way, and never carried data
    old = d.engine.get(record["old"]) if record.get("old") else None
    if record.get("old") and old is None:
        raise EngineError(f"the previous container {record['old'][:12]} is gone")
    restore_data(d, record)
    if old is None:
        d.journal.clear()
        return None
    if old.name != d.name:  # an interrupt before the swap leaves it its name
        d.engine.rename(old.id, d.name)
    if record.get("step") == "stop" and old.status in ("running", "stopping"):
        # Killed while stopping it: the engine may still be at it. Let that stop end
        # before the start, or the start would come first and the stop after it. A Podman
        # service killed during the stop leaves the container "stopping" for good: a stop
        # ends that too, where a start is refused.
        d.engine.stop(old.id)
        old = d.engine.get(old.id) or old
    restarted = None
    if record.get("old_running") and not old.running:
        # A journal of an earlier one-run carries no judge: the history still knows it.
        judge = Judge.from_json(record["old_judge"]) if record.get("old_judge") else \
            history.judge(d.state, d.profile.path, old)
        offset = Watcher.judging(d.engine, judge, d.say).log_offset(old.id)
        d.engine.start(old.id)
        restarted = (old, offset, judge)
    d.journal.clear()
    return restarted


def restore_data(d: Deployment, record: dict) -> None:
    """Once the new container may have written to the volumes (it was started, or a rollback
    restored older data into them), put back the snapshot taken after the old one stopped,
    verified, before the old one starts: its database schema is the old one's."""
    if record.get("step") not in ("restore-data", "start") or not record.get("snapshot"):
        return
    taken = snapshot.Snapshot.from_json(record["snapshot"])
    snapshot.restore(d.engine, taken, d.say)
    d.data_note = f"; the data was restored from snapshot {taken.id}, taken {taken.time}, and verified"


def volumes_made_by(d: Deployment, new: ContainerInfo, record: dict) -> List[str]:
    """The anonymous volumes the engine made for the new container (the image's VOLUMEs
    that nothing was carried to): empty when it was created, used by nothing else."""
    named = {v.source for v in d.spec.all_volumes if v.kind == "volume"} | set(record.get("carried") or ())
    return [m["Name"] for m in new.attrs.get("Mounts") or []
            if m.get("Type") == "volume" and m.get("Name") and m["Name"] not in named]


def stuck_report(d: Deployment, record: dict, failure: str, exc: Exception) -> str:
    cli = d.engine.runtime
    new_id, old_id = record.get("new"), record.get("old")
    lines = [f"apply failed ({failure}) and restoring the previous container failed too: {exc}",
             "what is left:"]
    state = {}  # ID -> what is known of it: no recovery command names a container that is gone
    for cid, label in ((new_id, "new (failed)"), (old_id, "previous")):
        if cid:
            try:
                info = d.engine.get(cid)
                state[cid] = f"named {info.name}, {info.status}" if info else "gone"
            except EngineError as err:
                state[cid] = f"not known ({err})"
            lines.append(f"  {label}: {cid[:12]} {state[cid]}")
    if any(known.startswith("not known") for known in state.values()):
        lines.append(f"{d.engine.label} does not answer: once it is back, run the same apply again (it puts back "
                     "what is left), or")
    lines.append("to recover by hand:")
    lines += [f"  {line}" for line in d.engine.endpoint.cli_reach()]
    if new_id and state[new_id] != "gone":
        lines.append(f"  {cli} rm -f {new_id[:12]}")
    if old_id and state[old_id] != "gone":
        if record["step"] not in BEFORE_THE_STOP:
            lines.append(f"  {cli} rename {old_id[:12]} {d.name}")
        lines.append(f"  {cli} start {d.name}")
    if record.get("prepared"):
        prepared = snapshot.Prepared.from_json(record["prepared"])
        lines += [f"  {line}" for line in snapshot.abandon_by_hand(cli, prepared)]
    if record.get("snapshot"):
        taken = snapshot.Snapshot.from_json(record["snapshot"])
        lines.append(f"the data: snapshot {taken.id} holds the volumes as they were before; the same apply, run "
                     "again, restores it before it starts the previous container")
    lines.append("or run the same apply again: it first puts back what an interrupted apply leaves")
    lines.append("no volume was removed")
    return "\n".join(lines)


# --- what a killed apply leaves ------------------------------------------------

def leftovers(d: Deployment) -> List[str]:
    found = []
    for suffix in (NEW_SUFFIX, OLD_SUFFIX):
        info = d.engine.get(d.name + suffix)
        if info:
            found.append(f"  found {info.name} ({info.id[:12]}, {info.status}) left by an interrupted apply: "
                         "apply will repair this first")
    if d.journal.read():
        found.append(f"  found the journal of an interrupted apply ({d.journal.path}): apply will repair "
                     "this first")
    return found


def repair(d: Deployment) -> None:
    """Finish or undo an apply that was killed half-way, before deciding anything else:
    one whose new container had passed its watch is finished; any other is undone."""
    record = d.journal.read()
    with shielded():
        if record is None:
            record = record_from_names(d)
            if record is None:
                return
        d.record = record
        try:
            finish_or_undo(d, record)
        except EngineError as exc:
            raise RestoreFailed(stuck_report(d, record, "an earlier apply was interrupted", exc)) from None


def finish_or_undo(d: Deployment, record: dict) -> None:
    if all_gone(d, record):
        d.say(f"repair: {d.journal.path} is the journal of an interrupted apply whose containers are all gone "
              "(removed since, by hand or by another tool): there is nothing to put back, so it is cleared and "
              "nothing else is touched")
        d.journal.clear()
        return
    if record.get("passed"):
        d.say(f"repair: an interrupted apply had brought up {d.name} ({record['new'][:12]}) and it "
              "passed its watch; finishing it")
        commit(d, record)
        return
    new = d.new_container(record)
    d.say("repair: an earlier apply was interrupted before its new container passed its watch; "
          + (f"removing {new.name} ({new.id[:12]}) and " if new else "")
          + ("putting the previous container back" if record.get("old") else "nothing else to undo"))
    restarted = undo(d, record)
    if d.data_note:
        d.say(f"repair: {d.data_note.lstrip('; ')}")
    if restarted:
        d.say(f"repair: started {d.name} ({restarted[0].id[:12]}) again, as it was running")


def all_gone(d: Deployment, record: dict) -> bool:
    """Whether the containers the journal names (the new one by ID or temporary name, the
    previous one by ID) are all gone, and it named at least one."""
    if not (record.get("new") or record.get("old")):
        return False
    return d.new_container(record) is None and (not record.get("old") or d.engine.get(record["old"]) is None)


def record_from_names(d: Deployment) -> Optional[dict]:
    """A journal for leftovers whose journal is lost (its folder emptied by a reboot): what
    the temporary names say, read on the safe side — the new container never counts as passed."""
    left = {found for found, _ in d.engine.names_starting(d.name)}
    if not left & {d.name + NEW_SUFFIX, d.name + OLD_SUFFIX}:
        return None  # one list call, the common case
    new = d.engine.get(d.name + NEW_SUFFIX)
    old = d.engine.get(d.name + OLD_SUFFIX)
    if old:
        current = d.engine.get(d.name)
        if current and not new:
            new = current  # the swap had happened: the container under the name is the new one
        return {"step": "swap", "new": new.id if new else None, "old": old.id, "old_running": True,
                "passed": False}
    if new:
        return {"step": "created", "new": new.id, "old": None, "old_running": False, "passed": False}
    return None
