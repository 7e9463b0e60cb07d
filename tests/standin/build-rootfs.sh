#!/usr/bin/env bash
# build-rootfs.sh OUT.tar: a busybox root file system for the stand-in image (see entrypoint.sh).
# Debian's static busybox has no bash applet, and hooks are written `#!/bin/bash` as the
# OpenNebula docs write them: /bin/bash is a shim that runs busybox sh.
set -euo pipefail
out=${1:?usage: build-rootfs.sh OUT.tar}
here=$(cd "$(dirname "$0")" && pwd)
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,run,proc,sys,dev,var/lib/one/backups,var/lib/one/datastores,var/lib/mysql}
chmod 1777 "$root/tmp"
cp /bin/busybox "$root/bin/busybox"
for applet in $(/bin/busybox --list); do
    [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done
printf '#!/bin/sh\nexec /bin/busybox sh "$@"\n' >"$root/bin/bash"
chmod 755 "$root/bin/bash"
install -m 755 "$here/entrypoint.sh" "$root/entrypoint.sh"
printf 'root:x:0:0:root:/root:/bin/sh\noneadmin:x:9869:9869::/var/lib/one:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\noneadmin:x:9869:\n' >"$root/etc/group"
tar -C "$root" --numeric-owner --owner=0 --group=0 -cf "$out" .
