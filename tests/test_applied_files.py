"""The copies a failed apply puts back: a profile's mounted files in, the same files out."""
import os

from one_run import applied_files


def files(tmp_path):
    cert, hook = tmp_path / "certs" / "cert.key", tmp_path / "config" / "hook.sh"
    for path, text, mode in ((cert, "key v1", 0o600), (hook, "#!/bin/sh\necho v1\n", 0o755)):
        path.parent.mkdir()
        path.write_text(text)
        path.chmod(mode)
    return str(tmp_path / "one-run.toml"), cert, hook


def test_changed_files_are_put_back_with_their_modes_and_the_new_versions_kept_beside(tmp_path):
    profile, cert, hook = files(tmp_path)
    applied_files.keep(profile, [str(cert), str(hook)], "old-id")
    store = tmp_path / ".one-run" / "one-run" / "applied"
    assert store.stat().st_mode & 0o777 == 0o700
    assert {p.stat().st_mode & 0o777 for p in store.iterdir()} == {0o600}
    hook.write_text("#!/bin/sh\nexit 7\n")
    cert.unlink()

    restored = dict(applied_files.put_back(profile, "old-id"))

    assert hook.read_text() == "#!/bin/sh\necho v1\n" and hook.stat().st_mode & 0o777 == 0o755
    assert cert.read_text() == "key v1" and cert.stat().st_mode & 0o777 == 0o600
    assert restored[str(cert)] is None  # it had gone: nothing to keep
    kept = restored[str(hook)]
    assert kept.startswith(f"{hook}.rejected-") and open(kept).read() == "#!/bin/sh\nexit 7\n"
    assert applied_files.put_back(profile, "old-id") == []  # all as applied now


def test_copies_of_another_container_are_not_put_back_and_stale_copies_go(tmp_path):
    profile, cert, hook = files(tmp_path)
    applied_files.keep(profile, [str(cert), str(hook)], "old-id")
    hook.write_text("#!/bin/sh\necho v2\n")
    applied_files.keep(profile, [str(hook)], "new-id")

    assert applied_files.put_back(profile, "old-id") == []
    assert hook.read_text() == "#!/bin/sh\necho v2\n"
    assert len(os.listdir(tmp_path / ".one-run" / "one-run" / "applied")) == 2  # the manifest and v2's copy
