"""`one-run backup` / `one-run restore` and `one-run history` on the real engines."""
import json
import os
import signal
import stat
import subprocess
import sys

import pytest
from conftest import run_cli
from datahelp import DAMAGE, deploy, fill, forget_snapshots, listing, on_volume, wait_for

from one_run.deploy import snapshot as snap
from one_run.deploy.history import record_revision
from one_run.deploy.state import HISTORY, LocalStore
from one_run.engines import get_engine
from one_run.model.profile import load_profile
from one_run.model.runspec import build_runspec


@pytest.fixture
def deployment(tmp_path, engine):
    profile, name, db = deploy(tmp_path / "d", engine)
    fill(engine, name)
    return profile, name, db


def test_backup_then_damage_then_restore_gives_the_data_back(tmp_path, engine, deployment):
    profile, name, db = deployment
    started = engine.inspect(name)["State"]["StartedAt"]
    out = tmp_path / "backup"
    result = run_cli("backup", profile, "-o", out)
    assert result.code == 0, result.err
    assert "was down" in result.out and engine.inspect(name)["State"]["Running"]
    assert engine.inspect(name)["State"]["StartedAt"] != started  # it was stopped for the copy
    manifest = json.loads((out / "manifest.json").read_text())
    # The DB and the image's anonymous VOLUME; the datastores are left out.
    assert [v["path"] for v in manifest["volumes"]] == ["/var/lib/mysql", "/var/lib/one/backups"]
    assert manifest["volumes"][0]["name"] == db
    assert manifest["profile_hash"] and manifest["image"]["id"]
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o700
    engine.cli("stop", name)
    before = listing(engine, db)
    engine.cli("start", name)
    on_volume(engine, db, DAMAGE)
    assert listing(engine, db) != before

    refused = run_cli("restore", profile, out)
    assert refused.code == 2 and "--yes" in refused.err
    result = run_cli("restore", profile, out, "--yes")
    assert result.code == 0, result.err
    assert engine.inspect(name)["State"]["Running"]
    engine.cli("stop", name)
    assert listing(engine, db) == before


def test_a_damaged_or_incomplete_backup_is_exit_2_and_touches_nothing(tmp_path, engine, deployment):
    profile, name, db = deployment
    out = tmp_path / "backup"
    assert run_cli("backup", profile, "-o", out).code == 0
    on_volume(engine, db, DAMAGE)
    container = engine.inspect(name)
    engine.cli("stop", name)
    damaged = listing(engine, db)
    engine.cli("start", name)
    container = engine.inspect(name)
    archive = out / json.loads((out / "manifest.json").read_text())["volumes"][0]["archive"]
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))
    result = run_cli("restore", profile, out, "--yes")
    assert result.code == 2 and "damaged" in result.err and "nothing was touched" in result.err
    archive.write_bytes(bytes(data[:len(data) // 2]))
    result = run_cli("restore", profile, out, "--yes")
    assert result.code == 2 and "incomplete or damaged" in result.err
    (out / "manifest.json").unlink()
    result = run_cli("restore", profile, out, "--yes")
    assert result.code == 2 and "no manifest.json" in result.err
    after = engine.inspect(name)
    assert after["Id"] == container["Id"] and after["State"]["StartedAt"] == container["State"]["StartedAt"]
    engine.cli("stop", name)
    assert listing(engine, db) == damaged


def test_backup_without_room_is_exit_3(tmp_path, engine, deployment):
    """A real small storage: a 2 MiB tmpfs for a 4 MiB volume."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    profile, name, db = deployment
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(small)], check=True)
    try:
        started = engine.inspect(name)["State"]["StartedAt"]
        result = run_cli("backup", profile, "-o", small / "b")
        assert result.code == 3 and "not enough room" in result.err and "Nothing was changed" in result.err
        assert engine.inspect(name)["State"]["StartedAt"] == started
    finally:
        subprocess.run(["umount", str(small)], check=True)


def _cli_process(*argv):
    return subprocess.Popen([sys.executable, "-m", "one_run", *map(str, argv)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_an_interrupted_backup_leaves_no_backup_and_the_container_running(tmp_path, engine, deployment):
    profile, name, db = deployment
    engine.sh(name, "dd if=/dev/urandom of=/var/lib/mysql/big bs=1M count=300 2>/dev/null")
    out = tmp_path / "backup"
    proc = _cli_process("backup", profile, "-o", out)
    wait_for(lambda: any(p.name.endswith(".partial") and p.stat().st_size > 0 for p in out.glob("*"))
             if out.exists() else proc.poll() is not None, what="the archive being written")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    assert "interrupted" in err and "runs again" in err
    assert list(out.iterdir()) == []
    assert engine.inspect(name)["State"]["Running"]
    assert run_cli("backup", profile, "-o", out).code == 0  # and it can be run again


def test_a_disk_that_fills_while_backup_writes_leaves_no_archive_and_the_container_running(tmp_path, engine,
                                                                                           deployment):
    """The room check passed, then something else filled the disk under -o DIR while the archive
    was written: no archive (a .partial is never left to look complete), the container runs again."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    profile, name, db = deployment
    engine.sh(name, "dd if=/dev/urandom of=/var/lib/mysql/big bs=1M count=80 2>/dev/null")
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200m", "tmpfs", str(small)], check=True)
    try:
        out = small / "backup"
        proc = _cli_process("backup", profile, "-o", out)
        wait_for(lambda: any(p.name.endswith(".partial") and p.stat().st_size > 0 for p in out.glob("*"))
                 if out.exists() else proc.poll() is not None, what="the archive being written")
        with open(small / "filler", "wb") as filler:  # another writer takes the rest of the disk
            try:
                while True:
                    filler.write(b"\0" * (1 << 20))
            except OSError:
                pass
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 1, err
        assert "No space left on device" in err and "no backup was written" in err and "Traceback" not in err, err
        assert list(out.iterdir()) == []
        assert engine.inspect(name)["State"]["Running"]
    finally:
        subprocess.run(["umount", "-l", str(small)], check=True)


def test_an_interrupted_restore_says_what_is_left_and_running_it_again_completes_it(tmp_path, engine, deployment):
    profile, name, db = deployment
    engine.sh(name, "dd if=/dev/urandom of=/var/lib/mysql/big bs=1M count=300 2>/dev/null")
    out = tmp_path / "backup"
    assert run_cli("backup", profile, "-o", out).code == 0
    engine.cli("stop", name)
    before = listing(engine, db)
    engine.cli("start", name)
    on_volume(engine, db, DAMAGE)
    proc = _cli_process("restore", profile, out, "--yes")
    helper = f"{name}-one-run-snapshot-restore"
    wait_for(lambda: engine.exists(helper) or proc.poll() is not None, what="the restore helper")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 4, err
    assert "partly restored" in err and f"one-run restore {profile}" in err
    assert not engine.inspect(name)["State"]["Running"]
    result = run_cli("restore", profile, out)  # stopped now: no --yes needed
    assert result.code == 0, result.err
    engine.cli("stop", name)
    assert listing(engine, db) == before


def test_history_lists_revisions_newest_first_with_snapshots(tmp_path, engine, deployment):
    profile, name, db = deployment
    eng = get_engine(engine.runtime)
    loaded = load_profile(profile)
    spec = build_runspec(loaded)
    try:
        first = record_revision(LocalStore(engine.runtime, name, str(profile)), eng, loaded, spec, eng.get(name), None)
        engine.cli("stop", name)
        taken = snap.take(eng, name, [(db, "/var/lib/mysql")], spec.image, say=lambda line: None)
        engine.cli("start", name)
        second = record_revision(LocalStore(engine.runtime, name, str(profile)), eng, loaded, spec, eng.get(name), taken)
        assert (first, second) == (2, 3)  # the deployment's apply recorded revision 1
        root = LocalStore(engine.runtime, name, str(profile)).path(HISTORY)
        assert stat.S_IMODE(os.stat(root).st_mode) == 0o700
        assert "[container]" in json.loads(open(os.path.join(root, "3", "revision.json")).read())["profile_text"]
        result = run_cli("history", profile, "--format", "json")
        assert result.code == 0, result.err
        revisions = json.loads(result.out)["revisions"]
        assert [r["revision"] for r in revisions] == [3, 2, 1]
        assert revisions[0]["snapshot"]["id"] == taken.id and revisions[0]["snapshot"]["state"] == "present"
        assert revisions[0]["container"]["id"] == engine.inspect(name)["Id"]
        text = run_cli("history", profile).out
        assert text.index("revision 3") < text.index("revision 2") < text.index("revision 1")
        assert f"snapshot {taken.id}" in text
        snap.prune(eng, name, 1, say=lambda line: None)
        kept = [s.id for s in snap.list_snapshots(eng, name)]
        assert kept == [taken.id]
    finally:
        forget_snapshots(engine, name)


def test_history_keeps_copies_of_the_mounted_files_private(tmp_path, engine):
    from conftest import standin_profile

    folder = tmp_path / "p"
    folder.mkdir()
    hook = folder / "config" / "pre.sh"
    hook.parent.mkdir()
    hook.write_text("#!/bin/sh\nexit 0\n")
    hook.chmod(0o755)
    name = engine.container_name()
    profile = standin_profile(folder, engine, name, body='[config]\npre_bootstrap_hook = "config/pre.sh"\n')
    assert run_cli("apply", profile).code == 0
    eng = get_engine(engine.runtime)
    loaded = load_profile(profile)
    number = record_revision(LocalStore(engine.runtime, name, str(profile)), eng, loaded, build_runspec(loaded), eng.get(name), None)
    record = json.loads(open(os.path.join(LocalStore(engine.runtime, name, str(profile)).path(HISTORY), str(number), "revision.json")).read())
    assert [f["path"] for f in record["files"]] == [str(hook)]
    copy = os.path.join(LocalStore(engine.runtime, name, str(profile)).path(HISTORY), str(number), "files", record["files"][0]["sha256"])
    assert open(copy).read() == hook.read_text() and stat.S_IMODE(os.stat(copy).st_mode) == 0o600
