"""Profile → RunSpec: the profile's container plus the mounts and variables its
customizations need, exactly as the OpenNebula image expects them.

The RunSpec is the one neutral description that both the printed command and the
engine backends are made from, so the two cannot drift apart.
"""
import hashlib
import os
from typing import Dict, Iterable, Iterator, List, NamedTuple, Optional, Set, Tuple

from ..common.errors import Problem, ProfileError
from ..common.files import NotReadable, read_regular_file, write_file
from .profile import Container, EnvValue, Profile, SecretRef, mount_volumes
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
PRIVATE_FOLDER = ".one-run"  # beside the profile: one-run's own files, 0700 all the way down
FOLDER_MODE, FILE_MODE, HOOK_MODE = 0o700, 0o600, 0o700
TMP_PREFIX = ".tmp-"
TMP_KEPT = 3600.0  # seconds a staging in progress (another render's) is left alone by prune_staged
# On a remote engine each customization folder is a named volume of its own, labelled with
# the deployment's container name: <container>.one-run-<contents' hash>-certs, ...
DELIVERY_LABEL = "one-run.delivery"
HELPER_LABEL = "one-run.helper"  # on one-run's short-lived helper containers (switch's, delivery's)
DELIVERY_ROOT = "/one-run-delivery"  # where the helper that fills them mounts them
DELIVERY_HELPER = "-one-run-delivery"  # that helper's name, after the container's
DELIVERY_OPTIONS = ("ro",)  # a named volume gets its SELinux label from the engine, without z


class StagedFile(NamedTuple):
    """One file the container reads at bootstrap, as one-run stages it: copied by content,
    so the container sees exactly this file and never the folder it came from."""

    source: str  # the path the profile names; for inline patch lines, the profile itself
    target: str  # the folder it is mounted in: /certs, /ssh or /config
    name: str
    data: bytes
    mode: int

    @property
    def container_path(self) -> str:
        return f"{self.target}/{self.name}"


class RunSpec(NamedTuple):
    runtime: str
    container: Container
    env: Tuple[Tuple[str, EnvValue], ...]
    volumes: Tuple[Volume, ...]
    # The files the image reads only at bootstrap: their contents belong to the configuration.
    staged: Tuple[StagedFile, ...] = ()
    # Where they are staged: <profile folder>/.one-run/<stem>/staged/<contents' hash>.
    staged_folder: Optional[str] = None
    # Or, for a remote engine: delivered in volumes (delivery_volumes).
    delivered: bool = False

    @property
    def name(self) -> str:
        return self.container.name

    @property
    def image(self) -> str:
        return self.container.image

    @property
    def all_volumes(self) -> Tuple[Volume, ...]:
        """Every bind and volume mounted: `volumes`, the customizations', then those of `mounts`."""
        return self.volumes + mount_volumes(self.container)

    @property
    def inputs(self) -> Tuple[str, ...]:
        return tuple(f.source for f in self.staged)

    @property
    def delivery_volumes(self) -> Dict[str, str]:
        """Customization folder (/certs, ...) -> the volume that delivers it; empty for local staging."""
        if not self.delivered:
            return {}
        targets = {f.target for f in self.staged}  # mounted by the spec's volumes, as build_runspec named them
        return {v.target: v.source for v in self.volumes if v.target in targets}


def delivery_volume(container: str, staged: Iterable[StagedFile], target: str) -> str:
    """<container>.one-run-<hash of that folder's files>-<folder>: a change to one file changes one volume."""
    return f"{container}.one-run-{staging_digest(f for f in staged if f.target == target)}-{target.strip('/')}"


def private_folder(profile_path: str) -> str:
    """<profile folder>/.one-run/<profile stem>: one-run's own files of this profile."""
    folder, name = os.path.split(os.path.abspath(profile_path))
    return os.path.join(folder, PRIVATE_FOLDER, os.path.splitext(name)[0])


def staged_root(profile_path: str) -> str:
    return os.path.join(private_folder(profile_path), "staged")


def staged_digest(path: str) -> Optional[str]:
    """The contents' hash naming the staged folder that `path` (a mount source) lies in, or
    None when it is not one of one-run's staged folders."""
    parts = os.path.normpath(path).split(os.sep)
    for i in range(len(parts) - 3):
        if parts[i] == PRIVATE_FOLDER and parts[i + 2] == "staged":
            return parts[i + 3]
    return None


def staging_digest(files: Iterable[StagedFile]) -> str:
    """The staged folder's name: a hash of every file's place, name, mode and contents."""
    listing = sorted(f"{f.target}/{f.name}\0{f.mode:o}\0{hashlib.sha256(f.data).hexdigest()}" for f in files)
    return hashlib.sha256("\n".join(listing).encode()).hexdigest()[:20]


def build_runspec(profile: Profile, recorded: Optional[Dict[str, Tuple[bytes, int]]] = None,
                  remote: bool = False) -> RunSpec:
    """Expand the customizations, reading the files they name (that is what their staged
    folder's name is made of; nothing is written); a file that cannot be staged, a clash of
    names or a collision is a ProfileError. `recorded` (path -> contents, mode) stands for the
    files as a history revision recorded them, for rollback. `remote`: the engine does not
    share this disk, so the files are mounted from volumes delivered through it."""
    problems: List[Problem] = []
    env = list(profile.env)
    staged: List[StagedFile] = []

    def stage(name: str, key: str, target: str, path: str, hook: bool = False):
        """Read `path` (links followed) for `target`, and point the variable `name` at its copy."""
        if recorded is not None and path in recorded:
            data, mode = recorded[path]
            add(StagedFile(path, target, os.path.basename(path), data, mode), name, key)
            return
        try:
            data = read_regular_file(path)
        except NotReadable as exc:
            what = "hook " if hook else ""
            problems.append(profile.problem(key, f"{what}{path} {exc}", "create it, or fix the path"))
            return
        mode = FILE_MODE
        if hook and os.stat(path).st_mode & 0o111:
            mode = HOOK_MODE  # validate refuses a hook without it; the copy keeps it
        add(StagedFile(path, target, os.path.basename(path), data, mode), name, key)

    def add(file: StagedFile, name: str, key: str):
        same = [f for f in staged if f.container_path == file.container_path]
        if same and same[0].source != file.source:
            problems.append(profile.problem(
                key, f"{file.source} and {same[0].source} would both be {file.container_path} in the container",
                "rename one of them: each file is staged under its own name"))
            return
        if not same:
            staged.append(file)
        env.append((name, file.container_path))

    if profile.tls:
        stage("TLS_CERT", "tls.cert", CERTS, profile.tls.cert)
        stage("TLS_KEY", "tls.key", CERTS, profile.tls.key)
    if profile.ssh:
        stage("ONEADMIN_SSH_PRIVKEY", "ssh.private_key", SSH, profile.ssh.private_key)
        stage("ONEADMIN_SSH_PUBKEY", "ssh.public_key", SSH, profile.ssh.public_key)
    config = profile.config
    if config:
        if config.patch_lines is not None:
            text = "".join(line + "\n" for line in config.patch_lines)
            add(StagedFile(profile.path, CONFIG, PATCH_FILE, text.encode(), FILE_MODE),
                "OPENNEBULA_ONECFG_PATCH", "config.onecfg_patch")
        elif config.onecfg_patch:
            stage("OPENNEBULA_ONECFG_PATCH", "config.onecfg_patch", CONFIG, config.onecfg_patch)
        if config.pre_bootstrap_hook:
            stage("OPENNEBULA_PREBOOTSTRAP_HOOK", "config.pre_bootstrap_hook", CONFIG, config.pre_bootstrap_hook, True)
        if config.post_bootstrap_hook:
            stage("OPENNEBULA_POSTBOOTSTRAP_HOOK", "config.post_bootstrap_hook", CONFIG, config.post_bootstrap_hook,
                  True)
    if profile.maintenance:
        env.append(("MAINTENANCE_MODE", "yes"))

    passed = [(name, "container.pass_env", "pass_env") for name in profile.container.pass_env]
    for name, key, where in [(name, f"env.{name}", "[env]") for name, _ in profile.env] + passed:
        feature = CUSTOMIZATION_ENV.get(name)
        if feature == "maintenance":
            problems.append(profile.problem(key, f"{name} is set by `maintenance`",
                                            f"remove it from {where} and write `maintenance = true` at the top"))
        elif feature and getattr(profile, feature) is not None:
            problems.append(profile.problem(key, f"{name} is set by [{feature}] too",
                                            f"remove it from {where}: [{feature}] sets it"))
    env += [(name, SecretRef("pass", name)) for name in profile.container.pass_env]
    targets = list(dict.fromkeys(f.target for f in staged))
    mounted = [("volumes", v.format(), v.target) for v in profile.container.volumes]
    mounted += [("mounts", m.text, m.target) for m in profile.container.mounts]
    for key, text, path in mounted:
        for target in targets:
            if path.rstrip("/") == target or path.startswith(target + "/"):
                problems.append(profile.problem(f"container.{key}", f"{text!r} mounts over {target}, "
                                                f"which a customization mounts",
                                                f"remove it from {key}: the [tls]/[ssh]/[config] table mounts {target}"))
    if problems:
        raise ProfileError(problems)
    if remote:
        mounts = tuple(Volume(t, delivery_volume(profile.container.name, staged, t), "volume", DELIVERY_OPTIONS)
                       for t in targets)
        return RunSpec(runtime=profile.runtime, container=profile.container, env=tuple(env),
                       volumes=profile.container.volumes + mounts, staged=tuple(staged), delivered=True)
    folder = os.path.join(staged_root(profile.path), staging_digest(staged)) if staged else None
    mounts = tuple(Volume(t, os.path.join(folder, t.lstrip("/")), "bind", MOUNT_OPTIONS) for t in targets)
    return RunSpec(runtime=profile.runtime, container=profile.container, env=tuple(env),
                   volumes=profile.container.volumes + mounts, staged=tuple(staged), staged_folder=folder)


def _private_dirs(path: str) -> None:
    """Make `path` and its parents up to and including .one-run/, all 0700; a link among them
    (which would send the copies of keys elsewhere) is refused."""
    top = path
    while os.path.basename(top) != PRIVATE_FOLDER:
        top = os.path.dirname(top)
    probe = path
    while True:
        if os.path.islink(probe):
            raise ProfileError([Problem(f"{probe} is a symbolic link: one-run keeps the copies of the keys it "
                                        "mounts in a folder of its own, not where a link leads",
                                        fix=f"remove the link {probe}; one-run creates the folder")])
        if probe == top:
            break
        probe = os.path.dirname(probe)
    os.makedirs(path, mode=FOLDER_MODE, exist_ok=True)
    while True:
        os.chmod(path, FOLDER_MODE)  # also the ones an older one-run made 0755
        if path == top:
            return
        path = os.path.dirname(path)


def write_generated_files(spec: RunSpec) -> None:
    """Stage the spec's files where its command mounts them. A staged folder, once there, is
    complete and is left alone: it is written under a temporary name and renamed."""
    if not spec.staged_folder or os.path.isdir(spec.staged_folder):
        return
    import shutil
    import tempfile

    root = os.path.dirname(spec.staged_folder)
    _private_dirs(root)
    tmp = tempfile.mkdtemp(prefix=TMP_PREFIX, dir=root)  # 0700
    try:
        for file in spec.staged:
            sub = os.path.join(tmp, file.target.lstrip("/"))
            os.makedirs(sub, mode=FOLDER_MODE, exist_ok=True)
            write_file(os.path.join(sub, file.name), file.data, file.mode)
        try:
            os.rename(tmp, spec.staged_folder)
        except OSError:
            if not os.path.isdir(spec.staged_folder):
                raise
            shutil.rmtree(tmp)  # another one-run staged the same contents meanwhile
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def unused_staged(profile_path: str, keep: Iterable[str]) -> List[str]:
    """This profile's staged folders that no path of `keep` is in (the folders, or the mount
    sources, that containers and history revisions still use). A staging in progress (another
    render's) is not one of them."""
    import time

    root = staged_root(profile_path)
    kept = {os.path.relpath(os.path.abspath(p), root).split(os.sep)[0] for p in keep}
    try:
        entries = os.listdir(root)
    except FileNotFoundError:
        return []
    return [os.path.join(root, entry) for entry in entries if entry not in kept and not (
        entry.startswith(TMP_PREFIX) and time.time() - os.lstat(os.path.join(root, entry)).st_mtime < TMP_KEPT)]


def prune_staged(profile_path: str, keep: Iterable[str]) -> List[str]:
    """Remove unused_staged(profile_path, keep); the removed, returned."""
    import shutil

    removed = unused_staged(profile_path, keep)
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return removed


def deployment_mounts(engine, name: str) -> Iterator[dict]:
    """The inspect Mounts of the containers whose name starts with `name` (the deployment, the
    ones apply leaves beside it, the kept previous ones). `engine` is a one_run.engines.Engine;
    raises EngineError."""
    for found, _ in engine.names_starting(name):
        info = engine.get(found)
        yield from (info.attrs.get("Mounts") or []) if info else []


def staged_in_use(engine, name: str) -> Set[str]:
    """The bind-mount sources of the deployment's containers: pass them to prune_staged's keep."""
    return {m["Source"] for m in deployment_mounts(engine, name) if m.get("Type") == "bind" and m.get("Source")}
