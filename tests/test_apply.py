"""apply on the real engines: a profile in, a container state out."""
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time

import pytest
from conftest import EXAMPLES, STANDIN, example_on_standin, run_cli, standin_profile

from one_run.deploy.lock import apply_lock

HOOK_FAILS = "#!/bin/bash\necho 'pre hook: refusing'\nexit 3\n"


def ids(eng, name):
    return {n: eng.inspect(n)["Id"] for n in eng.names_like(name)}


def edit(path, old, new):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def add_failing_hook(path):
    hook = path.parent / "config" / "pre.sh"
    hook.parent.mkdir(exist_ok=True)
    hook.write_text(HOOK_FAILS)
    hook.chmod(0o755)
    with path.open("a") as f:
        f.write('\n[config]\npre_bootstrap_hook = "config/pre.sh"\n')


def test_apply_creates_then_does_nothing_then_recreates_keeping_all_data(engine, tmp_path):
    name = engine.container_name()
    profile = standin_profile(tmp_path, engine, name, body='[env]\nOPENNEBULA_HOST = "one.example.com"\n')

    first = run_cli("apply", profile)
    assert first.code == 0, first.err
    created = engine.inspect(name)
    assert created["State"]["Running"]
    assert created["Config"]["Labels"]["one-run.hash"]
    assert "BOOTSTRAP OK" in engine.report(name)
    # Data in the named volume and in the image's anonymous VOLUME.
    engine.sh(name, "echo db > /var/lib/one/datastores/named.txt; echo bk > /var/lib/one/backups/anon.txt")

    again = run_cli("apply", profile)
    assert again.code == 0 and "up to date" in again.out
    assert engine.inspect(name)["Id"] == created["Id"]

    edit(profile, "one.example.com", "one2.example.com")
    plan = run_cli("apply", profile, "--dry-run")
    assert plan.code == 0 and "recreate" in plan.out and "with the anonymous volume /var/lib/one/backups (volume" in plan.out
    assert engine.inspect(name)["Id"] == created["Id"]

    changed = run_cli("apply", profile)
    assert changed.code == 0, changed.err
    now = engine.inspect(name)
    assert now["Id"] != created["Id"] and now["State"]["Running"]
    assert "OPENNEBULA_HOST=one2.example.com" in now["Config"]["Env"]
    assert engine.read(name, "/var/lib/one/datastores/named.txt", "/var/lib/one/backups/anon.txt") == "db\nbk\n"
    assert list(ids(engine, name)) == [name]  # no temporary or backup container left

    forced = run_cli("apply", profile, "--force")
    assert forced.code == 0 and engine.inspect(name)["Id"] != now["Id"]
    assert engine.read(name, "/var/lib/one/backups/anon.txt") == "bk\n"


def test_a_new_container_that_fails_to_bootstrap_is_replaced_by_the_old_one(engine, tmp_path):
    name = engine.container_name()
    profile = standin_profile(tmp_path, engine, name)
    assert run_cli("apply", profile).code == 0
    old = engine.inspect(name)["Id"]

    add_failing_hook(profile)
    failed = run_cli("apply", profile)

    assert failed.code == 1
    assert "BOOTSTRAP FAILED" in failed.err and "runs again" in failed.err
    assert ids(engine, name) == {name: old}
    assert engine.inspect(name)["State"]["Running"]


def test_apply_waits_for_health_and_puts_the_old_container_back_when_the_new_is_unhealthy(engine, tmp_path):
    # The stand-in's :health image has a HEALTHCHECK (tests/standin/Dockerfile.health). Podman
    # runs checks from systemd timers, and this machine has no systemd: apply runs them itself.
    name = engine.container_name()
    profile = standin_profile(tmp_path, engine, name, tag="health", body='[env]\nSTANDIN_HEALTH = "ok"\n')
    healthy = run_cli("apply", profile)
    assert healthy.code == 0, healthy.err
    assert engine.inspect(name)["State"]["Health"]["Status"] == "healthy"
    assert "health healthy" in run_cli("status", profile).out
    old = engine.inspect(name)["Id"]

    edit(profile, '"ok"', '"bad"')
    unhealthy = run_cli("apply", profile)
    assert unhealthy.code == 1 and "reports unhealthy" in unhealthy.err
    assert ids(engine, name) == {name: old} and engine.inspect(name)["State"]["Running"]

    # In maintenance mode the real image reports unhealthy (services stopped), and that is no failure.
    assert run_cli("maintenance", "on", profile).code == 0
    assert engine.inspect(name)["State"]["Health"]["Status"] != "healthy"

    # status tells the health of now, on Podman without systemd too (it runs the check).
    edit(profile, '"bad"', '"ok"')
    assert run_cli("maintenance", "off", profile).code == 0
    engine.sh(name, "rm /bootstrap-report")
    deadline = time.monotonic() + 15
    while "health unhealthy" not in run_cli("status", profile).out:
        assert time.monotonic() < deadline, "status never saw the container turn unhealthy"
        time.sleep(0.5)


HOOK_V1 = "#!/bin/bash\necho 'post hook v1'\n"
HOOK_V2 = "#!/bin/bash\necho 'post hook v2: refusing'\nexit 7\n"


def deployment_with_post_hook(engine, tmp_path):
    """An applied stand-in whose post-bootstrap hook lives in the profile's config folder."""
    hook = tmp_path / "config" / "post-bootstrap-hook.sh"
    hook.parent.mkdir()
    hook.write_text(HOOK_V1)
    hook.chmod(0o755)
    name = engine.container_name()
    profile = standin_profile(tmp_path, engine, name, body='[config]\npost_bootstrap_hook = "config/post-bootstrap-hook.sh"\n')
    assert run_cli("apply", profile).code == 0
    return name, profile, hook


def test_a_failed_apply_leaves_the_edited_hook_alone_and_the_old_container_on_its_staged_copy(engine, tmp_path):
    # The old container mounts its own staged copy: started again, it runs the hook it was applied with.
    name, profile, hook = deployment_with_post_hook(engine, tmp_path)
    old = engine.inspect(name)["Id"]
    hook.write_text(HOOK_V2)

    failed = run_cli("apply", profile)

    assert failed.code == 1, failed.err
    assert "the profile's edited files are untouched and were not applied" in failed.err
    assert ids(engine, name) == {name: old} and engine.inspect(name)["State"]["Running"]
    assert engine.sh(name, "cat /config/post-bootstrap-hook.sh") == HOOK_V1
    assert "post hook v1" in engine.cli("logs", name).stdout.split("standin 1 bootstrap")[-1]
    assert hook.read_text() == HOOK_V2 and hook.stat().st_mode & 0o777 == 0o755
    assert list(hook.parent.iterdir()) == [hook]  # nothing put back, nothing kept beside it
    assert run_cli("diff", profile).code == 1  # the edit is still to be applied


def test_keep_previous_keeps_the_replaced_container_stopped(engine, tmp_path):
    name = engine.container_name()
    profile = standin_profile(tmp_path, engine, name)
    assert run_cli("apply", profile).code == 0
    old = engine.inspect(name)["Id"]

    result = run_cli("apply", profile, "--force", "--keep-previous")
    assert result.code == 0, result.err

    kept = f"{name}-previous-{old[:12]}"
    assert sorted(ids(engine, name)) == sorted([name, kept])
    assert not engine.inspect(kept)["State"]["Running"]
    # Docker would start it again whenever its daemon starts; Podman 4.3 cannot change the policy, and says so.
    policy = engine.inspect(kept)["HostConfig"]["RestartPolicy"]["Name"]
    assert policy == "no" if engine.runtime == "docker" else "podman cannot change it" in result.out
    status = run_cli("status", profile).out
    assert f"  also here:   {kept} (exited): kept by apply --keep-previous; once no longer needed: " \
           f"{engine.runtime} rm {kept}" in status.splitlines(), status


def test_bad_input_and_unreachable_engine_touch_nothing(engine, tmp_path, monkeypatch):
    name = engine.container_name()
    profile = standin_profile(tmp_path, engine, name)
    assert run_cli("apply", profile).code == 0
    before = engine.inspect(name)

    good = profile.read_text()
    profile.write_text(good.replace("[container]\n", "[container]\nstop_timout = 5\n"))
    bad = run_cli("apply", profile)
    assert bad.code == 2 and "stop_timeout" in bad.err

    profile.write_text(good)
    edit(profile, "[container]", '[container]\nhostname = "x"\n')
    variable = "DOCKER_HOST" if engine.runtime == "docker" else "CONTAINER_HOST"
    monkeypatch.setenv(variable, f"unix://{tmp_path}/nothing.sock")
    down = run_cli("apply", profile)
    assert down.code == 3 and f"{tmp_path}/nothing.sock" in down.err and variable in down.err
    assert len(down.err.strip().splitlines()) == 1
    text = profile.read_text()
    maintenance = run_cli("maintenance", "on", profile)
    assert maintenance.code == 3 and "put back" not in maintenance.err and profile.read_text() == text

    monkeypatch.undo()
    after = engine.inspect(name)
    assert (after["Id"], after["State"]["StartedAt"]) == (before["Id"], before["State"]["StartedAt"])


def test_maintenance_on_and_off_edit_the_profile_and_recreate(engine, tmp_path):
    name = engine.container_name()
    profile = standin_profile(tmp_path, engine, name, top="maintenance = false")
    assert run_cli("apply", profile).code == 0

    on = run_cli("maintenance", "on", profile)
    assert on.code == 0, on.err
    assert "maintenance = true" in profile.read_text()
    assert "MAINTENANCE_MODE=yes" in engine.inspect(name)["Config"]["Env"]
    assert "MAINTENANCE MODE" in engine.report(name)

    off = run_cli("maintenance", "off", profile)
    assert off.code == 0 and "maintenance = false" in profile.read_text()
    assert "MAINTENANCE_MODE=yes" not in engine.inspect(name)["Config"]["Env"]


def test_maintenance_flag_is_put_back_when_the_apply_fails(engine, tmp_path):
    name = engine.container_name()
    profile = standin_profile(tmp_path, engine, name)
    assert run_cli("apply", profile).code == 0
    # The stand-in skips the post hook in maintenance mode, so fail it with the pre hook.
    add_failing_hook(profile)
    before = profile.read_text()

    result = run_cli("maintenance", "on", profile)

    assert result.code == 1 and profile.read_text() == before


def test_a_second_apply_waits_for_the_first(engine, tmp_path):
    name = engine.container_name()
    profile = standin_profile(tmp_path, engine, name)
    env = dict(os.environ, ONE_RUN_STATE_DIR=str(tmp_path / "one-run-state"))
    command = [sys.executable, "-m", "one_run", "apply", str(profile), "--force"]
    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(0.5)
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    first_out = first.communicate(timeout=120)[0]

    assert first.returncode == 0 and second.returncode == 0, first_out + second.stderr
    assert list(ids(engine, name)) == [name]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_an_apply_interrupted_while_it_watches_puts_the_old_container_back(engine, tmp_path, signum):
    name = engine.container_name()
    profile = standin_profile(tmp_path, engine, name)
    assert run_cli("apply", profile).code == 0
    old = engine.inspect(name)["Id"]
    # Long enough to catch the new container while it is watched; the restored one is watched as long.
    edit(profile, "settle_time = 1", "settle_time = 8")
    env = dict(os.environ, ONE_RUN_STATE_DIR=str(tmp_path / "one-run-state"))
    apply = subprocess.Popen([sys.executable, "-m", "one_run", "apply", str(profile), "--force"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    # (between its two renames, no container carries the name)
    while engine.running_id(name) in (None, old):
        assert time.monotonic() < deadline and apply.poll() is None, "the new container never started"
        time.sleep(0.2)

    apply.send_signal(signum)  # the new container runs, and apply watches it
    out = apply.communicate(timeout=120)[0]

    assert apply.returncode == 1, out
    assert ids(engine, name) == {name: old} and engine.inspect(name)["State"]["Running"]
    if signum != signal.SIGHUP:  # after a hang-up, messages go nowhere
        assert "apply failed: interrupted" in out and f"{old[:12]} runs again" in out


def test_an_apply_interrupted_while_it_pulls_changes_nothing(engine, tmp_path):
    name = engine.container_name()
    profile = standin_profile(tmp_path, engine, name)
    assert run_cli("apply", profile).code == 0
    before = engine.inspect(name)
    with socket.socket() as registry:  # listens, never answers: the pull hangs
        registry.bind(("127.0.0.1", 0))
        registry.listen(8)
        edit(profile, f'image = "{STANDIN}:1"', f'image = "127.0.0.1:{registry.getsockname()[1]}/never:1"')
        env = dict(os.environ, ONE_RUN_STATE_DIR=str(tmp_path / "one-run-state"))
        apply = subprocess.Popen([sys.executable, "-m", "one_run", "apply", str(profile)], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in apply.stdout:
            if line.startswith("  pull "):
                break
        time.sleep(0.5)
        apply.terminate()
        out = apply.communicate(timeout=60)[0]

    assert apply.returncode == 1 and "interrupted before anything changed" in out, out
    after = engine.inspect(name)
    assert (after["Id"], after["State"]["StartedAt"]) == (before["Id"], before["State"]["StartedAt"])
    assert list(ids(engine, name)) == [name]


def test_a_held_lock_times_out_with_a_clear_message(engine, tmp_path, monkeypatch):
    name = engine.container_name()
    profile = standin_profile(tmp_path, engine, name)
    monkeypatch.setattr("one_run.deploy.lock.LOCK_TIMEOUT", 0.5)
    with apply_lock(engine.runtime, name, 1):
        result = run_cli("apply", profile)
    assert result.code != 0 and "another one-run" in result.err
    assert f"waiting for another one-run (pid {os.getpid()}), which is changing" in result.err
    assert not engine.exists(name)


def test_leftovers_of_a_killed_apply_are_repaired_first(engine, tmp_path):
    """The state SIGKILL leaves between "rename old away" and "rename new in"."""
    name = engine.container_name()
    profile = standin_profile(tmp_path, engine, name)
    assert run_cli("apply", profile).code == 0
    old = engine.inspect(name)["Id"]
    engine.cli("stop", "-t", "1", name)
    engine.cli("rename", name, f"{name}-one-run-old")
    engine.cli("create", "--name", f"{name}-one-run-new", f"{STANDIN}:1")

    dry = run_cli("apply", profile, "--dry-run")
    assert "interrupted apply" in dry.out and engine.exists(f"{name}-one-run-new")
    status = run_cli("status", profile).out
    assert "no such container" in status and f"{name}-one-run-old (exited): left by an interrupted apply" in status

    result = run_cli("apply", profile)

    assert result.code == 0, result.err
    assert "repair" in result.out
    assert ids(engine, name) == {name: old}
    assert engine.inspect(name)["State"]["Running"]


def test_pull_never_with_a_missing_image_stops_before_anything(engine, tmp_path):
    name = engine.container_name()
    profile = standin_profile(tmp_path, engine, name, container='pull = "never"')
    edit(profile, f"{STANDIN}:1", f"{STANDIN}:absent")
    result = run_cli("apply", profile)
    assert result.code == 2 and 'pull = "never"' in result.err
    assert not engine.exists(name)


# --- render and apply make the same container ------------------------------------

# Inspect fields that the run options decide; the rest (ids, state, paths) differ by nature.
HOST_FIELDS = ("Binds", "PortBindings", "RestartPolicy", "Privileged", "CapAdd", "CapDrop", "Devices",
               "Dns", "ExtraHosts", "Tmpfs", "ShmSize", "Ulimits", "SecurityOpt", "NetworkMode")
CONFIG_FIELDS = ("Hostname", "StopTimeout", "Entrypoint", "Cmd", "Image", "ExposedPorts")


def configuration(attrs):
    host, config = attrs["HostConfig"], attrs["Config"]
    mounts = sorted((m.get("Name") or m.get("Source"), m["Destination"], m.get("RW")) for m in attrs["Mounts"]
                    if len(m.get("Name") or "") != 64)  # anonymous volumes get fresh names
    labels = {k: v for k, v in (config.get("Labels") or {}).items() if not k.startswith("one-run.")}
    env = sorted(e for e in config["Env"] if not e.startswith("HOSTNAME="))
    # An empty list and an absent one make the same container (the CLI sends [], docker-py nothing).
    fields = {k: host.get(k) or None for k in HOST_FIELDS}
    fields.update({k: config.get(k) or None for k in CONFIG_FIELDS})
    # Podman lists anonymous volumes among the binds, and names an unnamed host after the id.
    fields["Binds"] = sorted(b for b in host.get("Binds") or [] if len(b.split(":")[0]) != 64)
    # Docker's CLI keeps --ulimit values in a map: their order is not the command line's.
    fields["Ulimits"] = sorted(fields["Ulimits"] or [], key=lambda u: u["Name"]) or None
    if fields["Hostname"] and attrs["Id"].startswith(fields["Hostname"]):
        fields["Hostname"] = None
    # The networks joined: Podman's NetworkMode says only "bridge" for a named network.
    networks = sorted((attrs.get("NetworkSettings") or {}).get("Networks") or {})
    return dict(fields, mounts=mounts, labels=labels, env=env, networks=networks)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.parent.name if p.name == "one-run.toml" else p.stem)
def test_pasting_the_rendered_command_creates_what_apply_creates(engine, tmp_path, monkeypatch, example):
    monkeypatch.setenv("ONE_ADMIN_PASSWORD", "pw-from-env")
    profile = example_on_standin(example, engine, tmp_path)
    name = engine.containers[-1]
    applied = run_cli("apply", profile)
    assert applied.code == 0, applied.err
    by_apply = configuration(engine.inspect(name))
    engine.remove(name, check=True)

    rendered = run_cli("render", profile, "--format", "json")
    argv = json.loads(rendered.out)
    exports = run_cli("render", profile).out.splitlines()
    script = "\n".join(line.lstrip("# ").strip() for line in exports if line.startswith("#   export"))
    script += "\n" + shlex.join(argv) + " >/dev/null\n"
    subprocess.run(["bash", "-euc", script], check=True, env=os.environ)
    by_hand = configuration(engine.inspect(name))

    assert by_hand == by_apply
    assert "BOOTSTRAP OK" in engine.report(name)


def test_a_named_network_tmpfs_options_and_the_other_run_options_apply_as_rendered(engine, tmp_path, monkeypatch):
    """A user-created network (Podman took its name for a netns mode), tmpfs options past size
    (Podman dropped them), a host address without a host port and an unlimited ulimit (podman-py
    refused both), and every other run option the examples leave out: the rendered command and
    apply make the same container, and diff finds it in sync."""
    network = engine.unique("net")
    engine.cli("network", "create", network)
    name = engine.container_name()
    nproc = ', nproc = "1024:1024"' if engine.runtime == "podman" else ""  # see example_on_standin
    profile = standin_profile(tmp_path, engine, name, container=f"""
network = "{network}"
tmpfs = ["/run/scratch:size=64m,mode=1777,noexec"]
dns = ["192.0.2.53"]
extra_hosts = ["db.example.com:192.0.2.10"]
cap_add = ["NET_ADMIN"]
cap_drop = ["MKNOD"]
shm_size = "128m"
security_opt = ["no-new-privileges"]
devices = ["/dev/null:/dev/xnull"]
labels = {{ "org.example.owner" = "cloud-team" }}
ulimits = {{ nofile = "4096:8192", core = -1{nproc} }}
ports = ["127.0.0.1::9100"]
entrypoint = "/bin/sh"
command = ["-c", "exec /entrypoint.sh"]
""")
    try:
        applied = run_cli("apply", profile)
        assert applied.code == 0, applied.err
        attrs = engine.inspect(name)
        assert list(attrs["NetworkSettings"]["Networks"]) == [network]
        assert "noexec" in engine.sh(name, "grep ' /run/scratch ' /proc/mounts")
        assert "BOOTSTRAP OK" in engine.report(name)
        diff = run_cli("diff", profile)
        assert diff.code == 0 and "in sync" in diff.out, diff.out + diff.err
        by_apply = configuration(attrs)
        engine.remove(name, check=True)

        argv = json.loads(run_cli("render", profile, "--format", "json").out)
        subprocess.run(["bash", "-euc", shlex.join(argv) + " >/dev/null"], check=True, env=os.environ)
        by_hand = configuration(engine.inspect(name))

        for config in (by_hand, by_apply):  # Podman records the host port it picked, a new one each time
            for binding in config["PortBindings"]["9100/tcp"]:
                binding["HostPort"] = binding["HostPort"] and "picked"
        assert by_hand == by_apply
        assert "BOOTSTRAP OK" in engine.report(name)
    finally:
        engine.remove(name)
        engine.cli("network", "rm", network, check=False)


# --- the start path: a stopped container that already matches --------------------

def test_a_matching_stopped_container_that_fails_after_start_is_stopped_again(engine, tmp_path):
    """As after switching back: the stopped container already matches, so apply starts it. When
    it does not stay up (here its bootstrap fails once and its restart policy starts it again),
    apply puts back what was there — a stopped container — instead of leaving it running."""
    name = engine.container_name()
    profile = standin_profile(tmp_path, engine, name)
    hook = tmp_path / "config" / "post.sh"
    hook.parent.mkdir()
    # The first start succeeds; after it, the next bootstrap fails once, then all succeed.
    hook.write_text("#!/bin/sh\ncd /var/lib/one/datastores\n"
                    "if [ -e started ] && [ ! -e failed ]; then touch failed; exit 3; fi\ntouch started\n")
    hook.chmod(0o755)
    with profile.open("a") as f:
        f.write('\n[config]\npost_bootstrap_hook = "config/post.sh"\n')
    assert run_cli("apply", profile).code == 0
    container_id = engine.inspect(name)["Id"]
    engine.cli("stop", name)

    result = run_cli("apply", profile)
    assert result.code == 1, result.out + result.err
    assert f"{name} was started but it " in result.err and "stopped again, as it was" in result.err
    assert engine.inspect(name)["Id"] == container_id  # started, never recreated
    for _ in range(10):  # and it stays stopped: the restart policy does not bring it back
        assert engine.inspect(name)["State"]["Status"] == "exited", result.err
        time.sleep(0.3)


def test_a_failed_first_create_leaves_no_volume_behind(engine, tmp_path, monkeypatch):
    """The image's anonymous volume, made for a container whose start then fails, goes with it."""
    from one_run.engines import get_engine

    name = engine.container_name()
    # The volumes of the container apply creates, read from the engine as it is created (the
    # engine-wide list of dangling volumes would count a parallel test's too).
    made = []
    backend = type(get_engine(engine.runtime))
    create = backend.create

    def create_and_note(self, request):
        cid = create(self, request)
        made.extend(m["Name"] for m in engine.inspect(cid)["Mounts"] if m["Type"] == "volume")
        return cid

    monkeypatch.setattr(backend, "create", create_and_note)
    with socket.socket() as taken:  # the host port the container wants is in use
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        profile = standin_profile(tmp_path, engine, name,
                                  container=f'ports = ["127.0.0.1:{taken.getsockname()[1]}:80"]\n')
        result = run_cli("apply", profile)

    assert result.code == 1, result.out + result.err
    assert "the new container was removed" in result.err
    assert not engine.exists(name) and not engine.names_like(name)
    anonymous = set(made) - set(engine.volumes)
    assert anonymous, made  # the image's VOLUME
    # The profile's named volume stays, as every named volume does; the anonymous one is gone.
    assert [v for v in anonymous if engine.cli("volume", "inspect", v, check=False).returncode == 0] == []


def test_staged_folders_no_container_uses_are_removed_after_an_apply(engine, tmp_path):
    name = engine.container_name()
    profile = standin_profile(tmp_path, engine, name)
    hook = tmp_path / "config" / "post.sh"
    hook.parent.mkdir()
    hook.write_text("#!/bin/bash\necho v1\n")
    hook.chmod(0o755)
    profile.write_text(profile.read_text().replace("[watch]", '[config]\npost_bootstrap_hook = "config/post.sh"\n\n[watch]'))
    assert run_cli("apply", profile).code == 0
    staged = tmp_path / ".one-run" / "one-run" / "staged"
    first = {p.name for p in staged.iterdir()}

    hook.write_text("#!/bin/bash\necho v2\n")
    kept = run_cli("apply", profile, "--keep-previous")
    assert kept.code == 0, kept.err
    assert {p.name for p in staged.iterdir()} > first  # the kept previous container still mounts v1

    for previous in engine.names_like(name):
        if previous != name:
            engine.remove(previous, check=True)
    hook.write_text("#!/bin/bash\necho v3\n")
    result = run_cli("apply", profile)
    assert result.code == 0 and "staged folder(s) no container uses any more" in result.out
    mounted = {m["Source"] for m in engine.inspect(name)["Mounts"] if m["Type"] == "bind"}
    assert [p.name for p in staged.iterdir()] == [os.path.relpath(next(iter(mounted)), staged).split(os.sep)[0]]


def test_a_create_the_engine_refuses_changes_nothing(podman_engine, tmp_path):
    """Podman refuses a missing network at create (Docker only at start, which the undo covers)."""
    engine = podman_engine
    name = engine.container_name()
    profile = standin_profile(tmp_path, engine, name)
    assert run_cli("apply", profile).code == 0
    before = engine.inspect(name)
    profile.write_text(profile.read_text().replace("[container]\n", '[container]\nnetwork = "one-run-no-such-net"\n'))

    result = run_cli("apply", profile)

    assert result.code == 3, result.out + result.err
    after = engine.inspect(name)
    assert (after["Id"], after["State"]["StartedAt"]) == (before["Id"], before["State"]["StartedAt"])
    assert engine.names_like(name) == [name]
    assert not (tmp_path / "one-run-state" / f"{engine.runtime}-{name}.journal").exists()
