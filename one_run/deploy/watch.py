"""Is a container that was just started up? The profile's [watch] answers, or the image's
health check, or, when neither says anything, only "it kept running for settle_time".

A container is up when every signal it has is ready within the timeout (its log printed
ready_log, ready_command exited 0 inside it, its health check passed), and it then keeps
running, without a restart and without turning unhealthy, for the settle time. While
waiting, a progress line at least every PROGRESS_EVERY seconds: a bootstrap of minutes
must never look hung, and the lines read well in a file.
"""
import re
import time
from typing import Callable, List, NamedTuple, Optional, Sequence, Tuple

from ..common.errors import EngineError
from ..engines import ContainerInfo, Engine
from ..model.profile import Watch
from ..model.secrets import mask

POLL = 0.25             # seconds between looks: the detection lag of a ready line
COMMAND_EVERY = 1.0     # seconds between two runs of ready_command
PROGRESS_EVERY = 10.0   # seconds between two progress lines, at most
LAST_LINE_WIDTH = 100


def has_health_check(attrs: Optional[dict]) -> bool:
    """Whether an image's (or a container's) inspect declares a HEALTHCHECK that runs
    (Podman's image inspect holds it at the top level, Docker's under Config)."""
    attrs = attrs or {}
    check = (attrs.get("Config") or {}).get("Healthcheck") or attrs.get("Healthcheck") or {}
    test = check.get("Test") or []
    return bool(test) and test[0] != "NONE"


def expects_health_check(healthcheck, image: Optional[dict]) -> bool:
    """Whether the container will have a health check that runs: the profile's own
    ([container] healthcheck; false turns the image's off), else the image's."""
    if healthcheck is not None:
        return healthcheck is not False
    return has_health_check(image)


def health_interval(attrs: dict) -> float:
    """Seconds between health checks, as the engines read the image's HEALTHCHECK (0: 30 s)."""
    return ((attrs["Config"].get("Healthcheck") or {}).get("Interval") or 30e9) / 1e9


def signals(watch: Watch, maintenance: bool, health_check: bool) -> List[str]:
    """What a started container must show before it counts as ready, in words. In maintenance
    mode the services are not started, so neither the health check nor ready_command can pass."""
    found = []
    if watch.ready_log:
        found.append(f"its log to print /{watch.ready_log}/")
    if watch.ready_command and not maintenance:
        found.append(f"`{' '.join(watch.ready_command)}` to exit 0 inside it")
    if health_check and not maintenance:
        found.append("its health check to pass")
    return found


def describe(watch: Watch, maintenance: bool, health_check: bool) -> List[str]:
    """The plan's words for the watch."""
    wanted = signals(watch, maintenance, health_check)
    lines = []
    if wanted:
        lines.append(f"wait up to {watch.timeout:g} s for {' and '.join(wanted)}, "
                     f"then check it stays up for {watch.settle_time:g} s")
    else:
        lines.append(f"watching only {watch.settle_time:g} s: a failure after that is not caught — "
                     "set [watch] ready_log or ready_command")
    skipped = [what for what, present in (("ready_command", watch.ready_command), ("the health check", health_check))
               if present]
    if maintenance and skipped:
        lines.append(f"maintenance mode: its services do not start, so {' and '.join(skipped)} "
                     f"{'is' if len(skipped) == 1 else 'are'} not waited for")
    return lines


def runs_in_maintenance(info: ContainerInfo) -> bool:
    """Whether the container was created in maintenance mode (its own environment says)."""
    return "MAINTENANCE_MODE=yes" in ((info.attrs.get("Config") or {}).get("Env") or ())


class Judge(NamedTuple):
    """How a container of an earlier revision is judged when it is started again (an apply's
    undo, a switch's): by the [watch] it was applied with, in the mode it was created in, never
    by the profile being applied. `revision` None: no revision records that [watch], so only
    its health check and the default settle time judge it."""

    watch: Watch
    maintenance: bool
    revision: Optional[int]

    def words(self) -> str:
        if self.revision is not None:
            return f"by the [watch] of revision {self.revision}, which it was applied with"
        return (f"by its health check and the default settle time, {self.watch.settle_time:g} s (no revision "
                "records the [watch] it was applied with)")

    def as_json(self) -> dict:
        return {"watch": self.watch._asdict(), "maintenance": self.maintenance, "revision": self.revision}

    @classmethod
    def from_json(cls, data: dict) -> "Judge":
        w = data["watch"]
        return cls(Watch(w["ready_log"], tuple(w["ready_command"]) if w["ready_command"] else None,
                         w["timeout"], w["settle_time"]), data["maintenance"], data["revision"])


class Watcher:
    """`secrets`: the values masked in every log line it echoes (model.secrets.mask)."""

    def __init__(self, engine: Engine, watch: Watch, maintenance: bool, say: Callable[[str], None],
                 secrets: Sequence[str] = ()):
        self.engine, self.watch, self.maintenance, self.say = engine, watch, maintenance, say
        self.secrets = secrets
        self.ready_re = re.compile(watch.ready_log) if watch.ready_log else None

    @classmethod
    def judging(cls, engine: Engine, judge: Judge, say: Callable[[str], None],
                secrets: Sequence[str] = ()) -> "Watcher":
        return cls(engine, judge.watch, judge.maintenance, say, secrets)

    def log_offset(self, cid: str) -> int:
        """Where the container's log ends now: a container started again is ready only on what
        it prints from then on, not on its previous run's ready line."""
        if not self.ready_re:
            return 0
        try:
            return len(self.engine.logs(cid, "all"))
        except EngineError:
            return 0

    def __call__(self, cid: str, what: str = "the new container", log_offset: int = 0) -> Optional[str]:
        """None when the container is up, else why not (a sentence about `what`)."""
        w = self.watch
        start = time.monotonic()
        ready_at: Optional[float] = None
        log_matched = self.ready_re is None
        command_ok = not w.ready_command or self.maintenance
        next_command = start
        next_check: Optional[float] = None
        next_progress = start + PROGRESS_EVERY
        last_line = ""
        while True:
            info = self.engine.get(cid)
            if info is None:
                return f"{what} disappeared"
            if info.status != "running":  # (its last log lines follow in the message)
                return f"{what} is {info.status} (exit code {info.exit_code})"
            if info.attrs.get("RestartCount"):  # the engines count from the last start
                return f"{what} exited and was restarted"
            now = time.monotonic()
            health, next_check = self.health(cid, info, now, start, next_check)
            if health == "unhealthy":
                return f"{what} reports unhealthy"
            if ready_at is None:
                if not log_matched or now >= next_progress:
                    text = self.engine.logs(cid, "all")
                    fresh = text[log_offset:] if len(text) >= log_offset else text
                    log_matched = log_matched or bool(self.ready_re.search(fresh))
                    last_line = mask((fresh.rstrip().splitlines() or [""])[-1], self.secrets)
                if not command_ok and now >= next_command:
                    next_command = now + COMMAND_EVERY
                    command_ok = self.command_passes(cid)
                if log_matched and command_ok and health in (None, "healthy"):
                    ready_at = now
                    if self.waits_for_something(info):
                        self.say(f"  ready after {now - start:.1f} s; checking it stays up for {w.settle_time:g} s")
                elif now - start >= w.timeout:
                    return (f"{what} was not ready after {w.timeout:g} s (waiting for "
                            f"{' and '.join(self.pending(log_matched, command_ok, health))})"
                            + self.last_words(last_line))
            if ready_at is not None and now - ready_at >= w.settle_time and health in (None, "healthy"):
                return None
            if now >= next_progress:
                next_progress = now + PROGRESS_EVERY
                self.progress(now - start, info, health, ready_at, log_matched, command_ok, last_line, cid)
            time.sleep(POLL)

    def health(self, cid: str, info: ContainerInfo, now: float, start: float,
               next_check: Optional[float]) -> Tuple[Optional[str], Optional[float]]:
        """The health to go by (None: none to wait for), and when one-run runs the next check
        itself: Podman without systemd never schedules them, so the status would stay
        "starting" for ever."""
        if self.maintenance or not info.health:
            return None, next_check
        if info.health != "starting":
            return info.health, next_check
        interval = health_interval(info.attrs)
        next_check = next_check or start + interval
        if now < next_check:
            return info.health, next_check
        try:
            return (self.engine.run_health_check(cid) or info.health), now + interval
        except EngineError:
            return info.health, now + interval  # it stopped meanwhile: the next look says so

    def command_passes(self, cid: str) -> bool:
        try:
            code, _ = self.engine.exec(cid, list(self.watch.ready_command))
        except EngineError:
            return False  # not running any more, or the program is missing: the next look says which
        return code == 0

    def waits_for_something(self, info: ContainerInfo) -> bool:
        return bool(signals(self.watch, self.maintenance, bool(info.health)))

    def pending(self, log_matched: bool, command_ok: bool, health: Optional[str]) -> List[str]:
        out = []
        if not log_matched:
            out.append(f"ready_log /{self.watch.ready_log}/")
        if not command_ok:
            out.append(f"ready_command `{' '.join(self.watch.ready_command)}`")
        if health not in (None, "healthy"):
            out.append(f"the health check ({health})")
        return out

    def progress(self, elapsed: float, info: ContainerInfo, health: Optional[str], ready_at: Optional[float],
                 log_matched: bool, command_ok: bool, last_line: str, cid: str) -> None:
        if ready_at is None:
            waiting = " and ".join(self.pending(log_matched, command_ok, health)) or "it to stay up"
            head = f"  waiting {elapsed:.0f} s of {self.watch.timeout:g} s for {waiting}"
        else:
            head = f"  ready; up {time.monotonic() - ready_at:.0f} s of the {self.watch.settle_time:g} s to stay up"
        if not last_line:
            try:
                last_line = mask((self.engine.logs(cid, 1).rstrip().splitlines() or [""])[-1], self.secrets)
            except EngineError:
                pass
        state = info.status + (f", health {health}" if health else "")
        line = last_line.strip()
        if len(line) > LAST_LINE_WIDTH:
            line = line[:LAST_LINE_WIDTH - 1] + "…"
        self.say(f"{head}: {state}" + (f"; last log line: {line}" if line else ""))

    @staticmethod
    def last_words(line: str) -> str:
        return f"; its last log line: {line.strip()}" if line.strip() else ""
