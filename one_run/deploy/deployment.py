"""The deployment one apply changes, as its steps share it: the engine, the profile and its
RunSpec, its state (the journal of the swap under way, the revisions), and how the steps speak."""
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Optional, Tuple

from ..common import interrupts
from ..common.errors import EngineError
from ..engines import ContainerInfo, Engine
from ..model.profile import Profile
from ..model.runspec import RunSpec
from ..model.secrets import mask, secret_values
from . import snapshot
from .journal import Journal
from .naming import NEW_SUFFIX
from .state import store_for
from .survival import Survival
from .watch import Watcher

LOG_LINES = 20
# Tests only: pause after a step (STEP, or STEP:SECONDS), to signal apply, or stop its engine, exactly there.
TEST_PAUSE = "ONE_RUN_TEST_PAUSE"
TEST_PAUSE_SECONDS = 60


@dataclass
class Deployment:
    engine: Engine
    profile: Profile
    spec: RunSpec
    survival: Survival
    # Set by `rollback`: the text the revision was applied from, and the data snapshot to
    # restore into the volumes before the new container starts (--with-data).
    profile_text: Optional[str] = None
    data_to_restore: Optional[snapshot.Snapshot] = None
    # Set by `switch`: the copied anonymous volumes, (volume, path), mounted where the image has VOLUMEs.
    carried: Tuple[Tuple[str, str], ...] = ()
    record: dict = field(default_factory=dict)  # the journal's record of the swap under way
    data_note: str = ""  # what the undo did to the data, for the message

    def __post_init__(self):
        self.name = self.spec.name
        self.state = store_for(self.engine.runtime, self.name, self.profile.path, self.engine, self.spec.image)
        self.journal = Journal(self.state, self.engine.runtime, self.name)
        self.secrets = secret_values(self.spec)  # masked in every log line echoed from a container
        self.watcher = Watcher(self.engine, self.profile.watch, self.profile.maintenance, self.say, self.secrets)

    @staticmethod
    def say(text: str) -> None:
        print(text, flush=True)

    def step(self, **changes) -> None:
        """Record what is about to be done (or was just done) before the next step acts."""
        self.record.update(changes)
        self.journal.write(**self.record)

    def pause_for_tests(self, after: str) -> None:
        step, _, seconds = os.environ.get(TEST_PAUSE, "").partition(":")
        if step == after:
            print(f"test pause after {after}", file=sys.stderr, flush=True)
            until = time.monotonic() + (float(seconds) if seconds else TEST_PAUSE_SECONDS)
            while time.monotonic() < until and not interrupts.pending():
                time.sleep(0.1)

    def log_tail(self, cid: str) -> str:
        try:
            text = self.engine.logs(cid, LOG_LINES).rstrip()
        except EngineError as exc:
            return f"(its logs could not be read: {exc})"
        if not text:
            return "the new container printed nothing"
        text = mask(text, self.secrets)
        return "last log lines of the new container:\n" + "\n".join("  | " + line for line in text.splitlines())

    def new_container(self, record: dict) -> Optional[ContainerInfo]:
        """The container this apply created, if it exists: by its ID, or by its temporary name
        when the apply was killed while creating it."""
        if record.get("new"):
            return self.engine.get(record["new"])
        found = self.engine.get(self.name + NEW_SUFFIX)
        return found if found and found.id != record.get("old") else None
