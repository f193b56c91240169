#!/bin/sh
# redis-server and nginx for the tests of the reference server on Redis with gateways behind a
# load balancer (issue 17). Only installs: the tests start their own redis-server (127.0.0.1, a
# free port, a temporary directory, AOF on) and their own nginx (a generated configuration on a
# free port), so nothing here starts a service and nothing relies on systemd. Idempotent.
set -eu

"$(dirname "$0")/../install-without-starting" redis-server nginx
command -v redis-server >/dev/null
test -x /usr/sbin/nginx
