"""Every check that needs no engine: host files, hooks, patch lines, image parameters.

`render` runs the checks that need neither an engine nor cryptography; `validate`
and `apply` add the certificate and key checks (`full=True`), which import
cryptography lazily through one_run.crypto.
"""
import json
import os
import stat
from functools import lru_cache
from typing import Dict, List, Optional

from . import onecfg, values
from .errors import Problem, ProfileError
from .profile import Profile, SecretRef, closest
from .runspec import RunSpec

DATA = os.path.join(os.path.dirname(__file__), "data", "opennebula-image.json")


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
    if full:
        problems += _crypto_problems(profile)
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
        message = _readable_file(ref.path)
        if message:
            return [profile.problem(key, f"secret file {ref.path}: {message}", "create it, or fix the path")]
        return _private_mode_problems(profile, key, ref.path)
    if full and ref.ref not in os.environ:
        return [profile.problem(key, f"secret variable ${ref.ref} is not set in this environment",
                                f"export {ref.ref}=... before running one-run")]
    return []


def _readable_file(path: str) -> Optional[str]:
    if not os.path.exists(path):
        return "does not exist"
    if not os.path.isfile(path):
        return "is not a regular file"
    if not os.access(path, os.R_OK):
        return "is not readable"
    return None


def _private_mode_problems(profile: Profile, key: str, path: str) -> List[Problem]:
    mode = os.stat(path).st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return [profile.problem(key, f"{path} is readable by group or others (mode {stat.S_IMODE(mode):04o})",
                                f"chmod 600 {path}", warning=True)]
    return []


def _bind_problems(profile: Profile) -> List[Problem]:
    problems = []
    for vol in profile.container.volumes:
        if vol.kind == "bind" and not os.path.exists(vol.source):
            # Docker would silently create an empty directory here and hide the mistake.
            problems.append(profile.problem("container.volumes", f"host path {vol.source} does not exist",
                                            "create it, or fix the path in volumes"))
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
    problems = []
    files = []
    if profile.tls:
        files += [("tls.cert", profile.tls.cert, False), ("tls.key", profile.tls.key, True)]
    if profile.ssh:
        files += [("ssh.private_key", profile.ssh.private_key, True), ("ssh.public_key", profile.ssh.public_key, False)]
    config = profile.config
    if config and config.onecfg_patch:
        files.append(("config.onecfg_patch", config.onecfg_patch, False))
    for key, path, private in files:
        message = _readable_file(path)
        if message:
            problems.append(profile.problem(key, f"{path} {message}", "create it, or fix the path"))
        elif private:
            problems += _private_mode_problems(profile, key, path)
    if config:
        for key in ("pre_bootstrap_hook", "post_bootstrap_hook"):
            hook = getattr(config, key)
            if hook:
                problems += _hook_problems(profile, f"config.{key}", hook)
        if config.patch_lines is not None:
            problems += _patch_problems(profile, "config.onecfg_patch", config.patch_lines, "inline line")
        elif config.onecfg_patch and not _readable_file(config.onecfg_patch):
            with open(config.onecfg_patch, errors="replace") as f:
                lines = f.read().splitlines()
            problems += _patch_problems(profile, "config.onecfg_patch", lines, f"{config.onecfg_patch} line")
    return problems


def _hook_problems(profile: Profile, key: str, hook: str) -> List[Problem]:
    message = _readable_file(hook)
    if message:
        return [profile.problem(key, f"hook {hook} {message}", "create it, or fix the path")]
    problems = []
    if not os.access(hook, os.X_OK):
        problems.append(profile.problem(key, f"hook {hook} is not executable", f"chmod +x {hook}"))
    with open(hook, "rb") as f:
        first = f.readline()
    if not first.startswith(b"#!"):
        problems.append(profile.problem(key, f"hook {hook} has no #! line, so the image cannot run it",
                                        "start it with #!/bin/bash (or another interpreter)"))
    elif first.endswith(b"\r\n"):
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
