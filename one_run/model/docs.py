"""docs/profile.md, generated: `python -m one_run.model.docs > docs/profile.md`.

The keys, their types and their defaults come from the profile schema (one_run.model.profile);
what each one means, an example, what it renders to and where it works are written here,
once per key. A key of the schema without an entry here stops the generator (and the test
that compares docs/profile.md with its output), so no key goes undocumented.
"""
import sys
from typing import Dict, NamedTuple

from . import profile as schema
from .options import FLAGS, NOT_CARRIED, OPTIONS


class KeyDoc(NamedTuple):
    meaning: str
    example: str
    renders: str  # what it becomes on the `run` command line (or in apply)
    runtimes: str = "docker, podman"
    default: str = ""  # when the schema's defaults do not say it


BOTH = "docker, podman"

KEYS: Dict[str, KeyDoc] = {
    # --- top level
    "runtime": KeyDoc("the engine that runs the deployment; `--runtime` on the command line wins, "
                      "`one-run switch` rewrites it", '"podman"', "which program and SDK are used",
                      default='"docker"'),
    "host": KeyDoc("where the engine runs: ssh://[user@]host[:port][/socket], unix:///socket, tcp://host:port or a "
                   "docker context / podman connection name; `--host` wins, and DOCKER_HOST / CONTAINER_HOST are "
                   "not read when it is set. On a remote host the customization files travel through the engine "
                   "(docs/guide.md, remote host)", '"ssh://root@fe1.example.com"',
                   "`export DOCKER_HOST=` / `CONTAINER_HOST=` before the commands", default="the environment's engine"),
    "maintenance": KeyDoc("start the image in maintenance mode (OpenNebula's services not started); "
                          "`one-run maintenance on|off` sets it and applies", "true", "`-e MAINTENANCE_MODE=yes`"),
    "settle_time": KeyDoc("the old place of [watch] settle_time; still read, and validate names the new place",
                          "10", "nothing: apply's watch"),
    "allow_system_paths": KeyDoc("allow a bind mount of `/` or a top-level host folder (/etc, /usr, /var, ...); "
                                 ":z/:Z on them stays refused", "true", "nothing: a check"),
    # --- [container]
    "container.name": KeyDoc("the container's name; one-run manages exactly one container of this name",
                             '"opennebula"', "`--name`", default="required"),
    "container.image": KeyDoc("the image reference", '"docker.io/opennebula/opennebula:6.0"', "the image argument",
                              default="required"),
    "container.ports": KeyDoc("published ports, as `-p` takes them: [[ip:][host[-end]]:]container[-end][/proto]",
                              '["2222:22", "443:443", "4124:4124/udp"]', "`-p` each"),
    "container.volumes": KeyDoc("named volumes, bind mounts (a path) and anonymous volumes, as `-v` takes them; "
                                "options rw, ro, z, Z, nocopy and propagation on both, U, O, exec, noexec, suid, "
                                "nosuid, dev, nodev, copy on Podman only",
                                '["opennebula_db:/var/lib/mysql"]', "`-v` each", runtimes="docker, podman "
                                "(Podman-only options refused for docker)"),
    "container.mounts": KeyDoc("long-form mounts, kept as written in `--mount` syntax (one CSV record): type=bind "
                               "(source an absolute host path), type=volume (source a volume name: its data counts "
                               "as the deployment's, as for volumes) or type=tmpfs; keys source/src, "
                               "target/dst/destination, ro/readonly, bind-propagation, volume-nocopy, tmpfs-size, "
                               "tmpfs-mode; a container path is mounted once across volumes, tmpfs and mounts",
                               '["type=volume,source=onedata,target=/var/lib/one", '
                               '"type=tmpfs,target=/scratch,tmpfs-size=64m"]', "`--mount` each, unchanged",
                               runtimes="docker, podman (Podman 4.3 refuses volume-nocopy, and readonly except on "
                               "a bind: write ro)"),
    "container.pass_env": KeyDoc("names of variables passed from the environment one-run (or the printed command) "
                                 "runs in, as `-e NAME` does: the way to keep a secret out of the profile, its "
                                 "value is never printed or stored (the hash holds a salted digest); diff compares "
                                 "it with the value here; unset, Docker keeps NAME without a value (and so unsets "
                                 "the image's), Podman leaves it out", '["ONE_PASSWORD"]', "`-e NAME` each"),
    "container.labels": KeyDoc("labels; keys starting with `one-run.` are one-run's own", '{ "org.example.owner" = '
                               '"cloud-team" }', "`--label KEY=VALUE` each"),
    "container.entrypoint": KeyDoc("the program to run instead of the image's (one executable; its arguments go "
                                   "in command)", '"/usr/bin/tini"', "`--entrypoint`", default="the image's"),
    "container.command": KeyDoc("the arguments after the image", '["--verbose"]', "words after the image",
                                default="the image's"),
    **{f"container.{o.key}": KeyDoc(o.meaning, o.example, o.renders, o.runtimes_text or ", ".join(o.runtimes),
                                     o.default_text) for o in OPTIONS},
    # --- [env]
    "env": KeyDoc("the image's parameters (checked against the image's list); a value is a string, a number, "
                  "`{ env = \"VAR\" }` (read from the caller's environment at apply) or `{ file = \"path\" }` "
                  "(read from a file); secrets are passed by name, never printed", 'OPENNEBULA_HOST = '
                  '"one.example.com"', "`-e NAME=VALUE`, or `-e NAME` for a secret", default="none"),
    # --- [tls], [ssh], [config]: the image's customizations, staged into a folder of one-run's own
    "tls.cert": KeyDoc("the TLS certificate (PEM); checked against the key and for expiry", '"certs/cert.pem"',
                       "`-v STAGED:/certs:z,ro -e TLS_CERT=/certs/FILE`", default="required in [tls]"),
    "tls.key": KeyDoc("the certificate's private key (PEM)", '"certs/cert.key"', "`-e TLS_KEY=/certs/FILE`",
                      default="required in [tls]"),
    "ssh.private_key": KeyDoc("oneadmin's SSH private key; checked to be a pair with the public key",
                              '"ssh/id_rsa"', "`-v STAGED:/ssh:z,ro -e ONEADMIN_SSH_PRIVKEY=/ssh/FILE`",
                              default="required in [ssh]"),
    "ssh.public_key": KeyDoc("oneadmin's SSH public key", '"ssh/id_rsa.pub"', "`-e ONEADMIN_SSH_PUBKEY=/ssh/FILE`",
                             default="required in [ssh]"),
    "config.onecfg_patch": KeyDoc("an `onecfg` patch: a file, or an array of patch lines; each line is checked",
                                  '"config/onecfg_patch"', "`-v STAGED:/config:z,ro -e OPENNEBULA_ONECFG_PATCH=...`"),
    "config.pre_bootstrap_hook": KeyDoc("an executable script (with a #! line, LF line endings) run before the "
                                        "bootstrap", '"config/pre-bootstrap-hook.sh"',
                                        "`-e OPENNEBULA_PREBOOTSTRAP_HOOK=/config/FILE`"),
    "config.post_bootstrap_hook": KeyDoc("an executable script run after the bootstrap",
                                         '"config/post-bootstrap-hook.sh"',
                                         "`-e OPENNEBULA_POSTBOOTSTRAP_HOOK=/config/FILE`"),
    # --- [watch]: when a new container counts as up (apply, rollback, switch)
    "watch.ready_log": KeyDoc("a regular expression the new container's log must print (from its start)",
                              '"bootstrap finished"', "nothing: apply's watch", default="none"),
    "watch.ready_command": KeyDoc("a program and its arguments run inside the new container, every second, until "
                                  "it exits 0; not waited for in maintenance mode", '["supervisorctl", "status"]',
                                  "nothing: apply's watch", default="none"),
    "watch.timeout": KeyDoc("seconds to wait for the ready signals (ready_log, ready_command, the image's health "
                            "check)", "1800", "nothing: apply's watch"),
    "watch.settle_time": KeyDoc("seconds the container must then keep running, without a restart and without "
                                "turning unhealthy", "10", "nothing: apply's watch"),
    # --- [snapshot]: data an upgrade can take back
    "snapshot.when": KeyDoc("when apply copies the volumes, after the old container stopped and before the new "
                            "one starts: image-change | always | never", '"always"', "nothing: apply's snapshot"),
    "snapshot.volumes": KeyDoc("the volumes to copy, by name or container path", '["opennebula_db", "/var/lib/one/.one"]',
                               "nothing: apply's snapshot",
                               default="every named and carried-over volume but the datastores and /var/log"),
    "snapshot.keep": KeyDoc("how many of one-run's snapshots to keep; older ones are removed, oldest first", "5",
                            "nothing: apply's snapshot"),
}

TABLE_NOTES = {
    "": "Top-level keys, before any table.",
    "container": "The container's run arguments. Relative host paths resolve against the profile's folder.",
    "env": "One key per variable.",
    "tls": "The image's TLS customization. The named files are copied into a folder of one-run's own, and that "
           "folder is mounted: the container sees exactly these files.",
    "ssh": "oneadmin's SSH key pair, staged the same way.",
    "config": "The onecfg patch and the bootstrap hooks, staged the same way into one folder.",
    "watch": "When a new container counts as up. Every signal given must pass within `timeout`, the image's "
             "HEALTHCHECK too (not in maintenance mode); then it must stay up for `settle_time`. Without a "
             "signal, only the settle time is watched, and the plan says so.",
    "snapshot": "Copies of the deployment's volumes that apply takes before a new container starts, and restores "
                "(verified) when it fails: an upgrade that migrated the database can be undone. `one-run history` "
                "lists them, `one-run rollback --with-data` restores one.",
}


def schema_keys() -> Dict[str, tuple]:
    """Every profile key, dotted, with its schema entry (type description, checker); [env] as one key."""
    out = {key: kind for key, kind in schema.TOP_KEYS.items()}
    for table, keys in (("container", schema.CONTAINER_KEYS), ("tls", schema.TLS_KEYS), ("ssh", schema.SSH_KEYS),
                        ("config", schema.CONFIG_KEYS), ("watch", schema.WATCH_KEYS),
                        ("snapshot", schema.SNAPSHOT_KEYS)):
        out.update({f"{table}.{key}": kind for key, kind in keys.items()})
    out["env"] = ("a table of strings, numbers or secret references", None)
    return out


def default_of(key: str) -> str:
    doc = KEYS[key]
    if doc.default:
        return doc.default
    table, _, name = key.rpartition(".")
    holder = {"": schema.Profile, "container": schema.Container, "config": schema.Config,
              "watch": schema.Watch, "snapshot": schema.SnapshotPolicy}.get(table)
    value = getattr(holder, "_field_defaults", {}).get(name) if holder else None
    if key == "container.restart":
        return '"no"'
    if value is None or value == ():
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return f'"{value}"' if isinstance(value, str) else f"{value:g}" if isinstance(value, float) else str(value)


def render() -> str:
    keys = schema_keys()
    missing = [key for key in keys if key not in KEYS]
    if missing:
        raise SystemExit(f"one_run/model/docs.py: no documentation for profile key(s) {', '.join(missing)}; add them to KEYS")
    lines = ["# Profile reference", "",
             "<!-- generated by `python -m one_run.model.docs > docs/profile.md`; edit one_run/model/docs.py -->", "",
             "A profile is a TOML file. Unknown keys are errors that name the key, its line and the closest "
             "valid key. Relative paths resolve against the profile's folder. `one-run render PROFILE` prints "
             "what a profile renders to.", ""]
    for table in ("", "container", "env", "tls", "ssh", "config", "watch", "snapshot"):
        lines += [f"## {f'[{table}]' if table else 'top level'}", "", TABLE_NOTES[table], "",
                  "| key | type | default | example | renders to | runtimes | what it is |",
                  "|---|---|---|---|---|---|---|"]
        for key, (kind, _) in keys.items():
            if key.rpartition(".")[0] != table and not (table == "env" and key == "env"):
                continue
            if table == "" and key == "env":
                continue
            doc = KEYS[key]
            name = "NAME" if key == "env" else key.rpartition(".")[2]
            cells = [f"`{name}`", kind, default_of(key), f"`{doc.example}`", doc.renders, doc.runtimes, doc.meaning]
            lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
        lines.append("")
        if table == "container":
            lines += ["Refused under [container], with the reason (capture names them on a container too):", ""]
            lines += [f"- `{key}` (`{flag}`): {why}" for key, (flag, why) in NOT_CARRIED.items()] + [""]
    lines += ["## The engines' other flags", "",
              "Each flag of `docker create` and `podman create` that no key above carries, and what one-run does "
              "with it: *create-time*, it leaves nothing on the container to carry; *named*, not carried, and "
              "capture and diff name it on a container; *unnamed*, not carried, and not yet seen by capture.", "",
              "| flag | one-run | why |", "|---|---|---|"]
    lines += [f"| `{flag}` | {verdict} | {why} |" for flag, (verdict, why) in sorted(FLAGS.items())
              if verdict != "key"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
