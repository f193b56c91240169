#!/bin/sh
# redis-server and nginx for the tests of the reference server on Redis with gateways behind a
# load balancer (issue 17). Only installs: the tests start their own redis-server (127.0.0.1, a
# free port, a temporary directory, AOF on) and their own nginx (a generated configuration on a
# free port), so nothing here starts a service and nothing relies on systemd. Idempotent.
set -eu

need=""
for pkg in redis-server nginx; do
    dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null | grep -q '^ii' || need="$need $pkg"
done
if [ -n "$need" ]; then
    # Keep the packages' scripts from starting services on their own (no systemd here);
    # an existing policy-rc.d (e.g. Docker's) is left exactly as it is.
    made_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    apt-get -o DPkg::Lock::Timeout=120 update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 install -y -qq \
        --no-install-recommends $need
    [ -n "$made_policy" ] && rm -f /usr/sbin/policy-rc.d
fi
command -v redis-server >/dev/null
test -x /usr/sbin/nginx
