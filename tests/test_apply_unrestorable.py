"""The paths the real engines cannot be made to take on demand: the new container fails AND
putting the old one back fails too; an SDK that raises what it should not. A fake engine
stands in; the outcome is exit 4 with the state and how to recover."""
from dataclasses import replace

from conftest import run_cli

from one_run.common.errors import EngineError
from one_run.engines import ContainerInfo, Endpoint, Engine
from one_run.model.values import parse_host

OLD, NEW = "a" * 64, "b" * 64


class BrokenEngine(Engine):
    """An engine where the new container never starts and the old one cannot be renamed back."""

    runtime = "docker"
    endpoint = Endpoint("docker", "unix:///fake.sock", parse_host("unix:///fake.sock"))

    def __init__(self):
        self.containers = {OLD: ContainerInfo(OLD, "opennebula", "img", "sha256:1", "running", 0, {}, {"Mounts": []})}

    def get(self, name_or_id):
        return next((c for c in self.containers.values() if name_or_id in (c.id, c.name)), None)

    def image_attrs(self, ref):
        return {"Id": "sha256:1", "Config": {}}

    def create(self, request):
        self.containers[NEW] = ContainerInfo(NEW, request.name, "img", "sha256:1", "created", 0, {}, {})
        return NEW

    def start(self, cid):
        if cid == NEW:
            raise EngineError("docker: start failed: no such device")
        self.containers[cid] = replace(self.containers[cid], status="running")

    def stop(self, cid):
        self.containers[cid] = replace(self.containers[cid], status="exited")

    def rename(self, cid, name):
        if cid == OLD and name == "opennebula":
            raise EngineError("docker: rename failed: the daemon went away")
        self.containers[cid] = replace(self.containers[cid], name=name)

    def remove(self, cid):
        del self.containers[cid]

    def logs(self, cid, tail):
        return ""

    def names_starting(self, prefix):
        return sorted((c.name, c.status) for c in self.containers.values() if c.name.startswith(prefix))


def test_a_failure_that_cannot_be_undone_exits_4_with_recovery_commands(tmp_path, monkeypatch):
    profile = tmp_path / "p.toml"
    profile.write_text('settle_time = 0\n[container]\nname = "opennebula"\nimage = "img"\n')
    engine = BrokenEngine()
    monkeypatch.setattr("one_run.deploy.apply.get_engine", lambda runtime: engine)

    result = run_cli("apply", profile, "--force")

    assert result.code == 4
    assert "restoring the previous container failed too" in result.err
    assert f"previous: {OLD[:12]} named opennebula-one-run-old, exited" in result.err
    assert f"docker rename {OLD[:12]} opennebula" in result.err and "docker start opennebula" in result.err
    assert "no volume was removed" in result.err


def test_an_unexpected_exception_is_exit_4_with_a_way_to_find_the_state(tmp_path, monkeypatch):
    profile = tmp_path / "p.toml"
    profile.write_text('settle_time = 0\n[container]\nname = "opennebula"\nimage = "img"\n')
    engine = BrokenEngine()
    monkeypatch.setattr(engine, "create", lambda request: int(None))  # as podman-py did with `-p 127.0.0.1::80`
    monkeypatch.setattr("one_run.deploy.apply.get_engine", lambda runtime: engine)

    result = run_cli("apply", profile, "--force")

    assert result.code == 4
    assert "Traceback" in result.err and "unexpected TypeError" in result.err and "one-run status" in result.err


def test_an_engine_gone_in_the_middle_of_a_swap_is_exit_4_saying_what_is_left(tmp_path, monkeypatch):
    """A remote engine's transport dropped after the new container was made (seen over SSH):
    every later call fails, the undo's own first look included. Not exit 3, "nothing changed"."""
    profile = tmp_path / "p.toml"
    profile.write_text('settle_time = 0\n[container]\nname = "opennebula"\nimage = "img"\n')
    engine = BrokenEngine()
    made = engine.create

    def create_then_go_away(request):
        cid = made(request)
        gone = EngineError("docker: the connection to the engine was lost")
        for method in ("get", "stop", "start", "rename", "remove", "logs", "names_starting"):
            monkeypatch.setattr(engine, method, lambda *args, **kwargs: (_ for _ in ()).throw(gone))
        return cid

    monkeypatch.setattr(engine, "create", create_then_go_away)
    monkeypatch.setattr("one_run.deploy.apply.get_engine", lambda runtime: engine)

    result = run_cli("apply", profile, "--force")

    assert result.code == 4, result.err
    assert "restoring the previous container failed too" in result.err and "no volume was removed" in result.err
