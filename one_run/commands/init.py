"""`one-run init`: a new deployment folder, ready for `validate`, `render` and `apply`.

Without keys of its own the image makes a new certificate and SSH key pair at bootstrap,
so every recreate that loses them makes browsers complain again and the new public key
has to reach every hypervisor node. init makes them once, on the host, and the profile
pins them. Everything is generated in memory first: a refusal or a failure writes nothing.
"""
import datetime
import ipaddress
import json
import os
import re
import secrets
import sys
from pathlib import Path
from typing import Dict, Iterator, List, NamedTuple, Optional, Tuple

import tomli_w

from ..common.errors import UsageError
from ..common.files import ensure_gitignore
from ..model import crypto
from ..model.profile import RUNTIMES
from ..model.values import parse_host

PROFILE = "one-run.toml"
CERT, KEY = "certs/cert.pem", "certs/cert.key"
DEFAULT_DAYS = 825  # the longest validity Apple platforms accept for a TLS server certificate
SSH_KEY_TYPES = ("rsa", "ed25519")
# The image's documented tags are 6.0 to 6.2 (compose defaults to 6.0); without a tag
# the engine would pull `latest`, which changes under the deployment.
DEFAULT_TAG = "6.0"
# The documented single-container command, variant C with TLS: the host's standard API
# ports lead to the TLS proxy inside, and the container's sshd is on 2222 so that it
# does not clash with the host's own sshd.
PORTS = ["2222:22", "80:80", "443:443", "2474:2475", "2633:2634", "4124:4124", "4124:4124/udp",
         "5030:5031", "29876:29876"]
VOLUMES = ["opennebula_db:/var/lib/mysql", "opennebula_datastores:/var/lib/one/datastores",
           "opennebula_srv:/srv/one", "opennebula_oneadmin_auth:/var/lib/one/.one",
           "opennebula_oneadmin_ssh:/var/lib/one/.ssh", "opennebula_etcd:/srv/one/etcd",
           "opennebula_etcd_secrets:/srv/one/etcd-secrets", "opennebula_logs:/var/log"]
# The image's initial passwords that a person needs later (the oneadmin login) or that
# only exist inside the volumes otherwise (MySQL's).
SECRETS = {"ONEADMIN_PASSWORD": "oneadmin_password", "MYSQL_PASSWORD": "mysql_password",
           "MYSQL_ROOT_PASSWORD": "mysql_root_password"}
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME_RE = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*\.?$")

HEADER = """\
one-run profile for the OpenNebula Front-end at {host}, written by `one-run init` on {date}.
It holds the container's full run arguments: the documented single-container deployment.
From this folder:
  one-run validate {profile}   every check, touching nothing
  one-run render {profile}     the equivalent `{runtime} run` command
  one-run apply {profile}      create the container, or recreate it after a change
Relative paths resolve against this file's folder.

runtime: docker or podman (`--runtime` on the command line wins).
host: where that engine runs, as ssh://root@fe1.example.com (`--host` wins); without it, this machine's.
maintenance = true recreates the container with its services configured but not started."""

CONTAINER = """\
The container, privileged as in every documented command (Docker-in-Docker and oned need it).
restart: started again after a crash, and at boot on Docker (Podman needs a systemd unit).
ports (host:container): the host's API ports 2474, 2633 and 5030 lead to the TLS proxy inside;
the container's sshd is on host port 2222, so each hypervisor node needs `Port 2222` for this
host in ~oneadmin/.ssh/config. Monitord (4124) and VNC (29876) keep one number on both sides.
volumes: the deployment's data (database, datastores, oneadmin's auth and SSH files, etcd,
logs). one-run never removes a volume."""

ENV = """\
Image parameters. OPENNEBULA_HOST is the name clients and nodes use to reach the Front-end.
DIND_ENABLED starts a Docker daemon inside, for the Docker Hub marketplace.
The passwords are read from the 0600 files in secrets/ when the container is created and are
never written here or printed. The image uses them at its first bootstrap only: changing a
file later does not change a password. Sunstone's login is oneadmin / secrets/oneadmin_password."""

TLS = """\
Certificate and key for Sunstone and the TLS proxy, mounted read-only at /certs.
init made a self-signed certificate for {host}, valid {days} days;
`one-run tls renew {profile}` makes a new one for the same key and names.
For a CA-issued one, put its certificate (a chain file: server certificate first) and its
unencrypted key in these two files."""

SSH = """\
oneadmin's SSH key pair, mounted read-only at /ssh, so that it survives every recreate:
add {public} to ~oneadmin/.ssh/authorized_keys on every hypervisor node."""

CONFIG = """\
Run at every bootstrap, in this order: the onecfg patch, the pre-bootstrap hook, the
services' configuration, the post-bootstrap hook. The folder is mounted read-only at /config.
Any failure aborts the bootstrap and the container stops; `one-run apply` then puts the
previous container back."""

ONECFG_PATCH = """\
# onecfg patch: the image applies it at every bootstrap, before the pre-bootstrap hook.
# One change per line: <file> <ins|set|rm> <path> [<JSON value>]
#   ins adds a parameter, set changes one, rm deletes one (and takes no value).
# Values are JSON: 10 is a number; oned.conf strings keep their quotes inside: "\\"sd\\"".
# Examples (remove the # to use one):
# /etc/one/sched.conf set SCHED_INTERVAL 10
# /etc/one/oned.conf set DEFAULT_COST/CPU_COST 0.1
# /etc/one/oned.conf set DEFAULT_DEVICE_PREFIX "\\"sd\\""
# /var/lib/one/remotes/etc/vmm/kvm/kvmrc set SHUTDOWN_TIMEOUT 60
# /etc/one/cli/oneimage.yaml ins :ID/:adjust false
"""

HOOK = """\
#!/bin/bash
# {title}: the image runs it inside the container at every bootstrap, {when}.
# A non-zero exit aborts the bootstrap and the container stops, so keep it quick and
# safe to run again. Its output is in the container's log.
set -euo pipefail

echo "{name}: nothing to do yet"
"""


class Written(NamedTuple):
    path: Path
    mode: int
    backup: Optional[Path] = None


def default_image() -> str:
    from ..model.validate import DATA

    with open(DATA, encoding="utf-8") as f:
        repository = json.load(f).get("image", {}).get("community", "docker.io/opennebula/opennebula")
    return f"{repository}:{DEFAULT_TAG}"


def target_files(ssh_key_type: str) -> Dict[str, int]:
    """Every file init writes, relative to the folder, with its mode."""
    ssh = f"ssh/id_{ssh_key_type}"
    files = {PROFILE: 0o644, CERT: 0o644, KEY: 0o600, ssh: 0o600, f"{ssh}.pub": 0o644,
             "config/onecfg_patch": 0o644, "config/pre-bootstrap-hook.sh": 0o755,
             "config/post-bootstrap-hook.sh": 0o755}
    files.update({f"secrets/{name}": 0o600 for name in SECRETS.values()})
    return files


def init_deployment(folder, host: str, runtime: str = "docker", image: Optional[str] = None,
                    ssh_key_type: str = "rsa", days: int = DEFAULT_DAYS, force: bool = False,
                    engine_host: Optional[str] = None) -> List[Written]:
    """Write a new deployment into `folder`; refuse (exit 2) to replace any file unless `force`,
    which keeps each replaced file as a timestamped .bak beside it."""
    folder = Path(folder)
    _check_arguments(folder, host, runtime, ssh_key_type, days, engine_host)
    modes = target_files(ssh_key_type)
    try:
        existing = [name for name in modes if (folder / name).exists() or (folder / name).is_symlink()]
    except OSError as exc:
        raise _cannot_look(folder, exc) from None
    if existing and not force:
        raise UsageError(f"{folder} already holds files that init would replace:\n"
                         + "".join(f"  {folder / name}\n" for name in existing)
                         + "nothing was written; move them away, or use --force to replace them (a backup "
                           "of each is kept as NAME.<time>.bak)")
    contents = _contents(host, runtime, image or default_image(), ssh_key_type, days, engine_host)
    written: List[Written] = []
    private = [f"/{name}" for name, mode in modes.items() if mode == 0o600 and not name.startswith("secrets/")]
    try:
        written.extend(_write(folder, contents, modes, existing))
        ensure_gitignore(folder, private + ["/secrets/"])
    except OSError as exc:
        cause = f"cannot write in {folder}: {exc.strerror} ({exc.filename})"
        if not (written or existing):
            raise UsageError(f"{cause}; no file was written — fix the cause and run init again") from None
        # Files of init's are there now (written, or there before), so a plain init would refuse.
        done = "".join(f"  {item.path}\n" for item in written) or "  none\n"
        raise UsageError(f"{cause}; files written so far:\n{done}fix the cause and run init again with --force") \
            from None
    return written


def _write(folder: Path, contents: Dict[str, bytes], modes: Dict[str, int],
           existing: List[str]) -> Iterator[Written]:
    for sub, mode in (("certs", 0o755), ("ssh", 0o700), ("config", 0o755), ("secrets", 0o700)):
        (folder / sub).mkdir(mode=mode, parents=True, exist_ok=True)
        if mode == 0o700:
            (folder / sub).chmod(mode)  # an existing folder too: it holds private keys or passwords
    for name, data in contents.items():
        path = folder / name
        backup = crypto.keep_backup(path) if name in existing else None
        crypto.write_file(path, data, modes[name])
        yield Written(path, modes[name], backup)


def _cannot_look(folder: Path, exc: OSError) -> UsageError:
    return UsageError(f"cannot look into {folder}: {exc.strerror} ({exc.filename}); nothing was written — "
                      "choose a folder you can read and write, or fix the permissions of its parents")


def _check_arguments(folder: Path, host: str, runtime: str, ssh_key_type: str, days: int,
                     engine_host: Optional[str]) -> None:
    try:
        not_a_folder = folder.exists() and not folder.is_dir()
    except OSError as exc:
        raise _cannot_look(folder, exc) from None
    if not_a_folder:
        raise UsageError(f"{folder} exists and is not a folder; choose a new folder for the deployment")
    wrong = _host_problem(host)
    if wrong:
        raise UsageError(f"--fqdn {host!r} {wrong}; write the name clients and nodes "
                         "use to reach the Front-end, as one.example.com or 192.0.2.10")
    if engine_host:
        try:
            parse_host(engine_host)
        except ValueError as exc:
            raise UsageError(f"--engine-host {engine_host!r}: {exc}") from None
    if runtime not in RUNTIMES:
        raise UsageError(f"--runtime {runtime!r} is not docker or podman")
    if ssh_key_type not in SSH_KEY_TYPES:
        raise UsageError(f"--ssh-key-type {ssh_key_type!r} is not rsa or ed25519")
    crypto.check_days(days)


def _host_problem(host: str) -> Optional[str]:
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    if not HOSTNAME_RE.match(host):
        return "is not a DNS name or an IP address"
    if host.rstrip(".").rpartition(".")[2].isdigit():
        # No top-level domain is all digits (RFC 3696): such a name is a mistyped address.
        return "is not an IP address, nor a DNS name (whose last label cannot be all digits)"
    return None


def _contents(host: str, runtime: str, image: str, ssh_key_type: str, days: int,
              engine_host: Optional[str] = None) -> Dict[str, bytes]:
    cert, key = crypto.generate_tls(host, days)
    private, public = crypto.generate_ssh(ssh_key_type)
    ssh = f"ssh/id_{ssh_key_type}"
    contents = {
        PROFILE: profile_text(host, runtime, image, ssh, days, engine_host).encode(),
        CERT: cert, KEY: key, ssh: private, f"{ssh}.pub": public,
        "config/onecfg_patch": ONECFG_PATCH.encode(),
        "config/pre-bootstrap-hook.sh": HOOK.format(
            title="Pre-bootstrap hook", name="pre-bootstrap hook",
            when="after the onecfg patch and before any service is configured").encode(),
        "config/post-bootstrap-hook.sh": HOOK.format(
            title="Post-bootstrap hook", name="post-bootstrap hook",
            when="once the services are configured, before they start").encode(),
    }
    for name in SECRETS.values():
        contents[f"secrets/{name}"] = (secrets.token_urlsafe(24) + "\n").encode()
    return contents


def profile_text(host: str, runtime: str, image: str, ssh: str, days: int, engine_host: Optional[str] = None) -> str:
    """The profile: each table written by tomli-w, under comments that say what it is for."""
    date = datetime.date.today().isoformat()
    sections: List[Tuple[str, Optional[str], dict]] = [
        (HEADER.format(host=host, date=date, profile=PROFILE, runtime=runtime), None,
         {"runtime": runtime, **({"host": engine_host} if engine_host else {}), "maintenance": False}),
        (CONTAINER, "container", {"name": "opennebula", "image": image, "privileged": True,
                                  "restart": "unless-stopped", "ports": PORTS, "volumes": VOLUMES}),
        (ENV, "env", {"OPENNEBULA_HOST": host, "OPENNEBULA_SSH_HOST": host, "DIND_ENABLED": "yes",
                      **{param: {"file": f"secrets/{name}"} for param, name in SECRETS.items()}}),
        (TLS.format(host=host, days=days, profile=PROFILE), "tls", {"cert": CERT, "key": KEY}),
        (SSH.format(public=f"{ssh}.pub"), "ssh", {"private_key": ssh, "public_key": f"{ssh}.pub"}),
        (CONFIG, "config", {"onecfg_patch": "config/onecfg_patch",
                            "pre_bootstrap_hook": "config/pre-bootstrap-hook.sh",
                            "post_bootstrap_hook": "config/post-bootstrap-hook.sh"}),
    ]
    return "\n".join(_comment(text) + _table(name, data) for text, name, data in sections)


def _comment(text: str) -> str:
    return "".join(f"# {line}".rstrip() + "\n" for line in text.splitlines())


def _table(name: Optional[str], data: dict) -> str:
    """tomli-w writes a table-valued key as a [name.key] section of its own; a secret
    reference reads better inline, as DESIGN.md writes it, so that line is assembled
    from tomli-w's own `key = value` pairs."""
    lines = [f"[{name}]\n"] if name else []
    for key, value in data.items():
        if isinstance(value, dict):
            pairs = ", ".join(tomli_w.dumps({k: v}).rstrip("\n") for k, v in value.items())
            lines.append(f"{key} = {{ {pairs} }}\n")
        else:
            lines.append(tomli_w.dumps({key: value}))
    return "".join(lines)


def init(folder: str, host: str, runtime: str, image: Optional[str], ssh_key_type: str, days: int,
         force: bool, engine_host: Optional[str] = None) -> int:
    """`one-run init`: write the deployment folder and say what was written and what comes next."""
    from ..model.crypto import tls_summary

    written = init_deployment(folder, host, runtime=runtime, image=image, ssh_key_type=ssh_key_type, days=days,
                              force=force, engine_host=engine_host)
    print(f"wrote {folder}:")
    for item in written:
        kept = f"  (the previous one kept as {item.backup.name})" if item.backup else ""
        print(f"  {item.mode:04o} {item.path.relative_to(folder)}{kept}")
    print(tls_summary(os.path.join(folder, CERT)))
    if any(item.backup and item.path.parent.name == "secrets" for item in written):
        print("warning: the password files in secrets/ are new; OpenNebula reads them at its first bootstrap "
              "only, so a deployment that already has its data keeps working with the previous passwords "
              "(kept as the .bak files)", file=sys.stderr)
    profile = os.path.join(folder, PROFILE)
    ssh_public = next(item.path for item in written if item.path.suffix == ".pub")
    print(f"next:\n  one-run validate {profile}\n  one-run render {profile}\n  one-run apply {profile}\n"
          f"and add {ssh_public} to ~oneadmin/.ssh/authorized_keys on every hypervisor node")
    return 0
