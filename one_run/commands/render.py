"""`one-run render`: the equivalent `docker run` / `podman run` command, and `one-run validate`."""
import sys

from ..common.errors import UsageError
from ..model.profile import Profile
from ..model.render import render_text, run_argv
from ..model.runspec import RunSpec, write_generated_files


def render(spec: RunSpec, show_secrets: bool, fmt: str) -> int:
    try:
        if fmt == "json":
            import json
            text = json.dumps(run_argv(spec, show_secrets)) + "\n"
        else:
            text = render_text(spec, show_secrets)
    except KeyError as exc:
        raise UsageError(f"--show-secrets: secret variable ${exc.args[0]} is not set; export it first") from None
    write_generated_files(spec)
    sys.stdout.write(text)
    return 0


def validate(profile: Profile) -> int:
    """What is left to say once every check passed (the CLI made them while loading)."""
    print(f"{profile.path}: valid ({profile.runtime}, container {profile.container.name})")
    if profile.tls:
        from ..model.crypto import tls_summary
        print(f"  certificate {tls_summary(profile.tls.cert)}")
    return 0
