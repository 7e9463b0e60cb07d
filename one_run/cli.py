"""Command line: argparse, one `_add_<cmd>` / `_cmd_<cmd>` pair per command.

`main(argv) -> int` is the only place that turns a OneRunError into a message on
stderr and its exit code. Heavy modules (SDKs, cryptography) are imported inside the
commands that need them, so `one-run render` starts fast.
"""
import argparse
import os
import sys
from typing import List, Optional

from . import __version__
from .common.errors import OneRunError, Problem

# Warnings of the profile checks (a certificate about to expire, ...), printed when the command
# has run to its end: a command that stops on an error shows that error alone, not under them.
_warnings: List[Problem] = []


def _warn(problems: List[Problem]) -> None:
    _warnings.extend(problem for problem in problems if problem.warning)


def _load(args, full: bool):
    """Profile → validated RunSpec, warnings printed; raises ProfileError (exit 2)."""
    from .model.profile import load_profile
    from .model.runspec import build_runspec
    from .model.validate import ensure_valid

    profile = load_profile(args.profile, getattr(args, "runtime", None))
    # The profile's host names the engine of the runtime its file says (an ssh:// socket path is
    # that engine's); with --runtime (or switch's --to) the other one is beside it there.
    written = load_profile(args.profile).runtime if getattr(args, "runtime", None) and \
        (profile.host or args.command == "switch") else None
    spec = build_runspec(profile, remote=_name_host(args, profile.host, profile.runtime, written))
    _warn(ensure_valid(profile, spec, full=full, strict=getattr(args, "strict", False)))
    return profile, spec


def _name_host(args, profile_host, runtime: str, profile_runtime: Optional[str] = None) -> bool:
    """Name the engine's host as --host (for `runtime`; for switch, its source) or the profile (for
    the runtime it was written for, `profile_runtime`, default `runtime`) does; the flag wins.
    Whether it is remote; UsageError if it does not parse."""
    from .model.endpoint import endpoint_for, name_host

    flag = getattr(args, "host", None)
    name_host(flag, profile_host, runtime if flag and args.command != "switch" else (profile_runtime or runtime))
    endpoint = endpoint_for(runtime)
    if endpoint.url.scheme == "ssh" and args.command not in ("render", "validate", "boot"):
        from .engines.base import CONNECT_TIMEOUT
        from .engines.ssh import connection

        connection(endpoint.url, endpoint.identity, CONNECT_TIMEOUT)  # its handshake overlaps the imports
    return endpoint.remote


PROFILE_HELP = "the deployment's TOML profile (keys: docs/profile.md)"


def _profile_and_runtime(p):
    """The PROFILE argument and --runtime, as every command that reads a profile for one runtime takes them."""
    p.add_argument("profile", metavar="PROFILE", help=PROFILE_HELP)
    p.add_argument("--runtime", choices=("docker", "podman"), help="overrides the profile's runtime")


# --- render -------------------------------------------------------------------

def _add_render(sub, common):
    p = sub.add_parser("render", parents=[common], help="print the equivalent docker/podman run command",
                       description="Print the `docker run` / `podman run` command that creates the container apply "
                                   "creates: pasted into bash, it makes the same container. Secrets are passed by "
                                   "name (`-e NAME`, with the export lines to run first) unless --show-secrets. "
                                   "Checks the profile first (exit 2 on bad input); needs no engine.")
    _profile_and_runtime(p)
    p.add_argument("--show-secrets", action="store_true", help="print secret values instead of passing them by name")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="json: the run command as a JSON array of words (for a remote host, the commands that "
                        "deliver the files before it are in the text form)")
    p.set_defaults(func=_cmd_render)


def _cmd_render(args) -> int:
    from .commands.render import render

    profile, spec = _load(args, full=False)
    return render(profile, spec, args.show_secrets, args.format)


# --- validate -----------------------------------------------------------------

def _add_validate(sub, common):
    p = sub.add_parser("validate", parents=[common], help="make every check apply makes, touching nothing",
                       description="Make every check apply makes before it touches anything: the profile's keys and "
                                   "values, the files it names (certificate and key match and are valid, SSH keys "
                                   "are a pair, hooks are executable, patch lines parse), the image's parameters. "
                                   "Exit 0 valid, 2 with every problem named; needs no engine.")
    _profile_and_runtime(p)
    p.set_defaults(func=_cmd_validate)


def _cmd_validate(args) -> int:
    from .commands.render import validate

    profile, _ = _load(args, full=True)
    return validate(profile)


# --- apply / maintenance ---------------------------------------------------------

def _add_apply(sub, common):
    p = sub.add_parser("apply", parents=[common], help="make the running container match the profile",
                       description="Make the running container match the profile: pull first, create the new "
                                   "container beside the old one, stop the old, swap the names, start the new and "
                                   "watch it ([watch]); if it does not come up, put the old one back. Nothing "
                                   "changed: nothing is recreated. Exit 0 done; 1 failed and the previous container "
                                   "runs again; 2 bad input, nothing touched; 3 the engine is unreachable or "
                                   "refused before anything changed; 4 failed and could not restore (the message "
                                   "says what is left and how to recover).")
    _profile_and_runtime(p)
    _apply_flags(p)
    p.set_defaults(func=_cmd_apply)


def _apply_flags(p):
    p.add_argument("--dry-run", action="store_true", help="print the plan and change nothing")
    p.add_argument("--force", action="store_true", help="recreate even when nothing changed")
    p.add_argument("--keep-previous", action="store_true", help="keep the replaced container, stopped and renamed")
    p.add_argument("--allow-empty-volumes", action="store_true",
                   help="apply even though the deployment's container or data lives on the other runtime "
                        "(starting this runtime's volumes empty)")
    p.add_argument("--allow-shared-volume", action="store_true",
                   help="apply even though a running container of another deployment mounts one of the "
                        "profile's named volumes (two servers on one data directory)")


def _apply_options(args):
    from .deploy.apply import ApplyOptions

    return ApplyOptions(force=args.force, dry_run=args.dry_run, keep_previous=args.keep_previous,
                        allow_empty_volumes=args.allow_empty_volumes, allow_shared_volume=args.allow_shared_volume)


def _cmd_apply(args) -> int:
    from .deploy.apply import apply

    profile, spec = _load(args, full=True)
    return apply(profile, spec, _apply_options(args))


def _add_maintenance(sub, common):
    p = sub.add_parser("maintenance", parents=[common], help="turn maintenance mode on or off and apply",
                       description="Set `maintenance` in the profile and apply it: on starts the image with "
                                   "MAINTENANCE_MODE=yes (its services configured, not started), off starts them "
                                   "again. A failed apply puts the flag in the profile back. Exit codes as apply.")
    p.add_argument("state", choices=("on", "off"), help="on: start the image in maintenance mode; off: normally")
    p.add_argument("profile", metavar="PROFILE", help=PROFILE_HELP)
    _apply_flags(p)
    p.set_defaults(func=_cmd_maintenance)


def _cmd_maintenance(args) -> int:
    from .commands.maintenance import maintenance

    profile, _ = _load(args, full=True)  # the profile must be valid before it is edited
    return maintenance(profile, args.state, _apply_options(args))


# --- diff / status / capture -------------------------------------------------------

def _add_diff(sub, common):
    p = sub.add_parser("diff", parents=[common], help="what apply would change in the running container",
                       description="What apply would change in the running container, one `field: running → "
                                   "profile` line each (secret values never shown). Exit 0 in sync, 1 different, "
                                   "3 the engine is unreachable.")
    _profile_and_runtime(p)
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="json: the differences as a JSON document, for scripts")
    p.set_defaults(func=_cmd_diff)


def _cmd_diff(args) -> int:
    from .commands.diff import diff
    from .engines import get_engine

    profile, spec = _load(args, full=False)
    return diff(get_engine(profile.runtime), profile, spec, args.format)


def _add_status(sub, common):
    p = sub.add_parser("status", parents=[common],
                       help="container state, image, applied hash, bootstrap outcome, reboot survival",
                       description="Container state and health, image, applied hash, sync with the profile, "
                                   "bootstrap outcome, and what one-run left beside it. Exit 0: it runs and is "
                                   "healthy (or has no health check); 1: missing, stopped, restarting, unhealthy or "
                                   "its bootstrap failed; 3: the engine is unreachable.")
    _profile_and_runtime(p)
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="json: the report as a JSON document (\"up\" is the exit code's answer)")
    p.set_defaults(func=_cmd_status)


def _cmd_status(args) -> int:
    from .commands.status import status
    from .engines import get_engine

    profile, spec = _load(args, full=False)
    return status(get_engine(profile.runtime), profile, spec, args.format)


def _add_capture(sub, common):
    p = sub.add_parser("capture", parents=[common], help="write a profile that recreates an existing container",
                       description="Write a profile that recreates an existing container. With -o FILE, secret "
                                   "values go to FILE's stem + .secrets/ (mode 0600) and the profile refers to them; "
                                   "without it the profile goes to stdout and secrets become { env = NAME } "
                                   "references whose values are written nowhere.")
    p.add_argument("name", metavar="NAME", help="container name or ID")
    p.add_argument("--runtime", choices=("docker", "podman"), help="default: whichever engine has NAME")
    p.add_argument("-o", "--output", metavar="FILE", help="write the profile here (default: stdout)")
    p.add_argument("--force", action="store_true", help="overwrite FILE and its secret files")
    p.set_defaults(func=_cmd_capture)


def _cmd_capture(args) -> int:
    from pathlib import Path

    from .commands.capture import capture_named
    from .common.errors import UsageError
    from .model.values import parse_host

    if args.host and not args.runtime:
        try:
            if parse_host(args.host).path:
                raise UsageError(f"--host {args.host} names one engine's socket: say which with --runtime")
        except ValueError as exc:
            raise UsageError(f"--host {args.host!r}: {exc}") from None
    _name_host(args, None, args.runtime or "docker")
    return capture_named(args.name, args.runtime, Path(args.output) if args.output else None, args.force)


# --- boot ---------------------------------------------------------------------------

def _add_boot(sub, common):
    p = sub.add_parser("boot", parents=[common], help="a systemd unit that starts the container at boot",
                       description="A systemd unit that starts the profile's container by name at boot and stops "
                                   "it (never removes it) when the unit stops; it stays valid across apply's "
                                   "recreates. As root a system unit in /etc/systemd/system, otherwise a user unit "
                                   "(rootless Podman) in ~/.config/systemd/user. Without an option it is printed.")
    _profile_and_runtime(p)
    action = p.add_mutually_exclusive_group()
    action.add_argument("--print", dest="action", action="store_const", const="print",
                        help="write the unit to stdout (the default)")
    action.add_argument("--install", dest="action", action="store_const", const="install",
                        help="write it where systemd reads it, daemon-reload and enable it (exit 3 where systemd "
                             "does not run, writing nothing)")
    action.add_argument("--remove", dest="action", action="store_const", const="remove",
                        help="disable and remove it; the container is left as it is")
    p.set_defaults(func=_cmd_boot, action="print")


def _cmd_boot(args) -> int:
    from .commands.boot import boot

    profile, _ = _load(args, full=False)
    return boot(profile, args.action)


# --- init / tls renew ------------------------------------------------------------

CERT_DAYS = 825  # init.DEFAULT_DAYS, written out: importing init would load cryptography at start-up


def _add_init(sub, common):
    p = sub.add_parser("init", help="a new profile with a self-signed TLS cert and an SSH key pair",
                       description="Write a new deployment folder: a profile of the documented single-container "
                                   "deployment, a self-signed TLS certificate and key for HOST, oneadmin's SSH key "
                                   "pair and the initial passwords (files of mode 0600). Nothing is written when "
                                   "anything is refused; existing files are replaced only with --force.")
    p.add_argument("folder", metavar="DIR", help="the folder to write the deployment into (made if missing)")
    p.add_argument("--fqdn", help="DNS name or IP address clients and nodes use to reach the Front-end (its "
                                  "certificate and OPENNEBULA_HOST)")
    p.add_argument("--host", dest="old_host", help=argparse.SUPPRESS)  # --fqdn's old name
    p.add_argument("--engine-host", metavar="URL",
                   help="write `host = URL` into the profile: the engine's host apply and the other commands reach "
                        "(ssh://root@fe1.example.com, ...)")
    p.add_argument("--runtime", choices=("docker", "podman"), default="docker",
                   help="the profile's runtime (default: docker)")
    p.add_argument("--image", help="image reference (default: the documented community image)")
    p.add_argument("--ssh-key-type", choices=("rsa", "ed25519"), default="rsa",
                   help="type of oneadmin's SSH key pair (default: rsa)")
    p.add_argument("--days", type=int, default=CERT_DAYS, help=f"certificate validity (default: {CERT_DAYS})")
    p.add_argument("--force", action="store_true", help="replace existing files, keeping a backup of each")
    p.set_defaults(func=_cmd_init)


def _cmd_init(args) -> int:
    from .commands.init import init
    from .common.errors import UsageError

    fqdn = args.fqdn
    if args.old_host:
        if fqdn:
            raise UsageError("--host is --fqdn's old name; give --fqdn only")
        print("warning: `init --host` is now `init --fqdn` (the Front-end's name, for its certificate and "
              "OPENNEBULA_HOST); --host on the other commands names the engine's host", file=sys.stderr)
        fqdn = args.old_host
    if not fqdn:
        raise UsageError("init needs --fqdn NAME: the DNS name or IP address clients and nodes use to reach the "
                         "Front-end")
    return init(args.folder, fqdn, args.runtime, args.image, args.ssh_key_type, args.days, args.force,
                args.engine_host)


def _add_tls(sub, common):
    p = sub.add_parser("tls", help="TLS certificate tasks",
                       description="TLS certificate tasks on the profile's [tls] files.")
    tls = p.add_subparsers(dest="tls_command", metavar="TASK", prog="one-run tls")
    tls.required = True
    renew = tls.add_parser("renew", help="a new self-signed certificate for the same key and names",
                           description="Write a new self-signed certificate for the same key and names (the "
                                       "previous one kept beside it); `one-run apply` then recreates the container "
                                       "with it.")
    renew.add_argument("profile", metavar="PROFILE", help=PROFILE_HELP)
    renew.add_argument("--days", type=int, default=CERT_DAYS,
                       help=f"validity of the new certificate (default: {CERT_DAYS})")
    renew.set_defaults(func=_cmd_tls_renew)


def _cmd_tls_renew(args) -> int:
    from .commands.tls import renew
    from .model.profile import load_profile

    return renew(load_profile(args.profile), args.days)


# --- switch ------------------------------------------------------------------------

def _add_switch(sub, common):
    p = sub.add_parser("switch", parents=[common], help="move the deployment, with its volumes' data, to the other runtime",
                       description="Move the deployment to the other runtime with its data: stop it, copy its "
                                   "volumes through both engines and verify each copy, apply the profile there, and "
                                   "set `runtime` in the profile. On failure the source container runs again "
                                   "(exit 1). The source container is kept, stopped, until --cleanup.")
    p.add_argument("profile", metavar="PROFILE", help=PROFILE_HELP)
    p.add_argument("--to", required=True, choices=("docker", "podman"), help="the runtime to move to")
    p.add_argument("--dry-run", action="store_true", help="print the plan with volume sizes and change nothing")
    p.add_argument("--cleanup", action="store_true",
                   help="remove the stopped source container after the switch (or, if already switched, now); "
                        "its volumes are never removed")
    p.add_argument("--overwrite-volumes", action="store_true",
                   help="replace the contents of target volumes that already hold data")
    p.set_defaults(func=_cmd_switch)


def _cmd_switch(args) -> int:
    from .commands.switch import switch

    args.runtime = args.to  # validate for the target runtime
    profile, spec = _load(args, full=True)
    return switch(profile, spec, args.to, args.dry_run, args.cleanup, args.overwrite_volumes)


# --- history / backup / restore -------------------------------------------------------

def _add_rollback(sub, common):
    p = sub.add_parser("rollback", parents=[common], help="recreate the container of an earlier revision",
                       description="Recreate the container of an earlier revision (default: the one before the "
                                   "newest) from its recorded profile text and files, through apply's safe swap. "
                                   "Across an image change it is refused unless --with-data restores the data as "
                                   "that revision left it (after a snapshot of the data as it is now). The profile "
                                   "file is not changed: the revision's text is written beside it.")
    _profile_and_runtime(p)
    p.add_argument("--to", type=int, metavar="REV", help="the revision to go back to (`one-run history` lists them)")
    p.add_argument("--with-data", action="store_true",
                   help="also restore the volumes from the snapshot taken when that revision was replaced")
    p.add_argument("--dry-run", action="store_true", help="print the plan and change nothing")
    p.set_defaults(func=_cmd_rollback)


def _cmd_rollback(args) -> int:
    from .commands.rollback import rollback
    from .model.profile import load_profile

    profile = load_profile(args.profile, args.runtime)
    _name_host(args, profile.host, profile.runtime)
    return rollback(args.profile, args.runtime, args.to, args.with_data, args.dry_run)


def _add_history(sub, common):
    p = sub.add_parser("history", parents=[common], help="the applied revisions, newest first, with their snapshots",
                       description="The revisions apply recorded (in .one-run/<profile stem>/history/ beside the "
                                   "profile), newest first: time, image and digest, profile hash, container, and the "
                                   "data snapshot taken before each, with its size and whether it is still there.")
    _profile_and_runtime(p)
    p.add_argument("--format", choices=("text", "json"), default="text", help="json: for scripts")
    p.set_defaults(func=_cmd_history)


def _cmd_history(args) -> int:
    from .commands.history import history
    from .model.profile import load_profile

    profile = load_profile(args.profile, args.runtime)
    _name_host(args, profile.host, profile.runtime)
    return history(profile, args.format)


def _add_backup(sub, common):
    p = sub.add_parser("backup", parents=[common], help="consistent archives of the deployment's volumes, with a manifest",
                       description="Stop the container, write one tar archive per volume ([snapshot] volumes, or "
                                   "all but the datastores and logs) and manifest.json (names, sizes, sha256, image "
                                   "digest, profile hash, time) into DIR, start the container again, and print the "
                                   "downtime. Exit 3 when DIR lacks room (nothing changed).")
    _profile_and_runtime(p)
    p.add_argument("-o", "--output", metavar="DIR",
                   help="a new or empty folder (default: ./<container>-backup-<UTC time>)")
    p.set_defaults(func=_cmd_backup)


def _cmd_backup(args) -> int:
    import time

    from .commands.backup import backup
    from .common.interrupts import as_keyboard_interrupt
    from .engines import get_engine

    profile, spec = _load(args, full=False)
    out = args.output or f"{spec.name}-backup-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    with as_keyboard_interrupt():
        return backup(get_engine(profile.runtime), profile, spec, os.path.abspath(out))


def _add_restore(sub, common):
    p = sub.add_parser("restore", parents=[common], help="put a backup's volumes back and start the container",
                       description="Verify DIR's manifest and every archive's sha256 and contents first (damaged or "
                                   "incomplete: exit 2, nothing touched); then stop the container, restore each "
                                   "volume exactly, verify it, and start the container. Interrupted or failed half-way "
                                   "(exit 4), running it again completes it.")
    _profile_and_runtime(p)
    p.add_argument("folder", metavar="DIR", help="a folder written by `one-run backup`")
    p.add_argument("--yes", action="store_true", help="stop the running container and replace its data")
    p.set_defaults(func=_cmd_restore)


def _cmd_restore(args) -> int:
    from .commands.backup import restore
    from .common.interrupts import as_keyboard_interrupt
    from .engines import get_engine

    profile, spec = _load(args, full=False)
    with as_keyboard_interrupt():
        return restore(get_engine(profile.runtime), profile, spec, os.path.abspath(args.folder), args.yes)


class _Formatter(argparse.HelpFormatter):
    """argparse builds a formatter for every add_argument; the stock one imports shutil
    just to read the terminal width, a start-up cost `render` should not pay."""

    def __init__(self, prog):
        try:
            width = int(os.environ.get("COLUMNS") or os.get_terminal_size(2).columns)
        except (OSError, ValueError):
            width = 80
        super().__init__(prog, width=max(width - 2, 40))


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)


def build_parser(command: Optional[str] = None) -> argparse.ArgumentParser:
    """The whole command line, or only `command`'s part of it: building every subparser
    costs `render` a few ms of start-up, and `one-run render ...` needs none of the others."""
    commands = {"render": _add_render, "validate": _add_validate, "apply": _add_apply,
                "maintenance": _add_maintenance, "diff": _add_diff, "status": _add_status,
                "capture": _add_capture, "boot": _add_boot, "init": _add_init, "tls": _add_tls, "switch": _add_switch,
                "history": _add_history, "rollback": _add_rollback, "backup": _add_backup, "restore": _add_restore}
    common = _Parser(add_help=False)
    common.add_argument("--strict", action="store_true", help="treat warnings as errors")
    common.add_argument("--host", metavar="URL",
                        help="the engine's host: ssh://[user@]host[:port][/socket], unix:///socket, tcp://host:port "
                             "or a docker context / podman connection name; wins over the profile's `host`, and "
                             "DOCKER_HOST / CONTAINER_HOST are then not read")
    parser = _Parser(prog="one-run", description="Keep one OpenNebula Front-end container reproducible from a TOML profile.")
    parser.add_argument("--version", action="version", version=f"one-run {__version__}")
    # An explicit prog spares argparse a HelpFormatter (and its shutil import) at start-up.
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", prog="one-run")
    sub.required = True
    for name, add in commands.items():
        if command in (None, name) or command not in commands:
            add(sub, common)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv[0] if argv else None).parse_args(argv)
    _warnings.clear()
    try:
        return _run(args)
    finally:
        from .model.endpoint import name_host

        name_host(None, None, "docker")  # the host a command named is that command's: main may be called again


def _run(args) -> int:
    try:
        code = args.func(args)
        for problem in _warnings:
            print(problem, file=sys.stderr)
        return code
    except OneRunError as exc:
        print(exc.message if exc.message.startswith(("error", "warning")) else f"error: {exc.message}",
              file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one-run's bug or an SDK's: what it left is not known, so exit 4
        import traceback

        traceback.print_exc()
        print(f"error: one-run stopped on an unexpected {type(exc).__name__}: {exc} — a bug, please report it with "
              "the trace above. If it was changing a container, `one-run status PROFILE` shows where things are, "
              "and running the same command again first repairs what an interrupted apply leaves", file=sys.stderr)
        return 4
