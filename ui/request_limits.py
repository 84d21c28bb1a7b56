"""What a request may send before any handler sees it: :class:`RequestLimits`, ASGI middleware given to
``launch`` through ``app_kwargs``.

* **Uploads.** Gradio takes any number of uploads of up to ``max_file_size`` each and keeps them for half an hour
  (:data:`KEPT_S`), so one visitor sending files in a loop could fill the server's disk before the first was
  deleted. Each address may add ``upload_megabytes`` of the budget in that time, each new file counting
  :data:`FILE_CHARGE` besides its bytes (a request may hold 1000 files of a few bytes each); once it has, the
  next upload is refused with 429 and the reason. Files fetched by URL and model files fetched from the Hub repos
  a visitor names count there too (:func:`charge_fetches_from_visitors_repos`).
* **Every other body.** Starlette reads a request's whole JSON body and parses it before Gradio looks at it: 30 MB
  of nested empty lists took 2.3 GB and 11 s. A call's values are a few kilobytes (files are uploaded, or named
  by URL), so a body may be :data:`MAX_BODY_BYTES`, except where :data:`LARGER_BODIES` carry a picture, and must
  say its length; more is refused with 413 (411 without a length). An MCP message, which Gradio writes to the
  cache where it holds a file, counts in the upload quota (and the MCP server's own upload of those files not
  again).
* **Routes the page does not use** and whose work nothing bounds (:data:`CLOSED`) are refused with 403.
* **Upload ids.** An upload's progress is named by an id the page makes (``upload_id``); one that is not
  :data:`~.upload_progress.UPLOAD_ID` is refused with 400 (see :mod:`.upload_progress`).
* **Joining the queue.** Gradio prepares a request's values and runs its check when it asks to join the queue,
  before the visitor's share of jobs is counted: it reads the pictures' and the video's headers and a custom
  model's files (the region editor's pictures were decoded whole there: a 90 MP PNG took 5 s and 2.7 GB, ten at once
  27 GB, until :mod:`.region_editor` handed them to the run). An address may have :data:`JOINING_AT_ONCE`
  requests joining at once; the next is refused with 429 until one has joined.
"""

from __future__ import annotations

import collections
import contextvars
import json
import logging
import math
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from gradio.context import LocalContext
from starlette.requests import Request

from nst_core.errors import InvalidInput
from nst_core.hub import fetch

from . import state
from .serving import address_of, vouched
from .upload_progress import ID_CHARACTERS, UPLOAD_ID

log = logging.getLogger("nst_studio")
KEPT_S = 1800  # an upload older than this is deleted (``gr.Blocks(delete_cache=(..., KEPT_S))``)
FILE_CHARGE = 64 * 2**10  # what each uploaded file counts besides its bytes: 1000 tiny files are 2000 inodes
MAX_BODY_BYTES = 2**20
LARGER_BODIES = {"/gradio_api/mcp": 16 * 2**20,     # a file passed to a tool as a data: URL
                 "/gradio_api/stream/": 8 * 2**20}  # a webcam frame, a JPEG data: URL at the camera's size (4K)
# Gradio's routes this page does not use, whose work no budget bounds: any visitor could post a short video that
# decodes to minutes of 4K for ffmpeg to encode again, as many at once as they liked, or ask for a share link to
# their session after each run, each one a file of the page's whole state (330 kB) kept until the server stops.
CLOSED = {"/gradio_api/process_recording": "This server does not edit screen recordings; the page keeps a "
                                           "recording as it was made.",
          "/gradio_api/deep_link": "This page makes no share links; download a result to share it."}
UPLOAD_ID_ROUTES = ("/gradio_api/upload", "/gradio_api/upload_progress")
JOINING_AT_ONCE = 2  # an address's requests to join the queue (the page's or a client's) being prepared at once
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class Uploads:
    """What each address added to the server's disk in the last :data:`KEPT_S` (uploads, files fetched by URL,
    MCP messages), against the budget. Gradio keeps an upload under its content's digest and its name, so a
    file sent again (the region editor sends its layers with each run) adds nothing."""

    def __init__(self) -> None:
        self._sent: dict[str, collections.deque[tuple[float, int]]] = {}  # address -> (time, bytes) per file kept
        self._kept: collections.OrderedDict[str, float] = collections.OrderedDict()  # path counted -> when
        self._lock = threading.Lock()

    def room(self, address: str) -> float:
        """Bytes ``address`` may still add (infinite where the budget lifts the limit)."""
        limit = state.BUDGET.limit("upload_megabytes")
        return math.inf if limit is None else limit * 1e6 - self.used(address)

    def refusal(self, address: str, size: float | None = None) -> str:
        used, limit, minutes = self.used(address), state.BUDGET.limit("upload_megabytes"), KEPT_S // 60
        reached = "have reached" if size is None else f"and this one ({size / 1e6:.1f} MB) would pass"
        return (f"Your uploads of the last {minutes} minutes ({used / 1e6:.1f} MB) {reached} the {limit:g} MB this "
                f"server takes from one visitor in that time; an upload stops counting when it is deleted, "
                f"{minutes} minutes after it was sent.")

    def charge(self, address: str, size: int) -> None:
        with self._lock:
            self._sent.setdefault(address, collections.deque()).append((time.monotonic(), size))

    def charge_kept(self, address: str, paths: list[str]) -> int:
        """Charge ``address`` for each uploaded file not counted before: its size and :data:`FILE_CHARGE`."""
        with self._lock:
            new = [path for path in dict.fromkeys(paths) if path not in self._kept]
            self._kept.update(dict.fromkeys(new, time.monotonic()))
        size = sum(FILE_CHARGE + (Path(path).stat().st_size if Path(path).is_file() else 0) for path in new)
        if size:
            self.charge(address, size)
        return size

    def used(self, address: str) -> int:
        """Bytes ``address`` added in the last :data:`KEPT_S`; older entries (of every address) are dropped."""
        now = time.monotonic()
        with self._lock:
            for key in list(self._sent):
                sent = self._sent[key]
                while sent and now - sent[0][0] > KEPT_S:
                    sent.popleft()
                if not sent:
                    del self._sent[key]
            while self._kept and now - next(iter(self._kept.values())) > KEPT_S:
                self._kept.popitem(last=False)
            return sum(size for _, size in self._sent.get(address, ()))


UPLOADS = Uploads()  # every address's: its uploads, files fetched by URL or from repos it named, MCP messages
# The address of the request being handled, and its quota. A task started while one is handled keeps it (Gradio's
# queue loop holds that of the request that started it): read it only in a request's own handling (its join).
SENDER: contextvars.ContextVar[tuple[Uploads, str] | None] = contextvars.ContextVar("sender", default=None)


def charge_fetches_from_visitors_repos() -> None:
    """A model file fetched from a Hub repo a visitor named lands on the server's disk as an upload does (up to
    64 MB a file, any number of repos): it counts against that visitor's quota, refused before its download once
    the quota is spent."""
    fetch.on_visitor_fetch = _charge_fetch


def _charge_fetch(size: int, what: str) -> None:
    # A handler's request first: the queue's own task may hold the SENDER of the request that started it.
    request, sender = LocalContext.request.get(None), SENDER.get()  # a handler's; a request joining the queue's
    address = address_of(request) if request is not None else sender[1] if sender else None
    if address is None:  # not a visitor's request
        return
    if size > UPLOADS.room(address):
        raise InvalidInput(f"Fetching {what} ({size / 1e6:.1f} MB) counts as an upload. "
                           f"{UPLOADS.refusal(address, size)}")
    UPLOADS.charge(address, size)


class RequestLimits:
    """Refuses an upload over the address's quota and any other body over its size, before it is read; while
    a request is handled, :data:`SENDER` names its address and the quota it draws on (a fetch by URL does)."""

    def __init__(self, app: Callable) -> None:
        self.app = app
        self.uploads = UPLOADS
        self.joining: collections.Counter[str] = collections.Counter()  # address -> requests joining the queue

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope)
        address = address_of(request)
        joins = scope["method"] == "POST" and joins_the_queue(scope["path"])
        if joins and self.joining[address] >= JOINING_AT_ONCE:
            return await refuse(send, 429, f"You have {JOINING_AT_ONCE} requests joining the queue already; send "
                                           "the next once one of them has joined.")
        token = SENDER.set((self.uploads, address))
        self.joining[address] += joins
        try:
            await self.checked(scope, receive, send, address, vouched(request))
        finally:
            SENDER.reset(token)
            self.joining[address] -= joins
            if self.joining[address] <= 0:
                del self.joining[address]

    async def checked(self, scope: Scope, receive: Receive, send: Send, address: str, ours: bool) -> None:
        """``ours``: a request this process made (the MCP server's)."""
        closed = next((reason for path, reason in CLOSED.items() if scope["path"].rstrip("/").endswith(path)), None)
        if closed:
            return await refuse(send, 403, closed)
        if scope["path"].rstrip("/").endswith(UPLOAD_ID_ROUTES) and not upload_ids_fit(scope):
            return await refuse(send, 400, f"An upload's id (upload_id) is 1 to {ID_CHARACTERS} letters, "
                                           "digits, '-' or '_'.")
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        declared = int(length) if length and length.isdigit() else None
        if scope["path"].endswith("/gradio_api/upload"):
            # The MCP server sending a tool's files again is not charged: its message counted them.
            return await (self.app(scope, receive, send) if ours else self.upload(scope, receive, send, address))
        largest = next((size for path, size in LARGER_BODIES.items() if path in scope["path"]), MAX_BODY_BYTES)
        if declared is None:
            return await refuse(send, 411, "Say the length of the request's body (Content-Length).")
        if declared > largest:
            return await refuse(send, 413, f"The request's body is {declared / 2**20:.1f} MB; this server takes "
                                           f"{largest / 2**20:g} MB at most. Upload files, or give them by URL.")
        if "/gradio_api/mcp" in scope["path"]:  # a tool's files come inside its message, as data: URLs
            if declared > self.uploads.room(address):
                return await refuse(send, 429, self.uploads.refusal(address, declared))
            self.uploads.charge(address, declared)
        return await self.app(scope, receive, send)

    async def upload(self, scope: Scope, receive: Receive, send: Send, address: str) -> None:
        if self.uploads.room(address) <= 0:
            return await refuse(send, 429, self.uploads.refusal(address))
        answer = bytearray()

        async def read_answer(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.body" and len(answer) < 2**20:
                answer.extend(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, read_answer)
        finally:
            charged = self.uploads.charge_kept(address, paths_in(bytes(answer)))
            log.debug("upload from %s: %d bytes counted", address, charged)


def joins_the_queue(path: str) -> bool:
    """Whether a POST to ``path`` asks to join the queue: the page's join, or a client's call by name."""
    path = path.rstrip("/")
    return path.endswith("/gradio_api/queue/join") or "/gradio_api/call/" in path


def upload_ids_fit(scope: Scope) -> bool:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    return all(UPLOAD_ID.fullmatch(upload_id) for upload_id in query.get("upload_id", []))


def paths_in(answer: bytes) -> list[str]:
    """The files Gradio's answer to an upload lists (a JSON list of their paths); none for a refusal."""
    try:
        paths = json.loads(answer)
    except ValueError:
        return []
    return [path for path in paths if isinstance(path, str)] if isinstance(paths, list) else []


async def refuse(send: Send, status: int, message: str) -> None:
    body = message.encode()  # plain text: the page shows it as it is ("HTTP 429: <message>")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
