"""What an MCP tool call answers: each output an item a client can show.

Gradio 6.31's MCP server turns an output into a picture only when it is one file; any other value becomes the
text of its Python repr. A visitor's assistant got an audio run's spectrograms as one text of file records (the
server's cache folder in each), the scores as a dict's repr, and the loss curves as a dict holding a base64 PNG
it could not see. Here a gallery's items go each as their file (a picture) with their caption, a plot as the
picture it is, and a table as Markdown; every other output as Gradio answers it. A refusal the MCP library
words itself (arguments that do not fit the tool's schema) quotes the values it refuses cut short.
"""

from __future__ import annotations

import re
from typing import Any

from gradio.mcp import GradioMCPServer
from mcp import types
from mcp.server.lowlevel.server import Server

from nst_core.errors import ECHO_CHARACTERS

PLOT_PREFIX = "data:image/png;base64,"
LONGEST_REFUSAL = 500  # characters of a refusal the MCP library words itself, values quoted in it cut first
_postprocess = GradioMCPServer.postprocess_output_data
_error_result = Server._make_error_result


def _plot_picture(output: object) -> types.ImageContent | None:
    """A Matplotlib plot's value ({"type": "matplotlib", "plot": a PNG data URL}) as the picture it is."""
    if isinstance(output, dict) and output.get("type") == "matplotlib" and \
            str(output.get("plot", "")).startswith(PLOT_PREFIX):
        return types.ImageContent(type="image", data=output["plot"].removeprefix(PLOT_PREFIX), mimeType="image/png")
    return None


def _gallery_items(output: object) -> list[tuple[Any, str | None]] | None:
    """A gallery's value ([{"image" or "video": a file, "caption": text}]) as (file, caption) pairs."""
    if not isinstance(output, list) or not output or not all(
            isinstance(item, dict) and ("image" in item or "video" in item) for item in output):
        return None
    return [(item.get("image") or item.get("video"), item.get("caption")) for item in output]


def _table_text(output: object) -> str | None:
    """A dataframe's value ({"headers": [...], "data": [[...]]}) as a Markdown table."""
    if not isinstance(output, dict) or not isinstance(output.get("headers"), list) or \
            not isinstance(output.get("data"), list):
        return None
    rows = [output["headers"], *output["data"]]
    lines = ["| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join([lines[0], "|" + " --- |" * len(output["headers"]), *lines[1:]])


def _answer(self: GradioMCPServer, data: Any, root_url: str) -> list[types.TextContent | types.ImageContent]:
    contents: list[types.TextContent | types.ImageContent] = []
    for output in data:
        if (picture := _plot_picture(output)) is not None:
            contents.append(picture)
        elif (items := _gallery_items(output)) is not None:
            for file, caption in items:
                if caption:
                    contents.append(types.TextContent(type="text", text=str(caption)))
                contents.extend(_postprocess(self, [file], root_url))
        elif (table := _table_text(output)) is not None:
            contents.append(types.TextContent(type="text", text=table))
        else:
            contents.extend(_postprocess(self, [output], root_url))
    return contents


def short_refusal(message: str) -> str:
    """``message`` with each long quoted value cut to its first :data:`ECHO_CHARACTERS` characters, then the whole
    to :data:`LONGEST_REFUSAL`: the MCP library refuses a tool call's arguments by their schema quoting the value
    whole (a 400 kB data URL sent where a list goes came back as a 400 kB answer)."""
    message = re.sub(rf"'([^']{{{ECHO_CHARACTERS + 1},}})'", lambda m: f"'{m[1][:ECHO_CHARACTERS]}...'", message)
    return message if len(message) <= LONGEST_REFUSAL else message[:LONGEST_REFUSAL] + "..."


def _short_error_result(self: Server, error_message: str) -> types.ServerResult:
    return _error_result(self, short_refusal(error_message))


def answer_with_pictures() -> None:
    """Install it, and short refusals (idempotent: each wraps the library's own method)."""
    GradioMCPServer.postprocess_output_data = _answer
    Server._make_error_result = _short_error_result
