"""100,000 generated hostile messages through every decoder, a share of them through real
connections: nothing escapes, no source gets stuck, and a good order sent afterwards still
reaches the observers (what shows the notification)."""

from __future__ import annotations

import json
import time

import pytest
from chaos_support import scaled
from frames import frames
from helpers import wait_until

from notifier.core.connection import ConnState
from notifier.core.events import OrderEvent
from notifier.core.intake import OrderIntake
from notifier.core.ledger import Ledger
from notifier.core.secrets import MemorySecrets
from notifier.core.settings import Settings
from notifier.core.sources.decoding import NotAnOrder
from notifier.core.sources.json_mapping import FieldMapping
from notifier.core.sources.notifier_stream import NotifierStreamSource
from notifier.core.sources.skytakeout import decode_frame
from tests.fakes.running_source import RunningSource, sky_settings
from tests.fakes.skytakeout_server import SkyTakeOutDouble

SEED = 20240606


class RecordingHost(OrderIntake):
    """The host a stream source writes to: a real ledger (through the app's intake), with the
    cursor the source saves, counting what it was handed."""

    def __init__(self, ledger: Ledger):
        super().__init__(ledger, MemorySecrets({}))
        self.delivered = 0

    def store(self, event: OrderEvent, cursor=None, *, durable: bool = False) -> bool:
        self.delivered += 1
        return super().store(event, cursor, durable=durable)


def _as_text(message: str | bytes) -> str | None:
    """The text a decoder gets for this message off the wire (lone surrogates travel as the
    invalid UTF-8 bytes a broken server would send)."""
    data = message.encode("utf-8", "surrogatepass") if isinstance(message, str) else message
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None  # the connection layer skips these before any decoder sees them


def _printable(event: OrderEvent) -> None:
    """What the listener prints and the ledger stores must work for any accepted event."""
    json.dumps(event.to_json_dict(), ensure_ascii=False).encode("utf-8")


@pytest.mark.slow
def test_a_hundred_thousand_generated_frames_through_every_decoder(tmp_path):
    """Issue size by default (100,000 frames, about 15 s); NOTIFIER_CHAOS_SCALE scales it."""
    count = scaled(100_000, 5_000, default=1.0)
    mapping = FieldMapping.from_settings(Settings({"connection.protocol": "json"}))
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    sink = RecordingHost(ledger)
    stream = NotifierStreamSource(
        Settings({"connection.protocol": "notifier", "connection.url": "ws://127.0.0.1:9", "connection.shop": "s"}),
        sink, lambda _status: None, MemorySecrets({}),
    )
    accepted = {"skytakeout": 0, "json": 0}
    started = time.monotonic()
    for index, message in frames(SEED, count):
        text = _as_text(message)
        if text is None:
            continue
        where = f"seed {SEED} frame {index}: {text[:120]!r}"
        for name, decode in (("skytakeout", lambda t: decode_frame(t, server="s")),
                             ("json", lambda t: mapping.decode(t, source="json", server="s"))):
            try:
                event = decode(text)
            except NotAnOrder:
                continue
            except Exception as exc:  # noqa: BLE001 - the point of the test
                raise AssertionError(f"{name} decoder raised {exc!r} on {where}") from exc
            assert isinstance(event, OrderEvent), where
            _printable(event)
            accepted[name] += 1
        # Every frame judged on its own: not skipped as "already on disk" behind a high seq.
        stream._cursor = 0
        try:
            stream.handle_text(text)
        except Exception as exc:  # noqa: BLE001
            raise AssertionError(f"stream source raised {exc!r} on {where}") from exc
    elapsed = time.monotonic() - started
    print(f"\n{count} frames in {elapsed:.1f} s; accepted: {accepted}, stream delivered {sink.delivered}")
    # The generator is worth something only if it produces real orders and real rejections.
    assert all(5 < n < count * 0.9 for n in accepted.values()), accepted
    assert 5 < sink.delivered < count * 0.9
    for entry in ledger.recent(200):
        _printable(entry.event)
    ledger.close()


def test_generated_frames_over_real_connections_leave_the_sources_working(tmp_path):
    """A tenth of them (10,000 frames, about 3 s; scaled by NOTIFIER_CHAOS_SCALE) sent by the
    sky-take-out double to a sky-take-out source and a JSON-mapping source at once; afterwards a
    good order still arrives at both, on the connection they already had."""
    count = scaled(10_000, 1_000, default=1.0)
    with SkyTakeOutDouble(record_sent=False) as double:
        sky = RunningSource(sky_settings(double), Ledger(tmp_path / "sky.sqlite3"), MemorySecrets({}))
        json_source = RunningSource(
            Settings({"connection.protocol": "json", "connection.url": double.ws_url + "json-client",
                      "json.kind_field": "type", "json.order_id_field": "orderId"}),
            Ledger(tmp_path / "json.sqlite3"), MemorySecrets({}),
        )
        try:
            sky.wait_state(ConnState.CONNECTED)
            json_source.wait_state(ConnState.CONNECTED)
            double.wait_for_clients(2)
            for _index, message in frames(SEED + 1, count):
                # Lone surrogates go out as the (invalid) UTF-8 bytes a broken server would send.
                data = message if isinstance(message, bytes) else message.encode("utf-8", "surrogatepass")
                double.send_raw(data)
            double.broadcast({"type": 1, "orderId": 987654321, "content": "订单号：A-987654321"})
            for running in (sky, json_source):
                wait_until(lambda r=running: "987654321" in r.order_ids(), 20,
                           message="the good order after the garbage")
                assert running.state is ConnState.CONNECTED
                assert running.source.connections == 1, "nothing in the garbage broke the connection"
                assert running.ledger.count() >= 1
        finally:
            sky.stop()
            json_source.stop()
            sky.ledger.close()
            json_source.ledger.close()
