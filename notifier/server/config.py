"""How one reference server runs: where it keeps its state, where it listens, its limits."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from notifier.core.protocol import MAX_BODY_BYTES, MAX_SKEW_S


@dataclass(frozen=True, slots=True)
class ServerConfig:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8765
    cert: Path | None = None  # TLS certificate chain (PEM); with `key`, the server speaks https/wss
    key: Path | None = None
    retention_days: float = 7.0
    prune_every_s: float = 3600.0
    heartbeat_s: float = 20.0  # server pings; a client silent for half of this after a ping is dropped
    queue_limit: int = 1000  # frames waiting for one client before it counts as too slow
    # Kernel send buffer per stream: bounds what a stalled client costs in memory and makes it
    # count as "too slow" after this much plus `queue_limit` frames, instead of megabytes later.
    send_buffer: int = 128 * 1024
    max_body: int = MAX_BODY_BYTES
    max_skew_s: float = MAX_SKEW_S
    skytakeout_shop: str | None = None  # serve this shop on /ws/{sid} too (no auth: off by default)
    # Hostile or broken clients: a connection must send a request's headers (a WebSocket its
    # upgrade request) within this many seconds, also between keep-alive requests and for the
    # TLS handshake; open connections are capped in total (and never above what the open-file
    # limit allows) and per remote address.
    header_timeout_s: float = 10.0
    max_connections: int = 10000
    max_per_address: int = 4096
    # Streams one shop (all holders of its client token) may have open on this server at once:
    # more than a shop has PCs, far fewer than a flood that would crowd out every other shop.
    max_streams_per_shop: int = 32
    # Accepts and rejects one shop may send per second (bursts of twice that): a PC clicks a few
    # a minute; a script hammering the endpoint gets 429.
    decisions_per_second: float = 20.0
    credentials_check_s: float = 0.25  # how soon a rotated token or removed shop closes its streams
    checkpoint_every_s: float = 1.0  # WAL checkpoints run on a worker thread this often
    prune_pause_s: float = 0.01  # between two prune batches, so ingest gets the store in between
    # None: SQLite in data_dir. A redis:// or rediss:// URL: the shared store that lets several
    # gateways serve the same shops (redis_ca: the CA that signed a rediss:// server's certificate).
    store_url: str | None = None
    redis_ca: Path | None = None
    # How long a request waits for a shared store (Redis) before it answers 503; the event loop
    # itself never waits for it (store_calls.py).
    store_timeout_s: float = 2.0
    # On Redis: how often the server checks that Redis still keeps its data on disk (ingest and
    # decisions are refused 503 while it does not), unless allow_volatile (--allow-volatile).
    durability_check_s: float = 10.0
    allow_volatile: bool = False
    # How long a claimed callback delivery is this process's alone: a gateway that dies with a
    # claim delays that callback this long. Keep it above the 10 s request timeout.
    callback_lease_s: float = 30.0
    # Networks callbacks may reach besides public addresses (destinations.py): a shop's back end
    # on the operator's own network, e.g. ("10.20.0.0/16",). Loopback and private are refused else.
    callbacks_allowed_to: tuple[str, ...] = ()
    # "No PC listening" alerts (no_pc_alerts.py), for shops given an alert target: an order
    # arriving when no PC of the shop has been connected for no_pc_after_s is alerted, at most
    # once per no_pc_gap_s per shop, worded in alert_language; so is a shop that is open (营业中)
    # with no PC for no_pc_open_after_s (0: not alerted without an order); decided every
    # no_pc_tick_s (targets and the shops' states read every no_pc_targets_every_s); a
    # failing send is retried after alert_retry_s, doubling up to sixty times that.
    no_pc_after_s: float = 60.0
    no_pc_open_after_s: float = 600.0
    no_pc_gap_s: float = 600.0
    no_pc_tick_s: float = 1.0
    no_pc_targets_every_s: float = 5.0  # how soon a target set (or cleared) by `set-alert` counts
    alert_language: str = "zh_CN"
    alert_retry_s: float = 5.0

    @property
    def tls(self) -> bool:
        return bool(self.cert and self.key)
