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
from ..model.profile import Profile

STOP_MARGIN = 30  # seconds the unit's stop may take beyond the container's stop timeout


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
