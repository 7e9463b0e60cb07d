"""No engine flag goes unseen: every flag `docker create --help` and `podman create --help` print on this
machine is an option of the table, or is in options.FLAGS with what one-run does with it and why. A
new engine flag fails this test until someone decides."""
import os
import re
import shutil
import subprocess

import pytest

from one_run.model.options import FLAGS, OPTIONS

CLIS = {"docker": "/usr/bin/docker", "podman": "podman"}  # the 20.10 CLI that matches the daemon


def help_flags(cli: str):
    # Podman as a remote client (CONTAINER_HOST set) leaves out its local-only flags (--pidfile...):
    # the full set is what a container on this machine may have been made with.
    env = {k: v for k, v in os.environ.items() if k != "CONTAINER_HOST"}
    out = subprocess.run([cli, "create", "--help"], capture_output=True, text=True, check=True, env=env).stdout
    return set(re.findall(r"^\s+(?:-\w, )?(--[a-z0-9-]+)", out, re.M))


def table_flags():
    return {flag for option in OPTIONS for flag in re.findall(r"--[a-z0-9-]+", option.renders)}


@pytest.mark.parametrize("runtime", sorted(CLIS))
def test_every_create_flag_is_carried_or_decided(runtime):
    if not shutil.which(CLIS[runtime]):
        pytest.skip(f"no {runtime} CLI here")
    undecided = sorted(help_flags(CLIS[runtime]) - table_flags() - set(FLAGS))
    assert not undecided, (f"{runtime} create takes flags one-run has not decided about: {undecided}; add each to "
                           "the option table, or to options.FLAGS with what one-run does with it and why")


def test_the_decisions_name_only_flags_an_engine_has_and_the_table_does_not_carry():
    found = set().union(*(help_flags(cli) for cli in CLIS.values() if shutil.which(cli)))
    assert not set(FLAGS) - found, f"FLAGS decides about flags neither CLI has: {sorted(set(FLAGS) - found)}"
    assert not set(FLAGS) & table_flags(), "a flag is both in the table and in FLAGS"
