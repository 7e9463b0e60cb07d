"""Nothing is lost without a word: what apply, capture and diff cannot carry they name.

Each test is one of issue 14's silent changes, on the real engines: a container made with
the engine's own CLI (or a profile applied), captured, and diffed.
"""
import subprocess
from pathlib import Path

import pytest
from conftest import STANDIN, run_cli, standin_profile

from one_run.model.profile import load_profile

DOCKER_CLI = "/usr/bin/docker"  # the 20.10 CLI matching the daemon; the 28.x one refuses some options


def by_hand(engine, *args) -> str:
    """`run -d` with the engine's own CLI; the container's name."""
    name = engine.container_name()
    cli = DOCKER_CLI if engine.runtime == "docker" else "podman"
    subprocess.run([cli, "run", "-d", "--name", name, *map(str, args), f"{STANDIN}:1"], check=True,
                   capture_output=True, text=True, env=_without("ONE_RUN_UNSET"))
    return name


def _without(name: str) -> dict:
    import os

    env = dict(os.environ)
    env.pop(name, None)
    return env


def capture(engine, name: str, tmp_path: Path):
    out = tmp_path / "captured" / "one-run.toml"
    result = run_cli("capture", name, "--runtime", engine.runtime, "-o", out)
    assert result.code == 0, result.err
    return out, result.err


def test_a_source_mounted_twice_keeps_both_mounts(engine, tmp_path):
    name = engine.container_name()
    folder = tmp_path / "x"
    folder.mkdir()
    volume = engine.volume_name()
    profile = standin_profile(tmp_path / "p", engine, name)
    text = profile.read_text().replace(
        'volumes = [', f'volumes = ["{folder}:/a", "{folder}:/b:ro", "{volume}:/c", "{volume}:/d:ro", ')
    profile.write_text(text)

    applied = run_cli("apply", profile)
    assert applied.code == 0, applied.err
    mounts = {m["Destination"]: (m.get("Source") or m.get("Name"), m["RW"])
              for m in engine.inspect(name)["Mounts"] if m["Destination"] in ("/a", "/b", "/c", "/d")}
    assert set(mounts) == {"/a", "/b", "/c", "/d"}
    assert not mounts["/b"][1] and not mounts["/d"][1] and mounts["/a"][1] and mounts["/c"][1]
    diff = run_cli("diff", profile)
    assert diff.code == 0, diff.out


def user_network(engine):
    """A user-defined network with a subnet of its own (one free among a few tried)."""
    import random

    name = engine.unique("net")
    for _ in range(20):
        subnet = f"10.{random.randint(64, 250)}.{random.randint(0, 255)}.0/24"
        if engine.cli("network", "create", "--subnet", subnet, name, check=False).returncode == 0:
            engine.networks.append(name)
            return name, subnet.rsplit(".", 1)[0]
    pytest.fail("no free subnet for a test network")


@pytest.fixture
def networks(engine):
    engine.networks = []
    yield
    for name in engine.networks:
        engine.cli("network", "rm", name, check=False)


def test_options_are_carried_or_named_by_capture_and_diff(engine, networks, tmp_path, monkeypatch):
    monkeypatch.delenv("ONE_RUN_UNSET", raising=False)
    network, prefix = user_network(engine)
    volume = engine.volume_name()
    name = by_hand(engine, "--network", network, "--ip", f"{prefix}.10", "--network-alias", "frontend",
                   "--log-opt", "max-size=10m", "--expose", "9999",
                   "--mount", f"type=volume,source={volume},target=/data", "-e", "ONE_RUN_UNSET")
    out, err = capture(engine, name, tmp_path)
    captured = load_profile(out).container
    assert (captured.network, captured.ip, captured.network_aliases) == (network, f"{prefix}.10", ("frontend",))
    assert (captured.log_opts, captured.expose) == ({"max-size": "10m"}, ("9999",))  # carried
    # Named without a value, not turned into ONE_RUN_UNSET=""; the --mount kept as one, with no
    # :z the user did not ask for.
    assert captured.pass_env == ("ONE_RUN_UNSET",) and "[env]" not in out.read_text()
    assert [m.text for m in captured.mounts] == [f"type=volume,source={volume},target=/data"]
    assert not captured.volumes

    diff = run_cli("diff", out)  # only that one-run did not make it
    assert [line.split(":")[0] for line in diff.out.splitlines()] == ["one-run.hash"], diff.out
