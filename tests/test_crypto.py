"""Each certificate and key rule, with material made in the test, mostly through `one-run validate`
so the message is seen as the user sees it: profile file, line, key, what is wrong and the fix."""
import datetime
import ipaddress
import os
import shutil
import stat
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from one_run.cli import main
from one_run.model import crypto

HOST = "one.example.com"
EC_KEY = ec.generate_private_key(ec.SECP256R1())  # fast, and no RSA-size warning in the way
OTHER_KEY = ec.generate_private_key(ec.SECP256R1())
CA_KEY = ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def rsa_2048():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def make_cert(key, names=(HOST,), start=-1, end=365, issuer=None, cn=HOST, ca=False, algorithm=None):
    """A certificate for `names` (DNS names or IP addresses), self-signed unless issuer=(key, cert)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    signer, issuer_name = (issuer[0], issuer[1].subject) if issuer else (key, subject)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now + datetime.timedelta(days=start))
               .not_valid_after(now + datetime.timedelta(days=end))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName([_general(n) for n in names]), critical=False)
    return builder.sign(signer, algorithm or hashes.SHA256())


def _general(name):
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def pem(*certs) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def key_pem(key, password=None) -> bytes:
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def with_weak_signature(cert) -> x509.Certificate:
    """The same certificate claiming sha1WithRSAEncryption: cryptography no longer signs with
    SHA-1, and the checks read only the algorithm, so the OID is swapped in the DER (twice:
    inside the signed part and beside the signature)."""
    sha256_rsa = bytes.fromhex("06092a864886f70d01010b")
    der = cert.public_bytes(serialization.Encoding.DER)
    assert der.count(sha256_rsa) == 2
    return x509.load_der_x509_certificate(der.replace(sha256_rsa, bytes.fromhex("06092a864886f70d010105")))


def tls_profile(tmp_path, cert_pem: bytes, key_bytes: bytes, host=HOST):
    (tmp_path / "certs").mkdir(exist_ok=True)
    crypto.write_public(tmp_path / "certs" / "cert.pem", cert_pem)
    crypto.write_file(tmp_path / "certs" / "cert.key", key_bytes, 0o600)
    path = tmp_path / "one-run.toml"
    path.write_text(f'[container]\nname = "opennebula"\nimage = "docker.io/opennebula/opennebula:6.0"\n\n'
                    f'[env]\nOPENNEBULA_HOST = "{host}"\n\n'
                    f'[tls]\ncert = "certs/cert.pem"\nkey = "certs/cert.key"\n')
    return path


def validate(capsys, path):
    code = main(["validate", str(path)])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_good_certificate_passes_silently(tmp_path, capsys):
    code, out, err = validate(capsys, tls_profile(tmp_path, pem(make_cert(EC_KEY)), key_pem(EC_KEY)))
    assert code == 0 and "valid" in out
    assert err == ""


def test_expired_is_an_error_with_the_date_and_how_to_renew(tmp_path, capsys):
    path = tls_profile(tmp_path, pem(make_cert(EC_KEY, start=-400, end=-3)), key_pem(EC_KEY))
    code, _, err = validate(capsys, path)
    assert code == 2
    assert f"{path}:9 [tls.cert]" in err and "expired on" in err and "3 days ago" in err
    assert "one-run tls renew" in err


def test_not_yet_valid_is_an_error(tmp_path, capsys):
    code, _, err = validate(capsys, tls_profile(tmp_path, pem(make_cert(EC_KEY, start=2)), key_pem(EC_KEY)))
    assert code == 2 and "[tls.cert]" in err and "is not valid before" in err and "clock" in err


def test_expiring_soon_is_a_warning_with_the_days_left(tmp_path, capsys):
    code, _, err = validate(capsys, tls_profile(tmp_path, pem(make_cert(EC_KEY, end=10)), key_pem(EC_KEY)))
    assert code == 0
    assert err.startswith("warning:") and "[tls.cert]" in err and "expires on" in err and "in 10 days" in err


def test_a_certificate_for_other_names_warns_with_the_names_it_covers(tmp_path, capsys):
    cert = make_cert(EC_KEY, names=("other.example.com", "203.0.113.7"))
    code, _, err = validate(capsys, tls_profile(tmp_path, pem(cert), key_pem(EC_KEY)))
    assert code == 0
    assert "warning:" in err and "[tls.cert]" in err
    assert f"not valid for OPENNEBULA_HOST {HOST}" in err and "it covers other.example.com, 203.0.113.7" in err


def test_a_wildcard_covers_one_label(tmp_path, capsys):
    code, _, err = validate(capsys, tls_profile(tmp_path, pem(make_cert(EC_KEY, names=("*.example.com",))),
                                                key_pem(EC_KEY)))
    assert code == 0 and err == ""
    cert = make_cert(EC_KEY, names=("*.example.com",))
    assert crypto.covers(cert, "ONE.example.com.")
    assert not crypto.covers(cert, "example.com")
    assert not crypto.covers(cert, "a.one.example.com")


def test_an_ip_host_needs_an_ip_san(tmp_path, capsys):
    code, _, err = validate(capsys, tls_profile(tmp_path, pem(make_cert(EC_KEY, names=("192.0.2.10",))),
                                                key_pem(EC_KEY), host="192.0.2.10"))
    assert code == 0 and err == ""
    # A DNS entry spelling the address does not count: clients compare IP SANs only.
    assert not crypto.covers(make_cert(EC_KEY, names=("192.0.2.10.example.com", "192.0.2.11")), "192.0.2.10")
    assert crypto.covers(make_cert(EC_KEY, names=("2001:db8::1",)), "2001:db8:0::1")


def test_the_common_name_counts_only_without_san():
    assert crypto.covers(make_cert(EC_KEY, names=(), cn=HOST), HOST)
    assert not crypto.covers(make_cert(EC_KEY, names=("other.example.com",), cn=HOST), HOST)
    assert crypto.certificate_names(make_cert(EC_KEY, names=(), cn=HOST)) == [HOST]


def test_sha1_signature_is_a_warning(tmp_path, capsys, rsa_2048):
    cert = with_weak_signature(make_cert(rsa_2048))
    code, _, err = validate(capsys, tls_profile(tmp_path, pem(cert), key_pem(rsa_2048)))
    assert code == 0
    assert "warning:" in err and "signed with SHA1" in err and "SHA-256" in err


def test_a_1024_bit_rsa_key_is_a_warning(tmp_path, capsys):
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    code, _, err = validate(capsys, tls_profile(tmp_path, pem(make_cert(small)), key_pem(small)))
    assert code == 0
    assert "warning:" in err and "1024 bits" in err and "under 2048" in err


def test_a_chain_file_leaf_first_is_accepted(tmp_path, capsys):
    ca = make_cert(CA_KEY, names=(), cn="Example CA", ca=True)
    leaf = make_cert(EC_KEY, issuer=(CA_KEY, ca))
    code, _, err = validate(capsys, tls_profile(tmp_path, pem(leaf, ca), key_pem(EC_KEY)))
    assert code == 0 and err == ""


def test_a_chain_file_with_the_leaf_last_says_to_put_it_first(tmp_path, capsys):
    ca = make_cert(CA_KEY, names=(), cn="Example CA", ca=True)
    leaf = make_cert(EC_KEY, issuer=(CA_KEY, ca))
    code, _, err = validate(capsys, tls_profile(tmp_path, pem(ca, leaf), key_pem(EC_KEY)))
    assert code == 2
    assert "[tls.key]" in err and "key of certificate 2" in err and "put the server certificate first" in err


def test_an_encrypted_key_is_an_error_saying_the_image_needs_it_unencrypted(tmp_path, capsys):
    code, _, err = validate(capsys, tls_profile(tmp_path, pem(make_cert(EC_KEY)), key_pem(EC_KEY, b"secret")))
    assert code == 2
    assert "[tls.key]" in err and "encrypted with a passphrase" in err and "needs the key unencrypted" in err
    assert "openssl pkey -in" in err


def test_a_key_of_another_certificate_is_an_error(tmp_path, capsys):
    code, _, err = validate(capsys, tls_profile(tmp_path, pem(make_cert(EC_KEY)), key_pem(OTHER_KEY)))
    assert code == 2 and "[tls.key]" in err and "is not the key of the certificate" in err


GOOD = make_cert(EC_KEY)


@pytest.mark.parametrize("cert, key, expected", [
    (b"hello\n", key_pem(EC_KEY), ["[tls.cert]", "is not a PEM certificate"]),
    (key_pem(EC_KEY), pem(GOOD), ["holds a private key, not a certificate", "swapped", "(it holds a certificate)"]),
    (GOOD.public_bytes(serialization.Encoding.DER), key_pem(EC_KEY), ["looks like DER", "openssl x509 -inform der"]),
    (pem(GOOD), b"\x00\x01", ["[tls.key]", "is not a PEM private key"]),
], ids=["text", "swapped", "der", "binary-key"])
def test_garbage_files_are_clear_errors_not_crashes(tmp_path, capsys, cert, key, expected):
    code, _, err = validate(capsys, tls_profile(tmp_path, cert, key))
    assert code == 2
    for part in expected:
        assert part in err


def test_tls_summary_names_subject_names_and_days_left(tmp_path):
    path = tmp_path / "cert.pem"
    path.write_bytes(pem(make_cert(EC_KEY, names=(HOST, "192.0.2.10"), end=100)))
    summary = crypto.tls_summary(path)
    assert f"CN={HOST}" in summary and f"names {HOST}, 192.0.2.10" in summary and "(100 days left)" in summary


@pytest.mark.parametrize("end, summary, finding", [
    (1, "(1 day left)", "in 1 day — "),
    (0.3, "(less than a day left)", "in less than a day — "),
    (-1, "(expired 1 day ago)", "(1 day ago)"),
])
def test_one_day_is_singular_and_days_are_not_rounded_down(tmp_path, capsys, end, summary, finding):
    path = tls_profile(tmp_path, pem(make_cert(EC_KEY, start=-2, end=end)), key_pem(EC_KEY))
    assert summary in crypto.tls_summary(tmp_path / "certs" / "cert.pem")
    assert finding in validate(capsys, path)[2]


# --- SSH ----------------------------------------------------------------------------

def ssh_profile(tmp_path, private: bytes, public: bytes):
    (tmp_path / "ssh").mkdir(exist_ok=True)
    crypto.write_file(tmp_path / "ssh" / "id", private, 0o600)
    crypto.write_public(tmp_path / "ssh" / "id.pub", public)
    path = tmp_path / "one-run.toml"
    path.write_text('[container]\nname = "opennebula"\nimage = "docker.io/opennebula/opennebula:6.0"\n\n'
                    '[ssh]\nprivate_key = "ssh/id"\npublic_key = "ssh/id.pub"\n')
    return path


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
def test_a_generated_ssh_pair_passes(tmp_path, capsys, kind, monkeypatch):
    monkeypatch.setattr(crypto, "RSA_BITS", 2048)
    private, public = crypto.generate_ssh(kind)
    assert public.startswith(b"ssh-rsa " if kind == "rsa" else b"ssh-ed25519 ") and public.endswith(b" oneadmin\n")
    code, _, err = validate(capsys, ssh_profile(tmp_path, private, public))
    assert code == 0 and err == ""


def test_a_public_key_of_another_pair_is_an_error(tmp_path, capsys):
    private, _ = crypto.generate_ssh("ed25519")
    _, other_public = crypto.generate_ssh("ed25519")
    path = ssh_profile(tmp_path, private, other_public)
    code, _, err = validate(capsys, path)
    assert code == 2
    assert f"{path}:7 [ssh.public_key]" in err and "is not the public key of" in err and "ssh-keygen -y -f" in err


def test_a_pem_private_key_with_a_passphrase_is_an_error(tmp_path, capsys):
    key = ed25519.Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    code, _, err = validate(capsys, ssh_profile(tmp_path, key_pem(key, b"secret"), public))
    assert code == 2
    assert "[ssh.private_key]" in err and "encrypted with a passphrase" in err and 'ssh-keygen -p -N ""' in err


@pytest.mark.skipif(not shutil.which("ssh-keygen"), reason="needs ssh-keygen to make an encrypted OpenSSH key")
def test_an_openssh_private_key_with_a_passphrase_is_an_error(tmp_path, capsys):
    # cryptography writes encrypted OpenSSH keys only with bcrypt installed; ssh-keygen always can.
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "secret", "-f", str(tmp_path / "k")], check=True)
    code, _, err = validate(capsys, ssh_profile(tmp_path, (tmp_path / "k").read_bytes(),
                                                (tmp_path / "k.pub").read_bytes()))
    assert code == 2 and "[ssh.private_key]" in err and "passphrase" in err and "ssh-keygen -p" in err


def test_swapped_or_garbage_ssh_files_are_clear_errors(tmp_path, capsys):
    private, public = crypto.generate_ssh("ed25519")
    code, _, err = validate(capsys, ssh_profile(tmp_path, public, private))
    assert code == 2
    assert "[ssh.private_key]" in err and "(it holds an SSH public key)" in err
    assert "[ssh.public_key]" in err and "holds a PRIVATE key" in err
    code, _, err = validate(capsys, ssh_profile(tmp_path, private, b"not a key\n"))
    assert code == 2 and "is not an OpenSSH public key line" in err


# --- files --------------------------------------------------------------------------

def test_a_private_file_is_0600_from_creation_and_replaced_atomically(tmp_path):
    path = tmp_path / "key"
    old = os.umask(0)
    try:
        crypto.write_file(path, b"one", 0o600)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        path.chmod(0o644)
        crypto.write_file(path, b"two", 0o600)
    finally:
        os.umask(old)
    assert path.read_bytes() == b"two" and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["key"]  # no temporary file left behind


def test_a_backup_keeps_the_old_file_and_its_mode(tmp_path):
    path = tmp_path / "cert.key"
    crypto.write_file(path, b"old", 0o600)
    backup = crypto.keep_backup(path)
    second = crypto.keep_backup(path)
    crypto.write_file(path, b"new", 0o600)
    assert backup != second and backup.name.startswith("cert.key.") and backup.name.endswith(".bak")
    assert backup.read_bytes() == b"old" and stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert path.read_bytes() == b"new"


@pytest.mark.parametrize("existing", [False, True])
def test_a_write_that_fails_leaves_no_partial_file(tmp_path, monkeypatch, existing):
    path = tmp_path / "key"
    if existing:
        crypto.write_file(path, b"old", 0o600)

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(crypto.os, "fsync", full_disk)
    with pytest.raises(OSError):
        crypto.write_file(path, b"new", 0o600)
    monkeypatch.undo()
    # A new file is gone (init would otherwise demand --force); an existing one is untouched.
    assert [p.name for p in tmp_path.iterdir()] == (["key"] if existing else [])
    if existing:
        assert path.read_bytes() == b"old"


def test_days_are_bounded_by_the_last_date_a_certificate_can_hold():
    crypto.check_days(1)
    crypto.check_days(3650)
    for days in (0, -5, 3_000_000, 10 ** 12):
        with pytest.raises(crypto.UsageError) as refused:
            crypto.check_days(days)
        assert "--days" in refused.value.message
    with pytest.raises(crypto.UsageError, match="not be valid after 9999-12-31"):
        crypto.check_days(3_000_000)
