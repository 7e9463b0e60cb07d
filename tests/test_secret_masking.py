"""No secret in what one-run echoes from a container: a hook that prints its environment puts
every secret value into the log, and apply's progress and failure lines quote that log."""
from conftest import run_cli, standin_profile

from one_run.model.secrets import MASK, mask

SECRETS = {"env": "s3cret-from-env-4711", "file": "s3cret-from-file-4712", "pass": "s3cret-passed-4713"}


def test_mask_hides_every_value_and_each_line_of_a_long_one_the_longest_first():
    text = "A=abc-def\nB=abc\nkey: line one\nline two\nonly line two here\nplain"
    assert mask(text, ["abc", "abc-def", "line one\nline two", ""]) == \
        f"A={MASK}\nB={MASK}\nkey: {MASK}\nonly {MASK} here\nplain"


def test_a_hook_that_prints_its_environment_echoes_no_secret(engine, tmp_path, monkeypatch):
    monkeypatch.setenv("ONE_RUN_TEST_SECRET", SECRETS["env"])
    monkeypatch.setenv("ONE_RUN_TEST_PASSED", SECRETS["pass"])
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "mysql").write_text(SECRETS["file"] + "\n")
    (tmp_path / "secrets" / "mysql").chmod(0o600)
    hook = tmp_path / "config" / "post.sh"
    hook.parent.mkdir()
    hook.write_text("#!/bin/sh\nenv | sort\nsleep 2\nenv | grep PASSWORD\nexit 1\n")
    hook.chmod(0o755)
    name = engine.container_name()
    profile = standin_profile(
        tmp_path, engine, name, container='pass_env = ["ONE_RUN_TEST_PASSED"]\n',
        body='[config]\npost_bootstrap_hook = "config/post.sh"\n\n[env]\n'
             'ONEADMIN_PASSWORD = { env = "ONE_RUN_TEST_SECRET" }\nMYSQL_PASSWORD = { file = "secrets/mysql" }\n',
        watch='ready_log = "STANDIN READY"\ntimeout = 20\n')

    result = run_cli("apply", profile)

    assert result.code == 1, result.out + result.err
    echoed = result.out + result.err
    assert "last log lines of the new container" in echoed and f"ONEADMIN_PASSWORD={MASK}" in echoed
    for kind, value in SECRETS.items():
        assert value not in echoed, f"the {kind} secret was echoed"
