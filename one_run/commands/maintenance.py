"""`one-run maintenance on|off`: set the profile's flag and apply; a failed apply puts the flag back."""
import sys
from pathlib import Path

from ..deploy.apply import ApplyOptions, apply
from ..engines import endpoint_for, get_engine
from ..model.profile import Profile
from ..model.profile_edit import set_top_level
from ..model.runspec import build_runspec


def maintenance(profile: Profile, state: str, options: ApplyOptions) -> int:
    profile = profile._replace(maintenance=state == "on")
    spec = build_runspec(profile, remote=endpoint_for(profile.runtime).remote)
    engine = get_engine(profile.runtime)  # and the engine reachable (exit 3 means nothing changed)
    if options.dry_run:
        return apply(profile, spec, options, engine)
    path = Path(profile.path)
    before = path.read_bytes()
    if not set_top_level(path, "maintenance", "true" if state == "on" else "false"):
        print(f"{path}: maintenance is already {state}")
    try:
        return apply(profile, spec, options, engine)
    except BaseException:
        # The flag follows the container: a failed apply leaves the profile as it was.
        if path.read_bytes() != before:
            path.write_bytes(before)
            print(f"{path}: maintenance flag put back, since the apply did not succeed", file=sys.stderr)
        raise
