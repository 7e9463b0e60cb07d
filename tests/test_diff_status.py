"""diff names exactly the field that changed (never a secret's value); status tells the
container's state, applied hash, maintenance and bootstrap outcome, on both engines."""
import json
import shutil
import time
import uuid
from pathlib import Path

import pytest
from conftest import STANDIN, free_port, run_cli, standin_profile

from one_run.commands.status import bootstrap_outcome, render
from one_run.deploy.compare import compare
from one_run.model.normalize import Normal, normalize_image

PROFILES = Path(__file__).resolve().parent.parent / "profiles"


def tls_profile(engine, tmp_path, name, top=""):
    shutil.copytree(PROFILES / "full" / "certs", tmp_path / "certs")
    (tmp_path / "certs" / "cert.key").chmod(0o600)
    port = free_port()
    path = standin_profile(
        tmp_path, engine, name, top=top, container=f'ports = ["{port}:80"]\n',
        body='[env]\nOPENNEBULA_HOST = "one.example.com"\nONEADMIN_PASSWORD = { env = "ONE_PW" }\n\n'
             '[tls]\ncert = "certs/cert.pem"\nkey = "certs/cert.key"\n')
    return path, port


def diff_lines(profile):
    result = run_cli("diff", profile)
    assert result.code in (0, 1), result.err
    return result.code, result.out.splitlines()


def test_diff_names_exactly_the_field_that_changed(engine, tmp_path, monkeypatch):
    monkeypatch.setenv("ONE_PW", "first s3cret")
    name = engine.container_name()
    profile, port = tls_profile(engine, tmp_path, name)
    assert run_cli("apply", profile).code == 0
    code, lines = diff_lines(profile)
    assert code == 0 and lines[0].startswith("in sync"), lines  # no false difference

    text = profile.read_text()
    volume = text.split('volumes = ["')[1].split(":")[0]
    other_port, other_volume = free_port(), engine.volume_name()
    edits = {
        "env": (text.replace('"one.example.com"', '"two.example.com"'),
                "env.OPENNEBULA_HOST: one.example.com → two.example.com"),
        "port": (text.replace(f'"{port}:80"', f'"{other_port}:80"'), f"ports 80/tcp: {port}:80 → {other_port}:80"),
        "volume": (text.replace(volume, other_volume),
                   f"volumes /var/lib/one/datastores: {volume}:/var/lib/one/datastores → "
                   f"{other_volume}:/var/lib/one/datastores"),
        "image tag": (text.replace(f"{STANDIN}:1", f"{STANDIN}:2"), f"image: {STANDIN}:1 → {STANDIN}:2"),
        "maintenance": ("maintenance = true\n" + text,
                        "maintenance: off → on"),
    }
    for kind, (changed, expected) in edits.items():
        profile.write_text(changed)
        code, lines = diff_lines(profile)
        assert (code, lines) == (1, [expected]), kind
    profile.write_text(text)

    monkeypatch.setenv("ONE_PW", "second s3cret")
    result = run_cli("diff", profile)
    assert result.out.splitlines() == ["env.ONEADMIN_PASSWORD: changed (secret, values not shown)"]
    assert "s3cret" not in result.out + result.err
    monkeypatch.delenv("ONE_PW")
    unset = run_cli("diff", profile)  # as apply: a secret that cannot be read is bad input
    assert unset.code == 2 and "$ONE_PW" in unset.err
    monkeypatch.setenv("ONE_PW", "first s3cret")

    cert = tmp_path / "certs" / "cert.pem"
    cert.write_text(cert.read_text() + "\n")  # a renewed certificate: same path, new contents
    code, lines = diff_lines(profile)
    assert code == 1 and len(lines) == 1 and lines[0].startswith("tls.cert: as applied"), lines
    assert str(cert.resolve()) in lines[0]

    plan = run_cli("apply", profile, "--dry-run")  # the plan gives the same reasons
    assert f"  because: {lines[0]}" in plan.out.splitlines(), plan.out

    as_json = json.loads(run_cli("diff", profile, "--format", "json").out)
    assert as_json["in_sync"] is False and [d["field"] for d in as_json["differences"]] == ["tls.cert"]


def test_diff_and_status_without_a_container(engine, tmp_path, monkeypatch):
    monkeypatch.setenv("ONE_PW", "x")
    profile, _ = tls_profile(engine, tmp_path, engine.container_name())
    missing = run_cli("diff", profile)
    assert missing.code == 1 and missing.out.startswith("container: (none) →"), missing.out
    status = run_cli("status", profile)
    assert status.code == 1 and "no such container" in status.out


def status_json(profile):
    result = run_cli("status", profile, "--format", "json")
    assert result.code == 0, result.err
    return json.loads(result.out)


def test_status_of_a_running_then_a_maintenance_container(engine, tmp_path, monkeypatch):
    monkeypatch.setenv("ONE_PW", "s3cret")
    profile, _ = tls_profile(engine, tmp_path, engine.container_name())
    assert run_cli("apply", profile).code == 0
    text = run_cli("status", profile)
    assert text.code == 0
    assert "  in sync:     yes" in text.out.splitlines() and "  maintenance: off" in text.out.splitlines()
    assert "  bootstrap:   ok: BOOTSTRAP OK" in text.out.splitlines()
    report = status_json(profile)
    assert (report["state"], report["in_sync"], report["bootstrap"]["outcome"]) == ("running", True, "ok")
    labels = engine.inspect(report["container"])["Config"]["Labels"]
    assert report["applied"]["hash"] == labels["one-run.hash"] and report["applied"]["time"]
    assert report["image"]["ref"] == f"{STANDIN}:1" and report["image"]["id"]
    assert "s3cret" not in json.dumps(report)

    profile.write_text(profile.read_text().replace(f"{STANDIN}:1", f"{STANDIN}:2"))
    drift = status_json(profile)
    assert drift["in_sync"] is False and drift["differences"][0]["field"] == "image"

    assert run_cli("maintenance", "on", profile).code == 0
    report = status_json(profile)
    assert (report["maintenance"], report["in_sync"], report["bootstrap"]["outcome"]) == (True, True, "maintenance")
    assert "maintenance: on" in run_cli("status", profile).out


def test_status_of_a_failed_bootstrap(engine, tmp_path):
    name = engine.container_name()
    profile = standin_profile(tmp_path, engine, name)
    engine.cli("run", "-d", "--name", name, "-e", "TLS_CERT=/certs/missing.pem", f"{STANDIN}:1")
    deadline = time.monotonic() + 20
    while engine.inspect(name)["State"]["Status"] != "exited" and time.monotonic() < deadline:
        time.sleep(0.2)
    result = run_cli("status", profile)
    assert result.code == 1, result
    lines = result.out.splitlines()
    assert lines[1].startswith("  state:       exited, exit code 1")
    assert "  bootstrap:   FAILED: BOOTSTRAP FAILED: TLS_CERT=/certs/missing.pem is not readable" in lines
    assert "  applied:     not by one-run (no one-run.hash label)" in lines


@pytest.mark.parametrize("logs, outcome", [
    ("standin 1 bootstrap\nBOOTSTRAP OK\n", "ok"),
    ("BOOTSTRAP FAILED: onecfg patch line 2: x\n", "failed"),
    ("MAINTENANCE MODE: services not started\n", "maintenance"),
    ("BOOTSTRAP FAILED: x\nSIGTERM: stopping\nstandin 1 bootstrap\nBOOTSTRAP OK\n", "ok"),  # the last run wins
    ("INFO exited: opennebula-bootstrap (exit status 1; not expected)\n", "failed"),
    ("INFO exited: opennebula-bootstrap (exit status 0; expected)\n", "ok"),
    ("nothing to see\n", "unknown"),
])
def test_bootstrap_outcome_patterns(logs, outcome):
    assert bootstrap_outcome(logs)[0] == outcome


@pytest.mark.parametrize("ref, same", [
    ("opennebula/opennebula:6.0", "docker.io/opennebula/opennebula:6.0"),
    ("busybox", "docker.io/library/busybox:latest"),
    ("localhost/one-run-standin:1", "localhost/one-run-standin:1"),
    ("registry:5000/x", "registry:5000/x:latest"),
])
def test_image_references_compare_in_one_spelling(ref, same):
    assert normalize_image(ref) == normalize_image(same) == same


def test_a_moved_tag_is_the_only_difference(engine, tmp_path):
    """Only the tag moved: diff names the image ID, not a change made to the container after
    the apply (apply recreates for a moved tag)."""
    tag = f"moved-{uuid.uuid4().hex[:8]}"
    ref = f"{STANDIN}:{tag}"
    engine.cli("tag", f"{STANDIN}:1", ref)
    try:
        profile = standin_profile(tmp_path, engine, engine.container_name(), tag=tag)
        assert run_cli("apply", profile).code == 0
        assert diff_lines(profile)[0] == 0
        engine.cli("tag", f"{STANDIN}:2", ref)
        code, lines = diff_lines(profile)
        assert code == 1 and len(lines) == 1, lines
        assert lines[0].startswith("image id: ") and lines[0].endswith(f"{ref} now points to another image"), lines
    finally:  # the images keep their own tags :1 and :2
        engine.cli(*(["untag", ref, ref] if engine.runtime == "podman" else ["rmi", ref]), check=False)


def test_status_of_a_killed_container_gives_its_exit_code(engine, tmp_path):
    name = engine.container_name()
    profile = standin_profile(tmp_path, engine, name)
    engine.cli("run", "-d", "--name", name, f"{STANDIN}:1")
    assert "BOOTSTRAP OK" in engine.report(name)
    deadline = time.monotonic() + 20
    engine.cli("kill", name)  # SIGKILL, after a bootstrap that went well
    while engine.inspect(name)["State"]["Status"] != "exited" and time.monotonic() < deadline:
        time.sleep(0.2)
    lines = run_cli("status", profile).out.splitlines()
    assert "  bootstrap:   FAILED: (the container exited with code 137)" in lines, lines


def status_report(**changes):
    report = {"container": "one", "runtime": "docker", "exists": True, "id": "0" * 64, "state": "running",
              "exit_code": 0, "health": None, "started_at": None, "restart_count": 0,
              "image": {"ref": f"{STANDIN}:1", "id": "sha256:" + "1" * 64, "digest": None},
              "applied": {"time": None, "hash": None, "profile": None}, "in_sync": True,
              "maintenance": False, "profile_maintenance": False, "leftovers": [],
              "bootstrap": {"outcome": "ok", "line": "BOOTSTRAP OK"},
              "reboot": {"restart_policy": "always", "comes_back": True, "why": "docker.service is enabled", "fix": None}}
    report.update(changes)
    return report


def test_status_says_why_the_logs_could_not_be_read():
    lines = render(status_report(bootstrap={"outcome": "unknown", "line": "(logs could not be read: gone)"}))
    assert "  bootstrap:   unknown: (logs could not be read: gone)" in lines, lines
    lines = render(status_report(bootstrap={"outcome": "unknown", "line": None}))
    assert "  bootstrap:   unknown (no bootstrap message in the last log lines)" in lines, lines


def test_a_profile_port_without_host_port_takes_the_one_left():
    """["8080:80", "80"] against 8080 and the port the engine picked: no difference."""
    running = Normal({"ports": {"80/tcp": (("", 8080), ("", 41000))}})
    profile = Normal({"ports": {"80/tcp": (("", None), ("", 8080))}})  # as from_spec sorts them
    assert compare(running, profile) == []
    other = Normal({"ports": {"80/tcp": (("", None), ("", 8081))}})
    assert [d.line() for d in compare(running, other)] == ["ports 80/tcp: 8080:80, 41000:80 → 80, 8081:80"]


def test_diff_never_shows_a_value_whose_name_says_secret():
    running = Normal({"env": {"DB_PASS": "one", "SMTP_PASSPHRASE": "x", "API_AUTH": "y"}})
    profile = Normal({"env": {"DB_PASS": "two", "SMTP_PASSPHRASE": "z", "API_AUTH": "w"}})
    lines = [d.line() for d in compare(running, profile)]
    assert lines == [f"env.{n}: changed (secret, values not shown)" for n in ("DB_PASS", "SMTP_PASSPHRASE", "API_AUTH")]
