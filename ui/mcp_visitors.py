"""MCP tool calls counted against the visitor who makes them.

Gradio 6.31's MCP server runs a queued tool through one ``gradio_client`` of its own, connected to this server:
every MCP visitor's call arrives on that client's one session, from this host. Counted by those, all MCP visitors
shared one visitor's share of the queue, and every file the client uploads again (a tool's ``data:`` URL, which
the MCP message already counted) drew on one upload quota. :func:`count_callers` makes the client's requests say
so: each carries :data:`~.serving.LOOPBACK_TOKEN`, and each call the address of the visitor who made it
(installed by :mod:`.endpoint`).
"""

from __future__ import annotations

from typing import Any

from gradio.mcp import GradioMCPServer

from .serving import LOOPBACK_TOKEN, VISITOR, VOUCHED, address_of

_client, _prepare = GradioMCPServer._get_or_create_client, GradioMCPServer._prepare_tool_call_args


def _vouching_client(self: GradioMCPServer) -> Any:
    client = _client(self)
    client.headers[VOUCHED] = LOOPBACK_TOKEN  # the client's own headers win over a call's (a visitor's copy)
    return client


def _call_for_visitor(self: GradioMCPServer, name: str, arguments: dict[str, Any]) -> tuple:
    endpoint, values, headers, block_fn = _prepare(self, name, arguments)
    headers[VISITOR] = address_of(self.mcp_server.request_context.request)
    return endpoint, values, headers, block_fn


def count_callers() -> None:
    """Install both (idempotent: they always wrap Gradio's own methods)."""
    GradioMCPServer._get_or_create_client = _vouching_client
    GradioMCPServer._prepare_tool_call_args = _call_for_visitor
