"""Docker backend (docker-py). Last-mile spelling only: no business rules here.

Creation goes through the low-level API so the body matches what `docker run`
sends: binds as strings (keeps `z,ro`, docker-py#2138), anonymous volumes in
Config.Volumes, and stop_timeout, which the high-level create() lacks (docker-py#3168).
"""
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Tuple

from ..common.errors import EngineError, EngineUnavailable
from ..model.endpoint import Endpoint
from ..model.options import BY_KEY
from ..model.options import docker_kwargs as option_kwargs
from ..model.options import merge_into
from ..model.runspec import HELPER_LABEL
from .base import (CALL_TIMEOUT, CONNECT_TIMEOUT, HOST_HINT, ContainerInfo, CreateRequest, Engine, port_bindings,
                   unreachable_reason)

NEVER_STARTED = "/one-run-helper-is-never-started"


def memory_and_cpus(memory: Optional[str], cpus: Optional[float]) -> dict:
    """--memory/--cpus as `docker update` takes them, in docker-py's names."""
    return {**BY_KEY["memory"].docker_host(memory), **BY_KEY["cpus"].docker_host(cpus)}


def _keeping_its_ca(api_client):
    """docker-py's client whose TLS verification keeps the CA of DOCKER_CERT_PATH, as the docker
    CLI does: requests would put REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE in its place (docker-py
    #2433, open), and a machine that sets them for other programs then fails every call."""
    class Client(api_client):
        def merge_environment_settings(self, url, proxies, stream, verify, cert):
            settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
            settings["verify"] = self.verify if verify is None else verify
            return settings
    return Client


class DockerEngine(Engine):
    runtime = "docker"
    updatable = frozenset({"restart", "memory", "cpus"})

    def __init__(self, endpoint: Endpoint, base_url: str):
        import docker
        import docker.errors
        import requests

        super().__init__(endpoint)
        self._errors = docker.errors
        # A daemon that goes away between calls: docker-py lets requests' errors through, and
        # a streamed request's raw socket errors too.
        self._transport = (requests.RequestException, OSError)
        # TLS for tcp://, from DOCKER_TLS_VERIFY and DOCKER_CERT_PATH as the docker CLI reads them.
        tls = docker.utils.kwargs_from_env().get("tls") if base_url.startswith("tcp://") else None
        try:
            # version="auto" asks the daemon at once: that is the first contact.
            client = _keeping_its_ca(docker.APIClient) if tls else docker.APIClient
            self.api = client(base_url=base_url, version="auto", timeout=CONNECT_TIMEOUT, tls=tls or False)
        except docker.errors.DockerException as exc:
            raise EngineUnavailable(f"cannot reach Docker at {endpoint.name} ({unreachable_reason(base_url, exc)}); "
                                    f"start dockerd there, or name its socket ({HOST_HINT})") from None
        self.api.timeout = CALL_TIMEOUT
        if base_url.startswith("unix://"):
            # No proxy or .netrc applies to a socket; requests would look both up in every call.
            self.api.trust_env = False

    def _call(self, what: str, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except self._errors.APIError as exc:
            raise EngineError(f"{self.label}: {what} failed: {exc.explanation or exc}") from None
        except (self._errors.DockerException, *self._transport) as exc:
            raise EngineError(f"{self.label}: {what} failed: {_short(exc)}") from None

    def _lookup(self, what: str, fn, *args):
        """fn(*args), or None when the daemon says there is no such object."""
        def answer():
            try:
                return fn(*args)
            except self._errors.NotFound:
                return None
        return self._call(what, answer)

    def get(self, name_or_id: str) -> Optional[ContainerInfo]:
        attrs = self._lookup(f"inspect {name_or_id}", self.api.inspect_container, name_or_id)
        if attrs is None:
            return None
        state = attrs["State"]
        return ContainerInfo(
            id=attrs["Id"], name=attrs["Name"].lstrip("/"), image=attrs["Config"]["Image"],
            image_id=attrs["Image"], status=state["Status"], exit_code=state.get("ExitCode", 0),
            labels=attrs["Config"].get("Labels") or {}, attrs=attrs,
            health=(state.get("Health") or {}).get("Status"),
        )

    def inspect_image(self, ref: str) -> Optional[dict]:
        return self._lookup(f"inspect image {ref}", self.api.inspect_image, ref)

    def pull_image(self, ref: str, progress: Callable[[str], None]) -> None:
        from docker.utils import parse_repository_tag

        repo, tag = parse_repository_tag(ref)
        events = self._call(f"pull {ref}", self.api.pull, repo, tag or "latest", stream=True, decode=True)
        while True:
            event = self._call(f"pull {ref}", next, events, None)  # the stream breaks off as a transport error
            if event is None:
                return
            if "error" in event:
                raise EngineError(f"{self.label}: pull {ref} failed: {event['error']}")
            progress(" ".join(str(event[k]) for k in ("id", "status", "progress") if event.get(k)))

    def create(self, request: CreateRequest) -> str:
        spec, c = request.spec, request.spec.container
        ports = port_bindings(c.ports)
        binds = [v.format() for v in spec.volumes if v.kind != "anonymous"]
        binds += [f"{name}:{target}" for name, target in request.carried_volumes]
        host_options, create_options = option_kwargs(c)
        from docker.types import Mount

        mounts = [Mount(m.target, m.source or None, m.kind, read_only=m.read_only, propagation=m.propagation or None,
                        no_copy=m.nocopy, tmpfs_size=m.size, tmpfs_mode=m.mode) for m in c.mounts]
        host_config = self._call("create", self.api.create_host_config, binds=binds, port_bindings=ports,
                                 mounts=mounts or None, **host_options)
        arguments = dict(
            command=list(c.command) if c.command is not None else None, name=request.name, detach=True,
            ports=[(int(key.split("/")[0]), key.split("/")[1]) for key in ports],
            environment=[k if v is None else f"{k}={v}" for k, v in request.env.items()],  # as `-e NAME` unset
            volumes=[v.target for v in spec.volumes if v.kind == "anonymous"] or None,
            entrypoint=[c.entrypoint] if c.entrypoint is not None else None,
            labels={**dict(c.labels), **request.labels}, host_config=host_config,
        )
        merge_into(arguments, create_options)  # --expose adds to the ports the published ones expose
        arguments["ports"] = arguments["ports"] or None
        created = self._call("create", self.api.create_container, c.image, **arguments)
        return created["Id"]

    def start(self, cid: str) -> None:
        self._call(f"start {cid[:12]}", self.api.start, cid)

    def stop(self, cid: str) -> None:
        # Pass the container's own StopTimeout so the HTTP call waits as long as the daemon does.
        attrs = self._call(f"inspect {cid[:12]}", self.api.inspect_container, cid)
        timeout = attrs["Config"].get("StopTimeout")
        self._call(f"stop {cid[:12]}", self.api.stop, cid, timeout=10 if timeout is None else timeout)

    def names_starting(self, prefix: str) -> List[Tuple[str, str]]:
        found = self._call("list containers", self.api.containers, all=True, filters={"name": prefix})
        names = ((c["Names"][0].lstrip("/"), c["State"]) for c in found if c.get("Names"))
        return sorted((name, state) for name, state in names if name.startswith(prefix))

    def volume_users(self, volume: str) -> List[Tuple[str, Dict[str, str]]]:
        found = self._call(f"list containers using volume {volume}", self.api.containers, filters={"volume": volume})
        return sorted((c["Names"][0].lstrip("/"), c.get("Labels") or {}) for c in found if c.get("Names"))

    def disable_restart(self, cid: str) -> bool:
        self._call(f"update {cid[:12]}", self.api.update_container, cid, restart_policy={"Name": "no"})
        return True

    def update(self, cid: str, **fields) -> None:
        # As `docker update` sends it: docker-py's update_container() has no NanoCpus.
        limits = memory_and_cpus(fields.get("memory"), fields.get("cpus"))
        body = {key: limits[name] for key, name in (("Memory", "mem_limit"), ("MemorySwap", "memswap_limit"),
                                                     ("NanoCpus", "nano_cpus")) if name in limits}
        if "restart" in fields:
            body["RestartPolicy"] = {"Name": fields["restart"].name, "MaximumRetryCount": fields["restart"].retries}
        what = f"update {cid[:12]}"
        response = self._call(what, self.api._post_json, self.api._url("/containers/{0}/update", cid), data=body)
        self._call(what, self.api._raise_for_status, response)

    def rename(self, cid: str, name: str) -> None:
        self._call(f"rename {cid[:12]} to {name}", self.api.rename, cid, name)

    def remove(self, cid: str) -> None:
        self._call(f"remove {cid[:12]}", self.api.remove_container, cid, v=False, force=True)

    def logs(self, cid: str, tail: "int | str") -> str:
        return self._call(f"logs {cid[:12]}", self.api.logs, cid, tail=tail).decode(errors="replace")

    def exec(self, cid: str, argv: List[str]) -> Tuple[int, str]:
        what = f"exec {argv[0]} in {cid[:12]}"
        exec_id = self._call(what, self.api.exec_create, cid, argv)
        out = self._call(what, self.api.exec_start, exec_id)
        return self._call(what, self.api.exec_inspect, exec_id)["ExitCode"], out.decode(errors="replace")

    # --- volumes and archives (switch) ----------------------------------------

    def volume(self, name: str) -> Optional[dict]:
        return self._lookup(f"inspect volume {name}", self.api.inspect_volume, name)

    def create_volume(self, name: str, labels: Dict[str, str]) -> None:
        self._call(f"create volume {name}", self.api.create_volume, name, labels=labels)

    def remove_volume(self, name: str) -> None:
        self._call(f"remove volume {name}", self.api.remove_volume, name)

    def volumes_labelled(self, label: str, value: str) -> List[dict]:
        found = self._call("list volumes", self.api.volumes, filters={"label": f"{label}={value}"})
        return found.get("Volumes") or []

    def volume_sizes(self) -> Dict[str, int]:
        usage = self._call("disk usage", self.api.df)
        return {v["Name"]: v["UsageData"]["Size"] for v in usage.get("Volumes") or []
                if (v.get("UsageData") or {}).get("Size", -1) >= 0}

    def any_image(self) -> Optional[str]:
        ids = self._call("list images", self.api.images, quiet=True)
        return ids[0] if ids else None

    def create_helper(self, image: str, mounts: List[Tuple[str, str, bool]], name: str,
                      command: Optional[List[str]] = None) -> str:
        # A tmpfs over each image VOLUME keeps Docker from making an anonymous volume for it. Only
        # created, never started without a command: Docker's archive API works on it as it is.
        declared = ((self.image_attrs(image) or {}).get("Config") or {}).get("Volumes") or {}
        shadow = {path: "" for path in declared if path not in {p for _, p, _ in mounts}}
        host_config = self._call(
            "create helper", self.api.create_host_config, network_mode="none", tmpfs=shadow or None,
            binds=[f"{volume}:{path}:{'ro' if read_only else 'rw'}" for volume, path, read_only in mounts])
        created = self._call(
            "create helper", self.api.create_container, image, name=name, detach=True,
            user="0:0",  # as root whatever the image's USER: it reads and writes every file of the volumes
            entrypoint=command[:1] if command else [NEVER_STARTED], command=command[1:] if command else None,
            labels={HELPER_LABEL: "1"}, host_config=host_config)
        return created["Id"]

    def archive_get(self, cid: str, path: str, owners: bool = True) -> Iterator[bytes]:
        what = f"read {path} of {cid[:12]}"
        # "dir/." names the entries "./..." relative to dir, with dir's own metadata as "./".
        response = self._call(what, self.api.get, self.api._url("/containers/{0}/archive", cid),
                              params={"path": path.rstrip("/") + "/."}, stream=True, timeout=self.api.timeout,
                              headers={"Accept-Encoding": "identity"})  # dockerd gzips it otherwise: CPU-bound
        self._call(what, self.api._raise_for_status, response)
        return self._chunks(response, what)

    def archive_put(self, cid: str, path: str, chunks: Iterable[bytes]) -> None:
        import io
        import itertools
        import posixpath
        import tarfile

        what = f"write {path} of {cid[:12]}"
        chunks = iter(chunks)
        head = b""
        while len(head) < tarfile.BLOCKSIZE:
            chunk = next(chunks, None)
            if chunk is None:
                break
            head += chunk
        # Docker keeps the archive's owners unless copyUIDGID is set, which put_archive never sets.
        self._call(what, self.api.put_archive, cid, path, itertools.chain([head], chunks))
        # But it skips an entry "." that names an existing directory (pkg/archive Unpack), so the
        # directory's own owner, mode and times are applied as an entry of its parent.
        try:
            root = tarfile.TarInfo.frombuf(head[:tarfile.BLOCKSIZE], "utf-8", "surrogateescape")
        except tarfile.HeaderError:
            return
        if root.isdir() and root.name.strip("/") in ("", "."):
            entry = tarfile.TarInfo(posixpath.basename(path.rstrip("/")))
            entry.type, entry.mode, entry.mtime = tarfile.DIRTYPE, root.mode, root.mtime
            entry.uid, entry.gid, entry.uname, entry.gname = root.uid, root.gid, root.uname, root.gname
            data = io.BytesIO()
            with tarfile.open(fileobj=data, mode="w", format=tarfile.PAX_FORMAT) as archive:
                archive.addfile(entry)
            self._call(what, self.api.put_archive, cid, posixpath.dirname(path.rstrip("/")), data.getvalue())


def _short(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) < 200 else text[:200] + "..."
