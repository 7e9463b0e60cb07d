"""Apply and rollback with data snapshots (issue 12), on the real engines.

apply's journaled swap takes the snapshot after the old container stopped (snapshot.plan
measured it before anything stopped), restores it in its undo before the old container
starts, and records a revision at its commit; `rollback` goes through the same swap.
"""
import json

import pytest
from conftest import STANDIN, run_cli
from datahelp import deploy, fill, forget_snapshots, listing, start_writer


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


def test_an_upgrade_under_a_writer_snapshots_the_data_as_it_stopped(engine, deployment):
    """A writer changes the DB volume at random in the old container until apply stops it: the
    room check measures it, the pre-copy copies it, and the snapshot taken after the stop holds
    exactly what the old container left, the new version's migration (schema, migrations and the
    folder's times) aside."""
    profile, name, db = deployment
    writer = start_writer(engine, name)
    try:
        _upgrade(profile)
        result = run_cli("apply", profile)
    finally:
        writer.kill()
    assert result.code == 0, result.err
    said = result.out + result.err
    assert "pre-copied" in said and "Traceback" not in said, said
    copied_again = int(said.split("up to date and verified")[1].split("(")[1].split()[0])
    assert copied_again > 0, said  # the writer changed files after the pre-copy read them

    def without_migration(text):
        return [line for line in text.splitlines() if not line.startswith(("./schema ", "./migrations ", ". "))
                and not line.endswith(("  ./schema", "  ./migrations"))]

    history = json.loads(run_cli("history", profile, "--format", "json").out)
    taken = history["revisions"][0]["snapshot"]
    copy = next(v["copy"] for v in taken["volumes"] if v["source"] == db)
    assert without_migration(listing(engine, copy)) == without_migration(listing(engine, db))
    assert engine.cli("run", "--rm", "-v", f"{copy}:/v:ro", "--entrypoint", "cat", f"{STANDIN}:s1",
                      "/v/schema").stdout == "1\n"
