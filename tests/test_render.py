"""A profile in, the exact docker/podman run argv out; the printed text is that argv in bash."""
import json
import os
import shlex
import subprocess
import textwrap
from pathlib import Path

import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from one_run.cli import main
from one_run.model.profile import load_profile
from one_run.model.render import render_text, run_argv
from one_run.model.runspec import build_runspec

PROFILES = Path(__file__).resolve().parent.parent / "profiles"


def argv_of(path, runtime=None, show_secrets=False):
    return run_argv(build_runspec(load_profile(path, runtime)), show_secrets)


def test_full_example_renders_the_documented_command():
    folder = PROFILES / "full"
    argv = argv_of(folder / "one-run.toml")
    assert argv[:7] == ["docker", "run", "-d", "--name", "opennebula", "--hostname", "one.example.com"]
    assert argv[7:12] == ["--privileged", "--restart", "unless-stopped", "--stop-timeout", "180"]
    pairs = list(zip(argv[12:-1:2], argv[13:-1:2]))
    assert [v for k, v in pairs if k == "-p"] == [
        "2222:22", "80:80", "443:443", "2474:2475", "2633:2634", "4124:4124", "4124:4124/udp", "5030:5031", "29876:29876"]
    env = [v for k, v in pairs if k == "-e"]
    assert env == [
        "OPENNEBULA_HOST=one.example.com", "OPENNEBULA_SSH_HOST=one.example.com", "DIND_ENABLED=yes",
        "ONEADMIN_PASSWORD", "MYSQL_PASSWORD",
        "TLS_CERT=/certs/cert.pem", "TLS_KEY=/certs/cert.key",
        "ONEADMIN_SSH_PRIVKEY=/ssh/id_ed25519", "ONEADMIN_SSH_PUBKEY=/ssh/id_ed25519.pub",
        "OPENNEBULA_ONECFG_PATCH=/config/onecfg_patch",
        "OPENNEBULA_PREBOOTSTRAP_HOOK=/config/pre-bootstrap-hook.sh",
        "OPENNEBULA_POSTBOOTSTRAP_HOOK=/config/post-bootstrap-hook.sh"]
    volumes = [v for k, v in pairs if k == "-v"]
    assert len(volumes) == 11
    staged = [v.rsplit(":", 2)[0] for v in volumes[-3:]]
    assert [v.split(":", 1)[1] for v in volumes[-3:]] == ["/certs:z,ro", "/ssh:z,ro", "/config:z,ro"]
    assert {os.path.dirname(s) for s in staged} == {os.path.dirname(staged[0])}
    assert os.path.dirname(os.path.dirname(staged[0])) == f"{folder}/.one-run/one-run/staged"
    assert ("--label", "org.example.owner=cloud-team") in pairs
    assert argv[-1] == "docker.io/opennebula/opennebula:6.0"


def test_docker_and_podman_differ_only_in_the_program():
    for example in ("minimal.toml", "full/one-run.toml", "podman/one-run.toml"):
        docker, podman = (argv_of(PROFILES / example, r) for r in ("docker", "podman"))
        assert docker[0] == "docker" and podman[0] == "podman"
        assert docker[1:] == podman[1:]


def test_secrets_pass_by_name_unless_shown(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ONE_ADMIN_PASSWORD", "pa$$ 'word'")
    path = PROFILES / "full" / "one-run.toml"
    assert main(["render", str(path)]) == 0
    text = capsys.readouterr().out
    assert "pa$$" not in text and "example-mysql-password" not in text
    assert '#   export ONEADMIN_PASSWORD="$ONE_ADMIN_PASSWORD"' in text
    assert "-e ONEADMIN_PASSWORD \\" in text
    assert main(["render", str(path), "--show-secrets", "--format", "json"]) == 0
    argv = json.loads(capsys.readouterr().out)
    assert "ONEADMIN_PASSWORD=pa$$ 'word'" in argv
    assert "MYSQL_PASSWORD=example-mysql-password-not-a-secret" in argv


def test_maintenance_and_inline_patch(tmp_path, capsys):
    path = tmp_path / "p.toml"
    path.write_text(textwrap.dedent("""\
        maintenance = true
        [container]
        name = "one"
        image = "img:1"
        [config]
        onecfg_patch = ["/etc/one/sched.conf set SCHED_INTERVAL 10"]
        """))
    assert main(["render", str(path), "--format", "json"]) == 0
    argv = json.loads(capsys.readouterr().out)
    [config] = [v.split(":")[0] for v in argv if v.endswith(":/config:z,ro")]
    assert "MAINTENANCE_MODE=yes" in argv
    assert os.path.dirname(os.path.dirname(config)) == str(tmp_path / ".one-run" / "p" / "staged")
    assert "OPENNEBULA_ONECFG_PATCH=/config/onecfg_patch" in argv
    assert (Path(config) / "onecfg_patch").read_text() == "/etc/one/sched.conf set SCHED_INTERVAL 10\n"


def test_an_inline_patch_and_hooks_of_another_folder_share_the_staged_config(tmp_path, capsys):
    hook = tmp_path / "custom" / "post.sh"
    hook.parent.mkdir()
    hook.write_text("#!/bin/bash\n")
    hook.chmod(0o755)
    path = tmp_path / "p.toml"
    path.write_text(textwrap.dedent("""\
        [container]
        name = "one"
        image = "img:1"
        [config]
        onecfg_patch = ["/etc/one/sched.conf set SCHED_INTERVAL 10"]
        post_bootstrap_hook = "custom/post.sh"
        """))
    assert main(["render", str(path), "--format", "json"]) == 0
    argv = json.loads(capsys.readouterr().out)
    [config] = [v.split(":")[0] for v in argv if v.endswith(":/config:z,ro")]
    assert sorted(os.listdir(config)) == ["onecfg_patch", "post.sh"]
    assert "OPENNEBULA_POSTBOOTSTRAP_HOOK=/config/post.sh" in argv


# --- quoting: the printed text IS the argv --------------------------------------

printable = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)
env_names = st.from_regex(r"[A-Z][A-Z0-9_]{0,12}", fullmatch=True)
path_words = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00/:,\n\r"),
                     min_size=1, max_size=12).filter(lambda w: w not in (".", ".."))


def stub_dir(tmp_path):
    stub = tmp_path / "bin"
    stub.mkdir(exist_ok=True)
    for program in ("docker", "podman"):
        script = stub / program
        script.write_text('#!/bin/sh\nprintf "%s\\0" "$0" "$@" > "$ARGV_OUT"\n')
        script.chmod(0o755)
    return stub


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(env=st.dictionaries(env_names, printable, max_size=5), folder=path_words,
       label=printable, runtime=st.sampled_from(["docker", "podman"]))
def test_rendered_text_through_bash_gives_exactly_the_argv(tmp_path, env, folder, label, runtime):
    data_dir = tmp_path / folder
    data_dir.mkdir(exist_ok=True)
    profile = {"runtime": runtime,
               "container": {"name": "one", "image": "img:1", "labels": {"note": label},
                             "volumes": [f"{data_dir}:/data:ro"]},
               "env": env}
    path = tmp_path / "p.toml"
    path.write_text(tomli_w.dumps(profile))
    spec = build_runspec(load_profile(path))
    argv = run_argv(spec)
    text = render_text(spec)
    # bash drops the renderer's "\\<newline>" continuations; shlex does not know them
    assert shlex.split(text.replace(" \\\n  ", " "), comments=True) == argv
    out = tmp_path / "argv"
    stub = stub_dir(tmp_path)
    env_vars = {**os.environ, "PATH": f"{stub}:{os.environ['PATH']}", "ARGV_OUT": str(out)}
    subprocess.run(["bash", "-c", text], env=env_vars, check=True)
    received = out.read_bytes().decode().split("\0")[:-1]
    assert [os.path.basename(received[0])] + received[1:] == argv


# --- fuzz: any document, any bytes: exit 0 or 2, never a traceback ---------------

toml_scalars = st.one_of(st.booleans(), st.integers(-2 ** 63, 2 ** 63 - 1), printable,
                         st.floats(allow_nan=False))
toml_values = st.recursive(toml_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(printable, inner, max_size=4)), max_leaves=12)
keys = st.sampled_from(["runtime", "maintenance", "settle_time", "container", "env", "tls", "ssh", "config",
                        "name", "image", "ports", "volumes", "restart", "ulimits", "labels", "onecfg_patch"])
documents = st.recursive(
    st.dictionaries(st.one_of(keys, printable), toml_values, max_size=5),
    lambda inner: st.dictionaries(keys, st.one_of(inner, toml_values), max_size=5), max_leaves=20)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=documents)
def test_any_toml_document_is_exit_0_or_2(tmp_path, capsys, document):
    path = tmp_path / "fuzz.toml"
    path.write_text(tomli_w.dumps(document))
    assert main(["render", str(path)]) in (0, 2)
    capsys.readouterr()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300))
def test_any_bytes_are_exit_0_or_2(tmp_path, capsys, data):
    path = tmp_path / "fuzz.toml"
    path.write_bytes(data)
    assert main(["render", str(path)]) in (0, 2)
    assert "Traceback" not in capsys.readouterr().err
