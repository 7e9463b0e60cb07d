"""Apply and rollback with data snapshots (issue 12), on the real engines.

apply's journaled swap takes the snapshot after the old container stopped (snapshot.plan
measured it before anything stopped), restores it in its undo before the old container
starts, and records a revision at its commit; `rollback` goes through the same swap.
"""
import json

import pytest
from conftest import run_cli
from datahelp import deploy, fill, forget_snapshots, listing


@pytest.fixture
def deployment(tmp_path, engine):
    profile, name, db = deploy(tmp_path / "d", engine, tag="s1")
    fill(engine, name)
    yield profile, name, db
    forget_snapshots(engine, name)


def _upgrade(profile, env: str = ""):
    text = profile.read_text().replace("standin:s1", "standin:s2")
    profile.write_text(text + (f"\n[env]\n{env}\n" if env else ""))


def test_an_upgrade_that_fails_after_migrating_puts_the_data_back(engine, deployment):
    profile, name, db = deployment
    old_id = engine.inspect(name)["Id"]
    before = listing(engine, db)
    _upgrade(profile, 'STANDIN_FAIL_AFTER_MIGRATE = "yes"')
    result = run_cli("apply", profile)
    assert result.code == 1, result.err
    assert "restored" in (result.out + result.err)
    assert engine.inspect(name)["Id"] == old_id and engine.inspect(name)["State"]["Running"]
    assert listing(engine, db) == before  # schema 1 again: the old version runs on it


def test_an_upgrade_records_its_snapshot_and_rollback_with_data_undoes_it(engine, deployment):
    profile, name, db = deployment
    before = listing(engine, db)
    _upgrade(profile)
    assert run_cli("apply", profile).code == 0
    assert engine.report(name).count("migrated: schema 1 -> 2") == 1
    revisions = json.loads(run_cli("history", profile, "--format", "json").out)["revisions"]
    assert revisions[0]["snapshot"] and revisions[0]["snapshot"]["volumes"][0]["source"] == db
    assert json.loads(run_cli("status", profile, "--format", "json").out)["snapshots"]["count"] == 1
    refused = run_cli("rollback", profile)
    assert refused.code == 2 and "--with-data" in refused.err
    result = run_cli("rollback", profile, "--with-data")
    assert result.code == 0, result.err
    assert "standin:s1" in engine.inspect(name)["Config"]["Image"]
    assert listing(engine, db) == before
    assert "BOOTSTRAP OK" in engine.report(name)
    # The rollback took a snapshot of the data it replaced: it can itself be undone.
    assert json.loads(run_cli("status", profile, "--format", "json").out)["snapshots"]["count"] == 2
