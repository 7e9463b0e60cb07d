"""An engine's socket on another host, forwarded to a local socket by the OpenSSH client.

The operator's own `ssh` is run, so ~/.ssh/config (Host aliases, Port, User,
IdentityFile, ProxyJump), the agent and known_hosts apply as in their shell. It runs
as a connection master, opened as soon as the command knows its host (the handshake runs
while Python imports the SDK), and each socket asked for is a forward added to it
(`ssh -O forward`).

Never a prompt (BatchMode), never a host key accepted on the way (StrictHostKeyChecking):
an unknown or changed key is refused with the host and the fingerprint it offered.

The master ends with one-run, unless the operator's configuration keeps masters
(ControlMaster, ControlPath and ControlPersist for that host, as Ansible's users have it):
then one-run uses the master found at that ControlPath, or opens it there to persist as
configured, so that the next command skips the handshake; only its own forwards end with it.
"""
import atexit
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from typing import Dict, Optional, Tuple

from ..common.errors import EngineUnavailable
from ..model.endpoint import ssh_destination
from ..model.values import HostUrl

OPTIONS = ("-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "ExitOnForwardFailure=yes",
           "-o", "StreamLocalBindUnlink=yes", "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4")
SSH = "ssh"


class Connection:
    """One ssh master to a host, its forwards as local sockets in a private folder."""

    def __init__(self, url: HostUrl, identity: Optional[str], timeout: float):
        self.url = url
        self.folder = tempfile.mkdtemp(prefix="one-run-ssh-")  # 0700: the sockets are the engine's root
        self.log = os.path.join(self.folder, "log")
        self.forwards: Dict[str, str] = {}
        self.destination = ["-o", f"ConnectTimeout={int(timeout)}", *ssh_destination(url, identity)]
        kept = _kept_master(self.destination)
        self.control, self.persist = kept if kept else (os.path.join(self.folder, "control"), None)
        self.master: Optional[subprocess.Popen] = None
        if self.persist:
            if self._check():
                return  # the operator's master to that host is up: no handshake at all
            if os.path.exists(self.control):  # a master that died left its socket: ssh would not bind over it
                os.unlink(self.control)
        # A persisting master forks to the background once it is up, and its first process exits 0.
        persist = ["-o", f"ControlPersist={self.persist}"] if self.persist else []
        with open(self.log, "wb") as log:
            # -v: the log then holds the fingerprint the host offered, for a refusal's message.
            try:
                self.master = subprocess.Popen(
                    [SSH, "-v", "-N", "-M", "-S", self.control, *persist, *OPTIONS, *self.destination],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True,
                    preexec_fn=_die_with_parent)  # a forked, persisting master does not inherit it
            except OSError as exc:
                shutil.rmtree(self.folder, ignore_errors=True)
                raise EngineUnavailable(f"cannot reach {url.text}: the OpenSSH client `{SSH}` does not run "
                                        f"({exc.strerror}); install openssh-client") from None
        self.deadline = time.monotonic() + timeout + 5

    def ready(self) -> None:
        """Wait for the connection to be up; EngineUnavailable (and closed) if it does not come up."""
        while not os.path.exists(self.control) or (self.master and self.persist and self.master.poll() is None):
            ended = self.master.poll() if self.master else None
            if (ended is not None and (ended != 0 or not self.persist)) or time.monotonic() > self.deadline:
                reason = self._failure()
                self.close()
                raise EngineUnavailable(f"cannot reach {self.url.text} over SSH: {reason}")
            time.sleep(0.005)

    def forward(self, remote_socket: str) -> str:
        """A local socket that leads to `remote_socket` on the host."""
        self.ready()
        if remote_socket not in self.forwards:
            local = os.path.join(self.folder, f"{len(self.forwards)}.sock")
            done = subprocess.run([SSH, "-S", self.control, "-O", "forward", "-L", f"{local}:{remote_socket}",
                                   *self.destination], stdin=subprocess.DEVNULL, capture_output=True, text=True)
            if done.returncode != 0 or not os.path.exists(local):
                raise EngineUnavailable(f"cannot forward {remote_socket} from {self.url.text}: "
                                        f"{done.stderr.strip() or 'ssh -O forward failed'}")
            self.forwards[remote_socket] = local
        return self.forwards[remote_socket]

    def run(self, command: str) -> subprocess.Popen:
        """`command` run by the host's shell over this connection; its stdin, stdout a pipe each."""
        self.ready()
        # A session of its own: a Ctrl-C or a SIGTERM to one-run's process group must not end it
        # while one-run still puts things back; it ends with one-run (PDEATHSIG) or its stdin.
        return subprocess.Popen([SSH, "-S", self.control, *self.destination, command], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True, preexec_fn=_die_with_parent)

    def alive(self) -> bool:
        starting = self.master is not None and self.master.poll() is None
        if self.persist:  # up at the ControlPath, or still coming up
            return starting or self._check()
        return starting

    def close(self) -> None:
        if self.persist:  # the operator's master stays, as configured; one-run's forwards do not
            for remote_socket, local in self.forwards.items():
                subprocess.run([SSH, "-S", self.control, "-O", "cancel", "-L", f"{local}:{remote_socket}",
                                *self.destination], stdin=subprocess.DEVNULL, capture_output=True)
        elif self.master.poll() is None:
            self.master.terminate()
            try:
                self.master.wait(5)
            except subprocess.TimeoutExpired:
                self.master.kill()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _check(self) -> bool:
        """Whether a master listens at the ControlPath (one that died leaves its socket behind).
        A connect, not `ssh -O check`: alive() asks at every connection() of the command, and
        an ssh run costs ~9 ms each time."""
        probe = socket.socket(socket.AF_UNIX)
        try:
            probe.connect(self.control)
            return True
        except OSError:
            return False
        finally:
            probe.close()

    def _failure(self) -> str:
        """Why the master did not come up, from its log: a host key refused, with its fingerprint;
        else OpenSSH's last words."""
        try:
            with open(self.log, encoding="utf-8", errors="replace") as f:
                lines = f.read().splitlines()
        except OSError:
            lines = []
        said = [line for line in lines if not line.startswith(("debug", "OpenSSH_", "Transferred", "Authenticated"))]
        if self.master is None or self.master.poll() in (None, 0):
            return f"no answer within the connect timeout{': ' + said[-1] if said else ''}"
        if any("Host key verification failed" in line for line in said):
            offered = next((m.group(1) for line in lines
                            for m in [re.search(r"Server host key: (\S+ SHA256:\S+)", line)] if m), "unknown")
            changed = any("REMOTE HOST IDENTIFICATION HAS CHANGED" in line for line in said)
            return (f"the host key it offered, {offered}, is {'NOT the one' if changed else 'not'} in known_hosts"
                    f"{' (it CHANGED)' if changed else ''}: refused, nothing was changed — compare it with the "
                    "host's own (`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` there), then put the right "
                    "key in ~/.ssh/known_hosts")
        return said[-1] if said else f"ssh exited with {self.master.returncode}"


def _kept_master(destination) -> Optional[Tuple[str, str]]:
    """(ControlPath, ControlPersist) when the operator's ssh configuration keeps masters to
    that host; None otherwise, or when ssh cannot say."""
    try:
        done = subprocess.run([SSH, "-G", *destination], stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    said = dict(line.partition(" ")[::2] for line in done.stdout.splitlines())
    keeps = said.get("controlmaster") in ("auto", "yes", "true") and said.get("controlpersist", "no") not in (
        "no", "false") and said.get("controlpath", "none") != "none"
    return (said["controlpath"], said["controlpersist"]) if keeps and done.returncode == 0 else None


def _die_with_parent() -> None:
    """The master ends with one-run, even killed: a forward with nobody behind it is a door left open."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


_connections: Dict[Tuple[str, Optional[str]], Connection] = {}


def connection(url: HostUrl, identity: Optional[str], timeout: float) -> Connection:
    """The one connection this process keeps to url's host, opened now if it is not open: the
    CLI opens it as soon as it knows the host, so the handshake runs while Python imports."""
    key = (url.without_path, identity)
    found = _connections.get(key)
    if found is None or not found.alive():
        found = _connections[key] = Connection(url, identity, timeout)
    return found


def forwarded_socket(url: HostUrl, identity: Optional[str], remote_socket: str, timeout: float) -> str:
    """unix:// URL of a local socket forwarded to `remote_socket` on url's host."""
    return "unix://" + connection(url, identity, timeout).forward(remote_socket)


@atexit.register
def _close_all() -> None:
    for open_one in _connections.values():
        open_one.close()
