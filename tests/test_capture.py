"""capture on real engines: example profiles round-trip, a container made by hand with the
documented command becomes a profile that recreates it, and env values survive quoting."""
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from conftest import EXAMPLES, STANDIN, example_on_standin, free_port, run_cli
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from one_run.commands.capture import build, check_loads, to_toml
from one_run.engines import ContainerInfo, get_engine
from one_run.model.normalize import from_inspect, is_secret_name
from one_run.model.profile import load_profile
from one_run.model.render import render_text, run_groups
from one_run.model.runspec import build_runspec
from one_run.model.values import Port, parse_ports

PROFILES = Path(__file__).resolve().parent.parent / "profiles"
PASSWORD = "pa$$ 'w0rd' \"!x\""


def sorted_groups(path: Path):
    """The render command as a set of (option, value) groups: equal "up to ordering" and up to
    where the profile's folder (and so its staged copies) lies."""
    spec = build_runspec(load_profile(path))
    where = os.path.dirname(spec.staged_folder or "/") + "/"
    return sorted(tuple(word.replace(where, "<staged>/") for word in group) for group in run_groups(spec))


def normal_config(runtime: str, name: str):
    engine = get_engine(runtime)
    info = engine.get(name)
    normal = from_inspect(info.attrs, engine.image_attrs(info.image_id), runtime)
    return normal.fields, normal.extras, [(n, t) for n, t, _ in normal.anonymous]


def example_id(path: Path) -> str:
    return path.parent.name if path.name == "one-run.toml" else path.stem


@pytest.mark.parametrize("example", EXAMPLES, ids=example_id)
def test_example_profiles_round_trip_through_apply_and_capture(engine, example, tmp_path, monkeypatch):
    monkeypatch.setenv("ONE_ADMIN_PASSWORD", PASSWORD)
    original = example_on_standin(example, engine, tmp_path)
    applied = run_cli("apply", original)
    assert applied.code == 0, applied.err
    profile = load_profile(original)

    out = tmp_path / "captured" / "one-run.toml"
    captured = run_cli("capture", profile.container.name, "--runtime", engine.runtime, "-o", out)
    assert captured.code == 0, captured.err

    diff = run_cli("diff", out)
    assert (diff.code, diff.out.split(":")[0]) == (0, "in sync"), diff.out
    assert run_cli("diff", original).code == 0  # and no false difference on the original either
    assert sorted_groups(out) == sorted_groups(original)

    again = load_profile(out)
    assert (again.tls, again.ssh) == (profile.tls, profile.ssh)
    assert bool(again.config) == bool(profile.config)
    assert again.maintenance == profile.maintenance
    text = out.read_text()
    assert PASSWORD not in text
    assert ("[tls]" in text) == bool(profile.tls) and ("TLS_CERT" in text) is False
    for name, value in profile.env:
        if not isinstance(value, str):  # every secret went to a 0600 file, none into the profile
            secret = out.parent / "one-run.secrets" / name
            assert f'{name} = {{ file = "one-run.secrets/{name}" }}' in text
            assert stat.S_IMODE(secret.stat().st_mode) == 0o600
            assert secret.read_text().rstrip("\n") not in text


def hand_made_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "by-hand"
    for part in ("certs", "ssh", "config"):
        shutil.copytree(PROFILES / "full" / part, folder / part)
    for key in ("certs/cert.key", "ssh/id_ed25519"):
        os.chmod(folder / key, 0o600)
    return folder


def test_capture_of_a_container_made_by_hand_recreates_it(engine, tmp_path):
    folder = hand_made_folder(tmp_path)
    name, volume = engine.container_name(), engine.volume_name()
    engine.cli(
        "run", "-d", "--name", name, *(["--privileged"] if engine.runtime == "podman" else []),
        "--restart", "unless-stopped", "-p", f"{free_port()}:80", "-p", f"127.0.0.1:{free_port()}:4124/udp",
        "-v", f"{volume}:/var/lib/one/datastores",
        "-v", f"{os.path.realpath(folder / 'certs')}:/certs:z,ro",
        "-v", f"{os.path.realpath(folder / 'ssh')}:/ssh:z,ro",
        "-v", f"{os.path.realpath(folder / 'config')}:/config:z,ro",
        "-e", "OPENNEBULA_HOST=one.example.com", "-e", "TLS_CERT=/certs/cert.pem", "-e", "TLS_KEY=/certs/cert.key",
        "-e", "ONEADMIN_SSH_PRIVKEY=/ssh/id_ed25519", "-e", "ONEADMIN_SSH_PUBKEY=/ssh/id_ed25519.pub",
        "-e", "OPENNEBULA_ONECFG_PATCH=/config/onecfg_patch",
        "-e", "OPENNEBULA_PREBOOTSTRAP_HOOK=/config/pre-bootstrap-hook.sh",
        "-e", "ONEADMIN_PASSWORD=s3cret", "--label", "org.example.owner=cloud-team", f"{STANDIN}:1")
    before = normal_config(engine.runtime, name)

    out = tmp_path / "captured" / "one-run.toml"
    result = run_cli("capture", name, "-o", out)  # no --runtime: found on whichever engine has it
    assert result.code == 0, result.err
    text = out.read_text()
    assert "s3cret" not in text
    assert (out.parent / "one-run.secrets" / "ONEADMIN_PASSWORD").read_text() == "s3cret\n"
    assert "ONEADMIN_PASSWORD" in result.err and "0600" in result.err
    assert "anonymous volume" in result.err and "# Anonymous volume" in text and "/var/lib/one/backups" in text
    profile = load_profile(out)
    assert profile.runtime == engine.runtime and profile.container.image == f"{STANDIN}:1"
    assert profile.tls.cert == str((folder / "certs" / "cert.pem").resolve())
    assert profile.ssh.public_key == str((folder / "ssh" / "id_ed25519.pub").resolve())
    assert profile.config.onecfg_patch.endswith("/onecfg_patch") and profile.config.post_bootstrap_hook is None
    assert sorted(n for n, _ in profile.env) == ["ONEADMIN_PASSWORD", "OPENNEBULA_HOST"]
    assert [v.format() for v in profile.container.volumes] == [f"{volume}:/var/lib/one/datastores"]
    assert profile.container.stop_timeout == 10 and "stop_timeout" in text  # the engine's, kept

    # The configuration is the same but for the customization folders, which apply mounts as
    # one-run's staged copies, and the missing one-run label.
    diff = run_cli("diff", out)
    lines = diff.out.splitlines()
    assert diff.code == 1 and [line.split(":")[0] for line in lines] == [
        "volumes /certs", "volumes /config", "volumes /ssh", "one-run.hash"], diff.out
    assert all("/.one-run/one-run/staged/" in line for line in lines[:3]), diff.out

    assert run_cli("capture", name, "-o", out).code == 2  # no overwrite without --force
    assert run_cli("capture", name, "-o", out, "--force").code == 0

    out.write_text("settle_time = 1\n" + out.read_text())
    applied = run_cli("apply", out)
    assert applied.code == 0, applied.err
    after = normal_config(engine.runtime, name)
    for target in ("/certs", "/ssh", "/config"):  # now one-run's staged copies of the same files
        kind, source, options = after[0]["volumes"][target]
        assert "/.one-run/one-run/staged/" in source
        after[0]["volumes"][target] = before[0]["volumes"][target]
    assert after == before  # same config, same anonymous volume carried over
    assert run_cli("diff", out).code == 0


def test_capture_says_what_it_cannot_find(engine, tmp_path, monkeypatch):
    missing = run_cli("capture", "no-such-one-run-container", "--runtime", engine.runtime)
    assert missing.code == 2 and "no container named no-such-one-run-container" in missing.err
    variable = "DOCKER_HOST" if engine.runtime == "docker" else "CONTAINER_HOST"
    monkeypatch.setenv(variable, f"unix://{tmp_path}/nothing.sock")
    down = run_cli("capture", "anything", "--runtime", engine.runtime)
    assert down.code == 3, down.err


VALUES = st.lists(st.one_of(
    st.sampled_from(["$HOME", "a'b", 'say "hi"', "two  spaces ", "line1\nline2", "wow!", "!!", "\\$x", "`id`", ""]),
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)),
    min_size=1, max_size=4)


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=VALUES)
@example(values=["pa$$ 'single' \"double\" !bang", "two\nlines and  spaces ", "$(id) `id` \\"])
def test_env_values_survive_capture_render_bash_inspect(engine, tmp_path_factory, values):
    folder = tmp_path_factory.mktemp("quoting")
    name = engine.container_name()
    env = {f"QUOTE_{i}": value for i, value in enumerate(values)}
    engine.cli("create", "--name", name, *[w for k, v in env.items() for w in ("-e", f"{k}={v}")], f"{STANDIN}:1")
    out = folder / "one-run.toml"
    assert run_cli("capture", name, "--runtime", engine.runtime, "-o", out).code == 0
    profile = load_profile(out)
    assert dict(profile.env) == env
    replay = engine.container_name()
    spec = build_runspec(profile._replace(container=profile.container._replace(name=replay)))
    subprocess.run(["bash", "-c", render_text(spec)], check=True, capture_output=True)
    inspected = dict(item.split("=", 1) for item in engine.inspect(replay)["Config"]["Env"])
    assert {k: inspected.get(k) for k in env} == env


def podman_attrs(create_command, **config):
    """A Podman inspect document with only what these tests read."""
    return {"Id": "0" * 64, "Config": {"Image": f"{STANDIN}:1", "CreateCommand": create_command, **config},
            "HostConfig": {"NetworkMode": "bridge"}, "NetworkSettings": {"Networks": {"podman": {}}}}


def test_create_command_values_in_both_spellings():
    """--flag value and --flag=value (and -f=value) are one choice in a Podman create command."""
    attrs = podman_attrs(
        ["podman", "run", "--env=B=2", "-e", "A=1", "--publish=8080:80", "-p=80", "--entrypoint=[\"/bin/echo\",\"a b\"]",
         "--ulimit=nofile=2048:4096", "--volume=/srv/x:/x:z,ro", f"{STANDIN}:1"],
        Env=["A=1", "B=2"], Entrypoint="/bin/echo a b")
    attrs["HostConfig"].update({
        "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}, {"HostIp": "", "HostPort": "41000"}]},
        "Ulimits": [{"Name": "RLIMIT_NOFILE", "Soft": 2048, "Hard": 4096}]})
    attrs["Mounts"] = [{"Type": "bind", "Source": "/srv/x", "Destination": "/x", "RW": False, "Options": ["rbind"]}]
    f = from_inspect(attrs, None, "podman").fields
    assert list(f["env"]) == ["B", "A"]  # the create command's order
    assert f["ports"] == {"80/tcp": (("", None), ("", 8080))}  # 41000 is the port Podman picked
    assert f["entrypoint"] == ("/bin/echo", "a b")
    assert f["ulimits"] == {"nofile": (2048, 4096)}
    assert f["volumes"] == {"/x": ("bind", "/srv/x", ("ro", "z"))}


@pytest.mark.parametrize("create, network", [(["podman", "run", "--network=net-b", "img"], "net-b"),
                                             (["podman", "run", "--network", "net-a", "img"], "net-a"),
                                             ([], None)])
def test_a_podman_container_on_several_networks(create, network):
    """One network as the profile's (the one it was created on), all of them as not capturable:
    never "net-a,net-b", which Podman would take as one network's name."""
    attrs = podman_attrs(create)
    attrs["NetworkSettings"]["Networks"] = {"net-a": {}, "net-b": {}}
    normal = from_inspect(attrs, None, "podman")
    assert normal.fields["network"] == network
    assert normal.extras["networks"] == "net-a, net-b"
    single = podman_attrs(create)
    single["NetworkSettings"]["Networks"] = {"net-a": {}}
    assert from_inspect(single, None, "podman").fields["network"] == "net-a"


@pytest.mark.parametrize("name, secret", [
    ("DB_PASS", True), ("SMTP_PASSPHRASE", True), ("MAIL_PASSWD", True), ("REGISTRY_AUTH", True),
    ("GPG_PRIVATE", True), ("API_TOKEN", True), ("ONEADMIN_PASSWORD", True),
    ("OPENNEBULA_HOST", False), ("ONEADMIN_SSH_PRIVKEY", False),  # the image reference says so
])
def test_names_that_say_secret(name, secret):
    assert is_secret_name(name) is secret


def test_capture_writes_no_secret_into_the_profile():
    attrs = podman_attrs([], Env=["DB_PASS=p1", "SMTP_PASSPHRASE=p2", "REGISTRY_AUTH=p3", "GPG_PRIVATE=p4", "X=plain"])
    current = ContainerInfo("0" * 64, "one", f"{STANDIN}:1", "sha256:" + "1" * 64, "created", 0, {}, attrs)
    captured = build(current, None, "podman", None, "one-run.secrets")
    assert captured.secrets == {"DB_PASS": "p1", "SMTP_PASSPHRASE": "p2", "REGISTRY_AUTH": "p3", "GPG_PRIVATE": "p4"}
    text = to_toml(captured)
    assert not any(f"p{i}" in text for i in range(1, 5)) and 'X = "plain"' in text


@pytest.mark.parametrize("spec", ["80", "8080:80", "127.0.0.1:8080:80/udp", "127.0.0.1::80", "[::1]:8080:80",
                                  "[::1]::80/sctp"])
def test_ports_are_captured_as_run_takes_them(spec):
    port = parse_ports(spec)[0]
    assert port.format() == Port.of(port.key, port.host_ip, port.host_port).format() == spec


def test_capture_leaves_out_a_maintenance_mode_a_profile_cannot_set(engine, tmp_path):
    name = engine.container_name()
    engine.cli("create", "--name", name, "-e", "MAINTENANCE_MODE=maybe", "-e", "OPENNEBULA_HOST=one", f"{STANDIN}:1")
    out = tmp_path / "one-run.toml"
    result = run_cli("capture", name, "--runtime", engine.runtime, "-o", out)
    assert result.code == 0, result.err
    assert "not captured: env MAINTENANCE_MODE=maybe" in result.err
    profile = load_profile(out)
    assert dict(profile.env) == {"OPENNEBULA_HOST": "one"} and not profile.maintenance


def test_capture_leaves_out_label_keys_a_profile_refuses():
    """Keys with "=" or whitespace (set through an API) would make the written profile invalid."""
    attrs = podman_attrs([], Labels={"a=b": "1", "x y": "2", "org.example.owner": "team"})
    current = ContainerInfo("0" * 64, "one", f"{STANDIN}:1", "sha256:" + "1" * 64, "created", 0, {}, attrs)
    captured = build(current, None, "podman", None, None)
    assert captured.data["container"]["labels"] == {"org.example.owner": "team"}
    assert "not captured: label 'a=b'" in "\n".join(captured.messages)
    assert "not captured: label 'x y'" in "\n".join(captured.messages)
    check_loads(to_toml(captured), Path("captured.toml").absolute())  # what is written loads as a profile


def test_capture_leaves_out_an_entrypoint_a_profile_refuses(docker_engine, tmp_path):
    """Docker takes `--entrypoint '["/bin/sh"]'` as one word; a profile refuses it (Podman's CLI reads JSON)."""
    name = docker_engine.container_name()
    docker_engine.cli("create", "--name", name, "--entrypoint", '["/bin/sh", "-c"]', f"{STANDIN}:1", "true")
    out = tmp_path / "one-run.toml"
    result = run_cli("capture", name, "--runtime", "docker", "-o", out)
    assert result.code == 0, result.err
    assert "not captured: the entrypoint ['[\"/bin/sh\", \"-c\"]']" in result.err
    profile = load_profile(out)
    assert profile.container.entrypoint is None and profile.container.command == ("true",)


# Options of each kind of mount that differ from the engine's default, as -v takes them; Docker
# takes no suid/dev/exec options, and this sandbox cannot start it with shared or slave propagation.
MOUNT_OPTIONS = {
    "docker": {"/a": "private", "/b": "z,ro,private"},
    "podman": {"/a": "nosuid", "/b": "nodev,noexec", "/c": "ro,private", "/v": "noexec"},
}


def test_mount_options_round_trip_through_apply_capture_and_diff(engine, tmp_path):
    """Options that differ from the engine's default survive capture, diff of the original is
    in sync, and a changed option is a difference of that volume."""
    mounts = []
    for target, options in MOUNT_OPTIONS[engine.runtime].items():
        if target == "/v":
            source = engine.volume_name()
        else:
            source = tmp_path / "host" / target.strip("/")
            source.mkdir(parents=True)
            source = source.resolve()
        mounts.append(f"{source}:{target}:{options}")
    name = engine.container_name()
    original = tmp_path / "original" / "one-run.toml"
    original.parent.mkdir()
    original.write_text(f'runtime = "{engine.runtime}"\nsettle_time = 1\n[container]\nname = "{name}"\n'
                        f'image = "{STANDIN}:1"\nvolumes = {mounts!r}\n'.replace("'", '"'))
    applied = run_cli("apply", original)
    assert applied.code == 0, applied.err

    out = tmp_path / "captured" / "one-run.toml"
    out.parent.mkdir()
    out.write_text("")  # --force overwrites it
    captured = run_cli("capture", name, "--runtime", engine.runtime, "-o", out, "--force")
    assert captured.code == 0, captured.err
    options = {v.target: set(v.options) for v in load_profile(out).container.volumes}
    assert options == {t: set(o.split(",")) for t, o in MOUNT_OPTIONS[engine.runtime].items()}
    for profile in (original, out):
        diff = run_cli("diff", profile)
        assert diff.code == 0 and diff.out.startswith("in sync"), diff.out

    first = mounts[0]
    plain = first.rsplit(":", 1)[0]
    # (the option changed, as diff shows it): a bind is suid by default (a named volume nosuid),
    # and its propagation rprivate, not private
    changes = [(plain, plain), (plain + ":rprivate", plain)] if engine.runtime == "docker" else \
        [(plain, plain), (plain + ":nodev", plain + ":nodev"), (plain + ":suid", plain)]
    for changed, shown in changes:
        original.write_text(original.read_text().replace(f'"{first}"', f'"{changed}"'))
        diff = run_cli("diff", original)
        assert (diff.code, diff.out.splitlines()) == (1, [f"volumes /a: {first} → {shown}"]), diff.out
        original.write_text(original.read_text().replace(f'"{changed}"', f'"{first}"'))
