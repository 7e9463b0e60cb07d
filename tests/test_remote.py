"""A Front-end on another host (issue 23): the operator, a second user with its own ~/.ssh,
runs one-run against fe1, an sshd on loopback (tests/engines.sh). Both engines run in a mount
namespace in which the operator's folder is an empty tmpfs: a client path that reached an
engine would mount nothing, and the stand-in's bootstrap would not read the files."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import uuid
from pathlib import Path

import certifi
import pytest
from conftest import Result, example_on_standin, run_cli, standin_profile
from test_apply import configuration

OPERATOR = os.environ.get("ONE_RUN_TEST_OPERATOR")
CLIENT = os.environ.get("ONE_RUN_TEST_CLIENT")
ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "profiles" / "full" / "one-run.toml"
SOCKETS = {"docker": "DOCKER_HOST", "podman": "CONTAINER_HOST"}
FILES_READ = ("TLS_CERT read: /certs/cert.pem", "ONEADMIN_SSH_PRIVKEY read: /ssh/id_ed25519",
              "OPENNEBULA_ONECFG_PATCH read: /config/onecfg_patch", "pre-bootstrap hook ran", "BOOTSTRAP OK")


def _interpreter() -> str:
    """This Python's version outside /root, which the operator cannot enter."""
    found = shutil.which(f"python{sys.version_info.major}.{sys.version_info.minor}", path="/usr/bin:/usr/local/bin")
    if not found:
        pytest.fail(f"no python{sys.version_info.major}.{sys.version_info.minor} outside /root for the operator")
    return found


def need_the_remote_host():
    if not OPERATOR:
        if os.environ.get("CI") == "true":
            pytest.fail("CI needs the remote host of tests/engines.sh (ONE_RUN_TEST_OPERATOR unset)")
        pytest.skip("no remote host: start the engines with tests/engines.sh")


@pytest.fixture
def remote(engine, monkeypatch):
    from one_run.model import crypto

    monkeypatch.setattr(crypto, "RSA_BITS", 2048)  # each command loads the key: 3072 bits cost 0.5 s more
    need_the_remote_host()
    r = Remote(engine)
    yield r
    r.cleanup()


class Remote:
    """The operator's side: a folder of its own, and one-run run as it, against fe1."""

    def __init__(self, engine):
        self.engine = engine
        self.folder = Path(CLIENT) / f"op-{uuid.uuid4().hex[:8]}"
        self.folder.mkdir()
        self.url = f"ssh://fe1{os.environ[SOCKETS[engine.runtime]][len('unix://'):]}"

    def argv(self, *args, env=None) -> list:
        """one-run as the operator: its passwd home (OpenSSH reads ~/.ssh there), no engine variable."""
        self.own()
        path = os.pathsep.join([sysconfig.get_paths()["purelib"], str(ROOT)])
        variables = {"PATH": "/usr/bin:/bin", "HOME": f"/home/{OPERATOR}", "PYTHONPATH": path,
                     "PYTHONDONTWRITEBYTECODE": "1", "ONE_RUN_STATE_DIR": str(self.folder / "state"), **(env or {})}
        return ["runuser", "-u", OPERATOR, "--", "env", "-i", *(f"{k}={v}" for k, v in variables.items()),
                _interpreter(), "-m", "one_run", *map(str, args)]

    def run(self, *args, env=None) -> Result:
        done = subprocess.run(self.argv(*args, env=env), capture_output=True, text=True, cwd=self.folder,
                              timeout=300)
        return Result(done.returncode, done.stdout, done.stderr)

    def start(self, *args, env=None):
        """One-run started in a session of its own; its stderr goes to a file that can be read meanwhile."""
        err = self.folder / f"stderr-{uuid.uuid4().hex[:6]}"
        with open(err, "w") as f:
            running = subprocess.Popen(self.argv(*args, env=env), stdout=subprocess.DEVNULL, stderr=f,
                                       cwd=self.folder, start_new_session=True)
        return running, err

    def own(self) -> None:
        subprocess.run(["chown", "-R", OPERATOR, str(self.folder)], check=True)

    def deployment(self, remote_host: bool = False) -> Path:
        """init's deployment (TLS, SSH, patch, hooks) on the stand-in image; with `host` in the
        profile when `remote_host`."""
        made = run_cli("init", self.folder / "made", "--fqdn", "one.example.com", "--runtime", self.engine.runtime,
                       "--ssh-key-type", "ed25519")
        assert made.code == 0, made.err
        profile = example_on_standin(self.folder / "made" / "one-run.toml", self.engine, self.folder / "run")
        if remote_host:
            profile.write_text(f"host = {json.dumps(self.url)}\n" + profile.read_text())
        return profile

    def plain(self) -> Path:
        """A profile without files, where they are not what is tested."""
        return standin_profile(self.folder, self.engine, self.engine.container_name())

    def delivery_volumes(self, name: str):
        return self.delivery_volumes_on(self.engine, name)

    @staticmethod
    def delivery_volumes_on(engine, name: str):
        out = engine.cli("volume", "ls", "-q", "--filter", f"label=one-run.delivery={name}").stdout
        return sorted(out.split())

    def cleanup(self):
        for name in self.engine.containers:
            self.engine.remove(name)
            self.engine.volumes += self.delivery_volumes(name) + [name + ".one-run-state"]
        shutil.rmtree(self.folder, ignore_errors=True)


def test_apply_over_ssh_delivers_every_file_through_the_engine(remote):
    """The issue's "done when": init, then `apply --host ssh://…`: the Front-end runs there with
    every customization, read from volumes the engine was sent, none copied by hand."""
    engine = remote.engine
    profile = remote.deployment()
    name = engine.containers[-1]

    applied = remote.run("apply", "--host", remote.url, profile)

    assert applied.code == 0, applied.err
    assert applied.out.startswith(f"{engine.runtime} at {remote.url} container {name}: create")
    report = engine.report(name)
    for line in FILES_READ:
        assert line in report, report
    mounts = {m["Destination"]: m for m in engine.inspect(name)["Mounts"]}
    for target in ("/certs", "/ssh", "/config"):
        assert mounts[target]["Type"] == "volume" and not mounts[target]["RW"]
        assert re.fullmatch(rf"{name}\.one-run-[0-9a-f]{{20}}-{target[1:]}", mounts[target]["Name"])
    assert not [m for m in mounts.values() if m["Type"] == "bind"]
    key = engine.sh(name, "stat -c '%a %u' /certs/cert.key /config/pre-bootstrap-hook.sh").split()
    assert key == ["600", "0", "700", "0"]

    again = remote.run("apply", "--host", remote.url, profile)
    assert again.code == 0 and "up to date" in again.out
    assert remote.run("diff", "--host", remote.url, profile).code == 0
    status = remote.run("status", "--host", remote.url, profile)
    assert status.code == 0 and status.out.startswith(f"{name} ({engine.runtime} at {remote.url}, ")

    # One file changes: one volume is sent anew, and the one it replaces goes.
    before = remote.delivery_volumes(name)
    with open(profile.parent / "config" / "onecfg_patch", "a") as patch:
        patch.write("# changed\n")
    diff = remote.run("diff", "--host", remote.url, profile)
    assert diff.code == 1 and "volumes /config" in diff.out and "volumes /certs" not in diff.out
    changed = remote.run("apply", "--host", remote.url, profile)
    assert changed.code == 0, changed.err
    assert "delivered" in changed.out and "removed 1 customization volume(s)" in changed.out
    after = remote.delivery_volumes(name)
    assert len(after) == 3 and len(set(before) & set(after)) == 2
    assert "BOOTSTRAP OK" in engine.report(name)


def test_the_host_comes_from_the_flag_then_the_profile_then_the_environment(remote):
    engine = remote.engine
    profile = remote.plain()
    profile.write_text(f"host = {json.dumps(remote.url)}\n" + profile.read_text())
    name = engine.containers[-1]
    elsewhere = {SOCKETS[engine.runtime]: "unix:///nowhere/engine.sock"}

    # The profile's host wins over a stray variable.
    applied = remote.run("apply", profile, env=elsewhere)
    assert applied.code == 0, applied.err
    assert "BOOTSTRAP OK" in engine.report(name)
    # The flag wins over the profile's.
    wrong = remote.run("status", "--host", "ssh://fe1/nowhere/engine.sock", profile)
    assert wrong.code == 3 and "ssh://fe1/nowhere/engine.sock" in wrong.err
    # Without either, the variable is read, ssh:// included.
    profile.write_text("\n".join(profile.read_text().splitlines()[1:]) + "\n")
    assert remote.run("status", profile, env={SOCKETS[engine.runtime]: remote.url}).code == 0
    assert remote.run("status", profile, env=elsewhere).code == 3


@pytest.mark.parametrize("alias,verdict", [("fe1-unknown", "is not in known_hosts"),
                                           ("fe1-changed", "is NOT the one in known_hosts (it CHANGED)")])
def test_an_unknown_or_changed_host_key_is_refused_with_its_fingerprint(remote, alias, verdict):
    profile = remote.plain()
    socket = os.environ[SOCKETS[remote.engine.runtime]][len("unix://"):]
    host_key = Path(CLIENT).parent / "sshd" / "host_key.pub"
    fingerprint = subprocess.run(["ssh-keygen", "-lf", str(host_key)], capture_output=True, text=True,
                                 check=True).stdout.split()[1]
    known_hosts = Path(f"/home/{OPERATOR}/.ssh/{alias[4:]}_known_hosts")
    before = known_hosts.read_text()

    refused = remote.run("apply", "--host", f"ssh://{alias}{socket}", profile)

    assert refused.code == 3
    assert f"ssh://{alias}{socket}" in refused.err and fingerprint in refused.err and verdict in refused.err
    assert "nothing was changed" in refused.err
    assert known_hosts.read_text() == before  # never accepted on the way
    assert not remote.engine.exists(remote.engine.containers[-1])


def test_render_for_a_remote_host_makes_what_apply_makes_there(remote, monkeypatch):
    """render ≡ apply: the printed commands (volumes filled with `cp` through the engine, then
    `run`), run in order against the engine, make apply's container; apply then finds the
    files it would deliver already there."""
    engine = remote.engine
    profile = remote.deployment()
    name = engine.containers[-1]
    assert remote.run("apply", "--host", remote.url, profile).code == 0
    by_apply = configuration(engine.inspect(name))
    engine.remove(name, check=True)
    for volume in remote.delivery_volumes(name):
        engine.cli("volume", "rm", volume)

    rendered = remote.run("render", "--host", remote.url, profile)
    assert rendered.code == 0, rendered.err
    lines = rendered.out.splitlines()
    assert any(line.startswith(f"{engine.runtime} cp ") for line in lines)
    # The engine is reached here through its socket (the test runs as root, not as the operator),
    # the files still only through its API: the engine cannot see the client's folder.
    script = [f"export {SOCKETS[engine.runtime]}={os.environ[SOCKETS[engine.runtime]]}"]
    for line in lines:
        if line.startswith("#   export"):
            script.append(line[len("#   "):])  # the secrets, by name
        elif not line.startswith(("#", "export ", "ssh ")):
            script.append(line)
    subprocess.run(["bash", "-euc", "\n".join(script)], check=True, capture_output=True, cwd=remote.folder)
    assert configuration(engine.inspect(name)) == by_apply
    assert "BOOTSTRAP OK" in engine.report(name)

    adopted = remote.run("apply", "--host", remote.url, profile)
    assert adopted.code == 0, adopted.err
    assert "delivered" not in adopted.out  # the volumes render's commands filled verify as they are


def test_history_rollback_backup_restore_and_capture_over_ssh(remote):
    """The revisions live on the host: a fresh CI runner (a checkout of the profile's folder, no
    state of its own) sees them all and rolls back with the data."""
    engine = remote.engine
    profile = remote.deployment(remote_host=True)
    with open(profile, "a") as f:
        f.write('\n[snapshot]\nwhen = "always"\n')
    name = engine.containers[-1]
    assert remote.run("apply", profile).code == 0
    with open(profile.parent / "config" / "onecfg_patch", "a") as patch:
        patch.write("# revision 2\n")
    assert remote.run("apply", profile).code == 0
    assert not (profile.parent / ".one-run" / profile.stem / "history").exists()

    runner = remote.folder / "runner" / profile.parent.name
    shutil.copytree(profile.parent, runner, ignore=shutil.ignore_patterns(".one-run"))
    fresh = {"ONE_RUN_STATE_DIR": remote.folder / "runner-state"}
    history = remote.run("history", runner / profile.name, "--format", "json", env=fresh)
    assert history.code == 0, history.err
    revisions = json.loads(history.out)["revisions"]
    assert [r["revision"] for r in revisions] == [2, 1]
    assert revisions[0]["snapshot"]["state"] == "present"
    rolled = remote.run("rollback", runner / profile.name, "--with-data", env=fresh)
    assert rolled.code == 0, rolled.err
    assert "with the data of snapshot" in rolled.out
    assert remote.run("diff", profile).code == 1  # the profile is revision 2; revision 1 runs
    assert "revision 3" in remote.run("history", profile).out  # the rollback, recorded there too

    backup = remote.run("backup", profile, "-o", "saved")
    assert backup.code == 0, backup.err
    manifest = json.loads((remote.folder / "saved" / "manifest.json").read_text())
    assert manifest["volumes"]
    restored = remote.run("restore", profile, "saved", "--yes")
    assert restored.code == 0, restored.err
    assert engine.running_id(name), restored.out + restored.err

    captured = remote.run("capture", name, "--host", remote.url, "--runtime", engine.runtime, "-o", "captured.toml")
    assert captured.code == 0, captured.err
    assert f"host = {json.dumps(remote.url)}" in (remote.folder / "captured.toml").read_text()


def test_boot_prints_the_unit_for_that_host_and_names_the_steps_to_install_it(remote):
    profile = remote.plain()
    printed = remote.run("boot", "--host", remote.url, profile)
    assert printed.code == 0 and f"ExecStart=/usr/bin/{remote.engine.runtime} start" in printed.out
    if remote.engine.runtime == "docker":
        assert f"Environment=DOCKER_HOST=unix://{remote.url[len('ssh://fe1'):]}" in printed.out
    refused = remote.run("boot", "--host", remote.url, profile, "--install")
    assert refused.code == 2 and "nothing was changed" in refused.err and "systemctl daemon-reload" in refused.err


def _kept_masters() -> list:
    found = subprocess.run(["pgrep", "-u", OPERATOR, "-f", "ssh -v -N -M -S .*/kept-"], capture_output=True, text=True)
    return found.stdout.split()


def test_a_master_the_operators_ssh_config_keeps_serves_the_next_commands(docker_engine, podman_engine):
    """fe1-kept: ControlMaster auto, ControlPath, ControlPersist 60 in the operator's ~/.ssh/config.
    The first command opens the master there and leaves it up, as configured; the next ones, to
    either engine of that host, use it (no second master, no handshake); one that died is opened
    again. (Both engines in one test: the master is the host's, whichever engine a test uses.)"""
    need_the_remote_host()
    remotes = [Remote(docker_engine), Remote(podman_engine)]
    profiles = []
    for remote in remotes:
        profile = remote.plain()
        url = remote.url.replace("ssh://fe1/", "ssh://fe1-kept/", 1)
        profile.write_text(f"host = {json.dumps(url)}\n" + profile.read_text())
        profiles.append(profile)
    try:
        first = remotes[0].run("apply", profiles[0])
        assert first.code == 0, first.err
        kept = _kept_masters()
        assert len(kept) == 1, kept  # it outlives the command that opened it
        other = remotes[1].run("apply", profiles[1])
        again = remotes[0].run("apply", profiles[0])
        assert other.code == 0 and again.code == 0 and "up to date" in again.out + again.err, other.err + again.err
        assert _kept_masters() == kept
        os.kill(int(kept[0]), signal.SIGKILL)
        status = remotes[1].run("status", profiles[1])
        assert status.code == 0, status.err
        assert len(_kept_masters()) == 1 and _kept_masters() != kept
    finally:
        for pid in _kept_masters():
            os.kill(int(pid), signal.SIGTERM)
        for remote in remotes:
            remote.cleanup()


def test_a_docker_on_tcp_with_tls_is_reached_as_the_docker_cli_reaches_it(docker_engine, tmp_path, monkeypatch):
    """tcp:// to a dockerd that requires client certificates (--tlsverify): DOCKER_TLS_VERIFY and
    DOCKER_CERT_PATH are read as the docker CLI reads them, and the files go through the engine, as
    to any engine that does not share this disk. Without the certificates: exit 3, naming the URL."""
    url, certs = os.environ.get("ONE_RUN_TEST_DOCKER_TCP"), os.environ.get("ONE_RUN_TEST_DOCKER_CERTS")
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail("CI needs the TLS dockerd of tests/engines.sh (ONE_RUN_TEST_DOCKER_TCP unset)")
        pytest.skip("no TLS dockerd: start the engines with tests/engines.sh")
    name = docker_engine.container_name()
    patch = '[config]\nonecfg_patch = ["/etc/one/oned.conf set A 1"]\n'
    profile = standin_profile(tmp_path, docker_engine, name, body=patch)
    monkeypatch.delenv("DOCKER_TLS_VERIFY", raising=False)
    monkeypatch.delenv("DOCKER_CERT_PATH", raising=False)
    # Set for other programs on many machines (this one too); it must not replace DOCKER_CERT_PATH's CA.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    refused = run_cli("status", "--host", url, profile)
    assert refused.code == 3 and url in refused.err, refused.err
    try:
        with monkeypatch.context() as tls:  # one-run's alone: the test's docker CLI talks to the local socket
            tls.setenv("DOCKER_TLS_VERIFY", "1")
            tls.setenv("DOCKER_CERT_PATH", certs)
            applied = run_cli("apply", "--host", url, profile)
            status = run_cli("status", "--host", url, profile)
        assert applied.code == 0, applied.err
        assert f"docker at {url}" in applied.out + applied.err
        assert status.code == 0, status.err
        assert Remote.delivery_volumes_on(docker_engine, name)  # /config came as a volume, not a bind
        assert "OPENNEBULA_ONECFG_PATCH read: /config/onecfg_patch" in docker_engine.report(name)
    finally:
        docker_engine.remove(name)
        for volume in Remote.delivery_volumes_on(docker_engine, name):
            docker_engine.cli("volume", "rm", volume, check=False)


def test_a_host_that_cannot_be_reached_is_exit_3_naming_it(remote):
    profile = remote.plain()
    for url in ("ssh://nosuchhost.invalid", "ssh://fe1/nowhere/engine.sock"):
        result = remote.run("status", "--host", url, profile)
        assert result.code == 3 and url in result.err


@pytest.mark.parametrize("text,problem", [
    ("ssh://-oProxyCommand=touch${IFS}/tmp/x", "expected ssh://[user@]host[:port]"),
    ("http://fe1", "the scheme 'http' is not ssh, unix or tcp"),
    ("tcp://fe1", "name the port"),
])
def test_a_host_that_does_not_parse_is_refused_before_ssh_runs(tmp_path, text, problem):
    profile = tmp_path / "one-run.toml"
    profile.write_text(f'host = {json.dumps(text)}\n[container]\nname = "one"\nimage = "busybox"\n')
    from_profile = run_cli("render", profile)
    assert from_profile.code == 2 and f"{profile}" in from_profile.err and problem in from_profile.err
    from_flag = run_cli("status", "--host", text, tmp_path / "one-run.toml")
    assert from_flag.code == 2 and problem in from_flag.err


def test_init_host_is_now_fqdn_and_still_accepted_with_a_warning(tmp_path, capsys):
    old = run_cli("init", tmp_path / "old", "--host", "one.example.com")
    assert old.code == 0 and "`init --host` is now `init --fqdn`" in old.err
    new = run_cli("init", tmp_path / "new", "--fqdn", "one.example.com", "--engine-host", "ssh://root@fe1")
    assert new.code == 0 and 'host = "ssh://root@fe1"' in (tmp_path / "new" / "one-run.toml").read_text()
    assert run_cli("validate", tmp_path / "new" / "one-run.toml").code == 0
    both = run_cli("init", tmp_path / "both", "--host", "a.example.com", "--fqdn", "b.example.com")
    assert both.code == 2 and not (tmp_path / "both").exists()


def _wait_for(path: Path, text: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while text not in path.read_text():
        assert time.monotonic() < deadline, f"{text!r} not in {path.read_text()!r}"
        time.sleep(0.1)
    return path.read_text()


def test_two_clients_on_two_machines_take_turns_on_the_host(remote):
    """Two clients with state folders of their own (two machines): the second waits on the host's
    lock, naming the first, and goes on once the first, interrupted, has put things back."""
    profile = remote.plain()
    assert remote.run("apply", "--host", remote.url, profile).code == 0
    first, first_err = remote.start("apply", "--force", "--host", remote.url, profile,
                                    env={"ONE_RUN_TEST_PAUSE": "created", "ONE_RUN_STATE_DIR": remote.folder / "a"})
    try:
        _wait_for(first_err, "test pause after created")
        second, second_err = remote.start("apply", "--force", "--host", remote.url, profile,
                                          env={"ONE_RUN_STATE_DIR": remote.folder / "b"})
        said = _wait_for(second_err, "waiting for another one-run")
        assert re.search(rf"waiting for another one-run \(pid \d+ on \S+\) on {re.escape(remote.url)}", said), said
        assert second.poll() is None
    finally:  # one-run itself, runuser's child: as a terminal's Ctrl-C, it puts things back first
        child = subprocess.run(["pgrep", "-P", str(first.pid)], capture_output=True, text=True).stdout.split()
        os.kill(int(child[0]), signal.SIGTERM)
    assert first.wait(60) == 1, first_err.read_text()
    assert second.wait(120) == 0, second_err.read_text()
    assert remote.engine.running_id(remote.engine.containers[-1])


def test_a_docker_context_or_podman_connection_is_taken_by_name(tmp_path, monkeypatch):
    """The files `docker context create` and `podman system connection add` write, read as they are."""
    import hashlib

    from one_run.common.errors import UsageError
    from one_run.model.endpoint import endpoint_for, name_host

    monkeypatch.setattr("one_run.model.endpoint._named", None)  # what the test names is undone after it
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    meta = tmp_path / ".docker" / "contexts" / "meta" / hashlib.sha256(b"fe9").hexdigest() / "meta.json"
    meta.parent.mkdir(parents=True)
    meta.write_text(json.dumps({"Name": "fe9", "Endpoints": {"docker": {"Host": "ssh://root@fe9.example.com"}}}))
    conf = tmp_path / ".config" / "containers" / "containers.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text('[engine.service_destinations.fe8]\nuri = "ssh://core@fe8.example.com:2222/run/user/1000/podman/'
                    'podman.sock"\nidentity = "~/.ssh/fe8"\n')

    name_host("fe9", None, "docker")
    docker = endpoint_for("docker")
    assert (docker.url.user, docker.url.host, docker.socket, docker.remote) == \
        ("root", "fe9.example.com", "/var/run/docker.sock", True)
    name_host("fe8", None, "podman")
    podman = endpoint_for("podman")
    assert (podman.url.port, podman.socket, podman.identity) == (2222, "/run/user/1000/podman/podman.sock", "~/.ssh/fe8")
    name_host("nowhere", None, "docker")
    with pytest.raises(UsageError, match="no docker context of that name"):
        endpoint_for("docker")


def _held_after_the_stop(remote, step="stopped"):
    """A deployment applied over SSH, then an apply of it from client "a" held right after `step` (the
    old container's stop): (profile, name, the old container's ID, the apply's process, its stderr file)."""
    profile = remote.plain()
    assert remote.run("apply", "--host", remote.url, profile).code == 0
    name = remote.engine.containers[-1]
    before = remote.engine.running_id(name)
    first, first_err = remote.start("apply", "--force", "--host", remote.url, profile,
                                    env={"ONE_RUN_TEST_PAUSE": step, "ONE_RUN_STATE_DIR": remote.folder / "a"})
    _wait_for(first_err, f"test pause after {step}")
    return profile, name, before, first, first_err


def _repaired_from_another_client(remote, profile, name, before) -> Result:
    """The next apply, from client "b": the old container runs again, alone, in sync."""
    repaired = remote.run("apply", "--host", remote.url, profile, env={"ONE_RUN_STATE_DIR": remote.folder / "b"})
    assert repaired.code == 0, repaired.out + repaired.err
    assert remote.engine.running_id(name) == before  # the previous container, started again
    assert remote.run("diff", "--host", remote.url, profile).code == 0
    leftovers = remote.engine.cli("ps", "-a", "--format", "{{.Names}}").stdout.split()
    assert [n for n in leftovers if n.startswith(name)] == [name]
    return repaired


def test_an_apply_killed_on_one_client_is_repaired_from_another(remote):
    """The journal is kept on the host: a client killed mid-swap (a laptop closed, a CI job
    cancelled) leaves it there, and the next apply from another machine puts things back."""
    engine = remote.engine
    profile, name, before, first, first_err = _held_after_the_stop(remote)
    os.killpg(first.pid, signal.SIGKILL)  # one-run, and its ssh with it: nothing is put back
    first.wait(30)
    assert engine.running_id(name) is None

    repaired = _repaired_from_another_client(remote, profile, name, before)
    assert "repair: an earlier apply was interrupted" in repaired.out, repaired.out


def test_revisions_recorded_by_a_client_applying_locally_go_with_it_to_the_host(remote):
    """A client that applied the profile to a local engine keeps its revisions beside the profile;
    its first apply to a remote host carries them there, and keeps its own copies."""
    profile = remote.plain()
    kept = profile.parent / ".one-run" / profile.stem / "history" / "1"
    kept.mkdir(parents=True)
    earlier = {"revision": 1, "time": "2026-01-01T00:00:00Z", "runtime": remote.engine.runtime,
               "profile_text": profile.read_text(), "image": {"ref": "x", "id": "sha256:0", "digest": None},
               "container": {"id": "0" * 64, "name": remote.engine.containers[-1]}, "files": [], "version": 1}
    (kept / "revision.json").write_text(json.dumps(earlier))
    applied = remote.run("apply", "--host", remote.url, profile)
    assert applied.code == 0, applied.err
    assert "carried this client's revisions" in applied.out, applied.out
    assert "recorded as revision 2" in applied.out
    fresh = remote.run("history", "--host", remote.url, profile, "--format", "json",
                       env={"ONE_RUN_STATE_DIR": remote.folder / "c"})
    assert [r["revision"] for r in json.loads(fresh.out)["revisions"]] == [2, 1]
    assert (kept / "revision.json").exists()


def test_switch_moves_the_deployment_between_the_hosts_engines_with_its_files_and_history(docker_engine,
                                                                                          podman_engine):
    """switch on fe1, from its Docker to its Podman (whose socket CONTAINER_HOST names on that same
    host): the data, the customization volumes and the revisions go with it."""
    need_the_remote_host()
    remote = Remote(docker_engine)
    try:
        profile = remote.deployment(remote_host=True)
        name = docker_engine.containers[-1]
        podman_engine.containers.append(name)
        podman_engine.volumes += docker_engine.volumes + [name + ".one-run-state"]
        podman_url = f"ssh://fe1{os.environ['CONTAINER_HOST'][len('unix://'):]}"
        env = {"CONTAINER_HOST": podman_url}
        assert remote.run("apply", profile, env=env).code == 0

        switched = remote.run("switch", profile, "--to", "podman", env=env)
        assert switched.code == 0, switched.out + switched.err
        assert 'runtime = "podman"' in profile.read_text()
        assert podman_engine.running_id(name) and not docker_engine.running_id(name)
        report = podman_engine.report(name)
        assert all(line in report for line in FILES_READ), report
        assert remote.run("diff", profile, env=env).code == 0
        history = remote.run("history", profile, "--format", "json", env=env)
        assert [(r["revision"], r["runtime"]) for r in json.loads(history.out)["revisions"]] == \
            [(2, "podman"), (1, "docker")], history.out + history.err
        podman_engine.volumes += remote.delivery_volumes_on(podman_engine, name)
    finally:
        remote.cleanup()


@pytest.mark.parametrize("step", ["created", "stopped", "swapped", "started"])
def test_a_connection_dropped_mid_swap_is_repaired_by_the_next_apply_from_any_client(remote, step):
    """The transport dies at a step of the swap (its ssh killed), then one-run is told to stop: it
    cannot put anything back over a dead connection, says what is left (exit 3 or 4), and the next
    apply from another machine repairs it from the journal on the host."""
    engine = remote.engine
    profile, name, before, first, first_err = _held_after_the_stop(remote, step)
    tree = subprocess.run(["ps", "-o", "pid=,args=", "-g", str(first.pid)], capture_output=True, text=True).stdout
    client = subprocess.run(["pgrep", "-P", str(first.pid)], capture_output=True, text=True).stdout.split()
    masters = subprocess.run(["pgrep", "-f", "ssh -v -N -M"], capture_output=True, text=True).stdout.split()
    mine = [pid for pid in masters
            if subprocess.run(["ps", "-o", "ppid=", "-p", pid], capture_output=True, text=True).stdout.strip()
            in client]
    assert mine, tree
    os.kill(int(mine[0]), signal.SIGKILL)
    os.kill(int(client[0]), signal.SIGTERM)
    assert first.wait(60) in (3, 4), first_err.read_text()
    said = first_err.read_text()
    assert "Traceback" not in said and name in said, said
    assert f"export {SOCKETS[engine.runtime]}=" in said  # the commands to recover by hand reach fe1

    _repaired_from_another_client(remote, profile, name, before)


def test_a_damaged_journal_on_the_host_is_refused_naming_it_and_the_way_out(remote):
    """A garbled journal on the host is never read as "no journal": apply
    changes nothing and names the volume, the record and the command that removes it there."""
    engine = remote.engine
    profile = remote.plain()
    assert remote.run("apply", "--host", remote.url, profile).code == 0
    name = engine.containers[-1]
    before = engine.running_id(name)
    engine.cli("volume", "create", "--label", f"one-run.journal-of={name}", "--label",
               "one-run.journal={step: swap", f"{name}.one-run-journal-7")  # no quote: podman's CLI reads CSV
    engine.volumes.append(f"{name}.one-run-journal-7")
    refused = remote.run("apply", "--force", "--host", remote.url, profile)
    assert refused.code == 2, refused.out + refused.err
    assert f"the label one-run.journal of the volume {name}.one-run-journal-7 on {engine.runtime} at {remote.url}" \
        in refused.err
    assert "is damaged" in refused.err and "Traceback" not in refused.err
    assert f"export {SOCKETS[engine.runtime]}=" in refused.err
    assert engine.running_id(name) == before
    removal = re.search(r"remove it there \(`(.*?)`\)", refused.err).group(1)
    assert removal.endswith(f"{engine.runtime} volume rm {name}.one-run-journal-7"), removal
    engine.cli("volume", "rm", f"{name}.one-run-journal-7")
    again = remote.run("apply", "--host", remote.url, profile)
    assert again.code == 0 and "up to date" in again.out, again.out + again.err
