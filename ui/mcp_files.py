"""Lists of files through MCP tools (the style images, further style clips, model files).

Gradio 6.31's MCP server records where a tool's file inputs are as schema paths: a list of files is recorded as
``[parameter, "items"]``, while the arguments it converts are walked by index (``[parameter, 0]``), so the
strings of a list are never turned into files and the call is refused. :func:`accept_file_lists` expands each
``items`` position to the indices the arguments hold (installed by :mod:`.endpoint`).
"""

from __future__ import annotations

from typing import Any

from gradio.mcp import GradioMCPServer

_original = GradioMCPServer.convert_strings_to_filedata


def _expanded(value: Any, position: list, done: list | None = None) -> list[list]:
    """``position`` with every ``items`` step replaced by each index the list at that point has in ``value``."""
    done = done or []
    if not position:
        return [done]
    step, rest = position[0], position[1:]
    if step == "items" and isinstance(value, list):
        return [path for index, item in enumerate(value) for path in _expanded(item, rest, [*done, index])]
    inner = value.get(step) if isinstance(value, dict) else None
    return _expanded(inner, rest, [*done, step])


def _convert(self: GradioMCPServer, value: Any, filedata_positions: list[list[str | int]]) -> Any:
    positions = [path for position in filedata_positions for path in _expanded(value, position)]
    return _original(self, value, positions)


def accept_file_lists() -> None:
    """Install the expansion (idempotent: it always wraps Gradio's own method)."""
    GradioMCPServer.convert_strings_to_filedata = _convert
