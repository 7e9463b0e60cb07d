"""Each validation rule: a bad profile in, exit 2 and a message naming file, key, line and fix out."""
import os
import textwrap

import pytest

from one_run.cli import main

BASE = """\
[container]
name = "opennebula"
image = "docker.io/opennebula/opennebula:6.0"
"""


def write(tmp_path, text, name="p.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def hook(tmp_path, name="config/pre.sh", body="#!/bin/bash\nexit 0\n", mode=0o755):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    path.chmod(mode)
    return path


def test_a_valid_minimal_profile_passes(tmp_path, capsys):
    code, out, err = run(capsys, "validate", str(write(tmp_path, BASE)))
    assert code == 0, err
    assert "valid" in out


@pytest.mark.parametrize("text, expected", [
    ("[container\nname = 1\n", ["malformed TOML", ":1"]),
    (BASE + "[contaner]\nx = 1\n", ["unknown key `contaner`", ":4", "did you mean `container`"]),
    (BASE + "privilegd = true\n", ["unknown key `privilegd`", ":4", "did you mean `privileged`"]),
    (BASE + "privileged = \"yes\"\n", ["`privileged` must be true or false", ":4"]),
    ("[container]\nname = \"one\"\n", ["missing required key `image`", "[container]"]),
    (BASE + "restart = \"sometimes\"\n", ["restart policy", "on-failure[:N]", ":4"]),
    (BASE + "ports = [\"80:80\", \"99999:80\"]\n", ["not a port number", "container.ports", ":4"]),
    (BASE + "ports = [\"1.2.3:80:80\"]\n", ["not an IP address"]),
    (BASE + "volumes = [\"data:relative/path\"]\n", ["must be absolute", "container.volumes"]),
    (BASE + "volumes = [\"data:/x:rw,bogus\"]\n", ["volume option 'bogus'"]),
    (BASE + "volumes = [\"va:/x\", \"vb:/x\"]\n", ["two volumes are mounted at /x"]),
    (BASE + "volumes = [\"./missing:/x\"]\n", ["does not exist", "container.volumes"]),
    (BASE + "[container.ulimits]\nnofile = \"20:10\"\n", ["soft limit 20 is above hard limit 10"]),
    (BASE + "[env]\nDIND_ENABLED = \"true\"\n", ["DIND_ENABLED", "yes or no", "env.DIND_ENABLED", ":5"]),
    (BASE + "[env]\nDIND_ENABLED = true\n", ["the image reads yes/no strings", 'DIND_ENABLED = "yes"']),
    (BASE + "[env]\nOPENNEBULA_SERVICE = \"everything\"\n", ["is not one of all"]),
    (BASE + "[env]\nMONITORD_PORT = \"port\"\n", ["not a port number"]),
    (BASE + "[env]\nX = { vault = \"k\" }\n", ["unknown key `vault`", "exactly one key, `env` or `file`",
                                              'X = { env = "VAR" } or X = { file = "path" }']),
    (BASE + "[env]\nX = { env = \"A\", file = \"b\" }\n", ["X has `env` and `file`", "exactly one key"]),
    (BASE + "[env]\nMAINTENANCE_MODE = \"yes\"\n", ["set by `maintenance`", "maintenance = true"]),
    (BASE + "[env]\nP = { file = \"nope\" }\n", ["secret file", "does not exist", "env.P"]),
    (BASE + "[tls]\ncert = \"c.pem\"\n", ["missing required key `key` in [tls]"]),
    (BASE + "[tls]\ncert = \"none.pem\"\nkey = \"none.key\"\n", ["none.pem does not exist", "tls.cert", ":5"]),
    (BASE + "volumes = [\"vx:/certs\"]\n[tls]\ncert = \"a/c.pem\"\nkey = \"a/c.key\"\n", ["mounts over /certs"]),
    (BASE + "[config]\nonecfg_patch = [\"/etc/one/oned.conf set A\"]\n", ["set needs a JSON value", "inline line 1"]),
    (BASE + "[config]\nonecfg_patch = [\"oned.conf set A 1\"]\n", ["must be an absolute path"]),
    (BASE + "[config]\nonecfg_patch = [\"/etc/one/oned.conf rm A 1\"]\n", ["rm takes no value"]),
    (BASE + "[config]\nonecfg_patch = [\"/etc/one/oned.conf put A 1\"]\n", ["'put' is not ins, set or rm"]),
    (BASE + "[config]\nonecfg_patch = [\"/etc/one/oned.conf set A 'x'\"]\n", ["not valid JSON", "double quotes"]),
    (BASE + "[config]\nonecfg_patch = ['/etc/one/oned.conf set \"A B 1']\n", ["unclosed double quote"]),
])
def test_each_rule_names_where_and_how(tmp_path, capsys, text, expected):
    for name in ("a/c.pem", "a/c.key"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("x")
    path = write(tmp_path, text)
    code, out, err = run(capsys, "render", str(path))
    assert code == 2
    assert str(path) in err
    for part in expected:
        assert part in err
    assert out == ""


@pytest.mark.parametrize("first, second, bound", [
    ("42222:22", "42222:80", "42222/tcp"),
    ("8000-8002:8000-8002", "8001:80", "8001/tcp"),
    ("8000-8005:8000-8005", "8003-8010:9003-9010", "8003-8005/tcp"),
    ("127.0.0.1:53:53/udp", "53:5353/udp", "53/udp"),
    ("0.0.0.0:80:80", "127.0.0.1:80:8080", "80/tcp"),
    ("[::1]:80:80", "80:8080", "80/tcp"),
])
def test_a_host_port_bound_twice_is_refused_naming_both(tmp_path, capsys, first, second, bound):
    path = write(tmp_path, BASE + f'ports = ["{first}", "{second}"]\n')
    code, out, err = run(capsys, "validate", str(path))
    assert code == 2 and out == ""
    assert f"{path}:4 [container.ports]: '{first}' and '{second}' both bind host port {bound}" in err
    assert "give one of them another host port" in err


@pytest.mark.parametrize("first, second", [
    ("42222:22", "42222:22/udp"),
    ("127.0.0.1:80:80", "127.0.0.2:80:80"),
    ("0.0.0.0:80:80", "[::1]:80:80"),
    ("8000-8002:8000-8002", "8003:80"),
    ("80", "80/udp"),
    ("80:80", "8080:80"),
])
def test_ports_on_other_protocols_addresses_or_numbers_pass(tmp_path, capsys, first, second):
    path = write(tmp_path, BASE + f'ports = ["{first}", "{second}"]\n')
    code, _, err = run(capsys, "validate", str(path))
    assert code == 0, err


def test_a_wrong_item_in_a_string_array_is_named_by_its_index_not_the_whole_array(tmp_path, capsys):
    path = write(tmp_path, BASE + 'ports = ["42222:80", 42222]\ndns = ["192.0.2.53", true]\n'
                                  '[config]\nonecfg_patch = ["/etc/one/sched.conf set SCHED_INTERVAL 10", { a = 1 }]\n')
    code, _, err = run(capsys, "validate", str(path))
    assert code == 2
    assert (f'{path}:4 [container.ports]: container.ports[1] = 42222 is a number, not a string'
            f' — write it as a string, host port first, e.g. "42222:42222"') in err
    assert f'{path}:5 [container.dns]: container.dns[1] = true is a boolean, not a string — write it in quotes' in err
    assert f"{path}:7 [config.onecfg_patch]: config.onecfg_patch[1] = {{ ... }} is a table" in err
    assert "42222:80" not in err and "SCHED_INTERVAL" not in err


def test_a_mistyped_secret_reference_names_the_key_and_the_closest_one_never_the_value(tmp_path, capsys):
    path = write(tmp_path, BASE + '[env]\nONEADMIN_PASSWORD = { fiel = "hunter2" }\n')
    code, _, err = run(capsys, "validate", str(path))
    assert code == 2
    assert (f"{path}:5 [env.ONEADMIN_PASSWORD]: secret reference of ONEADMIN_PASSWORD: unknown key `fiel`; "
            "the table takes exactly one key, `env` or `file` — did you mean `file`? "
            'write ONEADMIN_PASSWORD = { file = "path" }') in err
    assert "hunter2" not in err


def test_hook_must_be_executable_with_a_shebang(tmp_path, capsys):
    hook(tmp_path, "config/pre.sh", mode=0o644)
    hook(tmp_path, "config/post.sh", body="echo no shebang\n")
    path = write(tmp_path, BASE + "[config]\npre_bootstrap_hook = \"config/pre.sh\"\n"
                                  "post_bootstrap_hook = \"config/post.sh\"\n")
    code, _, err = run(capsys, "validate", str(path))
    assert code == 2
    assert "config.pre_bootstrap_hook" in err and "is not executable" in err and "chmod +x" in err
    assert "config.post_bootstrap_hook" in err and "no #! line" in err


def test_customization_files_from_two_folders_are_staged_together_unless_their_names_clash(tmp_path, capsys):
    hook(tmp_path, "config/pre.sh")
    hook(tmp_path, "elsewhere/post.sh")
    path = write(tmp_path, BASE + "[config]\npre_bootstrap_hook = \"config/pre.sh\"\n"
                                  "post_bootstrap_hook = \"elsewhere/post.sh\"\n")
    code, out, _ = run(capsys, "render", str(path))
    assert code == 0 and "OPENNEBULA_POSTBOOTSTRAP_HOOK=/config/post.sh" in out

    hook(tmp_path, "elsewhere/pre.sh")
    write(tmp_path, BASE + "[config]\npre_bootstrap_hook = \"config/pre.sh\"\n"
                           "post_bootstrap_hook = \"elsewhere/pre.sh\"\n")
    code, _, err = run(capsys, "render", str(path))
    assert code == 2 and "config.post_bootstrap_hook" in err
    assert "would both be /config/pre.sh in the container" in err and "rename one of them" in err


def test_patch_file_lines_are_checked_with_their_line_number(tmp_path, capsys):
    patch = tmp_path / "config" / "onecfg_patch"
    patch.parent.mkdir()
    patch.write_text("# comment\n\n/etc/one/sched.conf set SCHED_INTERVAL 10\n/etc/one/oned.conf ins X\n")
    path = write(tmp_path, BASE + "[config]\nonecfg_patch = \"config/onecfg_patch\"\n")
    code, _, err = run(capsys, "validate", str(path))
    assert code == 2
    assert "onecfg_patch line 4" in err and "ins needs a JSON value" in err


def test_unknown_image_parameter_is_a_warning_with_the_closest_name(tmp_path, capsys):
    path = write(tmp_path, BASE + "[env]\nOPENNEBULA_HOTS = \"one\"\n")
    code, out, err = run(capsys, "validate", str(path))
    assert code == 0
    assert "warning" in err and "did you mean OPENNEBULA_HOST" in err
    code, _, err = run(capsys, "validate", "--strict", str(path))
    assert code == 2
    assert err.splitlines()[-1] == "error: --strict: the warnings above count as errors; nothing was touched"


def test_world_readable_private_key_is_a_warning(tmp_path, capsys):
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    secret.chmod(0o644)
    path = write(tmp_path, BASE + "[env]\nONEADMIN_PASSWORD = { file = \"pw\" }\n")
    code, _, err = run(capsys, "render", str(path))
    assert code == 0
    assert "readable by group or others" in err and "chmod 600" in err
    assert "s3cret" not in err


def test_secret_variable_must_be_set_for_validate_but_not_for_render(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("ONE_RUN_TEST_PW", raising=False)
    path = write(tmp_path, BASE + "[env]\nONEADMIN_PASSWORD = { env = \"ONE_RUN_TEST_PW\" }\n")
    assert run(capsys, "render", str(path))[0] == 0
    code, _, err = run(capsys, "validate", str(path))
    assert code == 2 and "$ONE_RUN_TEST_PW is not set" in err


def test_a_profile_that_is_not_utf8_or_missing_is_exit_2(tmp_path, capsys):
    path = tmp_path / "bin.toml"
    path.write_bytes(b"\xff\xfe[container]")
    code, _, err = run(capsys, "render", str(path))
    assert code == 2 and "not UTF-8" in err
    code, _, err = run(capsys, "render", str(tmp_path / "absent.toml"))
    assert code == 2 and "not found" in err


@pytest.mark.parametrize("example", ["minimal.toml", "full/one-run.toml", "podman/one-run.toml"])
def test_every_example_profile_validates(capsys, monkeypatch, example):
    monkeypatch.setenv("ONE_ADMIN_PASSWORD", "example")
    root = os.path.join(os.path.dirname(__file__), "..", "profiles")
    code, out, err = run(capsys, "validate", os.path.join(root, example))
    assert code == 0, err


@pytest.mark.parametrize("opt, expected", [
    ("bogus", "is not one Podman takes"),
    ("seccomp", "is not one Podman takes"),
    ("no-new-privileges=maybe", "no-new-privileges takes true or false"),
    ("systempaths=confined", "systempaths takes only unconfined"),
])
def test_a_security_option_podman_refuses_is_exit_2_before_any_engine(tmp_path, capsys, monkeypatch, opt, expected):
    def no_engine(runtime):
        raise AssertionError("validation must refuse before any engine is asked")

    monkeypatch.setattr("one_run.engines.get_engine", no_engine)
    path = write(tmp_path, BASE + f'security_opt = ["no-new-privileges", "{opt}"]\n')
    for argv in (["validate", str(path), "--runtime", "podman"], ["apply", str(path), "--runtime", "podman"]):
        code, out, err = run(capsys, *argv)
        assert code == 2, err
        assert expected in err and f"{path}:4 [container.security_opt]" in err and "label=disable" in err


def test_security_options_podman_takes_pass(tmp_path, capsys):
    opts = '["no-new-privileges=false", "label=disable", "seccomp=unconfined", "systempaths=unconfined", ' \
           '"mask=/a:/b", "proc-opts=subset=pid"]'
    path = write(tmp_path, BASE + f"security_opt = {opts}\n")
    code, out, err = run(capsys, "validate", str(path), "--runtime", "podman")
    assert code == 0, err


@pytest.mark.parametrize("key, expected", [
    ("a=b", ['label key \'a=b\' contains "="', "`--label a=b=...` would set label 'a' to 'b=...'",
             'rename it without "=", e.g. "a.b"']),
    ("x y", ["label key 'x y' contains whitespace, which docker's CLI refuses",
             'rename it without whitespace, e.g. "x-y"']),
    ("tab\there", ["contains whitespace", '"tab-here"']),
])
def test_a_label_key_the_run_command_would_split_or_refuse_is_exit_2(tmp_path, capsys, key, expected):
    """The printed --label KEY=VALUE must set what apply sets, on both runtimes' CLIs."""
    quoted = key.replace("\t", "\\t")
    path = write(tmp_path, BASE + f'[container.labels]\nok = "1"\n"{quoted}" = "v"\n')
    for runtime in ("docker", "podman"):
        code, out, err = run(capsys, "render", str(path), "--runtime", runtime)
        assert code == 2 and out == ""
        # an escaped key is found by its table's line: the scan reads keys as written
        assert f"{path}:{6 if quoted == key else 4} [container.labels.{key}]: " in err
        for part in expected:
            assert part in err


def test_ports_on_the_host_network_are_exit_2(tmp_path, capsys):
    """Docker's API refuses them, its CLI drops them and Podman keeps them: no profile means all three."""
    path = write(tmp_path, BASE + 'network = "host"\nports = ["8080:80"]\n')
    for runtime in ("docker", "podman"):
        code, out, err = run(capsys, "validate", str(path), "--runtime", runtime)
        assert code == 2 and out == ""
        assert (f"{path}:5 [container.ports]: ports are published while network = \"host\": with the host network "
                "the container uses the host's ports directly") in err
        assert "remove `ports`, or use another network" in err
    for ok in ('network = "host"\n', 'network = "bridge"\nports = ["8080:80"]\n'):
        code, _, err = run(capsys, "validate", str(write(tmp_path, BASE + ok)))
        assert code == 0, err


@pytest.mark.parametrize("option", ["shared", "rshared", "slave", "rslave", "private", "rprivate"])
def test_mount_propagation_on_a_named_volume_is_exit_2_on_docker(tmp_path, capsys, option):
    """Docker refuses it at create ("field BindOptions must not be specified"); Podman honours it."""
    path = write(tmp_path, BASE + f'volumes = ["/tmp:/host:{option}", "myvol:/d:ro,{option}"]\n')
    code, out, err = run(capsys, "validate", str(path), "--runtime", "docker")
    assert code == 2 and out == ""
    assert (f"{path}:4 [container.volumes]: 'myvol:/d:ro,{option}': mount propagation ({option}) applies to bind "
            f"mounts only: docker refuses it on the named volume 'myvol'; remove '{option}', or mount a host path "
            "instead") in err
    assert "/tmp:/host" not in err  # on a bind mount it is fine
    code, _, err = run(capsys, "validate", str(path), "--runtime", "podman")
    assert code == 0, err


@pytest.mark.parametrize("entrypoint", ['["/bin/sh", "-c"]', ' ["/bin/sh"]', "[/bin/sh"])
def test_an_entrypoint_written_as_a_json_array_is_exit_2(tmp_path, capsys, entrypoint):
    """Podman's CLI parses `--entrypoint '[...]'` as JSON, Docker's and the SDKs take it literally."""
    path = write(tmp_path, BASE + f"entrypoint = '{entrypoint}'\ncommand = [\"echo hi\"]\n")
    for runtime in ("docker", "podman"):
        code, out, err = run(capsys, "render", str(path), "--runtime", runtime)
        assert code == 2 and out == ""
        assert f"{path}:4 [container.entrypoint]: entrypoint {entrypoint!r} looks like a JSON array" in err
        assert "the entrypoint is one executable" in err and "put its arguments in command" in err
    code, _, err = run(capsys, "render", str(write(tmp_path, BASE + 'entrypoint = "/bin/sh"\n'
                                                                    'command = ["-c", "echo hi"]\n')))
    assert code == 0, err
