"""A new admin's first day (issue 15), on the real engines: what diff, apply, capture, status
and switch say and do after the operations an admin runs by hand."""
import json
import time

import pytest
from conftest import STANDIN, run_cli, standin_profile


def apply_ok(profile):
    result = run_cli("apply", profile)
    assert result.code == 0, result.out + result.err
    return result


# --- capture reaches its engines, or says it could not (exit 3) ---------------------------

@pytest.mark.parametrize("down", ["DOCKER_HOST", "CONTAINER_HOST"])
def test_capture_with_one_engine_down_is_exit_3(down, monkeypatch, tmp_path):
    monkeypatch.setenv(down, f"unix://{tmp_path}/nothing.sock")
    result = run_cli("capture", "no-such-one-run-container")
    assert result.code == 3, result.err
    assert "cannot reach" in result.err and "no container named no-such-one-run-container" in result.err


# --- an image's own health check is not a change made to the container -----------------------

def test_an_image_health_check_is_in_sync_and_not_reported_by_capture(engine, tmp_path):
    name = engine.container_name()
    profile = standin_profile(tmp_path, engine, name, tag="health")
    apply_ok(profile)
    diff = run_cli("diff", profile)
    assert diff.code == 0, diff.out + diff.err
    captured = run_cli("capture", name, "--runtime", engine.runtime)
    assert captured.code == 0, captured.err
    assert "healthcheck" not in captured.err and "healthcheck" not in captured.out


# --- Podman's PATH for an image without one --------------------------------------------------

NO_PATH_IMAGE = "localhost/one-run-ops-nopath:1"


def test_podman_capture_of_an_image_without_path_writes_no_path(podman_engine, tmp_path):
    if podman_engine.cli("image", "inspect", NO_PATH_IMAGE, check=False).returncode:
        # the stand-in's file system, imported again without its ENV PATH
        made = podman_engine.cli("create", f"{STANDIN}:1").stdout.strip()
        podman_engine.cli("export", "-o", tmp_path / "rootfs.tar", made)
        podman_engine.cli("rm", made)
        podman_engine.cli("import", "--change", 'ENTRYPOINT ["/entrypoint.sh"]', tmp_path / "rootfs.tar", NO_PATH_IMAGE)
    image_env = json.loads(podman_engine.cli("image", "inspect", NO_PATH_IMAGE).stdout)[0]["Config"].get("Env") or []
    assert not any(e.startswith("PATH=") for e in image_env)
    name = podman_engine.container_name()
    podman_engine.cli("run", "-d", "--name", name, "-e", "OPENNEBULA_HOST=one.example.com", NO_PATH_IMAGE)
    captured = run_cli("capture", name, "--runtime", "podman")
    assert captured.code == 0, captured.err
    assert "PATH" not in captured.out and "PATH" not in captured.err
    assert "OPENNEBULA_HOST" in captured.out


# --- apply and diff never disagree ----------------------------------------------------------

def container_id(eng, name):
    return eng.inspect(name)["Id"]


def assert_repaired_in_place(profile, eng, name, field):
    """diff names `field`; apply sets it back on the same container; diff is then in sync."""
    before = container_id(eng, name)
    diff = run_cli("diff", profile)
    assert diff.code == 1 and diff.out.startswith(f"{field}: "), diff.out + diff.err
    dry = run_cli("apply", profile, "--dry-run")
    assert dry.code == 0 and ": update" in dry.out and "nothing is recreated" in dry.out, dry.out
    result = apply_ok(profile)
    assert "in place; nothing recreated" in result.out, result.out
    assert container_id(eng, name) == before
    again = run_cli("diff", profile)
    assert again.code == 0, again.out + again.err


def test_docker_update_out_of_band_is_repaired_in_place(docker_engine, tmp_path):
    name = docker_engine.container_name()
    profile = standin_profile(tmp_path, docker_engine, name, container='memory = "64m"\ncpus = 0.5\n')
    apply_ok(profile)
    inspect = docker_engine.inspect(name)["HostConfig"]
    assert (inspect["Memory"], inspect["NanoCpus"]) == (64 * 1024 ** 2, 500_000_000)
    assert run_cli("diff", profile).code == 0

    docker_engine.cli("update", "--restart=no", name)
    assert_repaired_in_place(profile, docker_engine, name, "restart")
    assert docker_engine.inspect(name)["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"

    docker_engine.cli("update", "--memory=96m", "--memory-swap=192m", name)
    assert_repaired_in_place(profile, docker_engine, name, "memory")
    assert docker_engine.inspect(name)["HostConfig"]["Memory"] == 64 * 1024 ** 2

    docker_engine.cli("update", "--cpus=1.5", name)
    assert_repaired_in_place(profile, docker_engine, name, "cpus")
    assert docker_engine.inspect(name)["HostConfig"]["NanoCpus"] == 500_000_000

    # What the engine cannot set back in place (the swap limit alone) is recreated: diff and apply agree.
    docker_engine.cli("update", "--memory=64m", "--memory-swap=256m", name)
    before = container_id(docker_engine, name)
    assert run_cli("diff", profile).code == 1
    recreated = apply_ok(profile)
    assert "recreate" in recreated.out and container_id(docker_engine, name) != before
    assert run_cli("diff", profile).code == 0


def test_memory_and_cpus_on_podman_render_apply_and_compare(podman_engine, tmp_path):
    # Podman 4.3 cannot update in place durably (see engines/podman.py): a changed limit recreates.
    name = podman_engine.container_name()
    profile = standin_profile(tmp_path, podman_engine, name, container='memory = "64m"\ncpus = 0.5\n')
    rendered = run_cli("render", profile)
    assert "--memory 64m" in rendered.out and "--cpus 0.5" in rendered.out
    apply_ok(profile)
    inspect = podman_engine.inspect(name)["HostConfig"]
    assert (inspect["Memory"], inspect["NanoCpus"]) == (64 * 1024 ** 2, 500_000_000)
    assert run_cli("diff", profile).code == 0, run_cli("diff", profile).out
    captured = run_cli("capture", name, "--runtime", "podman")
    assert 'memory = "64m"' in captured.out and "cpus = 0.5" in captured.out, captured.out + captured.err
    assert "cpu_quota" not in captured.err
    before = container_id(podman_engine, name)
    profile.write_text(profile.read_text().replace('memory = "64m"', 'memory = "96m"'))
    diff = run_cli("diff", profile)
    assert "memory: 64m → 96m" in diff.out, diff.out
    apply_ok(profile)
    assert container_id(podman_engine, name) != before
    assert podman_engine.inspect(name)["HostConfig"]["Memory"] == 96 * 1024 ** 2


def test_a_round_trip_switch_brings_the_kept_container_back_with_its_restart_policy(docker_engine, podman_engine,
                                                                                    tmp_path):
    name = docker_engine.container_name()
    podman_engine.containers.append(name)
    profile = standin_profile(tmp_path, docker_engine, name)
    podman_engine.volumes.extend(docker_engine.volumes)
    apply_ok(profile)
    first = container_id(docker_engine, name)
    podman_engine.volumes.append(docker_engine.inspect(name)["Mounts"][0]["Name"])
    there = run_cli("switch", profile, "--to", "podman")
    assert there.code == 0, there.out + there.err
    assert docker_engine.inspect(name)["HostConfig"]["RestartPolicy"]["Name"] == "no"
    back = run_cli("switch", profile, "--to", "docker", "--overwrite-volumes")
    assert back.code == 0, back.out + back.err
    assert container_id(docker_engine, name) == first
    assert docker_engine.inspect(name)["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    diff = run_cli("diff", profile)
    assert diff.code == 0, diff.out + diff.err
    assert "up to date" in run_cli("apply", profile).out


# --- status: an exit code a monitor can use -----------------------------------------------

def test_status_exit_codes_follow_the_container(engine, tmp_path, monkeypatch):
    name = engine.container_name()
    profile = standin_profile(tmp_path, engine, name, tag="health")
    assert run_cli("status", profile).code == 1  # missing
    apply_ok(profile)
    up = run_cli("status", profile, "--format", "json")
    assert up.code == 0 and json.loads(up.out)["up"] is True, up.out
    engine.cli("stop", name)
    assert run_cli("status", profile).code == 1  # stopped
    engine.cli("rm", name)
    # Unhealthy: the stand-in's check fails when STANDIN_HEALTH is not "ok".
    engine.cli("run", "-d", "--name", name, "-e", "STANDIN_HEALTH=bad", f"{STANDIN}:health")
    deadline = time.monotonic() + 30
    while True:
        unhealthy = run_cli("status", profile, "--format", "json")
        if json.loads(unhealthy.out).get("health") == "unhealthy" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert unhealthy.code == 1 and json.loads(unhealthy.out)["health"] == "unhealthy", unhealthy.out
    variable = "DOCKER_HOST" if engine.runtime == "docker" else "CONTAINER_HOST"
    with monkeypatch.context() as env:  # undone before the engine fixture cleans up
        env.setenv(variable, f"unix://{tmp_path}/nothing.sock")
        assert run_cli("status", profile).code == 3


def test_status_names_the_container_a_switch_kept_with_the_cleanup_command(docker_engine, podman_engine, tmp_path,
                                                                          monkeypatch):
    name = docker_engine.container_name()
    podman_engine.containers.append(name)
    profile = standin_profile(tmp_path, docker_engine, name)
    podman_engine.volumes.extend(docker_engine.volumes)
    apply_ok(profile)
    podman_engine.volumes.append(docker_engine.inspect(name)["Mounts"][0]["Name"])
    assert run_cli("switch", profile, "--to", "podman").code == 0
    status = run_cli("status", profile)
    assert status.code == 0, status.out + status.err
    assert f"one-run switch {profile} --to podman --cleanup" in status.out
    with monkeypatch.context() as env:  # the other engine down: nothing said about it
        env.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
        quiet = run_cli("status", profile)
    assert quiet.code == 0 and "--cleanup" not in quiet.out and not quiet.err, quiet.out + quiet.err


# --- small slips -------------------------------------------------------------------------------

def test_progress_never_says_of_about_0_b():
    import contextlib
    import io

    from one_run.deploy.volume_move import Move, Progress, size_text

    moves = [Move("a" * 64, "a" * 64, "/var/lib/one/backups", anonymous=True, size=0)]
    progress = Progress(moves)
    progress.begin(moves[0])
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        progress(1536)
        progress.line()
    assert "1.5 KiB streamed" in err.getvalue() and "of about" not in err.getvalue(), err.getvalue()
    assert size_text(0) == "reported empty" and size_text(None) == "size unknown"


def test_a_switched_anonymous_volume_is_named_in_full_and_capture_s_comment_follows_it(docker_engine, podman_engine,
                                                                                      tmp_path):
    name = docker_engine.container_name()
    podman_engine.containers.append(name)
    docker_engine.cli("run", "-d", "--name", name, "--restart", "unless-stopped", f"{STANDIN}:1")
    anon = docker_engine.inspect(name)["Mounts"][0]["Name"]
    podman_engine.volumes.append(anon)
    profile = tmp_path / "one-run.toml"
    assert run_cli("capture", name, "--runtime", "docker", "-o", profile).code == 0
    assert f"# Anonymous volume {anon[:12]} at /var/lib/one/backups" in profile.read_text()
    dry = run_cli("switch", profile, "--to", "podman", "--dry-run")
    assert f"→ podman volume {anon}: create it" in dry.out, dry.out
    moved = run_cli("switch", profile, "--to", "podman")
    assert moved.code == 0, moved.out + moved.err
    text = profile.read_text()
    assert "lives only in this container" not in text
    assert f"# Anonymous volume {anon[:12]} at /var/lib/one/backups: moved from docker to podman" in text
    assert run_cli("validate", profile).code == 0


def test_a_certificate_warning_does_not_bury_an_error(tmp_path, monkeypatch):
    folder = tmp_path / "deploy"
    assert run_cli("init", folder, "--fqdn", "one.example.com", "--days", "5").code == 0
    profile = folder / "one-run.toml"
    valid = run_cli("validate", profile)
    assert valid.code == 0 and "expires on" in valid.err, valid.err
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    down = run_cli("apply", profile, "--runtime", "docker")
    assert down.code == 3 and "expires on" not in down.err and down.err.startswith("error: cannot reach Docker"), \
        down.err


def test_a_hook_with_crlf_line_endings_is_refused_with_the_fix(tmp_path):
    hook = tmp_path / "config" / "pre.sh"
    hook.parent.mkdir()
    hook.write_bytes(b"#!/bin/bash\r\necho hi\r\n")
    hook.chmod(0o755)
    profile = tmp_path / "one-run.toml"
    profile.write_text(f'[container]\nname = "one"\nimage = "{STANDIN}:1"\n\n'
                       '[config]\npre_bootstrap_hook = "config/pre.sh"\n')
    result = run_cli("validate", profile)
    assert result.code == 2 and "CRLF" in result.err and f"sed -i 's/\\r$//' {hook}" in result.err, result.err


# --- adopting a container made by hand -------------------------------------------------------

def test_a_captured_container_is_adopted_without_a_recreate(engine, tmp_path):
    name = engine.container_name()
    engine.cli("run", "-d", "--name", name, "--restart", "unless-stopped", "-e", "OPENNEBULA_HOST=one.example.com",
               f"{STANDIN}:1")
    engine.volumes.append(engine.inspect(name)["Mounts"][0]["Name"])
    first = container_id(engine, name)
    profile = tmp_path / "one-run.toml"
    assert run_cli("capture", name, "--runtime", engine.runtime, "-o", profile).code == 0
    diff = run_cli("diff", profile)
    assert diff.code == 1 and "apply adopts it" in diff.out, diff.out
    dry = run_cli("apply", profile, "--dry-run")
    assert ": adopt" in dry.out and container_id(engine, name) == first, dry.out
    assert run_cli("diff", profile).code == 1  # a dry run records nothing
    adopted = apply_ok(profile)
    assert "adopted:" in adopted.out and container_id(engine, name) == first, adopted.out
    assert run_cli("diff", profile).code == 0
    status = run_cli("status", profile)
    assert status.code == 0 and "  in sync:     yes" in status.out.splitlines(), status.out
    assert "up to date" in apply_ok(profile).out and container_id(engine, name) == first
    # A real change recreates it, as for any container.
    profile.write_text(profile.read_text().replace('OPENNEBULA_HOST = "one.example.com"',
                                                   'OPENNEBULA_HOST = "two.example.com"'))
    apply_ok(profile)
    assert container_id(engine, name) != first and run_cli("diff", profile).code == 0
