"""The configuration hash stamped on the container as a label (safety rule 5).

It covers the rendered command AND the contents of the files the image reads only at
bootstrap (cert, keys, patch, hooks): a renewed certificate must recreate the
container even though no argument changed. Secret values enter only through a slow,
salted hash, so the label never lets anyone read or cheaply guess them.
"""
import hashlib
import json
import secrets
from typing import Dict

from .render import run_argv
from .runspec import RunSpec

HASH_LABEL = "one-run.hash"
SALT_LABEL = "one-run.salt"
_ITERATIONS = 20000


def new_salt() -> str:
    return secrets.token_hex(16)


def input_digests(spec: RunSpec) -> Dict[str, str]:
    """sha256 of each mounted customization file, by host path."""
    generated = dict([spec.generated_patch]) if spec.generated_patch else {}
    out = {}
    for path in spec.inputs:
        data = generated[path].encode() if path in generated else path.read_bytes()
        out[str(path)] = hashlib.sha256(data).hexdigest()
    return out


def secret_digest(value: str, salt: str) -> str:
    return hashlib.pbkdf2_hmac("sha256", value.encode(), bytes.fromhex(salt), _ITERATIONS).hex()


def config_hash(spec: RunSpec, secret_values: Dict[str, str], salt: str) -> str:
    document = {
        "argv": run_argv(spec),
        "inputs": input_digests(spec),
        "secrets": {name: secret_digest(value, salt) for name, value in secret_values.items()},
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()
