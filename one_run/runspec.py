"""Profile → RunSpec: the profile's container plus the mounts and variables its
customizations need, exactly as the OpenNebula image expects them.

The RunSpec is the one neutral description that both the printed command and the
engine backends are made from, so the two cannot drift apart.
"""
import os
from typing import List, NamedTuple, Optional, Tuple

from .errors import Problem, ProfileError
from .profile import Container, EnvValue, Profile
from .values import Volume

CERTS, SSH, CONFIG = "/certs", "/ssh", "/config"
MOUNT_OPTIONS = ("z", "ro")  # as the OpenNebula docs mount them: SELinux-shared, read-only
CUSTOMIZATION_ENV = {
    "TLS_CERT": "tls", "TLS_KEY": "tls",
    "ONEADMIN_SSH_PRIVKEY": "ssh", "ONEADMIN_SSH_PUBKEY": "ssh",
    "OPENNEBULA_ONECFG_PATCH": "config", "OPENNEBULA_PREBOOTSTRAP_HOOK": "config",
    "OPENNEBULA_POSTBOOTSTRAP_HOOK": "config", "MAINTENANCE_MODE": "maintenance",
}
PATCH_FILE = "onecfg_patch"


class RunSpec(NamedTuple):
    runtime: str
    container: Container
    env: Tuple[Tuple[str, EnvValue], ...]
    volumes: Tuple[Volume, ...]
    # Files the image reads only at bootstrap: their contents belong to the configuration.
    inputs: Tuple[str, ...] = ()
    # The inline onecfg patch, written to a file one-run owns beside the profile.
    generated_patch: Optional[Tuple[str, str]] = None

    @property
    def name(self) -> str:
        return self.container.name

    @property
    def image(self) -> str:
        return self.container.image


def generated_patch_path(profile: Profile) -> str:
    stem = os.path.splitext(os.path.basename(profile.path))[0]
    return os.path.join(profile.folder, ".one-run", stem, "config", PATCH_FILE)


def build_runspec(profile: Profile) -> RunSpec:
    """Expand the customizations; a collision or a split folder is a ProfileError."""
    problems: List[Problem] = []
    env = list(profile.env)
    mounts: List[Volume] = []
    inputs: List[str] = []
    generated = None

    def mount(feature: str, target: str, files: List[Tuple[str, str, str]]):
        """Mount the one folder holding `files` (env name, profile key, host path) at target."""
        folders = {os.path.dirname(path) for _, _, path in files}
        if len(folders) > 1:
            listing = ", ".join(f"{key} in {os.path.dirname(path)}" for _, key, path in files)
            problems.append(profile.problem(feature, f"[{feature}] files are in different folders ({listing}); "
                                            f"the image needs them in the one folder mounted at {target}",
                                            "move them into one folder and point the keys at it"))
            return
        mounts.append(Volume(target, folders.pop(), "bind", MOUNT_OPTIONS))
        for name, _, path in files:
            env.append((name, f"{target}/{os.path.basename(path)}"))
            inputs.append(path)

    if profile.tls:
        mount("tls", CERTS, [("TLS_CERT", "tls.cert", profile.tls.cert), ("TLS_KEY", "tls.key", profile.tls.key)])
    if profile.ssh:
        mount("ssh", SSH, [("ONEADMIN_SSH_PRIVKEY", "ssh.private_key", profile.ssh.private_key),
                           ("ONEADMIN_SSH_PUBKEY", "ssh.public_key", profile.ssh.public_key)])
    config = profile.config
    if config:
        files = []
        if config.patch_lines is not None:
            path = generated_patch_path(profile)
            generated = (path, "".join(line + "\n" for line in config.patch_lines))
            files.append(("OPENNEBULA_ONECFG_PATCH", "config.onecfg_patch", path))
        elif config.onecfg_patch:
            files.append(("OPENNEBULA_ONECFG_PATCH", "config.onecfg_patch", config.onecfg_patch))
        if config.pre_bootstrap_hook:
            files.append(("OPENNEBULA_PREBOOTSTRAP_HOOK", "config.pre_bootstrap_hook", config.pre_bootstrap_hook))
        if config.post_bootstrap_hook:
            files.append(("OPENNEBULA_POSTBOOTSTRAP_HOOK", "config.post_bootstrap_hook", config.post_bootstrap_hook))
        if generated and len(files) > 1:
            hooks = os.path.dirname(config.pre_bootstrap_hook or config.post_bootstrap_hook)
            target = os.path.join(hooks, PATCH_FILE)
            problems.append(profile.problem(
                "config.onecfg_patch", f"an inline onecfg_patch cannot share /config with the hooks' folder {hooks}: "
                "one-run writes the lines to a folder of its own, and only one folder can be mounted at /config",
                f"write the lines, one a line, into {target} and set "
                f"onecfg_patch = \"{os.path.relpath(target, profile.folder)}\""))
        elif files:
            mount("config", CONFIG, files)
    if profile.maintenance:
        env.append(("MAINTENANCE_MODE", "yes"))

    for name, _ in profile.env:
        feature = CUSTOMIZATION_ENV.get(name)
        if feature == "maintenance":
            problems.append(profile.problem(f"env.{name}", f"{name} is set by `maintenance`",
                                            f"remove it from [env] and write `maintenance = true` at the top"))
        elif feature and getattr(profile, feature) is not None:
            problems.append(profile.problem(f"env.{name}", f"{name} is set by [{feature}] too",
                                            f"remove it from [env]: [{feature}] sets it"))
    for vol in profile.container.volumes:
        for target in {m.target for m in mounts}:
            if vol.target.rstrip("/") == target or vol.target.startswith(target + "/"):
                problems.append(profile.problem("container.volumes", f"volume {vol.format()!r} mounts over {target}, "
                                                f"which a customization mounts",
                                                f"remove it from volumes: the [tls]/[ssh]/[config] table mounts {target}"))
    if problems:
        raise ProfileError(problems)
    return RunSpec(runtime=profile.runtime, container=profile.container, env=tuple(env),
                   volumes=profile.container.volumes + tuple(mounts), inputs=tuple(inputs),
                   generated_patch=generated)


def write_generated_files(spec: RunSpec) -> None:
    """Write the inline patch where the command mounts it (unchanged files are left alone)."""
    if not spec.generated_patch:
        return
    path, text = spec.generated_patch
    try:
        with open(path) as f:
            if f.read() == text:
                return
    except FileNotFoundError:
        pass
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
