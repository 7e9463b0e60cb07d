"""Downtime and overhead of `one-run apply` against the manual `stop; rm; run` (issue 3, "Figures").

For Docker and Podman in one run, on the stand-in image, interleaved trials, medians:
  (a) image upgrade to a new tag of a >= 200 MB image served by a local registry on
      loopback: the manual `run` pulls after the old container is gone, apply pulls
      first. Applied with `[snapshot] when = "never"`, the manual procedure's own safety.
      Target: downtime apply/manual <= 0.2.
  (a+) the same upgrade with apply's default data snapshot (issue 12: the volumes are
      copied after the old container stops, before the new one starts): what that safety
      costs, reported against the same manual figure, without a target.
  (b) same image, changed env. Target: downtime apply/manual <= 1.1.
  (c) apply's own overhead with settle_time = 0: median wall of `one-run apply` minus median
      wall of the manual procedure, the (b) change again in trials of their own, without the
      downtime poller: its polling every few ms takes CPU from Python's start-up more than
      from the engine's Go CLI (the (b) trials' difference is reported beside it). Stated
      against its floor, measured in the same trials: the SDK start alone (SDK_START:
      interpreter, SDK import, connection), which any tool built on the SDKs pays, minus the
      three CLI starts the manual procedure pays instead (`R ps -q`, one cheap call to the engine:
      `podman version` takes 0.4 s against the service, and would hide the rest). Target:
      overhead - floor <= 0.2 s; the raw overhead is reported beside it.
  (d) a no-op apply. Target: median wall <= 0.5 s and zero downtime.
  (e) the readiness wait: a bootstrap of READY_AFTER s that then prints its ready line,
      applied with [watch] ready_log. The detection lag is the time apply prints "ready
      after" minus the time the engine stamped the stand-in's ready line in its log.
      Target: median lag <= 1 s.

Downtime is measured the same way for both procedures, by a thread polling the engine's
API socket every few ms: from the first poll that sees the old container (by ID) no
longer running, to the first poll that sees a different container under the profile's
name running. The manual procedure is the engine's own CLI with the arguments of
`one-run render --format json PROFILE`: `R stop NAME; R rm NAME; R run ...`.

How to run (as root, Debian 12; needs Debian's `docker-registry`: apt-get install docker-registry):
    tests/engines.sh start /tmp/eng      # or use engines already running
    source /tmp/eng/env                  # DOCKER_HOST, CONTAINER_HOST, CONTAINERS_CONF, ...
    .venv/bin/python bench/apply_downtime.py [--trials N] [--upgrade-trials M]

one-run is byte-compiled first (compileall, into the package's __pycache__), as `pip install .`
leaves it: where PYTHONDONTWRITEBYTECODE is set, an editable install would compile its
~4,000 lines at every apply.

It starts its own registry on 127.0.0.1:<free port> (storage in a temp folder), builds
the 200 MB images with `docker import`, uses unique container, volume and image names
and a free host port, and removes everything it created at the end. It reports; it
does not assert (PASS/MISS per target, exit 0 unless the bench itself could not run).
"""
import argparse
import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STANDIN = "localhost/one-run-standin"
RUNTIMES = ("docker", "podman")
PAYLOAD_MB = 200
POLL_INTERVAL = 0.005
TARGETS = {"a": 0.2, "b": 1.1, "c": 0.2, "d": 0.5, "e": 1.0}  # (c): overhead minus its floor
READY_AFTER = 2  # seconds the stand-in's bootstrap takes in (e)
READY_LINE = "STANDIN READY"  # tests/standin/entrypoint.sh
# The least any SDK-based tool pays: the interpreter, the SDK import and the connection, as
# one-run makes them (engines.get_engine: the import's objects frozen, out of the collector's
# way), and the exit. Reported beside (c) as its floor.
SDK_START = {
    "docker": "import gc, os; gc.disable(); import docker; gc.freeze(); gc.enable(); "
              "docker.APIClient(base_url=os.environ['DOCKER_HOST'], version='auto')",
    "podman": "import gc, os; gc.disable(); import podman; gc.freeze(); gc.enable(); "
              "podman.PodmanClient(base_url=os.environ['CONTAINER_HOST']).ping()",
}


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def log_time(line: str) -> float:
    """The time stamp `logs --timestamps` puts before a line (RFC 3339, nanoseconds), as epoch seconds."""
    import re
    from datetime import datetime

    found = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", line)
    if not found:
        raise ValueError(f"no time stamp in {line!r}")
    zone = "+00:00" if found.group(3) == "Z" else found.group(3)
    fraction = (found.group(2) or "0")[:6].ljust(6, "0")
    return datetime.fromisoformat(f"{found.group(1)}.{fraction}{zone}").timestamp()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def socket_path(variable: str) -> str:
    url = os.environ.get(variable, "")
    if not url.startswith("unix://"):
        sys.exit(f"apply_downtime: {variable} is {url or 'not set'}; this bench needs the engines' unix sockets.\n"
                 f"  Start the engines (tests/engines.sh start /tmp/eng) and `source /tmp/eng/env` first.")
    return url[len("unix://"):]


# --- polling the engine ------------------------------------------------------

class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: str):
        super().__init__("localhost", timeout=10)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(self.unix_path)


class Api:
    """Inspect containers through the Docker-compatible API (Docker's, and Podman's compat one)."""

    def __init__(self, path: str):
        self.path = path
        self.conn = UnixHTTP(path)
        self.odd = []

    def state(self, ref: str):
        """(id, running) or None when no such container."""
        for attempt in (0, 1):
            try:
                self.conn.request("GET", f"/containers/{ref}/json")
                response = self.conn.getresponse()
                body = response.read()
                break
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = UnixHTTP(self.path)
                if attempt:
                    raise
        if response.status != 200:
            # 404, or podman's 500 for a container half-way through removal: nothing running there
            if response.status != 404 and b"no such container" not in body:
                self.odd.append(f"{response.status} {body[:120]!r}")
            return None
        data = json.loads(body)
        return data["Id"], bool(data["State"].get("Running"))


class DowntimeWatch(threading.Thread):
    """Polls: old container (by ID) leaves running -> another container under `name` is running."""

    def __init__(self, path: str, name: str, old_id: str, gaps: list):
        super().__init__(daemon=True)
        self.api, self.name, self.old_id, self.gaps = Api(path), name, old_id, gaps
        self.t_down = self.t_up = None
        self.finish = threading.Event()
        self.error = None

    def run(self):
        last, deadline = None, None
        try:
            while True:
                finishing = self.finish.is_set()
                if finishing and deadline is None:
                    deadline = time.perf_counter() + 10
                t0 = time.perf_counter()
                if self.t_down is None:
                    state = self.api.state(self.old_id)
                    t = (t0 + time.perf_counter()) / 2
                    if state is None or not state[1]:
                        self.t_down = t
                    elif finishing:
                        return  # the procedure is over and the old container never stopped
                else:
                    state = self.api.state(self.name)
                    t = (t0 + time.perf_counter()) / 2
                    if state and state[0] != self.old_id and state[1]:
                        self.t_up = t
                        return
                if finishing and t > deadline:
                    return
                if last is not None:
                    self.gaps.append(t - last)
                last = t
                time.sleep(POLL_INTERVAL)
        except Exception as exc:  # reported with the trial
            self.error = f"{type(exc).__name__}: {exc}"

    def result(self):
        """Downtime in seconds (0.0 when the old container never stopped), or None if the new one never ran."""
        self.finish.set()
        self.join()
        if self.error:
            raise RuntimeError(f"poller failed: {self.error}")
        if self.t_down is None:
            return 0.0
        return None if self.t_up is None else self.t_up - self.t_down


# --- the bench ------------------------------------------------------------------

class Bench:
    def __init__(self, tmp: Path, trials: int, upgrade_trials: int):
        self.tmp, self.trials, self.upgrade_trials = tmp, trials, upgrade_trials
        self.tag = uuid.uuid4().hex[:8]
        self.sockets = {"docker": socket_path("DOCKER_HOST"), "podman": socket_path("CONTAINER_HOST")}
        self.one_run = str(Path(sys.executable).parent / "one-run")
        self.env = {**os.environ, "ONE_RUN_STATE_DIR": str(tmp / "one-run-state")}
        self.registry = None
        self.registry_port = None
        self.names = {rt: f"bench-{self.tag}-{rt}" for rt in RUNTIMES}
        self.volumes = {rt: f"bench-{self.tag}-{rt}-data" for rt in RUNTIMES}
        self.anonymous = {rt: set() for rt in RUNTIMES}
        self.images = {rt: [] for rt in RUNTIMES}
        self.results = {}  # (runtime, scenario, procedure) -> list of (downtime, wall)
        self.gaps = []  # time between two polls, for the report
        self.notes = []

    # -- helpers

    def cli(self, runtime: str, *args, check=True, capture=True):
        return subprocess.run([runtime, *map(str, args)], capture_output=capture, text=True, check=check,
                              env=self.env)

    def profile(self, runtime: str, key: str, image: str, host: str, ready: bool = False,
                snapshot: bool = True) -> Path:
        path = self.tmp / f"{runtime}-{key}" / "one-run.toml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            f'runtime = "{runtime}"\n\n[container]\nname = "{self.names[runtime]}"\n'
            f'image = "{image}"\nrestart = "unless-stopped"\nports = ["127.0.0.1:{self.ports[runtime]}:80"]\n'
            f'volumes = ["{self.volumes[runtime]}:/var/lib/one/datastores"]\n\n'
            f'[env]\nOPENNEBULA_HOST = "{host}"\n'
            + (f'STANDIN_BOOTSTRAP_SECONDS = "{READY_AFTER}"\n\n[watch]\nready_log = "{READY_LINE}"\n' if ready
               else "\n[watch]\n")
            + "settle_time = 0\n"
            + ("" if snapshot else '\n[snapshot]\nwhen = "never"\n'))
        return path

    def render(self, profile: Path):
        out = subprocess.run([self.one_run, "render", "--format", "json", str(profile)], capture_output=True,
                             text=True, check=True, env=self.env).stdout
        return json.loads(out)

    def apply(self, profile: Path) -> subprocess.CompletedProcess:
        return subprocess.run([self.one_run, "apply", str(profile)], capture_output=True, text=True, env=self.env)

    def current_id(self, runtime: str):
        state = Api(self.sockets[runtime]).state(self.names[runtime])
        if not state or not state[1]:
            raise RuntimeError(f"{runtime}: {self.names[runtime]} is not running before the trial")
        return state[0]

    def note_volumes(self, runtime: str):
        """Remember the anonymous volumes of our container (the manual `rm` leaves them behind)."""
        with contextlib.suppress(Exception):
            data = json.loads(self.cli(runtime, "container", "inspect", self.names[runtime]).stdout)[0]
            for mount in data.get("Mounts") or []:
                if mount.get("Type") == "volume" and mount.get("Name") != self.volumes[runtime]:
                    self.anonymous[runtime].add(mount["Name"])

    def setup(self, runtime: str, profile: Path):
        """Untimed: the container runs `profile` (apply recreates it when it differs)."""
        result = self.apply(profile)
        if result.returncode != 0:
            raise RuntimeError(f"{runtime}: setting up {profile} failed (exit {result.returncode}):\n"
                               f"{result.stdout}{result.stderr}")
        self.note_volumes(runtime)
        time.sleep(0.2)

    def measure(self, runtime: str, steps):
        """Run `steps` (a list of argv) while polling; returns (downtime, wall, failed CompletedProcess or None)."""
        watch = DowntimeWatch(self.sockets[runtime], self.names[runtime], self.current_id(runtime), self.gaps)
        watch.start()
        time.sleep(0.05)  # the poller is polling before anything is asked to stop
        start = time.perf_counter()
        failed = None
        for argv in steps:
            result = subprocess.run(argv, capture_output=True, text=True, env=self.env)
            if result.returncode != 0:
                failed = result
                break
        wall = time.perf_counter() - start
        downtime = watch.result()
        if watch.api.odd:
            log(f"    ({runtime} API answered {len(watch.api.odd)} polls with {watch.api.odd[0]}: counted as not running)")
        self.note_volumes(runtime)
        return downtime, wall, failed

    def timed(self, steps):
        """Wall time of `steps` (a list of argv), unobserved; (wall, failed CompletedProcess or None)."""
        start = time.perf_counter()
        for argv in steps:
            result = subprocess.run(argv, capture_output=True, text=True, env=self.env)
            if result.returncode != 0:
                return time.perf_counter() - start, result
        return time.perf_counter() - start, None

    def run_readiness(self):
        """(e): apply's "ready after" line, read as it is printed, against the engine's time stamp
        of the ready line it waited for."""
        for trial in range(self.trials):
            for runtime in RUNTIMES:
                profile = self.profiles[runtime][f"e{trial % 2}"]
                apply = subprocess.Popen([self.one_run, "apply", str(profile)], stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL, text=True, env=self.env)
                detected = None
                for line in apply.stdout:
                    if detected is None and line.startswith("  ready after "):
                        detected = time.time()
                if apply.wait() != 0 or detected is None:
                    raise RuntimeError(f"{runtime}: the readiness apply failed (exit {apply.returncode})")
                logs = self.cli(runtime, "logs", "--timestamps", self.names[runtime]).stdout.splitlines()
                stamp = next(log_time(line) for line in logs if READY_LINE in line)
                self.record(runtime, "e", "apply", detected - stamp, 0.0)

    def record(self, runtime, scenario, procedure, downtime, wall):
        self.results.setdefault((runtime, scenario, procedure), []).append((downtime, wall))

    # -- registry and the big images

    def start_registry(self):
        binary = shutil.which("docker-registry") or "/usr/bin/docker-registry"
        if not os.access(binary, os.X_OK):
            sys.exit("apply_downtime: Debian's docker-registry is missing: apt-get install docker-registry")
        self.registry_port = free_port()
        config = self.tmp / "registry.yml"
        config.write_text(f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
                          f"    rootdirectory: {self.tmp / 'registry'}\nhttp:\n  addr: 127.0.0.1:{self.registry_port}\n")
        self.registry_log = open(self.tmp / "registry.log", "w")
        self.registry = subprocess.Popen([binary, "serve", str(config)], stdout=self.registry_log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                conn = http.client.HTTPConnection("127.0.0.1", self.registry_port, timeout=2)
                conn.request("GET", "/v2/")
                if conn.getresponse().status == 200:
                    return
            if self.registry.poll() is not None:
                break
            time.sleep(0.1)
        sys.exit(f"apply_downtime: the registry did not start; see {self.tmp / 'registry.log'}")

    def build_images(self):
        """v1 and v2: the stand-in rootfs plus a different 200 MB random file each, pushed to the registry."""
        rootfs = self.tmp / "standin.tar"
        subprocess.run(["bash", str(ROOT / "tests" / "standin" / "build-rootfs.sh"), str(rootfs)], check=True)
        self.big = {}
        for version in ("v1", "v2"):
            ref = f"127.0.0.1:{self.registry_port}/one-run-bench-{self.tag}:{version}"
            tar = self.tmp / f"{version}.tar"
            shutil.copyfile(rootfs, tar)
            payload = self.tmp / "payload.bin"
            with open(payload, "wb") as f:
                for _ in range(PAYLOAD_MB):
                    f.write(os.urandom(1 << 20))
            with tarfile.open(tar, "a") as t:
                t.add(payload, arcname="./payload.bin")
            payload.unlink()
            self.cli("docker", "import",
                     "--change", 'ENTRYPOINT ["/entrypoint.sh"]', "--change", 'VOLUME ["/var/lib/one/backups"]',
                     "--change", "ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin", "--change", f"ENV STANDIN_VERSION={version}",
                     tar, ref)
            self.images["docker"].append(ref)
            self.cli("docker", "push", "-q", ref)
            tar.unlink()
            self.big[version] = ref
        # v1 is the image the container runs before the upgrade; v2 is pulled by each trial.
        self.cli("podman", "pull", "-q", "--tls-verify=false", self.big["v1"])
        self.images["podman"].append(self.big["v1"])
        self.images["podman"].append(self.big["v2"])

    def drop_image(self, runtime: str, ref: str):
        self.cli(runtime, "rmi", ref, check=False)
        if self.cli(runtime, "image", "inspect", ref, check=False).returncode == 0:
            raise RuntimeError(f"{runtime}: could not remove {ref} before the trial")

    # -- scenarios

    def run_env_change(self):
        """(b) changed env, (c) overhead from the same trials, (d) no-op apply."""
        for trial in range(self.trials):
            for runtime in RUNTIMES:
                before, after = self.profiles[runtime]["b0"], self.profiles[runtime]["b1"]
                manual = self.manual_steps(runtime, after)
                order = ("manual", "apply") if trial % 2 == 0 else ("apply", "manual")
                for procedure in order:
                    self.setup(runtime, before)
                    steps = manual if procedure == "manual" else [[self.one_run, "apply", str(after)]]
                    downtime, wall, failed = self.measure(runtime, steps)
                    if failed or downtime is None:
                        raise RuntimeError(f"{runtime} (b) {procedure} failed: {self.explain(failed)}")
                    self.record(runtime, "b", procedure, downtime, wall)
                for procedure in order:
                    self.setup(runtime, before)
                    steps = manual if procedure == "manual" else [[self.one_run, "apply", str(after)]]
                    wall, failed = self.timed(steps)
                    if failed:
                        raise RuntimeError(f"{runtime} (c) {procedure} failed: {self.explain(failed)}")
                    self.record(runtime, "c", procedure, 0.0, wall)
                wall, failed = self.timed([[sys.executable, "-c", SDK_START[runtime]]])
                if failed:
                    raise RuntimeError(f"{runtime} SDK start failed: {self.explain(failed)}")
                self.record(runtime, "c", "sdk start", 0.0, wall)
                wall, failed = self.timed([[runtime, "ps", "-q"]])
                if failed:
                    raise RuntimeError(f"{runtime} CLI start failed: {self.explain(failed)}")
                self.record(runtime, "c", "cli start", 0.0, wall)
                # (d): the container now matches `after` if apply ran last, else re-apply it first
                if order[-1] == "manual":
                    self.setup(runtime, after)
                downtime, wall, failed = self.measure(runtime, [[self.one_run, "apply", str(after)]])
                if failed:
                    raise RuntimeError(f"{runtime} (d) no-op apply failed: {self.explain(failed)}")
                self.record(runtime, "d", "apply", downtime, wall)
                log(f"  trial {trial + 1}/{self.trials} {runtime}: (b) manual "
                    f"{self.last(runtime, 'b', 'manual')} apply {self.last(runtime, 'b', 'apply')}; "
                    f"(c) manual {self.last(runtime, 'c', 'manual')} apply {self.last(runtime, 'c', 'apply')}; "
                    f"(d) {self.last(runtime, 'd', 'apply')}")

    def run_upgrade(self):
        """(a) v1 -> v2 of the 200 MB image, v2 removed locally before each trial so both must pull."""
        skip_apply = {}
        for trial in range(self.upgrade_trials):
            for runtime in RUNTIMES:
                before, after = self.profiles[runtime]["a0"], self.profiles[runtime]["a1"]
                manual = self.manual_steps(runtime, after, insecure=True)
                applies = {"apply": after, "apply+snapshot": self.profiles[runtime]["a1+"]}
                order = ("manual", *applies) if trial % 2 == 0 else (*applies, "manual")
                for procedure in order:
                    if procedure in applies and runtime in skip_apply:
                        continue
                    self.setup(runtime, before)
                    self.drop_image(runtime, self.big["v2"])
                    steps = manual if procedure == "manual" else [[self.one_run, "apply", str(applies[procedure])]]
                    downtime, wall, failed = self.measure(runtime, steps)
                    if failed and procedure in applies:
                        skip_apply[runtime] = self.explain(failed)
                        self.notes.append(f"{runtime} (a): `one-run apply` failed, so (a) has no apply figure "
                                          f"for {runtime}:\n{self.explain(failed, indent='      ')}")
                        log(f"  {runtime} (a) apply FAILED (exit {failed.returncode}); skipping apply for (a)")
                        continue
                    if failed or downtime is None:
                        raise RuntimeError(f"{runtime} (a) {procedure} failed: {self.explain(failed)}")
                    self.record(runtime, "a", procedure, downtime, wall)
                log(f"  trial {trial + 1}/{self.upgrade_trials} {runtime}: (a) manual "
                    f"{self.last(runtime, 'a', 'manual')} apply {self.last(runtime, 'a', 'apply')} "
                    f"apply with its snapshot {self.last(runtime, 'a', 'apply+snapshot')}")

    def manual_steps(self, runtime: str, profile: Path, insecure=False):
        argv = self.render(profile)
        if argv[0] != runtime or argv[1] != "run":
            raise RuntimeError(f"unexpected render output for {runtime}: {argv[:3]}")
        if insecure and runtime == "podman":
            # what a user of a plain-HTTP registry types; docker treats 127.0.0.0/8 as insecure already
            argv = [argv[0], "run", "--tls-verify=false", *argv[2:]]
        name = self.names[runtime]
        return [[runtime, "stop", name], [runtime, "rm", name], argv]

    def last(self, runtime, scenario, procedure) -> str:
        values = self.results.get((runtime, scenario, procedure))
        if not values:
            return "-"
        downtime, wall = values[-1]
        return f"wall {wall:.3f}s" if scenario == "c" else f"down {downtime:.3f}s wall {wall:.3f}s"

    @staticmethod
    def explain(failed, indent="  ") -> str:
        if failed is None:
            return "the new container was not seen running within 10 s"
        text = (failed.stdout + failed.stderr).strip().splitlines()
        lines = [f"$ {' '.join(failed.args)}  -> exit {failed.returncode}"] + text[-6:]
        return "\n".join(indent + line for line in lines)

    # -- report

    def medians(self, runtime, scenario, procedure):
        values = self.results.get((runtime, scenario, procedure)) or []
        if not values:
            return None, None, 0
        return (statistics.median(v[0] for v in values), statistics.median(v[1] for v in values), len(values))

    def report(self):
        def verdict(ok):
            return "PASS" if ok else "MISS"

        print()
        print(f"{'runtime':8} {'figure':32} {'manual':>18} {'apply':>18} {'result':>16}  target")
        print(f"{'':8} {'':32} {'down / wall (s)':>18} {'down / wall (s)':>18}")
        for runtime in RUNTIMES:
            for scenario, procedure, title in (("a", "apply", f"(a) upgrade, {PAYLOAD_MB} MB image"),
                                               ("a", "apply+snapshot", "(a+) the same, with its snapshot"),
                                               ("b", "apply", "(b) same image, env changed")):
                md, mw, mn = self.medians(runtime, scenario, "manual")
                ad, aw, an = self.medians(runtime, scenario, procedure)
                manual = f"{md:.3f} / {mw:.3f}" if mn else "-"
                apply = f"{ad:.3f} / {aw:.3f}" if an else "n/a"
                target = TARGETS[scenario] if procedure == "apply" else None
                if mn and an and md > 0:
                    ratio = ad / md
                    result = f"ratio {ratio:.3f}"
                    status = "(no target)" if target is None else verdict(ratio <= target)
                else:
                    result, status = "ratio -", "NOT MEASURED"
                print(f"{runtime:8} {title:32} {manual:>18} {apply:>18} {result:>16}  "
                      f"{'' if target is None else f'<= {target:<5} '}{status}  (n={mn}/{an})")
            _, mw, mn = self.medians(runtime, "c", "manual")
            _, aw, an = self.medians(runtime, "c", "apply")
            diff = aw - mw
            observed = self.medians(runtime, "b", "apply")[1] - self.medians(runtime, "b", "manual")[1]
            sdk = self.medians(runtime, "c", "sdk start")[1]
            cli = self.medians(runtime, "c", "cli start")[1]
            floor = sdk - 3 * cli
            print(f"{runtime:8} {'(c) overhead - floor, settle 0':32} {'wall ' + format(mw, '.3f'):>18} "
                  f"{'wall ' + format(aw, '.3f'):>18} {format(diff - floor, '+.3f') + ' s':>16}  "
                  f"<= {TARGETS['c']:<5} {verdict(diff - floor <= TARGETS['c'])}  (n={mn}/{an}; raw overhead "
                  f"{diff:+.3f} s, {observed:+.3f} s in the polled (b) trials; floor {floor:.3f} s = SDK start alone "
                  f"{sdk:.3f} s - 3 CLI starts of {cli:.3f} s)")
            values = self.results.get((runtime, "d", "apply")) or []
            dd = max(v[0] for v in values)
            _, dw, dn = self.medians(runtime, "d", "apply")
            print(f"{runtime:8} {'(d) no-op apply':32} {'':>18} {format(dd, '.3f') + ' / ' + format(dw, '.3f'):>18} "
                  f"{'wall ' + format(dw, '.3f') + ' s':>16}  <= {TARGETS['d']:<5} "
                  f"{verdict(dw <= TARGETS['d'] and dd == 0)}  (max downtime {dd:.3f} s, n={dn})")
            lag, _, en = self.medians(runtime, "e", "apply")
            print(f"{runtime:8} {f'(e) ready after a {READY_AFTER} s bootstrap':32} {'':>18} {'':>18} "
                  f"{'lag ' + format(lag, '.3f') + ' s':>16}  <= {TARGETS['e']:<5} {verdict(lag <= TARGETS['e'])}  "
                  f"(apply's \"ready\" line - the ready line's log time stamp, n={en})")
        print(f"\nmedians; downtime = old container seen not running -> new one seen running "
              f"(API polled every ~{POLL_INTERVAL * 1000:.0f} ms + round trip; median poll gap "
              f"{self.poll_gap * 1000:.1f} ms)")
        for note in self.notes:
            print("note: " + note)

    # -- lifecycle

    def run(self):
        for runtime in RUNTIMES:
            if self.cli(runtime, "image", "inspect", f"{STANDIN}:1", check=False).returncode:
                sys.exit(f"apply_downtime: {runtime} has no {STANDIN}:1; start the engines with tests/engines.sh")
        self.ports = {rt: free_port() for rt in RUNTIMES}
        log(f"apply_downtime: registry, {PAYLOAD_MB} MB images ...")
        self.start_registry()
        self.build_images()
        self.profiles = {}
        for runtime in RUNTIMES:
            self.profiles[runtime] = {
                "b0": self.profile(runtime, "b0", f"{STANDIN}:1", "one-a.example.com"),
                "b1": self.profile(runtime, "b1", f"{STANDIN}:1", "one-b.example.com"),
                "a0": self.profile(runtime, "a0", self.big["v1"], "one-a.example.com"),
                "a1": self.profile(runtime, "a1", self.big["v2"], "one-a.example.com", snapshot=False),
                "a1+": self.profile(runtime, "a1+", self.big["v2"], "one-a.example.com"),
                "e0": self.profile(runtime, "e0", f"{STANDIN}:1", "one-e.example.com", ready=True),
                "e1": self.profile(runtime, "e1", f"{STANDIN}:1", "one-f.example.com", ready=True),
            }
        started = time.monotonic()
        log(f"apply_downtime: (b)(c)(d), {self.trials} interleaved trials per runtime")
        self.run_env_change()
        log(f"apply_downtime: (a), {self.upgrade_trials} interleaved trials per runtime")
        self.run_upgrade()
        log(f"apply_downtime: (e), {self.trials} trials per runtime")
        self.run_readiness()
        self.poll_gap = statistics.median(self.gaps) if self.gaps else float("nan")
        log(f"apply_downtime: trials took {time.monotonic() - started:.0f} s")
        self.report()

    def cleanup(self):
        for runtime in RUNTIMES:
            name = self.names[runtime]
            listed = self.cli(runtime, "ps", "-a", "--format", "{{.Names}}", check=False).stdout.split()
            for found in listed:
                if found == name or found.startswith(name + "-"):
                    self.note_volumes_of(runtime, found)
                    self.cli(runtime, "rm", "-f", found, check=False)
            for volume in [self.volumes[runtime], *sorted(self.anonymous[runtime])]:
                self.cli(runtime, "volume", "rm", "-f", volume, check=False)
            for ref in self.images[runtime]:
                self.cli(runtime, "rmi", ref, check=False)
        if self.registry and self.registry.poll() is None:
            os.killpg(self.registry.pid, signal.SIGTERM)
            try:
                self.registry.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.registry.pid, signal.SIGKILL)
                self.registry.wait()
            self.registry_log.close()

    def note_volumes_of(self, runtime, name):
        with contextlib.suppress(Exception):
            data = json.loads(self.cli(runtime, "container", "inspect", name).stdout)[0]
            for mount in data.get("Mounts") or []:
                if mount.get("Type") == "volume" and mount.get("Name") != self.volumes[runtime]:
                    self.anonymous[runtime].add(mount["Name"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=7, help="interleaved trials for (b), (c), (d) (min 5)")
    parser.add_argument("--upgrade-trials", type=int, default=5, help="interleaved trials for (a) (pulls 200 MB each)")
    args = parser.parse_args()
    missing = [v for v in ("DOCKER_HOST", "CONTAINER_HOST") if not os.environ.get(v)]
    if missing:
        sys.exit(f"apply_downtime: {' and '.join(missing)} not set. This bench runs on the private engines:\n"
                 f"  tests/engines.sh start /tmp/eng   (if they are not running)\n"
                 f"  source /tmp/eng/env\n  {sys.executable} {sys.argv[0]}")
    if not (Path(sys.executable).parent / "one-run").exists():
        sys.exit(f"apply_downtime: {Path(sys.executable).parent / 'one-run'} not found: pip install -e . first")
    import compileall

    compileall.compile_dir(str(ROOT / "one_run"), quiet=1)  # as `pip install .` leaves it (see the docstring)
    tmp = Path(tempfile.mkdtemp(prefix="one-run-bench-"))
    bench = Bench(tmp, max(args.trials, 5), max(args.upgrade_trials, 1))
    try:
        bench.run()
    except RuntimeError as exc:
        print(f"apply_downtime: {exc}", file=sys.stderr)
        return 1
    finally:
        log("apply_downtime: cleaning up")
        bench.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
