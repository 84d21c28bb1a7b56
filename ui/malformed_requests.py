"""A request that does not fit the endpoint it names is refused in a sentence, with no traceback in the log.

Gradio 6.31 prints a traceback for every error that is not a ``gr.Error``, and visitors' requests reached several:
a call or join naming an endpoint that does not exist (answered 500) or one that runs only in the page, a
run sending fewer values than its endpoint takes, a value its component cannot read (a float as an example's
index, a number as a gallery's file, no example for an example click), event data missing where the handler
takes it. Measured with
``python app.py``: every page helper (an example click, the style previews, the choice of a style) wrote 20 to 40
lines to the log for one small request. These are the visitor's mistakes: a 400, or a ``gr.Error`` saying what
does not fit, and one line in the log (``ui.serving.user_error`` logs the endpoints' own refusals the same way).

A refusal while the check prepares a request's values (a file given by URL that is not fetched, a value its
component cannot read) was answered "400 Bad Request" with the sentence in the body, which ``gradio_client`` and
the MCP server drop: the caller read "Client error '400 Bad Request' for url '.../queue/join'" and no reason. It
is answered as the check's own refusals are (422, the sentence on the input it is about: :func:`push`).
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import Any

import gradio as gr
from gradio import blocks, route_utils
from gradio.exceptions import ComponentProcessingError, InvalidPathError
from gradio.queueing import Queue
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from .request_files import FetchRefused
from .serving import file_paths

log = logging.getLogger("nst_studio.serving")
_get_fn, _validate_inputs = route_utils.get_fn, gr.Blocks.validate_inputs
_preprocess_data, _special_args = gr.Blocks.preprocess_data, blocks.special_args
_dataset_preprocess = gr.Dataset.preprocess
_push = Queue.push
_REFUSED_INPUT: ContextVar[int | None] = ContextVar("refused_input", default=None)  # while a request joins


class Refused(gr.Error):
    """A ``gr.Error`` without a traceback whose text is its message (Gradio's quotes it where a validator's
    refusal is answered as text)."""

    def __str__(self) -> str:
        return self.message


def _refused(message: str) -> gr.Error:
    log.info("refused: %s", message)
    return Refused(message, print_exception=False)


def get_fn(blocks: gr.Blocks, api_name: str | None, body: Any) -> Any:
    try:
        fn = _get_fn(blocks, api_name, body)
    except KeyError:
        raise HTTPException(status_code=400, detail=f"No endpoint has the index {body.fn_index}.") from None
    except route_utils.FnIndexInferError:
        raise HTTPException(status_code=404, detail=f"No endpoint is called /{api_name}.") from None
    if fn.fn is None:
        raise HTTPException(status_code=400, detail="This event runs in the page; the server has nothing to run.")
    return fn


def validate_inputs(self: gr.Blocks, block_fn: Any, inputs: list[Any]) -> None:
    try:
        _validate_inputs(self, block_fn, inputs)
    except ValueError:
        raise _refused(f"This request sends {len(inputs)} values; the endpoint takes {len(block_fn.inputs)}.") from None


async def preprocess_data(self: gr.Blocks, block_fn: Any, inputs: list[Any], state: Any,
                          explicit_call: bool = False) -> Any:
    try:
        return await _preprocess_data(self, block_fn, inputs, state, explicit_call)
    except FetchRefused as refusal:  # on the input that named the URL
        _REFUSED_INPUT.set(next((index for index, value in enumerate(inputs) if refusal.url in file_paths(value)),
                                None))
        raise _refused(str(refusal)) from None
    except InvalidPathError as exc:  # its message is written for the visitor (ui.request_files)
        raise _refused(str(exc)) from None
    except (ComponentProcessingError, ValidationError):
        raise _refused("A value in this request is not one this endpoint takes.") from None


def special_args(fn: Any, inputs: list | None = None, request: Any = None, event_data: Any = None,
                 *args: Any, **kwargs: Any) -> Any:
    try:
        return _special_args(fn, inputs, request, event_data, *args, **kwargs)
    except (TypeError, KeyError, AttributeError):
        if inputs is None:  # reading a handler's signature, not a request
            raise
        raise _refused("This request's event data is not what the endpoint takes.") from None


def dataset_preprocess(self: gr.Dataset, payload: Any) -> Any:
    if payload is None:  # an example click names its example; Gradio's handler cannot unpack none
        raise _refused("This request names no example.")
    return _dataset_preprocess(self, payload)


async def push(self: Queue, body: Any, request: Any, username: str | None = None) -> tuple[bool, Any, str]:
    """Joining the queue; a refusal from the check's preparation of the values answered as a refusal of the
    check (422, on the input it is about, else the first), which every client shows with its sentence."""
    _REFUSED_INPUT.set(None)
    joined = await _push(self, body, request, username)
    success, detail, state = joined
    if state != "error" or not isinstance(detail, str) or body.fn_index is None:
        return joined  # no endpoint named: nothing to put the refusal on
    fn = self.blocks.fns.get(body.fn_index)
    if fn is None or fn.validator is None or not fn.inputs:
        return joined
    names = list(fn.input_parameter_names or []) or [f"parameter_{index}" for index in range(len(fn.inputs))]
    refused = _REFUSED_INPUT.get() or 0
    return False, [{"__type__": "validate", "is_valid": index != refused, "message": detail if index == refused
                    else "", "parameter_name": name} for index, name in enumerate(names)], "validator_error"


def refuse_malformed_requests() -> None:
    """Install them (idempotent: each wraps Gradio's own)."""
    gr.Dataset.preprocess = dataset_preprocess
    route_utils.get_fn = get_fn
    gr.Blocks.validate_inputs = validate_inputs
    gr.Blocks.preprocess_data = preprocess_data
    Queue.push = push
    blocks.special_args = special_args
