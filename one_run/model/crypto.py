"""Certificates and keys: the checks `validate`/`apply` make, and what `init`/`tls renew` write.

The only module that imports `cryptography` (about 100 ms to import), and it is itself
imported only by the commands that need it, never by `render`.
Checks return Problems keyed by profile key ("tls.cert", "ssh.private_key", ...); the
caller adds the profile's file and line.
"""
import datetime
import ipaddress
import os
from pathlib import Path
from typing import List, Optional, Tuple

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..common.errors import Problem, UsageError
from ..common.files import write_file

EXPIRY_WARNING_DAYS = 30
MIN_RSA_BITS = 2048
WEAK_HASHES = ("md5", "sha1")
# RSA rather than EC for TLS: the image's stunnel and Sunstone, and older CLI clients,
# all take RSA; 3072 bits is NIST's size for use beyond 2030 (and ssh-keygen's default).
RSA_BITS = 3072
CLOCK_SKEW = datetime.timedelta(minutes=5)  # a host clock slightly behind must not see "not yet valid"
LAST_DAY = datetime.datetime(9999, 12, 31, tzinfo=datetime.timezone.utc)  # X.509's last date (GeneralizedTime)


class _Unusable(Exception):
    """A file that cannot be used at all: no further check of it makes sense."""

    def __init__(self, problem: Problem):
        super().__init__(problem.message)
        self.problem = problem


# --- files ------------------------------------------------------------------------

def write_public(path: Path, data: bytes) -> None:
    write_file(path, data, 0o644)


def keep_backup(path: Path) -> Path:
    """Keep the current file as `<name>.<UTC time>.bak` before it is replaced.

    A hard link: the backup is the old file itself, with its mode (a private key stays
    0600, never copied through a readable file), and the replacement then gets a new inode.
    """
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    for suffix in ["", *(f"-{n}" for n in range(2, 100))]:
        backup = path.with_name(f"{path.name}.{stamp}{suffix}.bak")
        try:
            os.link(path, backup, follow_symlinks=False)
            return backup
        except FileExistsError:
            continue
    raise UsageError(f"{path}: too many backups named {path.name}.{stamp}*.bak; remove some")


def _read(path: Path, key: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise _Unusable(Problem(f"cannot read {path}: {exc.strerror}", key=key)) from None


# --- TLS checks ---------------------------------------------------------------------

def check_tls(cert_path: Path, key_path: Path, host: Optional[str]) -> List[Problem]:
    """Every finding about a certificate (or chain, leaf first) and its key, for `host`."""
    problems: List[Problem] = []
    chain = key = None
    try:
        chain = read_certificates(cert_path)
    except _Unusable as exc:
        problems.append(exc.problem)
    try:
        key = read_private_key(key_path, "tls.key", _tls_decrypt_fix(key_path))
    except _Unusable as exc:
        problems.append(exc.problem)
    if chain:
        leaf = chain[0]
        problems += _validity_problems(leaf, cert_path)
        problems += _host_problems(leaf, host)
        problems += _strength_problems(leaf)
        problems += _chain_order_problems(chain, cert_path)
        if key is not None:
            problems += _key_match_problems(chain, key, cert_path, key_path)
    return problems


def read_certificates(path: Path) -> List[x509.Certificate]:
    """The PEM certificates of a file, leaf first; a clear Problem for anything else."""
    data = _read(path, "tls.cert")
    if b"-----BEGIN CERTIFICATE-----" not in data:
        if b"PRIVATE KEY-----" in data:
            message, fix = f"{path} holds a private key, not a certificate", "are [tls] cert and key swapped?"
        elif data[:1] == b"\x30":
            message, fix = f"{path} is not a PEM certificate (it looks like DER)", \
                f"convert it: openssl x509 -inform der -in {path} -out {path}.pem"
        else:
            message, fix = f"{path} is not a PEM certificate", "it must hold -----BEGIN CERTIFICATE----- blocks"
        raise _Unusable(Problem(message, key="tls.cert", fix=fix))
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise _Unusable(Problem(f"{path}: a certificate in it cannot be read ({exc})", key="tls.cert",
                                fix="export it again from its source, in PEM")) from None


def read_private_key(path: Path, key: str, decrypt_fix: str, openssh: bool = False):
    """A PEM (or, with `openssh`, OpenSSH) private key without a passphrase; Problems say what else it is."""
    data = _read(path, key)
    formats = "a PEM or OpenSSH" if openssh else "a PEM"
    try:
        if openssh and b"-----BEGIN OPENSSH PRIVATE KEY-----" in data:
            return serialization.load_ssh_private_key(data, password=None)
        return serialization.load_pem_private_key(data, password=None)
    except TypeError:  # cryptography's way of saying "it needs a password"
        raise _Unusable(Problem(f"{path} is encrypted with a passphrase; the image reads it unattended "
                                "at bootstrap, so it needs the key unencrypted", key=key, fix=decrypt_fix)) from None
    except UnsupportedAlgorithm as exc:
        raise _Unusable(Problem(f"{path}: unsupported key type ({exc})", key=key,
                                fix="use an RSA, ECDSA or Ed25519 key")) from None
    except ValueError:
        raise _Unusable(Problem(f"{path} is not {formats} private key{_what_it_holds(data)}",
                                key=key, fix="point the key at the private key file")) from None


def _what_it_holds(data: bytes) -> str:
    if b"-----BEGIN CERTIFICATE-----" in data:
        return " (it holds a certificate)"
    if b"-----BEGIN OPENSSH PRIVATE KEY-----" in data:
        return " (it is in OpenSSH format)"
    if data.lstrip().startswith((b"ssh-", b"ecdsa-")):
        return " (it holds an SSH public key)"
    return ""


def _tls_decrypt_fix(path: Path) -> str:
    return f"decrypt it in place: openssl pkey -in {path} -out {path}  (then chmod 600 {path})"


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _days(count: int) -> str:
    return "1 day" if count == 1 else f"{count} days"


def _duration(delta: datetime.timedelta) -> str:
    """To the nearest day, not down: a certificate made for N days has N days left, not N - 1."""
    days = round(delta / datetime.timedelta(days=1))
    return _days(days) if days else "less than a day"


def _validity_problems(cert: x509.Certificate, path: Path) -> List[Problem]:
    now = _now()
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    renew = "renew it: `one-run tls renew PROFILE` for a self-signed one, otherwise from its CA"
    if end <= now:
        return [Problem(f"{path} expired on {end:%Y-%m-%d} ({_duration(now - end)} ago)", key="tls.cert", fix=renew)]
    if start > now:
        return [Problem(f"{path} is not valid before {start:%Y-%m-%d %H:%M} UTC", key="tls.cert",
                        fix="check this host's clock, or issue it with an earlier start date")]
    if end - now < datetime.timedelta(days=EXPIRY_WARNING_DAYS):
        return [Problem(f"{path} expires on {end:%Y-%m-%d}, in {_duration(end - now)}", key="tls.cert", fix=renew,
                        warning=True)]
    return []


def _san(cert: x509.Certificate) -> Optional[x509.SubjectAlternativeName]:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None


def certificate_names(cert: x509.Certificate) -> List[str]:
    """The host names and addresses a server certificate is valid for (CN only without SAN)."""
    san = _san(cert)
    if san is None:
        return [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    return san.get_values_for_type(x509.DNSName) + [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]


def covers(cert: x509.Certificate, host: str) -> bool:
    """True when a TLS client connecting to `host` accepts this certificate's names."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    san = _san(cert)
    if san is None:  # only then do clients still look at the subject's CN
        names = certificate_names(cert)
        return any(_same_address(n, address) if address else _dns_match(n, host) for n in names)
    if address is not None:
        return address in san.get_values_for_type(x509.IPAddress)
    return any(_dns_match(n, host) for n in san.get_values_for_type(x509.DNSName))


def _same_address(name: str, address) -> bool:
    try:
        return ipaddress.ip_address(name) == address
    except ValueError:
        return False


def _dns_match(pattern: str, host: str) -> bool:
    """RFC 6125: a `*` stands for exactly one whole left-most label."""
    pattern, host = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if pattern.startswith("*."):
        first, _, rest = host.partition(".")
        return bool(first) and rest == pattern[2:]
    return pattern == host


def _host_problems(cert: x509.Certificate, host: Optional[str]) -> List[Problem]:
    if not host or covers(cert, host):
        return []
    names = certificate_names(cert)
    listing = f"it covers {', '.join(names)}" if names else "it names no host at all"
    return [Problem(f"the certificate is not valid for OPENNEBULA_HOST {host}: {listing}", key="tls.cert",
                    fix=f"issue one for {host} (`one-run init` makes one), or set OPENNEBULA_HOST to a covered name",
                    warning=True)]


def _strength_problems(cert: x509.Certificate) -> List[Problem]:
    problems = []
    public = cert.public_key()
    if isinstance(public, rsa.RSAPublicKey) and public.key_size < MIN_RSA_BITS:
        problems.append(Problem(f"the certificate's RSA key has {public.key_size} bits; TLS clients at "
                                f"today's default security level refuse keys under {MIN_RSA_BITS}", key="tls.cert",
                                fix=f"issue a new certificate with a key of {RSA_BITS} bits", warning=True))
    try:
        algorithm = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        algorithm = None
    if algorithm is not None and algorithm.name in WEAK_HASHES:
        problems.append(Problem(f"the certificate is signed with {algorithm.name.upper()}, which browsers reject "
                                "as forgeable", key="tls.cert", fix="issue it again signed with SHA-256",
                                warning=True))
    return problems


def _chain_order_problems(chain: List[x509.Certificate], path: Path) -> List[Problem]:
    for number, (cert, issuer) in enumerate(zip(chain, chain[1:]), 1):
        if cert.issuer != issuer.subject:
            return [Problem(f"{path}: certificate {number + 1} did not issue certificate {number}; "
                            "clients may not build the chain", key="tls.cert",
                            fix="order the file: server certificate first, then each issuer in turn", warning=True)]
    return []


def _key_match_problems(chain, key, cert_path: Path, key_path: Path) -> List[Problem]:
    mine = _spki(key.public_key())
    if _spki(chain[0].public_key()) == mine:
        return []
    for number, cert in enumerate(chain[1:], 2):
        if _spki(cert.public_key()) == mine:
            return [Problem(f"{key_path} is the key of certificate {number} in {cert_path}, not of the first one",
                            key="tls.key", fix="put the server certificate first in the chain file")]
    return [Problem(f"{key_path} is not the key of the certificate {cert_path}", key="tls.key",
                    fix="use the key the certificate was issued for (compare `openssl x509 -noout -pubkey` "
                        "with `openssl pkey -pubout`)")]


def _spki(public_key) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def tls_summary(cert_path: Path) -> str:
    """One line for humans: whom the certificate is for, what it covers, how long it lasts."""
    try:
        leaf = read_certificates(cert_path)[0]
    except _Unusable as exc:
        return exc.problem.message
    end, now = leaf.not_valid_after_utc, _now()
    left = f"{_duration(end - now)} left" if end > now else f"expired {_duration(now - end)} ago"
    return (f"{cert_path}: {leaf.subject.rfc4514_string() or 'no subject'}, "
            f"names {', '.join(certificate_names(leaf)) or 'none'}, valid until {end:%Y-%m-%d} ({left})")


# --- SSH checks ---------------------------------------------------------------------

def check_ssh_pair(private_path: Path, public_path: Path) -> List[Problem]:
    """The private key loads without a passphrase, and the public key is its own."""
    problems: List[Problem] = []
    private = public = None
    try:
        private = read_private_key(private_path, "ssh.private_key",
                                   f"remove the passphrase: ssh-keygen -p -N \"\" -f {private_path}", openssh=True)
    except _Unusable as exc:
        problems.append(exc.problem)
    try:
        public = _read_ssh_public_key(public_path)
    except _Unusable as exc:
        problems.append(exc.problem)
    if private is not None and public is not None and _openssh(private.public_key()) != _openssh(public):
        problems.append(Problem(f"{public_path} is not the public key of {private_path}", key="ssh.public_key",
                                fix=f"write it again from the private key: "
                                    f"ssh-keygen -y -f {private_path} > {public_path}"))
    return problems


def _read_ssh_public_key(path: Path):
    data = _read(path, "ssh.public_key")
    if b"PRIVATE KEY-----" in data:
        raise _Unusable(Problem(f"{path} holds a PRIVATE key where the public key belongs",
                                key="ssh.public_key", fix="are [ssh] private_key and public_key swapped? "
                                                          f"If this file is readable by others, chmod 600 {path}"))
    line = next((ln.strip() for ln in data.splitlines() if ln.strip() and not ln.startswith(b"#")), b"")
    try:
        return serialization.load_ssh_public_key(line)
    except (ValueError, UnsupportedAlgorithm):
        raise _Unusable(Problem(f"{path} is not an OpenSSH public key line (`ssh-ed25519 AAAA... comment`)",
                                key="ssh.public_key", fix="write it from the private key: ssh-keygen -y -f "
                                                          "PRIVATE_KEY > " + str(path))) from None


def _openssh(public_key) -> bytes:
    return public_key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)


# --- generation ---------------------------------------------------------------------

def generate_tls(host: str, days: int) -> Tuple[bytes, bytes]:
    """A self-signed server certificate for `host` (DNS name or IP address), with a new
    RSA 3072 key: (cert PEM, key PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    # A CN holds at most 64 characters; clients read the SAN anyway.
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)] if len(host) <= 64 else [])
    cert = _self_signed(key, subject, x509.SubjectAlternativeName([_general_name(host)]), days)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def check_days(days: int) -> None:
    """--days of init and tls renew: at least one day, and an end date X.509 can write
    (not after 9999-12-31)."""
    if days < 1:
        raise UsageError(f"--days {days}: the certificate must be valid for at least one day")
    most = (LAST_DAY - _now()).days
    if days > most:
        raise UsageError(f"--days {days}: a certificate cannot be valid after {LAST_DAY:%Y-%m-%d}; "
                         f"give at most {_days(most)}")


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _self_signed(key, subject: x509.Name, san: Optional[x509.SubjectAlternativeName], days: int) -> x509.Certificate:
    now = _now()
    builder = (x509.CertificateBuilder()
               .subject_name(subject).issuer_name(subject)
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - CLOCK_SKEW)
               .not_valid_after(now + datetime.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(_server_key_usage(key), critical=True)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if san is not None:
        builder = builder.add_extension(san, critical=False)
    # Ed25519/Ed448 sign with their own fixed hash; the others take SHA-256.
    algorithm = None if isinstance(key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)) else hashes.SHA256()
    return builder.sign(key, algorithm)


def _server_key_usage(key) -> x509.KeyUsage:
    # Key encipherment is how RSA key exchange works; other key types have no such use.
    return x509.KeyUsage(digital_signature=True, key_encipherment=isinstance(key, rsa.RSAPrivateKey),
                         content_commitment=False, data_encipherment=False, key_agreement=False,
                         key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False)


def generate_ssh(kind: str) -> Tuple[bytes, bytes]:
    """An SSH key pair without passphrase, `kind` rsa or ed25519 (init checked it):
    (OpenSSH private key, `type AAAA... oneadmin` line)."""
    if kind == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    else:
        key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption())
    return private, _openssh(key.public_key()) + b" oneadmin\n"


def renew_tls(cert_path: Path, key_path: Path, days: int) -> Path:
    """A new self-signed certificate: same key, subject and names, `days` from now.

    Returns the backup of the old certificate. Refuses (UsageError) a certificate that a
    CA issued: only its CA can renew it.
    """
    check_days(days)
    try:
        leaf = read_certificates(cert_path)[0]
        key = read_private_key(key_path, "tls.key", _tls_decrypt_fix(key_path))
    except _Unusable as exc:
        fix = exc.problem.fix
        raise UsageError(exc.problem.message + (f" — {fix}" if fix else "")) from None
    if not _is_self_signed(leaf):
        raise UsageError(f"{cert_path} was issued by {leaf.issuer.rfc4514_string()}, not by itself; "
                         "renew it with its CA and put the new certificate in its place")
    if _spki(leaf.public_key()) != _spki(key.public_key()):
        raise UsageError(f"{key_path} is not the key of {cert_path}; a renewal must keep the certificate's key")
    cert = _self_signed(key, leaf.subject, _san(leaf), days)
    try:
        backup = keep_backup(Path(cert_path))
        write_public(Path(cert_path), cert.public_bytes(serialization.Encoding.PEM))
    except OSError as exc:
        raise UsageError(f"cannot replace {cert_path}: {exc.strerror}") from None
    return backup


def _is_self_signed(cert: x509.Certificate) -> bool:
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True
