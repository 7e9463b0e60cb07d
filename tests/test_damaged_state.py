"""Damaged state never leads to a wrong decision: a journal cut short, garbled or written by a
newer one-run is refused with the file and the way out, touching nothing; a journal whose
containers are all gone is cleared, and the apply goes on."""
import contextlib
import json
import random
import subprocess

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


def test_a_damaged_revision_is_named_by_history_and_stops_a_rollback_that_could_need_it(tmp_path):
    profile = tmp_path / "one-run.toml"
    profile.write_text('runtime = "docker"\n[container]\nname = "one"\nimage = "img:1"\n')
    root = tmp_path / ".one-run" / "one-run" / "history"
    for number in (1, 2, 3):
        (root / str(number)).mkdir(parents=True)
        record = {"revision": number, "time": f"2026-12-0{number}T00:00:00Z", "runtime": "docker",
                  "profile_text": profile.read_text(), "image": {"ref": "img:1", "id": "sha256:1", "digest": None},
                  "container": {"id": str(number) * 64, "name": "one"}, "files": [], "snapshot": None, "version": 1}
        (root / str(number) / "revision.json").write_text(json.dumps(record))
    damaged = root / "2" / "revision.json"
    whole = damaged.read_bytes()
    cuts = sorted(random.Random(3).sample(range(len(whole)), 4))
    for text in [whole[:n] for n in cuts] + [json.dumps({"revision": 2, "version": 7}).encode()]:
        damaged.write_bytes(text)
        listed = run_cli("history", profile)
        assert listed.code == 0 and f"warning: {damaged}: revision 2 is damaged" in listed.err, listed.err
        assert "revision 3 " in listed.out and "revision 1 " in listed.out and "revision 2 " not in listed.out
        for argv in ((), ("--to", "1"), ("--to", "2")):
            refused = run_cli("rollback", profile, *argv)
            assert refused.code == 2 and "revision 2 is damaged" in refused.err and "Traceback" not in refused.err, \
                (argv, refused.err)


@contextlib.contextmanager
def small_disk(folder):
    """A 64 KiB tmpfs at `folder`, filled so that two pages (8 KiB) stay free."""
    folder.mkdir(parents=True, exist_ok=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)]).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        (folder / "fill").write_bytes(b"\0" * (56 << 10))
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)])


@pytest.fixture
def small_state_disk(tmp_path, monkeypatch):
    """The state folder on a small disk: the lock file takes one free page and the journal's first
    write the other, so the next write meets a full disk."""
    with small_disk(tmp_path / "small-state") as folder:
        monkeypatch.setenv("ONE_RUN_STATE_DIR", str(folder))
        yield folder


def test_a_full_disk_under_the_journal_puts_the_old_container_back_and_says_what_filled(engine, tmp_path,
                                                                                        small_state_disk):
    name = engine.container_name()
    profile = standin_profile(tmp_path, engine, name)
    (small_state_disk / "fill").unlink()  # room for the first apply
    assert run_cli("apply", profile).code == 0
    running = engine.running_id(name)
    (small_state_disk / "fill").write_bytes(b"\0" * (56 << 10))
    profile.write_text(profile.read_text().replace("[container]", '[container]\nlabels = { release = "2" }', 1))

    result = run_cli("apply", profile)

    assert result.code == 1, result.out + result.err
    assert "No space left on device" in result.err and str(small_state_disk) in result.err
    assert f"{name} is as it was" in result.err and "Traceback" not in result.err
    assert engine.running_id(name) == running and engine.names_like(name) == [name]


def test_a_full_disk_under_the_staged_copies_is_exit_3_and_changes_nothing(engine, tmp_path):
    name = engine.container_name()
    with small_disk(tmp_path / "deployment") as folder:
        (folder / "fill").unlink()
        hook = folder / "config" / "post.sh"
        hook.parent.mkdir()
        hook.write_text("#!/bin/sh\necho v1\n")
        hook.chmod(0o755)
        profile = standin_profile(folder, engine, name, body='[config]\npost_bootstrap_hook = "config/post.sh"\n')
        assert run_cli("apply", profile).code == 0
        running = engine.running_id(name)
        hook.write_text("#!/bin/sh\necho v2, a change that needs new staged copies\n")
        with open(folder / "fill", "wb", buffering=0) as fill, contextlib.suppress(OSError):
            while True:  # every page but none
                fill.write(b"\0" * 4096)

        result = run_cli("apply", profile)

        assert result.code == 3, result.out + result.err
        assert "could not write the staged copies" in result.err and "No space left on device" in result.err
        assert "nothing was changed" in result.err and "Traceback" not in result.err
        assert engine.running_id(name) == running and engine.names_like(name) == [name]
