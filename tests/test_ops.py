"""A new admin's first day (issue 15), on the real engines: what diff, apply, capture, status
and switch say and do after the operations an admin runs by hand."""
import json
import subprocess

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
        podman_engine.cli("import", "--change", 'ENTRYPOINT ["/entrypoint.sh"]', "/tmp/eng/standin.tar", NO_PATH_IMAGE)
    image_env = json.loads(podman_engine.cli("image", "inspect", NO_PATH_IMAGE).stdout)[0]["Config"].get("Env") or []
    assert not any(e.startswith("PATH=") for e in image_env)
    name = podman_engine.container_name()
    podman_engine.cli("run", "-d", "--name", name, "-e", "OPENNEBULA_HOST=one.example.com", NO_PATH_IMAGE)
    captured = run_cli("capture", name, "--runtime", "podman")
    assert captured.code == 0, captured.err
    assert "PATH" not in captured.out and "PATH" not in captured.err
    assert "OPENNEBULA_HOST" in captured.out
