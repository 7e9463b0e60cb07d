"""`one-run render`: the equivalent `docker run` / `podman run` command, and `one-run validate`."""
import sys
from typing import List, Optional

from ..common.errors import UsageError
from ..model.profile import Profile
from ..model.render import delivery_groups, render_text, run_argv
from ..model.runspec import RunSpec, build_runspec, write_generated_files


def render(profile: Profile, spec: RunSpec, show_secrets: bool, fmt: str) -> int:
    """The run command; for a remote engine, under the lines that reach it and deliver the files."""
    staged = build_runspec(profile) if spec.delivered else spec  # the local copy the delivery commands read
    try:
        if fmt == "json":
            import json
            text = json.dumps(run_argv(spec, show_secrets)) + "\n"
        else:
            text = render_text(spec, show_secrets, remote_lines(spec, staged.staged_folder) if spec.delivered else [])
    except KeyError as exc:
        raise UsageError(f"--show-secrets: secret variable ${exc.args[0]} is not set; export it first") from None
    write_generated_files(staged)
    sys.stdout.write(text)
    return 0


def remote_lines(spec: RunSpec, staged_folder: Optional[str]) -> List[str]:
    """How the runtime's own CLI reaches the remote engine, and the commands that deliver the
    customization files there as apply does (runspec.delivery_volume)."""
    import shlex

    from ..model.endpoint import endpoint_for

    endpoint = endpoint_for(spec.runtime)
    lines = [f"# The engine runs on {endpoint.name}: the customization files go there through it, one "
             "read-only volume per folder.", *endpoint.cli_reach()]
    if staged_folder:
        lines += [shlex.join(command) for command in delivery_groups(spec, staged_folder)]
    return lines


def validate(profile: Profile) -> int:
    """What is left to say once every check passed (the CLI made them while loading)."""
    print(f"{profile.path}: valid ({profile.runtime}, container {profile.container.name})")
    if profile.tls:
        from ..model.crypto import tls_summary
        print(f"  certificate {tls_summary(profile.tls.cert)}")
    return 0
