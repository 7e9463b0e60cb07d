"""Reboot survival: `one-run boot` writes a unit that starts the container by name at boot,
which systemd accepts and whose start and stop work on the real engines (and never remove
the container); status and apply's plan say whether the deployment comes back after a reboot."""
import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest
from conftest import run_cli, standin_profile

from one_run.commands import boot
from one_run.deploy import survival
from one_run.model.profile import load_profile

# podman-restart.service as Podman 4.3 (Debian 12) ships it.
PODMAN_RESTART_43 = """[Unit]
Description=Podman Start All Containers With Restart Policy Set To Always
[Service]
Type=oneshot
RemainAfterExit=true
Environment=LOGGING="--log-level=info"
ExecStart=/usr/bin/podman $LOGGING start --all --filter restart-policy=always
ExecStop=/bin/sh -c '/usr/bin/podman $LOGGING stop $(/usr/bin/podman container ls --filter restart-policy=always -q)'
[Install]
WantedBy=default.target
"""

# Answers is-enabled and cat from files in $FAKE_SYSTEMD (UNIT: its text; UNIT.enabled: enabled),
# as systemd 252 words them; logs every call to $FAKE_SYSTEMD/calls.
FAKE_SYSTEMCTL = """#!/bin/sh
echo "$@" >> "$FAKE_SYSTEMD/calls"
[ "$1" = --user ] && shift
case $1 in
  is-enabled)
    if [ -e "$FAKE_SYSTEMD/$2.enabled" ]; then echo enabled
    elif [ -e "$FAKE_SYSTEMD/$2" ]; then echo disabled; exit 1
    else echo "Failed to get unit file state for $2: No such file or directory" >&2; exit 1; fi;;
  cat)
    [ -e "$FAKE_SYSTEMD/$2" ] || { echo "No files found for $2." >&2; exit 1; }
    echo "# $FAKE_SYSTEMD/$2"; cat "$FAKE_SYSTEMD/$2";;
  *) exit 0;;
esac
"""


class FakeSystemd:
    def __init__(self, folder: Path):
        self.folder = folder

    def unit(self, name: str, text: str, enabled: bool = True):
        (self.folder / name).write_text(text)
        if enabled:
            (self.folder / f"{name}.enabled").touch()

    def calls(self):
        path = self.folder / "calls"
        return path.read_text().splitlines() if path.exists() else []


@pytest.fixture
def systemd(tmp_path, monkeypatch):
    """A fake `systemctl` first on PATH, answering from a temporary unit folder."""
    bin_dir, units = tmp_path / "fake-bin", tmp_path / "fake-units"
    bin_dir.mkdir()
    units.mkdir()
    script = bin_dir / "systemctl"
    script.write_text(FAKE_SYSTEMCTL)
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SYSTEMD", str(units))
    return FakeSystemd(units)


def printed_unit(profile, *args) -> str:
    result = run_cli("boot", profile, *args)
    assert result.code == 0, result.err
    return result.out


def unit_lines(text: str, key: str):
    return [line.split("=", 1)[1] for line in text.splitlines() if line.startswith(key + "=")]


def run_unit_line(text: str, key: str):
    """Run the unit's ExecStart/ExecStop as systemd would: its Environment= and no engine
    endpoint of ours (Podman's CLI opens the storage itself; CONTAINERS_CONF and friends
    stand in for this machine's default configuration)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "CONTAINER_HOST")}
    for assignment in unit_lines(text, "Environment"):
        name, value = assignment.split("=", 1)
        env[name] = value
    (line,) = unit_lines(text, key)
    argv = shlex.split(line)
    assert os.path.isabs(argv[0])
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr


def verify(text: str, folder: Path, unit: str, user: bool = False):
    """`systemd-analyze verify` of the unit; its warnings (unknown keys, missing programs) fail too."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / unit
    path.write_text(text)
    env = dict(os.environ)
    argv = ["systemd-analyze", "verify", str(path)]
    if user:
        runtime_dir = folder / "xdg-runtime"
        runtime_dir.mkdir(mode=0o700)
        env["XDG_RUNTIME_DIR"] = str(runtime_dir)  # the user manager systemd-analyze simulates needs one
        argv.insert(1, "--user")
    result = subprocess.run(argv, capture_output=True, text=True, env=env)
    assert result.returncode == 0 and str(path) not in result.stderr, result.stderr


def plain_profile(folder: Path, runtime: str, name: str = "opennebula", restart: str = "unless-stopped") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "one-run.toml"
    path.write_text(f'runtime = "{runtime}"\n[container]\nname = "{name}"\n'
                    f'image = "localhost/one-run-standin:1"\nrestart = "{restart}"\nstop_timeout = 45\n')
    return path


@pytest.mark.parametrize("runtime,user", [("docker", False), ("podman", False), ("podman", True)],
                         ids=["docker", "podman-rootful", "podman-rootless"])
def test_systemd_accepts_the_unit(runtime, user, tmp_path):
    profile = load_profile(str(plain_profile(tmp_path, runtime)))
    text = boot.render_unit(profile, user)
    verify(text, tmp_path / "units", "one-run-opennebula.service", user)
    program = unit_lines(text, "ExecStart")[0].split()[0]
    assert unit_lines(text, "ExecStart") == [f"{program} start opennebula"]
    assert unit_lines(text, "ExecStop") == [f"{program} stop opennebula"]
    assert os.path.basename(program) == runtime and os.path.isabs(program)
    assert unit_lines(text, "TimeoutStopSec") == [str(45 + boot.STOP_MARGIN)]  # beyond the container's own
    assert unit_lines(text, "WantedBy") == ["default.target" if user else "multi-user.target"]
    assert not {"PIDFile", "ExecStopPost", "Restart"} & {line.split("=")[0] for line in text.splitlines()}
    assert not any(word in text.split() for word in ("rm", "--rm", "--new", "generate"))
    if runtime == "docker":  # the daemon one-run applied to, and no other
        assert unit_lines(text, "Environment") == [f"DOCKER_HOST={os.environ.get('DOCKER_HOST') or 'unix:///var/run/docker.sock'}"]
        assert "After=docker.service" in text.splitlines()
    else:  # daemonless: no socket to name
        assert unit_lines(text, "Environment") == []


def test_print_is_the_unit_for_whoever_runs_it(tmp_path):
    path = plain_profile(tmp_path, "podman")
    assert printed_unit(path) == printed_unit(path, "--print") == boot.render_unit(load_profile(str(path)),
                                                                                   survival.user_scope())
    assert "docker start opennebula" in printed_unit(path, "--runtime", "docker")


def test_a_remote_docker_host_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.0.0.5:2376")
    result = run_cli("boot", plain_profile(tmp_path, "docker"))
    assert result.code == 2 and "run `one-run boot` on that host" in result.err and result.out == ""


def test_start_and_stop_lines_work_by_name_across_recreates(engine, tmp_path):
    """The unit's own ExecStart/ExecStop, run against the real engine: the container starts,
    stops, is never removed, and the same lines still drive it after apply recreated it."""
    name = engine.container_name()
    profile = standin_profile(tmp_path, engine, name)
    assert run_cli("apply", profile).code == 0
    text = printed_unit(profile)
    first = engine.inspect(name)["Id"]
    assert first not in text and first[:12] not in text

    for _ in range(2):
        run_unit_line(text, "ExecStop")
        state = engine.inspect(name)["State"]
        assert not state["Running"] and engine.exists(name)
        run_unit_line(text, "ExecStart")
        assert engine.inspect(name)["State"]["Running"]
        run_unit_line(text, "ExecStart")  # at boot it may already run (restart policy): no error
        assert run_cli("apply", profile, "--force").code == 0
        assert engine.inspect(name)["Id"] != first
    run_unit_line(text, "ExecStop")
    assert engine.exists(name) and not engine.inspect(name)["State"]["Running"]


@pytest.mark.skipif(survival.systemd_running(), reason="systemd runs this host")
@pytest.mark.parametrize("action", ["--install", "--remove"])
def test_install_without_systemd_exits_3_and_writes_nothing(action, tmp_path, systemd):
    name = f"one-run-boot-test-{os.getpid()}"
    path = survival.unit_dir(survival.user_scope()) / survival.unit_name(name)
    before = sorted(path.parent.iterdir()) if path.parent.exists() else None
    result = run_cli("boot", plain_profile(tmp_path, "podman", name), action)
    assert result.code == 3, result
    assert "systemd is not running on this host" in result.err and "nothing was" in result.err
    assert not path.exists()
    assert (sorted(path.parent.iterdir()) if path.parent.exists() else None) == before
    assert systemd.calls() == []


def reboot(profile) -> dict:
    result = run_cli("status", profile, "--format", "json")
    assert result.code == 0, result.err
    return json.loads(result.out)["reboot"]


def status_text(profile) -> list:
    result = run_cli("status", profile)
    assert result.code == 0, result.err
    return [line.strip() for line in result.out.splitlines()]


def test_docker_unless_stopped_comes_back_with_docker_service_enabled(docker_engine, tmp_path, systemd):
    name = docker_engine.container_name()
    profile = standin_profile(tmp_path, docker_engine, name)
    assert run_cli("apply", profile).code == 0
    systemd.unit("docker.service", "[Service]\nExecStart=/usr/bin/dockerd\n")
    assert reboot(profile) == {"restart_policy": "unless-stopped", "comes_back": True, "fix": None,
                               "why": "restart policy unless-stopped, and docker.service is enabled"}
    (systemd.folder / "docker.service.enabled").unlink()
    found = reboot(profile)
    assert found["comes_back"] is False and found["fix"] == "systemctl enable docker.service"
    assert "reboot:      does NOT come back: restart policy unless-stopped, but docker.service is disabled" \
        in run_cli("status", profile).out


def test_podman_always_comes_back_with_podman_restart_enabled(podman_engine, tmp_path, systemd):
    name = podman_engine.container_name()
    profile = standin_profile(tmp_path, podman_engine, name)
    profile.write_text(profile.read_text().replace('"unless-stopped"', '"always"'))
    result = run_cli("apply", profile)
    assert result.code == 0 and "come back" not in result.err  # always: no warning
    systemd.unit("podman-restart.service", PODMAN_RESTART_43)
    found = reboot(profile)
    assert found["comes_back"] is True and found["restart_policy"] == "always"
    assert "podman-restart.service is enabled and starts such containers" in found["why"]


def test_podman_unless_stopped_without_a_unit_does_not_come_back(podman_engine, tmp_path, systemd):
    systemd.unit("podman-restart.service", PODMAN_RESTART_43)
    name = podman_engine.container_name()
    profile = standin_profile(tmp_path, podman_engine, name)
    result = run_cli("apply", profile)
    assert result.code == 0, result.err
    install = f"one-run boot {profile} --install"
    warnings = [line for line in result.err.splitlines() if "come back after a host reboot" in line]
    assert len(warnings) == 1 and install in warnings[0], result.err
    assert "  after a host reboot: does NOT come back: restart policy unless-stopped" in result.out
    assert f"    to fix: {install}" in result.out.splitlines()

    found = reboot(profile)
    assert found["comes_back"] is False and found["fix"] == install
    assert "podman-restart.service starts only restart policy always containers" in found["why"]
    lines = status_text(profile)
    assert f"to fix: {install}" in lines
    assert sum(line.startswith("reboot:") for line in lines) == 1


def test_podman_with_an_enabled_boot_unit_comes_back(podman_engine, tmp_path, systemd):
    systemd.unit("podman-restart.service", PODMAN_RESTART_43)
    name = podman_engine.container_name()
    profile = standin_profile(tmp_path, podman_engine, name)
    unit = survival.unit_name(name)
    systemd.unit(unit, printed_unit(profile))
    result = run_cli("apply", profile)
    assert result.code == 0 and "come back" not in result.err, result.err  # the unit is there: no warning
    found = reboot(profile)
    assert found == {"restart_policy": "unless-stopped", "comes_back": True, "fix": None,
                     "why": f"the one-run boot unit {unit} is enabled in systemd"}

    systemd.unit(unit, printed_unit(profile, "--runtime", "docker"))  # left from before a switch
    found = reboot(profile)
    assert found["comes_back"] is False and f"starts the docker container {name}" in found["why"]

    (systemd.folder / f"{unit}.enabled").unlink()
    assert reboot(profile)["comes_back"] is False


# --- unit tests of the decision, with a systemctl stand-in ------------------------------

def answers(states, texts=None):
    """A systemctl caller answering is-enabled from `states` and cat from `texts`."""
    def run(*args, user):
        verb, unit = args
        if verb == "is-enabled":
            state = states.get(unit)
            return subprocess.CompletedProcess(args, 0 if state == "enabled" else 1, state or "",
                                               "" if state else f"Failed to get unit file state for {unit}: No such file or directory")
        text = (texts or {}).get(unit)
        return subprocess.CompletedProcess(args, 0 if text else 1, text or "", "" if text else "no")
    return run


def test_no_systemctl_is_cannot_tell_not_a_guess():
    found = survival.reboot_survival("podman", "unless-stopped", "one", "/p.toml", run=lambda *a, user: None)
    assert found.comes_back is None and "no systemctl on PATH" in found.why
    assert found.fix == "one-run boot /p.toml --install"
    found = survival.reboot_survival("docker", "always", "one", "/p.toml", run=lambda *a, user: None)
    assert found.comes_back is None and "whether docker.service is enabled" in found.why


def test_a_newer_podman_restart_that_starts_unless_stopped_counts():
    newer = PODMAN_RESTART_43.replace("restart-policy=always", "restart-policy=always --filter restart-policy=unless-stopped", 1)
    assert survival.restart_policies_started(newer) == {"always", "unless-stopped"}
    run = answers({"podman-restart.service": "enabled"}, {"podman-restart.service": newer})
    found = survival.reboot_survival("podman", "unless-stopped", "one", "/p.toml", run=run, user=False)
    assert found.comes_back
    assert survival.apply_warning("podman", "unless-stopped", "one", "/p.toml", found) is None


def test_rootless_needs_lingering(monkeypatch, tmp_path):
    monkeypatch.setattr(survival, "LINGER_DIR", tmp_path)
    run = answers({"podman-restart.service": "enabled"}, {"podman-restart.service": PODMAN_RESTART_43})
    found = survival.reboot_survival("podman", "always", "one", "/p.toml", run=run, user=True)
    assert found.comes_back is False and found.fix.startswith("loginctl enable-linger ")
    (tmp_path / survival.getpass.getuser()).touch()
    assert survival.reboot_survival("podman", "always", "one", "/p.toml", run=run, user=True).comes_back


def test_install_writes_reloads_enables_and_undoes_a_failed_enable(tmp_path, monkeypatch, systemd):
    """Where systemd runs (not on this machine: stood in for)."""
    monkeypatch.setattr(boot, "systemd_running", lambda: True)
    monkeypatch.setattr(boot, "unit_dir", lambda user: tmp_path / "etc")
    profile = plain_profile(tmp_path, "podman", "one")
    result = run_cli("boot", profile, "--install")
    assert result.code == 0, result.err
    path = tmp_path / "etc" / "one-run-one.service"
    assert path.read_text() == printed_unit(profile) and path.stat().st_mode & 0o777 == 0o644
    user = ["--user"] if survival.user_scope() else []
    assert systemd.calls() == [" ".join(user + ["daemon-reload"]), " ".join(user + ["enable", path.name])]

    result = run_cli("boot", profile, "--remove")
    assert result.code == 0 and not path.exists()
    assert systemd.calls()[2:] == [" ".join(user + ["disable", path.name]), " ".join(user + ["daemon-reload"])]

    failing = tmp_path / "fake-bin" / "systemctl"
    failing.write_text(FAKE_SYSTEMCTL.replace("  *) exit 0;;", '  enable) echo "Access denied" >&2; exit 1;;\n  *) exit 0;;'))
    result = run_cli("boot", profile, "--install")
    assert result.code == 3 and "Access denied" in result.err and not path.exists()
