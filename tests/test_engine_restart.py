"""The engine dies in the middle of a swap and comes back (issue 24, items 1 and 6): dockerd or
the Podman service stopped as a package upgrade does (SIGTERM) or as a crash does (SIGKILL, and
for dockerd the containerd it started), while apply is held right after a step or is in the middle
of one (the old container's stop, the pre-copy's cp, the new container's watch). apply must end
within 60 s with exit 3 or 4, naming what is left, without a traceback; once the engine is back,
the next apply restores the invariant: one container with the name, the old one (the new one had
not passed its watch), running, its data intact, nothing left over, `diff` exit 0.

Each test runs an engine of its own (its own socket, storage and state), because the shared
engines serve the other tests while this one is stopped.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import STANDIN, read_files
from test_apply_interrupts import read_until

VARIABLE = {"docker": "DOCKER_HOST", "podman": "CONTAINER_HOST"}
ROOT = Path(__file__).resolve().parent.parent


class OwnEngine:
    """An engine for one test, to stop and start again."""

    def __init__(self, runtime: str, disk_mb: int = 0):
        self.runtime, self.disk_mb = runtime, disk_mb
        self.folder = tempfile.mkdtemp(prefix=f"one-run-{runtime}-")  # short: a socket path has 107 bytes
        self.socket = os.path.join(self.folder, f"{runtime}.sock")
        self.env = {**os.environ, VARIABLE[runtime]: f"unix://{self.socket}"}
        self.process = None

    def argv(self):
        f = self.folder
        if self.runtime == "docker":
            # In a network namespace of its own: a dockerd changes the host's docker0 and iptables
            # (with --bridge=none it deletes docker0, which the shared engine's containers need).
            return ["unshare", "--net", "--", "dockerd", "--host", f"unix://{self.socket}", "--data-root", f"{f}/data",
                    "--exec-root", f"{f}/exec", "--pidfile", f"{f}/pid", "--bridge=none", "--iptables=false"]
        return ["podman", "--root", f"{f}/storage", "--runroot", f"{f}/run", "--tmpdir", f"{f}/tmp",
                "--storage-driver", "vfs", "--log-level=warn", "system", "service", "--time=0", f"unix://{self.socket}"]

    def cli(self, *args, check=True):
        done = subprocess.run([self.runtime, *args], env=self.env, capture_output=True, text=True, timeout=120)
        if check and done.returncode:
            raise AssertionError(f"{self.runtime} {' '.join(args)}: {done.stderr}")
        return done

    def storage(self) -> str:
        return os.path.join(self.folder, "data" if self.runtime == "docker" else "storage")

    def start(self):
        if self.disk_mb and not os.path.ismount(self.storage()):  # its volumes and images on a small disk
            os.makedirs(self.storage(), exist_ok=True)
            subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.disk_mb}m", "one-run-small-disk",
                            self.storage()], check=True)
        env = {k: v for k, v in os.environ.items() if k not in VARIABLE.values()}  # not a client of itself
        with open(os.path.join(self.folder, "log"), "ab") as log:
            self.process = subprocess.Popen(self.argv(), env=env, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 60
        while self.cli("version", check=False).returncode:
            assert time.monotonic() < deadline, open(os.path.join(self.folder, "log")).read()[-3000:]
            assert self.process.poll() is None, open(os.path.join(self.folder, "log")).read()[-3000:]
            time.sleep(0.2)

    def stop(self, signum):
        """Stop it as `signum` does; for SIGKILL of dockerd, the containerd it started dies with it."""
        children = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True,
                                  text=True).stdout.split()
        self.process.send_signal(signum)
        if signum == signal.SIGKILL and self.runtime == "docker":
            for child in children:
                os.kill(int(child), signal.SIGKILL)
        self.process.wait(90)
        deadline = time.monotonic() + 30  # a new dockerd cannot start its containerd while the old one holds on
        while any(os.path.exists(f"/proc/{child}") for child in children) and time.monotonic() < deadline:
            time.sleep(0.1)

    def close(self):
        if self.process and self.process.poll() is None:
            self.cli("rm", "-af", check=False)
            self.process.terminate()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
        # containerd, conmon, the shims, and the containers under them: a container whose storage is
        # gone would otherwise spin (seen: a stand-in at 36 % CPU long after its test).
        family = set(subprocess.run(["pgrep", "-f", self.folder], capture_output=True, text=True).stdout.split())
        frontier = list(family)
        while frontier:
            children = subprocess.run(["pgrep", "-P", frontier.pop()], capture_output=True, text=True).stdout.split()
            frontier += [child for child in children if child not in family]
            family.update(children)
        for pid in family:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        with open("/proc/mounts") as mounts:
            points = [line.split()[1] for line in mounts if line.split()[1].startswith(self.folder)]
        for point in sorted(points, reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True)
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture
def own_engine(request):
    runtime, disk_mb = request.param if isinstance(request.param, tuple) else (request.param, 0)
    if runtime not in os.environ.get("ONE_RUN_TEST_ENGINES", "").split(","):
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs {runtime} (tests/engines.sh)")
        pytest.skip(f"no {runtime}")
    eng = OwnEngine(runtime, disk_mb)
    try:
        eng.start()
        tar = os.environ["ONE_RUN_TEST_STANDIN"]
        eng.cli("import", "--change", 'ENTRYPOINT ["/entrypoint.sh"]', "--change",
                "ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin", tar, f"{STANDIN}:1")
        yield eng
    finally:
        eng.close()


def one_run(eng, state, *args, pause=None):
    env = {**eng.env, "ONE_RUN_STATE_DIR": str(state), "PYTHONPATH": str(ROOT)}
    if pause:
        env["ONE_RUN_TEST_PAUSE"] = pause
    return subprocess.Popen([sys.executable, "-m", "one_run", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, bufsize=0)


def ran(process, timeout=120):
    out = process.communicate(timeout=timeout)[0].decode()
    return process.returncode, out


# point -> (what apply prints there, its test pause, the old container's [env] line, the new one's)
POINTS = {
    "created": ("test pause after created", "created:4", "", ""),
    "stopping": ("stopping ", None, 'STANDIN_IGNORE_TERM = "yes"', ""),  # the old one takes its stop timeout
    "stopped": ("test pause after stopped", "stopped:4", "", ""),
    "copying": ("test pause after precopy", "precopy:0", "", ""),  # [snapshot] always, in its pre-copy's cp
    "swapped": ("test pause after swapped", "swapped:4", "", ""),
    "started": ("test pause after started", "started:4", "", ""),
    "watching": ("started ", None, "", 'STANDIN_BOOTSTRAP_SECONDS = "30"'),  # the new one bootstraps for 30 s
}
CASES = [(point, signum) for point in POINTS for signum in (signal.SIGTERM, signal.SIGKILL)]
PRECOPY_HELPER = "fault-one-run-snapshot-precopy"


@pytest.mark.parametrize("own_engine", ["docker", "podman"], indirect=True)
@pytest.mark.parametrize("step,signum", CASES, ids=[f"{p}-{s.name}" for p, s in CASES])
def test_the_engine_stopped_mid_swap_then_started_again_is_repaired_by_the_next_apply(own_engine, step, signum,
                                                                                      tmp_path):
    eng = own_engine
    marker, pause, old_env, new_env = POINTS[step]
    snapshot = '\n[snapshot]\nwhen = "always"\nvolumes = ["fault-data"]\n' if step == "copying" else ""
    profile, state, before = deployed(eng, tmp_path, body=f'\n[env]\nRELEASE = "1"\n{old_env}\n{snapshot}')
    if step == "copying":  # a copy long enough (~1 s) to be caught in the middle
        eng.cli("exec", "fault", "dd", "if=/dev/zero", "of=/var/lib/one/datastores/db", "bs=1M", "count=400")
    profile.write_text(profile.read_text().replace('RELEASE = "1"', f'RELEASE = "2"\n{new_env}'))
    apply = one_run(eng, state, "apply", str(profile), pause=pause)
    said = read_until(apply, marker)
    if step == "watching":
        time.sleep(1)
    if step == "copying":
        wait_running(eng, PRECOPY_HELPER)
    eng.stop(signum)
    began = time.monotonic()
    code, rest = ran(apply, timeout=90)
    took = time.monotonic() - began
    said += rest
    assert code in (3, 4), said
    assert took < 60 and "Traceback" not in said, said
    if code == 4:
        assert "what is left" in said and "run the same apply again" in said, said
        if step == "copying":  # the old container was never renamed: no command renames it
            assert " rename " not in said.split("to recover by hand:")[1], said
            assert f"rm -f {PRECOPY_HELPER} fault-one-run-snapshot-take" in said, said

    eng.start()
    profile.write_text(profile.read_text().replace('RELEASE = "2"', 'RELEASE = "1"').replace(new_env, ""))
    repaired(eng, profile, tmp_path / "state", before, said)


@pytest.mark.parametrize("own_engine", ["docker", "podman"], indirect=True)
def test_a_client_killed_mid_swap_whose_engine_then_crashes_is_repaired_by_the_next_apply(own_engine, tmp_path):
    """Two faults at once: the client dies (SIGKILL, nothing put back), then the engine crashes."""
    eng = own_engine
    profile, state, before = deployed(eng, tmp_path)
    apply = one_run(eng, state, "apply", "--force", str(profile), pause="swapped")
    said = read_until(apply, "test pause after swapped")
    apply.kill()
    apply.wait(30)
    eng.stop(signal.SIGKILL)
    eng.start()
    repaired(eng, profile, state, before, said)


def wait_running(eng, name):
    """Until the container `name` runs (the engine is then stopped in the middle of its work)."""
    deadline = time.monotonic() + 30
    while eng.cli("inspect", "--format", "{{.State.Running}}", name, check=False).stdout.strip() != "true":
        assert time.monotonic() < deadline, f"{name} never ran"
        time.sleep(0.02)


def deployed(eng, tmp_path, body=""):
    """The deployment applied, a file in its volume; (profile, state folder, container ID)."""
    profile = tmp_path / "one-run.toml"
    profile.write_text(f'runtime = "{eng.runtime}"\n\n[container]\nname = "fault"\nimage = "{STANDIN}:1"\n'
                       'restart = "unless-stopped"\nnetwork = "none"\nvolumes = ["fault-data:/var/lib/one/datastores"]\n'
                       'stop_timeout = 5\n'
                       f'\n[watch]\nready_log = "STANDIN READY"\nsettle_time = 0.5\n{body}')
    state = tmp_path / "state"
    code, out = ran(one_run(eng, state, "apply", str(profile)))
    assert code == 0, out
    eng.cli("exec", "fault", "sh", "-c", "echo kept > /var/lib/one/datastores/mark")
    return profile, state, eng.cli("inspect", "--format", "{{.Id}}", "fault").stdout.strip()


def repaired(eng, profile, state, before, said):
    """The next apply, once the engine is back: the old container runs with its data, alone, in sync."""
    code, out = ran(one_run(eng, state, "apply", str(profile)))
    assert code == 0, said + "\n--- the next apply:\n" + out
    names = eng.cli("ps", "-a", "--format", "{{.Names}}").stdout.split()
    assert names == ["fault"], out
    assert eng.cli("inspect", "--format", "{{.Id}} {{.State.Running}}", "fault").stdout.split() == [before, "true"]
    assert read_files(eng.cli, "fault", "/var/lib/one/datastores/mark") == "kept\n"
    code, out = ran(one_run(eng, state, "diff", str(profile)))
    assert code == 0, out


@pytest.mark.parametrize("own_engine", [("docker", 128), ("podman", 128)], indirect=True, ids=["docker", "podman"])
@pytest.mark.parametrize("copy", ["precopy", "delta"])
def test_a_disk_that_fills_during_the_snapshot_copy_puts_the_old_container_back(own_engine, copy, tmp_path):
    """The room check passed, then something else filled the engine's disk: before the pre-copy (it
    fails while the old container still runs), or after it, with a 12 MB file written meanwhile (the copy
    after the stop fails). The partial snapshot is removed, the old container runs again with its
    data (exit 1), and the message says what filled."""
    eng = own_engine
    profile, state, before = deployed(eng, tmp_path, body='\n[snapshot]\nwhen = "always"\nvolumes = ["fault-data"]\n')
    eng.cli("exec", "fault", "dd", "if=/dev/zero", "of=/var/lib/one/datastores/db", "bs=1M", "count=12")
    pause = "precopy" if copy == "precopy" else "prepared"
    apply = one_run(eng, state, "apply", "--force", str(profile), pause=f"{pause}:3")
    said = read_until(apply, f"test pause after {pause}")
    if copy == "delta":
        eng.cli("exec", "fault", "dd", "if=/dev/urandom", "of=/var/lib/one/datastores/new", "bs=1M", "count=12")
    free = shutil.disk_usage(eng.storage()).free
    with open(os.path.join(eng.storage(), "filler"), "wb") as filler:  # another tenant of the disk
        filler.write(b"\0" * (free - 256 * 1024))
    code, rest = ran(apply)
    said += rest
    assert code == 1, said
    assert "filled up during the copy (No space left on device)" in said and "Traceback" not in said, said
    assert eng.cli("inspect", "--format", "{{.Id}} {{.State.Running}}", "fault").stdout.split() == [before, "true"]
    assert read_files(eng.cli, "fault", "/var/lib/one/datastores/mark") == "kept\n"
    volumes = eng.cli("volume", "ls", "--format", "{{.Name}}").stdout.split()
    assert [v for v in volumes if "one-run-snap" in v] == [], volumes
    assert eng.cli("ps", "-a", "--format", "{{.Names}}").stdout.split() == ["fault"]
