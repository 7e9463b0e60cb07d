"""The configuration hash stamped on the container as a label (safety rule 5).

It covers the rendered command AND the contents of the files the image reads only at
bootstrap (cert, keys, patch, hooks): a renewed certificate must recreate the
container even though no argument changed. Secret values enter only through a slow,
salted hash, so the label never lets anyone read or cheaply guess them.
"""
import hashlib
import json
import os
import secrets
from typing import Dict, List

from .render import run_groups
from .runspec import RunSpec

HASH_LABEL = "one-run.hash"
SALT_LABEL = "one-run.salt"
_ITERATIONS = 20000


def new_salt() -> str:
    return secrets.token_hex(16)


def input_digests(spec: RunSpec) -> Dict[str, str]:
    """sha256 of each staged customization file, by its path in the container (so that the same
    files named from another folder, as a captured profile does, hash the same)."""
    return {f.container_path: hashlib.sha256(f.data).hexdigest() for f in spec.staged}


def secret_digest(value: str, salt: str) -> str:
    return hashlib.pbkdf2_hmac("sha256", value.encode(), bytes.fromhex(salt), _ITERATIONS).hex()


def canonical_argv(spec: RunSpec) -> List[str]:
    """The run command with its options in one order, so that reordering a profile's ports,
    env or volumes (or capturing it back from an engine that does not keep their order)
    does not count as a change. Only the DNS servers keep their order: it is the resolver's."""
    groups = run_groups(spec)
    if spec.staged_folder:
        # The staged copies are the same wherever the profile's folder lies: their hash names them.
        where = f"<staged {os.path.basename(spec.staged_folder)}>"
        groups = [[word.replace(spec.staged_folder, where) for word in group] for group in groups]
    head, options, image = groups[0], groups[1:-1], groups[-1]
    ordered = sorted(g for g in options if g[0] != "--dns") + [g for g in options if g[0] == "--dns"]
    return [word for group in [head, *ordered, image] for word in group]


def config_hash(spec: RunSpec, secret_values: Dict[str, str], salt: str) -> str:
    document = {
        "argv": canonical_argv(spec),
        "inputs": input_digests(spec),
        "secrets": {name: secret_digest(value, salt) for name, value in secret_values.items()},
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


INPUTS_LABEL = "one-run.inputs"


def input_paths(spec: RunSpec) -> Dict[str, str]:
    """Variable → the path the profile names, for each variable naming a staged file
    (`/certs/cert.pem`), in the env's order."""
    staged = {f.container_path: f.source for f in spec.staged}
    return {name: staged[value] for name, value in spec.env if isinstance(value, str) and value in staged}


def input_label(spec: RunSpec, salt: str) -> str:
    """`TLS_CERT=<digest>,...`: a salted, shortened digest of each mounted customization file,
    by the variable that names it, so `diff` can say WHICH file changed since the apply."""
    by_path = input_digests(spec)
    parts = []
    for name, value in spec.env:
        digest = by_path.get(value) if isinstance(value, str) else None
        if digest:
            parts.append(f"{name}={hashlib.sha256((salt + digest).encode()).hexdigest()[:16]}")
    return ",".join(parts)


def parse_input_label(text: str) -> Dict[str, str]:
    return dict(part.split("=", 1) for part in (text or "").split(",") if "=" in part)
