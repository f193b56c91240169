"""The embedded demo: the reference server in-process, a demo shop, and a feeder of made-up orders.

`notifier listen --demo` and `notifier --demo` use it so a newcomer sees the whole path work
(signed ingest -> server -> stream -> ledger -> announcement) with nothing to set up. The orders go
through the real signed ingest endpoint, not a shortcut.

Importing this module is cheap: aiohttp and the server are loaded only by `start()`.
"""

from __future__ import annotations

import logging
import random
import shutil
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path

from notifier.core import paths
from notifier.core.secrets import MemorySecrets
from notifier.core.settings import Settings

log = logging.getLogger(__name__)

DEMO_SHOP = "demo"
CUSTOMERS = (
    "张三", "李四", "王小明", "陈静", "刘洋", "赵敏", "周杰", "吴芳",
    "Emma Wilson", "Liam Chen", "Olivia Brown", "Noah Garcia", "Sophie Martin", "Lucas Wang",
)
DISHES = (
    "牛肉面", "宫保鸡丁", "鱼香肉丝", "小笼包", "酸辣汤", "蛋炒饭", "麻婆豆腐",
    "Beef noodles", "Dumplings", "Fried rice", "Spring rolls",
)
STALE_DEMO_LEDGER_S = 86400.0


class DemoServer:
    def __init__(
        self,
        *,
        first_delay: float = 1.0,
        interval: tuple[float, float] = (10.0, 20.0),
        reminder_chance: float = 0.25,
        seed: int | None = None,
    ):
        self.first_delay = first_delay
        self.interval = interval
        self.reminder_chance = reminder_chance
        self._rng = random.Random(seed)
        self._tmp: Path | None = None
        self._server = None
        self._token = ""
        self._ingest_secret = ""
        self.port: int | None = None
        self._stop = threading.Event()
        self._feeder: threading.Thread | None = None
        self._ledger_path: Path | None = None
        self.published: list[dict] = []  # what the feeder sent, for tests

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        from notifier.server.config import ServerConfig
        from notifier.server.runner import ServerThread
        from notifier.server.store import EventStore

        # The feeder's requests are not news to anyone watching the demo.
        logging.getLogger("notifier.server.access").setLevel(logging.WARNING)
        self._tmp = Path(tempfile.mkdtemp(prefix="notifier-demo-"))
        store = EventStore(self._tmp)
        creds = store.add_shop(DEMO_SHOP)
        self._token, self._ingest_secret = creds.client_token or "", creds.ingest_secret or ""
        # Port 0: the system picks a free one, so a demo never collides with a real server.
        self._server = ServerThread(ServerConfig(data_dir=self._tmp, port=0), store=store)
        self.port = self._server.start()
        self._store = store
        self._stop.clear()
        self._feeder = threading.Thread(target=self._feed, name="demo-feeder", daemon=True)
        self._feeder.start()
        log.info("demo server on 127.0.0.1:%d, shop %r", self.port, DEMO_SHOP)

    def stop(self) -> None:
        self._stop.set()
        if self._feeder:
            self._feeder.join(5)
        if self._server:
            self._server.stop()
            self._store.close()
            self._server = None
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
        if self._ledger_path:
            for suffix in ("", "-wal", "-shm"):
                Path(str(self._ledger_path) + suffix).unlink(missing_ok=True)

    def __enter__(self) -> DemoServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- for the client side -------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client_settings(self, settings: Settings | None = None) -> Settings:
        return (settings or Settings()).updated({
            "connection.protocol": "notifier",
            "connection.url": self.url,
            "connection.shop": DEMO_SHOP,
            "connection.proxy": "",
        })

    def secrets(self) -> MemorySecrets:
        return MemorySecrets({"notifier_token": self._token})

    def ledger_path(self) -> Path:
        """A ledger just for this demo run: the real order history is never touched."""
        if self._ledger_path is None:
            folder = paths.data_dir() / "demo"
            folder.mkdir(parents=True, exist_ok=True)
            now = time.time()
            for old in folder.glob("ledger-*.sqlite3*"):
                try:
                    if now - old.stat().st_mtime > STALE_DEMO_LEDGER_S:
                        old.unlink()
                except OSError:
                    pass
            self._ledger_path = folder / f"ledger-{int(now * 1000)}-{self._rng.randrange(1 << 30):x}.sqlite3"
        return self._ledger_path

    # -- the feeder ----------------------------------------------------------------------

    def next_order(self, order_no: int) -> dict:
        customer = self._rng.choice(CUSTOMERS)
        items = self._rng.sample(DISHES, self._rng.randint(1, 3))
        cents = self._rng.randint(1200, 16800)
        return {
            "kind": "new_order",
            "order_id": str(order_no),
            "order_number": f"{time.strftime('%m%d')}{order_no % 10000:04d}",
            "amount": str(Decimal(cents) / 100),
            "customer": customer,
            "text": "、".join(items) if any("\u4e00" <= ch <= "\u9fff" for ch in customer) else ", ".join(items),
        }

    def publish(self, order: dict, *, idempotency_key: str | None = None) -> int:
        from notifier.core.protocol import publish_order

        fields = {k: v for k, v in order.items() if k not in ("kind", "order_id")}
        result = publish_order(self.http_url, DEMO_SHOP, self._ingest_secret, order_id=order["order_id"],
                               kind=order["kind"], idempotency_key=idempotency_key, timeout=5, **fields)
        self.published.append(order)
        return int(result["seq"])

    def _feed(self) -> None:
        from notifier.core.protocol import PublishError

        order_no = 100000 + self._rng.randrange(800000)
        orders: list[dict] = []
        wait = self.first_delay
        while not self._stop.wait(wait):
            wait = self._rng.uniform(*self.interval)
            if orders and self._rng.random() < self.reminder_chance:
                earlier = self._rng.choice(orders[-5:])
                order = {"kind": "reminder", "order_id": earlier["order_id"],
                         "order_number": earlier["order_number"], "customer": earlier["customer"],
                         "text": "顾客催单" if not earlier["customer"].isascii() else "Customer is waiting"}
            else:
                order_no += 1
                order = self.next_order(order_no)
                orders.append(order)
            try:
                self.publish(order, idempotency_key=f"demo-{order['kind']}-{order['order_id']}-{len(self.published)}")
            except PublishError as exc:
                log.warning("demo feeder could not publish: %s", exc)
