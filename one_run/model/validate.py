"""Every check that needs no engine: host files, hooks, patch lines, image parameters.

`render` runs the checks that need neither an engine nor cryptography; `validate`
and `apply` add the certificate and key checks (`full=True`), which import
cryptography lazily through one_run.model.crypto.
"""
import json
import os
import stat
from functools import lru_cache
from typing import Dict, List

from ..common.errors import Problem, ProfileError
from ..common.files import NotReadable
from . import onecfg, values
from .profile import Profile, SecretRef, closest
from .runspec import CONFIG, RunSpec
from .secrets import secret_file_text

# Folders whose bind mount hands the container the host itself, and whose relabelling
# (:z / :Z) would make the host's own programs lose access to them on an SELinux host.
SYSTEM_PATHS = ("/", "/etc", "/usr", "/boot", "/proc", "/sys", "/dev", "/run", "/var", "/root", "/home")

DATA = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "opennebula-image.json")


@lru_cache(maxsize=None)
def image_parameters() -> Dict[str, dict]:
    with open(DATA, encoding="utf-8") as f:
        return {p["name"]: p for p in json.load(f)["parameters"]}


def check(profile: Profile, spec: RunSpec, full: bool) -> List[Problem]:
    problems: List[Problem] = []
    problems += _env_problems(profile, full)
    problems += _bind_problems(profile)
    problems += _security_opt_problems(profile)
    problems += _customization_problems(profile, spec)
    problems += _watch_problems(profile)
    if full:
        problems += _crypto_problems(profile)
        problems += _tracked_by_git(profile)
    return problems


def ensure_valid(profile: Profile, spec: RunSpec, full: bool, strict: bool = False) -> List[Problem]:
    """Raise ProfileError when a check fails (warnings too, with strict); return the warnings."""
    problems = check(profile, spec, full)
    warnings = [p for p in problems if p.warning]
    if strict and warnings:
        raise ProfileError(problems, "--strict: the warnings above count as errors; nothing was touched")
    if len(warnings) < len(problems):
        raise ProfileError([p for p in problems if not p.warning])
    return warnings


def _watch_problems(profile: Profile) -> List[Problem]:
    if "settle_time" not in profile.lines:  # only [watch] settle_time, or none
        return []
    return [profile.problem("settle_time", "a top-level settle_time still works, but its place is now [watch]",
                            f"move it: [watch] settle_time = {profile.watch.settle_time:g}", warning=True)]


def _env_problems(profile: Profile, full: bool) -> List[Problem]:
    params = image_parameters()
    problems = []
    for name, value in profile.env:
        key = f"env.{name}"
        param = params.get(name)
        if param is None:
            near = closest(name, params)
            problems.append(profile.problem(key, f"{name} is not a parameter of the OpenNebula image",
                                            f"did you mean {near}?" if near else "check the spelling", warning=True))
        if isinstance(value, SecretRef):
            problems += _secret_problems(profile, key, value, full)
        elif param is not None:
            if param["secret"]:
                problems.append(profile.problem(key, f"{name} is a secret but is written in clear in the profile",
                                                f"use {name} = {{ env = \"VAR\" }} or {{ file = \"path\" }}",
                                                warning=True))
            message = _param_value_problem(param, value)
            if message:
                problems.append(profile.problem(key, message[0], message[1]))
    for name in profile.container.pass_env if full else ():
        if name not in os.environ:
            problems.append(profile.problem(
                "container.pass_env", f"{name} is not set in this environment: the container gets it named without "
                "a value (Docker; Podman leaves it out)", f"export {name}=... before running one-run, or remove it "
                "from pass_env", warning=True))
    return problems


def _param_value_problem(param: dict, value: str):
    name, kind = param["name"], param["kind"]
    if kind == "bool-yes-no" and value not in ("yes", "no"):
        return f"{name} = {value!r}: the image takes yes or no", f"write {name} = \"yes\" or \"no\""
    if kind == "enum" and value not in param["choices"]:
        return f"{name} = {value!r} is not one of {', '.join(param['choices'])}", None
    if kind == "port" and not (value.isdigit() and 0 < int(value) < 65536):
        return f"{name} = {value!r} is not a port number", "write a number from 1 to 65535"
    if kind == "path-in-container" and not value.startswith("/"):
        return f"{name} = {value!r} must be an absolute path inside the container", None
    return None


def _secret_problems(profile: Profile, key: str, ref: SecretRef, full: bool) -> List[Problem]:
    if ref.source == "file":
        try:
            secret_file_text(ref.path)
        except NotReadable as exc:
            return [profile.problem(key, f"secret file {ref.path} {exc}", "write the secret into it as UTF-8 "
                                    "text, one line, or fix the path")]
        return _private_mode_problems(profile, key, ref.path)
    if full and ref.ref not in os.environ:
        return [profile.problem(key, f"secret variable ${ref.ref} is not set in this environment",
                                f"export {ref.ref}=... before running one-run")]
    return []


def _private_mode_problems(profile: Profile, key: str, path: str) -> List[Problem]:
    mode = os.stat(path).st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return [profile.problem(key, f"{path} is readable by group or others (mode {stat.S_IMODE(mode):04o})",
                                f"chmod 600 {path}", warning=True)]
    return []


def _bind_problems(profile: Profile) -> List[Problem]:
    """Host paths (links already resolved by the profile): present, and not the host's own folders."""
    problems = []
    binds = [("container.volumes", v, repr(v.format())) for v in profile.container.volumes if v.kind == "bind"]
    binds += [("container.mounts", m.as_volume(), repr(m.text)) for m in profile.container.mounts if m.kind == "bind"]
    for key, vol, text in binds:
        if not os.path.exists(vol.source):
            # Docker's -v would silently create an empty directory here and hide the mistake.
            problems.append(profile.problem(key, f"host path {vol.source} does not exist",
                                            f"create it, or fix the path in {key.split('.')[1]}"))
        if vol.source not in SYSTEM_PATHS:
            continue
        relabel = [o for o in vol.options if o in ("z", "Z")]
        if relabel:
            problems.append(profile.problem(
                key, f"volume {text}: :{relabel[0]} on {vol.source} would relabel the "
                f"host's {vol.source} for SELinux, recursively; on an SELinux host its own services could no "
                "longer read it", f"remove {relabel[0]!r} from the options (allow_system_paths does not allow it)"))
        elif not profile.allow_system_paths:
            problems.append(profile.problem(
                key, f"volume {text} mounts the host's {vol.source} into the container",
                "mount a folder of its own instead; if the container must see it, write "
                "`allow_system_paths = true` at the top of the profile"))
    return problems


def _security_opt_problems(profile: Profile) -> List[Problem]:
    """Podman refuses a security option it does not know at create: found here, before
    apply (or switch) has stopped anything."""
    if profile.runtime != "podman":
        return []
    problems = []
    for opt in profile.container.security_opt:
        try:
            values.parse_security_opt(opt)
        except ValueError as exc:
            problems.append(profile.problem("container.security_opt", str(exc),
                                            "write it as `podman run --security-opt` takes it, "
                                            "e.g. no-new-privileges or label=disable"))
    return problems


def _customization_problems(profile: Profile, spec: RunSpec) -> List[Problem]:
    """Checks of the files as staged (build_runspec read them): what is checked is what is mounted."""
    problems = []
    private = {"tls.key": profile.tls.key if profile.tls else None,
               "ssh.private_key": profile.ssh.private_key if profile.ssh else None}
    for key, path in private.items():
        if path:
            problems += _private_mode_problems(profile, key, path)
    config = profile.config
    if not config:
        return problems
    staged = {f.source: f for f in spec.staged if f.target == CONFIG}
    for key in ("pre_bootstrap_hook", "post_bootstrap_hook"):
        hook = getattr(config, key)
        if hook in staged:
            problems += _hook_problems(profile, f"config.{key}", staged[hook].source, staged[hook].data)
    if config.patch_lines is not None:
        problems += _patch_problems(profile, "config.onecfg_patch", config.patch_lines, "inline line")
    elif config.onecfg_patch in staged:
        lines = staged[config.onecfg_patch].data.decode(errors="replace").splitlines()
        problems += _patch_problems(profile, "config.onecfg_patch", lines, f"{config.onecfg_patch} line")
    return problems


def _hook_problems(profile: Profile, key: str, hook: str, data: bytes) -> List[Problem]:
    problems = []
    if not os.access(hook, os.X_OK):
        problems.append(profile.problem(key, f"hook {hook} is not executable", f"chmod +x {hook}"))
    first = data.split(b"\n", 1)[0]
    if not first.startswith(b"#!"):
        problems.append(profile.problem(key, f"hook {hook} has no #! line, so the image cannot run it",
                                        "start it with #!/bin/bash (or another interpreter)"))
    elif first.endswith(b"\r"):
        # The kernel would look for an interpreter named "bash\r": "No such file or directory".
        problems.append(profile.problem(key, f"hook {hook} has Windows (CRLF) line endings, so its #! line names "
                                        f"an interpreter that does not exist", f"sed -i 's/\\r$//' {hook}"))
    return problems


def _patch_problems(profile: Profile, key: str, lines, where: str) -> List[Problem]:
    problems = []
    for number, line in enumerate(lines, 1):
        message = onecfg.check_line(line)
        if message:
            problems.append(profile.problem(key, f"onecfg patch, {where} {number}: {message}: {line.strip()!r}",
                                            "see the onecfg line format: <file> <ins|set|rm> <path> [<JSON value>]"))
    return problems


def _in_work_tree(folder: str) -> bool:
    while True:
        if os.path.exists(os.path.join(folder, ".git")):
            return True
        parent = os.path.dirname(folder)
        if parent == folder:
            return False
        folder = parent


def _tracked_by_git(profile: Profile) -> List[Problem]:
    """A warning for each private key or secret file of the profile that git tracks: a push
    publishes it. Silent where there is no git or no work tree."""
    private = {}
    if profile.tls:
        private[profile.tls.key] = "tls.key"
    if profile.ssh:
        private[profile.ssh.private_key] = "ssh.private_key"
    for name, value in profile.env:
        if isinstance(value, SecretRef) and value.source == "file":
            private[value.path] = f"env.{name}"
    if not private or not _in_work_tree(profile.folder):
        return []
    import subprocess  # only in a work tree

    try:
        listed = subprocess.run(["git", "-C", profile.folder, "ls-files", "-z", "--full-name", "--", *private],
                                capture_output=True, timeout=10)
        root = subprocess.run(["git", "-C", profile.folder, "rev-parse", "--show-toplevel"],
                              capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return []
    if listed.returncode or root.returncode:
        return []
    tracked = {os.path.join(root.stdout.strip(), name) for name in listed.stdout.decode(errors="replace").split("\0")
               if name}
    real = {os.path.realpath(p) for p in tracked}
    return [profile.problem(key, f"{path} is tracked by git: a push or a copy of the repository gives it away",
                            f"git rm --cached {path}, and list it in .gitignore", warning=True)
            for path, key in private.items() if os.path.realpath(path) in real]


def _crypto_problems(profile: Profile) -> List[Problem]:
    if not (profile.tls or profile.ssh):
        return []
    from . import crypto  # cryptography is slow to import; render never needs it

    located = []
    if profile.tls and os.path.isfile(profile.tls.cert) and os.path.isfile(profile.tls.key):
        host = dict(profile.env).get("OPENNEBULA_HOST")
        located += crypto.check_tls(profile.tls.cert, profile.tls.key, host if isinstance(host, str) else None)
    if profile.ssh and os.path.isfile(profile.ssh.private_key) and os.path.isfile(profile.ssh.public_key):
        located += crypto.check_ssh_pair(profile.ssh.private_key, profile.ssh.public_key)
    return [profile.problem(p.key or "", p.message, p.fix, p.warning) for p in located]
