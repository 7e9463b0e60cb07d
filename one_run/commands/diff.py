"""`one-run diff`: what apply would change in the running container, one `field: running →
profile` line each; exit 0 in sync, 1 different."""
import json

from ..deploy.compare import Difference, differences
from ..engines import Engine
from ..model.profile import Profile
from ..model.runspec import RunSpec


def diff(engine: Engine, profile: Profile, spec: RunSpec, fmt: str) -> int:
    current = engine.get(spec.name)
    if current is None:
        found = [Difference("container", "(none)", spec.name, note="apply creates it")]
    else:
        found = differences(engine, spec, current)
    if fmt == "json":
        print(json.dumps({"container": spec.name, "runtime": engine.runtime, "id": current.id if current else None,
                          "in_sync": not found, "differences": [d.as_json() for d in found]}, indent=2))
    elif found:
        for difference in found:
            print(difference.line())
    else:
        print(f"in sync: {engine.label} container {spec.name} ({current.id[:12]}) matches {profile.path}")
    return 1 if found else 0
