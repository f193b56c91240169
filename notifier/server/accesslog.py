"""One JSON object per request on the `notifier.server.access` logger, with no secrets in it.

aiohttp's default access line carries the full request line, and `?token=` would end up in the
log; here the query keeps only the parameters known to be harmless.
"""

from __future__ import annotations

import json
import logging

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

ACCESS_LOGGER = logging.getLogger("notifier.server.access")
SAFE_QUERY_KEYS = frozenset({"after"})


def access_record(request: BaseRequest, response: StreamResponse, seconds: float) -> dict:
    query = {k: v for k, v in request.query.items() if k in SAFE_QUERY_KEYS}
    return {
        "remote": request.remote,
        "method": request.method,
        "path": request.path,
        "query": query or None,
        "status": response.status,
        "bytes": response.body_length,
        "ms": round(seconds * 1000, 1),
        "agent": (request.headers.get("User-Agent") or "")[:80] or None,
    }


class JsonAccessLogger(AbstractAccessLogger):
    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        if self.logger.isEnabledFor(logging.INFO):
            self.logger.info(json.dumps(access_record(request, response, time), ensure_ascii=False))

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)
