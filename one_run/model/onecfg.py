"""The onecfg patch line grammar: `<absolute file> <ins|set|rm> <path> [<JSON value>]`.

Checked before apply because the image applies the patch at bootstrap, and one bad
line there aborts the bootstrap and stops the container.
"""
import json
from typing import Optional

OPERATIONS = ("ins", "set", "rm")


def _split_path(text: str):
    """Return (path, rest) where path may be wholly or partly double-quoted."""
    i, quoted = 0, False
    while i < len(text):
        ch = text[i]
        if ch == "\\" and quoted:
            i += 2
            continue
        if ch == '"':
            quoted = not quoted
        elif ch.isspace() and not quoted:
            break
        i += 1
    if quoted:
        raise ValueError("the path has an unclosed double quote")
    return text[:i], text[i:].strip()


def check_line(line: str) -> Optional[str]:
    """None when the line is valid (or blank, or a # comment), else what is wrong."""
    stripped = line.strip()
    if not stripped or stripped.startswith("#"):
        return None
    fields = stripped.split(None, 2)
    if len(fields) < 3:
        return "expected `<file> <ins|set|rm> <path> [<JSON value>]`"
    filename, op, rest = fields
    if not filename.startswith("/"):
        return f"file {filename!r} must be an absolute path, as /etc/one/oned.conf"
    if op not in OPERATIONS:
        return f"command {op!r} is not ins, set or rm"
    try:
        path, value = _split_path(rest)
    except ValueError as exc:
        return str(exc)
    if not path or path == '""':
        return "the path is empty"
    if path.startswith("/"):
        return "the path is written from the document root without a leading /"
    if op == "rm":
        return f"rm takes no value, found {value!r}" if value else None
    if not value:
        return f"{op} needs a JSON value, as 10, \"\\\"text\\\"\" or true"
    try:
        json.loads(value)
    except ValueError as exc:
        hint = " (JSON strings use double quotes)" if value.startswith("'") else ""
        return f"value {value!r} is not valid JSON: {exc.msg}{hint}"
    return None
