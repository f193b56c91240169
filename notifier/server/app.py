"""The reference push server's HTTP and WebSocket endpoints (aiohttp).

- `POST /api/v1/shops/{shop}/events`  signed ingest from the order system
- `GET  /api/v1/shops/{shop}/stream`  WebSocket: replay after a sequence number, then live
- `POST /api/v1/shops/{shop}/orders/{order_id}/accept|reject|deliver|complete|cancel`  a PC of
  the shop decided (order_states.py says what may follow what)
- `POST /api/v1/shops/{shop}/open|close`, `GET …/status`  营业 / 打烊 (shop_state.py)
- `GET  /api/v1/shops/{shop}/today`   the day's figures (today.py)
- `GET  /ws/{sid}`                    sky-take-out compatible broadcast (only when configured)
- `GET  /healthz`

Every store call goes through StoreCalls (store_calls.py): on a shared store (Redis, over the
network) it runs on a worker thread and the request waits for it a bounded time (then 503), so
the event loop never waits on the network; on SQLite it runs inline, on purpose: each call is
well under a millisecond, and doing the append and the fan-out with no `await` between them is
what guarantees a client that subscribes while replaying misses nothing. Ingest requests that arrive together are stored in
one transaction (group commit, batcher.py): one WAL write for all of them, then their
fan-out in order, still with no `await` in between. On a shared store (Redis, several gateways)
the fan-out comes instead from the follower of the store's log (redis_live), so every client gets
every gateway's events in log order. What can take longer runs elsewhere: pruning goes to a
worker thread in small batches, and /healthz reads only counters kept in memory.

Every shop name from a URL is checked against the shop-name rule before anything else (it is
used as a file name). A watcher notices when any shop's credentials change, also when the admin
command runs in another process, and closes the streams that were admitted with a token that is
no longer valid, or to a shop that was removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import socket
import sqlite3
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_to_bytes

from aiohttp import WSMsgType, web

from notifier.core import protocol
from notifier.core.protocol import BodyError, SchemaError, SignatureProblem
from notifier.server import order_states, shop_state, today
from notifier.server.batcher import IngestBatcher, skytakeout_channel
from notifier.server.callbacks import Callbacks
from notifier.server.config import ServerConfig
from notifier.server.deliveries import event_id_of
from notifier.server.destinations import Destinations
from notifier.server.guard import DecisionRate, ShopStreams
from notifier.server.hub import (
    CLOSE_SHOP_GONE,
    CLOSE_TOKEN_REVOKED,
    CLOSE_TOO_MANY_STREAMS,
    Hub,
    Subscriber,
)
from notifier.server.log_limits import LimitedLog
from notifier.server.no_pc_alerts import NoPcAlerts
from notifier.server.no_pc_state import alert_state_for
from notifier.server.store import Appending, EventStore, ShopError
from notifier.server.store_calls import StoreCalls
from notifier.server.supervision import Supervised

log = logging.getLogger(__name__)
_limited = LimitedLog(log)

REPLAY_PAGE = 500

STORE: web.AppKey[EventStore] = web.AppKey("store", EventStore)
HUB: web.AppKey[Hub] = web.AppKey("hub", Hub)
CONFIG: web.AppKey[ServerConfig] = web.AppKey("config", ServerConfig)
GUARD_STATS: web.AppKey[Any] = web.AppKey("guard_stats", object)  # set by the runner: () -> dict
BATCHER: web.AppKey[Any] = web.AppKey("ingest_batcher", object)
KNOWN_SHOPS: web.AppKey[dict] = web.AppKey("known_shops", dict)  # name -> (token hash, identity)
CALLBACKS: web.AppKey[Callbacks] = web.AppKey("callbacks", Callbacks)
LIVE: web.AppKey[dict] = web.AppKey("live_follower", dict)  # on a shared store: {"follower": LiveFollower}
CREDENTIALS_CHANGED: web.AppKey[asyncio.Event] = web.AppKey("credentials_changed", asyncio.Event)
SHOP_STREAMS: web.AppKey[ShopStreams] = web.AppKey("shop_streams", ShopStreams)
DECISION_RATE: web.AppKey[DecisionRate] = web.AppKey("decision_rate", DecisionRate)
DURABILITY: web.AppKey[dict] = web.AppKey("durability", dict)  # {"problem": why writes are refused, or None}
CALLS: web.AppKey[StoreCalls] = web.AppKey("store_calls", StoreCalls)
NO_PC: web.AppKey[NoPcAlerts] = web.AppKey("no_pc_alerts", NoPcAlerts)


def _error(status: int, reason: str, message: str, *, retry_soon: bool = False, **extra: Any) -> web.Response:
    """The JSON error every refusal answers with; `retry_soon`: a 503 worth retrying in a moment."""
    return web.json_response({"error": reason, "message": message, **extra}, status=status,
                             headers={"Retry-After": "1"} if retry_soon else None)


# What a store raises when it cannot be reached for a moment (Redis restarting, a network
# blip): answered 503 with a sentence, so an order system retries (with its Idempotency-Key)
# and a client reconnects, instead of a bare 500.
STORE_DOWN_ERRORS: tuple[type[BaseException], ...] = (OSError, sqlite3.OperationalError)
with contextlib.suppress(ImportError):
    import redis

    STORE_DOWN_ERRORS += (redis.RedisError,)


def _store_unavailable(exc: BaseException) -> web.Response:
    _limited.warning("store", "the store is unavailable: %s", f"{type(exc).__name__}: {exc}")
    return _error(503, "store_unavailable", "the server cannot reach its store right now; try again in a moment")


@web.middleware
async def _store_down_is_503(request: web.Request, handler) -> web.StreamResponse:
    """Whatever endpoint needed the store while it was away (or slower than the wait) answers
    503 with a sentence, never a 500: the caller retries (an order system with its
    Idempotency-Key, a PC from its outbox)."""
    try:
        return await handler(request)
    except STORE_DOWN_ERRORS as exc:
        return _store_unavailable(exc)


def _unknown_shop(shop: str) -> web.Response:
    # The name is not echoed back when it breaks the rule: it is whatever an attacker sent.
    named = f" named {shop!r}" if protocol.valid_shop_name(shop) else " by that name"
    return _error(404, "unknown_shop", f"no shop{named} on this server")


def _arriving(shop: str) -> web.Response:
    return _error(503, "shop_arriving", f"the shop {shop} is being moved to this server; try again in a moment",
                  retry_soon=True)


# -- ingest ----------------------------------------------------------------------------------


def _not_durable(app: web.Application) -> web.Response | None:
    """The 503 every write answers while the store keeps nothing on disk (see _check_durability)."""
    problem = app[DURABILITY].get("problem")
    if not problem:
        return None
    return _error(503, "store_not_durable", f"the server's store keeps nothing on disk right now ({problem}): "
                  "nothing is accepted until its operator turns persistence back on", retry_soon=True)


async def ingest(request: web.Request) -> web.Response:
    store, config = request.app[STORE], request.app[CONFIG]
    shop = request.match_info["shop"]
    if not protocol.valid_shop_name(shop):
        return _unknown_shop(shop)
    refused = _not_durable(request.app)
    if refused is not None:
        return refused
    if request.content_length is not None and request.content_length > config.max_body:
        return _error(413, "body_too_large", f"the body must be at most {config.max_body} bytes")
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return _error(413, "body_too_large", f"the body must be at most {config.max_body} bytes")
    secret = await request.app[CALLS](store.ingest_secret, shop)
    if secret is None:
        return _unknown_shop(shop)
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
        event = protocol.validate_event(protocol.parse_body(body))
    except BodyError as exc:
        return _error(400, "invalid_json", f"{exc}: send one UTF-8 JSON object")
    except SchemaError as exc:
        return _error(400, "invalid_event", str(exc), field=exc.field)
    key = headers.get(protocol.IDEMPOTENCY_HEADER)
    if key is not None and not protocol.IDEMPOTENCY_KEY.match(key):
        return _error(400, "bad_idempotency_key", "Idempotency-Key must be 1-200 printable ASCII characters")
    result = await request.app[BATCHER].submit(
        Appending(shop, event, signed[1], key, body, protocol.encode_event(event)))
    if isinstance(result, ShopError):
        return _unknown_shop(shop)
    if result.arriving:
        return _arriving(shop)
    if result.nonce_reused:
        return _error(409, "nonce_reused", "this nonce was already used: sign every request with a new one")
    if result.duplicate:
        if result.conflict:
            return _error(422, "idempotency_conflict", "this Idempotency-Key was used with a different body")
        return web.json_response({"seq": result.seq, "shop": shop, "duplicate": True}, status=200)
    request.app[NO_PC].order_stored(shop, result.seq, result.received_at, event)
    return web.json_response({"seq": result.seq, "shop": shop, "duplicate": False}, status=201)


# -- decisions: accept, reject, deliver, complete, cancel; open and close the shop ------------

# Decisions' Idempotency-Keys are stored with this in front: a space cannot be in a key a client
# sends (printable ASCII without space), so they never meet an order system's ingest keys.
DECISION_KEYS = "decision "


def _raw_order_id(request: web.Request) -> str | None:
    """The order id segment of the path, percent-decoded as UTF-8 (None when it is not UTF-8).
    aiohttp leaves an undecodable escape such as %ff as the three characters "%ff", which
    would name another order than the client meant."""
    segments = request.raw_path.split("?", 1)[0].split("/")
    try:
        return unquote_to_bytes(segments[-2]).decode("utf-8")
    except (IndexError, UnicodeDecodeError):
        return None


async def _shop_pc(request: web.Request) -> web.Response | None:
    """What every request of a PC of the shop passes first: the shop name, the client token;
    for a decision also the store's durability and the shop's decision rate. None: go on."""
    store, config = request.app[STORE], request.app[CONFIG]
    shop = request.match_info["shop"]
    if not protocol.valid_shop_name(shop):
        return _unknown_shop(shop)
    token = _client_token(request)
    if not token or not await request.app[CALLS](store.token_matches, shop, token):
        return _error(401, "unauthorized", "missing or wrong token for this shop")
    if request.method == "GET":
        return None
    refused = _not_durable(request.app)
    if refused is not None:
        return refused
    wait = request.app[DECISION_RATE].wait(shop)
    if wait:
        return web.json_response(
            {"error": "too_many_decisions", "message": f"this shop may decide at most "
             f"{config.decisions_per_second:g} orders a second; try again in a moment"},
            status=429, headers={"Retry-After": str(max(1, round(wait)))})
    return None


async def _decision_body(request: web.Request) -> tuple[Any, web.Response | None]:
    """The decision's parsed JSON body (None when empty), or the answer refusing it."""
    config = request.app[CONFIG]
    if request.content_length is not None and request.content_length > config.max_body:
        return None, _error(413, "body_too_large", f"the body must be at most {config.max_body} bytes")
    try:
        body = await request.read() if request.can_read_body else b""
    except web.HTTPRequestEntityTooLarge:
        return None, _error(413, "body_too_large", f"the body must be at most {config.max_body} bytes")
    try:
        return (protocol.parse_body(body) if body.strip() else None), None
    except BodyError as exc:
        return None, _error(400, "invalid_json", f"{exc}: send one UTF-8 JSON object")


async def _store_decision(request: web.Request, event: dict[str, Any]):
    """Append a PC's decision (or the shop's opening/closing) as an event, with its
    Idempotency-Key in the decisions' own space; the IngestResult, or the answer refusing it."""
    shop = request.match_info["shop"]
    key = request.headers.get(protocol.IDEMPOTENCY_HEADER)
    if key is not None and not protocol.IDEMPOTENCY_KEY.match(key):
        return _error(400, "bad_idempotency_key", "Idempotency-Key must be 1-200 printable ASCII characters")
    # What an Idempotency-Key is compared against: the decision, not the moment it was made.
    decision = json.dumps([event["kind"], event.get("order_id"), event["text"]], ensure_ascii=False).encode("utf-8")
    # callback=True: a decision, refused unless the order's (shop's) state allows it; the store
    # queues the back end's callback in the decision's own transaction. Its key lives in a space
    # of its own: a PC's key can never answer for (or block) an order system's ingest.
    result = await request.app[BATCHER].submit(
        Appending(shop, event, secrets.token_hex(16), key and DECISION_KEYS + key, decision, callback=True))
    if isinstance(result, ShopError):
        return _unknown_shop(shop)
    if result.arriving:
        return _arriving(shop)
    if result.duplicate and result.conflict:
        return _error(422, "idempotency_conflict", "this Idempotency-Key was used for another decision")
    return result


async def _event_id(request: web.Request, result) -> str:
    shop = request.match_info["shop"]
    identity = result.identity or getattr(await request.app[CALLS](request.app[STORE].shop, shop), "identity", "")
    return event_id_of(identity, result.seq)


async def order_action(request: web.Request) -> web.Response:
    """A PC of the shop accepted, rejected, sent out, completed or cancelled an order: the
    decision becomes an event in the shop's log (so every stream gets it, and one that was
    offline gets it on resume), and the shop's back end is called back if it asked to be (see
    callbacks.py). A decision the order's state does not allow is a 409 naming that state."""
    shop, action = request.match_info["shop"], request.match_info["action"]
    refused = await _shop_pc(request)
    if refused is not None:
        return refused
    order_id = _raw_order_id(request)
    if order_id is None:
        return _error(400, "bad_order_id", "the order id in the path must be UTF-8 text")
    parsed, refused = await _decision_body(request)
    if refused is not None:
        return refused
    try:
        order_id, reason = protocol.validate_decision(order_id, parsed,
                                                      reason_required=action in protocol.REASON_REQUIRED)
    except SchemaError as exc:
        reason_code = {"order_id": "bad_order_id", "reason": "bad_reason"}.get(exc.field, "invalid_decision")
        return _error(400, reason_code, str(exc), field=exc.field)
    event = {"kind": protocol.ORDER_ACTIONS[action], "order_id": order_id,
             "text": reason or None, "occurred_at": datetime.now(UTC).isoformat()}
    result = await _store_decision(request, event)
    if isinstance(result, web.Response):
        return result
    if result.outcome:
        error, what = order_states.REFUSALS.get(result.outcome, ("already_decided", f"is {result.outcome}"))
        return _error(409, error, f"order {order_id} {what}", outcome=result.outcome, order_id=order_id,
                      seq=result.seq)
    if not result.duplicate:
        request.app[CALLBACKS].wake()
    return web.json_response({"seq": result.seq, "shop": shop, "event_id": await _event_id(request, result),
                              "duplicate": result.duplicate}, status=200 if result.duplicate else 201)


async def shop_action(request: web.Request) -> web.Response:
    """A PC of the shop opened (营业) or closed (打烊) the shop: an event every PC gets, and a
    callback to the shop's back end. Asking for the state the shop is already in stores nothing
    and answers 200 with `"changed": false`."""
    shop, action = request.match_info["shop"], request.match_info["action"]
    refused = await _shop_pc(request)
    if refused is not None:
        return refused
    parsed, refused = await _decision_body(request)
    if refused is not None:
        return refused
    try:
        protocol.validate_shop_action(parsed)
    except SchemaError as exc:
        return _error(400, "invalid_decision", str(exc), field=exc.field)
    event = {"kind": protocol.SHOP_ACTIONS[action], "text": None, "occurred_at": datetime.now(UTC).isoformat()}
    result = await _store_decision(request, event)
    if isinstance(result, web.Response):
        return result
    if result.outcome:  # already so: nothing stored
        return web.json_response({"status": result.outcome, "seq": result.seq, "shop": shop, "changed": False})
    if not result.duplicate:
        request.app[CALLBACKS].wake()
    status = shop_state.OPEN if action == "open" else shop_state.CLOSED
    return web.json_response({"status": status, "seq": result.seq, "shop": shop, "changed": not result.duplicate,
                              "event_id": await _event_id(request, result), "duplicate": result.duplicate},
                             status=200 if result.duplicate else 201)


async def shop_status(request: web.Request) -> web.Response:
    """Whether the shop is open, and the event that made it so (0: it never closed)."""
    refused = await _shop_pc(request)
    if refused is not None:
        return refused
    shop = request.match_info["shop"]
    found = await request.app[CALLS](request.app[STORE].shop_status, shop)
    if found is None:
        return _unknown_shop(shop)
    return web.json_response({"shop": shop, "status": found[0], "seq": found[1]})


async def today_figures(request: web.Request) -> web.Response:
    """The day's figures (today.py): `?date=YYYY-MM-DD` (default today), `&tz=Asia/Shanghai`
    (default the server's zone)."""
    refused = await _shop_pc(request)
    if refused is not None:
        return refused
    shop, config = request.match_info["shop"], request.app[CONFIG]
    now = time.time()
    try:
        zone = today.zone_of(request.query.get("tz"))
        day, start, end = today.day_bounds(request.query.get("date"), zone, now)
    except today.DayError as exc:
        return _error(400, f"bad_{exc.field}", str(exc), field=exc.field)
    if start > now:
        return _error(400, "bad_date", f"{day} has not begun yet", field="date")
    events = await request.app[CALLS](request.app[STORE].events_since, shop, start)
    body = today.figures(events, start, end)
    return web.json_response({
        "shop": shop, "date": day.isoformat(), "tz": str(zone),
        "from": datetime.fromtimestamp(start, zone).isoformat(), "to": datetime.fromtimestamp(end, zone).isoformat(),
        "complete": start >= now - config.retention_days * 86400, **body})


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
    # Close, do not abort: the close frame may still be on its way to a client that reads it a
    # little later. One that never reads is aborted at the subscriber's close deadline.
    transport = request.transport
    if transport is not None and not transport.is_closing():
        transport.close()


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
    store = request.app[STORE]
    shop_name = request.match_info["shop"]
    if not protocol.valid_shop_name(shop_name):
        return _unknown_shop(shop_name)
    token = _client_token(request)
    calls = request.app[CALLS]
    hashed = await calls(store.token_matches, shop_name, token) if token else None
    admitted = await calls(store.shop, shop_name) if hashed else None
    if admitted is None:
        return _error(401, "unauthorized", "missing or wrong token for this shop")
    known_store = request.query.get("store", "")
    try:
        after = int(request.query.get("after", "0"))
        if after < 0:
            raise ValueError
    except ValueError:
        return _error(400, "bad_after", "after must be a sequence number (0 or more)")
    slots = request.app[SHOP_STREAMS]
    if not slots.take(shop_name):
        return await _refuse_stream(request, shop_name)
    try:
        return await _serve_stream(request, shop_name, hashed, admitted, after, known_store)
    finally:
        slots.give(shop_name)


async def _refuse_stream(request: web.Request, shop: str) -> web.StreamResponse:
    """Upgrade, then close with CLOSE_TOO_MANY_STREAMS at once. Not an HTTP error: a proxy in
    front counts those against the gateway, and one shop's flood must never make it look down
    for the others. The client shows why and retries slowly."""
    _limited.info(("streams", shop), "refused streams of %s: it has %d open here, its limit", shop,
                  request.app[SHOP_STREAMS].limit)
    ws = web.WebSocketResponse(compress=False, max_msg_size=1024)
    await ws.prepare(request)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(ws.close(code=CLOSE_TOO_MANY_STREAMS, message=b"too many streams for this shop"), 1.0)
    return ws


async def _serve_stream(request: web.Request, shop_name: str, hashed: str, admitted, after: int,
                        known_store: str) -> web.StreamResponse:
    store, hub, config, calls = request.app[STORE], request.app[HUB], request.app[CONFIG], request.app[CALLS]
    ws = web.WebSocketResponse(heartbeat=config.heartbeat_s, compress=False, max_msg_size=64 * 1024)
    await ws.prepare(request)
    _limit_send_buffer(request, config.send_buffer)
    sub = hub.subscribe(shop_name)  # before reading the log: nothing can fall between the two
    _follow(request.app, shop_name, admitted.last_seq)
    sub.transport = request.transport
    sub.token_hash, sub.identity = hashed, admitted.identity

    async def replay() -> None:
        shop = await calls(store.shop, shop_name)
        if shop is None or shop.identity != sub.identity:
            raise ConnectionError("shop removed")
        cursor = after
        # The client's cursor belongs to another store (replaced, or the shop re-created), or is
        # ahead of this one: it means nothing here, so start over from the first event.
        reset = after > shop.last_seq or bool(known_store and known_store != shop.identity)
        if reset:
            cursor = 0
        first = await calls(store.events_after, shop_name, 0, 1)
        oldest = first[0][0] if first else shop.last_seq + 1
        await ws.send_json({
            "type": "hello", "shop": shop_name, "store": shop.identity, "last_seq": shop.last_seq,
            "oldest_seq": oldest, "reset": reset, "shop_status": shop.status,
        })
        if cursor < shop.pruned_through:
            await ws.send_json({"type": "history_gap", "requested_after": cursor, "oldest_seq": oldest})
        while True:
            rows = await calls(store.events_after, shop_name, cursor, REPLAY_PAGE)
            if not rows:
                break
            for seq, received_at, event in rows:
                await ws.send_str(protocol.event_frame(seq, shop.identity, received_at, event))
                cursor = seq
        sub.cursor = cursor

    try:
        await _run_connection(request, ws, sub, replay)
    finally:
        hub.unsubscribe(sub)
        _unfollow(request.app, shop_name)
    return ws


def _follow(app: web.Application, shop: str, after: int) -> None:
    """On a shared store: have the follower read `shop`'s log from `after` on (see redis_live)."""
    live = app[LIVE].get("follower")
    if live is not None:
        live.watch(shop, after)


def _unfollow(app: web.Application, shop: str) -> None:
    live = app[LIVE].get("follower")
    hub = app[HUB]
    if live is not None and not hub.has_subscribers(shop) and not hub.has_subscribers(skytakeout_channel(shop)):
        live.unwatch(shop)


async def skytakeout_ws(request: web.Request) -> web.StreamResponse:
    """Sky-take-out's `/ws/{sid}`: every client gets every new order and reminder; no history."""
    hub, config = request.app[HUB], request.app[CONFIG]
    ws = web.WebSocketResponse(heartbeat=config.heartbeat_s, compress=False, max_msg_size=64 * 1024)
    await ws.prepare(request)
    _limit_send_buffer(request, config.send_buffer)
    sub = hub.subscribe(skytakeout_channel(config.skytakeout_shop or ""))
    sub.transport = request.transport
    shop = await request.app[CALLS](request.app[STORE].shop, config.skytakeout_shop or "")
    if shop is not None:
        _follow(request.app, shop.name, shop.last_seq)

    async def nothing_to_replay() -> None:
        sub.cursor = 0

    try:
        await _run_connection(request, ws, sub, nothing_to_replay)
    finally:
        hub.unsubscribe(sub)
        _unfollow(request.app, config.skytakeout_shop or "")
    return ws


# -- health and upkeep -----------------------------------------------------------------------


async def healthz(request: web.Request) -> web.Response:
    """O(1) in the store: only counters kept in memory (a probe must never touch the event log)."""
    hub = request.app[HUB]
    body = {
        "status": "ok", "shops": len(request.app[KNOWN_SHOPS]), "connections": hub.connections,
        "dropped_slow_clients": hub.kicked, "closing_connections": hub.closing,
        "ingest_batches": request.app[BATCHER].batches, "ingest_requests": request.app[BATCHER].requests,
        "refused_streams": request.app[SHOP_STREAMS].refused,
    }
    guard = request.app.get(GUARD_STATS)
    if guard is not None:
        body.update(guard())
    return web.json_response(body)


def close_revoked_streams(hub: Hub, known: dict[str, tuple[str, str]]) -> int:
    """End every stream whose shop is gone or re-created, or whose token is no longer the shop's."""
    closed = 0
    for channel in hub.channels():
        if channel.startswith("\x00"):
            continue  # sky-take-out clients have no token
        current = known.get(channel)
        for sub in hub.subscribers(channel):
            if sub.kicked:
                continue
            if current is None or current[1] != sub.identity:
                sub.end(CLOSE_SHOP_GONE, b"shop removed")
            elif current[0] != sub.token_hash:
                sub.end(CLOSE_TOKEN_REVOKED, b"token no longer valid")
            else:
                continue
            closed += 1
    return closed


async def _watch_credentials(app: web.Application) -> None:
    """Poll the store's credentials version (one cheap query) and act only when it changed."""
    store, hub, config, calls = app[STORE], app[HUB], app[CONFIG], app[CALLS]
    seen = None
    while True:
        try:
            version = await calls(store.credentials_version)
            if version != seen:
                seen = version
                known = await calls(store.shop_credentials)
                app[KNOWN_SHOPS].clear()
                app[KNOWN_SHOPS].update(known)
                closed = close_revoked_streams(hub, known)
                if closed:
                    log.info("closed %d streams whose token was rotated or whose shop was removed", closed)
        except STORE_DOWN_ERRORS as exc:  # a moment without the store: one line, not a traceback
            _limited.warning("credentials", "checking the shops' credentials failed: %s", exc)
        except Exception:  # noqa: BLE001 - keep watching; the next round tries again
            log.exception("checking the shops' credentials failed")
        # Woken early when a shared store announces a change (redis_live), else polled.
        changed = app[CREDENTIALS_CHANGED]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(config.credentials_check_s):
                await changed.wait()
        changed.clear()


async def _prune_forever(app: web.Application) -> None:
    """Expire old events in small batches on a worker thread, so neither start-up nor the event
    loop waits for a big backlog (each batch holds the store's lock for a few milliseconds)."""
    store, config = app[STORE], app[CONFIG]
    while True:
        removed = batches = 0
        try:
            more = True
            while more:
                count, more = await asyncio.to_thread(store.prune_batch, config.retention_days * 86400)
                removed += count
                batches += 1
                if batches % 20 == 0:
                    await asyncio.to_thread(store.checkpoint)  # keep the WAL small while deleting
                await asyncio.sleep(config.prune_pause_s)  # let ingest have the lock in between
            if removed:
                log.info("expired %d events older than %g days", removed, config.retention_days)
        except Exception:  # noqa: BLE001 - upkeep must never stop the server
            log.exception("pruning the event log failed")
        await asyncio.sleep(config.prune_every_s)


async def _checkpoint_forever(app: web.Application) -> None:
    """Checkpoint the store's log on a worker thread, so no ingest commit ever has to."""
    store, config = app[STORE], app[CONFIG]
    while True:
        await asyncio.sleep(config.checkpoint_every_s)
        try:
            await asyncio.to_thread(store.checkpoint)
        except Exception:  # noqa: BLE001 - the automatic checkpoint is the backstop
            log.exception("checkpointing the event log failed")


async def _check_durability(app: web.Application) -> None:
    """On a store that can say so (Redis): check again and again that it still keeps its data on
    disk. While it does not, ingest and decisions answer 503 store_not_durable (an event answered
    201 would not survive a restart of the store); the log says when that starts and ends."""
    store, config, calls = app[STORE], app[CONFIG], app[CALLS]
    while True:
        try:
            problem = await calls(store.durability_problem)
        except STORE_DOWN_ERRORS:
            problem = app[DURABILITY].get("problem")  # unknown for now: as it was
        if problem != app[DURABILITY].get("problem"):
            if problem:
                log.error("refusing ingest and decisions: %s; turn persistence back on (appendonly yes)", problem)
            else:
                log.warning("the store keeps its data on disk again: ingest and decisions accepted")
            app[DURABILITY]["problem"] = problem
        await asyncio.sleep(config.durability_check_s)


async def _upkeep(app: web.Application):
    app[KNOWN_SHOPS].update(app[STORE].shop_credentials())
    loops = Supervised()
    loops.start("pruning", lambda: _prune_forever(app))
    loops.start("watching credentials", lambda: _watch_credentials(app))
    loops.start("checkpoints", lambda: _checkpoint_forever(app))
    if hasattr(app[STORE], "durability_problem") and not app[CONFIG].allow_volatile:
        loops.start("checking durability", lambda: _check_durability(app))
    yield
    await loops.stop()


async def _follow_shared_store(app: web.Application):
    """On a shared store (Redis): run the follower that brings every gateway's events here."""
    from notifier.server.redis_live import LiveFollower

    changed = app[CREDENTIALS_CHANGED]
    live = LiveFollower(app[STORE], asyncio.get_running_loop(), app[BATCHER].publish_followed, changed.set)
    live.start()
    app[LIVE]["follower"] = live
    yield
    app[LIVE].pop("follower", None)
    await asyncio.to_thread(live.stop)


async def _close_streams(app: web.Application) -> None:
    app[HUB].close_all()


async def _close_calls(app: web.Application) -> None:
    app[CALLS].close()


def create_app(config: ServerConfig, store: EventStore) -> web.Application:
    app = web.Application(client_max_size=config.max_body, middlewares=[_store_down_is_503])
    app[STORE] = store
    app[HUB] = Hub(config.queue_limit)
    app[CONFIG] = config
    app[KNOWN_SHOPS] = {}
    app[CALLS] = StoreCalls(bool(getattr(store, "shared", False)), wait_s=config.store_timeout_s)
    app[BATCHER] = IngestBatcher(store, app[HUB], config, app[CALLS])
    app[CREDENTIALS_CHANGED] = asyncio.Event()
    app[SHOP_STREAMS] = ShopStreams(config.max_streams_per_shop)
    app[DECISION_RATE] = DecisionRate(config.decisions_per_second)
    app[DURABILITY] = {}
    app[LIVE] = {}
    app.router.add_post(protocol.API_PREFIX + "/{shop}/events", ingest)
    app.router.add_get(protocol.API_PREFIX + "/{shop}/stream", stream)
    app.router.add_get("/healthz", healthz)
    app.router.add_post(protocol.API_PREFIX + "/{shop}/orders/{order_id}/{action:" + "|".join(protocol.ORDER_ACTIONS)
                        + "}", order_action)
    app.router.add_post(protocol.API_PREFIX + "/{shop}/{action:open|close}", shop_action)
    app.router.add_get(protocol.API_PREFIX + "/{shop}/status", shop_status)
    app.router.add_get(protocol.API_PREFIX + "/{shop}/today", today_figures)
    app[CALLBACKS] = Callbacks(store, config.data_dir, app[CALLS], lease_s=config.callback_lease_s,
                               destinations=Destinations(config.callbacks_allowed_to))
    app.cleanup_ctx.append(app[CALLBACKS].run_with)
    app[NO_PC] = NoPcAlerts(alert_state_for(store), app[HUB], app[CALLS], absent_after_s=config.no_pc_after_s,
                            gap_s=config.no_pc_gap_s, language=config.alert_language,
                            open_after_s=config.no_pc_open_after_s, statuses=store.shop_statuses,
                            tick_s=config.no_pc_tick_s,
                            retry_s=config.alert_retry_s, targets_every_s=config.no_pc_targets_every_s)
    app.cleanup_ctx.append(app[NO_PC].run_with)
    if config.skytakeout_shop:
        app.router.add_get("/ws/{sid}", skytakeout_ws)
    app.cleanup_ctx.append(_upkeep)
    if getattr(store, "shared", False):
        app.cleanup_ctx.append(_follow_shared_store)
    app.on_shutdown.append(_close_streams)
    app.on_cleanup.append(_close_calls)
    return app
