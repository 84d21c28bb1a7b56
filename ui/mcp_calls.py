"""An MCP tool call as a visitor's own job: counted against the visitor who makes it, stopped when they leave.

Gradio 6.31's MCP server runs a queued tool through one ``gradio_client`` of its own, connected to this server:
every MCP visitor's call arrives on that client's one session, from this host. Counted by those, all MCP visitors
shared one visitor's share of the queue, and every file the client uploads again (a tool's ``data:`` URL, which
the MCP message already counted) drew on one upload quota. Here the client's requests carry
:data:`~.serving.LOOPBACK_TOKEN`, and each call the address of the visitor who made it (and not the caller's
run-history bucket: see :func:`_call_for_visitor`).

The server also waited for a job's result in a thread that a cancel cannot interrupt, and never cancelled the job:
a visitor who left (closed the connection or the session) left it running to its end. Here the wait can be
cancelled, and a cancelled call stops its job (:func:`~.serving.cancel_call`), as a cancelled page request stops.

A client that cancels a call without leaving sends ``notifications/cancelled`` naming the call's JSON-RPC id. The
server is stateless: the notification arrives in a request of its own, to a new session that has no call of that
id, and the job ran on to its end. Here the server answers the notification itself (:func:`_stateless_request`):
it stops the running calls that the same visitor made with that id (:data:`_IN_FLIGHT`, keyed by the visitor's
address and client, since ids are only unique within one client's session).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from contextvars import ContextVar
from typing import Any

from gradio.history import BUCKET_HEADER as HISTORY_BUCKET
from gradio.mcp import GradioMCPServer
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .serving import CALL, LOOPBACK_TOKEN, VISITOR, VOUCHED, address_of, cancel_call

log = logging.getLogger(__name__)

POLL_S = 0.2  # how often a call's job is looked at while it runs
_CALL: ContextVar[str] = ContextVar("mcp_call")  # the call being made in this task
CallKey = tuple[str, str, str]  # (visitor's address, client's user agent, JSON-RPC id as JSON)
_IN_FLIGHT: dict[CallKey, set[str]] = {}  # each call waiting for its job, by who made it -> the calls (ids of _CALL)
_client, _prepare = GradioMCPServer._get_or_create_client, GradioMCPServer._prepare_tool_call_args
_with_progress = GradioMCPServer._execute_tool_with_progress
_stateless = StreamableHTTPSessionManager._handle_stateless_request


def _vouching_client(self: GradioMCPServer) -> Any:
    client = _client(self)
    client.headers[VOUCHED] = LOOPBACK_TOKEN  # the client's own headers win over a call's (a visitor's copy)
    return client


def _call_for_visitor(self: GradioMCPServer, name: str, arguments: dict[str, Any]) -> tuple:
    endpoint, values, headers, block_fn = _prepare(self, name, arguments)
    # A loopback request naming "localhost" passes for the machine's own browser, which Gradio's run history lets
    # write with the HF token saved on the machine: a caller's bucket header, copied, chose where it wrote.
    headers.pop(HISTORY_BUCKET, None)
    headers[VISITOR] = address_of(self.mcp_server.request_context.request)
    headers[CALL] = uuid.uuid4().hex
    _CALL.set(headers[CALL])
    return endpoint, values, headers, block_fn


def _call_key(request: Any, request_id: object) -> CallKey:
    return address_of(request), request.headers.get("user-agent", ""), json.dumps(request_id)


async def _followed(self: GradioMCPServer, waiting: Any) -> Any:
    """``waiting`` (the wait for a call's job), with the call in flight meanwhile: a cancel notification naming it
    stops the job, and so does the call's own cancellation (the visitor left)."""
    call, context = _CALL.get(), self.mcp_server.request_context
    key = _call_key(context.request, context.request_id)
    _IN_FLIGHT.setdefault(key, set()).add(call)
    try:
        return await waiting
    except BaseException:
        cancel_call(call)
        raise
    finally:
        calls = _IN_FLIGHT.get(key, set())
        calls.discard(call)
        if not calls:
            _IN_FLIGHT.pop(key, None)


async def _job_done(job: Any) -> list[Any]:
    """The job's outputs, one item each (the client gives an endpoint's several outputs as a tuple: wrapped
    whole, as Gradio's server wrapped it, they reached the visitor as one text, the repr of the tuple, with no
    picture in it)."""
    while not job.done():
        await asyncio.sleep(POLL_S)
    result = job.result()
    return list(result) if isinstance(result, tuple) else [result]


async def _result(self: GradioMCPServer, job: Any) -> list[Any]:
    return await _followed(self, _job_done(job))


async def _result_with_progress(self: GradioMCPServer, job: Any, progress_token: str | int) -> Any:
    return await _followed(self, _with_progress(self, job, progress_token))


def cancel_notified(request: Request, message: object) -> bool:
    """Stop the calls ``message`` cancels, if it is a ``notifications/cancelled`` (True), made by the visitor
    behind ``request`` with the id it names."""
    if not isinstance(message, dict) or message.get("method") != "notifications/cancelled":
        return False
    params = message.get("params")
    request_id = params.get("requestId") if isinstance(params, dict) else None
    if isinstance(request_id, (int, str)) and not isinstance(request_id, bool):
        for call in list(_IN_FLIGHT.get(_call_key(request, request_id), ())):
            cancel_call(call)
            log.info("an MCP call's job stopped: its client cancelled the call")
    return True


async def _stateless_request(self: StreamableHTTPSessionManager, scope: Any, receive: Any, send: Any) -> None:
    """A cancel notification answered here (202, as the transport answers any notification), and a message nested
    past the JSON parser's depth refused (400: the transport's parser raised and logged a traceback); any other
    request passed on to the transport as it came."""
    if scope.get("method") != "POST":
        return await _stateless(self, scope, receive, send)
    more, messages = True, []
    while more:  # within the body size RequestLimits allows an MCP message
        message = await receive()
        messages.append(message)
        more = message.get("type") == "http.request" and message.get("more_body", False)
    try:
        parsed = json.loads(b"".join(message.get("body", b"") for message in messages))
    except RecursionError:
        return await JSONResponse({"jsonrpc": "2.0", "id": None, "error": {
            "code": -32700, "message": "Parse error: the message is nested too deeply."}}, status_code=400)(
            scope, receive, send)
    except ValueError:
        parsed = None  # the transport answers it
    if cancel_notified(Request(scope), parsed):
        return await Response(status_code=202)(scope, receive, send)

    async def replayed() -> Any:
        return messages.pop(0) if messages else await receive()

    await _stateless(self, scope, replayed, send)


def count_and_cancel_calls() -> None:
    """Install them all (idempotent: they always wrap the packages' own methods)."""
    GradioMCPServer._get_or_create_client = _vouching_client
    GradioMCPServer._prepare_tool_call_args = _call_for_visitor
    GradioMCPServer._execute_tool_without_progress = _result
    GradioMCPServer._execute_tool_with_progress = _result_with_progress
    StreamableHTTPSessionManager._handle_stateless_request = _stateless_request
