"""Shared test fixtures: the real engines started by tests/engines.sh, and the CLI in-process.

`tests/run.sh` starts a private dockerd and podman service and exports
ONE_RUN_TEST_ENGINES=docker,podman with DOCKER_HOST/CONTAINER_HOST pointing at them.
Without them an engine test skips with one line saying why, except in CI (CI=true),
where a missing engine fails the test.
"""
import contextlib
import io
import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import List, NamedTuple, Tuple

import pytest

from one_run.cli import main

# Modules whose single tests wait longest (a 20 s bootstrap, SSH round trips, whole backups) run
# first: collected by name, test_watch.py came last, and four workers ended the run waiting on it.
LONGEST_FIRST = ("test_watch.py", "test_remote.py", "test_rollback_watch.py", "test_backup.py")


def pytest_configure(config):
    # A runner that starts the suite in the background (`cmd &` in a script, nohup) hands it SIGINT
    # and SIGHUP ignored, and the processes it starts inherit that: one-run, rightly, keeps ignoring
    # them, and the tests that send them to an apply would wait in vain. They are the tests' to send.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order


STANDIN = "localhost/one-run-standin"
BOOTSTRAP_ENDS = ("BOOTSTRAP OK", "BOOTSTRAP FAILED", "MAINTENANCE MODE")  # tests/standin/entrypoint.sh
ENGINES = [e for e in os.environ.get("ONE_RUN_TEST_ENGINES", "").split(",") if e]


def ipv6_prefix(prefix: str) -> str:
    """The IPv6 subnet of a test network, after its IPv4 one: 10.99.99(.0/24) -> fd00:10:99:99(::/64)."""
    return "fd00:" + prefix.replace(".", ":")


class Result(NamedTuple):
    code: int
    out: str
    err: str


def run_cli(*argv) -> Result:
    """one-run in-process, as a user would call it; SystemExit (argparse) becomes the code."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 2
    return Result(code, out.getvalue(), err.getvalue())


def read_files(cli, name: str, *paths: str) -> str:
    """The files' contents, read in the running container `name` with `cli` (a TestEngine's).
    Podman's exec through its service now and then loses the output of a command that succeeded
    (containers/podman #18025; seen here under load). An end mark tells such a lost output, which
    is read again, from an empty file, which is a finding."""
    for _ in range(3):
        out = cli("exec", name, "sh", "-c", 'cat "$@" && echo "<end>"', "sh", *paths).stdout
        if out.endswith("<end>\n"):
            return out[:-len("<end>\n")]
    raise AssertionError(f"{name}: three reads of {' '.join(paths)} lost their output")


class TestEngine:
    """One real engine, driven through its own CLI for setting up and checking state."""

    __test__ = False

    def __init__(self, runtime: str):
        self.runtime = runtime
        self.containers: List[str] = []
        self.volumes: List[str] = []
        self.networks: List[str] = []

    def cli(self, *args, check=True, input=None) -> subprocess.CompletedProcess:
        return subprocess.run([self.runtime, *map(str, args)], capture_output=True, text=True,
                              check=check, input=input)

    def unique(self, prefix="onerun") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:8]}"

    def container_name(self) -> str:
        name = self.unique("one")
        self.containers.append(name)
        return name

    def volume_name(self) -> str:
        name = self.unique("vol")
        self.volumes.append(name)
        return name

    def network(self) -> Tuple[str, str]:
        """A user-defined network with subnets of its own, IPv4 and IPv6, removed at cleanup:
        (name, the first three octets of its /24)."""
        import random

        name = self.unique("onerun-net")
        for _ in range(20):
            prefix = f"10.{random.randint(64, 250)}.{random.randint(0, 255)}"
            if self.cli("network", "create", "--ipv6", "--subnet", f"{prefix}.0/24", "--subnet",
                        f"{ipv6_prefix(prefix)}::/64", name, check=False).returncode == 0:
                self.networks.append(name)
                return name, prefix
        pytest.fail("no free subnet for a test network")

    def inspect(self, name: str) -> dict:
        return json.loads(self.cli("container", "inspect", name).stdout)[0]

    def exists(self, name: str) -> bool:
        return self.cli("container", "inspect", name, check=False).returncode == 0

    def running_id(self, name: str) -> "str | None":
        """The ID of the running container of that name, in one look (between two looks, an
        apply may have moved the name)."""
        found = self.cli("container", "inspect", name, check=False)
        if found.returncode:
            return None
        state = json.loads(found.stdout)[0]
        return state["Id"] if state["State"]["Running"] else None

    def report(self, name: str, timeout: float = 10) -> str:
        """What the stand-in's bootstrap printed (TLS/SSH/patch/hooks read, outcome), once its
        latest bootstrap has printed its outcome: a container just (re)started may not have got
        that far, and the log still holds an earlier start's outcome."""
        deadline = time.monotonic() + timeout
        while True:
            out = self.cli("logs", name).stdout
            latest = out.rsplit(" bootstrap, host ", 1)[-1]
            if any(end in latest for end in BOOTSTRAP_ENDS) or time.monotonic() > deadline:
                return out
            time.sleep(0.1)

    def sh(self, name: str, script: str) -> str:
        return self.cli("exec", name, "sh", "-c", script).stdout

    def read(self, name: str, *paths: str) -> str:
        return read_files(self.cli, name, *paths)

    def remove(self, *names: str, check: bool = False) -> subprocess.CompletedProcess:
        """Remove containers at once: Docker's `rm -f` kills, Podman's first waits out the stop
        timeout (up to 120 s for a profile's stop_timeout), which no test needs."""
        now = ["--time", "0"] if self.runtime == "podman" else []
        return self.cli("rm", "-f", *now, *names, check=check)

    def names_like(self, name: str) -> List[str]:
        """Every container whose name starts with `name` (ours, temporaries, kept previous)."""
        out = self.cli("ps", "-a", "--format", "{{.Names}}").stdout.split()
        return [n for n in out if n == name or n.startswith(name + "-")]

    def cleanup(self):
        anonymous = set()
        for name in self.containers:
            for found in self.names_like(name):
                with contextlib.suppress(Exception):
                    for mount in self.inspect(found).get("Mounts") or []:
                        if mount.get("Type") == "volume" and len(mount.get("Name", "")) == 64:
                            anonymous.add(mount["Name"])
                self.remove(found)
            # the data snapshots apply took for it
            anonymous.update(self.cli("volume", "ls", "-q", "--filter", f"label=one-run.snapshot={name}",
                                      check=False).stdout.split())
        for volume in self.volumes + sorted(anonymous):
            self.cli("volume", "rm", "-f", volume, check=False)
        for network in self.networks:
            self.cli("network", "rm", "-f", network, check=False)


def _require(runtime: str):
    if runtime not in ENGINES:
        reason = f"no {runtime} engine for the tests: run them with tests/run.sh"
        if os.environ.get("CI") == "true":
            pytest.fail(reason + " (CI needs both engines)")
        pytest.skip(reason)


def _engine(runtime: str):
    _require(runtime)
    eng = TestEngine(runtime)
    yield eng
    eng.cleanup()


@pytest.fixture(params=["docker", "podman"])
def engine(request):
    yield from _engine(request.param)


@pytest.fixture
def docker_engine():
    yield from _engine("docker")


@pytest.fixture
def podman_engine():
    yield from _engine("podman")


@pytest.fixture(autouse=True)
def _private_state_dir(tmp_path, monkeypatch):
    """Locks and journals of one test never meet another's."""
    monkeypatch.setenv("ONE_RUN_STATE_DIR", str(tmp_path / "one-run-state"))


def standin_profile(folder: Path, eng: TestEngine, name: str, tag: "int | str" = 1, body: str = "",
                    container: str = "", top: str = "", watch: str = "settle_time = 1\n") -> Path:
    """A profile for the stand-in image: one named volume, a short settle time.

    `container` adds keys under [container]; `body` adds tables after it; `top` adds top-level
    keys; `watch` is the [watch] table's keys.
    """
    volume = eng.volume_name()
    text = (f'runtime = "{eng.runtime}"\n{top}\n'
            f'[container]\nname = "{name}"\nimage = "{STANDIN}:{tag}"\n'
            f'restart = "unless-stopped"\nvolumes = ["{volume}:/var/lib/one/datastores"]\n'
            f'{container}\n{body}\n[watch]\n{watch}')
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "one-run.toml"
    path.write_text(text)
    return path


EXAMPLES = sorted(Path(__file__).parent.parent.glob("profiles/**/*.toml"))


def example_on_standin(example: Path, eng: TestEngine, folder: Path) -> Path:
    """A copy of an example profile (with its folder) that runs the stand-in image on `eng`:
    unique container and volume names, so tests never meet the examples' real deployment."""
    import shutil

    import tomli_w

    from one_run.model.profile import tomllib

    copy = folder / example.parent.name
    shutil.copytree(example.parent, copy, ignore=shutil.ignore_patterns(".one-run"))
    data = tomllib.loads(example.read_text())
    data["runtime"] = eng.runtime
    # The stand-in has no supervisorctl: it says it is ready in its log.
    data["watch"] = {"ready_log": "STANDIN READY", "settle_time": 1}
    c = data["container"]
    c["name"] = eng.container_name()
    c["image"] = f"{STANDIN}:1"
    # Docker cannot start a privileged container inside this machine's sandbox.
    c["privileged"] = c.get("privileged", False) and eng.runtime == "podman"
    if c.get("ulimits") and eng.runtime == "podman":
        # With any --ulimit, podman drops containers.conf's default nproc, and the sandbox
        # refuses podman's own (measured here; real hosts accept it).
        c["ulimits"].setdefault("nproc", "1024:1024")
    # Free host ports, so the examples never clash with the host or with a parallel run.
    free = {}
    c["ports"] = [_free_port(spec, free) for spec in c.get("ports", [])]
    renamed = []
    for spec in c.get("volumes", []):
        source, _, rest = spec.partition(":")
        volume = eng.volume_name()
        renamed.append(f"{volume}:{rest}" if not source.startswith(("/", ".")) else spec)
    if renamed:
        c["volumes"] = renamed
    path = copy / example.name
    path.write_text(tomli_w.dumps(data))
    return path


_HANDED_OUT: set = set()


def free_port() -> int:
    """A host port nobody listens on, never handed out before in this test process: a released
    port can come back from the next bind(0), and two bindings of one test then collide."""
    import socket

    while True:
        with socket.socket() as s:
            s.bind(("", 0))
            port = s.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def _free_port(spec: str, free: dict) -> str:
    addr, _, proto = spec.partition("/")
    *ip, host, container = addr.rsplit(":", 2) if addr.count(":") >= 2 else ["", *addr.split(":")]
    if host not in free:
        free[host] = str(free_port())
    return ":".join([*(i for i in ip if i), free[host], container]) + (f"/{proto}" if proto else "")
