"""Hostile profiles: what a profile does not name is never mounted, nothing in it becomes an
option, and no input (however shaped) yields a traceback, a hang or exit 4."""
import json
import os
import shlex
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import tomli_w
from conftest import run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from one_run.common import files
from one_run.common.errors import ProfileError, UsageError
from one_run.model.profile import load_profile
from one_run.model.runspec import build_runspec, prune_staged, write_generated_files
from one_run.model.validate import ensure_valid

HEAD = '[container]\nname = "one"\nimage = "img:1"\n'


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def rendered(profile: Path, *extra) -> list:
    result = run_cli("render", profile, "--format", "json", *extra)
    assert result.code == 0, result.err
    return json.loads(result.out)


def mounts(argv: list) -> dict:
    """target -> (source, options) of every -v."""
    out = {}
    for flag, value in zip(argv, argv[1:]):
        if flag == "-v":
            source, target, *options = value.split(":")
            out[target] = (source, options[0] if options else "")
    return out


def staged_root(profile: Path) -> Path:
    return profile.parent / ".one-run" / profile.stem / "staged"


# --- 1. staged customization files ----------------------------------------------------

def test_a_patch_symlinked_to_etc_mounts_only_the_patch_never_etc(tmp_path):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "onecfg_patch").symlink_to("/etc/subuid")
    profile = write(tmp_path / "p.toml", HEAD + '[config]\nonecfg_patch = "config/onecfg_patch"\n', 0o644)

    argv = rendered(profile)

    source, options = mounts(argv)["/config"]
    assert not any(value.startswith("/etc:") or value.startswith("/etc/") for value in argv)
    assert Path(source).parent.parent == staged_root(profile) and options == "z,ro"
    assert os.listdir(source) == ["onecfg_patch"]
    assert (Path(source) / "onecfg_patch").read_bytes() == Path("/etc/subuid").read_bytes()
    assert not (Path(source) / "onecfg_patch").is_symlink()


def ssh_pair(folder: Path):
    write(folder / "id_rsa", "-----BEGIN OPENSSH PRIVATE KEY-----\n")
    write(folder / "id_rsa.pub", "ssh-ed25519 AAAA\n", 0o644)


def test_a_symlinked_key_stages_the_named_files_not_their_siblings(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    ssh_pair(elsewhere)
    write(elsewhere / "sibling-secret", "do not mount me")
    (tmp_path / "ssh").mkdir()
    (tmp_path / "ssh" / "id_rsa").symlink_to(elsewhere / "id_rsa")
    (tmp_path / "ssh" / "id_rsa.pub").symlink_to(elsewhere / "id_rsa.pub")
    profile = write(tmp_path / "p.toml", HEAD + '[ssh]\nprivate_key = "ssh/id_rsa"\npublic_key = "ssh/id_rsa.pub"\n')

    source, _ = mounts(rendered(profile))["/ssh"]

    assert sorted(os.listdir(source)) == ["id_rsa", "id_rsa.pub"]
    assert str(elsewhere) not in source


def test_lets_encrypt_live_links_are_followed_and_modes_are_private(tmp_path):
    archive, live = tmp_path / "le" / "archive" / "one", tmp_path / "le" / "live" / "one"
    write(archive / "cert1.pem", "CERT", 0o644)
    write(archive / "privkey1.pem", "KEY", 0o600)
    live.mkdir(parents=True)
    (live / "cert.pem").symlink_to("../../archive/one/cert1.pem")
    (live / "privkey.pem").symlink_to("../../archive/one/privkey1.pem")
    write(tmp_path / "hooks" / "post.sh", "#!/bin/bash\necho hi\n", 0o755)
    profile = write(tmp_path / "p.toml", HEAD + textwrap.dedent(f"""\
        [tls]
        cert = "{live}/cert.pem"
        key = "{live}/privkey.pem"
        [config]
        onecfg_patch = ["/etc/one/oned.conf set A 1"]
        post_bootstrap_hook = "hooks/post.sh"
        """))

    argv = rendered(profile)

    certs, config = Path(mounts(argv)["/certs"][0]), Path(mounts(argv)["/config"][0])
    assert (certs / "cert.pem").read_text() == "CERT" and (certs / "privkey.pem").read_text() == "KEY"
    assert "TLS_CERT=/certs/cert.pem" in argv and "TLS_KEY=/certs/privkey.pem" in argv
    assert sorted(os.listdir(config)) == ["onecfg_patch", "post.sh"]
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in [certs, config, *certs.iterdir(), *config.iterdir()]}
    assert modes == {"certs": 0o700, "config": 0o700, "cert.pem": 0o600, "privkey.pem": 0o600,
                     "onecfg_patch": 0o600, "post.sh": 0o700}
    for folder in (tmp_path / ".one-run", tmp_path / ".one-run" / "p", staged_root(profile), certs.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


def test_a_linked_one_run_folder_is_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / ".one-run").symlink_to(elsewhere)
    write(tmp_path / "config" / "post.sh", "#!/bin/bash\n", 0o755)
    profile = write(tmp_path / "p.toml", HEAD + '[config]\npost_bootstrap_hook = "config/post.sh"\n')
    result = run_cli("render", profile)
    assert result.code == 2 and "is a symbolic link" in result.err and os.listdir(elsewhere) == []


@pytest.mark.parametrize("kind", ["fifo", "directory", "dangling link"])
def test_a_named_path_that_is_not_a_regular_file_is_exit_2(tmp_path, kind):
    cert = tmp_path / "certs" / "cert.pem"
    cert.parent.mkdir()
    write(tmp_path / "certs" / "cert.key", "KEY")
    if kind == "fifo":
        os.mkfifo(cert)
    elif kind == "directory":
        cert.mkdir()
    else:
        cert.symlink_to(tmp_path / "gone")
    profile = write(tmp_path / "p.toml", HEAD + '[tls]\ncert = "certs/cert.pem"\nkey = "certs/cert.key"\n')

    result = subprocess.run([sys.executable, "-m", "one_run", "render", str(profile)], capture_output=True,
                            text=True, timeout=5)

    assert result.returncode == 2, result.stderr
    assert "tls.cert" in result.stderr and ("not a regular file" in result.stderr or "does not exist" in result.stderr)


def test_staging_is_idempotent_content_addressed_and_pruned(tmp_path):
    hook = write(tmp_path / "config" / "post.sh", "#!/bin/bash\necho v1\n", 0o755)
    profile = write(tmp_path / "p.toml", HEAD + '[config]\npost_bootstrap_hook = "config/post.sh"\n')
    first = mounts(rendered(profile))["/config"][0]
    written = (Path(first) / "post.sh").stat().st_mtime_ns
    assert mounts(rendered(profile))["/config"][0] == first
    assert (Path(first) / "post.sh").stat().st_mtime_ns == written  # left alone

    hook.write_text("#!/bin/bash\necho v2\n")
    second = mounts(rendered(profile))["/config"][0]
    assert second != first and (Path(first) / "post.sh").read_text() == "#!/bin/bash\necho v1\n"
    assert sorted(os.listdir(staged_root(profile))) == sorted([Path(first).parent.name, Path(second).parent.name])

    prune_staged(str(profile), {str(Path(second).parent)})
    assert os.listdir(staged_root(profile)) == [Path(second).parent.name]


def test_a_half_written_staging_is_never_used(tmp_path, monkeypatch):
    write(tmp_path / "config" / "post.sh", "#!/bin/bash\n", 0o755)
    profile = write(tmp_path / "p.toml", HEAD + '[config]\npost_bootstrap_hook = "config/post.sh"\n')
    spec = build_runspec(load_profile(profile))

    def disk_full(*args):
        raise OSError(28, "No space left on device")
    with monkeypatch.context() as patch:
        patch.setattr(files, "_fill", disk_full)
        with pytest.raises(OSError):
            write_generated_files(spec)
    assert os.listdir(staged_root(profile)) == []  # neither the folder nor its temporary

    config = Path(mounts(rendered(profile))["/config"][0])
    assert (config / "post.sh").read_text() == "#!/bin/bash\n"


def test_backups_of_tls_renew_and_init_force_are_never_mounted(tmp_path):
    folder = tmp_path / "d"
    assert run_cli("init", folder, "--fqdn", "one.example.com", "--ssh-key-type", "ed25519").code == 0
    assert run_cli("init", folder, "--fqdn", "one.example.com", "--ssh-key-type", "ed25519", "--force").code == 0
    assert run_cli("tls", "renew", folder / "one-run.toml").code == 0
    assert list(folder.glob("certs/*.bak")) and list(folder.glob("ssh/*.bak"))

    argv = rendered(folder / "one-run.toml")

    for target in ("/certs", "/ssh", "/config"):
        source = Path(mounts(argv)[target][0])
        assert staged_root(folder / "one-run.toml") in source.parents
        assert not [name for name in os.listdir(source) if "bak" in name], target


# --- 2. bind mounts the user writes ------------------------------------------------------

@pytest.mark.parametrize("source", ["/", "/etc", "/home", "/var"])
def test_a_bind_source_linked_to_a_system_folder_is_refused(tmp_path, source):
    (tmp_path / "data").symlink_to(source)
    profile = write(tmp_path / "p.toml", HEAD + 'volumes = ["./data:/data"]\n')

    result = run_cli("render", profile)

    assert result.code == 2 and "container.volumes" in result.err and f"{source}" in result.err
    assert "allow_system_paths = true" in result.err


def test_allow_system_paths_lets_a_system_folder_in_but_never_relabelled(tmp_path):
    profile = write(tmp_path / "p.toml", 'allow_system_paths = true\n' + HEAD + 'volumes = ["/etc:/host-etc:ro"]\n')
    assert "/etc:/host-etc:ro" in rendered(profile)

    for option in ("z", "Z"):
        profile.write_text('allow_system_paths = true\n' + HEAD + f'volumes = ["/etc:/host-etc:{option},ro"]\n')
        result = run_cli("render", profile)
        assert result.code == 2 and "SELinux" in result.err and "relabel" in result.err, result.err


# --- 3. image references and option injection --------------------------------------------

@pytest.mark.parametrize("image", ["-v=/:/host", "--privileged", "Upper/case:1", "img:", "img@sha256:zz",
                                   "a//b", "img:-x", "img:" + "x" * 129])
def test_an_image_that_is_not_a_reference_is_exit_2(tmp_path, image):
    profile = write(tmp_path / "p.toml", f'[container]\nname = "one"\nimage = {json.dumps(image)}\n')
    result = run_cli("render", profile)
    assert result.code == 2 and "container.image" in result.err, result.err


@pytest.mark.parametrize("image", ["-v=/:/host", "--privileged"])
def test_a_hostile_image_pasted_through_bash_runs_nothing(tmp_path, image):
    """`bash -c "$(one-run render p)"`: render refuses, so bash gets no command at all."""
    profile = write(tmp_path / "p.toml", f'[container]\nname = "one"\nimage = {json.dumps(image)}\n')
    (tmp_path / "docker").write_text(f'#!/bin/sh\ntouch {tmp_path}/docker-ran\n')
    (tmp_path / "docker").chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    script = f'eval "$({shlex.quote(sys.executable)} -m one_run render {shlex.quote(str(profile))})"'
    result = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=10)
    assert "container.image" in result.stderr and not (tmp_path / "docker-ran").exists()


@pytest.mark.parametrize("image", ["docker.io/opennebula/opennebula:6.0", "localhost:5000/a/b_c/d-e:1.2-x",
                                   "img", "img@sha256:" + "a" * 64, "[::1]:5000/img:tag", "Reg.io/x/y__z:v"])
def test_valid_image_references_pass(tmp_path, image):
    profile = write(tmp_path / "p.toml", f'[container]\nname = "one"\nimage = {json.dumps(image)}\n')
    assert rendered(profile)[-1] == image


@pytest.mark.parametrize("key, value", [
    ("hostname", '"--privileged"'), ("network", '"--privileged"'), ("entrypoint", '"-v=/:/host"'),
    ("security_opt", '["--privileged"]'), ("extra_hosts", '["-v=/:/host:1.2.3.4"]'),
    ("labels", '{ "--privileged" = "x" }'), ("name", '"-v"'),
])
def test_no_value_can_become_an_option(tmp_path, key, value):
    profile = write(tmp_path / "p.toml", HEAD + f"{key} = {value}\n" if key != "name"
                    else f'[container]\nname = {value}\nimage = "img:1"\n')
    result = run_cli("render", profile)
    assert result.code == 2 and f"container.{key}" in result.err, result.err


def test_a_command_that_looks_like_options_stays_the_containers_through_bash(tmp_path, docker_engine):
    """Pasted into bash with the real docker CLI: the words after the image are the container's."""
    name = docker_engine.container_name()
    profile = write(tmp_path / "p.toml", textwrap.dedent(f"""\
        [container]
        name = "{name}"
        image = "localhost/one-run-standin:1"
        command = ["--privileged", "-v=/:/host", "--name=evil"]
        """))
    text = run_cli("render", profile).out
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    (tmp_path / "docker").symlink_to("/usr/bin/docker")
    subprocess.run(["bash", "-c", text.replace(" run -d ", " create ", 1)], env=env, check=True,
                   capture_output=True, timeout=60)
    made = docker_engine.inspect(name)
    assert made["HostConfig"]["Privileged"] is False
    assert [m for m in made["Mounts"] if m["Type"] == "bind"] == []
    assert made["Args"][-3:] == ["--privileged", "-v=/:/host", "--name=evil"] or \
        made["Config"]["Cmd"] == ["--privileged", "-v=/:/host", "--name=evil"]


# --- 4. input limits -------------------------------------------------------------------

def one_run(*argv, timeout=5, env=None):
    return subprocess.run([sys.executable, "-m", "one_run", *map(str, argv)], capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_a_fifo_profile_is_refused_without_hanging(tmp_path):
    fifo = tmp_path / "p.toml"
    os.mkfifo(fifo)
    for command in ("render", "validate"):
        result = one_run(command, fifo)
        assert result.returncode == 2 and "not a regular file" in result.stderr, result.stderr


def test_dev_zero_and_a_huge_profile_end_quickly(tmp_path):
    result = one_run("render", "/dev/zero")
    assert result.returncode == 2 and "not a regular file" in result.stderr
    big = tmp_path / "big.toml"
    big.write_text(HEAD + "# " + "x" * (1 << 20) + "\n")
    result = one_run("validate", big)
    assert result.returncode == 2 and "1 MiB" in result.stderr


@pytest.mark.parametrize("depth", [33, 5000])
def test_deep_nesting_is_exit_2(tmp_path, depth):
    for text in (HEAD + "command = " + "[" * depth + "]" * depth + "\n",
                 HEAD + "x = " + "{ a = " * depth + "1" + " }" * depth + "\n"):
        path = write(tmp_path / "p.toml", text)
        result = one_run("render", path)
        assert result.returncode == 2 and "nested deeper than 32" in result.stderr, result.stderr[-500:]


def test_nesting_within_the_limit_is_read(tmp_path):
    path = write(tmp_path / "p.toml", HEAD + "x = " + "[" * 30 + "]" * 30 + "\n")
    result = one_run("render", path)
    assert result.returncode == 2 and "unknown key `x`" in result.stderr


def test_nul_bytes_are_exit_2(tmp_path):
    path = write(tmp_path / "p.toml", HEAD + '[env]\nOPENNEBULA_HOST = "a\\u0000b"\n')
    result = run_cli("validate", path)
    assert result.code == 2 and "env.OPENNEBULA_HOST" in result.err and "NUL" in result.err
    path.write_bytes((HEAD + 'hostname = "a\x00b"\n').encode())
    assert run_cli("render", path).code == 2
    path.write_text(HEAD + 'command = ["a\\u0000"]\n')
    result = run_cli("render", path)
    assert result.code == 2 and "NUL" in result.err


def test_a_secret_file_that_is_not_utf8_or_holds_nul_is_exit_2(tmp_path, engine):
    profile = write(tmp_path / "p.toml", f'runtime = "{engine.runtime}"\n' + HEAD +
                    '[env]\nMYSQL_PASSWORD = { file = "secret" }\n')
    secret = tmp_path / "secret"
    for data in (b"\xff\xfepass\n", b"pa\x00ss\n"):
        secret.write_bytes(data)
        secret.chmod(0o600)
        for argv in (("render", profile, "--show-secrets"), ("apply", profile, "--dry-run"),
                     ("validate", profile)):
            result = run_cli(*argv)
            assert result.code == 2 and "env.MYSQL_PASSWORD" in result.err, (argv, result)
            assert "Traceback" not in result.err


def test_a_bad_secret_reference_never_echoes_the_value(tmp_path):
    profile = write(tmp_path / "p.toml", HEAD + '[env]\nONEADMIN_PASSWORD = { env = "S3CRET-INLINE-pass" }\n')
    result = run_cli("render", profile)
    assert result.code == 2 and "env.ONEADMIN_PASSWORD" in result.err
    assert "S3CRET" not in result.err


toml_text = st.lists(st.sampled_from(
    list('[]{}="\'.,:#\n abcxyz01-_\\') + ['"""', "'''", "[[[[[[[[", "{ a = ", "\\u0000", "\x00", "container",
                                             "env", "name", "image", "volumes", "tls", "config", "file", "/dev/zero"]),
    max_size=120).map("".join)
scalars = st.one_of(st.booleans(), st.integers(-2 ** 63, 2 ** 63 - 1), st.text(max_size=20),
                    st.floats(allow_nan=False))
structures = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(
        ["container", "env", "tls", "ssh", "config", "name", "image", "volumes", "command", "onecfg_patch",
         "cert", "key", "allow_system_paths", "file", "env"]) | st.text(max_size=5), inner, max_size=4)),
    max_leaves=40)


def _load_all(path: Path):
    try:
        profile = load_profile(path)
        spec = build_runspec(profile)
        ensure_valid(profile, spec, full=True)
    except (ProfileError, UsageError):
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=toml_text)
def test_fuzz_toml_ish_text_raises_only_profile_errors(tmp_path, text):
    path = tmp_path / "f.toml"
    path.write_text(text)
    _load_all(path)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=st.dictionaries(st.sampled_from(["container", "env", "tls", "ssh", "config", "runtime"]),
                                structures, max_size=5))
def test_fuzz_structures_raise_only_profile_errors(tmp_path, document):
    path = tmp_path / "f.toml"
    try:
        path.write_text(tomli_w.dumps(document))
    except (TypeError, ValueError):
        return
    _load_all(path)


container_keys = st.sampled_from(["name", "image", "privileged", "restart", "hostname", "ports", "volumes",
                                  "labels", "cap_add", "devices", "network", "dns", "extra_hosts", "tmpfs",
                                  "shm_size", "ulimits", "stop_timeout", "security_opt", "pull", "entrypoint",
                                  "command"])
paths = st.sampled_from(["/dev/zero", "/", "/etc/subuid", ".", "missing", "/proc/self/fd/0", "-x", "a\x00b"])
values = st.one_of(scalars, paths, st.lists(st.one_of(paths, st.text(max_size=10)), max_size=3),
                   st.dictionaries(st.sampled_from(["env", "file", "x"]), st.one_of(paths, scalars), max_size=2))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(container=st.dictionaries(container_keys, values, max_size=4), env=st.dictionaries(
    st.sampled_from(["OPENNEBULA_HOST", "MYSQL_PASSWORD", "TLS_CERT", "X"]), values, max_size=3),
    tables=st.dictionaries(st.sampled_from(["tls", "ssh", "config"]), st.dictionaries(st.sampled_from(
        ["cert", "key", "private_key", "public_key", "onecfg_patch", "pre_bootstrap_hook"]), values, max_size=3),
        max_size=2), top=st.dictionaries(st.sampled_from(["allow_system_paths", "runtime", "maintenance"]), values,
                                         max_size=2))
def test_fuzz_near_profiles_raise_only_profile_errors(tmp_path, container, env, tables, top):
    document = {**top, "container": {"name": "one", "image": "img:1", **container}, "env": env, **tables}
    path = tmp_path / "f.toml"
    try:
        path.write_text(tomli_w.dumps(document))
    except (TypeError, ValueError):
        return
    _load_all(path)


# --- 6. git-safe folders -----------------------------------------------------------------

def test_init_writes_a_gitignore_that_keeps_keys_secrets_and_backups_out(tmp_path):
    folder = tmp_path / "d"
    assert run_cli("init", folder, "--fqdn", "one.example.com", "--ssh-key-type", "ed25519").code == 0
    assert run_cli("init", folder, "--fqdn", "one.example.com", "--ssh-key-type", "ed25519", "--force").code == 0
    assert run_cli("render", folder / "one-run.toml").code == 0
    subprocess.run(["git", "init", "-q", str(folder)], check=True)
    subprocess.run(["git", "-C", str(folder), "add", "-A"], check=True)
    tracked = subprocess.run(["git", "-C", str(folder), "ls-files"], capture_output=True, text=True).stdout.split()
    assert ".gitignore" in tracked and "one-run.toml" in tracked and "certs/cert.pem" in tracked
    assert "ssh/id_ed25519.pub" in tracked
    leaked = [f for f in tracked if f.startswith((".one-run", "secrets/")) or f.endswith((".key", "id_ed25519"))
              or ".bak" in f]
    assert leaked == []


def test_validate_warns_when_a_key_or_secret_is_tracked_by_git(tmp_path):
    folder = tmp_path / "d"
    assert run_cli("init", folder, "--fqdn", "one.example.com", "--ssh-key-type", "ed25519").code == 0
    profile = folder / "one-run.toml"
    assert "tracked by git" not in run_cli("validate", profile).err  # not a work tree: silent
    subprocess.run(["git", "init", "-q", str(folder)], check=True)
    subprocess.run(["git", "-C", str(folder), "add", "-f", "certs/cert.key", "secrets/"], check=True)

    result = run_cli("validate", profile)

    assert result.code == 0
    assert "warning:" in result.err and "tls.key" in result.err and "tracked by git" in result.err
    assert "env.MYSQL_PASSWORD" in result.err and "git rm --cached" in result.err
    assert "ssh.private_key" not in result.err
