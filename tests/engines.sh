#!/usr/bin/env bash
# Start or stop a private Docker and Podman engine for the tests, and the stand-in image.
#   tests/engines.sh start STATE_DIR   -> writes STATE_DIR/env (DOCKER_HOST, CONTAINER_HOST, ...)
#   tests/engines.sh stop STATE_DIR
#   tests/engines.sh standin STATE_DIR  (engines running, env sourced: add missing stand-in tags)
# As root, installs Debian's docker.io podman runc busybox-static when they are missing.
# Each engine gets its own socket and storage under STATE_DIR, so nothing on the host is touched.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cmd=${1:?usage: engines.sh start|stop|standin STATE_DIR}
state=${2:?usage: engines.sh start|stop|standin STATE_DIR}

install_missing() {
    local missing=()
    command -v dockerd >/dev/null || missing+=(docker.io)
    command -v podman >/dev/null || missing+=(podman)
    command -v runc >/dev/null || missing+=(runc)
    [ -x /bin/busybox ] || missing+=(busybox-static)
    [ -x /usr/sbin/sshd ] || missing+=(openssh-server)  # the remote host of the remote tests
    command -v openssl >/dev/null || missing+=(openssl)  # the certificates of dockerd's TLS socket
    [ -x /usr/libexec/podman/catatonit ] || [ -x /usr/bin/catatonit ] || missing+=(catatonit)  # podman's --init
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" != 0 ]; then
        echo "engines.sh: missing ${missing[*]} and not root to install them" >&2
        return 1
    fi
    echo "engines.sh: installing ${missing[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >"$state/apt.log" 2>&1 \
        || { apt-get update -q >>"$state/apt.log" 2>&1 &&
             DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >>"$state/apt.log" 2>&1; }
}

wait_for() {  # wait_for SECONDS COMMAND...
    local deadline=$((SECONDS + $1)); shift
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.2
    done
}

# The engines run in a mount namespace of their own in which the client folder (where the
# remote tests keep their profiles) is an empty tmpfs: a client path that reaches an engine
# finds nothing there, as on another host. Everything else propagates both ways, as on a
# host where systemd made / shared: the tests' own mounts (a small disk under a profile)
# reach the engines, and the network namespaces Podman's service mounts reach the podman CLI
# the tests run here. The client folder alone is a private mount, so the tmpfs stays inside.
private_client() {
    mkdir -p "$state/client"
    mount --make-rshared /
    mountpoint -q "$state/client" || mount --bind "$state/client" "$state/client"
    mount --make-private "$state/client"
}

beside_client() {
    exec unshare -m --propagation unchanged -- \
        sh -c 'mount -t tmpfs -o size=64k one-run-not-the-client "$0" && exec "$@"' "$state/client" "$@"
}

tls_certs() {  # tls_certs DIR: a CA, dockerd's certificate for 127.0.0.1, a client's, as `docker` reads them
    local dir=$1
    mkdir -p "$dir"
    (
        cd "$dir"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
            -subj /CN=one-run-test-ca -keyout ca-key.pem -out ca.pem 2>/dev/null
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=127.0.0.1 \
            -keyout server-key.pem -out server.csr 2>/dev/null
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 \
            -extfile <(echo "subjectAltName=IP:127.0.0.1"; echo "extendedKeyUsage=serverAuth") -out server.pem 2>/dev/null
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=client \
            -keyout key.pem -out client.csr 2>/dev/null
        openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 \
            -extfile <(echo "extendedKeyUsage=clientAuth") -out cert.pem 2>/dev/null
        chmod 600 ./*key.pem
    )
}

start_docker() {
    mkdir -p "$state/docker"
    # Also on TCP with TLS (--tlsverify: client certificates only), for the tcp:// endpoint's test.
    local port
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    tls_certs "$state/docker/tls"
    beside_client dockerd --host "unix://$state/docker.sock" --data-root "$state/docker/data" \
        --exec-root "$state/docker/exec" --pidfile "$state/docker/pid" \
        --host "tcp://127.0.0.1:$port" --tlsverify --tlscacert "$state/docker/tls/ca.pem" \
        --tlscert "$state/docker/tls/server.pem" --tlskey "$state/docker/tls/server-key.pem" \
        >"$state/docker/log" 2>&1 &
    export DOCKER_HOST="unix://$state/docker.sock"
    export ONE_RUN_TEST_DOCKER_TCP="tcp://127.0.0.1:$port" ONE_RUN_TEST_DOCKER_CERTS="$state/docker/tls"
    wait_for 60 docker version || { echo "engines.sh: dockerd did not start, see $state/docker/log" >&2; return 1; }
}

start_podman() {
    mkdir -p "$state/podman"
    # runc, because crun fails on this machine's hybrid cgroups; explicit ulimits, because
    # podman's defaults exceed what the sandbox grants.
    cat >"$state/podman/containers.conf" <<'EOF'
[engine]
runtime = "runc"

[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
EOF
    cat >"$state/podman/storage.conf" <<EOF
[storage]
driver = "vfs"
graphroot = "$state/podman/storage"
runroot = "$state/podman/run"
EOF
    # A registry on loopback speaks plain HTTP, as Docker assumes for 127.0.0.0/8 (bench/ runs one).
    cat >"$state/podman/registries.conf" <<'EOF'
unqualified-search-registries = []

[[registry]]
location = "127.0.0.1"
insecure = true
EOF
    export CONTAINERS_CONF="$state/podman/containers.conf" CONTAINERS_STORAGE_CONF="$state/podman/storage.conf"
    export CONTAINERS_REGISTRIES_CONF="$state/podman/registries.conf"
    # The service must not see CONTAINER_HOST, or it would try to be a client of itself.
    (unset CONTAINER_HOST; beside_client podman --log-level=warn system service --time=0 \
        "unix://$state/podman.sock" >"$state/podman/log" 2>&1) &
    echo $! >"$state/podman/pid"
    export CONTAINER_HOST="unix://$state/podman.sock"
    wait_for 60 podman version || { echo "engines.sh: podman service did not start, see $state/podman/log" >&2; return 1; }
}

OPERATOR=one-run-operator  # the remote tests' operator: OpenSSH reads ~/.ssh from the passwd home

start_sshd() {  # an sshd on loopback is the Front-end's host; the operator knows it as fe1
    # The operator has one ~/.ssh: the engines last started on this machine are the ones fe1 reaches.
    local dir="$state/sshd" port home
    mkdir -p "$dir" /run/sshd
    chmod 700 "$dir"
    ssh-keygen -q -t ed25519 -N '' -f "$dir/host_key"
    ssh-keygen -q -t ed25519 -N '' -C one-run-test-operator -f "$dir/operator_key"
    cp "$dir/operator_key.pub" "$dir/authorized_keys"
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    cat >"$dir/sshd_config" <<EOF
ListenAddress 127.0.0.1
Port $port
HostKey $dir/host_key
AuthorizedKeysFile $dir/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile $dir/pid
AcceptEnv DOCKER_HOST
Subsystem sftp /usr/lib/openssh/sftp-server

EOF
    /usr/sbin/sshd -f "$dir/sshd_config" -E "$dir/log"
    # A system account: no subordinate ids added to /etc/subuid, which a test reads.
    id "$OPERATOR" >/dev/null 2>&1 || useradd --system --create-home --shell /bin/bash "$OPERATOR"
    home=$(getent passwd "$OPERATOR" | cut -d: -f6)
    install -d -m 700 -o "$OPERATOR" "$home/.ssh"
    install -m 600 -o "$OPERATOR" "$dir/operator_key" "$home/.ssh/one-run-test"
    echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$dir/host_key.pub")" >"$home/.ssh/known_hosts"
    # fe1-unknown and fe1-changed are fe1 with a known_hosts that lacks its key or holds another one.
    ssh-keygen -q -t ed25519 -N '' -f "$dir/other_key"
    : >"$home/.ssh/unknown_known_hosts"
    echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$dir/other_key.pub")" >"$home/.ssh/changed_known_hosts"
    {
        for alias in fe1 fe1-unknown fe1-changed; do
            printf 'Host %s\n    HostName 127.0.0.1\n    Port %s\n    User root\n    IdentityFile ~/.ssh/one-run-test\n' \
                "$alias" "$port"
            [ "$alias" = fe1 ] || printf '    UserKnownHostsFile ~/.ssh/%s_known_hosts\n' "${alias#fe1-}"
        done
        # fe1-kept is fe1 for an operator whose masters persist (as Ansible's users have it).
        printf 'Host fe1-kept\n    HostName 127.0.0.1\n    Port %s\n    User root\n    IdentityFile ~/.ssh/one-run-test\n' \
            "$port"
        printf '    ControlMaster auto\n    ControlPath ~/.ssh/kept-%%C\n    ControlPersist 60\n'
    } >"$home/.ssh/config"
    chown "$OPERATOR" "$home/.ssh/"*known_hosts "$home/.ssh/config" "$state/client"
    export ONE_RUN_TEST_SSH_PORT=$port
}

build_standin() {  # build_standin CLI: localhost/one-run-standin:1, :2, :s1, :s2 (imported), :health (built)
    # :s1 and :s2 are :1 and :2 with the database schema of entrypoint.sh, under tags of their
    # own so that engines already running with an older :1/:2 get them too (snapshot tests).
    local cli=$1 tag
    for tag in 1 2 s1 s2; do
        "$cli" image inspect "localhost/one-run-standin:$tag" >/dev/null 2>&1 && continue
        "$cli" import \
            --change 'ENTRYPOINT ["/entrypoint.sh"]' \
            --change 'VOLUME ["/var/lib/one/backups"]' \
            --change 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin' \
            --change "ENV STANDIN_VERSION=${tag#s}" \
            --change 'LABEL org.opencontainers.image.title=one-run-standin' \
            "$state/standin.tar" "localhost/one-run-standin:$tag" >/dev/null
    done
    "$cli" image inspect localhost/one-run-standin:health >/dev/null 2>&1 && return 0
    # Podman keeps HEALTHCHECK only in Docker-format images.
    local format=(); [ "$cli" = podman ] && format=(--format docker)
    "$cli" build -q "${format[@]}" -t localhost/one-run-standin:health \
        -f "$here/standin/Dockerfile.health" "$here/standin" >"$state/build.log" 2>&1 \
        || { cat "$state/build.log" >&2; return 1; }
}

case $cmd in
standin)  # (re)build the stand-in rootfs and add the tags missing on running engines
    bash "$here/standin/build-rootfs.sh" "$state/standin.tar"
    build_standin docker
    build_standin podman
    ;;
start)
    mkdir -p "$state"
    chmod 711 "$state"  # mktemp's 0700 would keep the remote tests' operator out of its client folder
    install_missing
    private_client
    bash "$here/standin/build-rootfs.sh" "$state/standin.tar"
    start_docker
    start_podman
    start_sshd
    build_standin docker
    build_standin podman
    {
        echo "export DOCKER_HOST=$DOCKER_HOST"
        echo "export CONTAINER_HOST=$CONTAINER_HOST"
        echo "export CONTAINERS_CONF=$CONTAINERS_CONF"
        echo "export CONTAINERS_STORAGE_CONF=$CONTAINERS_STORAGE_CONF"
        echo "export CONTAINERS_REGISTRIES_CONF=$CONTAINERS_REGISTRIES_CONF"
        echo "export ONE_RUN_STATE_DIR=$state/one-run"
        echo "export ONE_RUN_TEST_ENGINES=docker,podman"
        echo "export ONE_RUN_TEST_STANDIN=$state/standin.tar"  # the stand-in's root, for engines a test starts
        # The remote tests: the operator's profiles in the client folder, its host fe1 on loopback.
        echo "export ONE_RUN_TEST_OPERATOR=$OPERATOR ONE_RUN_TEST_CLIENT=$state/client"
        echo "export ONE_RUN_TEST_SSH_PORT=$ONE_RUN_TEST_SSH_PORT"
        echo "export ONE_RUN_TEST_DOCKER_TCP=$ONE_RUN_TEST_DOCKER_TCP ONE_RUN_TEST_DOCKER_CERTS=$ONE_RUN_TEST_DOCKER_CERTS"
    } >"$state/env"
    echo "engines.sh: docker and podman ready (source $state/env)" >&2
    ;;
stop)
    # Podman's containers outlive its service (conmon runs them), and once their state folder
    # is gone they spin (seen: two at 15 % CPU each, for as long as the machine runs).
    if [ -S "$state/podman.sock" ]; then
        podman --url "unix://$state/podman.sock" rm --all --force --time 0 >/dev/null 2>&1 || true
    fi
    for pidfile in "$state/podman/pid" "$state/docker/pid" "$state/sshd/pid"; do
        [ -f "$pidfile" ] || continue
        pid=$(cat "$pidfile")
        kill "$pid" 2>/dev/null || continue
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    done
    # Containers' mounts under the state folder outlive the daemons; unmount before removing.
    grep -o " $state[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$state"
    ;;
*)
    echo "usage: engines.sh start|stop STATE_DIR" >&2
    exit 2
    ;;
esac
