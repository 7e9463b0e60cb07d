"""`one-run switch` and the wrong-runtime guard of `apply`, on the real engines.

Data is compared from inside containers (busybox find/stat/sha256sum/readlink), never
through one-run's own fingerprints, so the tests check what the deployment sees.
"""
import io
import os
import subprocess
import sys
import tarfile
import time
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import STANDIN, TestEngine, run_cli

from one_run.common.errors import EngineError
from one_run.deploy.volume_copy import digest_tar
from one_run.engines import ContainerInfo, Engine

# Everything a volume holds, one line per entry: path, type, mode, owner, size, mtime, and
# the contents' sha256 or the link target.
SNAPSHOT = r'''
for v in /v/*; do
  cd "$v" || exit 1
  echo "== $v"
  find . | sort | while IFS= read -r f; do
    line=$(stat -c '%n %F %a %u:%g %s %Y' "$f")
    if [ -L "$f" ]; then line="$line -> $(readlink "$f")"
    elif [ -f "$f" ]; then line="$line $(sha256sum < "$f" | cut -d' ' -f1)"; fi
    echo "$line"
  done
done
'''

POPULATE = r'''
set -e
cd /var/lib/mysql
mkdir -p db/sub && chmod 750 db && echo "ibdata" > db/ibdata1 && chmod 640 db/ibdata1
chown 1234:1234 db/ibdata1 && chown 1234:999 db
printf 'secret' > db/sub/key && chmod 600 db/sub/key
touch -d "2021-03-04 05:06:07" db/ibdata1
cd /var/lib/one/datastores
mkdir -p 0 1 && dd if=/dev/urandom of=0/disk.img bs=1M count=50 2>/dev/null
ln -s 0/disk.img current && ln 0/disk.img 1/hardlink.img
echo run > 1/run.sh && chmod 4755 1/run.sh
echo "backup" > /var/lib/one/backups/one.sql && chmod 400 /var/lib/one/backups/one.sql
'''


def write_profile(folder: Path, runtime: str, name: str, volumes, body: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "one-run.toml"
    path.write_text(f'# switch test profile\nruntime = "{runtime}"\nsettle_time = 1\n\n'
                    f'[container]\nname = "{name}"\nimage = "{STANDIN}:1"\nrestart = "unless-stopped"\n'
                    f'stop_timeout = 5\nvolumes = ["{volumes[0]}:/var/lib/mysql", '
                    f'"{volumes[1]}:/var/lib/one/datastores"]\n{body}')
    return path


def both(docker: TestEngine, podman: TestEngine):
    """One container name and two volume names, cleaned up on both engines."""
    name = docker.container_name()
    podman.containers.append(name)
    volumes = [docker.volume_name(), docker.volume_name()]
    podman.volumes.extend(volumes)
    return name, volumes


def anonymous_volume(eng: TestEngine, name: str) -> str:
    mounts = {m["Destination"]: m for m in eng.inspect(name)["Mounts"]}
    return mounts["/var/lib/one/backups"]["Name"]


def snapshot(eng: TestEngine, volumes) -> str:
    """The contents of the volumes, as a throwaway container on that engine sees them."""
    mounts = []
    for i, volume in enumerate(volumes):
        mounts += ["-v", f"{volume}:/v/{i}"]
    out = eng.cli("run", "--rm", "--network", "none", *mounts, "--entrypoint", "sh", f"{STANDIN}:1",
                  "-c", SNAPSHOT)
    return out.stdout


def status(eng: TestEngine, name: str) -> str:
    return eng.inspect(name)["State"]["Status"]


def volume_exists(eng: TestEngine, volume: str) -> bool:
    return eng.cli("volume", "inspect", volume, check=False).returncode == 0


def no_helpers(eng: TestEngine, name: str):
    assert not [n for n in eng.names_like(name) if "one-run-switch" in n]


def test_docker_to_podman_and_back_keeps_every_byte(docker_engine, podman_engine, tmp_path):
    name, volumes = both(docker_engine, podman_engine)
    profile = write_profile(tmp_path / "p", "docker", name, volumes)
    assert run_cli("apply", profile).code == 0
    docker_engine.sh(name, POPULATE)
    anon = anonymous_volume(docker_engine, name)
    podman_engine.volumes.append(anon)
    before = snapshot(docker_engine, volumes + [anon])
    assert "disk.img" in before and "1234:1234" in before and "-> 0/disk.img" in before

    dry = run_cli("switch", profile, "--to", "podman", "--dry-run")
    assert dry.code == 0, dry.err
    assert "50.0 MiB" in dry.out and "dry run: nothing was changed" in dry.out
    assert status(docker_engine, name) == "running" and not podman_engine.exists(name)

    result = run_cli("switch", profile, "--to", "podman")
    assert result.code == 0, result.out + result.err
    assert "3 of 3 volumes done" in result.err
    assert 'runtime = "podman"' in profile.read_text()
    assert profile.read_text().startswith("# switch test profile\n")
    assert status(podman_engine, name) == "running"
    assert "BOOTSTRAP OK" in podman_engine.report(name)
    assert anonymous_volume(podman_engine, name) == anon
    assert snapshot(podman_engine, volumes + [anon]) == before
    # The source: stopped, kept, its data as it was, and no restart policy to start it beside the target.
    assert status(docker_engine, name) == "exited"
    assert docker_engine.inspect(name)["HostConfig"]["RestartPolicy"]["Name"] == "no"
    assert snapshot(docker_engine, volumes + [anon]) == before
    no_helpers(docker_engine, name)
    no_helpers(podman_engine, name)
    # Same configuration: the profile applied on podman finds nothing to change.
    again = run_cli("apply", profile)
    assert again.code == 0 and "up to date" in again.out, again.out + again.err

    podman_engine.sh(name, "echo new > /var/lib/one/datastores/added && rm /var/lib/mysql/db/sub/key")
    changed = snapshot(podman_engine, volumes + [anon])

    refused = run_cli("switch", profile, "--to", "docker")
    assert refused.code == 2 and "--overwrite-volumes" in refused.err, refused.err
    assert status(podman_engine, name) == "running"

    back = run_cli("switch", profile, "--to", "docker", "--overwrite-volumes")
    assert back.code == 0, back.out + back.err
    assert 'runtime = "docker"' in profile.read_text()
    assert status(docker_engine, name) == "running"
    assert snapshot(docker_engine, volumes + [anon]) == changed
    assert status(podman_engine, name) == "exited"
    assert snapshot(podman_engine, volumes + [anon]) == changed
    refused = run_cli("switch", profile, "--to", "podman")
    assert refused.code == 2 and "(has data, made by an earlier switch from docker)" in refused.err, refused.err

    cleanup = run_cli("switch", profile, "--to", "docker", "--cleanup")
    assert cleanup.code == 0, cleanup.err
    assert not podman_engine.exists(name)
    assert all(volume_exists(podman_engine, v) for v in volumes + [anon])  # cleanup never removes volumes


def test_failure_on_the_target_restarts_the_source_with_its_data(docker_engine, podman_engine, tmp_path):
    name, volumes = both(docker_engine, podman_engine)
    folder = tmp_path / "p"
    hook = folder / "config" / "post-bootstrap-hook.sh"
    hook.parent.mkdir(parents=True)
    hook.write_text("#!/bin/sh\n# fails on Podman only: it marks its containers with /run/.containerenv\n"
                    "[ -e /run/.containerenv ] && exit 3\nexit 0\n")
    hook.chmod(0o755)
    profile = write_profile(folder, "docker", name, volumes,
                            body='\n[config]\npost_bootstrap_hook = "config/post-bootstrap-hook.sh"\n')
    assert run_cli("apply", profile).code == 0
    docker_engine.sh(name, POPULATE)
    anon = anonymous_volume(docker_engine, name)
    podman_engine.volumes.append(anon)
    before = snapshot(docker_engine, volumes + [anon])
    source_id = docker_engine.inspect(name)["Id"]
    text = profile.read_text()

    result = run_cli("switch", profile, "--to", "podman")
    assert result.code == 1, result.out + result.err
    assert "runs again on docker" in result.err
    assert docker_engine.inspect(name)["Id"] == source_id and status(docker_engine, name) == "running"
    assert snapshot(docker_engine, volumes + [anon]) == before
    assert not podman_engine.names_like(name)
    assert not any(volume_exists(podman_engine, v) for v in volumes + [anon])  # switch created them
    assert profile.read_text() == text


def switch_caught_while_the_target_is_watched(docker: TestEngine, podman: TestEngine, tmp_path: Path):
    """A docker deployment, and `one-run switch --to podman` in a process of its own, caught while
    the podman container runs and switch watches it: (name, volumes, profile, source id, process)."""
    name, volumes = both(docker, podman)
    profile = write_profile(tmp_path / "p", "docker", name, volumes)
    assert run_cli("apply", profile).code == 0
    source_id = docker.inspect(name)["Id"]
    # Long enough to catch the target while it is watched; restoring the source waits as long.
    profile.write_text(profile.read_text().replace("settle_time = 1", "settle_time = 15"))
    env = dict(os.environ, ONE_RUN_STATE_DIR=str(tmp_path / "one-run-state"))
    switch = subprocess.Popen([sys.executable, "-m", "one_run", "switch", str(profile), "--to", "podman"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while podman.running_id(name) is None:
        assert time.monotonic() < deadline and switch.poll() is None, "the target never started"
        time.sleep(0.2)
    return name, volumes, profile, source_id, switch


def test_a_switch_terminated_while_the_target_starts_runs_the_source_again(docker_engine, podman_engine, tmp_path):
    name, volumes, profile, source_id, switch = switch_caught_while_the_target_is_watched(
        docker_engine, podman_engine, tmp_path)

    switch.terminate()  # SIGTERM
    out = switch.communicate(timeout=120)[0]

    assert switch.returncode == 1, out
    assert "switch to podman failed: apply failed: interrupted" in out and "runs again on docker" in out
    assert docker_engine.inspect(name)["Id"] == source_id and status(docker_engine, name) == "running"
    assert not podman_engine.names_like(name)
    assert not any(volume_exists(podman_engine, v) for v in volumes)
    assert 'runtime = "docker"' in profile.read_text()


def test_a_switch_killed_after_the_target_started_is_completed_by_running_it_again(docker_engine, podman_engine,
                                                                                  tmp_path):
    name, _, profile, _, switch = switch_caught_while_the_target_is_watched(docker_engine, podman_engine, tmp_path)

    switch.kill()  # SIGKILL: no restore; the data is copied and verified, the profile not yet edited
    switch.communicate()

    refused = run_cli("apply", profile)
    assert refused.code == 2 and f"`one-run switch {profile} --to podman` completes it" in refused.err, refused.err
    completed = run_cli("switch", profile, "--to", "podman")
    assert completed.code == 0 and "already on podman" in completed.out, completed.out + completed.err
    assert 'runtime = "podman"' in profile.read_text()
    assert status(podman_engine, name) == "running" and status(docker_engine, name) == "exited"


def test_apply_on_the_wrong_runtime_is_refused(docker_engine, podman_engine, tmp_path):
    name, volumes = both(docker_engine, podman_engine)
    profile = write_profile(tmp_path / "p", "docker", name, volumes)
    assert run_cli("apply", profile).code == 0

    refused = run_cli("apply", profile, "--runtime", "podman")
    assert refused.code == 2
    assert f"one-run switch {profile} --to podman" in refused.err and "--allow-empty-volumes" in refused.err
    assert not podman_engine.names_like(name)

    # No container anywhere, but the data is in docker's volumes: still refused.
    docker_engine.sh(name, "echo data > /var/lib/mysql/ibdata1")
    anon = anonymous_volume(docker_engine, name)
    docker_engine.cli("rm", "-f", name)
    docker_engine.volumes.append(anon)
    refused = run_cli("apply", profile, "--runtime", "podman")
    assert refused.code == 2 and "switch" in refused.err, refused.err
    assert f"{volumes[0]} (missing on podman)" in refused.err

    forced = run_cli("apply", profile, "--runtime", "podman", "--allow-empty-volumes")
    assert forced.code == 0, forced.err
    assert status(podman_engine, name) == "running"


def _tar(entries) -> bytes:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as archive:
        for name, kind, content, link in entries:
            info = tarfile.TarInfo(name)
            info.type, info.mtime, info.mode = kind, 1_600_000_000, 0o644
            if link:
                info.linkname = link
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content) if content else None)
    return data.getvalue()


def test_fingerprint_ignores_entry_order_and_name_style():
    docker_style = _tar([("./", tarfile.DIRTYPE, b"", ""), ("./a", tarfile.REGTYPE, b"x" * 700, ""),
                         ("./b", tarfile.LNKTYPE, b"", "./a"), ("./l", tarfile.SYMTYPE, b"", "a")])
    podman_style = _tar([("/", tarfile.DIRTYPE, b"", ""), ("/l", tarfile.SYMTYPE, b"", "a"),
                         ("/b", tarfile.REGTYPE, b"x" * 700, ""), ("/a", tarfile.LNKTYPE, b"", "b")])
    one = digest_tar(docker_style[i:i + 100] for i in range(0, len(docker_style), 100))
    other = digest_tar([podman_style])
    assert one == other and (one.entries, one.files, one.bytes) == (4, 2, 1400)
    changed = _tar([("./", tarfile.DIRTYPE, b"", ""), ("./a", tarfile.REGTYPE, b"y" * 700, ""),
                    ("./b", tarfile.LNKTYPE, b"", "./a"), ("./l", tarfile.SYMTYPE, b"", "a")])
    assert digest_tar([changed]) != one


def test_source_that_cannot_start_again_gives_exit_4_with_commands(docker_engine, podman_engine, tmp_path,
                                                                    monkeypatch):
    from one_run.common.errors import EngineError
    from one_run.deploy import volume_move
    from one_run.deploy.volume_copy import TreeDigest
    from one_run.engines.docker import DockerEngine

    name, volumes = both(docker_engine, podman_engine)
    profile = write_profile(tmp_path / "p", "docker", name, volumes)
    assert run_cli("apply", profile).code == 0
    docker_engine.sh(name, "echo data > /var/lib/mysql/ibdata1")
    podman_engine.volumes.append(anonymous_volume(docker_engine, name))

    def refuse(self, cid):
        raise EngineError("docker: start refused (test)")

    monkeypatch.setattr(DockerEngine, "start", refuse)
    monkeypatch.setattr(volume_move, "fingerprint_volume", lambda *args: TreeDigest(0, 0, 0, "not the copy"))
    result = run_cli("switch", profile, "--to", "podman")
    assert result.code == 4, result.out + result.err
    assert "verification failed" in result.err and "could not be started again" in result.err
    assert f"to recover by hand:\n  docker start {name}" in result.err
    assert status(docker_engine, name) == "exited"
    assert not any(volume_exists(podman_engine, v) for v in volumes)


# --- failure paths, with small fakes where the engines cannot be made to take them ---------

def test_a_docker_daemon_that_went_away_is_an_engine_error(monkeypatch, tmp_path):
    """docker-py lets requests' ConnectionError through; switch's restore catches EngineError only."""
    import docker

    from one_run.common.errors import EngineError
    from one_run.engines import endpoint_for
    from one_run.engines.docker import DockerEngine

    real = docker.APIClient
    # A client that was reached once (version given, so nothing is asked now) and is gone.
    monkeypatch.setattr(docker, "APIClient", lambda **kwargs: real(**{**kwargs, "version": "1.41"}))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/gone.sock")
    engine = DockerEngine(endpoint_for("docker"), f"unix://{tmp_path}/gone.sock")
    calls = [lambda: engine.get("x"), lambda: engine.image_attrs("x"), lambda: engine.volume("x"),
             lambda: engine.start("c" * 64), lambda: engine.stop("c" * 64), lambda: engine.remove("c" * 64),
             lambda: engine.remove_volume("x"), lambda: engine.pull("busybox", print),
             lambda: list(engine.archive_get("c" * 64, "/v"))]
    for call in calls:
        with pytest.raises(EngineError, match="^docker: .* failed"):
            call()


def test_an_unparsable_container_host_is_unreachable_podman_and_apply_on_docker_goes_on(monkeypatch, tmp_path,
                                                                                       capsys):
    from one_run.common.errors import EngineUnavailable
    from one_run.deploy import guards
    from one_run.engines import get_engine

    monkeypatch.setenv("CONTAINER_HOST", "garbage")
    with pytest.raises(EngineUnavailable, match="cannot reach Podman at garbage .*CONTAINER_HOST"):
        get_engine("podman")
    profile, spec = _loaded(tmp_path, "docker")
    guards.check_not_elsewhere(profile, spec, FakeEngine("docker"))  # nothing to see there: no refusal
    # CONTAINER_HOST names a Podman: the deployment could live there, so the unchecked guard is said.
    assert "whether the deployment lives on podman could not be checked" in capsys.readouterr().err


class FakeEngine(Engine):
    """Containers by name; stop can be made to fail."""

    def __init__(self, runtime, *running, stopped=(), stop_fails=False):
        from one_run.model.endpoint import Endpoint, local_socket
        from one_run.model.values import parse_host

        super().__init__(Endpoint(runtime, local_socket(runtime), parse_host(local_socket(runtime))))
        self.runtime, self.stop_fails = runtime, stop_fails
        self.containers = {}
        for name in running + tuple(stopped):
            self.containers[name] = ContainerInfo(name + "-id", name, "img", "sha256:1",
                                                  "running" if name in running else "exited", 0, {}, {})

    def get(self, name_or_id):
        return next((c for c in self.containers.values() if name_or_id in (c.id, c.name)), None)

    def _set(self, cid, status):
        info = self.get(cid)
        self.containers[info.name] = replace(info, status=status)

    def start(self, cid):
        self._set(cid, "running")

    def stop(self, cid):
        if self.stop_fails:
            raise EngineError(f"{self.runtime}: stop failed: the engine went away (test)")
        self._set(cid, "exited")

    def remove_volume(self, name):
        pass

    def logs(self, cid, tail):
        return ""


def _loaded(folder, runtime, text=""):
    from one_run.model.profile import load_profile
    from one_run.model.runspec import build_runspec

    path = Path(folder) / "one-run.toml"
    path.write_text(text or f'runtime = "{runtime}"\nsettle_time = 0\n[container]\nname = "one"\nimage = "img"\n')
    profile = load_profile(path)
    return profile, build_runspec(profile)


def _switcher(monkeypatch, tmp_path, src, dst):
    from one_run.commands import switch
    engines = {src.runtime: src, dst.runtime: dst}
    monkeypatch.setattr(switch, "get_engine", lambda runtime: engines[runtime])
    profile, spec = _loaded(tmp_path, src.runtime)
    return switch.Switcher(profile, spec, dst.runtime)


def test_restore_stops_a_target_left_running_before_it_starts_the_source(monkeypatch, tmp_path):
    from one_run.common.errors import ApplyFailedRestored

    src, dst = FakeEngine("docker", stopped=["one"]), FakeEngine("podman", "one")
    switcher = _switcher(monkeypatch, tmp_path, src, dst)
    switcher.applying = True  # the target's apply ran
    with pytest.raises(ApplyFailedRestored, match="runs again on docker"):
        switcher.restore(src.get("one"), True, [], EngineError("podman: the apply failed (test)"))
    assert dst.get("one").status == "exited" and src.get("one").running


def test_restore_does_not_start_the_source_beside_a_target_it_cannot_stop(monkeypatch, tmp_path):
    from one_run.common.errors import RestoreFailed

    src, dst = FakeEngine("docker", stopped=["one"]), FakeEngine("podman", "one", stop_fails=True)
    switcher = _switcher(monkeypatch, tmp_path, src, dst)
    switcher.applying = True  # the target's apply ran
    with pytest.raises(RestoreFailed) as failed:
        switcher.restore(src.get("one"), True, [], EngineError("podman: the apply failed (test)"))
    assert not src.get("one").running
    assert "the podman container one may still run" in failed.value.message
    assert "to recover by hand:\n  podman stop one\n  docker start one" in failed.value.message


def test_file_runtime_is_the_files_own_not_the_command_lines(tmp_path):
    from one_run.deploy.guards import file_runtime
    from one_run.model.profile import load_profile

    path = Path(tmp_path) / "one-run.toml"
    path.write_text('runtime = "podman"\n[container]\nname = "one"\nimage = "img"\n')
    assert file_runtime(load_profile(path, "docker")) == "podman"
    path.write_text('[container]\nname = "one"\nimage = "img"\n')
    assert file_runtime(load_profile(path, "podman")) == "docker"
    # Valid only for the runtime it was loaded for: the file's own runtime is not that one.
    path.write_text('[container]\nname = "one"\nimage = "img"\nvolumes = ["data:/d:U"]\n')
    assert file_runtime(load_profile(path, "podman")) is None


def test_the_read_ahead_thread_ends_when_the_upload_has_quit():
    """The consumer stopped reading with the queue full: the thread must not wait forever to hand
    over the end (or an error), holding the source's stream open."""
    import threading

    from one_run.deploy.volume_copy import PREFETCH_CHUNKS, Prefetch

    for fails in (False, True):
        closed = threading.Event()

        def chunks():
            try:
                yield from [b"x"] * PREFETCH_CHUNKS
                if fails:
                    raise EngineError("docker: read failed (test)")
            finally:
                closed.set()

        reader = Prefetch(chunks())
        reader.start()
        for _ in range(100):
            if reader.queue.full():
                break
            time.sleep(0.01)
        reader.stop.set()
        reader.join(timeout=5)
        assert not reader.is_alive() and closed.is_set()


# --- on the engines ---------------------------------------------------------------------

def test_helpers_reach_root_only_files_in_an_image_with_another_user(engine):
    """Switch's helpers read (tar) and empty (rm) the volumes as root, whatever the image's USER."""
    from one_run.deploy.volume_copy import fingerprint_volume, has_entries
    from one_run.engines import get_engine

    volume = engine.volume_name()
    engine.cli("run", "--rm", "--network", "none", "-v", f"{volume}:/v", "--entrypoint", "sh", f"{STANDIN}:1",
               "-c", "mkdir /v/private && echo s > /v/private/key && chmod 700 /v/private && chmod 600 /v/private/key")
    base = engine.container_name()
    engine.cli("create", "--name", base, f"{STANDIN}:1")
    image = f"localhost/one-run-nonroot:{base}"
    engine.cli("commit", "--change", "USER 9869:9869", base, image)
    eng = get_engine(engine.runtime)
    try:
        reader = eng.create_helper(image, [(volume, "/v", True)], f"{base}-read")
        digest = fingerprint_volume(eng, reader, "/v")
        assert (digest.entries, digest.files) == (3, 1)
        eng.remove(reader)
        clear = eng.create_helper(image, [(volume, "/v", False)], f"{base}-clear",
                                  ["/bin/sh", "-c", "rm -rf /v/private"])
        eng.start(clear)
        for _ in range(100):
            info = eng.get(clear)
            if not info.running and info.status != "created":
                break
            time.sleep(0.1)
        assert info.exit_code == 0, eng.logs(clear, 20)
        eng.remove(clear)
        probe = eng.create_helper(image, [(volume, "/v", True)], f"{base}-probe")
        assert not has_entries(eng, probe, "/v")
        eng.remove(probe)
    finally:
        engine.cli("rmi", "-f", image, check=False)


def test_podman_stops_a_stopped_container_quietly_and_keeps_the_create_command(podman_engine, tmp_path):
    from conftest import standin_profile

    from one_run.engines import get_engine
    from one_run.model.profile import load_profile
    from one_run.model.render import run_argv
    from one_run.model.runspec import build_runspec

    name = podman_engine.container_name()
    profile = standin_profile(tmp_path, podman_engine, name)
    assert run_cli("apply", profile).code == 0
    attrs = podman_engine.inspect(name)
    # Recorded as `podman create` records it, from the argv apply built (no secret values).
    assert attrs["Config"]["CreateCommand"] == run_argv(build_runspec(load_profile(profile)))
    podman_engine.cli("stop", name)
    get_engine("podman").stop(attrs["Id"])  # libpod answers 304 with an empty body
    assert podman_engine.inspect(name)["State"]["Status"] == "exited"


def test_a_refused_switch_pulls_nothing_and_changes_nothing(docker_engine, podman_engine, tmp_path, monkeypatch):
    from one_run.engines.podman import PodmanEngine

    name, volumes = both(docker_engine, podman_engine)
    profile = write_profile(tmp_path / "p", "docker", name, volumes)
    assert run_cli("apply", profile).code == 0
    podman_engine.cli("volume", "create", volumes[0])
    podman_engine.cli("run", "--rm", "--network", "none", "-v", f"{volumes[0]}:/v", "--entrypoint", "sh",
                      f"{STANDIN}:1", "-c", "echo old > /v/ibdata1")
    podman_engine.cli("create", "--name", f"{name}-one-run-switch-dst", "--label", "one-run.helper=1", f"{STANDIN}:1")
    profile.write_text(profile.read_text() + 'pull = "always"\n')  # a pull is planned
    pulls = []
    monkeypatch.setattr(PodmanEngine, "pull", lambda self, ref, progress: pulls.append(ref))

    refused = run_cli("switch", profile, "--to", "podman")
    assert refused.code == 2, refused.out + refused.err
    assert f"{volumes[0]} (has data)" in refused.err and "Nothing was changed" in refused.err
    assert pulls == [] and "pulling" not in refused.out
    assert podman_engine.exists(f"{name}-one-run-switch-dst")  # a leftover helper is removed only when switching
    assert status(docker_engine, name) == "running"
