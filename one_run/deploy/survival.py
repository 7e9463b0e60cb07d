"""Reboot survival: whether the deployment's container comes back after the host reboots,
and `one-run boot`, the systemd unit that starts it at boot where nothing else would.

Docker's daemon starts `always` and `unless-stopped` containers itself when docker.service
starts. Podman has no daemon: Podman 4.3's podman-restart.service starts only
`restart-policy=always` containers, so an `unless-stopped` or `on-failure` one stays down.

The unit starts and stops the container BY NAME, never by ID or by a PID file of one
container, so it stays valid when apply recreates the container. It is a oneshot that
remains active: apply recreates the container through the engine's API, outside the unit,
so a unit that tracked the container's process (`start --attach`, PIDFile, sd_notify)
would go inactive at every apply while the deployment runs, and would then no longer
stop it at shutdown. "active" here means "started at boot, and stops it at shutdown";
whether the container runs is what `one-run status` says. Stopping the unit stops the
container and never removes it.
"""
import getpass
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, NamedTuple, Optional, Set, Tuple

from ..common.errors import EngineUnavailable, UsageError
from ..common.files import write_file
from ..model.profile import Profile

SYSTEM_UNIT_DIR = Path("/etc/systemd/system")
LINGER_DIR = Path("/var/lib/systemd/linger")
DAEMON_POLICIES = ("always", "unless-stopped")  # what dockerd starts when it starts
PODMAN_RESTART = "podman-restart.service"
STOP_MARGIN = 30  # seconds the unit's stop may take beyond the container's stop timeout
SYSTEMCTL_TIMEOUT = 30


def unit_name(container: str) -> str:
    return f"one-run-{container}.service"


def user_scope() -> bool:
    """A user unit (systemd --user) for anyone but root: rootless Podman's containers are
    that user's, and root's units are the system's."""
    return os.geteuid() != 0


def unit_dir(user: bool) -> Path:
    """Where systemd reads the administrator's units (systemd.unit(5), unit load path)."""
    if user:
        return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "systemd" / "user"
    return SYSTEM_UNIT_DIR


def systemd_running() -> bool:
    """Whether systemd runs this host, as sd_booted(3) tells: /run/systemd/system exists."""
    return os.path.isdir("/run/systemd/system")


def systemctl(*args: str, user: bool) -> Optional[subprocess.CompletedProcess]:
    """Every systemctl call one-run makes; None where there is no systemctl on PATH."""
    program = shutil.which("systemctl")
    if program is None:
        return None
    try:
        return subprocess.run([program, *(["--user"] if user else []), *args],
                              capture_output=True, text=True, timeout=SYSTEMCTL_TIMEOUT)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(args, 1, "", f"systemctl {' '.join(args)} took over {SYSTEMCTL_TIMEOUT} s")


def _why_not(result: Optional[subprocess.CompletedProcess]) -> str:
    if result is None:
        return "no systemctl on PATH"
    lines = (result.stderr or result.stdout).strip().splitlines()
    return lines[-1] if lines else f"systemctl exited {result.returncode}"


def unit_file_state(unit: str, user: bool, run=systemctl) -> Tuple[Optional[str], str]:
    """(`systemctl is-enabled` state, or None when systemctl cannot answer; why it cannot).
    is-enabled reads the unit files, so it answers even where the manager is not running."""
    result = run("is-enabled", unit, user=user)
    state = result.stdout.strip() if result else ""
    if state:
        return state, ""
    if result is not None and "No such file" in result.stderr:
        return "not-found", ""  # systemd 252 says so on stderr; newer ones print "not-found"
    return None, _why_not(result)


def unit_text(unit: str, user: bool, run=systemctl) -> Optional[str]:
    """The unit as the manager loads it (`systemctl cat`: file and drop-ins); None if it cannot tell."""
    result = run("cat", unit, user=user)
    return result.stdout if result is not None and result.returncode == 0 else None


def restart_policies_started(text: str) -> Set[str]:
    """The restart policies whose containers podman-restart.service starts, read from its
    ExecStart's `--filter restart-policy=...` (Podman 4.3: `always` only)."""
    found = set()
    for line in text.splitlines():
        if line.strip().startswith("ExecStart="):
            words = shlex.split(line.split("=", 1)[1])
            filters = [after for word, after in zip(words, words[1:]) if word == "--filter"]
            filters += [word[len("--filter="):] for word in words if word.startswith("--filter=")]
            found |= {value.split("=", 1)[1] for value in filters if value.startswith("restart-policy=")}
    return found


def unit_starts(text: str) -> Optional[Tuple[str, str]]:
    """(runtime, container) a one-run boot unit starts, from its ExecStart; None if it has none."""
    for line in text.splitlines():
        if line.strip().startswith("ExecStart="):
            words = shlex.split(line.split("=", 1)[1])
            if len(words) >= 3 and words[1] == "start":
                return os.path.basename(words[0]), words[-1]
    return None


def lingering(user_name: str) -> bool:
    """Whether the user's manager starts at boot (`loginctl enable-linger`), not at first login."""
    return (LINGER_DIR / user_name).exists()


class Survival(NamedTuple):
    """Whether the container comes back after a host reboot (None: cannot tell), why, and what to do if not."""

    comes_back: Optional[bool]
    why: str
    fix: Optional[str] = None

    def as_json(self) -> Dict[str, object]:
        return self._asdict()

    def summary(self) -> str:
        verdict = {True: "comes back", False: "does NOT come back", None: "cannot tell"}[self.comes_back]
        return f"{verdict}: {self.why}"


def reboot_survival(runtime: str, policy: str, name: str, profile_path: str, run=systemctl,
                    user: Optional[bool] = None) -> Survival:
    """Whether `runtime`'s container `name`, with restart policy `policy` (no, always,
    unless-stopped, on-failure), comes back after a host reboot. `run` is the systemctl
    caller; `user`: rootless Podman's user manager (default: anyone but root)."""
    user = user_scope() if user is None else user
    install = f"one-run boot {profile_path} --install"
    unit = unit_name(name)
    manager = "the user manager" if user else "systemd"

    def after_boot(why: str) -> Survival:
        """Comes back, where the user manager that starts it runs at boot."""
        me = getpass.getuser()
        if user and not lingering(me):
            return Survival(False, f"{why}, but {me}'s user manager starts at login, not at boot",
                            f"loginctl enable-linger {me}")
        return Survival(True, why)

    unknown = []
    state, why = unit_file_state(unit, user, run)
    if state is None:
        unknown.append(f"whether {unit} is enabled ({why})")
    elif state == "enabled":
        text = unit_text(unit, user, run)
        if text is None:  # the manager is not running: read the file one-run wrote
            path = unit_dir(user) / unit
            text = path.read_text() if path.is_file() else ""
        starts = unit_starts(text)
        if starts == (runtime, name):
            return after_boot(f"the one-run boot unit {unit} is enabled in {manager}")
        if starts:
            return Survival(False, f"{unit} is enabled but starts the {starts[0]} container {starts[1]}", install)

    if runtime == "docker":
        if policy in DAEMON_POLICIES:
            docker, why = unit_file_state("docker.service", False, run)
            if docker == "enabled":
                return Survival(True, f"restart policy {policy}, and docker.service is enabled")
            if docker is not None:
                return Survival(False, f"restart policy {policy}, but docker.service is {docker}",
                                "systemctl enable docker.service")
            unknown.append(f"whether docker.service is enabled ({why})")
        because = "dockerd starts only restart policy always / unless-stopped containers when it starts"
    else:
        restart, why = unit_file_state(PODMAN_RESTART, user, run)
        text = unit_text(PODMAN_RESTART, user, run) if restart == "enabled" else None
        if restart is None:
            unknown.append(f"whether {PODMAN_RESTART} is enabled ({why})")
        elif restart == "enabled" and text is None:
            unknown.append(f"which restart policies the enabled {PODMAN_RESTART} starts (`systemctl cat` cannot show it)")
        elif restart == "enabled" and policy in restart_policies_started(text):
            return after_boot(f"restart policy {policy}, and {PODMAN_RESTART} is enabled and starts such containers")
        started = " / ".join(sorted(restart_policies_started(text or ""))) or "(none)"
        because = ("Podman has no daemon to start it at boot; "
                   + (f"{PODMAN_RESTART} starts only restart policy {started} containers" if restart == "enabled"
                      else f"{PODMAN_RESTART} is {restart}"))
    if unknown:
        return Survival(None, f"restart policy {policy}, but systemctl cannot tell " + ", nor ".join(unknown), install)
    return Survival(False, f"restart policy {policy}: {because}, and no one-run boot unit {unit} is enabled", install)


def apply_warning(runtime: str, policy: str, name: str, profile_path: str, survival: Survival) -> Optional[str]:
    """The warning apply prints (once, on stderr) when a Podman container's restart policy
    (unless-stopped, on-failure) will not bring it back after a reboot (`survival`, of
    reboot_survival); None otherwise."""
    if runtime != "podman" or policy not in ("unless-stopped", "on-failure") or survival.comes_back:
        return None
    will = "will not" if survival.comes_back is False else "may not"
    return (f"warning: the podman container {name} {will} come back after a host reboot ({survival.why}); "
            f"run `one-run boot {profile_path} --install`")


# --- the unit ------------------------------------------------------------------

def engine_program(runtime: str) -> str:
    """The absolute path of the runtime's CLI on PATH, which the unit runs."""
    program = shutil.which(runtime)
    if program is None:
        raise UsageError(f"no `{runtime}` program on PATH, which the boot unit would run; install the {runtime} CLI, "
                         "or put its folder on PATH")
    return os.path.abspath(program)


def docker_endpoint() -> str:
    """The daemon socket one-run applied to, which the unit must reach too. Only a local one:
    a unit on this host can only bring back a container that this host's boot stops."""
    from ..engines.docker import DEFAULT_SOCKET

    endpoint = os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET
    if not endpoint.startswith("unix://"):
        raise UsageError(f"DOCKER_HOST is {endpoint}, a daemon on another host: its boot unit belongs on that host; "
                         "run `one-run boot` there")
    return endpoint


def render_unit(profile: Profile, user: bool) -> str:
    """The unit text for the profile's runtime and container."""
    runtime, name = profile.runtime, profile.container.name
    program = engine_program(runtime)
    unit = ["[Unit]", f"Description=OpenNebula Front-end, the {runtime} container {name} (one-run)",
            f"Documentation=file://{profile.path}"]
    service = ["[Service]", "Type=oneshot", "RemainAfterExit=yes"]
    if runtime == "docker":
        # dockerd holds the container: the unit must talk to the daemon one-run applied to,
        # whatever docker context root's CLI would otherwise pick.
        unit += ["Wants=docker.service", "After=docker.service"]
        service.append(f"Environment=DOCKER_HOST={docker_endpoint()}")
    else:
        # Podman is daemonless: the CLI opens this user's container storage itself, so the
        # unit needs no socket (whose service may not run yet at boot), only the storage's mounts.
        if not user:
            unit += ["Wants=network-online.target", "After=network-online.target"]
        unit.append("RequiresMountsFor=%t/containers")
    service += [f"ExecStart={program} start {name}",
                f"ExecStop={program} stop {name}",
                # the engine kills the container after its own stop timeout; this bounds a hung engine
                f"TimeoutStopSec={profile.container.stop_timeout + STOP_MARGIN}"]
    install = ["[Install]", f"WantedBy={'default.target' if user else 'multi-user.target'}"]
    head = [f"# Written by `one-run boot {profile.path} --install`: starts the container by name at boot,",
            "# and stops it (never removes it) when the unit stops. Install it again after changing stop_timeout."]
    return "\n".join(head + unit + [""] + service + [""] + install) + "\n"


def podman_endpoint_note(runtime: str, user: bool) -> Optional[str]:
    """A warning when one-run reached Podman through a socket other than this user's default
    one: the unit runs podman on this user's own storage, which may not be that service's."""
    from ..engines.podman import default_socket

    host = os.environ.get("CONTAINER_HOST")
    if runtime != "podman" or not host or host == default_socket():
        return None
    return (f"warning: CONTAINER_HOST is {host}, but the boot unit runs podman without it, on "
            f"{'this user' if user else 'root'}'s container storage (what {default_socket()} serves); "
            "it finds the container only if that service uses the same storage")


def _manager(user: bool) -> str:
    return "systemctl --user" if user else "systemctl"


def _require_systemd(action: str) -> None:
    if not systemd_running():
        raise EngineUnavailable(f"systemd is not running on this host (no /run/systemd/system), so nothing would "
                                f"start a unit at boot; nothing was {action}. `one-run boot PROFILE --print` "
                                "shows the unit")


def _run_or_fail(*args: str, user: bool) -> None:
    result = systemctl(*args, user=user)
    if result is None or result.returncode != 0:
        raise EngineUnavailable(f"`{_manager(user)} {' '.join(args)}` failed: {_why_not(result)}")


def install(profile: Profile, user: bool) -> Path:
    """Write the unit where systemd reads it, daemon-reload and enable it; exit 3 without
    systemd, and then nothing is written. A failed reload or enable puts back what was there."""
    text = render_unit(profile, user)
    _require_systemd("written")
    path = unit_dir(user) / unit_name(profile.container.name)
    before = path.read_bytes() if path.exists() else None
    path.parent.mkdir(parents=True, exist_ok=True)
    write_file(path, text.encode(), 0o644)
    try:
        _run_or_fail("daemon-reload", user=user)
        _run_or_fail("enable", path.name, user=user)
    except BaseException:
        if before is None:
            path.unlink()
        else:
            write_file(path, before, 0o644)
        systemctl("daemon-reload", user=user)
        raise
    return path


def remove(profile: Profile, user: bool) -> Optional[Path]:
    """Disable and remove the unit (the container keeps running); None if none is installed."""
    _require_systemd("removed")
    path = unit_dir(user) / unit_name(profile.container.name)
    if not path.exists():
        return None
    _run_or_fail("disable", path.name, user=user)
    path.unlink()
    _run_or_fail("daemon-reload", user=user)
    return path


def boot(profile: Profile, action: str) -> int:
    """`one-run boot`: print, install or remove the profile's unit."""
    user = user_scope()
    note = podman_endpoint_note(profile.runtime, user)
    if note and action != "remove":
        print(note, file=sys.stderr)
    unit = unit_name(profile.container.name)
    if action == "print":
        sys.stdout.write(render_unit(profile, user))
    elif action == "install":
        path = install(profile, user)
        print(f"wrote {path}, enabled: it starts the {profile.runtime} container {profile.container.name} at the "
              f"next boot. `{_manager(user)} start {unit}` makes it stop the container at shutdown already now")
        if user and not lingering(getpass.getuser()):
            print(f"warning: {getpass.getuser()}'s user manager starts at login, not at boot: run "
                  f"`loginctl enable-linger {getpass.getuser()}` (as root)", file=sys.stderr)
    else:
        path = remove(profile, user)
        print(f"removed {path}; the container is left as it is, and no longer started at boot by one-run"
              if path else f"no {unit} in {unit_dir(user)}: nothing to remove")
    return 0
