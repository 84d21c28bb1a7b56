"""How much one visitor may upload: ``upload_megabytes`` of the budget per :data:`KEPT_S`, the time Gradio keeps
an upload.

Gradio takes any number of uploads of up to ``max_file_size`` each and keeps them for half an hour, so one
visitor sending files in a loop could fill the server's disk before the first was deleted. :class:`UploadQuota`
(ASGI middleware, given to ``launch`` through ``app_kwargs``) counts the bytes each address uploaded in that
time and refuses the next upload with 429 once they reach the budget.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from . import state

log = logging.getLogger("nst_studio")
KEPT_S = 1800  # an upload older than this is deleted (``gr.Blocks(delete_cache=(..., KEPT_S))``)
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class UploadQuota:
    """Refuses an address's upload once its uploads of the last :data:`KEPT_S` reach ``upload_megabytes``."""

    def __init__(self, app: Callable) -> None:
        self.app = app
        self._sent: dict[str, collections.deque[tuple[float, int]]] = {}  # address -> (time, bytes) per upload
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = state.BUDGET.limit("upload_megabytes")
        if limit is None or scope["type"] != "http" or scope["method"] != "POST" \
                or not scope["path"].endswith("/gradio_api/upload"):
            return await self.app(scope, receive, send)
        address = (scope.get("client") or ("",))[0]
        declared = int(dict(scope["headers"]).get(b"content-length", b"0") or 0)
        used = self.used(address)
        if used + declared > limit * 1e6:
            minutes = KEPT_S // 60
            return await refuse(send, f"Your uploads of the last {minutes} minutes ({used / 1e6:.1f} MB) and this one "
                                      f"({declared / 1e6:.1f} MB) would pass the {limit:g} MB this server takes from "
                                      f"one visitor in that time; an upload stops counting when it is deleted, "
                                      f"{minutes} minutes after it was sent.")
        received = 0

        async def counted() -> MutableMapping[str, Any]:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            return message

        try:
            await self.app(scope, counted, send)
        finally:
            with self._lock:
                self._sent.setdefault(address, collections.deque()).append((time.monotonic(), received))
            log.debug("upload: %d bytes from %s", received, address)

    def used(self, address: str) -> int:
        """Bytes ``address`` uploaded in the last :data:`KEPT_S`; older entries (of every address) are dropped."""
        now = time.monotonic()
        with self._lock:
            for key in list(self._sent):
                sent = self._sent[key]
                while sent and now - sent[0][0] > KEPT_S:
                    sent.popleft()
                if not sent:
                    del self._sent[key]
            return sum(size for _, size in self._sent.get(address, ()))


async def refuse(send: Send, message: str) -> None:
    body = message.encode()  # plain text: the page shows it as it is ("HTTP 429: <message>")
    await send({"type": "http.response.start", "status": 429,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
