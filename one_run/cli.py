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
from .common.errors import OneRunError, Problem, UsageError


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
    spec = build_runspec(profile)
    _warn(ensure_valid(profile, spec, full=full, strict=getattr(args, "strict", False)))
    return profile, spec


PROFILE_HELP = "the deployment's TOML profile (keys: docs/profile.md)"


def _profile_and_runtime(p):
    """The PROFILE argument and --runtime, as every command that reads a profile for one runtime takes them."""
    p.add_argument("profile", metavar="PROFILE", help=PROFILE_HELP)
    p.add_argument("--runtime", choices=("docker", "podman"), help="overrides the profile's runtime")


# --- render -------------------------------------------------------------------

def _add_render(sub, common):
    p = sub.add_parser("render", parents=[common], help="print the equivalent docker/podman run command")
    _profile_and_runtime(p)
    p.add_argument("--show-secrets", action="store_true", help="print secret values instead of passing them by name")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="json: the command as a JSON array of words")
    p.set_defaults(func=_cmd_render)


def _cmd_render(args) -> int:
    from .model.render import render_text, run_argv
    from .model.runspec import write_generated_files

    _, spec = _load(args, full=False)
    try:
        if args.format == "json":
            import json
            text = json.dumps(run_argv(spec, args.show_secrets)) + "\n"
        else:
            text = render_text(spec, args.show_secrets)
    except KeyError as exc:
        raise UsageError(f"--show-secrets: secret variable ${exc.args[0]} is not set; export it first") from None
    write_generated_files(spec)
    sys.stdout.write(text)
    return 0


# --- validate -----------------------------------------------------------------

def _add_validate(sub, common):
    p = sub.add_parser("validate", parents=[common], help="make every check apply makes, touching nothing")
    _profile_and_runtime(p)
    p.set_defaults(func=_cmd_validate)


def _cmd_validate(args) -> int:
    profile, _ = _load(args, full=True)
    print(f"{profile.path}: valid ({profile.runtime}, container {profile.container.name})")
    if profile.tls:
        from .model.crypto import tls_summary
        print(f"  certificate {tls_summary(profile.tls.cert)}")
    return 0


# --- apply / maintenance ---------------------------------------------------------

def _add_apply(sub, common):
    p = sub.add_parser("apply", parents=[common], help="make the running container match the profile")
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


def _apply(args, profile, spec, engine=None) -> int:
    from concurrent.futures import ThreadPoolExecutor

    from .deploy.apply import Applier
    from .deploy.survival import apply_warning, reboot_survival
    from .deploy.compare import explainer
    from .engines import get_engine
    from .common.interrupts import as_keyboard_interrupt
    from .deploy.guards import check_not_shared
    from .commands.switch import check_not_elsewhere

    # systemctl answers in a thread while the engine's SDK is imported: ~20 ms of apply's
    # overhead (bench (c)).
    with ThreadPoolExecutor(1) as pool:
        survival = pool.submit(reboot_survival, profile.runtime, spec.container.restart.name, spec.name,
                               profile.path)
        engine = engine or get_engine(profile.runtime)
    # The deployment living on the other runtime is refused (exit 2) before anything is touched.
    check_not_elsewhere(profile, spec, engine, getattr(args, "allow_empty_volumes", False))
    # So is a named volume that a running container of another deployment mounts.
    check_not_shared(spec, engine, getattr(args, "allow_shared_volume", False))
    applier = Applier(engine, profile, spec, survival.result())
    warning = apply_warning(engine.runtime, spec.container.restart.name, spec.name, profile.path, applier.survival)
    if warning:
        print(warning, file=sys.stderr)
    with as_keyboard_interrupt():
        return applier.run(force=args.force, dry_run=args.dry_run, keep_previous=args.keep_previous,
                           explain=explainer(engine, spec))


def _cmd_apply(args) -> int:
    profile, spec = _load(args, full=True)
    return _apply(args, profile, spec)


def _add_maintenance(sub, common):
    p = sub.add_parser("maintenance", parents=[common], help="turn maintenance mode on or off and apply")
    p.add_argument("state", choices=("on", "off"), help="on: start the image in maintenance mode; off: normally")
    p.add_argument("profile", metavar="PROFILE", help=PROFILE_HELP)
    _apply_flags(p)
    p.set_defaults(func=_cmd_maintenance)


def _cmd_maintenance(args) -> int:
    from pathlib import Path

    from .engines import get_engine
    from .model.profile_edit import set_top_level
    from .model.runspec import build_runspec

    profile, _ = _load(args, full=True)  # the profile must be valid before it is edited
    profile = profile._replace(maintenance=args.state == "on")
    spec = build_runspec(profile)
    engine = get_engine(profile.runtime)  # and the engine reachable (exit 3 means nothing changed)
    if args.dry_run:
        return _apply(args, profile, spec, engine)
    path = Path(args.profile)
    before = path.read_bytes()
    if not set_top_level(path, "maintenance", "true" if args.state == "on" else "false"):
        print(f"{path}: maintenance is already {args.state}")
    try:
        return _apply(args, profile, spec, engine)
    except BaseException:
        # The flag follows the container: a failed apply leaves the profile as it was.
        if path.read_bytes() != before:
            path.write_bytes(before)
            print(f"{path}: maintenance flag put back, since the apply did not succeed", file=sys.stderr)
        raise


# --- diff / status / capture -------------------------------------------------------

def _add_diff(sub, common):
    p = sub.add_parser("diff", parents=[common], help="what apply would change in the running container")
    _profile_and_runtime(p)
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="json: the differences as a JSON document, for scripts")
    p.set_defaults(func=_cmd_diff)


def _cmd_diff(args) -> int:
    """One `field: running → profile` line per difference; exit 0 in sync, 1 different."""
    import json

    from .deploy.compare import Difference, differences
    from .engines import get_engine

    profile, spec = _load(args, full=False)
    engine = get_engine(profile.runtime)
    current = engine.get(spec.name)
    if current is None:
        found = [Difference("container", "(none)", spec.name, note="apply creates it")]
    else:
        found = differences(engine, spec, current)
    if args.format == "json":
        print(json.dumps({"container": spec.name, "runtime": engine.runtime, "id": current.id if current else None,
                          "in_sync": not found, "differences": [d.as_json() for d in found]}, indent=2))
    elif found:
        for difference in found:
            print(difference.line())
    else:
        print(f"in sync: {engine.runtime} container {spec.name} ({current.id[:12]}) matches {profile.path}")
    return 1 if found else 0


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
    from .engines import get_engine
    from .commands.status import collect, render

    profile, spec = _load(args, full=False)
    report = collect(get_engine(profile.runtime), profile, spec)
    if args.format == "json":
        import json
        report.pop("lines", None)
        print(json.dumps(report, indent=2))
    else:
        print("\n".join(render(report)))
    return 0 if report["up"] else 1


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

    from .commands.capture import capture
    from .engines import get_engine
    from .common.errors import EngineUnavailable

    output = Path(args.output) if args.output else None
    if args.runtime:
        return capture(get_engine(args.runtime), args.name, output, args.force)
    holders, unreachable = [], []
    for runtime in ("docker", "podman"):
        try:
            engine = get_engine(runtime)
        except EngineUnavailable as exc:
            unreachable.append((runtime, exc.message))
            continue
        if engine.get(args.name) is not None:
            holders.append(engine)
    if len(holders) > 1:
        raise UsageError(f"both docker and podman have a container named {args.name}; choose one with --runtime")
    if holders:
        return capture(holders[0], args.name, output, args.force)
    if unreachable:  # it may well be on the engine that could not be asked
        down = {runtime for runtime, _ in unreachable}
        reached = [runtime for runtime in ("docker", "podman") if runtime not in down]
        looked = f"no container named {args.name} on {reached[0]}, and " if reached else ""
        raise EngineUnavailable(looked + "; ".join(message for _, message in unreachable))
    raise UsageError(f"no container named {args.name} on docker or podman")


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
    from .deploy.survival import boot

    profile, _ = _load(args, full=False)
    return boot(profile, args.action)


# --- init / tls renew ------------------------------------------------------------

CERT_DAYS = 825  # init.DEFAULT_DAYS, written out: importing init would load cryptography at start-up


def _add_init(sub, common):
    p = sub.add_parser("init", help="a new profile with a self-signed TLS cert and an SSH key pair")
    p.add_argument("folder", metavar="DIR", help="the folder to write the deployment into (made if missing)")
    p.add_argument("--host", required=True, help="DNS name or IP address clients and nodes use to reach the Front-end")
    p.add_argument("--runtime", choices=("docker", "podman"), default="docker",
                   help="the profile's runtime (default: docker)")
    p.add_argument("--image", help="image reference (default: the documented community image)")
    p.add_argument("--ssh-key-type", choices=("rsa", "ed25519"), default="rsa",
                   help="type of oneadmin's SSH key pair (default: rsa)")
    p.add_argument("--days", type=int, default=CERT_DAYS, help=f"certificate validity (default: {CERT_DAYS})")
    p.add_argument("--force", action="store_true", help="replace existing files, keeping a backup of each")
    p.set_defaults(func=_cmd_init)


def _cmd_init(args) -> int:
    from .model.crypto import tls_summary
    from .commands.init import CERT, PROFILE, init_deployment

    written = init_deployment(args.folder, args.host, runtime=args.runtime, image=args.image,
                              ssh_key_type=args.ssh_key_type, days=args.days, force=args.force)
    print(f"wrote {args.folder}:")
    for item in written:
        kept = f"  (the previous one kept as {item.backup.name})" if item.backup else ""
        print(f"  {item.mode:04o} {item.path.relative_to(args.folder)}{kept}")
    print(tls_summary(os.path.join(args.folder, CERT)))
    if any(item.backup and item.path.parent.name == "secrets" for item in written):
        print("warning: the password files in secrets/ are new; OpenNebula reads them at its first bootstrap "
              "only, so a deployment that already has its data keeps working with the previous passwords "
              "(kept as the .bak files)", file=sys.stderr)
    profile = os.path.join(args.folder, PROFILE)
    ssh_public = next(item.path for item in written if item.path.suffix == ".pub")
    print(f"next:\n  one-run validate {profile}\n  one-run render {profile}\n  one-run apply {profile}\n"
          f"and add {ssh_public} to ~oneadmin/.ssh/authorized_keys on every hypervisor node")
    return 0


def _add_tls(sub, common):
    p = sub.add_parser("tls", help="TLS certificate tasks")
    tls = p.add_subparsers(dest="tls_command", metavar="TASK", prog="one-run tls")
    tls.required = True
    renew = tls.add_parser("renew", help="a new self-signed certificate for the same key and names")
    renew.add_argument("profile", metavar="PROFILE", help=PROFILE_HELP)
    renew.add_argument("--days", type=int, default=CERT_DAYS,
                       help=f"validity of the new certificate (default: {CERT_DAYS})")
    renew.set_defaults(func=_cmd_tls_renew)


def _cmd_tls_renew(args) -> int:
    from .model.crypto import renew_tls, tls_summary
    from .model.profile import load_profile

    profile = load_profile(args.profile)
    if profile.tls is None:
        raise UsageError(f"{profile.path}: no [tls] table, so there is no certificate to renew; "
                         "add [tls] with cert and key (or make a deployment with `one-run init`)")
    backup = renew_tls(profile.tls.cert, profile.tls.key, args.days)
    print(tls_summary(profile.tls.cert))
    print(f"the previous certificate is kept as {backup}")
    print(f"run `one-run apply {args.profile}` to recreate the container with it")
    return 0


# --- switch ------------------------------------------------------------------------

def _add_switch(sub, common):
    p = sub.add_parser("switch", parents=[common], help="move the deployment, with its volumes' data, to the other runtime")
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
    from .common.interrupts import as_keyboard_interrupt
    from .commands.switch import Switcher

    args.runtime = args.to  # validate for the target runtime
    profile, spec = _load(args, full=True)
    with as_keyboard_interrupt():
        return Switcher(profile, spec, args.to).run(dry_run=args.dry_run, cleanup=args.cleanup,
                                                    overwrite=args.overwrite_volumes)


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

    return rollback(args)


def _add_history(sub, common):
    p = sub.add_parser("history", parents=[common], help="the applied revisions, newest first, with their snapshots",
                       description="The revisions apply recorded (in .one-run/<profile stem>/history/ beside the "
                                   "profile), newest first: time, image and digest, profile hash, container, and the "
                                   "data snapshot taken before each, with its size and whether it is still there.")
    _profile_and_runtime(p)
    p.add_argument("--format", choices=("text", "json"), default="text", help="json: for scripts")
    p.set_defaults(func=_cmd_history)


def _cmd_history(args) -> int:
    import json

    from .engines import get_engine
    from .common.errors import EngineUnavailable
    from .deploy.history import revisions, snapshot_state
    from .model.profile import load_profile
    from .deploy.snapshot import Snapshot
    from .deploy.volume_copy import human

    profile = load_profile(args.profile, args.runtime)
    found = revisions(profile.path)
    engine, unchecked = None, None
    if any(r.get("snapshot") for r in found):
        try:
            engine = get_engine(profile.runtime)
        except EngineUnavailable as exc:
            unchecked = exc.message
    for record in found:
        if record.get("snapshot"):
            record["snapshot"]["state"] = snapshot_state(engine, record)
    if args.format == "json":
        print(json.dumps({"profile": profile.path, "revisions": found}, indent=2))
        return 0
    if not found:
        print(f"{profile.path}: no revision recorded yet; each successful `one-run apply` records one")
        return 0
    for record in found:
        image = record["image"]
        digest = f", digest {image['digest']}" if image.get("digest") else ""
        print(f"revision {record['revision']}  {record['time']}  {record['runtime']} container "
              f"{record['container']['id'][:12]}  image {image['ref']}{digest}  profile hash "
              f"{(record.get('config_hash') or '?')[:12]}")
        if record.get("snapshot"):
            snapshot = Snapshot.from_json(record["snapshot"])
            state = record["snapshot"]["state"] or "not checked"
            print(f"  data before it: {snapshot.describe()}, {human(snapshot.bytes)} in all ({state})")
        if record.get("files"):
            print(f"  files: {', '.join(f['path'] for f in record['files'])}")
    if unchecked:
        print(f"(whether the snapshots are still there was not checked: {unchecked})", file=sys.stderr)
    return 0


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
    from .engines import get_engine
    from .common.interrupts import as_keyboard_interrupt

    profile, spec = _load(args, full=False)
    out = args.output or f"{spec.name}-backup-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    engine = get_engine(profile.runtime)
    with as_keyboard_interrupt():
        return backup(engine, profile, spec, os.path.abspath(out))


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
    from .engines import get_engine
    from .common.interrupts import as_keyboard_interrupt

    profile, spec = _load(args, full=False)
    engine = get_engine(profile.runtime)
    with as_keyboard_interrupt():
        return restore(engine, profile, spec, os.path.abspath(args.folder), args.yes)


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
