"""Podman backend (podman-py, libpod API). Last-mile spelling only: no business rules here.

podman-py takes docker-py's keyword names but differs where the anchors warn: bind
keys must be absolute and take `extended_mode` lists, tmpfs goes through mounts,
ulimit keys are capitalised, and anonymous volumes are named volumes without a name.
"""
import time
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Tuple

from ..common.errors import EngineError, EngineUnavailable
from ..model.endpoint import Endpoint
from ..model.options import podman_kwargs as option_kwargs
from ..model.options import podman_spec as option_spec
from ..model.runspec import HELPER_LABEL
from .base import (ARCHIVE_CHUNK, CALL_TIMEOUT, CONNECT_TIMEOUT, HOST_HINT, ContainerInfo, CreateRequest, Engine,
                   port_bindings, unreachable_reason)

STOP_ATTEMPTS = 5
RESTART_WAIT = 2.0  # seconds a restart policy may take to start an exited container again
# Helpers that exec tar; `wait` returns at once on TERM, where `sleep 1` would hold the stop up to 1 s.
KEEP_ALIVE = ["/bin/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done"]


class PodmanEngine(Engine):
    runtime = "podman"
    # No update in place: libpod 4.3's /containers/{id}/update changes the running cgroup only;
    # inspect keeps the created limits and the next start brings them back (measured on 4.3.1),
    # and it cannot change the restart policy at all.

    def __init__(self, endpoint: Endpoint, base_url: str):
        import podman
        import podman.errors

        super().__init__(endpoint)
        self._errors = podman.errors
        try:
            # ValueError for an endpoint it cannot parse; requests' and its own errors from ping.
            self.client = podman.PodmanClient(base_url=base_url, timeout=CONNECT_TIMEOUT)
            self.client.ping()
            self.client.api.timeout = CALL_TIMEOUT
            if base_url.startswith("unix://"):
                # No proxy or .netrc applies to a socket; requests would look both up in every call.
                self.client.api.trust_env = False
        except Exception as exc:
            raise EngineUnavailable(f"cannot reach Podman at {endpoint.name} ({unreachable_reason(base_url, exc)}); "
                                    f"run `podman system service --time=0` there, or name its socket ({HOST_HINT})"
                                    ) from None

    def _call(self, what: str, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except self._errors.APIError as exc:
            # podman-py says "GET operation failed" for a transport error: its cause says why.
            cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else None
            raise EngineError(f"{self.label}: {what} failed: {cause or exc.explanation or exc}") from None
        except self._errors.PodmanError as exc:
            raise EngineError(f"{self.label}: {what} failed: {exc}") from None

    def _lookup(self, what: str, fn, *args):
        """fn(*args), or None when the engine says there is no such object (podman-py's
        ImageNotFound is not a NotFound)."""
        def answer():
            try:
                return fn(*args)
            except (self._errors.NotFound, self._errors.ImageNotFound):
                return None
        return self._call(what, answer)

    def get(self, name_or_id: str) -> Optional[ContainerInfo]:
        attrs = self._lookup(f"inspect {name_or_id}", lambda: self.client.containers.get(name_or_id).attrs)
        if attrs is None:
            return None
        state = attrs["State"]
        health = state.get("Health") or state.get("Healthcheck") or {}
        return ContainerInfo(
            id=attrs["Id"], name=attrs["Name"].lstrip("/"), image=attrs.get("ImageName") or attrs["Config"]["Image"],
            image_id=attrs["Image"], status=state["Status"], exit_code=state.get("ExitCode", 0),
            labels=attrs["Config"].get("Labels") or {}, attrs=attrs, health=health.get("Status") or None,
        )

    def run_health_check(self, cid: str) -> Optional[str]:
        # Podman schedules health checks with systemd timers: on a host without systemd they
        # never run and the status stays "starting" for ever. This is `podman healthcheck run`.
        response = self._request(f"health check of {cid[:12]}", self.client.api.get, f"/containers/{cid}/healthcheck")
        return response.json().get("Status") or None

    def inspect_image(self, ref: str) -> Optional[dict]:
        image = self._lookup(f"inspect image {ref}", self.client.images.get, ref)
        return None if image is None else image.attrs

    def pull_image(self, ref: str, progress: Callable[[str], None]) -> None:
        # podman-py sends tlsVerify=true unless told otherwise, which overrides an `insecure = true`
        # registry in registries.conf; None leaves the choice to the engine, as `podman pull` does.
        for event in self._call(f"pull {ref}", self.client.images.pull, ref, tls_verify=None,
                                stream=True, decode=True):
            if isinstance(event, dict):
                if event.get("error"):
                    raise EngineError(f"{self.label}: pull {ref} failed: {event['error']}")
                progress(str(event.get("stream") or event.get("status") or "").strip())

    def create(self, request: CreateRequest) -> str:
        from podman import api

        payload = create_payload(request, self.client.containers._render_payload)
        response = self._call("create", self.client.api.post, "/containers/create",
                              headers={"content-type": "application/json"}, data=api.prepare_body(payload))
        try:
            response.raise_for_status()
        except self._errors.APIError as exc:
            raise EngineError(f"{self.label}: create failed: {exc.explanation or exc}") from None
        return response.json()["Id"]

    def _container(self, cid: str):
        return self._call(f"find {cid[:12]}", self.client.containers.get, cid)

    # start, rename and remove call libpod directly: podman-py's objects would inspect the
    # container first, one more round trip each, while the old container is down.
    def start(self, cid: str) -> None:
        self._request(f"start {cid[:12]}", self.client.api.post, f"/containers/{cid}/start")

    def stop(self, cid: str) -> None:
        attrs = self._container(cid).attrs
        timeout = attrs.get("Config", {}).get("StopTimeout")
        policy = ((attrs.get("HostConfig") or {}).get("RestartPolicy") or {}).get("Name") or "no"
        for _ in range(STOP_ATTEMPTS):
            if self._stop_once(cid, timeout) or policy == "no":
                return
            # It was not running: maybe between two runs of its restart policy, and Podman before
            # 4.5 forgets a stop then and starts it again (containers/podman#18259). Stopped is
            # when it stays so.
            until = time.monotonic() + RESTART_WAIT
            while time.monotonic() < until:
                time.sleep(0.1)
                try:
                    info = self.get(cid)
                except EngineError:  # libpod's inspect can fail while a restart is under way
                    continue
                if info is None:
                    return
                if info.running:
                    break
            else:
                return
        raise EngineError(f"{self.label}: stop {cid[:12]} failed: its restart policy ({policy}) keeps starting it again")

    def _stop_once(self, cid: str, timeout: Optional[int]) -> bool:
        """Stop; False if it was not running. libpod answers that with 304 and an empty body,
        which podman-py's stop() would read as JSON."""
        params = {} if timeout is None else {"timeout": timeout}
        response = self._request(f"stop {cid[:12]}", self.client.api.post, f"/containers/{cid}/stop", params=params,
                                 timeout=None if timeout is None else max(120.0, 1.5 * timeout))
        return response.status_code != 304

    def names_starting(self, prefix: str) -> List[Tuple[str, str]]:
        import json

        found = self._request("list containers", self.client.api.get, "/containers/json",
                              params={"all": True, "filters": json.dumps({"name": [prefix]})}).json()
        names = ((c["Names"][0], c["State"]) for c in found if c.get("Names"))
        return sorted((name, state) for name, state in names if name.startswith(prefix))

    def volume_users(self, volume: str) -> List[Tuple[str, Dict[str, str]]]:
        import json

        found = self._request(f"list containers using volume {volume}", self.client.api.get, "/containers/json",
                              params={"filters": json.dumps({"volume": [volume]})}).json()
        return sorted((c["Names"][0], c.get("Labels") or {}) for c in found if c.get("Names"))

    def rename(self, cid: str, name: str) -> None:
        self._request(f"rename {cid[:12]} to {name}", self.client.api.post, f"/containers/{cid}/rename",
                      params={"name": name})

    def remove(self, cid: str) -> None:
        self._request(f"remove {cid[:12]}", self.client.api.delete, f"/containers/{cid}",
                      params={"force": True, "v": False})

    def logs(self, cid: str, tail: "int | str") -> str:
        out = self._call(f"logs {cid[:12]}", self._container(cid).logs, tail=tail, stream=False)
        return (b"".join(out) if not isinstance(out, bytes) else out).decode(errors="replace")

    def exec(self, cid: str, argv: List[str]) -> Tuple[int, str]:
        code, out = self._call(f"exec {argv[0]} in {cid[:12]}", self._container(cid).exec_run, list(argv))
        return code, (out or b"").decode(errors="replace")

    # --- volumes and archives (switch) ----------------------------------------

    def _request(self, what: str, method, path: str, **kwargs):
        """A raw libpod call (podman-py turns transport errors into APIError), checked."""
        response = self._call(what, method, path, **kwargs)
        try:
            response.raise_for_status()
        except self._errors.APIError as exc:
            raise EngineError(f"{self.label}: {what} failed: {exc.explanation or exc}") from None
        return response

    def volume(self, name: str) -> Optional[dict]:
        volume = self._lookup(f"inspect volume {name}", self.client.volumes.get, name)
        return None if volume is None else volume.attrs

    def create_volume(self, name: str, labels: Dict[str, str]) -> None:
        self._call(f"create volume {name}", self.client.volumes.create, name, labels=labels)

    def remove_volume(self, name: str) -> None:
        self._call(f"remove volume {name}", self.client.volumes.remove, name)

    def volumes_labelled(self, label: str, value: str) -> List[dict]:
        import json

        return self._request("list volumes", self.client.api.get, "/volumes/json",
                             params={"filters": json.dumps({"label": [f"{label}={value}"]})}).json() or []

    def volume_sizes(self) -> Dict[str, int]:
        usage = self._request("disk usage", self.client.api.get, "/system/df").json()
        return {v["VolumeName"]: v["Size"] for v in usage.get("Volumes") or [] if v.get("Size", -1) >= 0}

    def any_image(self) -> Optional[str]:
        images = self._request("list images", self.client.api.get, "/images/json").json()
        return images[0]["Id"] if images else None

    def create_helper(self, image: str, mounts: List[Tuple[str, str, bool]], name: str,
                      command: Optional[List[str]] = None) -> str:
        from podman import api

        payload = {
            "name": name, "image": image, "labels": {HELPER_LABEL: "1"},
            "entrypoint": (command or KEEP_ALIVE)[:1], "command": (command or KEEP_ALIVE)[1:],
            "volumes": [{"Name": volume, "Dest": path, "Options": ["ro"] if read_only else []}
                        for volume, path, read_only in mounts],
            "image_volume_mode": "ignore",  # no anonymous volumes for the image's VOLUMEs
            "netns": {"nsmode": "none"},
            "user": "0:0",  # as root whatever the image's USER: tar and rm reach every file of the volumes
        }
        response = self._request("create helper", self.client.api.post, "/containers/create",
                                 headers={"content-type": "application/json"}, data=api.prepare_body(payload))
        cid = response.json()["Id"]
        if command is None:
            # Running, so that archive_get can exec tar in it (see there). An image without a
            # shell cannot start it: the archive API still works on it, exec does not.
            try:
                self.start(cid)
            except EngineError:
                pass
        return cid

    def archive_get(self, cid: str, path: str, owners: bool = True) -> Iterator[bytes]:
        what = f"read {path} of {cid[:12]}"
        if owners:
            # libpod's archive GET chowns every entry to the caller (podman cp semantics), so
            # the owners are read by tar inside the helper, through the exec API.
            return exec_stream(self, cid, ["tar", "-C", path, "-cf", "-", "."], what)
        # A volume's root names its entries "/..." relative to it, with its own metadata as "/".
        response = self._request(what, self.client.api.get, f"/containers/{cid}/archive",
                                 params={"path": path.rstrip("/")}, stream=True,
                                 headers={"Accept-Encoding": "identity"})
        return self._chunks(response, what)

    def archive_put(self, cid: str, path: str, chunks: Iterable[bytes]) -> None:
        # libpod chowns to the container's user unless copyUIDGID=false: keep the archive's owners.
        self._request(f"write {path} of {cid[:12]}", self.client.api.put, f"/containers/{cid}/archive",
                      params={"path": path, "copyUIDGID": "false", "pause": "false"}, data=chunks,
                      headers={"content-type": "application/x-tar"})


def create_payload(request: CreateRequest, render_payload) -> dict:
    """libpod's create body for the request: podman-py's rendering of the keyword arguments it
    shares with docker-py (render_payload), then what it cannot say, as `podman run` sends it."""
    spec, c = request.spec, request.spec.container
    # A host address without a host port (`-p 127.0.0.1::80`, the engine picks the port):
    # podman-py takes it only in its dict form.
    ports = {key: [{"ip": b[0]} if isinstance(b, tuple) and b[1] is None else b for b in bindings]
             for key, bindings in port_bindings(c.ports).items()}
    # `podman run -e NAME` with NAME unset leaves it out (the image's value stays).
    environment = {k: v for k, v in request.env.items() if v is not None}
    kwargs = dict(name=request.name, environment=environment, labels={**dict(c.labels), **request.labels},
                  ports=ports, **option_kwargs(c))
    if c.entrypoint is not None:
        kwargs["entrypoint"] = [c.entrypoint]
    payload = render_payload({"image": c.image, "command": list(c.command) if c.command is not None else None,
                              **kwargs})
    payload["mounts"] = payload.get("mounts") or []
    option_spec(c, payload)
    # As `podman run -v` sends them, one entry per mount: podman-py's volumes dict is keyed by
    # the source, so a source mounted twice would keep one mount; anonymous volumes are
    # named volumes without a name.
    payload["mounts"] += [{"destination": v.target, "type": "bind", "source": v.source, "options": list(v.options)}
                          for v in spec.volumes if v.kind == "bind"]
    payload["volumes"] = payload.get("volumes") or []
    payload["volumes"] += [{"Name": "" if v.kind == "anonymous" else v.source, "Dest": v.target,
                            "Options": list(v.options)} for v in spec.volumes if v.kind != "bind"]
    payload["volumes"] += [{"Name": name, "Dest": target, "Options": []}
                           for name, target in request.carried_volumes]
    # `podman run --mount` sends its binds and tmpfs as mounts and its named volumes as volumes.
    for m in c.mounts:
        options = (["ro"] if m.read_only else []) + ([m.propagation] if m.propagation else [])
        if m.kind == "volume":
            payload["volumes"].append({"Name": m.source, "Dest": m.target, "Options": options})
        elif m.kind == "bind":
            payload["mounts"].append({"destination": m.target, "type": "bind", "source": m.source,
                                      "options": options})
        else:
            payload["mounts"].append({"destination": m.target, "type": "tmpfs", "source": "tmpfs",
                                      "options": list(m.tmpfs_options("podman"))})
    if request.create_command:  # as `podman create` records it (see CreateRequest)
        payload["containerCreateCommand"] = list(request.create_command)
    return payload


def exec_stream(engine: "PodmanEngine", cid: str, cmd: List[str], what: str) -> Iterator[bytes]:
    """stdout of cmd run in container cid, in chunks of about ARCHIVE_CHUNK; EngineError
    (with its stderr) if it exits non-zero. The exec stream is Docker's multiplexed one."""
    import json

    import requests
    import urllib3.exceptions

    info = engine.get(cid)
    if info is None or not info.running:
        raise EngineError(f"{engine.label}: {what} failed: the helper container is "
                          f"{info.status if info else 'gone'}; its image needs /bin/sh, sleep and tar")
    exec_id = engine._request(what, engine.client.api.post, f"/containers/{cid}/exec",
                            headers={"content-type": "application/json"},
                            data=json.dumps({"Cmd": cmd, "AttachStdout": True, "AttachStderr": True})).json()["Id"]
    response = engine._request(what, engine.client.api.post, f"/exec/{exec_id}/start",
                             headers={"content-type": "application/json"},
                             data=json.dumps({"Detach": False, "Tty": False}), stream=True)
    raw, errors, pending = response.raw, [], bytearray()

    def exactly(n: int) -> bytes:
        data = b""
        while len(data) < n:
            part = raw.read(n - len(data))
            if not part:
                break
            data += part
        return data

    try:
        while True:
            header = exactly(8)
            if len(header) < 8:
                break
            payload = exactly(int.from_bytes(header[4:8], "big"))
            if header[0] == 1:
                pending += payload
                if len(pending) >= ARCHIVE_CHUNK:
                    yield bytes(pending)
                    pending.clear()
            elif header[0] == 2 and len(errors) < 20:
                errors.append(payload.decode(errors="replace"))
        if pending:
            yield bytes(pending)
    except (requests.RequestException, OSError, urllib3.exceptions.HTTPError) as exc:
        raise EngineError(f"{engine.label}: {what} failed: {exc}") from None
    finally:
        response.close()
    for _ in range(50):
        state = engine._request(what, engine.client.api.get, f"/exec/{exec_id}/json").json()
        if not state.get("Running"):
            break
        time.sleep(0.1)
    if state.get("Running") or state.get("ExitCode"):
        raise EngineError(f"{engine.label}: {what} failed: {' '.join(cmd)} exited {state.get('ExitCode')}: "
                          f"{''.join(errors).strip()[-500:]}")
