"""The customizations reach the container: init's material read by the bootstrap, a renewed
certificate seen by diff and recreated by apply. Real engines, stand-in image."""
from conftest import example_on_standin, run_cli


def test_init_then_apply_on_podman_reads_tls_ssh_and_patch(podman_engine, tmp_path):
    assert run_cli("init", tmp_path / "deployment", "--fqdn", "one.example.com", "--runtime", "podman").code == 0
    profile = example_on_standin(tmp_path / "deployment" / "one-run.toml", podman_engine, tmp_path / "run")
    name = podman_engine.containers[-1]

    applied = run_cli("apply", profile)

    assert applied.code == 0, applied.err
    report = podman_engine.report(name)
    for line in ("TLS_CERT read: /certs/cert.pem", "TLS_KEY read: /certs/cert.key",
                 "ONEADMIN_SSH_PRIVKEY read: /ssh/id_rsa", "ONEADMIN_SSH_PUBKEY read: /ssh/id_rsa.pub",
                 "OPENNEBULA_ONECFG_PATCH read: /config/onecfg_patch",
                 "pre-bootstrap hook ran", "post-bootstrap hook ran", "BOOTSTRAP OK"):
        assert line in report


def test_a_renewed_certificate_shows_in_diff_and_apply_recreates(engine, tmp_path):
    assert run_cli("init", tmp_path / "deployment", "--fqdn", "one.example.com").code == 0
    profile = example_on_standin(tmp_path / "deployment" / "one-run.toml", engine, tmp_path / "run")
    name = engine.containers[-1]
    assert run_cli("apply", profile).code == 0
    before = engine.inspect(name)["Id"]
    assert run_cli("diff", profile).code == 0

    assert run_cli("tls", "renew", profile, "--days", "30").code == 0
    diff = run_cli("diff", profile)

    assert diff.code == 1 and "certs/cert.pem" in diff.out
    applied = run_cli("apply", profile)
    assert applied.code == 0, applied.err
    assert engine.inspect(name)["Id"] != before
    assert run_cli("diff", profile).code == 0
