"""Capture fidelity on the real engines: containers made with the engine's own CLI, captured,
applied under another name, and compared by their normalised inspect documents.

A case is exact when the copy's normalised configuration (and the options the profile has
no key for) equals the original's. A case that is not exact must have been named by capture:
nothing may be lost silently. Each case is a test of its own, so that the two workers share them.
"""
import os
import subprocess

import pytest
from conftest import STANDIN, TestEngine, ipv6_prefix, run_cli

from one_run.engines import get_engine
from one_run.model.normalize import from_inspect

DOCKER_CLI = "/usr/bin/docker"  # the 20.10 CLI matching the daemon; the 28.x one refuses some options

# (case, run arguments, runtimes); {dir}, {volume}, {network}, {prefix}, {prefix6} are filled in per run
# (the network's subnets are {prefix}.0/24 and {prefix6}::/64).
CASES = [
    ("plain", [], "docker podman"),
    ("hostname", ["--hostname", "one.example.com"], "docker podman"),
    ("restart", ["--restart", "on-failure:3"], "docker podman"),
    ("env", ["-e", "A=1", "-e", "B=two words"], "docker podman"),
    ("named volume", ["-v", "{volume}:/data"], "docker podman"),
    ("source mounted twice", ["-v", "{dir}:/a", "-v", "{dir}:/b:ro", "-v", "{volume}:/c", "-v", "{volume}:/d:ro"],
     "docker podman"),
    ("label", ["--label", "org.example.owner=cloud"], "docker podman"),
    ("caps", ["--cap-add", "NET_ADMIN", "--cap-drop", "SETFCAP"], "docker podman"),
    ("dns", ["--dns", "192.0.2.53", "--dns-search", "example.com", "--dns-option", "ndots:2"], "docker podman"),
    ("add-host", ["--add-host", "db.example.com:192.0.2.10"], "docker podman"),
    ("tmpfs", ["--tmpfs", "/scratch:size=16m"], "docker podman"),
    ("shm-size", ["--shm-size", "128m"], "docker podman"),
    ("memory", ["--memory", "512m", "--memory-reservation", "256m"], "docker podman"),
    ("memory-swap", ["--memory", "512m", "--memory-swap", "768m"], "docker podman"),
    ("cpus", ["--cpus", "0.5"], "docker podman"),
    ("cpu shares and set", ["--cpu-shares", "512", "--cpuset-cpus", "0"], "docker podman"),
    ("pids-limit", ["--pids-limit", "512"], "docker podman"),
    ("oom-score-adj", ["--oom-score-adj", "100"], "docker podman"),
    ("ulimit", ["--ulimit", "nofile=1024:2048", "--ulimit", "nproc=1024:1024"], "docker podman"),
    ("stop", ["--stop-timeout", "33", "--stop-signal", "SIGINT"], "docker podman"),
    ("user and workdir", ["--user", "root", "--workdir", "/tmp"], "docker podman"),
    ("tty", ["-t", "-i"], "docker podman"),
    ("init", ["--init"], "docker"),
    ("log-opt (silent 3)", ["--log-opt", "max-size=10m"], "docker podman"),
    ("log-driver", ["--log-driver", "none"], "docker podman"),
    ("log-driver with options", ["--log-driver", "local", "--log-opt", "max-size=10m"], "docker"),
    ("expose (silent 4)", ["--expose", "9999"], "docker podman"),
    ("sysctl", ["--sysctl", "net.ipv4.tcp_keepalive_time=600"], "docker podman"),
    ("group-add", ["--group-add", "42"], "docker podman"),
    ("pid host", ["--pid", "host"], "docker podman"),
    ("ipc none", ["--ipc", "none"], "docker podman"),
    ("uts host", ["--uts", "host"], "docker podman"),
    ("device", ["--device", "/dev/null:/dev/one-null:r"], "docker podman"),
    ("security-opt", ["--security-opt", "no-new-privileges"], "docker podman"),
    ("domainname", ["--domainname", "example.com"], "docker"),
    ("mac-address", ["--mac-address", "02:42:ac:11:00:98"], "docker"),
    ("privileged", ["--privileged"], "podman"),
    ("ip and alias (silent 2)", ["--network", "{network}", "--ip", "{prefix}.10", "--network-alias", "frontend"],
     "docker podman"),
    ("ip6 (silent 2)", ["--network", "{network}", "--ip6", "{prefix6}::10"], "docker podman"),
    ("healthcheck", ["--health-cmd", "true", "--health-interval", "1s", "--health-timeout", "5s",
                     "--health-retries", "4", "--health-start-period", "10s"], "docker podman"),
    ("no-healthcheck", ["--no-healthcheck"], "docker podman"),
    ("runtime runc", ["--runtime", "runc"], "docker"),
    ("bare env (silent 5)", ["-e", "ONE_RUN_UNSET"], "docker podman"),
    ("bare env set", ["-e", "ONE_RUN_SET"], "docker podman"),
    ("--mount volume (silent 6)", ["--mount", "type=volume,source={volume},target=/data"], "docker podman"),
    ("--mount volume read-only", ["--mount", "type=volume,source={volume},target=/data,ro"], "docker podman"),
    ("--mount bind", ["--mount", "type=bind,source={dir},target=/x,readonly"], "docker podman"),
    ("--mount tmpfs", ["--mount", "type=tmpfs,target=/scratch,tmpfs-size=16m,tmpfs-mode=1770"], "docker podman"),
    ("publish-all", ["-P", "--expose", "9100"], "docker podman"),
    # Not carried, and named by capture and diff (options.FLAGS says why each is not carried).
    ("memory-swappiness (named)", ["--memory-swappiness", "10"], "docker podman"),
    ("podman's own: umask, tz, timeout, annotation (named)", ["--umask", "0077", "--tz", "UTC", "--timeout", "3600",
                                                              "--annotation", "one.run/test=yes"], "podman"),
    ("podman's create command: no-hosts, personality, sdnotify (named)", ["--no-hosts", "--personality", "LINUX32",
                                                                          "--sdnotify", "conmon"], "podman"),
    ("cpuset-mems", ["--cpuset-mems", "0"], "docker podman"),
    # Options together, as a real container carries them: each alone passing says little of the mix.
    ("resources, ports and publish-all together", ["--cpuset-cpus", "0", "--cpuset-mems", "0", "-P", "--expose",
                                                   "9100", "-p", "127.0.0.1::8080", "-p", "2222:22", "--memory",
                                                   "64m", "--pids-limit", "300", "--restart", "on-failure:3"],
     "docker podman"),
    ("customization mounts, env and health together", ["-v", "{dir}:/config:ro", "-e", "OPENNEBULA_HOST=one.example",
                                                       "-e", "ONE_RUN_SET", "--health-cmd", "true",
                                                       "--health-interval", "5s", "--hostname", "one.example",
                                                       "--stop-timeout", "45", "--init"], "docker podman"),
]


def _fill(args, values):
    return [a.format(**values) for a in args]


def _configuration(runtime: str, name: str):
    backend = get_engine(runtime)
    info = backend.get(name)
    normal = from_inspect(info.attrs, backend.image_attrs(info.image_id), runtime)
    return normal.fields, normal.extras


@pytest.fixture(scope="module")
def networks():
    """One dual-stack test network per engine for the module's cases (a network per case would
    cost more than the case), removed after them."""
    made = {}

    def network(engine):
        if engine.runtime not in made:
            keeper = TestEngine(engine.runtime)
            made[engine.runtime] = (keeper, *keeper.network())
        return made[engine.runtime][1:]
    yield network
    for keeper, _, _ in made.values():
        keeper.cleanup()


@pytest.mark.parametrize("case,runtime", [(case, runtime) for case, _, runtimes in CASES
                                          for runtime in runtimes.split()])
def test_capture_then_apply_recreates_what_the_cli_made(runtime, case, request, networks, tmp_path, monkeypatch):
    """One case: exact, or each difference named by capture; never silent, and apply succeeds."""
    args = next(args for name, args, _ in CASES if name == case)
    engine = request.getfixturevalue(f"{runtime}_engine")
    monkeypatch.delenv("ONE_RUN_UNSET", raising=False)
    monkeypatch.setenv("ONE_RUN_SET", "from the caller")  # for the CLI's -e ONE_RUN_SET and for apply
    network, prefix = networks(engine)
    folder = tmp_path / "dir"
    folder.mkdir()
    cli = DOCKER_CLI if engine.runtime == "docker" else "podman"
    name, volume = engine.container_name(), engine.volume_name()
    run_args = _fill(args, {"dir": folder, "volume": volume, "network": network, "prefix": prefix,
                            "prefix6": ipv6_prefix(prefix)})
    subprocess.run([cli, "run", "-d", "--name", name, *run_args, f"{STANDIN}:1"], check=True,
                   capture_output=True, text=True, env=dict(os.environ))
    out = tmp_path / "captured" / "one-run.toml"
    captured = run_cli("capture", name, "--runtime", engine.runtime, "-o", out)
    assert captured.code == 0, (case, captured.err)
    engine.cli("stop", name)
    copy = engine.container_name()
    text = out.read_text().replace(f'name = "{name}"', f'name = "{copy}"', 1)
    out.write_text(text + "\n[watch]\nsettle_time = 0.5\n")  # as tests/test_options.py says why
    applied = run_cli("apply", out)
    assert applied.code == 0, (case, "apply failed", applied.err.strip().splitlines()[-1:])
    (a, a_extras), (b, b_extras) = _configuration(engine.runtime, name), _configuration(engine.runtime, copy)
    differing = sorted({k for k in a if a[k] != b.get(k)} | {k for k in a_extras if a_extras[k] != b_extras.get(k)})
    silent = [k for k in differing if k not in captured.err]
    assert not silent, f"{case}: {silent} differ after capture -> apply, and capture did not name them"


@pytest.mark.parametrize("key,flag,runtime", [("rm", "--rm", "docker"), ("rm", "--rm", "podman"),
                                              ("links", "--link", "docker"),  # podman create has no --link
                                              ("volumes_from", "--volumes-from", "docker"),
                                              ("volumes_from", "--volumes-from", "podman")])
def test_what_one_run_refuses_is_refused_by_validate_and_named_by_capture_with_why(request, tmp_path, key, flag,
                                                                                   runtime):
    """Options that make no sense for a deployment one-run recreates (options.NOT_CARRIED): validate
    refuses the key with the reason, and capture names the flag on a container with it."""
    from one_run.model.options import NOT_CARRIED
    from one_run.model.profile import tomllib

    engine = request.getfixturevalue(f"{runtime}_engine")
    name, other = engine.container_name(), engine.container_name()
    cli = DOCKER_CLI if engine.runtime == "docker" else "podman"
    subprocess.run([cli, "run", "-d", "--name", other, "-v", "/data", f"{STANDIN}:1"], check=True, capture_output=True)
    value = {"--rm": [], "--link": [f"{other}:db"], "--volumes-from": [other]}[flag]
    subprocess.run([cli, "create", "--name", name, flag, *value, f"{STANDIN}:1"], check=True, capture_output=True)
    out = tmp_path / "one-run.toml"
    captured = run_cli("capture", name, "--runtime", engine.runtime, "-o", out)
    why = NOT_CARRIED[key][1]
    assert captured.code == 0 and f"({flag}): not carried, since {why}" in captured.err, captured.err
    assert key not in tomllib.loads(out.read_text())["container"]

    out.write_text(out.read_text().replace("[container]\n", f"[container]\n{key} = true\n", 1))
    refused = run_cli("validate", out)
    assert refused.code == 2 and f"`{key}` ({flag}) is not carried: {why}" in refused.err, refused.err


def test_a_docker_create_i_container_has_its_stdin_once_named_by_capture_and_diff(docker_engine, tmp_path):
    """`docker create -i` sets StdinOnce (for `docker start -a -i`); `docker run -d -i`, render and apply
    do not. A recreate drops it: capture and diff say so."""
    name = docker_engine.container_name()
    subprocess.run([DOCKER_CLI, "create", "--name", name, "-i", f"{STANDIN}:1"], check=True, capture_output=True)
    out = tmp_path / "one-run.toml"
    captured = run_cli("capture", name, "--runtime", "docker", "-o", out)
    assert captured.code == 0 and "not captured: stdin_once = true" in captured.err, captured.err
    assert "interactive = true" in out.read_text()
    diff = run_cli("diff", out)
    assert diff.code == 1 and "stdin_once" in diff.out, diff.out
