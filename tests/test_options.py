"""Every option of the table (one_run.model.options), tested from its own entry: an option without
these tests cannot exist, because they are generated from OPTIONS.

For each option: its sample value validates and its bad value is refused at its key (exit 2);
the sample renders to the entry's words on both runtimes; applied on the real engines, inspect
reads back what the profile says (diff: in sync); capture writes it back so that the captured
profile is in sync too; and a profile without it makes diff name it.
"""
from pathlib import Path

import pytest
import tomli_w
from conftest import STANDIN, ipv6_prefix, run_cli

from one_run.common.errors import ProfileError
from one_run.model.options import OPTIONS
from one_run.model.profile import load_profile, tomllib
from one_run.model.render import run_argv, run_groups
from one_run.model.runspec import build_runspec

# Options the container does not keep (pull: when apply pulls) have no engine side.
ON_ENGINES = [o for o in OPTIONS if o.kept]
# What the stand-in image cannot run with, on which runtime ("*": both); render and validation still run.
CANNOT_START = {
    ("privileged", "docker"): "a privileged container cannot start under Docker in this sandbox",
    ("read_only", "*"): "the stand-in writes its bootstrap report to /",
}


def filled(value, network: str = "onerun-net", prefix: str = "10.99.99"):
    """A sample with its {network}, {prefix} and {prefix6} placeholders filled in (options joined to a
    network): the network's IPv4 subnet is {prefix}.0/24, its IPv6 subnet {prefix6}::/64."""
    if isinstance(value, str):
        return value.format(network=network, prefix=prefix, prefix6=ipv6_prefix(prefix))
    if isinstance(value, list):
        return [filled(v, network, prefix) for v in value]
    if isinstance(value, dict):
        return {k: filled(v, network, prefix) for k, v in value.items()}
    return value


def sample_keys(option, network: str = "onerun-net", prefix: str = "10.99.99") -> dict:
    return {**filled(option.needs, network, prefix), option.key: filled(option.sample, network, prefix)}


def write_profile(folder: Path, runtime: str, name: str, **options) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "one-run.toml"
    # A settle of 0.5 s: these tests are about the configuration, and an option that breaks the
    # stand-in makes it fail at once (a second per case was a minute of the suite's time).
    data = {"runtime": runtime, "container": {"name": name, "image": f"{STANDIN}:1", **options},
            "watch": {"settle_time": 0.5}}
    path.write_text(tomli_w.dumps(data))
    return path


def test_every_option_has_a_sample_a_bad_value_and_documentation():
    from one_run.model.docs import render

    docs = render()
    for option in OPTIONS:
        assert option.sample is not None and option.bad is not None, option.key
        assert option.kind[1](filled(option.sample)), option.key
        assert f"| `{option.key}` |" in docs


@pytest.mark.parametrize("runtime", ["docker", "podman"])
@pytest.mark.parametrize("option", OPTIONS, ids=lambda o: o.key)
def test_option_validates_and_renders(option, runtime, tmp_path):
    good = write_profile(tmp_path / "good", runtime, "one-opt", **sample_keys(option))
    if runtime not in option.runtimes:
        with pytest.raises(ProfileError) as refused:
            load_profile(good)
        assert f"[container.{option.key}]" in str(refused.value) and runtime in str(refused.value)
        return
    profile = load_profile(good)
    groups = run_groups(build_runspec(profile))
    for group in option.words(option.model(filled(option.sample))):
        assert group in groups, (group, groups)

    bad = write_profile(tmp_path / "bad", runtime, "one-opt", **filled(option.needs), **{option.key: option.bad})
    with pytest.raises(ProfileError) as refused:
        load_profile(bad)
    assert f"[container.{option.key}]" in str(refused.value)
    assert run_cli("validate", bad).code == 2


def test_docker_fills_a_zero_start_period_from_the_images_health_check(tmp_path):
    """Measured on Docker 20.10: `--health-start-period 0s` on an image whose HEALTHCHECK has a start
    period keeps the image's; Podman keeps 0. The profile's side reads the same, or diff never settles."""
    from one_run.model.normalize import from_spec

    image = {"Config": {"Healthcheck": {"Test": ["CMD-SHELL", "true"], "StartPeriod": 7 * 10 ** 9}}}
    for runtime, start in (("docker", "7s"), ("podman", "0s")):
        path = write_profile(tmp_path / runtime, runtime, "one-hc", healthcheck={"test": ["CMD-SHELL", "false"]})
        assert from_spec(build_runspec(load_profile(path)), image).fields["healthcheck"]["start_period"] == start


def created_matches(option, engine, tmp_path):
    """Create (not start) the container as apply would, and read the option back from inspect."""
    from one_run.engines import CreateRequest, get_engine
    from one_run.model.normalize import from_inspect, from_spec

    name = engine.container_name()
    spec = build_runspec(load_profile(write_profile(tmp_path / "created", engine.runtime, name,
                                                    **sample_keys(option))))
    backend = get_engine(engine.runtime)
    cid = backend.create(CreateRequest(spec, name, {}, {}, create_command=tuple(run_argv(spec))))
    info = backend.get(cid)
    image = backend.image_attrs(info.image_id)
    assert from_inspect(info.attrs, image, engine.runtime).fields[option.key] == \
        from_spec(spec, image).fields[option.key] is not None


def _changed_lines(diff_out: str, key: str):
    return [line for line in diff_out.splitlines() if line.strip().startswith((f"{key}:", f"{key}.", f"{key} "))]


@pytest.mark.parametrize("option", ON_ENGINES, ids=lambda o: o.key)
def test_option_on_the_engine_reads_back_captures_and_diffs(option, engine, tmp_path):
    if engine.runtime not in option.runtimes:
        return  # refused for this runtime: test_option_validates_and_renders pins that
    if CANNOT_START.get((option.key, engine.runtime)) or CANNOT_START.get((option.key, "*")):
        created_matches(option, engine, tmp_path)  # created and read back, as far as this machine allows
        return
    name = engine.container_name()
    keys = sample_keys(option, *engine.network()) if option.joined else sample_keys(option)
    path = write_profile(tmp_path / "profile", engine.runtime, name, **keys)
    applied = run_cli("apply", path)
    assert applied.code == 0, applied.err
    diff = run_cli("diff", path)
    assert (diff.code, diff.out.split(":")[0]) == (0, "in sync"), diff.out

    out = tmp_path / "captured" / "one-run.toml"
    captured = run_cli("capture", name, "--runtime", engine.runtime, "-o", out)
    assert captured.code == 0, captured.err
    assert option.key in tomllib.loads(out.read_text())["container"], out.read_text()
    again = run_cli("diff", out)
    assert (again.code, again.out.split(":")[0]) == (0, "in sync"), again.out

    without = write_profile(tmp_path / "without", engine.runtime, name, **{k: v for k, v in keys.items()
                                                                           if k != option.key})
    changed = run_cli("diff", without)
    assert changed.code == 1 and _changed_lines(changed.out, option.key), changed.out
