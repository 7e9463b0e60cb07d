"""RunSpec → the equivalent `docker run` / `podman run` command.

The argv is built as groups (an option with its value) so the text form can put one
option per line with `\\` continuations, like the OpenNebula docs; every word is
quoted by shlex, so pasting the text into bash passes exactly this argv.
"""
import shlex
from typing import List

from .options import groups as option_groups
from .profile import SecretRef
from .runspec import DELIVERY_HELPER, DELIVERY_LABEL, DELIVERY_ROOT, HELPER_LABEL, RunSpec
from .secrets import secret_value

Groups = List[List[str]]


def run_groups(spec: RunSpec, show_secrets: bool = False) -> Groups:
    c = spec.container
    groups: Groups = [[spec.runtime, "run"], ["-d"], ["--name", c.name]]

    def opt(flag: str, *items: str):
        groups.extend([flag, item] for item in items)

    groups += option_groups(c)
    opt("-p", *c.ports)
    for name, value in spec.env:
        # A pass_env name is the CLI's own `-e NAME`: its value comes from where the command runs.
        if isinstance(value, SecretRef) and (not show_secrets or value.source == "pass"):
            opt("-e", name)
        else:
            opt("-e", f"{name}={secret_value(value) if isinstance(value, SecretRef) else value}")
    opt("-v", *(v.format() for v in spec.volumes))
    opt("--mount", *(m.text for m in c.mounts))
    opt("--label", *(f"{k}={v}" for k, v in c.labels))
    if c.entrypoint is not None:
        opt("--entrypoint", c.entrypoint)
    groups.append([c.image, *(c.command or ())])
    return groups


def run_argv(spec: RunSpec, show_secrets: bool = False) -> List[str]:
    return [word for group in run_groups(spec, show_secrets) for word in group]


def secret_exports(spec: RunSpec) -> List[str]:
    """Shell lines that export each secret under the name the command passes it by."""
    lines = []
    for name, value in spec.env:
        if not isinstance(value, SecretRef) or value.source == "pass":
            continue
        if value.source == "env":
            source = f"\"${value.ref}\"" if value.ref != name else None
        else:
            source = f"\"$(cat {shlex.quote(str(value.path))})\""
        if source:
            lines.append(f"export {name}={source}")
        else:
            lines.append(f"export {name}  # already named {name} in your environment")
    return lines


def delivery_groups(spec: RunSpec, staged_folder: str) -> List[List[str]]:
    """The commands that fill the spec's delivery volumes from `staged_folder` (this machine's
    staged copy) as apply does, through the engine: one read-only volume per folder."""
    volumes = spec.delivery_volumes
    helper = spec.name + DELIVERY_HELPER
    commands = [[spec.runtime, "volume", "create", "--label", f"{DELIVERY_LABEL}={spec.name}", volume]
                for volume in volumes.values()]
    mounts = [word for target, volume in volumes.items() for word in ("-v", f"{volume}:{DELIVERY_ROOT}{target}")]
    commands.append([spec.runtime, "create", "--name", helper, "--label", f"{HELPER_LABEL}=1", "--network", "none",
                     *mounts, spec.image])
    commands += [[spec.runtime, "cp", f"{staged_folder}{target}/.", f"{helper}:{DELIVERY_ROOT}{target}"]
                 for target in volumes]
    commands.append([spec.runtime, "rm", helper])
    return commands


def render_text(spec: RunSpec, show_secrets: bool = False, before: List[str] = ()) -> str:
    """The run command, under the secrets' export lines and the lines `before` it (a remote host's)."""
    out = list(before)
    exports = [] if show_secrets else secret_exports(spec)
    if exports:
        out.append("# Secrets are passed by name, not printed: export them in this shell first:")
        out.extend(f"#   {line}" for line in exports)
    out.append(" \\\n  ".join(shlex.join(group) for group in run_groups(spec, show_secrets)))
    return "\n".join(out) + "\n"
