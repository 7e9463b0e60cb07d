"""Hostile profiles on the real engines: the container sees only the files the profile names,
and a second deployment is not started on a volume a running container uses."""
import os
import subprocess

from conftest import STANDIN, run_cli, standin_profile

from one_run.engines import get_engine
from one_run.model.runspec import prune_staged, staged_in_use, staged_root


def test_a_patch_linked_to_etc_shows_the_container_only_that_file(engine, tmp_path):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "onecfg_patch").symlink_to("/etc/subuid")
    name = engine.container_name()
    profile = standin_profile(tmp_path, engine, name, body='[config]\nonecfg_patch = "config/onecfg_patch"\n')
    # /etc/subuid holds no patch lines the stand-in takes: a bootstrap that fails is fine here.
    profile.write_text(profile.read_text().replace('restart = "unless-stopped"', 'entrypoint = "/bin/sh"\n'
                                                   'command = ["-c", "sleep 3600"]'))

    result = run_cli("apply", profile)

    assert result.code == 0, result.err
    assert engine.sh(name, "ls -A /config").split() == ["onecfg_patch"]
    assert engine.sh(name, "test -e /config/shadow || echo absent").strip() == "absent"
    sources = [m["Source"] for m in engine.inspect(name)["Mounts"] if m["Type"] == "bind"]
    assert sources and all(str(staged_root(str(profile))) in s for s in sources)
    assert not any(s == "/etc" or s.startswith("/etc/") for s in sources)


def test_staged_folders_in_use_survive_pruning(engine, tmp_path):
    hook = tmp_path / "config" / "post.sh"
    hook.parent.mkdir()
    hook.write_text("#!/bin/bash\necho v1\n")
    hook.chmod(0o755)
    name = engine.container_name()
    profile = standin_profile(tmp_path, engine, name, body='[config]\npost_bootstrap_hook = "config/post.sh"\n')
    assert run_cli("apply", profile).code == 0
    hook.write_text("#!/bin/bash\necho v2\n")
    assert run_cli("render", profile).code == 0  # stages v2, which no container mounts
    assert len(os.listdir(staged_root(str(profile)))) == 2

    removed = prune_staged(str(profile), staged_in_use(get_engine(engine.runtime), name))

    assert len(removed) == 1
    assert engine.sh(name, "cat /config/post.sh") == "#!/bin/bash\necho v1\n"


def test_a_volume_a_running_container_of_another_deployment_uses_is_refused(engine, tmp_path):
    first = engine.container_name()
    profile = standin_profile(tmp_path / "a", engine, first)
    assert run_cli("apply", profile).code == 0
    assert run_cli("apply", profile, "--force").code == 0  # its own container uses it: no refusal
    copy = tmp_path / "b" / "one-run.toml"
    copy.parent.mkdir()
    second = engine.container_name()
    copy.write_text(profile.read_text().replace(first, second))
    volume = profile.read_text().split('volumes = ["')[1].split(":")[0]

    refused = run_cli("apply", copy)

    assert refused.code == 2, refused.err
    assert f"'{volume}'" in refused.err and f"container {first}" in refused.err
    assert "--allow-shared-volume" in refused.err
    assert not engine.exists(second) and not engine.exists(second + "-one-run-new")
    assert run_cli("apply", copy, "--allow-shared-volume").code == 0
    assert engine.inspect(second)["State"]["Running"]


def test_capture_writes_a_gitignore_that_keeps_secrets_out(engine, tmp_path):
    name = engine.container_name()
    engine.cli("create", "--name", name, "-e", "MYSQL_PASSWORD=hunter2", f"{STANDIN}:1")
    folder = tmp_path / "captured"
    assert run_cli("capture", name, "--runtime", engine.runtime, "-o", folder / "one.toml").code == 0
    subprocess.run(["git", "init", "-q", str(folder)], check=True)
    subprocess.run(["git", "-C", str(folder), "add", "-A"], check=True)
    tracked = subprocess.run(["git", "-C", str(folder), "ls-files"], capture_output=True, text=True).stdout.split()
    assert sorted(tracked) == [".gitignore", "one.toml"]
