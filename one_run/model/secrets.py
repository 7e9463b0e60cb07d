"""The values of a profile's secrets ({ env = }, { file = }, pass_env), read where one-run
runs: for the container's environment, the hash, and `render --show-secrets`. Nothing here
prints or stores a value.
"""
import os
from typing import Dict, Iterable, List, Optional, Tuple

from ..common.errors import UsageError
from ..common.files import NotReadable, read_regular_file
from .profile import SecretRef
from .runspec import RunSpec


def secret_value(ref: SecretRef) -> Optional[str]:
    """The secret's value: the variable, or the file without its final newline; for a pass_env
    name, the variable or None when it is not set."""
    if ref.source == "pass":
        return os.environ.get(ref.ref)
    if ref.source == "env":
        value = os.environ.get(ref.ref)
        if value is None:
            raise KeyError(ref.ref)
        return value
    return secret_file_text(ref.path)


def secret_file_text(path: str) -> str:
    """A secret file's value (without its final newline); NotReadable, never echoing the
    contents, when it is not a regular, UTF-8 file without NUL characters."""
    data = read_regular_file(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise NotReadable("is not UTF-8 text") from None
    if "\0" in text:
        raise NotReadable("holds a NUL character, which no environment variable can carry")
    return text[:-1] if text.endswith("\n") else text


def resolve_env(spec: RunSpec, strict: bool = True) -> Tuple[Dict[str, Optional[str]], Dict[str, str]]:
    """The container's environment with secrets read, and the secrets alone (for the hash).
    A secret that cannot be read is a UsageError, or left out when not `strict`. A pass_env
    name not set here is None: each engine does with it what its CLI does with `-e NAME`."""
    env: Dict[str, Optional[str]] = {}
    secrets: Dict[str, str] = {}
    for name, value in spec.env:
        if isinstance(value, SecretRef) and value.source == "pass":
            env[name] = secret_value(value)
            if env[name] is not None:
                secrets[name] = env[name]
        elif isinstance(value, SecretRef):
            try:
                env[name] = secrets[name] = secret_value(value)
            except KeyError:
                if strict:
                    raise UsageError(f"secret variable ${value.ref} (for {name}) is not set; export it first") from None
            except OSError as exc:
                if strict:
                    raise UsageError(f"cannot read secret file {value.path} (for {name}): {exc.strerror}") from None
        else:
            env[name] = value
    return env, secrets


MASK = "***"


def mask(text: str, values: Iterable[str]) -> str:
    """`text` with each secret value in it replaced by ***, as CI systems mask their own: for
    the lines one-run echoes from a container's log, where a hook may print its environment.
    The longest first, so a value that holds another is masked whole; a value of several lines
    line by line too, as a log prints it."""
    found = set()
    for value in values:
        if value:
            found.add(value)
            found.update(line for line in value.splitlines() if line.strip())
    for value in sorted(found, key=len, reverse=True):
        text = text.replace(value, MASK)
    return text


def secret_values(spec: RunSpec, env: Optional[List[str]] = None) -> Tuple[str, ...]:
    """Every secret value one-run passes to the container ({ env = }, { file = }, pass_env), as
    read here; with `env` (a container's `NAME=value` list), also the values that container
    holds under those names: an older container may run with a secret since changed."""
    _, secrets = resolve_env(spec, strict=False)
    names = {name for name, value in spec.env if isinstance(value, SecretRef)}
    held = (item.partition("=") for item in env or ())
    return tuple(sorted(set(secrets.values()) | {value for name, _, value in held if name in names}))
