"""The server's state in Redis, shared by any number of gateway processes.

Layout (every per-shop key carries the shop in a hash tag, `{name}`, so one shop's keys live in
one slot and the scripts below run unchanged on Redis Cluster):

- `notifier:{shop}:meta`  hash: token_hash (SHA-256 of the client token), secret (the ingest
  secret itself: HMAC verification needs it, exactly as the SQLite store keeps it in a 0600
  file; protect Redis accordingly: ACL user, TLS, no public port), identity, created_at,
  last_seq, pruned_through.
- `notifier:{shop}:log`   stream; entry ID `<seq>-0`, fields at (received_at), ev (the event
  as JSON), id (the shop identity it was stored under). A client's `after=<seq>` cursor is
  the stream ID, so resuming means the same as on SQLite.
- `notifier:{shop}:nonce:<nonce>`, `notifier:{shop}:idem:<key>`  SET NX EX: they expire by
  themselves after the replay window / idempotency window.
- `notifier:{shop}:order:<order id>`  a decided or cancelled order's state (order_states.py):
  "state|seq|identity", expiring order_states.KEEP_S after its last change.
- `notifier:{shop}:callbacks` hash: event id -> the queued callback delivery (JSON: url, seq,
  ev, at); `notifier:{shop}:callbacks:due` sorted set: event id scored by its next attempt (a
  claimed one: the end of the claim's lease); `notifier:{shop}:callbacks:tries` hash: event id ->
  failed attempts. The callback URL is `callback_url` in the shop's meta hash.
- `notifier:callbacks:due_shops` sorted set: shop -> when it next has a delivery due (at the
  latest): where gateways look for due deliveries.
- `notifier:callback_shops` set of the shops given a callback URL: where the due index is
  rebuilt from (removed with the shop).
- `notifier:shops` set of names, `notifier:credver` counter, `notifier:store_id`, and the
  pub/sub channels `notifier:credentials` (every add/rotate/remove is announced there, so every
  gateway closes revoked streams at once) and `notifier:new` (the shop of every new event).

Appending is one Lua script per event: check the shop exists, the idempotency key, for a
decision the order's state, take the nonce, increment last_seq and XADD with that number,
atomically; for a decision the same script
queues its callback delivery when the shop has a callback URL. Two gateways ingesting for
one shop at once can therefore never reuse a number or reorder. A batch of requests (group
commit) goes as one pipeline: one round trip.

On Redis Cluster (`redis+cluster://host:port[,host:port…]`) the same layout and scripts run
through redis-py's `RedisCluster`: every script and every multi-key command names one shop's
keys only, so one slot; the global keys (`notifier:shops`, `credver`, `store_id`) are single
keys. The scripts are loaded on every primary up front, since a cluster pipeline does not
reload a script a node lost (restart, failover): appends refused with NOSCRIPT run again once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry

from notifier.core.protocol import token_hash, valid_shop_name
from notifier.server import order_states, shop_state
from notifier.server.deliveries import BATCH, Delivery, callback_body, check_callback_url
from notifier.server.store import (
    IDEMPOTENCY_KEEP_S,
    NONCE_KEEP_S,
    PRUNE_BATCH,
    Appending,
    Credentials,
    IngestResult,
    PrunesInBatches,
    Shop,
    ShopError,
)

PREFIX = "notifier"
SHOPS_KEY = f"{PREFIX}:shops"
CREDVER_KEY = f"{PREFIX}:credver"
STORE_ID_KEY = f"{PREFIX}:store_id"
CREDENTIALS_CHANNEL = f"{PREFIX}:credentials"
NEW_EVENTS_CHANNEL = f"{PREFIX}:new"  # message: the name of a shop that has a new event
CALLBACK_SHOPS_KEY = f"{PREFIX}:callback_shops"
# Sorted set: shop -> when it next has a callback due (at most; a pointer that may be early,
# never late). Gateways look here instead of at every shop with a callback URL.
CALLBACKS_DUE_SHOPS_KEY = f"{PREFIX}:callbacks:due_shops"
SOCKET_TIMEOUT_S = 5.0  # a call to a Redis that stopped answering gives up after this
REINDEX_BATCH = 500  # shops per round trip when the due index is rebuilt
CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")


def is_cluster_url(url: str) -> bool:
    return url.split("://", 1)[0] in CLUSTER_SCHEMES


def cluster_client(url: str, **options: Any) -> RedisCluster:
    """A `RedisCluster` for `redis+cluster://[user:password@]host:port[,host:port…]` (any of the
    nodes will do: the client learns the rest from the cluster); `rediss+cluster://` for TLS."""
    scheme, _, rest = url.partition("://")
    rest = rest.split("/", 1)[0]  # a cluster has only database 0
    auth, _, hosts = rest.rpartition("@")
    if auth:
        from urllib.parse import unquote

        user, _, password = auth.partition(":")
        if user:
            options["username"] = unquote(user)
        if password:
            options["password"] = unquote(password)
    nodes = []
    for part in hosts.split(","):
        host, _, port = part.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"a cluster node is named host:port, not {part.strip()!r}")
        nodes.append(ClusterNode(host.strip("[]"), int(port)))
    if scheme == "rediss+cluster":
        options["ssl"] = True
    return RedisCluster(startup_nodes=nodes, **options)


def meta_key(shop: str) -> str:
    return f"{PREFIX}:{{{shop}}}:meta"


def log_key(shop: str) -> str:
    return f"{PREFIX}:{{{shop}}}:log"


def nonce_key(shop: str, nonce: str) -> str:
    return f"{PREFIX}:{{{shop}}}:nonce:{nonce}"


def idem_key(shop: str, key: str) -> str:
    return f"{PREFIX}:{{{shop}}}:idem:{key}"


def order_key(shop: str, order_id: str) -> str:
    """The order's state (order_states.py): "state|seq|identity", expiring by itself."""
    return f"{PREFIX}:{{{shop}}}:order:{order_id}"


def callbacks_key(shop: str) -> str:
    return f"{PREFIX}:{{{shop}}}:callbacks"


def callbacks_due_key(shop: str) -> str:
    return f"{PREFIX}:{{{shop}}}:callbacks:due"


def callbacks_tries_key(shop: str) -> str:
    return f"{PREFIX}:{{{shop}}}:callbacks:tries"


# KEYS: meta, log, nonce, idem, callbacks, callbacks:due, order state
# ARGV: now, event json, body hash, nonce ttl, idem ttl, has key, shop, channel, is a decision,
#       the event's kind when it may move the order's state ('' otherwise), order state ttl,
#       the event's kind when it opens or closes the shop ('' otherwise), '1' when the event is
#       marked if it comes while the shop is closed (shop_state.py)
# The PUBLISH tells every gateway which shop has something new (it then reads only that stream);
# it is not keyed, so the script stays within one slot on Redis Cluster. The order's state
# ("state|seq|identity") follows order_states.TRANSITIONS, written into the script below.
_APPEND = """
local transitions = __TRANSITIONS__
local shop_transitions = __SHOP_TRANSITIONS__
if redis.call('EXISTS', KEYS[1]) == 0 then return {'gone'} end
local identity = redis.call('HGET', KEYS[1], 'identity')
if ARGV[6] == '1' then
  local prev = redis.call('GET', KEYS[4])
  if prev then
    local seq, hash, at, ident = string.match(prev, '^(%d+)|(%x+)|([^|]+)|(.*)$')
    if ident == identity then return {'dup', seq, hash, at} end
  end
end
if redis.call('HEXISTS', KEYS[1], 'arriving') == 1 then return {'arriving'} end
local moves_to = nil
if ARGV[10] ~= '' then
  local state, state_seq = 'open', '0'
  local held = redis.call('GET', KEYS[7])
  if held then
    local s, q, ident = string.match(held, '^([^|]+)|(%d+)|(.*)$')
    if ident == identity then state, state_seq = s, q end
  end
  moves_to = (transitions[state] or {})[ARGV[10]]
  if not moves_to and ARGV[9] == '1' then return {'refused', state, state_seq, identity} end
end
local shop_moves_to = nil
local status = redis.call('HGET', KEYS[1], 'status') or 'open'
if ARGV[12] ~= '' then
  shop_moves_to = (shop_transitions[status] or {})[ARGV[12]]
  if not shop_moves_to then
    return {'refused', status, redis.call('HGET', KEYS[1], 'status_seq') or '0', identity}
  end
end
local ev, closed = ARGV[2], '0'
if ARGV[13] == '1' and status == 'closed' then
  ev, closed = string.sub(ev, 1, -2) .. __CLOSED_MARK__, '1'
end
if not redis.call('SET', KEYS[3], '1', 'NX', 'EX', ARGV[4]) then return {'nonce'} end
local seq = redis.call('HINCRBY', KEYS[1], 'last_seq', 1)
redis.call('XADD', KEYS[2], seq .. '-0', 'at', ARGV[1], 'ev', ev, 'id', identity)
if moves_to then
  redis.call('SET', KEYS[7], moves_to .. '|' .. seq .. '|' .. identity, 'EX', ARGV[11])
end
if shop_moves_to then
  redis.call('HSET', KEYS[1], 'status', shop_moves_to, 'status_seq', seq)
end
redis.call('PUBLISH', ARGV[8], ARGV[7])
if ARGV[6] == '1' then
  redis.call('SET', KEYS[4], seq .. '|' .. ARGV[3] .. '|' .. ARGV[1] .. '|' .. identity, 'EX', ARGV[5])
end
if ARGV[9] == '1' then
  local url = redis.call('HGET', KEYS[1], 'callback_url')
  if url then
    local id = seq
    if identity ~= '' then id = identity .. ':' .. seq end
    redis.call('HSET', KEYS[5], id, cjson.encode({url = url, seq = seq, ev = ARGV[2], at = ARGV[1]}))
    redis.call('ZADD', KEYS[6], ARGV[1], id)
  end
end
return {'ok', tostring(seq), identity, closed}
""".replace("__TRANSITIONS__", order_states.lua_table()).replace(
    "__SHOP_TRANSITIONS__", order_states.lua_table(shop_state.TRANSITIONS)).replace(
    "__CLOSED_MARK__", json.dumps(shop_state.marked("}")))

# KEYS: meta  ARGV: field, value, ...  (only when the shop exists: a rotate racing a remove
# must not bring back half a shop)
_UPDATE_IF_EXISTS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""

# KEYS: meta  ARGV: field, value, ...
_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""

# KEYS: meta, log  ARGV: cutoff time, batch. Trims the oldest entries received before the cutoff
# (XTRIM MINID to the first one kept) and remembers the highest trimmed seq.
_PRUNE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local entries = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', ARGV[2])
local cutoff = tonumber(ARGV[1])
local last = nil
local n = 0
for _, entry in ipairs(entries) do
  local fields = entry[2]
  local at = nil
  for i = 1, #fields, 2 do if fields[i] == 'at' then at = tonumber(fields[i + 1]) end end
  if at == nil or at >= cutoff then break end
  last = entry[1]
  n = n + 1
end
if n == 0 then return 0 end
local seq = tonumber(string.match(last, '^(%d+)'))
redis.call('XTRIM', KEYS[2], 'MINID', (seq + 1) .. '-0')
local pruned = tonumber(redis.call('HGET', KEYS[1], 'pruned_through') or '0')
if seq > pruned then redis.call('HSET', KEYS[1], 'pruned_through', seq) end
return n
"""


# KEYS: meta  ARGV: url ("" clears it)
_SET_CALLBACK = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[1] == '' then redis.call('HDEL', KEYS[1], 'callback_url')
else redis.call('HSET', KEYS[1], 'callback_url', ARGV[1]) end
return 1
"""

# KEYS: callbacks:due, callbacks, callbacks:tries  ARGV: now, lease end, limit
# Claims the due deliveries (their score becomes the lease's end, so no other gateway takes
# them meanwhile); returns {score of the next due one or '', {id, record, tries, ...}}.
_CLAIM = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(ids) do
  local record = redis.call('HGET', KEYS[2], id)
  if record then
    redis.call('ZADD', KEYS[1], 'XX', ARGV[2], id)
    out[#out + 1] = id
    out[#out + 1] = record
    out[#out + 1] = redis.call('HGET', KEYS[3], id) or '0'
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {first[2] or '', out}
"""

# KEYS: callbacks:due, callbacks:tries  ARGV: id, claim (lease end), next attempt
# Only the gateway whose claim still holds reschedules: one whose lease ran out lost it.
_RETRY = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) ~= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], 'XX', ARGV[3], ARGV[1])
redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
return 1
"""

# KEYS: callbacks:due, callbacks, callbacks:tries  ARGV: id
_FINISH = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return 1
"""

# KEYS: callbacks:due, callbacks, callbacks:tries  ARGV: id, record, tries, due at
_IMPORT = """
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
return 1
"""


# KEYS: callbacks:due_shops  ARGV: shop, its score as read before claiming, its next due ('' if
# none). Moves the shop's pointer only if nobody moved it meanwhile: an append that queued a
# delivery after our claim set it to its own time, which must stay.
_REPOINT = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) ~= tonumber(ARGV[2]) then return 0 end
if ARGV[3] == '' then redis.call('ZREM', KEYS[1], ARGV[1]) else redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1]) end
return 1
"""


class VolatileRedis(RuntimeError):
    """Redis keeps nothing on disk: a restart would lose every event and shop."""


def persistence(client: redis.Redis) -> dict[str, str]:
    """Redis's persistence settings that matter here (appendonly, appendfsync, save). On a
    cluster those of the weakest primary: one node without persistence loses its shops."""
    if isinstance(client, RedisCluster):
        weakest: dict[str, str] = {}
        for node in client.get_primaries():
            found = persistence(client.get_redis_connection(node))
            if not weakest or (found.get("appendonly") != "yes" and not found.get("save", "").strip()):
                weakest = found
        return weakest
    found: dict[str, str] = {}
    for name in ("appendonly", "appendfsync", "save"):
        found.update(client.config_get(name))
    return found


def check_persistence(client: redis.Redis) -> None:
    """Raise VolatileRedis when neither AOF nor RDB snapshots are on."""
    settings = persistence(client)
    if settings.get("appendonly", "no") != "yes" and not settings.get("save", "").strip():
        raise VolatileRedis("Redis has persistence off (appendonly no, no save points)")


class RedisEventStore(PrunesInBatches):
    """All server state in one Redis (or Redis Cluster through the same key layout)."""

    shared = True

    def __init__(self, client: redis.Redis, *, clock=time.time, url: str = "", options: dict | None = None):
        self.client = client
        self.url = url
        self._options = options or {}
        self._notes: dict[int, str] = {}  # credentials version -> shop, heard on the channel
        self._notes_lock = threading.Lock()
        self._credentials: dict[str, tuple[str, str]] | None = None  # as of _credentials_seen
        self._credentials_seen: int | None = None
        self._clock = clock
        self._append = client.register_script(_APPEND)
        self._update = client.register_script(_UPDATE_IF_EXISTS)
        self._create = client.register_script(_CREATE)
        self._prune = client.register_script(_PRUNE)
        self._set_callback = client.register_script(_SET_CALLBACK)
        self._claim = client.register_script(_CLAIM)
        self._retry = client.register_script(_RETRY)
        self._finish = client.register_script(_FINISH)
        self._import = client.register_script(_IMPORT)
        self._repoint = client.register_script(_REPOINT)
        self.cluster = isinstance(client, RedisCluster)
        if self.cluster:
            self._load_scripts()
        client.set(STORE_ID_KEY, secrets.token_hex(6), nx=True)
        self.store_id: str = client.get(STORE_ID_KEY).decode()
        self.data_dir = Path(url or "redis")  # for log lines that name where the data is

    @classmethod
    def from_url(cls, url: str, *, ca: Path | None = None, socket_timeout: float = SOCKET_TIMEOUT_S,
                 **kwargs) -> RedisEventStore:
        # No retries inside the client: redis-py would retry a timed-out call up to ten times
        # (a paused Redis then holds a caller for minutes), and a retried append whose first
        # try did run would be refused as a reused nonce. Callers decide what a failure means.
        options: dict[str, Any] = {"socket_connect_timeout": 5, "socket_timeout": socket_timeout,
                                   "health_check_interval": 30, "retry": Retry(NoBackoff(), 0)}
        if url.startswith(("rediss://", "rediss+cluster://")) and ca:
            options["ssl_ca_certs"] = str(ca)
        client = cluster_client(url, **options) if is_cluster_url(url) else redis.Redis.from_url(url, **options)
        client.ping()
        return cls(client, url=url, options=options, **kwargs)

    def new_client(self, **overrides: Any) -> redis.Redis:
        """Another client of the same Redis (the live follower's blocking reads)."""
        if is_cluster_url(self.url):
            return cluster_client(self.url, **{**self._options, **overrides})
        return redis.Redis.from_url(self.url, **{**self._options, **overrides})

    def _load_scripts(self) -> None:
        for script in (self._append, self._update, self._create, self._prune, self._set_callback, self._claim,
                       self._retry, self._finish, self._import, self._repoint):
            self.client.script_load(script.script)  # on every primary

    def close(self) -> None:
        self.client.close()

    def durability_problem(self) -> str | None:
        """Why an event answered 201 now could be lost by a Redis restart, or None. Checked by a
        running server again and again, not only at start: persistence can be switched off at
        runtime (CONFIG SET appendonly no). A Redis that refuses CONFIG says nothing here (the
        start-up check made the operator vouch for it with --allow-volatile)."""
        try:
            check_persistence(self.client)
        except VolatileRedis as exc:
            return str(exc)
        except redis.exceptions.ResponseError:
            return None
        return None

    def checkpoint(self) -> None:
        """Nothing to do: Redis persists by its own AOF/RDB settings."""

    def announce(self, shop: str) -> None:
        """Tell every gateway that `shop`'s credentials or existence changed: the message is
        "<new credentials version> <shop>", so a gateway can re-read just that shop."""
        version = self.client.incr(CREDVER_KEY)
        self.client.publish(CREDENTIALS_CHANNEL, f"{version} {shop}")

    def note_change(self, message: bytes | str) -> None:
        """A message heard on the credentials channel (called by the live follower's thread)."""
        text = message.decode() if isinstance(message, bytes) else message
        version, _, shop = text.partition(" ")
        if version.isdigit() and shop:
            with self._notes_lock:
                self._notes[int(version)] = shop

    # -- shops ---------------------------------------------------------------------------

    def add_shop(self, name: str) -> Credentials:
        if not valid_shop_name(name):
            raise ShopError(f"shop name {name!r} must be 1-64 letters, digits, '.', '_' or '-'")
        token, secret = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        created = self._create(keys=[meta_key(name)], args=[
            "token_hash", token_hash(token), "secret", secret, "identity", secrets.token_hex(6),
            "created_at", repr(self._clock()), "last_seq", 0, "pruned_through", 0,
        ])
        if not created:
            raise ShopError(f"shop {name!r} already exists")
        self.client.sadd(SHOPS_KEY, name)
        self.announce(name)
        return Credentials(name, token, secret)

    def rotate(self, name: str, *, token: bool = True, ingest: bool = False) -> Credentials:
        new_token = secrets.token_urlsafe(32) if token else None
        new_secret = secrets.token_urlsafe(32) if ingest else None
        fields: list[str] = []
        if new_token:
            fields += ["token_hash", token_hash(new_token)]
        if new_secret:
            fields += ["secret", new_secret]
        if not valid_shop_name(name):
            raise ShopError(f"no shop named {name!r}")
        exists = self._update(keys=[meta_key(name)], args=fields) if fields else self.client.exists(meta_key(name))
        if not exists:
            raise ShopError(f"no shop named {name!r}")
        self.announce(name)
        return Credentials(name, new_token, new_secret)

    def remove_shop(self, name: str) -> None:
        if not valid_shop_name(name):
            raise ShopError(f"no shop named {name!r}")
        # Nonces and idempotency keys expire by themselves; an idempotency key of the removed
        # shop is ignored by a re-created one (it names the old identity).
        gone = self.client.delete(meta_key(name), log_key(name))
        self.client.delete(callbacks_key(name), callbacks_due_key(name), callbacks_tries_key(name))
        self.client.srem(SHOPS_KEY, name)
        self.client.srem(CALLBACK_SHOPS_KEY, name)
        self.client.zrem(CALLBACKS_DUE_SHOPS_KEY, name)
        self.announce(name)
        if not gone:
            raise ShopError(f"no shop named {name!r}")

    def _names(self) -> list[str]:
        return sorted(n.decode() for n in self.client.smembers(SHOPS_KEY))

    def shops(self) -> list[Shop]:
        names = self._names()
        pipe = self.client.pipeline(transaction=False)
        for name in names:
            pipe.hmget(meta_key(name), "created_at", "last_seq", "pruned_through", "identity")
            pipe.xlen(log_key(name))
        replies = pipe.execute()
        found = []
        for i, name in enumerate(names):
            fields, count = replies[2 * i], replies[2 * i + 1]
            if fields[0] is not None:
                found.append(_shop(name, fields, count))
        return found

    def shop(self, name: str) -> Shop | None:
        if not valid_shop_name(name):
            return None
        fields = self.client.hmget(meta_key(name), "created_at", "last_seq", "pruned_through", "identity", "status")
        return _shop(name, fields, 0) if fields[0] is not None else None

    def credentials_version(self) -> int:
        """Changes with every add/rotate/remove, by any process (O(1))."""
        return int(self.client.get(CREDVER_KEY) or 0)

    def shop_credentials(self) -> dict[str, tuple[str, str]]:
        """Every shop's (token hash, identity). After the first call, when the follower heard
        every change since (one note per version), only the shops named are read again: a
        rotation among 100,000 shops costs one read, not 100,000. Otherwise all are read."""
        version = self.credentials_version()
        with self._notes_lock:
            notes, self._notes = self._notes, {}
        cached, seen = self._credentials, self._credentials_seen
        if cached is not None and seen is not None and all(v in notes for v in range(seen + 1, version + 1)):
            changed = sorted({shop for v, shop in notes.items() if seen < v <= version})
            pipe = self.client.pipeline(transaction=False)
            for name in changed:
                pipe.hmget(meta_key(name), "token_hash", "identity")
            known = dict(cached)
            for name, (hashed, identity) in zip(changed, pipe.execute() if changed else [], strict=True):
                if hashed is None:
                    known.pop(name, None)
                else:
                    known[name] = (hashed.decode(), (identity or b"").decode())
        else:
            known = self._read_all_credentials()
        with self._notes_lock:  # notes of versions not read yet stay for the next call
            self._notes.update({v: s for v, s in notes.items() if v > version})
        self._credentials, self._credentials_seen = known, version
        return dict(known)

    def _read_all_credentials(self) -> dict[str, tuple[str, str]]:
        names = self._names()
        pipe = self.client.pipeline(transaction=False)
        for name in names:
            pipe.hmget(meta_key(name), "token_hash", "identity")
        known = {}
        for name, (hashed, identity) in zip(names, pipe.execute(), strict=True):
            if hashed is not None:
                known[name] = (hashed.decode(), (identity or b"").decode())
        return known

    def token_matches(self, name: str, token: str) -> str | None:
        if not valid_shop_name(name):
            return None
        try:
            hashed = token_hash(token)
        except UnicodeEncodeError:
            return None
        stored = self.client.hget(meta_key(name), "token_hash")
        return hashed if stored and hmac.compare_digest(stored.decode(), hashed) else None

    def check_token(self, name: str, token: str) -> bool:
        return self.token_matches(name, token) is not None

    def ingest_secret(self, name: str) -> str | None:
        """Read at every request, so a rotated secret stops working at once on every gateway."""
        if not valid_shop_name(name):
            return None
        secret = self.client.hget(meta_key(name), "secret")
        return secret.decode() if secret else None

    # -- events --------------------------------------------------------------------------

    def append(self, shop: str, event: dict[str, Any], *, nonce: str, idempotency_key: str | None,
               body: bytes) -> IngestResult:
        result = self.append_many([Appending(shop, event, nonce, idempotency_key, body)])[0]
        if isinstance(result, ShopError):
            raise result
        return result

    def append_many(self, items: list[Appending]) -> list[IngestResult | ShopError]:
        """Each item by the append script, all in one pipeline (one round trip; on a cluster one
        per node holding any of the shops)."""
        now = self._clock()
        replies = self._run_appends(items, now)
        if self.cluster:
            # A node that lost its scripts (restart, failover) answers NOSCRIPT: that script did
            # not run, so those items (all of that node's, in order) run again once loaded.
            again = [i for i, reply in enumerate(replies) if isinstance(reply, redis.exceptions.NoScriptError)]
            if again:
                self._load_scripts()
                for i, reply in zip(again, self._run_appends([items[i] for i in again], now), strict=True):
                    replies[i] = reply
            for reply in replies:
                if isinstance(reply, Exception):
                    raise reply
        results: list[IngestResult | ShopError] = []
        for item, reply in zip(items, replies, strict=True):
            outcome = reply[0].decode()
            if outcome == "gone":
                results.append(ShopError(f"no shop named {item.shop!r}"))
            elif outcome == "arriving":
                results.append(IngestResult(0, False, arriving=True))
            elif outcome == "refused":
                results.append(IngestResult(int(reply[2]), False, received_at=now, identity=reply[3].decode(),
                                            outcome=reply[1].decode()))
            elif outcome == "nonce":
                results.append(IngestResult(0, False, nonce_reused=True))
            elif outcome == "dup":
                same = reply[2].decode() == hashlib.sha256(item.body).hexdigest()
                results.append(IngestResult(int(reply[1]), True, conflict=not same, received_at=float(reply[3])))
            else:
                results.append(IngestResult(int(reply[1]), False, received_at=now, identity=reply[2].decode(),
                                            shop_closed=reply[3] == b"1"))
        return results

    def _run_appends(self, items: list[Appending], now: float) -> list[Any]:
        """The append scripts' replies, one per item. A decision also points the callback index
        at its shop, in the same round trip (a pointer to a shop with nothing queued costs one
        empty claim)."""
        pipe = self.client.pipeline(transaction=False)
        for item in items:
            key = item.idempotency_key
            self._queue(
                pipe, self._append,
                [meta_key(item.shop), log_key(item.shop), nonce_key(item.shop, item.nonce),
                 idem_key(item.shop, key or ""), callbacks_key(item.shop), callbacks_due_key(item.shop),
                 order_key(item.shop, str(item.event.get("order_id", "")))],
                [repr(now), item.event_json(),
                 hashlib.sha256(item.body).hexdigest(), NONCE_KEEP_S, int(IDEMPOTENCY_KEEP_S),
                 "1" if key else "0", item.shop, NEW_EVENTS_CHANNEL, "1" if item.callback else "0",
                 kind if (kind := item.event.get("kind")) in order_states.STATE_KINDS else "",
                 int(order_states.KEEP_S), kind if kind in shop_state.KINDS else "",
                 "1" if kind in shop_state.MARKED_KINDS else "0"],
            )
        decided = sorted({item.shop for item in items if item.callback})
        for shop in decided:
            pipe.zadd(CALLBACKS_DUE_SHOPS_KEY, {shop: now})
        return pipe.execute(raise_on_error=not self.cluster)[:len(items)]

    def _queue(self, pipe, script, keys: list[str], args: list[Any]) -> None:
        """Queue a script call on a pipeline. A cluster pipeline refuses `evalsha()` but routes
        the raw EVALSHA by its keys (the scripts are loaded on every primary)."""
        if self.cluster:
            pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
        else:
            script(keys=keys, args=args, client=pipe)

    def events_after(self, shop: str, after: int, limit: int = 500) -> list[tuple[int, float, dict[str, Any]]]:
        if not valid_shop_name(shop):
            return []
        entries = self.client.xrange(log_key(shop), f"{after + 1}-0", "+", count=limit)
        return [decode_entry(entry_id, fields)[:3] for entry_id, fields in entries]

    def events_since(self, shop: str, since: float, page: int = 500) -> list[tuple[int, float, dict[str, Any]]]:
        """Every event of the shop received at `since` or later, in order (today.py): read
        backwards from the newest, a page at a time, until one received before `since`."""
        if not valid_shop_name(shop):
            return []
        found: list[tuple[int, float, dict[str, Any]]] = []
        top = "+"
        while True:
            entries = self.client.xrevrange(log_key(shop), top, "-", count=page)
            for entry_id, fields in entries:
                seq, at, event = decode_entry(entry_id, fields)[:3]
                if at < since:
                    return found[::-1]
                found.append((seq, at, event))
            if len(entries) < page:
                return found[::-1]
            top = f"({entries[-1][0].decode() if isinstance(entries[-1][0], bytes) else entries[-1][0]}"

    def shop_status(self, name: str) -> tuple[str, int] | None:
        """(open or closed, the seq of the event that made it so; 0: never changed), or None."""
        if not valid_shop_name(name):
            return None
        exists, status, seq = self.client.hmget(meta_key(name), "identity", "status", "status_seq")
        if exists is None:
            return None
        return (status.decode() if status else shop_state.OPEN), int(seq or 0)

    def shop_statuses(self, names: list[str]) -> dict[str, str]:
        """Each named shop's state (open or closed), for the shops that exist: one pipeline."""
        names = [name for name in names if valid_shop_name(name)]
        if not names:
            return {}
        pipe = self.client.pipeline(transaction=False)
        for name in names:
            pipe.hmget(meta_key(name), "identity", "status")
        return {name: status.decode() if status else shop_state.OPEN
                for name, (exists, status) in zip(names, pipe.execute(), strict=True) if exists is not None}

    def prune_batch(self, retention_s: float, *, now: float | None = None, batch: int = PRUNE_BATCH) -> tuple[int, bool]:
        """XTRIM MINID every shop's log to its first event inside the retention. Nonces and
        idempotency keys need nothing: they expire by themselves."""
        now = self._clock() if now is None else now
        names = self._names()
        if not names:
            return 0, False
        try:
            counts = self._run_prunes(names, now - retention_s, batch)
        except redis.exceptions.NoScriptError:  # a cluster node lost its scripts; pruning is repeatable
            self._load_scripts()
            counts = self._run_prunes(names, now - retention_s, batch)
        return sum(counts), any(n >= batch for n in counts)

    def _run_prunes(self, names: list[str], cutoff: float, batch: int) -> list[int]:
        pipe = self.client.pipeline(transaction=False)
        for name in names:
            self._queue(pipe, self._prune, [meta_key(name), log_key(name)], [repr(cutoff), batch])
        return [int(n) for n in pipe.execute()]

    # -- callbacks to the shop's back end (see deliveries.py and callbacks.py) ------------

    def set_callback(self, name: str, url: str | None) -> None:
        """Set (or with None/"" clear) the URL a shop's decisions are POSTed to. Deliveries are
        found through the due index (appends point it at their shop); `callback_shops` is only
        where `reindex_deliveries` looks."""
        url = check_callback_url(url) if url else ""
        if not valid_shop_name(name):
            raise ShopError(f"no shop named {name!r}")
        if not self._run_script(self._set_callback, [meta_key(name)], [url]):
            raise ShopError(f"no shop named {name!r}")
        if url:  # after the URL: a shop that does not exist is never listed
            self.client.sadd(CALLBACK_SHOPS_KEY, name)

    def callback_url(self, name: str) -> str | None:
        if not valid_shop_name(name):
            return None
        url = self.client.hget(meta_key(name), "callback_url")
        return url.decode() if url else None

    def _run_script(self, script, keys: list[str], args: list[Any]) -> Any:
        try:
            return script(keys=keys, args=args)
        except redis.exceptions.NoScriptError:  # a cluster node lost its scripts
            self._load_scripts()
            return script(keys=keys, args=args)

    def release_claims(self) -> None:
        """Nothing: other gateways may be sending; a dead one's claims end with their lease."""

    def claim_deliveries(self, lease_s: float, limit: int = BATCH, *, busy: Mapping[str, int] | None = None,
                         per_shop: int = BATCH) -> tuple[list[Delivery], float | None]:
        """Claim up to `limit` due deliveries until now + `lease_s`, at most `per_shop` of one
        shop less what it has in `busy` (in flight here); also when to look again (None:
        nothing queued). Only the shops the due index names as due are looked at, so the cost
        does not grow with the number of shops that have a callback URL."""
        busy = busy or {}
        now = self._clock()
        until = now + lease_s
        due = self.client.zrangebyscore(CALLBACKS_DUE_SHOPS_KEY, "-inf", repr(now), start=0, num=limit + len(busy),
                                        withscores=True)
        wanted: list[tuple[str, float, int]] = []  # (shop, its pointer as read, how many)
        room = limit
        for raw, score in due:
            shop = raw.decode()
            take = min(per_shop - busy.get(shop, 0), room)
            if take > 0 and valid_shop_name(shop):
                wanted.append((shop, score, take))
                room -= take
        try:
            replies = self._run_claims(wanted, now, until) if wanted else []
        except redis.exceptions.NoScriptError:
            self._load_scripts()
            replies = self._run_claims(wanted, now, until)
        claimed: list[Delivery] = []
        pipe = self.client.pipeline(transaction=False)
        for (name, seen, _take), (next_score, found) in zip(wanted, replies, strict=True):
            self._queue(pipe, self._repoint, [CALLBACKS_DUE_SHOPS_KEY],
                        [name, repr(seen), next_score.decode() if next_score else ""])
            for i in range(0, len(found), 3):
                event_id = found[i].decode()
                record = json.loads(found[i + 1])
                body = record["body"].encode() if "body" in record else callback_body(
                    name, event_id, int(record["seq"]), json.loads(record["ev"]))
                claimed.append(Delivery(name, event_id, record["url"], body, int(found[i + 2]),
                                        float(record["at"]), until))
        pipe.zrangebyscore(CALLBACKS_DUE_SHOPS_KEY, f"({now!r}", "+inf", start=0, num=1, withscores=True)
        try:
            later = pipe.execute()[-1]
        except redis.exceptions.NoScriptError:
            self._load_scripts()
            return claimed, now  # the pointers stay as they were: looked at again at once
        next_at = float(later[0][1]) if later else None
        if claimed and room <= 0:
            next_at = now  # there may be more due than this claim could take
        return claimed, next_at

    def _run_claims(self, wanted: list[tuple[str, float, int]], now: float, until: float) -> list[Any]:
        pipe = self.client.pipeline(transaction=False)
        for name, _seen, take in wanted:
            self._queue(pipe, self._claim, [callbacks_due_key(name), callbacks_key(name), callbacks_tries_key(name)],
                        [repr(now), repr(until), take])
        return pipe.execute()

    def reindex_deliveries(self) -> int:
        """Rebuild the due index from every shop with a callback URL (for deliveries queued by an
        older server, or whose pointer a crash lost between append and index), and forget
        listed shops that no longer exist. In batches; returns the shops found with deliveries."""
        found = 0
        batch: list[str] = []
        for raw in self.client.sscan_iter(CALLBACK_SHOPS_KEY, count=REINDEX_BATCH):
            batch.append(raw.decode())
            if len(batch) >= REINDEX_BATCH:
                found += self._reindex(batch)
                batch = []
        return found + (self._reindex(batch) if batch else 0)

    def _reindex(self, names: list[str]) -> int:
        names = [name for name in names if valid_shop_name(name)]
        pipe = self.client.pipeline(transaction=False)
        for name in names:
            pipe.zrange(callbacks_due_key(name), 0, 0, withscores=True)
            pipe.exists(meta_key(name))
        replies = pipe.execute()
        pipe = self.client.pipeline(transaction=False)
        found = 0
        for i, name in enumerate(names):
            first, exists = replies[2 * i], replies[2 * i + 1]
            if not exists:
                pipe.srem(CALLBACK_SHOPS_KEY, name)
            elif first:
                pipe.zadd(CALLBACKS_DUE_SHOPS_KEY, {name: first[0][1]}, lt=True)
                found += 1
        pipe.execute()
        return found

    def finish_delivery(self, delivery: Delivery) -> None:
        shop = delivery.shop
        self._run_script(self._finish, [callbacks_due_key(shop), callbacks_key(shop), callbacks_tries_key(shop)],
                         [delivery.event_id])

    def retry_delivery(self, delivery: Delivery, next_at: float, error: str) -> None:
        shop = delivery.shop
        if self._run_script(self._retry, [callbacks_due_key(shop), callbacks_tries_key(shop)],
                            [delivery.event_id, repr(delivery.claim), repr(next_at)]):
            # The shop's pointer may say "the lease's end": a retry due sooner moves it earlier.
            self.client.zadd(CALLBACKS_DUE_SHOPS_KEY, {shop: next_at}, lt=True)

    def import_delivery(self, shop: str, event_id: str, url: str, body: bytes, attempts: int,
                        created_at: float) -> bool:
        """A delivery an older server queued in its own outbox; False if known already."""
        if not valid_shop_name(shop):
            return False
        self.client.sadd(CALLBACK_SHOPS_KEY, shop)
        record = json.dumps({"url": url, "body": body.decode("utf-8"), "at": created_at})
        now = self._clock()
        imported = bool(self._run_script(
            self._import, [callbacks_due_key(shop), callbacks_key(shop), callbacks_tries_key(shop)],
            [event_id, record, attempts, repr(now)]))
        if imported:
            self.client.zadd(CALLBACKS_DUE_SHOPS_KEY, {shop: now}, lt=True)
        return imported

    def pending_deliveries(self, shop: str) -> list[tuple[str, int]]:
        """(event id, failed attempts) of the shop's deliveries not done yet, soonest first."""
        ids = [i.decode() for i in self.client.zrange(callbacks_due_key(shop), 0, -1)]
        tries = self.client.hmget(callbacks_tries_key(shop), ids) if ids else []
        return [(i, int(t or 0)) for i, t in zip(ids, tries, strict=True)]


def decode_entry(entry_id: bytes, fields: dict[bytes, bytes]) -> tuple[int, float, dict[str, Any], str]:
    """(seq, received_at, event, identity) from one stream entry."""
    seq = int(entry_id.split(b"-", 1)[0])
    return seq, float(fields[b"at"]), json.loads(fields[b"ev"]), fields.get(b"id", b"").decode()


def _shop(name: str, fields: list[bytes | None], count: int) -> Shop:
    created, last_seq, pruned, identity, *status = fields
    return Shop(name, float(created or 0), int(last_seq or 0), int(pruned or 0), count, (identity or b"").decode(),
                status[0].decode() if status and status[0] else "open")
