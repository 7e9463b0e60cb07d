#!/bin/sh
# Stand-in for the OpenNebula Front-end bootstrap: reads the same customization
# variables, fails the same way (non-zero exit, so the container stops), and records
# what it did in /bootstrap-report for the tests to read.
report=/bootstrap-report
: >"$report"
say() { echo "$*" | tee -a "$report"; }
fail() { say "BOOTSTRAP FAILED: $*"; exit 1; }

readable() {  # readable VAR PATH MARKER
    [ -r "$2" ] || fail "$1=$2 is not readable"
    grep -q -- "$3" "$2" || fail "$1=$2 does not hold $3"
    say "$1 read: $2 ($(wc -c <"$2") bytes)"
}

# STANDIN_IGNORE_TERM=yes: stop then takes the whole stop timeout, as a slow MySQL shutdown does.
if [ "${STANDIN_IGNORE_TERM:-no}" = "yes" ]; then
    trap '' TERM
else
    trap 'say "SIGTERM: stopping"; exit 0' TERM INT
fi
pause() { sleep "$1" & wait $!; }

say "standin ${STANDIN_VERSION:-?} bootstrap, host ${OPENNEBULA_HOST:-unset}"
# STANDIN_BOOTSTRAP_SECONDS: how long the bootstrap takes (the real one takes minutes).
[ -n "${STANDIN_BOOTSTRAP_SECONDS:-}" ] && pause "$STANDIN_BOOTSTRAP_SECONDS"

# Like oned with its database: each version has a schema (its version number). With a volume
# at /var/lib/mysql, a newer version migrates the data (`onedb upgrade`) and an older one
# refuses a newer schema. STANDIN_FAIL_AFTER_MIGRATE=yes fails the bootstrap after migrating.
db=/var/lib/mysql
if grep -q " $db " /proc/mounts; then
    mine=${STANDIN_VERSION:-1}
    found=$(cat "$db/schema" 2>/dev/null || echo none)
    if [ "$found" = none ]; then
        echo "$mine" >"$db/schema"
        say "database created, schema $mine"
    elif [ "$found" -gt "$mine" ]; then
        fail "schema $found is newer than this version's schema $mine"
    elif [ "$found" -lt "$mine" ]; then
        echo "schema $found -> $mine" >>"$db/migrations"
        echo "$mine" >"$db/schema"
        say "database migrated: schema $found -> $mine"
        [ "${STANDIN_FAIL_AFTER_MIGRATE:-no}" = yes ] && fail "after migrating the database to schema $mine"
    else
        say "database schema $mine"
    fi
fi
[ -n "${TLS_CERT:-}" ] && readable TLS_CERT "$TLS_CERT" "BEGIN CERTIFICATE"
[ -n "${TLS_KEY:-}" ] && readable TLS_KEY "$TLS_KEY" "PRIVATE KEY"
[ -n "${ONEADMIN_SSH_PRIVKEY:-}" ] && readable ONEADMIN_SSH_PRIVKEY "$ONEADMIN_SSH_PRIVKEY" "PRIVATE KEY"
[ -n "${ONEADMIN_SSH_PUBKEY:-}" ] && readable ONEADMIN_SSH_PUBKEY "$ONEADMIN_SSH_PUBKEY" "ssh-"

if [ -n "${OPENNEBULA_PREBOOTSTRAP_HOOK:-}" ]; then
    "$OPENNEBULA_PREBOOTSTRAP_HOOK" || fail "pre-bootstrap hook exited $?"
    say "pre-bootstrap hook ran: $OPENNEBULA_PREBOOTSTRAP_HOOK"
fi

if [ -n "${OPENNEBULA_ONECFG_PATCH:-}" ]; then
    [ -r "$OPENNEBULA_ONECFG_PATCH" ] || fail "OPENNEBULA_ONECFG_PATCH=$OPENNEBULA_ONECFG_PATCH is not readable"
    n=0
    while IFS= read -r line || [ -n "$line" ]; do
        n=$((n + 1))
        case $line in ''|'#'*) continue ;; esac
        echo "$line" | grep -Eq '^/[^ ]+ (ins|set) [^ ]+ .+$|^/[^ ]+ rm [^ ]+$' \
            || fail "onecfg patch line $n: $line"
    done <"$OPENNEBULA_ONECFG_PATCH"
    say "OPENNEBULA_ONECFG_PATCH read: $OPENNEBULA_ONECFG_PATCH ($n lines)"
fi

if [ "${MAINTENANCE_MODE:-no}" = "yes" ]; then
    say "MAINTENANCE MODE: services not started"
else
    if [ -n "${OPENNEBULA_POSTBOOTSTRAP_HOOK:-}" ]; then
        "$OPENNEBULA_POSTBOOTSTRAP_HOOK" || fail "post-bootstrap hook exited $?"
        say "post-bootstrap hook ran: $OPENNEBULA_POSTBOOTSTRAP_HOOK"
    fi
    say "BOOTSTRAP OK"
fi
# The line a profile's [watch] ready_log waits for, printed in maintenance mode too.
say "STANDIN READY"

while :; do
    pause 1
done
