"""The reference push server's HTTP and WebSocket endpoints (aiohttp).

- `POST /api/v1/shops/{shop}/events`  signed ingest from the order system
- `GET  /api/v1/shops/{shop}/stream`  WebSocket: replay after a sequence number, then live
- `GET  /ws/{sid}`                    sky-take-out compatible broadcast (only when configured)
- `GET  /healthz`

The SQLite calls run on the event loop thread on purpose: each is well under a millisecond, and
doing the append and the fan-out with no `await` between them is what guarantees a client that
subscribes while replaying misses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from typing import Any

from aiohttp import WSMsgType, web

from notifier.core import protocol
from notifier.core.protocol import SchemaError, SignatureProblem
from notifier.server.config import ServerConfig
from notifier.server.hub import Hub, Subscriber
from notifier.server.store import EventStore, ShopError

log = logging.getLogger(__name__)

REPLAY_PAGE = 500

STORE: web.AppKey[EventStore] = web.AppKey("store", EventStore)
HUB: web.AppKey[Hub] = web.AppKey("hub", Hub)
CONFIG: web.AppKey[ServerConfig] = web.AppKey("config", ServerConfig)


def _error(status: int, reason: str, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": reason, "message": message, **extra}, status=status)


def skytakeout_channel(shop: str) -> str:
    return "\x00skytakeout:" + shop  # cannot collide with a shop name


def skytakeout_frame(event: dict[str, Any]) -> str | None:
    """The event as a sky-take-out frame, or None for kinds that protocol does not have."""
    kind = {"new_order": 1, "reminder": 2}.get(event["kind"])
    if kind is None:
        return None
    order_id: int | str = int(event["order_id"]) if event["order_id"].isdigit() else event["order_id"]
    number = event.get("order_number") or event["order_id"]
    return json.dumps({"type": kind, "orderId": order_id, "content": f"订单号：{number}"}, ensure_ascii=False)


# -- ingest ----------------------------------------------------------------------------------


async def ingest(request: web.Request) -> web.Response:
    store, hub, config = request.app[STORE], request.app[HUB], request.app[CONFIG]
    shop = request.match_info["shop"]
    if request.content_length is not None and request.content_length > config.max_body:
        return _error(413, "body_too_large", f"the body must be at most {config.max_body} bytes")
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return _error(413, "body_too_large", f"the body must be at most {config.max_body} bytes")
    secret = store.ingest_secret(shop)
    if secret is None:
        return _error(404, "unknown_shop", f"no shop named {shop!r} on this server")
    headers = request.headers
    signed = (
        headers.get(protocol.TIMESTAMP_HEADER), headers.get(protocol.NONCE_HEADER),
        headers.get(protocol.SIGNATURE_HEADER),
    )
    try:
        protocol.check_signature(secret, *signed, body, max_skew=config.max_skew_s)
    except SignatureProblem as problem:
        return _error(401, problem.reason, str(problem))
    try:
        event = protocol.validate_event(json.loads(body))
    except ValueError as exc:
        if isinstance(exc, SchemaError):
            return _error(400, "invalid_event", str(exc), field=exc.field)
        return _error(400, "invalid_json", "the body is not valid UTF-8 JSON")
    key = headers.get(protocol.IDEMPOTENCY_HEADER)
    if key is not None and not protocol.IDEMPOTENCY_KEY.match(key):
        return _error(400, "bad_idempotency_key", "Idempotency-Key must be 1-200 printable ASCII characters")
    try:
        result = store.append(shop, event, nonce=signed[1], idempotency_key=key, body=body)
    except ShopError:
        return _error(404, "unknown_shop", f"no shop named {shop!r} on this server")
    if result.nonce_reused:
        return _error(409, "nonce_reused", "this nonce was already used: sign every request with a new one")
    if result.duplicate:
        if result.conflict:
            return _error(422, "idempotency_conflict", "this Idempotency-Key was used with a different body")
        return web.json_response({"seq": result.seq, "shop": shop, "duplicate": True}, status=200)
    hub.publish(shop, result.seq, protocol.event_frame(result.seq, store.store_id, result.received_at, event))
    if config.skytakeout_shop == shop and hub.has_subscribers(skytakeout_channel(shop)):
        frame = skytakeout_frame(event)
        if frame:
            hub.publish(skytakeout_channel(shop), result.seq, frame)
    return web.json_response({"seq": result.seq, "shop": shop, "duplicate": False}, status=201)


# -- stream ----------------------------------------------------------------------------------


def _limit_send_buffer(request: web.Request, size: int) -> None:
    sock = request.transport.get_extra_info("socket") if request.transport else None
    if sock is not None and size > 0:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)


def _client_token(request: web.Request) -> str:
    auth = request.headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return request.query.get("token", "")


async def _send_until_done(request: web.Request, ws: web.WebSocketResponse, sub: Subscriber, send_first) -> None:
    """Run the client's writer; on the way out, say why and make sure the socket goes away."""
    try:
        await send_first()
        cursor = sub.cursor
        while True:
            seq, frame = await sub.queue.get()
            if seq <= cursor:
                continue  # already sent during the replay
            await ws.send_str(frame)
            cursor = seq
    except asyncio.CancelledError:
        if not sub.kicked:
            raise
    except (ConnectionError, RuntimeError):
        return  # the client went away while we wrote
    # Ended by the server (too slow, or shutting down): try a polite close, but a client that
    # never reads will not take even that.
    try:
        await asyncio.wait_for(ws.close(code=sub.close_code or 1000, message=sub.close_message), 1.0)
    except (TimeoutError, ConnectionError, RuntimeError):
        pass
    transport = request.transport
    if transport is not None and not transport.is_closing():
        transport.abort()


async def _read_until_closed(ws: web.WebSocketResponse) -> None:
    """Clients send nothing we need; reading keeps pongs and the close handshake flowing."""
    async for msg in ws:
        if msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
            break


async def _run_connection(request: web.Request, ws: web.WebSocketResponse, sub: Subscriber, send_first) -> None:
    hub_writer = asyncio.ensure_future(_send_until_done(request, ws, sub, send_first))
    sub.writer = hub_writer
    reader = asyncio.ensure_future(_read_until_closed(ws))
    try:
        await asyncio.wait({hub_writer, reader}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (hub_writer, reader):
            task.cancel()
        for task in (hub_writer, reader):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if not ws.closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 1.0)


async def stream(request: web.Request) -> web.StreamResponse:
    store, hub, config = request.app[STORE], request.app[HUB], request.app[CONFIG]
    shop_name = request.match_info["shop"]
    token = _client_token(request)
    if not token or not store.check_token(shop_name, token):
        return _error(401, "unauthorized", "missing or wrong token for this shop")
    try:
        after = int(request.query.get("after", "0"))
        if after < 0:
            raise ValueError
    except ValueError:
        return _error(400, "bad_after", "after must be a sequence number (0 or more)")
    ws = web.WebSocketResponse(heartbeat=config.heartbeat_s, compress=False, max_msg_size=64 * 1024)
    await ws.prepare(request)
    _limit_send_buffer(request, config.send_buffer)
    sub = hub.subscribe(shop_name)  # before reading the log: nothing can fall between the two

    async def replay() -> None:
        shop = store.shop(shop_name)
        if shop is None:
            raise ConnectionError("shop removed")
        cursor = after
        reset = after > shop.last_seq  # the client knew a store that is gone: start over
        if reset:
            cursor = 0
        first = store.events_after(shop_name, 0, 1)
        oldest = first[0][0] if first else shop.last_seq + 1
        await ws.send_json({
            "type": "hello", "shop": shop_name, "store": store.store_id, "last_seq": shop.last_seq,
            "oldest_seq": oldest, "reset": reset,
        })
        if cursor < shop.pruned_through:
            await ws.send_json({"type": "history_gap", "requested_after": cursor, "oldest_seq": oldest})
        while True:
            rows = store.events_after(shop_name, cursor, REPLAY_PAGE)
            if not rows:
                break
            for seq, received_at, event in rows:
                await ws.send_str(protocol.event_frame(seq, store.store_id, received_at, event))
                cursor = seq
        sub.cursor = cursor

    try:
        await _run_connection(request, ws, sub, replay)
    finally:
        hub.unsubscribe(sub)
    return ws


async def skytakeout_ws(request: web.Request) -> web.StreamResponse:
    """Sky-take-out's `/ws/{sid}`: every client gets every new order and reminder; no history."""
    hub, config = request.app[HUB], request.app[CONFIG]
    ws = web.WebSocketResponse(heartbeat=config.heartbeat_s, compress=False, max_msg_size=64 * 1024)
    await ws.prepare(request)
    _limit_send_buffer(request, config.send_buffer)
    sub = hub.subscribe(skytakeout_channel(config.skytakeout_shop or ""))

    async def nothing_to_replay() -> None:
        sub.cursor = 0

    try:
        await _run_connection(request, ws, sub, nothing_to_replay)
    finally:
        hub.unsubscribe(sub)
    return ws


# -- health and upkeep -----------------------------------------------------------------------


async def healthz(request: web.Request) -> web.Response:
    store, hub = request.app[STORE], request.app[HUB]
    try:
        shops = len(store.shops())
    except Exception as exc:  # noqa: BLE001 - report, do not crash the probe
        return web.json_response({"status": "error", "detail": type(exc).__name__}, status=503)
    return web.json_response(
        {"status": "ok", "shops": shops, "connections": hub.connections, "dropped_slow_clients": hub.kicked}
    )


async def _prune_forever(app: web.Application) -> None:
    store, config = app[STORE], app[CONFIG]
    while True:
        try:
            removed = store.prune(config.retention_days * 86400)
            if removed:
                log.info("expired %d events older than %g days", removed, config.retention_days)
        except Exception:  # noqa: BLE001 - upkeep must never stop the server
            log.exception("pruning the event log failed")
        await asyncio.sleep(config.prune_every_s)


async def _upkeep(app: web.Application):
    task = asyncio.ensure_future(_prune_forever(app))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _close_streams(app: web.Application) -> None:
    app[HUB].close_all()


def create_app(config: ServerConfig, store: EventStore) -> web.Application:
    app = web.Application(client_max_size=config.max_body)
    app[STORE] = store
    app[HUB] = Hub(config.queue_limit)
    app[CONFIG] = config
    app.router.add_post(protocol.API_PREFIX + "/{shop}/events", ingest)
    app.router.add_get(protocol.API_PREFIX + "/{shop}/stream", stream)
    app.router.add_get("/healthz", healthz)
    if config.skytakeout_shop:
        app.router.add_get("/ws/{sid}", skytakeout_ws)
    app.cleanup_ctx.append(_upkeep)
    app.on_shutdown.append(_close_streams)
    return app
