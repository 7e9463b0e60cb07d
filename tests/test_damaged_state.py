"""Damaged state never leads to a wrong decision: a journal cut short, garbled or written by a
newer one-run is refused with the file and the way out, touching nothing; a journal whose
containers are all gone is cleared, and the apply goes on."""
import json
import random

import pytest
from conftest import run_cli, standin_profile

GONE_NEW, GONE_OLD = "d" * 64, "e" * 64


def journal_path(tmp_path, engine, name):
    return tmp_path / "one-run-state" / f"{engine.runtime}-{name}.journal"


def a_record(step="start", passed=False):
    return {"step": step, "new": GONE_NEW, "old": GONE_OLD, "old_running": True, "keep_previous": False,
            "carried": [], "passed": passed, "old_judge": None, "version": 1}


@pytest.fixture
def deployed(engine, tmp_path):
    name = engine.container_name()
    profile = standin_profile(tmp_path, engine, name)
    assert run_cli("apply", profile).code == 0
    return name, profile, engine.inspect(name)["Id"]


def test_a_cut_or_garbled_journal_is_refused_naming_it_and_nothing_is_touched(engine, tmp_path, deployed):
    name, profile, running = deployed
    path = journal_path(tmp_path, engine, name)
    whole = json.dumps(a_record(passed=True)).encode()  # read wrongly, it would finish: remove the old one
    rng = random.Random(24)
    damaged = [whole[:n] for n in sorted(rng.sample(range(len(whole)), 6))]
    damaged += [b"\x00" * 40, b"[1, 2]", json.dumps({**a_record(), "passed": "yes"}).encode(),
                json.dumps({**a_record(), "step": "teleport"}).encode()]
    for text in damaged:
        path.write_bytes(text)
        for argv in (("apply", profile), ("apply", profile, "--dry-run")):
            result = run_cli(*argv)
            assert result.code == 2, (text, result.out + result.err)
            assert f"{path}: the journal of an interrupted apply is damaged" in result.err
            assert f"delete {path} and run the apply again" in result.err and "Traceback" not in result.err
        assert engine.running_id(name) == running and engine.names_like(name) == [name]
        assert path.read_bytes() == text

    path.write_text(json.dumps({**a_record(), "version": 99}))
    newer = run_cli("apply", profile)
    assert newer.code == 2 and "a newer one-run wrote this journal" in newer.err, newer.err
    assert engine.running_id(name) == running


def test_a_journal_whose_containers_are_gone_is_cleared_and_the_apply_goes_on(engine, tmp_path, deployed):
    name, profile, running = deployed
    path = journal_path(tmp_path, engine, name)
    path.write_text(json.dumps(a_record()))

    result = run_cli("apply", profile)

    assert result.code == 0, result.out + result.err
    assert f"repair: {path} is the journal of an interrupted apply whose containers are all gone" in result.out
    assert "up to date" in result.out  # nothing else touched: the running container is kept
    assert engine.running_id(name) == running and not path.exists()
