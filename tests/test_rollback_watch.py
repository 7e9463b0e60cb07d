"""A failed apply judges the previous container by the [watch] of its own revision, never by the
new profile's (DESIGN.md, safety rule 3): exit 1 means the previous container runs again."""
import shutil

from conftest import run_cli, standin_profile

READY_LOG = 'ready_log = "STANDIN READY"\nsettle_time = 1\n'


def upgraded(profile, watch: str) -> str:
    """The same profile with a real change (so apply recreates) and another [watch]."""
    text = profile.read_text()
    head, _, _ = text.partition("[watch]")
    return head.replace("[container]", '[container]\nlabels = { release = "2" }', 1) + "[watch]\n" + watch


def test_a_readiness_check_only_the_new_version_passes_rolls_back_with_exit_1(engine, tmp_path):
    name = engine.container_name()
    profile = standin_profile(tmp_path, engine, name, watch=READY_LOG)
    assert run_cli("apply", profile).code == 0
    old = engine.inspect(name)["Id"]
    profile.write_text(upgraded(profile, 'ready_command = ["test", "-e", "/nonexistent"]\ntimeout = 4\n'
                                         "settle_time = 1\n"))

    result = run_cli("apply", profile)

    assert result.code == 1, result.out + result.err
    assert "by the [watch] of revision 1, which it was applied with" in result.out
    assert "`test -e /nonexistent`" not in result.out.split("started again")[1]  # not judged by the new one
    assert f"the previous container {old[:12]} runs again" in result.err
    state = engine.inspect(name)
    assert state["Id"] == old and state["State"]["Running"] and state["RestartCount"] == 0
    assert "release" not in (state["Config"]["Labels"] or {})
    assert engine.names_like(name) == [name]


def test_the_previous_ready_command_still_judges_the_previous_container(engine, tmp_path):
    """The reverse: the old revision waited for a bootstrap of 3 s with its ready_command; the
    new profile drops it, and fails. Started again, the old container is still waited for."""
    name = engine.container_name()
    profile = standin_profile(tmp_path, engine, name, body='[env]\nSTANDIN_BOOTSTRAP_SECONDS = "3"\n',
                              watch='ready_command = ["grep", "-q", "STANDIN READY", "/bootstrap-report"]\n'
                                    "settle_time = 1\n")
    assert run_cli("apply", profile).code == 0
    old = engine.inspect(name)["Id"]
    profile.write_text(profile.read_text().replace('STANDIN_BOOTSTRAP_SECONDS = "3"', 'STANDIN_BOOTSTRAP_SECONDS = "0"'))
    hook = tmp_path / "config" / "pre.sh"
    hook.parent.mkdir()
    hook.write_text("#!/bin/sh\necho 'pre hook: refusing'\nexit 1\n")
    hook.chmod(0o755)
    profile.write_text(upgraded(profile, "settle_time = 3\n").replace(
        "[env]", '[config]\npre_bootstrap_hook = "config/pre.sh"\n\n[env]'))

    result = run_cli("apply", profile)

    assert result.code == 1, result.out + result.err
    again = result.out.split("started again")[1]
    assert "by the [watch] of revision 1, which it was applied with" in again
    ready = next(line for line in again.splitlines() if line.startswith("  ready after "))
    assert float(ready.split()[2]) >= 3  # its bootstrap took 3 s, and the old ready_command waited for it
    state = engine.inspect(name)
    assert state["Id"] == old and state["State"]["Running"]
    assert engine.names_like(name) == [name]


def test_a_deployment_applied_before_revisions_kept_the_watch_is_judged_by_its_health_check(engine, tmp_path):
    name = engine.container_name()
    profile = standin_profile(tmp_path, engine, name, tag="health", watch=READY_LOG)
    assert run_cli("apply", profile).code == 0
    old = engine.inspect(name)["Id"]
    shutil.rmtree(tmp_path / ".one-run" / "one-run" / "history")  # as before revisions were recorded
    profile.write_text(upgraded(profile, 'ready_command = ["test", "-e", "/nonexistent"]\ntimeout = 4\n'
                                         "settle_time = 1\n"))

    result = run_cli("apply", profile)

    assert result.code == 1, result.out + result.err
    assert ("watching it by its health check and the default settle time, 5 s (no revision records the "
            "[watch] it was applied with)") in result.out
    state = engine.inspect(name)
    assert state["Id"] == old and state["State"]["Running"]
    assert engine.names_like(name) == [name]


def test_maintenance_off_that_fails_judges_the_previous_container_in_maintenance_mode(engine, tmp_path):
    """The :health image is unhealthy in maintenance mode: the previous container ran in it, so its
    health check is not waited for when it is started again, whatever the new profile says."""
    name = engine.container_name()
    hook = tmp_path / "config" / "pre.sh"
    hook.parent.mkdir(parents=True)
    hook.write_text("#!/bin/sh\nexit 0\n")
    hook.chmod(0o755)
    profile = standin_profile(tmp_path, engine, name, tag="health", top="maintenance = true",
                              body='[config]\npre_bootstrap_hook = "config/pre.sh"\n', watch=READY_LOG)
    assert run_cli("apply", profile).code == 0
    old = engine.inspect(name)["Id"]
    hook.write_text("#!/bin/sh\necho 'pre hook: refusing'\nexit 1\n")

    result = run_cli("maintenance", "off", profile)

    assert result.code == 1, result.out + result.err
    assert "maintenance flag put back" in result.err and "maintenance = true" in profile.read_text()
    state = engine.inspect(name)
    assert state["Id"] == old and state["State"]["Running"]
    assert "MAINTENANCE_MODE=yes" in state["Config"]["Env"]
    assert engine.names_like(name) == [name]
