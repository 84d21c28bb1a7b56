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
(The server is stateless: a cancel notification reaches a new session, which has no call to cancel.)
"""

from __future__ import annotations

import asyncio
import uuid
from contextvars import ContextVar
from typing import Any

from gradio.history import BUCKET_HEADER as HISTORY_BUCKET
from gradio.mcp import GradioMCPServer

from .serving import CALL, LOOPBACK_TOKEN, VISITOR, VOUCHED, address_of, cancel_call

POLL_S = 0.2  # how often a call's job is looked at while it runs
_CALL: ContextVar[str] = ContextVar("mcp_call")  # the call being made in this task
_client, _prepare = GradioMCPServer._get_or_create_client, GradioMCPServer._prepare_tool_call_args
_with_progress = GradioMCPServer._execute_tool_with_progress


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


async def _result(self: GradioMCPServer, job: Any) -> list[Any]:
    try:
        while not job.done():
            await asyncio.sleep(POLL_S)
    except BaseException:  # cancelled: the visitor left
        cancel_call(_CALL.get())
        raise
    return [job.result()]


async def _result_with_progress(self: GradioMCPServer, job: Any, progress_token: str | int) -> Any:
    try:
        return await _with_progress(self, job, progress_token)
    except BaseException:
        cancel_call(_CALL.get())
        raise


def count_and_cancel_calls() -> None:
    """Install all three (idempotent: they always wrap Gradio's own methods)."""
    GradioMCPServer._get_or_create_client = _vouching_client
    GradioMCPServer._prepare_tool_call_args = _call_for_visitor
    GradioMCPServer._execute_tool_without_progress = _result
    GradioMCPServer._execute_tool_with_progress = _result_with_progress
