"""Reboot survival: whether the deployment's container comes back after the host reboots
(asked of systemctl), for apply's plan and warning and for status. The unit that makes it
come back is `one-run boot`'s (commands/boot.py).

Docker's daemon starts `always` and `unless-stopped` containers itself when docker.service
starts. Podman has no daemon: Podman 4.3's podman-restart.service starts only
`restart-policy=always` containers, so an `unless-stopped` or `on-failure` one stays down.
"""
import getpass
import os
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Dict, NamedTuple, Optional, Set, Tuple

from ..model.endpoint import endpoint_for

SYSTEM_UNIT_DIR = Path("/etc/systemd/system")
LINGER_DIR = Path("/var/lib/systemd/linger")
DAEMON_POLICIES = ("always", "unless-stopped")  # what dockerd starts when it starts
PODMAN_RESTART = "podman-restart.service"
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
    endpoint = endpoint_for(runtime)
    if endpoint.remote:
        return Survival(None, f"the engine runs on {endpoint.name}, whose systemd one-run does not ask over SSH",
                        f"install on that host the unit `one-run boot {profile_path} --print` prints")
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
    fix = survival.fix if endpoint_for(runtime).remote else f"run `one-run boot {profile_path} --install`"
    return f"warning: the podman container {name} {will} come back after a host reboot ({survival.why}); {fix}"
