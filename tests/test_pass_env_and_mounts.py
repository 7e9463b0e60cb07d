"""[container] pass_env (`-e NAME`, the value from where one-run runs) and mounts (`--mount`,
kept as written): validation, render, apply on both engines read back against the same
command run by the engine's CLI, capture, diff, and the passed value kept out of every output."""
import json
import os
import subprocess
import textwrap

import pytest
from conftest import STANDIN, run_cli

from one_run.deploy.snapshot import snapshot_volumes
from one_run.engines import get_engine
from one_run.model.confighash import config_hash
from one_run.model.normalize import from_inspect
from one_run.model.profile import SnapshotPolicy, load_profile
from one_run.model.render import render_text, run_argv
from one_run.model.runspec import build_runspec
from one_run.model.values import parse_mount

SECRET = "s3cret 'value' $x"
CLI = {"docker": "/usr/bin/docker", "podman": "podman"}  # the 20.10 CLI matching the daemon


def write(tmp_path, body: str, runtime: str = "docker", name: str = "opennebula"):
    path = tmp_path / "one-run.toml"
    path.write_text(f'runtime = "{runtime}"\n[watch]\nsettle_time = 1\n[container]\nname = "{name}"\n'
                    f'image = "{STANDIN}:1"\n' + textwrap.dedent(body))
    return path


# --- validation ------------------------------------------------------------------------

@pytest.mark.parametrize("text, mount", [
    ("type=volume,source=onedata,target=/var/lib/one", ("volume", "onedata", "/var/lib/one", False)),
    ("type=tmpfs,target=/scratch,tmpfs-size=64m,tmpfs-mode=1770", ("tmpfs", "", "/scratch", False)),
    ("type=bind,source=/srv/x,target=/x,readonly", ("bind", "/srv/x", "/x", True)),
    ("type=volume,src=onedata,dst=/data,ro=true", ("volume", "onedata", "/data", True)),
    ('type=bind,"source=/srv/a,b",destination=/x,ro=false', ("bind", "/srv/a,b", "/x", False)),
])
def test_a_mount_reads_as_the_docker_cli_reads_it(text, mount):
    m = parse_mount(text)
    assert (m.kind, m.source, m.target, m.read_only) == mount and m.text == text


def test_tmpfs_size_and_mode_are_read_in_bytes_and_octal():
    m = parse_mount("type=tmpfs,target=/scratch,tmpfs-size=64m,tmpfs-mode=1770")
    assert (m.size, m.mode) == (64 * 1024 ** 2, 0o1770)


@pytest.mark.parametrize("runtime, body, expected", [
    ("docker", 'pass_env = ["ONE_X"]\n[env]\nONE_X = "1"\n', ["[container.pass_env]", "in pass_env and in [env]",
                                                              "remove it from [env]"]),
    ("docker", 'pass_env = ["1X"]\n', ["[container.pass_env]", "'1X' is not an environment variable name"]),
    ("docker", 'pass_env = ["A", "A"]\n', ["A is named twice"]),
    ("docker", 'pass_env = ["MAINTENANCE_MODE"]\n', ["[container.pass_env]", "set by `maintenance`"]),
    ("docker", 'mounts = ["type=bind,source=/tmp,target=/x,consistency=cached"]\n',
     ["[container.mounts]", "'consistency' is not one one-run takes", "use `volumes` or `tmpfs`"]),
    ("docker", 'mounts = ["source=v1,target=/x"]\n', ["begins with type=bind, type=volume or type=tmpfs"]),
    ("docker", 'mounts = ["type=bind,source=rel,target=/x"]\n', ["must be an absolute host path"]),
    ("docker", 'mounts = ["type=volume,target=/x"]\n', ["must name the volume", "write it in `volumes`"]),
    ("docker", 'mounts = ["type=tmpfs,target=/x,bind-propagation=rslave"]\n',
     ["bind-propagation does not apply to a tmpfs mount"]),
    ("docker", 'mounts = ["type=tmpfs,target=x"]\n', ["target must be an absolute container path"]),
    ("docker", 'mounts = ["type=tmpfs,target=/x,tmpfs-mode=rwx"]\n', ["is not octal permission bits"]),
    ("docker", 'volumes = ["v1:/data"]\nmounts = ["type=volume,source=v2,target=/data/"]\n',
     ["mounts at /data, and so does `volumes`", "keep one mount per container path"]),
    ("docker", 'tmpfs = ["/t"]\nmounts = ["type=tmpfs,target=/t"]\n', ["mounts at /t, and so does `tmpfs`"]),
    ("podman", 'mounts = ["type=volume,source=v1,target=/d,volume-nocopy"]\n', ["Podman's --mount refuses volume-nocopy"]),
    ("podman", 'mounts = ["type=tmpfs,target=/t,readonly"]\n', ["readonly on a bind only", "write ro"]),
])
def test_a_bad_pass_env_or_mount_is_refused_naming_the_key_and_the_fix(tmp_path, runtime, body, expected):
    path = write(tmp_path, body, runtime)
    result = run_cli("validate", path)
    assert result.code == 2, result.err
    for part in expected:
        assert part in result.err


def test_a_bind_mount_of_a_missing_or_system_folder_is_refused_like_a_volume(tmp_path):
    missing = run_cli("validate", write(tmp_path, 'mounts = ["type=bind,source=/nonexistent-x,target=/x"]\n'))
    assert missing.code == 2 and "[container.mounts]: host path /nonexistent-x does not exist" in missing.err
    system = run_cli("validate", write(tmp_path, 'mounts = ["type=bind,source=/etc,target=/x"]\n'))
    assert system.code == 2 and "mounts the host's /etc into the container" in system.err


def test_named_volumes_of_mounts_are_data_volumes_for_the_snapshot(tmp_path):
    path = write(tmp_path, 'volumes = ["v1:/a"]\nmounts = ["type=volume,source=v2,target=/b", '
                           '"type=tmpfs,target=/t"]\n[snapshot]\nvolumes = ["v2"]\n')
    spec = build_runspec(load_profile(path))
    assert snapshot_volumes(spec, (), SnapshotPolicy()) == [("v1", "/a"), ("v2", "/b")]
    assert snapshot_volumes(spec, (), load_profile(path).snapshot) == [("v2", "/b")]


# --- render and the hash ------------------------------------------------------------------

def test_render_passes_names_and_mounts_as_written_and_never_the_value(tmp_path, monkeypatch):
    monkeypatch.setenv("ONE_PASSWORD", SECRET)
    mounts = ["type=volume,source=onedata,target=/var/lib/one", "type=tmpfs,target=/scratch,tmpfs-size=64m"]
    path = write(tmp_path, f'pass_env = ["ONE_PASSWORD"]\nmounts = {json.dumps(mounts)}\n')
    spec = build_runspec(load_profile(path))
    for show in (False, True):
        argv = run_argv(spec, show_secrets=show)
        assert argv[argv.index("-e") + 1] == "ONE_PASSWORD"
        assert [argv[i + 1] for i, w in enumerate(argv) if w == "--mount"] == mounts
        assert SECRET not in render_text(spec, show_secrets=show)
    assert "export" not in render_text(spec)  # the shell that runs the command has it already


def test_the_hash_follows_the_passed_value_without_holding_it(tmp_path, monkeypatch):
    spec = build_runspec(load_profile(write(tmp_path, 'pass_env = ["ONE_PASSWORD"]\n')))
    from one_run.model.secrets import resolve_env

    hashes = []
    for value in (SECRET, "other", None):
        if value is None:
            monkeypatch.delenv("ONE_PASSWORD", raising=False)
        else:
            monkeypatch.setenv("ONE_PASSWORD", value)
        env, secrets = resolve_env(spec)
        assert env == {"ONE_PASSWORD": value}
        hashes.append(config_hash(spec, secrets, "00" * 16))
    assert len(set(hashes)) == 3


# --- on the engines -----------------------------------------------------------------------

def _normal(runtime: str, name: str) -> dict:
    engine = get_engine(runtime)
    info = engine.get(name)
    return from_inspect(info.attrs, engine.image_attrs(info.image_id), runtime).fields


def test_apply_makes_what_the_rendered_command_makes_and_capture_and_diff_follow(engine, tmp_path, monkeypatch):
    host = tmp_path / "host"
    host.mkdir()
    volume = engine.volume_name()
    mounts = [f"type=volume,source={volume},target=/data", "type=tmpfs,target=/scratch,tmpfs-size=16m,tmpfs-mode=1770",
              f"type=bind,source={host},target=/x,readonly"]
    name = engine.container_name()
    path = write(tmp_path, f'pass_env = ["ONE_RUN_SET", "ONE_RUN_UNSET"]\nmounts = {json.dumps(mounts)}\n',
                 engine.runtime, name)
    monkeypatch.setenv("ONE_RUN_SET", SECRET)
    monkeypatch.delenv("ONE_RUN_UNSET", raising=False)
    plan = run_cli("apply", path, "--dry-run")
    applied = run_cli("apply", path)
    assert applied.code == 0, applied.err
    for output in (plan.out, plan.err, applied.out, applied.err):
        assert SECRET not in output
    from one_run.deploy.lock import state_dir

    for folder in (tmp_path, state_dir()):  # history and the staged files beside the profile; journals
        for where, _, files in os.walk(folder):
            for file in files:
                with open(os.path.join(where, file), "rb") as f:
                    assert SECRET.encode() not in f.read(), os.path.join(where, file)
    assert SECRET not in json.dumps(engine.inspect(name)["Config"]["Labels"])

    attrs = engine.inspect(name)
    env = attrs["Config"]["Env"]
    assert f"ONE_RUN_SET={SECRET}" in env
    # Docker keeps the name given without a value; Podman leaves it out, as their CLIs do.
    assert ("ONE_RUN_UNSET" in env) == (engine.runtime == "docker")
    if engine.runtime == "docker":
        assert [(m["Type"], m["Target"], m.get("ReadOnly", False)) for m in attrs["HostConfig"]["Mounts"]] == [
            ("volume", "/data", False), ("tmpfs", "/scratch", False), ("bind", "/x", True)]
        assert attrs["HostConfig"]["Mounts"][1]["TmpfsOptions"] == {"SizeBytes": 16 * 1024 ** 2, "Mode": 0o1770}
    else:
        assert "mode=1770" in attrs["HostConfig"]["Tmpfs"]["/scratch"]
    assert any(m["Destination"] == "/x" and not m["RW"] for m in attrs["Mounts"])

    # The rendered command, run by the engine's CLI in the same environment, makes the same container.
    twin = engine.container_name()
    argv = run_argv(build_runspec(load_profile(path)))
    argv[0], argv[argv.index("--name") + 1] = CLI[engine.runtime], twin
    subprocess.run(argv, check=True, capture_output=True, env=dict(os.environ))
    engine.containers.append(twin)
    assert _normal(engine.runtime, twin) == _normal(engine.runtime, name)

    for value, code, first in ((SECRET, 0, "in sync"), ("changed", 1, "env.ONE_RUN_SET: changed (secret, values not shown)")):
        monkeypatch.setenv("ONE_RUN_SET", value)
        diff = run_cli("diff", path)
        assert SECRET not in diff.out + diff.err
        assert diff.code == code and diff.out.startswith(first), diff.out
    monkeypatch.setenv("ONE_RUN_SET", SECRET)
    path.write_text(path.read_text().replace("target=/x,readonly", "target=/x"))
    diff = run_cli("diff", path)
    assert diff.code == 1
    assert f"mounts /x: type=bind,source={host},target=/x,ro → type=bind,source={host},target=/x" in diff.out

    out = tmp_path / "captured" / "one-run.toml"
    captured = run_cli("capture", name, "--runtime", engine.runtime, "-o", out)
    assert captured.code == 0, captured.err
    c = load_profile(out).container
    assert c.pass_env == ("ONE_RUN_UNSET",)  # the set one is a value in [env], as the engine shows it
    assert {(m.kind, m.target, m.read_only) for m in c.mounts} == {
        ("volume", "/data", False), ("tmpfs", "/scratch", False), ("bind", "/x", True)}
    assert "written as a -v volume" not in captured.err
    # The same container: only the wording differs (the set value is written in [env] now).
    diff = run_cli("diff", out)
    assert [line.split(":")[0] for line in diff.out.splitlines()] == ["one-run.hash"], diff.out


def test_validate_warns_of_a_passed_name_not_set_here(tmp_path, monkeypatch):
    monkeypatch.delenv("ONE_RUN_UNSET", raising=False)
    result = run_cli("validate", write(tmp_path, 'pass_env = ["ONE_RUN_UNSET"]\n'))
    assert result.code == 0
    assert "[container.pass_env]: ONE_RUN_UNSET is not set in this environment" in result.err
    assert "export ONE_RUN_UNSET=... before running one-run" in result.err


def test_what_a_docker_mount_sets_beyond_a_profiles_mounts_is_named_not_dropped():
    attrs = {"Config": {"Env": ["ONE_RUN_UNSET"]}, "HostConfig": {"Mounts": [
        {"Type": "bind", "Source": "/", "Target": "/x", "ReadOnly": True, "Consistency": "cached"},
        {"Type": "volume", "Source": "v1", "Target": "/v",
         "VolumeOptions": {"NoCopy": True, "DriverConfig": {"Options": {"type": "tmpfs"}}}}]}}
    normal = from_inspect(attrs, None, "docker")
    assert normal.fields["mounts"] == {"/x": ("bind", "/", ("ro",)), "/v": ("volume", "v1", ("nocopy",))}
    assert normal.extras == {"mount /x options": '{"Consistency": "cached"}',
                             "mount /v options": '{"VolumeOptions": {"DriverConfig": {"Options": {"type": "tmpfs"}}}}'}
    assert repr(normal.fields["env"]["ONE_RUN_UNSET"]) == "UNSET"


def test_a_tmpfs_of_size_0_is_what_each_engines_cli_makes_and_diff_sees_it_in_sync(engine, tmp_path):
    """Docker takes tmpfs-size=0 as no size at all (the kernel's default, half the memory);
    Podman passes size=0, which the kernel reads as no limit. apply makes what the engine's own
    CLI makes of the rendered --mount, and diff reads it back in sync."""
    from conftest import standin_profile

    name, by_cli = engine.container_name(), engine.container_name()
    profile = standin_profile(tmp_path, engine, name, container='mounts = ["type=tmpfs,target=/t,tmpfs-size=0"]\n',
                              watch="settle_time = 0\n")
    assert run_cli("apply", profile).code == 0
    engine.cli("run", "-d", "--name", by_cli, "--mount", "type=tmpfs,target=/t,tmpfs-size=0", f"{STANDIN}:1")

    def options(container):
        return engine.sh(container, "grep ' /t ' /proc/mounts").split()[3].split(",")

    assert options(name) == options(by_cli)
    assert ("size=0k" in options(name)) == (engine.runtime == "podman")
    result = run_cli("diff", profile)
    assert result.code == 0, result.out
