"""Nothing is lost without a word: what apply, capture and diff cannot carry they name.

Each test is one of issue 14's silent changes, on the real engines: a container made with
the engine's own CLI (or a profile applied), captured, and diffed.
"""
import json
import subprocess
from pathlib import Path

import pytest

from conftest import STANDIN, run_cli, standin_profile

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
