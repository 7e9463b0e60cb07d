#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs one-run and the test tools into
# .venv, starts a private Docker and Podman engine (installing them first when run
# as root and missing), runs pytest against them, and stops what it started.
# Extra arguments go to pytest.  In CI (CI=true) an engine that cannot start fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e '.[test]'

state=$(mktemp -d /tmp/one-run-engines.XXXXXX)
trap 'bash tests/engines.sh stop "$state"' EXIT
if bash tests/engines.sh start "$state"; then
    # shellcheck disable=SC1091
    source "$state/env"
elif [ "${CI:-}" = "true" ]; then
    echo "tests/run.sh: the engines did not start, and CI needs them" >&2
    exit 1
else
    echo "tests/run.sh: no engines here; the engine tests will be skipped" >&2
fi

# Six workers on two cores: most engine tests wait on a container (a stop, a bootstrap, a
# settle time: the cores were idle half the time with four), and names, volumes and state folders
# are unique per test, so they never meet. The 15 slowest tests are printed at the end: the
# budget is 10 minutes in all (README).
.venv/bin/python -m pytest -q -p no:cacheprovider -n 6 --durations=15 tests "$@"
