"""What state the deployment is in: container state and health, image and digest, when
and from which profile hash it was applied, whether it matches the profile now,
maintenance mode, the bootstrap outcome read from the container's logs, and whether it
comes back after a host reboot.
"""
import re
from typing import Any, Dict, List, Optional, Tuple

from ..common.errors import EngineUnavailable, OneRunError
from ..deploy.adoption import labels_of
from ..deploy.compare import differences
from ..deploy.history import image_digest
from ..deploy.naming import APPLIED_LABEL, KEPT_INFIX, NEW_SUFFIX, OLD_SUFFIX, PROFILE_LABEL
from ..deploy.snapshot import list_snapshots
from ..deploy.state import HELPER_SUFFIX
from ..deploy.survival import Survival, reboot_survival
from ..deploy.volume_copy import human
from ..engines import OTHER, Engine, get_engine
from ..model.confighash import HASH_LABEL
from ..model.normalize import env_dict
from ..model.profile import Profile
from ..model.runspec import DELIVERY_HELPER, RunSpec
from ..model.secrets import mask, secret_values

LOG_LINES = 500
# The stand-in prints "BOOTSTRAP OK" / "BOOTSTRAP FAILED: ..." / "MAINTENANCE MODE"; the real image's
# bootstrap runs under supervisord, whose lines read "exited: <program> (exit status N; ...)".
FAILED = re.compile(r"BOOTSTRAP FAILED|\bbootstrap\b.*\b(failed|failure|error|fatal|aborted)\b"
                    r"|exited: \S*bootstrap\S* \(exit status [1-9]", re.IGNORECASE)
MAINTENANCE = re.compile(r"maintenance mode", re.IGNORECASE)
OK = re.compile(r"BOOTSTRAP OK|\bbootstrap\b.*\b(finished|completed?|succeeded|done)\b"
                r"|exited: \S*bootstrap\S* \(exit status 0", re.IGNORECASE)


def bootstrap_outcome(logs: str) -> Tuple[str, Optional[str]]:
    """(ok | failed | maintenance | unknown, the log line that says so); the last such line wins,
    since a restarted container appends a new bootstrap to the same log."""
    for line in reversed(logs.splitlines()):
        text = line.strip()
        if FAILED.search(text):
            return "failed", text
        if MAINTENANCE.search(text):
            return "maintenance", text
        if OK.search(text):
            return "ok", text
    return "unknown", None


def leftovers(engine: Engine, name: str) -> List[Dict[str, str]]:
    """The containers one-run made beside the deployment and left: kept, or of an interrupted run."""
    why = {KEPT_INFIX: "kept by apply --keep-previous; once no longer needed: {runtime} rm {name}",
           NEW_SUFFIX: "left by an interrupted apply; the next apply repairs it",
           OLD_SUFFIX: "left by an interrupted apply; the next apply repairs it",
           "-one-run-switch-": "a helper left by an interrupted switch; the next switch removes it",
           "-one-run-snapshot-": "a helper left by an interrupted snapshot, backup or restore; the next one removes it",
           HELPER_SUFFIX: "a helper left by an interrupted reader of the deployment's state; the next apply removes it",
           DELIVERY_HELPER: "a helper left by an interrupted delivery of files; the next apply removes it"}
    found = []
    for other, status in engine.names_starting(f"{name}-"):
        rest = other[len(name):]
        reason = next((text for mark, text in why.items() if rest.startswith(mark)), None)
        if reason:
            found.append({"name": other, "state": status, "why": reason.format(runtime=engine.runtime, name=other)})
    return found


def kept_elsewhere(engine: Engine, profile: Profile, name: str) -> List[Dict[str, str]]:
    """A container of the deployment's name on the other runtime (the source a switch kept), with
    the command that removes it; nothing when that engine cannot be reached (it may not exist here)."""
    try:
        other = get_engine(OTHER[engine.runtime])
        info = other.get(name)
    except (EngineUnavailable, OneRunError):
        return []
    if info is None:
        return []
    return [{"name": f"{name} on {other.runtime}", "state": info.status,
             "why": f"the container a switch kept on {other.runtime}; once the deployment on {engine.runtime} is "
                    f"checked: one-run switch {profile.path} --to {engine.runtime} --cleanup"}]


def is_up(report: Dict[str, Any]) -> bool:
    """status's exit 0: it runs, is healthy (or has no health check; in maintenance mode the check
    is not awaited, as apply does not) and its bootstrap did not fail."""
    if not report["exists"] or report["state"] != "running" or report["bootstrap"]["outcome"] == "failed":
        return False
    return report["health"] in (None, "healthy") or report["maintenance"]


def collect(engine: Engine, profile: Profile, spec: RunSpec) -> Dict[str, Any]:
    report: Dict[str, Any] = {"container": spec.name, "runtime": engine.runtime, "profile": str(profile.path),
                              "host": engine.endpoint.name if engine.endpoint.remote else None,
                              "profile_maintenance": profile.maintenance,
                              "leftovers": leftovers(engine, spec.name) + kept_elsewhere(engine, profile, spec.name)}
    snapshots = list_snapshots(engine, spec.name)
    report["snapshots"] = {"count": len(snapshots), "bytes": sum(s.bytes for s in snapshots),
                           "newest": snapshots[0].id if snapshots else None}
    current = engine.get(spec.name)
    report["exists"] = current is not None
    if current is None:
        report["up"] = False
        return report
    state = current.attrs.get("State") or {}
    health = current.health
    if health and current.running:
        try:  # Podman without systemd never runs the check: what inspect says is the last apply's result
            health = engine.run_health_check(current.id) or health
        except OneRunError:
            pass
    env = env_dict((current.attrs.get("Config") or {}).get("Env"))
    labels = labels_of(engine, current)
    report.update({
        "id": current.id,
        "state": current.status,
        "exit_code": current.exit_code,
        "health": health,
        "started_at": state.get("StartedAt"),
        "restart_count": current.attrs.get("RestartCount", 0),
        "image": {"ref": current.image, "id": current.image_id, "digest": image_digest(engine, current)},
        "applied": {"time": labels.get(APPLIED_LABEL), "hash": labels.get(HASH_LABEL),
                    "profile": labels.get(PROFILE_LABEL)},
        "maintenance": env.get("MAINTENANCE_MODE") == "yes",
    })
    try:
        found = differences(engine, spec, current)
        report["in_sync"] = not found
        report["differences"] = [d.as_json() for d in found]
        report["lines"] = [d.line() for d in found]
    except OneRunError as exc:
        if exc.exit_code == 3:
            raise
        report["in_sync"] = None
        report["in_sync_unknown"] = exc.message
    try:
        held = secret_values(spec, (current.attrs.get("Config") or {}).get("Env"))
        outcome, line = bootstrap_outcome(mask(engine.logs(current.id, LOG_LINES), held))
    except OneRunError as exc:
        outcome, line = "unknown", f"(logs could not be read: {exc.message})"
    if outcome != "failed" and current.status == "exited" and current.exit_code:
        # the exit code is the reason: an earlier "BOOTSTRAP OK" line is not
        outcome, line = "failed", f"(the container exited with code {current.exit_code})"
    report["bootstrap"] = {"outcome": outcome, "line": line}
    policy = ((current.attrs.get("HostConfig") or {}).get("RestartPolicy") or {}).get("Name") or "no"
    report["reboot"] = {"restart_policy": policy,
                        **reboot_survival(engine.runtime, policy, spec.name, profile.path).as_json()}
    report["up"] = is_up(report)
    return report


def render(report: Dict[str, Any]) -> List[str]:
    head = f"{report['container']} ({report['runtime']}" + (f" at {report['host']}" if report.get("host") else "")
    also = [f"  also here:   {item['name']} ({item['state']}): {item['why']}" for item in report["leftovers"]]
    if not report["exists"]:
        return [head + "): no such container; `one-run apply` creates it"] + also
    lines = [head + f", {report['id'][:12]})"]
    state = report["state"]
    if report["health"]:
        state += f", health {report['health']}"
    if state.startswith("exited"):
        state += f", exit code {report['exit_code']}"
    if report["started_at"]:
        state += f", started {report['started_at']}"
    if report["restart_count"]:
        state += f", restarted {report['restart_count']} times"
    lines.append(f"  state:       {state}")
    image = report["image"]
    lines.append(f"  image:       {image['ref']} ({image['id'].split(':')[-1][:12]}"
                 + (f", digest {image['digest']})" if image["digest"] else ", no registry digest)"))
    applied = report["applied"]
    if applied["hash"]:
        lines.append(f"  applied:     {applied['time'] or '(time unknown)'}, profile hash {applied['hash'][:12]}"
                     + (f", from {applied['profile']}" if applied["profile"] else ""))
    else:
        lines.append("  applied:     not by one-run (no one-run.hash label)")
    if report.get("in_sync") is None:
        lines.append(f"  in sync:     unknown ({report.get('in_sync_unknown')})")
    elif report["in_sync"]:
        lines.append("  in sync:     yes")
    else:
        lines.append(f"  in sync:     no, {len(report['lines'])} difference(s) (running → profile):")
        lines += [f"               {line}" for line in report["lines"]]
    maintenance = "on" if report["maintenance"] else "off"
    if report["maintenance"] != report["profile_maintenance"]:
        maintenance += f" (the profile says {'on' if report['profile_maintenance'] else 'off'})"
    lines.append(f"  maintenance: {maintenance}")
    boot = report["bootstrap"]
    text = {"ok": "ok", "failed": "FAILED", "maintenance": "maintenance mode (services not started)",
            "unknown": "unknown" if boot["line"] else "unknown (no bootstrap message in the last log lines)"
            }[boot["outcome"]]
    lines.append(f"  bootstrap:   {text}" + (f": {boot['line']}" if boot["line"] else ""))
    reboot = report["reboot"]
    lines.append(f"  reboot:      {Survival(reboot['comes_back'], reboot['why']).summary()}")
    if reboot["fix"]:
        lines.append(f"               to fix: {reboot['fix']}")
    snapshots = report.get("snapshots")
    if snapshots and snapshots["count"]:
        lines.append(f"  snapshots:   {snapshots['count']}, {human(snapshots['bytes'])}, newest {snapshots['newest']}")
    elif snapshots:
        lines.append("  snapshots:   none")
    return lines + also


def status(engine: Engine, profile: Profile, spec: RunSpec, fmt: str) -> int:
    """`one-run status`: exit 0 when it is up (is_up), 1 when not."""
    report = collect(engine, profile, spec)
    if fmt == "json":
        import json
        report.pop("lines", None)
        print(json.dumps(report, indent=2))
    else:
        print("\n".join(render(report)))
    return 0 if report["up"] else 1
