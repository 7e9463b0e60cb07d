"""`one-run init` and `one-run tls renew`: real files in a temporary folder, checked the way
the image and a TLS client would read them."""
import datetime
import ipaddress
import json
import os
import re
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from test_crypto import CA_KEY, EC_KEY, key_pem, make_cert, pem

from one_run.cli import main
from one_run.commands import init
from one_run.model import crypto, onecfg
from one_run.model.profile import tomllib
from one_run.model.validate import DATA, image_parameters

HOST = "one.example.com"
PRIVATE = ["certs/cert.key", "ssh/id_rsa", "secrets/oneadmin_password", "secrets/mysql_password",
           "secrets/mysql_root_password"]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def fast_keys(monkeypatch):
    """RSA 2048 instead of 3072 where the key size is not what is tested."""
    monkeypatch.setattr(crypto, "RSA_BITS", 2048)


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """One deployment made with the defaults, shared by the read-only tests."""
    folder = tmp_path_factory.mktemp("deploy") / "one"
    assert main(["init", str(folder), "--fqdn", HOST]) == 0
    return folder


def snapshot(folder):
    """init's files (not the .gitignore, merged rather than replaced, nor what render stages)."""
    return {p.relative_to(folder): (p.read_bytes(), stat.S_IMODE(p.stat().st_mode))
            for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != ".gitignore" and ".one-run" not in p.relative_to(folder).parts}


def load_cert(path):
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_init_writes_every_file_with_its_mode(made):
    modes = {str(path): mode for path, (_, mode) in snapshot(made).items()}
    assert modes == {
        "one-run.toml": 0o644, "certs/cert.pem": 0o644, "certs/cert.key": 0o600,
        "ssh/id_rsa": 0o600, "ssh/id_rsa.pub": 0o644, "config/onecfg_patch": 0o644,
        "config/pre-bootstrap-hook.sh": 0o755, "config/post-bootstrap-hook.sh": 0o755,
        "secrets/oneadmin_password": 0o600, "secrets/mysql_password": 0o600, "secrets/mysql_root_password": 0o600,
    }
    assert stat.S_IMODE((made / "secrets").stat().st_mode) == 0o700


def test_private_files_are_0600_from_creation(tmp_path, monkeypatch, fast_keys):
    """Every private file is created empty, exclusively, and already 0600 (under a temporary
    name, renamed once written): no moment exists in which another user could open it."""
    created = {}
    real_open = os.open

    def recording_open(path, flags, mode=0o777, **kwargs):
        fd = real_open(path, flags, mode, **kwargs)
        if flags & os.O_CREAT:
            info = os.fstat(fd)
            created[os.path.relpath(path, tmp_path)] = (flags, stat.S_IMODE(info.st_mode), info.st_size)
        return fd

    monkeypatch.setattr(os, "open", recording_open)
    old_umask = os.umask(0)  # the umask must not be what keeps the key private
    try:
        init.init_deployment(tmp_path, HOST)
    finally:
        os.umask(old_umask)
    for name in PRIVATE:
        # created under a temporary name beside it, then renamed over it (files.write_file)
        folder, base = os.path.split(name)
        made = [key for key in created if os.path.dirname(key) == folder
                and os.path.basename(key).startswith(f".{base}.")
                and "." not in os.path.basename(key)[len(base) + 2:]]  # .id_rsa.X, not .id_rsa.pub.X
        assert len(made) == 1, (name, sorted(created))
        flags, mode, size = created[made[0]]
        assert flags & os.O_EXCL and (mode, size) == (0o600, 0), name
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600


def test_the_certificate_is_self_signed_for_the_host_with_server_usage(made):
    cert = load_cert(made / "certs/cert.pem")
    key = serialization.load_pem_private_key((made / "certs/cert.key").read_bytes(), password=None)
    cert.verify_directly_issued_by(cert)
    assert crypto._spki(cert.public_key()) == crypto._spki(key.public_key())
    assert key.key_size == crypto.RSA_BITS == 3072
    assert cert.subject.rfc4514_string() == f"CN={HOST}"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [HOST] and san.get_values_for_type(x509.IPAddress) == []
    assert cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [x509.oid.ExtendedKeyUsageOID.SERVER_AUTH])
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.key_encipherment
    assert cert.signature_hash_algorithm.name == "sha256"
    lifetime = cert.not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc)
    assert lifetime.days == init.DEFAULT_DAYS - 1


def test_an_ip_host_gets_an_ip_san(tmp_path, capsys, fast_keys):
    code, _, err = run(capsys, "init", tmp_path / "d", "--fqdn", "192.0.2.10", "--days", "60",
                       "--ssh-key-type", "ed25519")
    assert code == 0, err
    cert = load_cert(tmp_path / "d/certs/cert.pem")
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("192.0.2.10")]
    assert san.get_values_for_type(x509.DNSName) == []
    assert (cert.not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc)).days == 59
    code, _, err = run(capsys, "validate", tmp_path / "d/one-run.toml")
    assert code == 0 and err == ""


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
def test_the_ssh_files_are_a_pair_without_passphrase(tmp_path, kind, fast_keys):
    init.init_deployment(tmp_path, HOST, ssh_key_type=kind)
    private = serialization.load_ssh_private_key((tmp_path / f"ssh/id_{kind}").read_bytes(), password=None)
    public_line = (tmp_path / f"ssh/id_{kind}.pub").read_bytes()
    assert public_line.split()[:2] == private.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).split()
    assert (tmp_path / f"ssh/id_{kind}").read_bytes().startswith(b"-----BEGIN OPENSSH PRIVATE KEY-----")
    profile = tomllib.loads((tmp_path / "one-run.toml").read_text())
    assert profile["ssh"] == {"private_key": f"ssh/id_{kind}", "public_key": f"ssh/id_{kind}.pub"}


def test_validate_passes_with_no_warning(made, capsys):
    code, out, err = run(capsys, "validate", made / "one-run.toml")
    assert code == 0 and "valid (docker, container opennebula)" in out
    assert f"({init.DEFAULT_DAYS} days left)" in out
    assert err == ""


def test_render_prints_the_documented_command(made, capsys):
    code, out, _ = run(capsys, "render", made / "one-run.toml")
    assert code == 0
    command = out[out.index("docker run"):].replace(" \\\n  ", " ")
    assert command.startswith("docker run -d --name opennebula --privileged --restart unless-stopped ")
    for part in [*(f"-p {p}" for p in init.PORTS), *(f"-v {v}" for v in init.VOLUMES),
                 f"-e OPENNEBULA_HOST={HOST}", f"-e OPENNEBULA_SSH_HOST={HOST}",
                 "/certs:/certs:z,ro", "-e TLS_CERT=/certs/cert.pem", "-e TLS_KEY=/certs/cert.key",
                 "/ssh:/ssh:z,ro", "-e ONEADMIN_SSH_PRIVKEY=/ssh/id_rsa",
                 "-e ONEADMIN_SSH_PUBKEY=/ssh/id_rsa.pub", "/config:/config:z,ro",
                 "-e OPENNEBULA_ONECFG_PATCH=/config/onecfg_patch",
                 "-e OPENNEBULA_PREBOOTSTRAP_HOOK=/config/pre-bootstrap-hook.sh",
                 "-e OPENNEBULA_POSTBOOTSTRAP_HOOK=/config/post-bootstrap-hook.sh",
                 "-e ONEADMIN_PASSWORD -e MYSQL_PASSWORD -e MYSQL_ROOT_PASSWORD"]:
        assert part in command
    assert command.count(f"-v {made}/.one-run/one-run/staged/") == 3
    assert command.rstrip().endswith(" docker.io/opennebula/opennebula:6.0")
    for name in PRIVATE[2:]:
        assert (made / name).read_text().strip() not in out


def test_the_profile_is_commented_toml_with_secrets_by_reference(made):
    text = (made / "one-run.toml").read_text()
    data = tomllib.loads(text)
    assert data["container"] == {"name": "opennebula", "image": "docker.io/opennebula/opennebula:6.0",
                                 "privileged": True, "restart": "unless-stopped",
                                 "ports": init.PORTS, "volumes": init.VOLUMES}
    assert data["env"] == {"OPENNEBULA_HOST": HOST, "OPENNEBULA_SSH_HOST": HOST, "DIND_ENABLED": "yes",
                           "ONEADMIN_PASSWORD": {"file": "secrets/oneadmin_password"},
                           "MYSQL_PASSWORD": {"file": "secrets/mysql_password"},
                           "MYSQL_ROOT_PASSWORD": {"file": "secrets/mysql_root_password"}}
    lines = text.splitlines()
    for table in ("[container]", "[env]", "[tls]", "[ssh]", "[config]"):
        assert lines[lines.index(table) - 1].startswith("# "), table
    passwords = {(made / name).read_text() for name in PRIVATE[2:]}
    assert len(passwords) == 3 and all(len(p.strip()) >= 32 and p.strip() not in text for p in passwords)


def test_ports_volumes_and_secrets_come_from_the_image_reference():
    reference = json.loads(Path(DATA).read_text())
    ports = {(p["port"], p["protocol"]) for p in reference["ports"]}
    for spec in init.PORTS:
        body, _, proto = spec.partition("/")
        assert (int(body.split(":")[1]), proto or "tcp") in ports, spec
    volumes = {(v["name"], v["container_path"]) for v in reference["volumes"]}
    assert {tuple(v.split(":")) for v in init.VOLUMES} <= volumes
    assert all(image_parameters()[name]["secret"] for name in init.SECRETS)


def test_the_patch_is_all_comments_and_each_example_parses_once_uncommented(made):
    lines = (made / "config/onecfg_patch").read_text().splitlines()
    assert all(line.startswith("#") for line in lines)
    examples = [line[2:] for line in lines if line.startswith("# /")]
    assert len(examples) >= 3
    assert [onecfg.check_line(line) for line in examples] == [None] * len(examples)


def test_the_hooks_are_bash_scripts_that_succeed(made):
    for name in ("pre-bootstrap-hook.sh", "post-bootstrap-hook.sh"):
        hook = made / "config" / name
        assert hook.read_text().startswith("#!/bin/bash\n")
        assert subprocess.run([str(hook)], capture_output=True).returncode == 0


def test_init_refuses_to_replace_files_and_lists_them(made, tmp_path, capsys):
    before = snapshot(made)
    code, out, err = run(capsys, "init", made, "--fqdn", "other.example.com")
    assert code == 2 and out == ""
    for name in before:
        assert str(made / name) in err
    assert "--force" in err and "nothing was written" in err
    assert snapshot(made) == before


def test_one_existing_file_is_enough_to_refuse(tmp_path, capsys):
    patch = tmp_path / "config" / "onecfg_patch"
    patch.parent.mkdir()
    patch.write_text("# mine\n")
    code, _, err = run(capsys, "init", tmp_path, "--fqdn", HOST)
    assert code == 2 and str(patch) in err and "cert.pem" not in err
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == ["config", "config/onecfg_patch"]


def test_force_replaces_and_keeps_a_backup_of_each_file(tmp_path, capsys, fast_keys):
    folder = tmp_path / "d"
    init.init_deployment(folder, HOST)
    before = snapshot(folder)
    code, out, err = run(capsys, "init", folder, "--fqdn", HOST, "--force")
    assert code == 0, err
    after = snapshot(folder)
    for name, (data, mode) in before.items():
        backups = [p for p in after if p.parent == name.parent
                   and re.fullmatch(re.escape(name.name) + r"\.\d{8}T\d{6}Z\.bak", p.name)]
        assert len(backups) == 1, name
        assert after[backups[0]] == (data, mode)
        assert backups[0].name in out
    key = Path("certs/cert.key")
    assert after[key][0] != before[key][0]
    assert "first bootstrap only" in err and "previous passwords" in err


@pytest.mark.parametrize("argv, expected", [
    (["--fqdn", "not a host"], "is not a DNS name or an IP address"),
    (["--fqdn", "999.1.1.1"], "is not an IP address, nor a DNS name (whose last label cannot be all digits)"),
    (["--fqdn", "one.example.42."], "is not an IP address, nor a DNS name"),
    (["--fqdn", HOST, "--days", "0"], "at least one day"),
    (["--fqdn", HOST, "--days", "3000000"], "cannot be valid after 9999-12-31"),
])
def test_bad_arguments_are_exit_2_and_write_nothing(tmp_path, capsys, argv, expected):
    code, _, err = run(capsys, "init", tmp_path / "d", *argv)
    assert code == 2 and expected in err
    assert not (tmp_path / "d").exists()


def test_a_failed_write_suggests_force_only_when_files_were_written(tmp_path, capsys, monkeypatch, fast_keys):
    (tmp_path / "file").write_text("")
    code, _, err = run(capsys, "init", tmp_path / "file" / "one", "--fqdn", HOST)
    assert code == 2 and "cannot write in" in err and "no file was written" in err and "--force" not in err

    real_write = crypto.write_file

    def disk_full_at_the_key(path, data, mode):
        if path.name == "cert.key":
            raise OSError(28, "No space left on device", str(path))
        real_write(path, data, mode)

    monkeypatch.setattr(crypto, "write_file", disk_full_at_the_key)
    code, _, err = run(capsys, "init", tmp_path / "d", "--fqdn", HOST)
    assert code == 2 and "No space left on device" in err and str(tmp_path / "d" / init.PROFILE) in err
    assert err.rstrip().endswith("run init again with --force")


def test_podman_runtime_and_image_are_recorded(tmp_path, capsys, fast_keys):
    init.init_deployment(tmp_path, HOST, runtime="podman", image="localhost/one:test", ssh_key_type="ed25519")
    code, out, _ = run(capsys, "render", tmp_path / "one-run.toml")
    assert code == 0 and "podman run" in out and out.rstrip().endswith("localhost/one:test")


# --- tls renew ----------------------------------------------------------------------

def test_renew_makes_a_new_certificate_for_the_same_key_and_names(tmp_path, capsys, fast_keys):
    init.init_deployment(tmp_path, "192.0.2.10", days=5)
    cert_path = tmp_path / "certs/cert.pem"
    old_cert, old_key = cert_path.read_bytes(), (tmp_path / "certs/cert.key").read_bytes()
    code, out, err = run(capsys, "tls", "renew", tmp_path / "one-run.toml", "--days", "90")
    assert code == 0, err
    assert "(90 days left)" in out and "one-run apply" in out
    old, new = x509.load_pem_x509_certificate(old_cert), load_cert(cert_path)
    assert new.serial_number != old.serial_number and new.not_valid_after_utc > old.not_valid_after_utc
    assert new.subject == old.subject and crypto._spki(new.public_key()) == crypto._spki(old.public_key())
    assert new.extensions.get_extension_for_class(x509.SubjectAlternativeName) == \
        old.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    new.verify_directly_issued_by(new)
    assert (tmp_path / "certs/cert.key").read_bytes() == old_key
    [backup] = (tmp_path / "certs").glob("cert.pem.*.bak")
    assert backup.read_bytes() == old_cert and str(backup) in out
    code, out, _ = run(capsys, "validate", tmp_path / "one-run.toml")
    assert code == 0 and "(90 days left)" in out


def test_renew_refuses_a_certificate_issued_by_a_ca(tmp_path, capsys, fast_keys):
    init.init_deployment(tmp_path, HOST)
    ca = make_cert(CA_KEY, names=(), cn="Example CA", ca=True)
    crypto.write_public(tmp_path / "certs/cert.pem", pem(make_cert(EC_KEY, issuer=(CA_KEY, ca)), ca))
    crypto.write_file(tmp_path / "certs/cert.key", key_pem(EC_KEY), 0o600)
    before = snapshot(tmp_path)
    code, out, err = run(capsys, "tls", "renew", tmp_path / "one-run.toml")
    assert code == 2 and "CN=Example CA" in err and "renew it with its CA" in err
    assert snapshot(tmp_path) == before


def test_renew_needs_a_tls_table(tmp_path, capsys):
    path = tmp_path / "one-run.toml"
    path.write_text('[container]\nname = "opennebula"\nimage = "docker.io/opennebula/opennebula:6.0"\n')
    code, _, err = run(capsys, "tls", "renew", path)
    assert code == 2 and "no [tls] table" in err


def test_a_folder_that_cannot_be_looked_into_is_exit_2(tmp_path, capsys):
    folder = tmp_path / ("x" * 300) / "one"  # ENAMETOOLONG, where an unreadable parent gives EACCES
    code, _, err = run(capsys, "init", folder, "--fqdn", HOST)
    assert code == 2 and "cannot look into" in err and "nothing was written" in err
    assert list(tmp_path.iterdir()) == []


def test_an_unreadable_parent_is_exit_2(tmp_path, capsys, monkeypatch):
    def unreadable(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "exists", unreadable)
    code, _, err = run(capsys, "init", tmp_path / "locked" / "one", "--fqdn", HOST)
    assert code == 2 and "Permission denied" in err and "nothing was written" in err


def test_renew_refuses_days_past_the_last_date_and_changes_nothing(tmp_path, capsys, fast_keys):
    init.init_deployment(tmp_path, HOST)
    before = snapshot(tmp_path)
    code, _, err = run(capsys, "tls", "renew", tmp_path / "one-run.toml", "--days", "3000000")
    assert code == 2 and "cannot be valid after 9999-12-31" in err
    assert snapshot(tmp_path) == before
