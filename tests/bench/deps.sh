# shellcheck shell=bash
# bench_deps — install what `make bench` needs that the build does not:
# postfix (smtp-sink, smtp-source), nginx, wrk, GNU time, strace.  Only as
# root, non-interactively; the packaged daemons must not start (a
# policy-rc.d that forbids it is in place while apt runs) and are stopped
# and disabled if anything started them anyway, so nothing binds port 25
# or 80: the bench runs its own instances on loopback ports.
bench_deps() {
    local want=() p
    for p in postfix nginx-core wrk time strace; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' || want+=("$p")
    done
    ((${#want[@]} == 0)) && return 0
    if ((EUID != 0)); then
        echo "bench: missing packages: ${want[*]} — run as root: apt-get install -y ${want[*]}" >&2
        return 1
    fi
    echo "bench: installing ${want[*]}" >&2
    local had_policy=0
    [[ -e /usr/sbin/policy-rc.d ]] && had_policy=1
    if ((!had_policy)); then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
    fi
    local rc=0
    {
        echo "postfix postfix/main_mailer_type select No configuration"
        echo "postfix postfix/mailname string localhost"
    } | debconf-set-selections 2>/dev/null || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${want[@]}" >/dev/null 2>&1 || {
        apt-get update -q >/dev/null 2>&1
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${want[@]}" >/dev/null 2>&1
    } || rc=$?
    ((had_policy)) || rm -f /usr/sbin/policy-rc.d
    # Belt and braces: whatever started anyway is stopped and kept off.
    local svc
    for svc in postfix nginx; do
        if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
            systemctl stop "$svc" 2>/dev/null || true
            systemctl disable "$svc" 2>/dev/null || true
        fi
    done
    [[ -x /usr/sbin/postfix ]] && /usr/sbin/postfix status >/dev/null 2>&1 && /usr/sbin/postfix stop >/dev/null 2>&1
    [[ -f /run/nginx.pid ]] && kill "$(cat /run/nginx.pid)" 2>/dev/null
    if ((rc != 0)); then
        echo "bench: apt-get install ${want[*]} failed" >&2
        return 1
    fi
    return 0
}
