"""[watch]: apply waits for the real bootstrap, and never keeps a container that did not come up."""
import socket
import threading
import time

import pytest
from conftest import run_cli, standin_profile

LATE_FAILURE = "#!/bin/bash\necho 'post hook: migrating'\nsleep 20\necho 'post hook: failed'\nexit 1\n"


def with_hook(profile, text):
    hook = profile.parent / "config" / "post.sh"
    hook.parent.mkdir(exist_ok=True)
    hook.write_text(text)
    hook.chmod(0o755)
    return profile.read_text().replace("[watch]", '[config]\npost_bootstrap_hook = "config/post.sh"\n\n[watch]')


def test_a_failure_20_s_into_the_bootstrap_is_rolled_back_with_ready_log(engine, tmp_path):
    name = engine.container_name()
    profile = standin_profile(tmp_path, engine, name, watch='ready_log = "STANDIN READY"\nsettle_time = 1\n')
    assert run_cli("apply", profile).code == 0
    old = engine.inspect(name)["Id"]
    profile.write_text(with_hook(profile, LATE_FAILURE))

    started = time.monotonic()
    result = run_cli("apply", profile)

    assert result.code == 1, result.out + result.err
    assert time.monotonic() - started >= 20
    assert "post-bootstrap hook exited 1" in result.err and f"{old[:12]} runs again" in result.err
    # A line at least every 10 s while it waits, with elapsed/timeout, state and last log line.
    waiting = [line for line in result.out.splitlines() if line.startswith("  waiting ")]
    assert waiting, result.out
    assert waiting[0].startswith("  waiting 10 s of 900 s for ready_log /STANDIN READY/: running")
    assert "last log line: post hook: migrating" in waiting[0]
    assert engine.inspect(name)["Id"] == old and engine.inspect(name)["State"]["Running"]
    assert engine.names_like(name) == [name]


def test_without_a_ready_signal_the_plan_says_plainly_how_little_is_watched(engine, tmp_path):
    name = engine.container_name()
    profile = standin_profile(tmp_path, engine, name, watch="settle_time = 5\n")

    plan = run_cli("apply", profile, "--dry-run")
    assert "watching only 5 s: a failure after that is not caught — set [watch] ready_log or ready_command" \
        in plan.out

    profile.write_text(profile.read_text().replace("settle_time = 5", 'settle_time = 2\nready_command = ["cat", "/ready"]'))
    plan = run_cli("apply", profile, "--dry-run")
    assert "wait up to 900 s for `cat /ready` to exit 0 inside it, then check it stays up for 2 s" in plan.out


def test_ready_command_is_run_inside_until_it_exits_0(engine, tmp_path):
    name = engine.container_name()
    profile = standin_profile(tmp_path, engine, name, body='[env]\nSTANDIN_BOOTSTRAP_SECONDS = "3"\n',
                              watch='ready_command = ["grep", "-q", "STANDIN READY", "/bootstrap-report"]\n'
                                    "settle_time = 1\n")
    result = run_cli("apply", profile)
    assert result.code == 0, result.out + result.err
    ready = next(line for line in result.out.splitlines() if line.startswith("  ready after "))
    assert float(ready.split()[2]) >= 3  # the bootstrap took 3 s, and apply waited for it
    assert "STANDIN READY" in engine.report(name)


def test_a_ready_log_that_never_comes_fails_at_the_timeout(engine, tmp_path):
    name = engine.container_name()
    profile = standin_profile(tmp_path, engine, name, watch='ready_log = "never printed"\ntimeout = 3\n')
    result = run_cli("apply", profile)
    assert result.code == 1
    assert "was not ready after 3 s (waiting for ready_log /never printed/)" in result.err
    assert not engine.exists(name)


def test_maintenance_on_and_off_succeed_with_an_image_that_is_unhealthy_in_maintenance(engine, tmp_path):
    name = engine.container_name()
    profile = standin_profile(tmp_path, engine, name, tag="health",
                              watch='ready_log = "STANDIN READY"\nsettle_time = 2\n')
    assert run_cli("apply", profile).code == 0

    on = run_cli("maintenance", "on", profile)
    assert on.code == 0, on.out + on.err
    assert "maintenance mode: its services do not start, so the health check is not waited for" in on.out
    assert "MAINTENANCE_MODE=yes" in engine.inspect(name)["Config"]["Env"]
    off = run_cli("maintenance", "off", profile)
    assert off.code == 0, off.out + off.err
    assert "MAINTENANCE_MODE=yes" not in engine.inspect(name)["Config"]["Env"]


@pytest.fixture
def silent_socket(tmp_path):
    """A socket that accepts connections and never answers, as a hung engine does."""
    path = tmp_path / "hung.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen(64)
    held, stop = [], threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                pass
    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield path
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


@pytest.mark.parametrize("runtime,variable", [("docker", "DOCKER_HOST"), ("podman", "CONTAINER_HOST")])
def test_an_engine_that_never_answers_is_exit_3_within_15_s(tmp_path, monkeypatch, silent_socket, runtime, variable):
    profile = tmp_path / "p.toml"
    profile.write_text(f'runtime = "{runtime}"\n[container]\nname = "one"\nimage = "img:1"\n')
    monkeypatch.setenv(variable, f"unix://{silent_socket}")
    started = time.monotonic()
    result = run_cli("status", profile)
    assert result.code == 3 and str(silent_socket) in result.err
    assert time.monotonic() - started < 15


def test_the_profiles_health_check_is_waited_for_and_false_turns_the_images_off(engine, tmp_path):
    name = engine.container_name()
    failing = 'healthcheck = { test = ["CMD-SHELL", "false"], interval = "1s", retries = 1 }\n'
    profile = standin_profile(tmp_path, engine, name, container=failing, watch="settle_time = 1\ntimeout = 30\n")
    assert "for its health check to pass" in run_cli("apply", profile, "--dry-run").out
    result = run_cli("apply", profile)
    assert result.code == 1 and "reports unhealthy" in result.err, result.out + result.err

    # The :health image's own check fails with STANDIN_HEALTH=bad: turned off, it is not waited for.
    off = standin_profile(tmp_path / "off", engine, name, tag="health", container="healthcheck = false\n",
                          body='[env]\nSTANDIN_HEALTH = "bad"\n')
    assert "health check" not in run_cli("apply", off, "--dry-run").out
    applied = run_cli("apply", off)
    assert applied.code == 0, applied.out + applied.err
    assert engine.inspect(name)["Config"]["Healthcheck"]["Test"] == ["NONE"]
