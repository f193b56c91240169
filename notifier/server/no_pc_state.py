"""Where the "no PC listening" alerts (no_pc_alerts.py) keep what must outlive a request: each
shop's alert target, and on a shared store what the gateways must agree on.

The target is an Apprise URL (core.phone_targets) and holds a token, so it is kept like the
shop's ingest secret: on SQLite in a file of its own only the server's user can read
(`alert-targets/SHOP`, 0600 in a 0700 folder, written atomically), on Redis in the hash
`notifier:alerts:targets` (protect Redis as docs/server.md says for the ingest secrets). It is
never logged or printed: `phone_targets.describe` names it.

On Redis several gateways serve the same shops, and only one of them may send a shop's alerts,
so the state shared through Redis is:
- `notifier:alerts:leader`  the gateway that decides and sends alerts, for a lease (SET NX PX,
  renewed by its holder; a gateway that dies leaves it to another one when the lease ends);
- `notifier:alerts:seen`  hash shop -> the last time (unix) a gateway had a stream of it open,
  written by every gateway for its own streams every few seconds;
- `notifier:alerts:notes` list of orders other gateways took in for shops with no stream there
  (bounded: `NOTES_LIMIT`), taken by the leader;
- `notifier:alerts:outages` hash shop -> the leader's state of the shop's outage (JSON), so a
  new leader neither alerts twice nor forgets the "back" message.
On SQLite the server is one process: all of that lives in its memory.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from notifier.core.atomic import write_atomic
from notifier.core.protocol import valid_shop_name

TARGETS_FOLDER = "alert-targets"
PREFIX = "notifier:alerts"
TARGETS_KEY = f"{PREFIX}:targets"
LEADER_KEY = f"{PREFIX}:leader"
SEEN_KEY = f"{PREFIX}:seen"
NOTES_KEY = f"{PREFIX}:notes"
OUTAGES_KEY = f"{PREFIX}:outages"
NOTES_LIMIT = 10_000  # orders waiting for the leader; beyond that the oldest are only not listed


class LocalAlertState:
    """The SQLite store's side: target files in the data folder; nothing is shared."""

    shared = False

    def __init__(self, data_dir: Path | str):
        self.folder = Path(data_dir) / TARGETS_FOLDER

    def set_target(self, shop: str, target: str | None) -> None:
        path = self.folder / shop
        if not valid_shop_name(shop):
            raise ValueError(f"not a shop name: {shop!r}")
        if target is None:
            path.unlink(missing_ok=True)
            return
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.folder, 0o700)
        write_atomic(path, target.encode("utf-8"), mode=0o600)

    def targets(self) -> dict[str, str]:
        """Every shop's target (read at start and every few seconds: an admin command run in
        another process takes effect without a restart)."""
        found: dict[str, str] = {}
        try:
            names = os.listdir(self.folder)
        except FileNotFoundError:
            return found
        for name in names:
            if valid_shop_name(name):
                try:
                    text = (self.folder / name).read_text("utf-8").strip()
                except (OSError, ValueError):
                    continue
                if text:
                    found[name] = text
        return found


_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
"""


class RedisAlertState:
    """The Redis store's side; every method is one or two round trips (call them off the loop)."""

    shared = True

    def __init__(self, client: Any):
        self.client = client
        self._renew = client.register_script(_RENEW)

    def set_target(self, shop: str, target: str | None) -> None:
        if target is None:
            self.client.hdel(TARGETS_KEY, shop)
            self.client.hdel(OUTAGES_KEY, shop)
        else:
            self.client.hset(TARGETS_KEY, shop, target)

    def targets(self) -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in self.client.hgetall(TARGETS_KEY).items()}

    def lead(self, gateway: str, lease_s: float) -> bool:
        """Take or keep the alert lease; True while this gateway holds it."""
        return bool(self._renew(keys=[LEADER_KEY], args=[gateway, max(1, int(lease_s * 1000))]))

    def resign(self, gateway: str) -> None:
        if self.client.get(LEADER_KEY) == gateway.encode():
            self.client.delete(LEADER_KEY)

    def saw(self, shops: list[str], now: float) -> None:
        if shops:
            self.client.hset(SEEN_KEY, mapping={shop: repr(now) for shop in shops})

    def last_seen(self, shops: list[str]) -> dict[str, float]:
        if not shops:
            return {}
        return {shop: float(value) for shop, value in zip(shops, self.client.hmget(SEEN_KEY, shops), strict=True)
                if value is not None}

    def push_notes(self, notes: list[dict[str, Any]]) -> None:
        if notes:
            pipe = self.client.pipeline(transaction=False)
            pipe.rpush(NOTES_KEY, *(json.dumps(note, ensure_ascii=False) for note in notes))
            pipe.ltrim(NOTES_KEY, -NOTES_LIMIT, -1)
            pipe.execute()

    def take_notes(self) -> list[dict[str, Any]]:
        # LPOP with a count: taken and removed in one command, so no note is read twice.
        return [json.loads(item) for item in self.client.lpop(NOTES_KEY, NOTES_LIMIT) or []]

    def save_outages(self, changed: dict[str, dict[str, Any] | None]) -> None:
        gone = [shop for shop, state in changed.items() if state is None]
        kept = {shop: json.dumps(state) for shop, state in changed.items() if state is not None}
        pipe = self.client.pipeline(transaction=False)
        if gone:
            pipe.hdel(OUTAGES_KEY, *gone)
        if kept:
            pipe.hset(OUTAGES_KEY, mapping=kept)
        pipe.execute()

    def load_outages(self) -> dict[str, dict[str, Any]]:
        return {k.decode(): json.loads(v) for k, v in self.client.hgetall(OUTAGES_KEY).items()}


def alert_state_for(store: Any) -> LocalAlertState | RedisAlertState:
    """The alert state beside a server store (store_api.open_store's)."""
    if getattr(store, "shared", False):
        return RedisAlertState(store.client)
    return LocalAlertState(store.data_dir)
