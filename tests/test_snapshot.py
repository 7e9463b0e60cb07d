"""Data snapshots on the real engines: take and restore byte for byte, room, keep, interrupts,
and the upgrade that fails after migrating the database, undone with a snapshot."""
import json
import subprocess
import sys
import textwrap

import pytest
from conftest import STANDIN, run_cli
from datahelp import DAMAGE, DB, deploy, fill, forget_snapshots, listing, on_volume, snapshot_volumes_of, start_writer

from one_run.common.errors import NotEnoughRoom
from one_run.deploy import snapshot as snap
from one_run.engines import get_engine
from one_run.model.profile import SnapshotPolicy, load_profile
from one_run.model.runspec import build_runspec


@pytest.fixture
def deployment(tmp_path, engine):
    profile, name, db = deploy(tmp_path / "d", engine)
    fill(engine, name)
    yield profile, name, db
    forget_snapshots(engine, name)


def test_take_and_restore_are_byte_identical(engine, deployment):
    profile, name, db = deployment
    eng = get_engine(engine.runtime)
    engine.cli("stop", name)
    before = listing(engine, db)
    lines = []
    taken = snap.take(eng, name, [(db, DB)], f"{STANDIN}:s1", say=lines.append)
    assert "pre-copied" in lines[-2] and "/s" in lines[-2] and "verified" in lines[-1]
    copy = taken.volumes[0].copy
    labels = json.loads(engine.cli("volume", "inspect", copy).stdout)[0]["Labels"]
    assert labels["one-run.snapshot"] == name and labels["one-run.snapshot-of"] == db
    assert listing(engine, copy) == before  # the copy itself is exact
    on_volume(engine, db, DAMAGE)
    assert listing(engine, db) != before
    restored = snap.restore(eng, taken, say=lines.append)
    assert listing(engine, db) == before
    assert set(restored.digests) == {db} and "verified" in lines[-1]
    assert snap.list_snapshots(eng, name) == [taken]


def test_a_snapshot_precopied_under_a_writer_equals_the_stopped_data(engine, deployment):
    """The pre-copy runs while a writer changes the volume at random; after the stop, the
    snapshot must equal the stopped volume under the checksum listing (contents included)."""
    profile, name, db = deployment
    eng = get_engine(engine.runtime)
    writer = start_writer(engine, name)
    lines = []
    try:
        prepared = snap.precopy(eng, snap.prepare(eng, name, [(db, DB)], f"{STANDIN}:s1"), say=lines.append)
        engine.cli("stop", name)
    finally:
        writer.kill()
    before = listing(engine, db)
    taken = snap.complete(eng, prepared, say=lines.append)
    assert listing(engine, taken.volumes[0].copy) == before
    again = int(lines[-1].split("(")[-1].split()[0])
    assert again > 0, lines[-1]  # the writer did change things after the pre-copy read them


def test_a_name_with_a_newline_has_the_volume_copied_again_whole(engine, deployment):
    """The delta reads names one a line: a name holding a newline could read as another entry's."""
    profile, name, db = deployment
    eng = get_engine(engine.runtime)
    engine.sh(name, f"cd {DB} && echo one > \"$(printf 'a\\nf 0 .')\" && echo 1 > counter")
    prepared = snap.precopy(eng, snap.prepare(eng, name, [(db, DB)], f"{STANDIN}:s1"), say=lambda line: None)
    engine.sh(name, f"echo 22 > {DB}/counter && rm -rf {DB}/empty")
    engine.cli("stop", name)
    before = listing(engine, db)
    lines = []
    taken = snap.complete(eng, prepared, say=lines.append)
    assert listing(engine, taken.volumes[0].copy) == before
    assert "copied again whole: a name in it holds a newline" in lines[-1]


def test_not_enough_room_is_exit_3_and_changes_nothing(engine, deployment):
    """Real room, no seam: a sparse file larger than the engine's free storage (cp would write it
    whole), so the copy cannot fit."""
    profile, name, db = deployment
    eng = get_engine(engine.runtime)
    _, free = snap.measure(eng, [(db, DB)], f"{STANDIN}:s1", name)
    engine.sh(name, f"truncate -s {free + (1 << 30)} {DB}/sparse")
    before = engine.inspect(name)["State"]
    with pytest.raises(NotEnoughRoom) as caught:
        snap.room_check(eng, [(db, DB)], f"{STANDIN}:s1", name)
    assert caught.value.exit_code == 3
    assert "needs" in caught.value.message and "free" in caught.value.message and "Nothing was changed" in caught.value.message
    assert engine.inspect(name)["State"]["StartedAt"] == before["StartedAt"] and engine.inspect(name)["State"]["Running"]
    assert snapshot_volumes_of(engine, name) == []  # the probe volume is gone too


def test_keep_prunes_only_its_own_oldest_snapshots(engine, deployment):
    profile, name, db = deployment
    eng = get_engine(engine.runtime)
    engine.cli("stop", name)
    taken = [snap.take(eng, name, [(db, DB)], f"{STANDIN}:s1", say=lambda line: None) for _ in range(3)]
    # An interrupted take's volume (no marker), and a volume of someone else's.
    engine.cli("volume", "create", "--label", f"one-run.snapshot={name}", "--label", "one-run.snapshot-id=x",
               "--label", f"one-run.snapshot-of={db}", f"{db}-one-run-snap-x")
    other = engine.volume_name()
    engine.cli("volume", "create", other)
    said = []
    removed = snap.prune(eng, name, 2, say=said.append)
    assert removed == [taken[0].id]
    assert [s.id for s in snap.list_snapshots(eng, name)] == [taken[2].id, taken[1].id]
    assert any(taken[0].id in line and "keep = 2" in line for line in said)
    assert any("interrupted" in line for line in said)
    left = set(snapshot_volumes_of(engine, name))
    assert left == {t.volumes[0].copy for t in taken[1:]} | {t.marker for t in taken[1:]}
    assert engine.cli("volume", "inspect", other, check=False).returncode == 0
    assert engine.cli("volume", "inspect", db, check=False).returncode == 0


def test_status_shows_snapshot_count_and_size(engine, deployment):
    profile, name, db = deployment
    eng = get_engine(engine.runtime)
    engine.cli("stop", name)
    taken = snap.take(eng, name, [(db, DB)], f"{STANDIN}:s1", say=lambda line: None)
    result = run_cli("status", profile, "--format", "json")
    report = json.loads(result.out)
    assert report["snapshots"] == {"count": 1, "bytes": taken.bytes, "newest": taken.id}
    assert "snapshots:   1, 4." in run_cli("status", profile).out


# Ctrl-C at the first look at the running helper: the copy is under way. The script interrupts
# itself there, so the point does not depend on how fast this machine copies.
INTERRUPTIBLE = textwrap.dedent("""
    import os, signal, sys
    from one_run.engines import get_engine
    from one_run.deploy import snapshot as snap
    runtime, name, db, image, what = sys.argv[1:]
    eng = get_engine(runtime)
    look = type(eng).get
    def get(self, cid):
        info = look(self, cid)
        if info is not None and info.name == f"{name}-one-run-snapshot-{what}":
            os.kill(os.getpid(), signal.SIGINT)
        return info
    type(eng).get = get
    if what == "take":
        snap.take(eng, name, [(db, "/var/lib/mysql")], image)
    else:
        snap.restore(eng, snap.list_snapshots(eng, name)[0])
""")


def _interrupt(engine, name, db, what):
    proc = subprocess.run([sys.executable, "-c", INTERRUPTIBLE, engine.runtime, name, db, f"{STANDIN}:s1", what],
                          capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stderr


def test_an_interrupted_take_leaves_no_snapshot_and_can_be_run_again(engine, deployment):
    profile, name, db = deployment
    eng = get_engine(engine.runtime)
    engine.sh(name, f"dd if=/dev/urandom of={DB}/big bs=1M count=200 2>/dev/null")
    engine.cli("stop", name)
    code, err = _interrupt(engine, name, db, "take")
    assert code != 0 and "KeyboardInterrupt" in err
    assert snap.list_snapshots(eng, name) == []
    assert snapshot_volumes_of(engine, name) == []  # the partial copy was removed
    assert not engine.exists(f"{name}-one-run-snapshot-take")
    before = listing(engine, db)
    taken = snap.take(eng, name, [(db, DB)], f"{STANDIN}:s1", say=lambda line: None)
    assert listing(engine, taken.volumes[0].copy) == before


def test_an_interrupted_restore_is_completed_by_running_it_again(engine, deployment):
    profile, name, db = deployment
    eng = get_engine(engine.runtime)
    engine.sh(name, f"dd if=/dev/urandom of={DB}/big bs=1M count=200 2>/dev/null")
    engine.cli("stop", name)
    before = listing(engine, db)
    snap.take(eng, name, [(db, DB)], f"{STANDIN}:s1", say=lambda line: None)
    on_volume(engine, db, DAMAGE)
    code, err = _interrupt(engine, name, db, "restore")
    assert code != 0 and "KeyboardInterrupt" in err
    assert not engine.exists(f"{name}-one-run-snapshot-restore")
    snap.restore(eng, snap.list_snapshots(eng, name)[0], say=lambda line: None)
    assert listing(engine, db) == before


def test_an_upgrade_that_fails_after_migrating_is_undone_with_the_snapshot(tmp_path, engine):
    """The pipeline's steps by hand on the engine (stop, take, start the new image, it fails
    after migrating; restore, start the old): the old version runs again on its own schema."""
    profile, name, db = deploy(tmp_path / "d", engine, tag="s1")
    try:
        fill(engine, name)
        eng = get_engine(engine.runtime)
        spec = build_runspec(load_profile(profile))
        volumes = snap.snapshot_volumes(spec, (), SnapshotPolicy())
        assert volumes == [(db, DB)]  # the datastores are left out by default
        snap.room_check(eng, volumes, f"{STANDIN}:s1", name)
        engine.cli("stop", name)
        before = listing(engine, db)
        taken = snap.take(eng, name, volumes, f"{STANDIN}:s1", say=lambda line: None)
        new = engine.container_name()
        failed = engine.cli("run", "--name", new, "-e", "STANDIN_FAIL_AFTER_MIGRATE=yes", "-v", f"{db}:{DB}",
                            f"{STANDIN}:s2", check=False)
        assert failed.returncode == 1 and "migrated: schema 1 -> 2" in failed.stdout
        engine.cli("rm", new)
        # Without the snapshot, the old version would refuse the migrated database:
        assert listing(engine, db) != before
        snap.restore(eng, taken, say=lambda line: None)
        assert listing(engine, db) == before
        engine.cli("start", name)
        assert "BOOTSTRAP OK" in engine.report(name).split("standin 1 bootstrap")[-1]
    finally:
        forget_snapshots(engine, name)


def test_snapshot_table_is_checked_with_file_key_and_line(tmp_path):
    profile = tmp_path / "one-run.toml"
    profile.write_text('[container]\nname = "one"\nimage = "x:1"\nvolumes = ["db:/var/lib/mysql", "/srv/a:/a"]\n\n'
                       '[snapshot]\nwhen = "image-changes"\nvolumes = ["dbb", "/a"]\nkeep = 0\n')
    result = run_cli("validate", profile)
    assert result.code == 2
    assert f"{profile}:7 [snapshot.when]" in result.err and 'did you mean "image-change"' in result.err
    assert f"{profile}:8 [snapshot.volumes]" in result.err and "did you mean 'db'" in result.err
    assert "bind mount of host folder /srv/a" in result.err
    assert f"{profile}:9 [snapshot.keep]" in result.err


def test_default_snapshot_volumes_leave_out_datastores_and_logs(tmp_path):
    profile = tmp_path / "one-run.toml"
    profile.write_text('[container]\nname = "one"\nimage = "x:1"\nvolumes = ["db:/var/lib/mysql", '
                       '"ds:/var/lib/one/datastores", "logs:/var/log/one", "/srv/a:/a"]\n')
    spec = build_runspec(load_profile(profile))
    carried = (("a" * 64, "/var/lib/one/.one"), ("b" * 64, "/var/log"))
    assert snap.snapshot_volumes(spec, carried, SnapshotPolicy()) == [("db", "/var/lib/mysql"),
                                                                      ("a" * 64, "/var/lib/one/.one")]
    chosen = SnapshotPolicy(volumes=("/var/lib/one/datastores", "db"))
    assert snap.snapshot_volumes(spec, carried, chosen) == [("ds", "/var/lib/one/datastores"), ("db", "/var/lib/mysql")]
    with pytest.raises(Exception) as caught:
        snap.snapshot_volumes(spec, carried, SnapshotPolicy(volumes=("/nowhere",)))
    assert caught.value.exit_code == 2 and "/nowhere" in caught.value.message


def test_plan_snapshots_on_an_image_change_by_default(tmp_path, engine):
    profile, name, db = deploy(tmp_path / "d", engine, tag="s1")
    eng = get_engine(engine.runtime)
    spec = build_runspec(load_profile(profile))
    current = eng.get(name)
    new_image = eng.image_attrs(f"{STANDIN}:s2")["Id"]
    planned = snap.plan(eng, SnapshotPolicy(), spec, current, (), new_image)
    assert planned.volumes == ((db, DB),) and planned.image == current.image_id and planned.free > 0
    assert any(db in line for line in planned.lines()) and "free" in planned.lines()[0]
    assert snap.plan(eng, SnapshotPolicy(), spec, current, (), current.image_id) is None
    assert snap.plan(eng, SnapshotPolicy(when="always"), spec, current, (), current.image_id) is not None
    assert snap.plan(eng, SnapshotPolicy(when="never"), spec, current, (), new_image) is None
    assert snapshot_volumes_of(engine, name) == []  # the probe volume was removed
