"""One way to offer a job on the page and in the client API.

:func:`offer` wires a button to a handler that takes the job's values by name (``inputs_kwargs``): the same
names in the handler, its validator, the client API and the MCP tool. Before a request joins the queue, its
validator refuses it when the visitor already holds their share of jobs or when the job's own check fails
(a value out of range, a file that does not decode, a cost over the budget); on ZeroGPU the GPU lease is that
check's own time estimate; the engine's typed errors reach the visitor as one readable message.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

import gradio as gr

from nst_core import NSTError
from nst_core.image.io import ImageSource, image_size

from . import (
    editor_blobs,
    malformed_requests,
    mcp_answers,
    mcp_calls,
    mcp_files,
    request_files,
    request_limits,
    state,
    stream_ends,
    upload_progress,
)
from .serving import SERVER_FAULT, as_request, jobs_of, plain_words, refuse_large_picture, rejection

log = logging.getLogger("nst_studio")
mcp_files.accept_file_lists()  # lists of files reach MCP tools as files
mcp_calls.count_and_cancel_calls()  # an MCP tool call: counted against its visitor, cancelled with its call
mcp_answers.answer_with_pictures()  # an MCP tool's galleries, plots, tables as pictures and text; short refusals
editor_blobs.bound_editor_blobs()  # what the region editor may leave in memory
upload_progress.bound_upload_progress()  # what an upload's progress may leave in memory
stream_ends.end_streams_of_leaving_visitors()  # a live stream's slot is free once its visitor has gone
request_files.guard_request_files()  # no server path in a refusal; a URL's file fetched within the upload limit
request_limits.charge_fetches_from_visitors_repos()  # a model fetched from a repo a visitor named: an upload
malformed_requests.refuse_malformed_requests()  # a request that does not fit its endpoint: a sentence, no traceback
Check = Callable[[Mapping[str, Any]], Any]  # an endpoint's values -> its prepared job (with a ``cost``), or raises


def validator_for(check: Check, concurrency_id: str) -> Callable:
    """A validator refusing a request before it is queued: the visitor's share of jobs, then ``check``."""
    def validate(request: gr.Request, **values: Any) -> list[dict]:  # Gradio fills in a leading request only
        rejected = rejection(values.values())
        message = rejected[1] if rejected else None
        limit = state.BUDGET.limit("jobs_per_client")
        if message:
            pass
        elif limit is not None and state.BLOCKS and \
                jobs_of(state.BLOCKS[-1], request, concurrency_id) >= limit:
            message = (f"You already have {int(limit)} jobs waiting or running here, the most one visitor may "
                       "have at once; wait for one to finish (or cancel it).")
        else:
            try:
                check(values)
            except NSTError as exc:
                plain = plain_words(exc)
                message = str(exc) if plain is None else f"{plain} Details: {exc}"
            except Exception:  # noqa: BLE001 - a fault of ours: refused, as its cost is not known
                log.exception("checking a request failed")
                message = SERVER_FAULT
        if not message:
            return [gr.validate(True, "") for _ in values]
        log.info("refused before queueing: %s", message)
        names = list(values)
        named = rejected[0] if rejected else concerned(message, names)
        return [gr.validate(i != named, message if i == named else "") for i in range(len(names))]
    return validate


def concerned(message: str, names: list[str]) -> int:
    """Which input a refusal is shown on (the page marks that one): the one whose name the message says, as it
    is, with spaces for underscores, or as a run of two or more of its words, each also without an ending "s"
    ("style_images": "A style image is 1x1 pixels"; "model_repo_id": "Give a Hub repo id"). The phrase said
    first wins (a message names its subject before any alternative), then the longest; where none is said,
    the first input."""
    def phrases(name: str) -> set[str]:
        words = name.split("_")
        shortest = min(2, len(words))
        runs = {" ".join(words[i:j]) for i in range(len(words)) for j in range(i + shortest, len(words) + 1)}
        return {name} | runs | {run.removesuffix("s") for run in runs}

    found = [(match.start(), -len(phrase), index) for index, name in enumerate(names) for phrase in phrases(name)
             if (match := re.search(rf"\b{re.escape(phrase)}\b", message, re.IGNORECASE))]
    return min(found)[2] if found else 0


def on_gpu(duration: Callable[..., float]) -> Callable:
    """On ZeroGPU, lease a GPU for each call for ``duration(**values)`` seconds (the call's own estimate, clamped
    to the platform's limit); elsewhere the handler as it is."""
    if state.spaces is None:
        return lambda handler: handler

    def seconds(*args: Any, **values: Any) -> int:
        try:
            estimate = duration(**values)
        except (NSTError, gr.Error, ValueError, TypeError, OSError):
            estimate = 30.0  # the handler itself will refuse the request, quickly
        return int(min(max(estimate * 1.3 + 10, 15), state.ZERO_GPU_MAX_S))

    return state.spaces.GPU(duration=seconds)


def offer(button: gr.Button, handler: Callable, *, check: Check, inputs: Mapping[str, gr.components.Component],
          outputs: list, api_name: str, description: str, concurrency_id: str = state.HEAVY,
          concurrency_limit: int = 1, gpu: bool = True, **event: Any) -> None:
    """``button`` runs ``handler(**values)`` (named as ``inputs``); refused early by ``check``, leased a GPU by
    its estimate; ``description`` is what the client API and the MCP tool say the endpoint does."""
    function = as_request(handler)
    if gpu:
        function = on_gpu(lambda **values: check(values).cost.seconds)(function)
    button.click(function, inputs_kwargs=dict(inputs), outputs=outputs, api_name=api_name,
                 api_description=description, concurrency_limit=concurrency_limit, concurrency_id=concurrency_id,
                 validator=validator_for(check, concurrency_id), **event)


def checked_picture(path: ImageSource, label: str) -> tuple[int, int]:
    """An upload's size from its header, refused before decoding when it claims more pixels than allowed."""
    width, height = image_size(path, label=label)
    refuse_large_picture(width, height, label)
    return width, height


def notes(notices: list[str]) -> str:
    """The notices under a status line, one paragraph each."""
    return "".join(f"\n\nNote: {n}" for n in notices)
