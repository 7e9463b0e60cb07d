"""Change one top-level key (or one comment line) of a profile in place, keeping the user's
comments and layout.

Used by `maintenance on|off` and `switch`: only the one line changes (or one line is
added before the first table); anything this cannot do safely is refused with the
exact line for the user to write.
"""
import re
import stat
from pathlib import Path

from ..common.errors import UsageError
from ..common.files import write_file
from .profile import key_lines, read_profile_text


def set_top_level(path, key: str, toml_value: str) -> bool:
    """Set `key = toml_value` at the top level; returns False when it already had that value."""
    path = Path(path)
    text = read_profile_text(path)
    lines = text.splitlines(keepends=True)
    assignment = re.compile(rf"^(\s*{re.escape(key)}\s*=\s*)([^#\n]*?)(\s*(#.*)?)$")
    line_no = key_lines(text).get(key)
    if line_no is not None:
        match = assignment.match(lines[line_no - 1].rstrip("\n"))
        if not match:
            raise UsageError(f"{path}:{line_no}: cannot rewrite `{key}` safely; "
                             f"change that line to `{key} = {toml_value}` by hand")
        if match.group(2).strip() == toml_value:
            return False
        ending = "\n" if lines[line_no - 1].endswith("\n") else ""
        lines[line_no - 1] = f"{match.group(1)}{toml_value}{match.group(3)}{ending}"
    else:
        first_table = next((i for i, line in enumerate(lines) if line.lstrip().startswith("[")), len(lines))
        # After the leading comment block, so a file's header comment stays on top.
        at = 0
        while at < first_table and (lines[at].lstrip().startswith("#") or not lines[at].strip()):
            at += 1
        lines.insert(at, f"{key} = {toml_value}\n")
    st = path.stat()
    write_file(path, "".join(lines).encode(), stat.S_IMODE(st.st_mode), (st.st_uid, st.st_gid))
    return True


def replace_comment(path, starts_with: str, text: str) -> bool:
    """Replace the whole-line comments that begin `# starts_with` with `# text`; False if there is none."""
    path = Path(path)
    lines = read_profile_text(path).splitlines(keepends=True)
    found = False
    for i, line in enumerate(lines):
        if line.startswith(f"# {starts_with}"):
            lines[i] = f"# {text}" + ("\n" if line.endswith("\n") else "")
            found = True
    if found:
        st = path.stat()
        write_file(path, "".join(lines).encode(), stat.S_IMODE(st.st_mode), (st.st_uid, st.st_gid))
    return found
