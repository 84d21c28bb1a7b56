"""A tool's files through MCP: lists of them (the style images, further style clips, model files), and where
the ones sent as ``data:`` URLs are kept.

Gradio 6.31's MCP server records where a tool's file inputs are as schema paths: a list of files is recorded as
``[parameter, "items"]``, while the arguments it converts are walked by index (``[parameter, 0]``), so the
strings of a list are never turned into files and the call is refused. :func:`accept_file_lists` expands each
``items`` position to the indices the arguments hold (installed by :mod:`.endpoint`). The server writes a
``data:`` URL's file to a folder it chose at import (``/tmp/gradio``), where nothing ever deleted it: the file now
goes to this process's cache (``serving.own_gradio_cache`` points it there) and is deleted with the uploads, half
an hour on.
"""

from __future__ import annotations

import os
from typing import Any

from gradio import mcp
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


def _written(value: Any) -> list[str]:
    """The paths of the files in converted arguments."""
    if isinstance(value, dict):
        return [value["path"]] if isinstance(value.get("path"), str) else \
            [path for item in value.values() for path in _written(item)]
    return [path for item in value for path in _written(item)] if isinstance(value, list) else []


def _convert(self: GradioMCPServer, value: Any, filedata_positions: list[list[str | int]]) -> Any:
    positions = [path for position in filedata_positions for path in _expanded(value, position)]
    converted = _original(self, value, positions)
    cache = os.path.join(mcp.DEFAULT_TEMP_DIR, "")  # the process's own (``serving.own_gradio_cache``)
    self.blocks.upload_file_set.update(path for path in _written(converted) if path.startswith(cache))
    return converted


def accept_file_lists() -> None:
    """Install both (idempotent: it always wraps Gradio's own method)."""
    GradioMCPServer.convert_strings_to_filedata = _convert
