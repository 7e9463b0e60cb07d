"""An existing container → a profile (tomli-w) that recreates it.

Only what the user chose goes in: the image's own env, labels, volumes and
entrypoint/cmd and the engine's defaults are subtracted (one_run.model.normalize). The
image's customizations become the profile's tables ([tls], [ssh], [config],
maintenance). Secret values go into files beside the profile (mode 0600), never into
it; anonymous volumes and options the profile cannot express are reported, never
dropped silently.
"""
import os
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, List, Optional

from ..common.errors import UsageError
from ..common.files import ensure_gitignore
from ..engines import ContainerInfo
from ..model.normalize import UNSET, from_inspect, has_create_command, is_secret_name, mount_spec
from ..model.options import NOT_CARRIED, capture_values
from ..model.runspec import CERTS, CONFIG, MOUNT_OPTIONS, SSH, staged_digest
from ..model.values import ENV_NAME_RE, Port, Volume, order_options

# (table, mount target, [(variable, key)], every variable required)
CUSTOMIZATIONS = (
    ("tls", CERTS, [("TLS_CERT", "cert"), ("TLS_KEY", "key")], True),
    ("ssh", SSH, [("ONEADMIN_SSH_PRIVKEY", "private_key"), ("ONEADMIN_SSH_PUBKEY", "public_key")], True),
    ("config", CONFIG, [("OPENNEBULA_ONECFG_PATCH", "onecfg_patch"),
                        ("OPENNEBULA_PREBOOTSTRAP_HOOK", "pre_bootstrap_hook"),
                        ("OPENNEBULA_POSTBOOTSTRAP_HOOK", "post_bootstrap_hook")], False),
)


@dataclass
class Captured:
    data: dict                     # the profile, for tomli-w
    secrets: Dict[str, str]        # variable → value, to write beside the profile
    header: List[str]              # comment lines at the top of the profile
    messages: List[str] = field(default_factory=list)  # for stderr


def secrets_folder(output: Path) -> Path:
    return output.with_name(output.stem + ".secrets")


def staged_originals(current: ContainerInfo, source: str) -> Dict[str, str]:
    """For a mount of one-run's staged copies: container path -> the file the applied profile
    (its one-run.profile label) names, where that profile still stages exactly these copies."""
    from ..common.errors import ProfileError
    from ..deploy.naming import PROFILE_LABEL
    from ..model.profile import load_profile
    from ..model.runspec import build_runspec

    path = current.labels.get(PROFILE_LABEL)
    if not path:
        return {}
    try:
        profile = load_profile(path)
        spec = build_runspec(profile)
    except ProfileError:
        return {}
    if not spec.staged_folder or os.path.basename(spec.staged_folder) != staged_digest(source):
        return {}
    return {f.container_path: f.source for f in spec.staged if f.source != profile.path}


def _place(path: str, folder: Optional[Path]) -> str:
    """A host path as the profile writes it: relative when it lies in the profile's folder."""
    if folder is not None:
        try:
            return str(Path(path).relative_to(folder.resolve()))
        except ValueError:
            pass
    return path


def build(current: ContainerInfo, image: Optional[dict], runtime: str, folder: Optional[Path],
          secret_dir: Optional[str], host: Optional[str] = None) -> Captured:
    """`folder`: where the profile will live (None: stdout); `secret_dir`: the secrets
    folder relative to it (None: secrets become { env = NAME } references); `host`: the
    remote engine's, which the profile then names."""
    normal = from_inspect(current.attrs, image, runtime)
    f = normal.fields
    env: Dict[str, str] = {name: value for name, value in f["env"].items() if value is not UNSET}
    # Named without a value: what pass_env renders, and what apply makes when the name is not set.
    pass_env = [name for name, value in f["env"].items() if value is UNSET]
    volumes = dict(f["volumes"])
    messages: List[str] = []
    header = [f"Captured by `one-run capture` from {runtime} container {current.name} ({current.id[:12]}) "
              f"on {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}.",
              "Check it with `one-run diff` on this file before `one-run apply`."]

    relabel_unknown = runtime == "podman" and not has_create_command(current.attrs)
    if relabel_unknown and any(kind == "bind" for kind, _, _ in volumes.values()):
        messages.append("note: Podman does not report a bind mount's z/Z once the container has started, and this "
                        "container has no create command to read them from: add them by hand where you used them")
    tables: Dict[str, dict] = {}
    for table, target, variables, all_required in CUSTOMIZATIONS:
        found = _customization(env, volumes, target, variables, all_required, relabel_unknown)
        if isinstance(found, str):
            messages.append(f"note: {found}; kept as a plain volume and [env] entries")
            continue
        if found:
            source, files = found
            originals = staged_originals(current, source) if staged_digest(source) else {}
            del volumes[target]
            tables[table] = {}
            for name, key in variables:
                if name in files:
                    del env[name]
                    path = originals.get(f"{target}/{files[name]}") or os.path.join(source, files[name])
                    tables[table][key] = _place(path, folder)
                    if staged_digest(path):
                        messages.append(f"note: {table}.{key} is one-run's staged copy {path}, which one-run "
                                        "removes once no container uses it: copy it out and point the profile at "
                                        "the copy")

    secrets: Dict[str, str] = {}
    env_table: Dict[str, object] = {}
    for name, value in env.items():
        if name == "MAINTENANCE_MODE":  # "yes" and "no" became `maintenance`; a profile sets no other value
            messages.append(f"not captured: env MAINTENANCE_MODE={value} (a profile sets it only through "
                            "`maintenance = true`, as yes)")
        elif not ENV_NAME_RE.match(name):
            messages.append(f"not captured: env {name} (a profile's [env] takes names of letters, digits and _ only)")
        elif is_secret_name(name):
            secrets[name] = value
            env_table[name] = {"file": f"{secret_dir}/{name}"} if secret_dir else {"env": name}
        else:
            env_table[name] = value

    c: Dict[str, object] = {"name": current.name, "image": current.image, **capture_values(f, messages.append, runtime)}
    ports = [Port.of(key, *b).format() for key, bindings in f["ports"].items() for b in bindings]
    if ports:
        c["ports"] = ports
    vols = [Volume(target, source, kind, tuple(order_options(options))).format()
            for target, (kind, source, options) in volumes.items()]
    if vols:
        c["volumes"] = vols
    if f["mounts"]:
        c["mounts"] = [mount_spec(target, value) for target, value in f["mounts"].items()]
    for name in [n for n in pass_env if not ENV_NAME_RE.match(n)]:
        messages.append(f"not captured: env {name}, named without a value (pass_env takes names of letters, "
                        "digits and _ only)")
        pass_env.remove(name)
    if pass_env:
        c["pass_env"] = pass_env
    entrypoint, command = f["entrypoint"], f["command"]
    if entrypoint and entrypoint[0].lstrip().startswith("["):  # the profile refuses it: Podman's CLI reads JSON
        messages.append(f"not captured: the entrypoint {list(entrypoint)} (a profile's entrypoint cannot start "
                        "with \"[\", which Podman's run command reads as JSON; the image's is used)")
        entrypoint = None
    if entrypoint is not None:
        if len(entrypoint) == 1:
            c["entrypoint"] = entrypoint[0]
        elif entrypoint:
            c["entrypoint"] = entrypoint[0]
            command = tuple(entrypoint[1:]) + tuple(command if command is not None else ())
            messages.append(f"note: the entrypoint {list(entrypoint)} is written as entrypoint "
                            f"{entrypoint[0]!r} plus command {list(command)}: the same process, as `--entrypoint` "
                            "takes one word")
        else:
            messages.append("not captured: the container's empty entrypoint (the profile cannot express it)")
    if command is not None:
        c["command"] = list(command)
    labels = {}
    for key, value in f["labels"].items():
        if "=" in key or any(ch.isspace() for ch in key):  # the profile refuses them: the CLIs cannot set them
            messages.append(f"not captured: label {key!r} (a profile's label keys take no \"=\" and no whitespace)")
        else:
            labels[key] = value
    if labels:
        c["labels"] = labels

    data: Dict[str, object] = {"runtime": runtime, **({"host": host} if host else {})}
    if f["maintenance"]:
        data["maintenance"] = True
    data["container"] = c
    if env_table:
        data["env"] = env_table
    data.update(tables)

    if secrets:
        if secret_dir:
            messages.append(f"secrets: the values of {', '.join(secrets)} are written to {secret_dir}/ (mode 0600), "
                            "not into the profile, which refers to them as { file = ... }")
        else:
            messages.append(f"secrets: the values of {', '.join(secrets)} are written nowhere (no -o FILE): the "
                            "profile refers to them as { env = NAME }; export them before apply")
    for name, target, from_image in normal.anonymous:
        origin = "declared by the image" if from_image else "given with the run command"
        text = (f"anonymous volume {name[:12]} at {target} ({origin}): its data lives only in this container; "
                "apply carries it over when it recreates this container, but a named volume is safer")
        messages.append(f"warning: {text}")
        header.append(text[0].upper() + text[1:] + ".")
    for name, value in normal.extras.items():
        if name in NOT_CARRIED:
            flag, why = NOT_CARRIED[name]
            messages.append(f"not captured: {name} = {value} ({flag}): not carried, since {why}")
        else:
            messages.append(f"not captured: {name} = {value} (the profile has no key for it; a recreate drops it)")
    messages += [f"note: {note}" for note in normal.notes]
    return Captured(data, secrets, header, messages)


def _customization(env: Dict[str, str], volumes: dict, target: str, variables, all_required,
                   relabel_unknown: bool = False):
    """(host folder, {variable: file name}) when the mount and variables are the image's
    customization exactly as one-run would make it; a reason when only part of it is; else None."""
    mount = volumes.get(target)
    named = {name: env[name] for name, _ in variables if name in env}
    if mount is None:
        return None
    kind, source, options = mount
    if kind != "bind":
        return f"{target} is a {kind} volume, not a host folder"
    if set(options) != set(MOUNT_OPTIONS) and not (relabel_unknown and set(options) == set(MOUNT_OPTIONS) - {"z"}):
        return f"the {target} mount has options {','.join(options) or '(none)'}, not {','.join(MOUNT_OPTIONS)}"
    if not named or (all_required and len(named) != len(variables)):
        missing = [name for name, _ in variables if name not in named]
        return f"the {target} mount comes without {', '.join(missing)}"
    files = {}
    for name, value in named.items():
        head, _, tail = value.rpartition("/")
        if head != target or not tail:
            return f"{name}={value} does not name a file directly in {target}"
        files[name] = tail
    return source, files


def to_toml(captured: Captured) -> str:
    """tomli-w writes the tables; [env] is assembled here (values quoted by tomli-w) so that
    secret references read `NAME = { file = "..." }`, as the profile format documents them."""
    import tomli_w

    def value(v) -> str:
        return tomli_w.dumps({"v": v})[4:-1]

    data = dict(captured.data)
    env = data.pop("env", None)
    tables = {k: data.pop(k) for k in ("tls", "ssh", "config") if k in data}
    parts = ["\n".join(f"# {line}" for line in captured.header) + "\n", tomli_w.dumps(data)]
    if env:
        lines = ["[env]"]
        for name, v in env.items():
            ref = ", ".join(f"{k} = {value(x)}" for k, x in v.items()) if isinstance(v, dict) else None
            lines.append(f"{name} = {{ {ref} }}" if ref else f"{name} = {value(v)}")
        parts.append("\n".join(lines) + "\n")
    if tables:
        parts.append(tomli_w.dumps(tables))
    return "\n".join(parts)


def check_loads(text: str, path: Path) -> None:
    """The written profile must load as one: a capture that cannot be applied is a bug."""
    from ..model.profile import key_lines, profile_from_data, tomllib
    from ..model.runspec import build_runspec

    build_runspec(profile_from_data(path, tomllib.loads(text), key_lines(text)))


def write(captured: Captured, output: Path, force: bool) -> None:
    """The secrets (0600, in a 0700 folder) first, then the profile, atomically."""
    secret_paths = [secrets_folder(output) / name for name in captured.secrets]
    existing = [p for p in [output] + secret_paths if p.exists()]
    if existing and not force:
        raise UsageError(f"{existing[0]} already exists; choose another -o FILE, or give --force to overwrite")
    text = to_toml(captured)
    check_loads(text, output.absolute())
    output.parent.mkdir(parents=True, exist_ok=True)
    if captured.secrets:
        folder = secrets_folder(output)
        folder.mkdir(mode=0o700, exist_ok=True)
        os.chmod(folder, 0o700)
        for name, value in captured.secrets.items():
            path = folder / name
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                os.fchmod(f.fileno(), 0o600)
                f.write(value + "\n")  # one-run strips one final newline when it reads a secret file
    tmp = output.with_name(output.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(output)
    ensure_gitignore(output.parent, private_patterns(captured, output))


def private_patterns(captured: Captured, output: Path) -> List[str]:
    """.gitignore lines for the secrets folder and the private keys the profile names inside its folder."""
    patterns = [f"/{secrets_folder(output).name}/"] if captured.secrets else []
    for table, key in (("tls", "key"), ("ssh", "private_key")):
        path = captured.data.get(table, {}).get(key)
        if path and not os.path.isabs(path) and not path.startswith(".."):
            patterns.append("/" + os.path.normpath(path))
    return patterns


def capture(engine, name: str, output: Optional[Path], force: bool) -> int:
    current = engine.get(name)
    if current is None:
        raise UsageError(f"no container named {name} on {engine.runtime}")
    image = engine.image_attrs(current.image_id)
    folder = output.absolute().parent if output else None
    secret_dir = secrets_folder(output).name if output else None
    captured = build(current, image, engine.runtime, folder, secret_dir,
                     engine.endpoint.name if engine.endpoint.remote else None)
    if output:
        write(captured, output, force)
    else:
        text = to_toml(captured)
        check_loads(text, Path("captured.toml").absolute())
        sys.stdout.write(text)
    for message in captured.messages:
        print(message, file=sys.stderr)
    if output:
        print(f"wrote {output}" + (f" and {secrets_folder(output)}/" if captured.secrets else ""), file=sys.stderr)
    return 0


def capture_named(name: str, runtime: Optional[str], output: Optional[Path], force: bool) -> int:
    """`one-run capture NAME`: on --runtime's engine, or on whichever engine has NAME."""
    from ..common.errors import EngineUnavailable
    from ..engines import get_engine

    if runtime:
        return capture(get_engine(runtime), name, output, force)
    holders, unreachable = [], []
    for candidate in ("docker", "podman"):
        try:
            engine = get_engine(candidate)
        except EngineUnavailable as exc:
            unreachable.append((candidate, exc.message))
            continue
        if engine.get(name) is not None:
            holders.append(engine)
    if len(holders) > 1:
        raise UsageError(f"both docker and podman have a container named {name}; choose one with --runtime")
    if holders:
        return capture(holders[0], name, output, force)
    if unreachable:  # it may well be on the engine that could not be asked
        down = {candidate for candidate, _ in unreachable}
        reached = [candidate for candidate in ("docker", "podman") if candidate not in down]
        looked = f"no container named {name} on {reached[0]}, and " if reached else ""
        raise EngineUnavailable(looked + "; ".join(message for _, message in unreachable))
    raise UsageError(f"no container named {name} on docker or podman")
