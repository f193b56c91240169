#!/bin/sh
# RabbitMQ for the amqp source's end-to-end tests (issue 7): Debian's rabbitmq-server on
# 127.0.0.1 only, started without systemd (CI is a fresh Debian 12 machine, root, no init).
# Idempotent: does nothing but wait when the broker is already up.
set -eu

CONF_DIR=/etc/rabbitmq
START_TIMEOUT_S=${RABBITMQ_START_TIMEOUT_S:-120}

# Loopback only: the AMQP listener, Erlang distribution (25672) and epmd (4369).
# Written before the package is installed so that even a start by its maintainer scripts
# would not listen on other interfaces.
mkdir -p "$CONF_DIR"
cat > "$CONF_DIR/rabbitmq-env.conf" <<'CONF'
# Written by .ci/setup.d/50-rabbitmq.sh: a test broker on loopback only.
NODENAME=rabbit@localhost
NODE_IP_ADDRESS=127.0.0.1
NODE_PORT=5672
DIST_PORT=25672
SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
export ERL_EPMD_ADDRESS=127.0.0.1
CONF
cat > "$CONF_DIR/rabbitmq.conf" <<'CONF'
# Written by .ci/setup.d/50-rabbitmq.sh: a test broker on loopback only.
listeners.tcp.default = 127.0.0.1:5672
loopback_users.guest = true
CONF
export ERL_EPMD_ADDRESS=127.0.0.1

if ! command -v rabbitmqctl >/dev/null 2>&1; then
    # Keep the package's scripts from starting the service on their own (no systemd here);
    # an existing policy-rc.d (e.g. Docker's) is left exactly as it is.
    made_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends rabbitmq-server
    [ -n "$made_policy" ] && rm -f /usr/sbin/policy-rc.d
fi

if timeout 30 rabbitmqctl -q status >/dev/null 2>&1; then
    echo "rabbitmq: already running"
else
    # The broker starts epmd itself; ERL_EPMD_ADDRESS (exported above) keeps it on loopback.
    rabbitmq-server -detached
fi

# `await_startup` fails at once while the node is not yet registered, so poll it until the
# deadline; `timeout` bounds each call should the CLI itself hang.
deadline=$(( $(date +%s) + START_TIMEOUT_S ))
until timeout 30 rabbitmqctl -q await_startup --timeout 20 >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
        echo "rabbitmq: did not start within ${START_TIMEOUT_S} s; last log lines:" >&2
        tail -n 40 /var/log/rabbitmq/*.log >&2 || true
        exit 1
    fi
    sleep 1
done
echo "rabbitmq: up on 127.0.0.1:5672"
