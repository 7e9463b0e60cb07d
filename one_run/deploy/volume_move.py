"""Moving a deployment's volumes between two engines (switch): which volumes, what the target
already holds, and the copy itself, through helper containers and the engines' archive APIs
(volume_copy), each copy verified by its fingerprint on the target."""
import sys
import time
from dataclasses import dataclass
from typing import List, Optional, Tuple

from ..common.errors import EngineError
from ..engines import HELPER_LABEL, ContainerInfo, Engine
from ..model.normalize import is_anonymous_name
from ..model.runspec import RunSpec
from .plan import carried_volumes
from .volume_copy import TreeDigest, copy_volume, fingerprint_volume, human, probe_volumes, remove_quietly

SRC_ROOT, DST_ROOT = "/one-run-switch/src", "/one-run-switch/dst"
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


def short(volume: str) -> str:
    """An anonymous volume's 64-hex name shortened as the engines' CLIs shorten IDs."""
    return volume[:12] if is_anonymous_name(volume) else volume


def size_text(size: Optional[int]) -> str:
    """A volume's size as the engine reported it (its count may lag: data was seen in volumes it called empty)."""
    return "size unknown" if size is None else ("reported empty" if size == 0 else human(size))


def of_about(done: int, size: Optional[int]) -> str:
    """The " of about SIZE" part, while the size is a useful estimate: not unknown, 0, or already passed."""
    return f" of about {human(size)}" if size and size >= done else ""


class Progress:
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


class VolumeMover:
    """The volumes of `spec`'s deployment, from `src` to `dst`, and the helpers that move them."""

    def __init__(self, src: Engine, dst: Engine, spec: RunSpec):
        self.src, self.dst, self.spec = src, dst, spec
        self.name = spec.name
        self.helpers: List[Tuple[Engine, str]] = []

    @staticmethod
    def say(text: str) -> None:
        print(text, flush=True)

    @staticmethod
    def warn(text: str) -> None:
        print(f"warning: {text}", file=sys.stderr, flush=True)

    def helper_name(self, role: str) -> str:
        return f"{self.name}-one-run-switch-{role}"

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
            problem = remove_quietly(engine, cid)
            if problem:
                problems.append(f"helper container {cid[:12]} on {engine.runtime} is left: {problem} "
                                f"(`{engine.runtime} rm -f {cid[:12]}`)")
        return problems

    def create_missing(self, moves: List[Move]) -> None:
        labels = {SWITCHED_FROM_LABEL: self.src.runtime}
        for move in moves:
            if move.state == "missing":
                self.dst.create_volume(move.target, labels)
                move.created = True

    def open_helpers(self, source: ContainerInfo, moves: List[Move]) -> Tuple[Optional[str], Optional[str]]:
        """The source's and the target's helper, each mounting every volume to move."""
        if not moves:
            return None, None
        src_mounts = [(m.source, f"{SRC_ROOT}/{i}", True) for i, m in enumerate(moves)]
        dst_mounts = [(m.target, f"{DST_ROOT}/{i}", False) for i, m in enumerate(moves)]
        return (self.helper(self.src, source.image_id, src_mounts, "src"),
                self.helper(self.dst, self.spec.image, dst_mounts, "dst"))

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
        progress = Progress(moves)
        for i, move in enumerate(moves):
            progress.begin(move)
            move.digest = copy_volume(self.src, src_helper, f"{SRC_ROOT}/{i}", self.dst, dst_helper,
                                      f"{DST_ROOT}/{i}", progress)
            copied = fingerprint_volume(self.dst, dst_helper, f"{DST_ROOT}/{i}")
            if copied != move.digest:
                raise EngineError(f"verification failed for volume {move.source}: {self.src.runtime} has "
                                  f"{move.digest.describe()}, the copy on {self.dst.runtime} has {copied.describe()}")
            progress.end(move)
