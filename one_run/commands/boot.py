"""`one-run boot`: the systemd unit that starts the deployment's container at boot where
nothing else would (deploy/survival.py says when that is).
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
import shutil
import sys
from pathlib import Path
from typing import Optional

from ..common.errors import EngineUnavailable, UsageError
from ..common.files import write_file
from ..deploy.survival import _why_not, lingering, systemctl, systemd_running, unit_dir, unit_name, user_scope
from ..model.endpoint import REMOTE_SOCKET, endpoint_for, local_socket
from ..model.profile import Profile

STOP_MARGIN = 30  # seconds the unit's stop may take beyond the container's stop timeout


# --- the unit ------------------------------------------------------------------

def engine_program(runtime: str) -> str:
    """The absolute path of the runtime's CLI on PATH, which the unit runs; on a remote host,
    where Debian, Fedora and Ubuntu's packages put it (PATH there is not known here)."""
    if endpoint_for(runtime).remote:
        return f"/usr/bin/{runtime}"
    program = shutil.which(runtime)
    if program is None:
        raise UsageError(f"no `{runtime}` program on PATH, which the boot unit would run; install the {runtime} CLI, "
                         "or put its folder on PATH")
    return os.path.abspath(program)


def docker_endpoint() -> str:
    """The daemon socket one-run applied to, as the unit on the daemon's host reaches it: a
    unit can only bring back a container that its own host's boot stops."""
    endpoint = endpoint_for("docker")
    if endpoint.url.scheme not in ("unix", "ssh"):
        raise UsageError(f"Docker is reached at {endpoint.name}, whose socket on its host is not known here; "
                         "run `one-run boot` on that host")
    return f"unix://{endpoint.socket}"


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
    if runtime != "podman":
        return None
    endpoint, default = endpoint_for(runtime), local_socket(runtime)
    if endpoint.remote:
        return (None if endpoint.socket == REMOTE_SOCKET[runtime] else
                f"warning: Podman is reached at {endpoint.name}, but the boot unit runs podman there without it, "
                f"on root's container storage (what {REMOTE_SOCKET[runtime]} serves)")
    if endpoint.url.text == default:
        return None
    return (f"warning: Podman is reached at {endpoint.name}, but the boot unit runs podman without it, on "
            f"{'this user' if user else 'root'}'s container storage (what {default} serves); "
            "it finds the container only if that service uses the same storage")


def _remote_steps(profile: Profile, endpoint, user: bool, action: str) -> str:
    """Why --install/--remove are not run over SSH, and what to run instead."""
    unit = unit_name(profile.container.name)
    where = f"~/.config/systemd/user/{unit}" if user else f"/etc/systemd/system/{unit}"
    host = endpoint.url.host if not endpoint.url.user else f"{endpoint.url.user}@{endpoint.url.host}"
    scp, ssh = ("scp", "ssh") if not endpoint.url.port else (f"scp -P {endpoint.url.port}", f"ssh -p {endpoint.url.port}")
    if action == "install":
        steps = (f"one-run boot {profile.path} --host {endpoint.name} --print > {unit}; {scp} {unit} {host}:{where}; "
                 f"{ssh} {host} '{_manager(user)} daemon-reload && {_manager(user)} enable {unit}'")
    else:
        steps = f"{ssh} {host} '{_manager(user)} disable {unit} && rm {where} && {_manager(user)} daemon-reload'"
    return (f"the boot unit belongs to {endpoint.name}'s systemd, which one-run does not drive over SSH; nothing was "
            f"changed. Run: {steps}")


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
    """`one-run boot`: print, install or remove the profile's unit. On a remote host it is
    printed only: install and remove name the commands to run there."""
    endpoint = endpoint_for(profile.runtime)
    user = endpoint.url.user not in (None, "root") if endpoint.remote else user_scope()
    if endpoint.remote and action != "print":
        raise UsageError(_remote_steps(profile, endpoint, user, action))
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
