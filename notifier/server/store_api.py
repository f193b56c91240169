"""What the server asks of its state, whichever engine keeps it.

Two implementations: `store.EventStore` (one SQLite file, the embedded default) and
`redis_store.RedisEventStore` (Redis Streams, shared by any number of gateway processes).
`open_store` picks one from the `--store` option.

A store that is `shared` is written by other processes too: the gateway then does not fan out
the events it stored itself but follows the store's log (see `redis_live`), so every client
gets every event once, in order, whichever gateway took it in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from notifier.server.store import Appending, Credentials, IngestResult, Shop, ShopError


@runtime_checkable
class ServerStore(Protocol):
    shared: bool  # True: other processes append too; live delivery comes from the store

    # -- what the ingest and stream endpoints call
    def ingest_secret(self, name: str) -> str | None: ...
    def token_matches(self, name: str, token: str) -> str | None: ...
    def check_token(self, name: str, token: str) -> bool: ...
    def shop(self, name: str) -> Shop | None: ...
    def append_many(self, items: list[Appending]) -> list[IngestResult | ShopError]: ...
    def events_after(self, shop: str, after: int, limit: int = 500) -> list[tuple[int, float, dict[str, Any]]]: ...

    # -- what the server's upkeep calls
    def shop_credentials(self) -> dict[str, tuple[str, str]]: ...
    def credentials_version(self) -> Any: ...
    def prune_batch(self, retention_s: float, *, now: float | None = None, batch: int = ...) -> tuple[int, bool]: ...
    def checkpoint(self) -> None: ...
    def close(self) -> None: ...

    # -- what the admin commands call
    def add_shop(self, name: str) -> Credentials: ...
    def rotate(self, name: str, *, token: bool = True, ingest: bool = False) -> Credentials: ...
    def remove_shop(self, name: str) -> None: ...
    def shops(self) -> list[Shop]: ...


def is_redis_url(spec: str | None) -> bool:
    return bool(spec) and spec.split("://", 1)[0] in ("redis", "rediss", "redis+cluster", "rediss+cluster")


def open_store(spec: str | None, data_dir: Path, *, redis_ca: Path | None = None) -> ServerStore:
    """The store named by `--store`: a redis:// or rediss:// URL, or else SQLite in `data_dir`."""
    if is_redis_url(spec):
        from notifier.server.redis_store import RedisEventStore

        return RedisEventStore.from_url(spec, ca=redis_ca)
    from notifier.server.store import EventStore

    return EventStore(data_dir)
