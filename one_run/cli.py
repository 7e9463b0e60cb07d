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
from .errors import OneRunError, Problem, UsageError


def _warn(problems: List[Problem]) -> None:
    for problem in problems:
        if problem.warning:
            print(problem, file=sys.stderr)


def _load(args, full: bool):
    """Profile → validated RunSpec, warnings printed; raises ProfileError (exit 2)."""
    from .profile import load_profile
    from .runspec import build_runspec
    from .validate import ensure_valid

    profile = load_profile(args.profile, getattr(args, "runtime", None))
    spec = build_runspec(profile)
    _warn(ensure_valid(profile, spec, full=full, strict=getattr(args, "strict", False)))
    return profile, spec


# --- render -------------------------------------------------------------------

def _add_render(sub, common):
    p = sub.add_parser("render", parents=[common], help="print the equivalent docker/podman run command")
    p.add_argument("profile")
    p.add_argument("--runtime", choices=("docker", "podman"), help="overrides the profile's runtime")
    p.add_argument("--show-secrets", action="store_true", help="print secret values instead of passing them by name")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=_cmd_render)


def _cmd_render(args) -> int:
    from .render import render_text, run_argv
    from .runspec import write_generated_files

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
    p.add_argument("profile")
    p.add_argument("--runtime", choices=("docker", "podman"))
    p.set_defaults(func=_cmd_validate)


def _cmd_validate(args) -> int:
    profile, _ = _load(args, full=True)
    print(f"{profile.path}: valid ({profile.runtime}, container {profile.container.name})")
    return 0


# --- apply / maintenance ---------------------------------------------------------

def _add_apply(sub, common):
    p = sub.add_parser("apply", parents=[common], help="make the running container match the profile")
    p.add_argument("profile")
    p.add_argument("--runtime", choices=("docker", "podman"))
    _apply_flags(p)
    p.set_defaults(func=_cmd_apply)


def _apply_flags(p):
    p.add_argument("--dry-run", action="store_true", help="print the plan and change nothing")
    p.add_argument("--force", action="store_true", help="recreate even when nothing changed")
    p.add_argument("--keep-previous", action="store_true", help="keep the replaced container, stopped and renamed")


def _apply(args, profile, spec) -> int:
    from .apply import Applier
    from .engines import get_engine

    engine = get_engine(profile.runtime)
    return Applier(engine, profile, spec).run(force=args.force, dry_run=args.dry_run,
                                              keep_previous=args.keep_previous)


def _cmd_apply(args) -> int:
    profile, spec = _load(args, full=True)
    return _apply(args, profile, spec)


def _add_maintenance(sub, common):
    p = sub.add_parser("maintenance", parents=[common], help="turn maintenance mode on or off and apply")
    p.add_argument("state", choices=("on", "off"))
    p.add_argument("profile")
    _apply_flags(p)
    p.set_defaults(func=_cmd_maintenance)


def _cmd_maintenance(args) -> int:
    from pathlib import Path

    from .profile_edit import set_top_level
    from .runspec import build_runspec

    profile, _ = _load(args, full=True)  # the profile must be valid before it is edited
    profile = profile._replace(maintenance=args.state == "on")
    spec = build_runspec(profile)
    if args.dry_run:
        return _apply(args, profile, spec)
    path = Path(args.profile)
    before = path.read_bytes()
    if not set_top_level(path, "maintenance", "true" if args.state == "on" else "false"):
        print(f"{path}: maintenance is already {args.state}")
    try:
        return _apply(args, profile, spec)
    except BaseException:
        # The flag follows the container: a failed apply leaves the profile as it was.
        if path.read_bytes() != before:
            path.write_bytes(before)
            print(f"{path}: maintenance flag put back, since the apply did not succeed", file=sys.stderr)
        raise


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


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument("--strict", action="store_true", help="treat warnings as errors")
    parser = _Parser(prog="one-run", description="Keep one OpenNebula Front-end container reproducible from a TOML profile.")
    parser.add_argument("--version", action="version", version=f"one-run {__version__}")
    # An explicit prog spares argparse a HelpFormatter (and its shutil import) at start-up.
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", prog="one-run")
    sub.required = True
    for add in (_add_render, _add_validate, _add_apply, _add_maintenance):
        add(sub, common)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except OneRunError as exc:
        print(exc.message if exc.message.startswith(("error", "warning")) else f"error: {exc.message}",
              file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
