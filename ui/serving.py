"""Serving the public: jobs that can be cancelled, a fair share per visitor, results that do not pile up.

* :func:`streamed` runs an engine job on a worker thread and streams its updates to Gradio. While the job
  computes, the handler still hands control back twice a second, so Gradio can close it when the visitor
  cancels or leaves; closing cancels the job's :class:`~nst_core.control.JobControl`, and the engine stops
  within one network stage.
* :func:`jobs_of` counts a visitor's queued and running jobs (by session and by address, :func:`address_of`)
  for the validators that refuse a request before it joins the queue. The MCP server's own calls to the app
  carry :data:`LOOPBACK_TOKEN` and the address of the visitor they are made for (:mod:`.mcp_calls`).
* :class:`ResultStore` is the one folder results and previews go to, swept by age and count, removed at exit.
* :func:`as_request` wraps every handler as the server runs it: a rejected upload is refused, the engine's typed
  errors become one readable ``gr.Error`` and one log line, and the handler counts as a request in
  :data:`ACTIVITY` while it runs (the start-up's calibration and graph builds run only while none does).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import hmac
import html
import inspect
import ipaddress
import logging
import os
import queue
import secrets
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import PIL.Image

from nst_core import InvalidInput, NSTError, WeightsUnavailable
from nst_core.budget import Budget, OverBudget
from nst_core.control import Cancelled, JobControl, release_memory
from nst_core.errors import shown
from nst_core.image.io import image_size, too_large_to_open

log = logging.getLogger("nst_studio.serving")
HEARTBEAT_S = 0.5  # how long a handler may stay inside the job before it hands control back to Gradio
_DONE = object()
_RUNNING: dict[threading.Thread, JobControl] = {}  # job threads, for a clean exit


@atexit.register
def stop_running_jobs(timeout: float = 5.0) -> None:
    """Cancel every job still running and wait for it: a thread killed inside torch at exit aborts the process."""
    for thread, control in list(_RUNNING.items()):
        control.cancel()
        thread.join(timeout)


class RequestActivity:
    """The requests being handled: how many started so far and how many run now, read as one pair (an
    :data:`nst_core.control.Activity`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started = self.running = 0

    def __call__(self) -> tuple[int, int]:
        with self._lock:
            return self.started, self.running

    @contextlib.contextmanager
    def request(self) -> Iterator[None]:
        """Count the block as one request running."""
        with self._lock:
            self.started += 1
            self.running += 1
        try:
            yield
        finally:
            with self._lock:
                self.running -= 1


ACTIVITY = RequestActivity()


class Rejected:
    """An input its component could not preprocess (a value out of its range, a choice not offered, a file that
    does not decode), carried to the validator and the handler, which refuse the request with its message.

    Raising in ``preprocess`` instead would, at queue-join time, give clients a bare "400 Bad Request"."""

    def __init__(self, message: str) -> None:
        self.message = message


# The budget in force, for the pictures Gradio decodes itself (set by ``ui.state``, which holds it).
budget: Callable[[], Budget] = Budget


def file_paths(payload: Any) -> Iterator[str]:
    """The file paths in a component's payload (a file, or an editor's background, layers and composite)."""
    if hasattr(payload, "model_dump"):
        payload = payload.model_dump()
    if isinstance(payload, dict):
        if isinstance(payload.get("path"), str):
            yield payload["path"]
        for value in payload.values():
            if isinstance(value, (dict, list)):
                yield from file_paths(value)
    elif isinstance(payload, list):
        for item in payload:
            yield from file_paths(item)


def too_many_pixels(source: str | bytes, label: str) -> str | None:
    """The refusal of a picture (a path, or its bytes) whose header claims more megapixels than the budget
    decodes; None for any other (one that is not a picture is left to its decoding to refuse)."""
    try:
        width, height = image_size(source, label=label)
    except InvalidInput as exc:
        return str(exc) if isinstance(exc.__cause__, PIL.Image.DecompressionBombError) else None
    try:
        refuse_large_picture(width, height, label)
    except OverBudget as exc:
        return str(exc)
    return None


def refuse_large_picture(width: int, height: int, label: str) -> None:
    """:class:`OverBudget` for a picture of this size, read from its header, over the pixels the budget decodes."""
    budget().refuse_over("decode_megapixels", round(width * height / 1e6, 1), f"The {label} ({width}x{height})",
                         " MP", "upload a smaller picture")


def lenient(base: type) -> type:
    """``base`` (a Gradio component class) whose preprocessing failures become :class:`Rejected` values; numbers
    outside a slider's range pass through unchanged, so that the request's own checks name the budget. A picture
    that Gradio decodes itself (an image input of type numpy or pil, or with a colour mode) is refused from its
    header when it claims more pixels than the budget decodes: Gradio decoded a 400 MP PNG of 430 kB sent as a
    webcam frame into 12 GB, and one sent as the region into 7 GB."""
    numeric = issubclass(base, (gr.Slider, gr.Number))
    decodes = issubclass(base, (gr.Image, gr.ImageEditor))
    textual = issubclass(base, gr.Textbox)

    class Lenient(base):
        is_template = True  # the frontend renders it as ``base``
        api_extra: dict[str, Any] = {}  # merged into the client API's schema: a description, a number type
        api_example: Any = None        # the API page's example value, where Gradio's own means nothing here

        def api_info(self) -> dict[str, Any]:
            info = {**inline_refs(super().api_info()), **self.api_extra}
            if "description" in self.api_extra:  # the API page reads this key, MCP schemas the other
                info["additional_description"] = self.api_extra["description"]
            return info

        def example_payload(self) -> Any:
            return super().example_payload() if self.api_example is None else self.api_example

        def example_value(self) -> Any:
            return super().example_value() if self.api_example is None else self.api_example

        def preprocess(self, payload: Any) -> Any:
            if textual and payload is not None and not isinstance(payload, str):  # Gradio would take its repr,
                label = str(self.label or "text")  # a file's server folder and all
                return Rejected(f"{label} must be text (got {shown(payload)}).")
            # Gradio decodes a picture unless it passes the file on as sent (a path, no colour mode to convert to).
            if decodes and not (self.type == "filepath" and getattr(self, "image_mode", None) is None):
                label = str(self.label or "picture").lower()
                refused = next(filter(None, (too_many_pixels(path, label) for path in file_paths(payload))), None)
                if refused:
                    return Rejected(refused)
            try:
                return super().preprocess(payload)
            except Exception as exc:  # noqa: BLE001 - whatever a malformed input breaks, one readable message
                if numeric:
                    return payload
                label = str(self.label or "input")
                if isinstance(exc, gr.Error):
                    if getattr(self, "choices", None):  # a choice component's only refusal: a value not offered
                        number = numeric_choice(payload, [value for _, value in self.choices])
                        if number is not None:
                            return super().preprocess(number)
                        offered = ", ".join(str(value) for _, value in self.choices)
                        return Rejected(f"{label}: {shown(payload)} is not one of the choices ({offered}).")
                    return Rejected(f"{label}: {exc.message}")
                if isinstance(exc, PIL.Image.DecompressionBombError):
                    return Rejected(str(too_large_to_open(label.lower())))
                return Rejected(f"The {label.lower()} is not {UNREADABLE.get(base, 'a file that can be read')}.")

    Lenient.__name__ = Lenient.__qualname__ = f"Lenient{base.__name__}"
    return Lenient


def numeric_choice(payload: Any, choices: list[Any]) -> float | None:
    """The number a text names where the choices are numbers: ``gradio_client`` describes such a choice as a
    ``Literal`` of texts ("Literal['1.4142135623730951', '2.0']"), so a client may well send one."""
    if not isinstance(payload, str) or not all(isinstance(c, (int, float)) for c in choices):
        return None
    try:
        number = float(payload)
    except ValueError:
        return None
    return next((choice for choice in choices if choice == number), None)


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with every ``#/$defs/...`` reference replaced by its definition. Gradio nests a list of files'
    ``$defs`` inside the parameter, where an MCP client's validator cannot resolve them from the root."""
    definitions = schema.get("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            reference = node.get("$ref", "")
            if reference.startswith("#/$defs/") and reference.split("/")[-1] in definitions:
                return resolve({**definitions[reference.split("/")[-1]],
                                **{k: v for k, v in node.items() if k != "$ref"}})
            return {key: resolve(value) for key, value in node.items() if key != "$defs"}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    return resolve(schema) if definitions else schema


UNREADABLE = {gr.Image: "an image that can be read (PNG, JPEG, WebP, ...)",
              gr.ImageEditor: "an image that can be read (PNG, JPEG, WebP, ...)",
              gr.Audio: "audio that can be read (wav, flac, ogg, mp3)",
              gr.Video: "a video that can be read (mp4, webm, mov)"}


def rejection(values: Iterable[Any]) -> tuple[int, str] | None:
    """The position among ``values`` (lists looked into) and the message of the first :class:`Rejected`."""
    for position, value in enumerate(values):
        inner = value if isinstance(value, (list, tuple)) else [value]
        for item in inner:
            if isinstance(item, Rejected):
                return position, item.message
    return None


def user_error(exc: Exception) -> gr.Error:
    """A refusal in plain words first, the technical details folded under them; no traceback in the server log
    (one line there) and none on the page."""
    log.info("refused: %s", exc)
    plain = plain_words(exc)
    if plain is not None:
        return gr.Error(f"{plain}<details><summary>Details</summary>{html.escape(str(exc), quote=False)}</details>",
                        title="Network not available", print_exception=False, duration=None)
    return gr.Error(html.escape(str(exc), quote=False), title="This cannot run as it is", print_exception=False)


def plain_words(exc: Exception) -> str | None:
    """What a visitor reads first where a refusal's own message is for whoever runs the server (missing weights:
    where they come from, which cache, which command fetches them); None where the message is plain already."""
    if not isinstance(exc, WeightsUnavailable):
        return None
    offline = "HF_HUB_OFFLINE" in exc.reason or "cannot be reached" in exc.reason
    return ("This network is not on this server" + (", and it cannot be downloaded now (no connection to the "
            "Hugging Face Hub)" if offline else " and could not be fetched") + ". Choose another one, or see "
            "Models for how to get it.")


SERVER_FAULT = ("Something went wrong on the server while handling this request; it was logged. Try again, or "
                "with other settings.")


def server_fault() -> gr.Error:
    """A fault of ours (an exception nothing expected), logged with its traceback for whoever runs the server;
    the visitor reads a plain sentence, not Gradio's advice to its operator about ``show_error``."""
    log.exception("a request failed")
    return gr.Error(SERVER_FAULT, title="Server error", print_exception=False)


def as_request(handler: Callable) -> Callable:
    """``handler`` (a function or a generator) as a request: refused when an input was rejected, counted in
    :data:`ACTIVITY` while it runs, :class:`NSTError` turned into :func:`user_error` and any other failure
    (but a :class:`gradio.Error`, already for the visitor) into :func:`server_fault`."""
    def refuse_rejected(args: tuple, kwargs: dict) -> None:
        rejected = rejection([*args, *kwargs.values()])
        if rejected:
            raise user_error(InvalidInput(rejected[1]))

    if inspect.isgeneratorfunction(handler):
        @functools.wraps(handler)
        def generator(*args: Any, **kwargs: Any) -> Iterator:
            refuse_rejected(args, kwargs)
            with ACTIVITY.request():
                try:
                    yield from handler(*args, **kwargs)
                except NSTError as exc:
                    raise user_error(exc) from None
                except gr.Error:
                    raise
                except Exception:  # noqa: BLE001 - a fault of ours, reported as one
                    raise server_fault() from None
        return generator

    @functools.wraps(handler)
    def function(*args: Any, **kwargs: Any) -> Any:
        refuse_rejected(args, kwargs)
        with ACTIVITY.request():
            try:
                return handler(*args, **kwargs)
            except NSTError as exc:
                raise user_error(exc) from None
            except gr.Error:
                raise
            except Exception:  # noqa: BLE001 - a fault of ours, reported as one
                raise server_fault() from None
    return function


def streamed(work: Callable[[JobControl], Iterator[Any]], control: JobControl, outputs: int) -> Iterator[Any]:
    """Yield what ``work(control)`` yields, computed on a worker thread; between its updates, every
    :data:`HEARTBEAT_S`, yield an update that changes nothing, so that Gradio can close this generator.
    Closing it (cancel, disconnect) cancels ``control``; errors from the job are raised here."""
    with _as_call(control) as wanted:
        if wanted:
            yield from _streamed(work, control, outputs)


def _streamed(work: Callable[[JobControl], Iterator[Any]], control: JobControl, outputs: int) -> Iterator[Any]:
    updates: queue.Queue = queue.Queue()

    def run() -> None:
        try:
            for update in work(control):
                updates.put(("update", update))
        except BaseException as exc:  # noqa: BLE001 - handed to the handler's thread, which raises it
            updates.put(("error", exc))
        finally:
            _RUNNING.pop(threading.current_thread(), None)
            updates.put(("done", _DONE))

    worker = threading.Thread(target=run, name="nst-job", daemon=True)
    _RUNNING[worker] = control
    worker.start()
    unchanged = tuple(gr.skip() for _ in range(outputs)) if outputs > 1 else gr.skip()
    try:
        while True:
            try:
                kind, value = updates.get(timeout=HEARTBEAT_S)
            except queue.Empty:
                yield unchanged
                continue
            if kind == "done":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        if worker.is_alive():
            control.cancel()
            worker.join(timeout=5.0)
            log.info("job cancelled after %.1f s", time.monotonic() - control.started)
        release_memory()


def ignore_cancelled(work: Callable[[JobControl], Iterator[Any]]) -> Callable[[JobControl], Iterator[Any]]:
    """A job that ends quietly when cancelled (nobody is listening any more)."""
    def run(control: JobControl) -> Iterator[Any]:
        try:
            yield from work(control)
        except Cancelled:
            return
    return run


def visitor_address(peer: str | None, forwarded_for: str | None) -> str:
    """The address a visitor is counted by: the connection's own, except on a Hugging Face Space, where every
    request arrives from the Hub's proxies on private addresses: there, the nearest public address in
    X-Forwarded-For (read from the right: the entries on its left are the visitor's own to write). An IPv6
    address counts by its /64 network: one visitor's network hands out 2^64 of them, each a fresh share, quota and
    place to join from."""
    if peer and forwarded_for and os.environ.get("SPACE_ID") and _private(peer):
        for entry in reversed(forwarded_for.split(",")):
            if not _private(entry.strip()):
                return _counted(entry.strip())
    return _counted(peer or "")


def _counted(address: str) -> str:
    """``address`` as it is counted: an IPv6 address by its /64 network, an IPv4-mapped one as the IPv4."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 4:
        return address
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.ip_network(f"{ip}/64", strict=False))


def _private(address: str) -> bool:
    """A private, loopback or link-local address, or no address at all."""
    try:
        return not ipaddress.ip_address(address).is_global
    except ValueError:
        return True


# Gradio's MCP server makes every tool call through one client of its own, on one session, from this host: its
# requests carry this process's secret (``VOUCHED``), the address of the visitor who called the tool and the call.
LOOPBACK_TOKEN = secrets.token_urlsafe(32)
VOUCHED, VISITOR, CALL = "x-nst-loopback", "x-nst-visitor", "x-nst-call"
_CALLS: dict[str, JobControl] = {}  # the running job of each MCP tool call
_LEFT: dict[str, float] = {}  # calls cancelled before their job started -> when
_calls_lock = threading.Lock()


def vouched(request: Any) -> bool:
    """Whether ``request`` (Starlette's or Gradio's) is one this process made for a visitor (an MCP tool call)."""
    said = (getattr(request, "headers", None) or {}).get(VOUCHED, "")
    return hmac.compare_digest(said.encode(errors="replace"), LOOPBACK_TOKEN.encode())  # any text a visitor sends


def address_of(request: Any) -> str:
    """The address a request counts against: :func:`visitor_address`, or where this process made the request for
    a visitor, that visitor's."""
    headers = getattr(request, "headers", None) or {}
    if vouched(request) and headers.get(VISITOR):
        return headers[VISITOR]
    return visitor_address(getattr(getattr(request, "client", None), "host", None), headers.get("x-forwarded-for"))


def cancel_call(call: str) -> None:
    """Stop the job of the MCP tool call ``call`` (its visitor left), or keep it from starting.

    Not through Gradio's cancel, which stops every running job of the session: all MCP visitors share one."""
    with _calls_lock:
        if call in _CALLS:
            _CALLS[call].cancel()
            return
        now = time.monotonic()
        for old in [old for old, when in _LEFT.items() if now - when > 3600]:
            del _LEFT[old]
        _LEFT[call] = now


@contextlib.contextmanager
def _as_call(control: JobControl) -> Iterator[bool]:
    """While a job runs: registered under the MCP tool call that asked for it, if one did; yields False when that
    call was cancelled before the job started."""
    from gradio.context import LocalContext

    request = LocalContext.request.get(None)
    call = request.headers.get(CALL) if request is not None and vouched(request) else None
    with _calls_lock:
        left = call is not None and _LEFT.pop(call, None) is not None
        if call is not None and not left:
            _CALLS[call] = control
    if left:
        yield False
        return
    try:
        yield True
    finally:
        with _calls_lock:
            _CALLS.pop(call, None)


def jobs_of(blocks: gr.Blocks, request: gr.Request | None, concurrency_id: str) -> int:
    """How many jobs of ``concurrency_id`` the visitor behind ``request`` has queued or running: those of its
    session, or of its address, whichever is more (one address opening many sessions is one visitor). The MCP
    server's session is every MCP visitor's: its calls count by address alone."""
    if request is None:
        return 0
    queue_ = getattr(blocks, "_queue", None)
    session, host = None if vouched(request) else request.session_hash, address_of(request)
    events = list(getattr(queue_.event_queue_per_concurrency_id.get(concurrency_id), "queue", [])) if queue_ else []
    for job in getattr(queue_, "active_jobs", None) or []:
        events += [event for event in job or [] if event.concurrency_id == concurrency_id]
    by_session = sum(1 for event in events if session and event.session_hash == session)
    by_host = sum(1 for event in events if host and event.request is not None and address_of(event.request) == host)
    return max(by_session, by_host)


class ResultStore:
    """The folder every result and preview is written to: files older than ``max_age_s`` or beyond the
    newest ``max_files`` are deleted whenever a new one is named; the folder goes when the process exits."""

    # Gradio copies each output into its own cache as it is sent, so the store needs only the newest few.
    def __init__(self, parent: Path | None = None, *, max_age_s: float = 1800.0, max_files: int = 100) -> None:
        # A new folder of its own inside ``parent``, the folder a deployment names (``NST_RESULTS_DIR``) or the temp
        # directory: the sweep and the removal at exit touch nothing else there (they emptied the named folder).
        parent = parent or os.environ.get("NST_RESULTS_DIR") or None
        if parent:
            Path(parent).mkdir(parents=True, exist_ok=True)
        # Gradio may send files from it (``allowed_paths``, as it must when it lies outside the temp directory):
        # a name no one can guess keeps it to the copies in Gradio's cache that visitors are sent.
        self.root = Path(tempfile.mkdtemp(prefix=f"nst-results-{secrets.token_hex(16)}-", dir=parent)).resolve()
        self.max_age_s, self.max_files = max_age_s, max_files
        self._lock = threading.Lock()
        atexit.register(self.close)

    def path(self, stem: str, suffix: str) -> Path:
        """A new, unique file name in the store (the file is the caller's to write)."""
        self.sweep()
        return self.root / f"{stem}-{uuid.uuid4().hex[:10]}{suffix}"

    def sweep(self) -> None:
        with self._lock:
            entries = sorted(self.root.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True) \
                if self.root.exists() else []
            now = time.time()
            for index, entry in enumerate(entries):
                if index >= self.max_files or now - entry.stat().st_mtime > self.max_age_s:
                    shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)

    def count(self) -> int:
        return sum(1 for _ in self.root.rglob("*") if _.is_file()) if self.root.exists() else 0

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def own_gradio_cache() -> Path:
    """Gradio's cache of uploads and outputs in a folder of this process's own, removed at exit; a
    ``GRADIO_TEMP_DIR`` set by whoever runs the app is left as it is. Call before building the Blocks."""
    from gradio import mcp, route_utils, routes, screen_recording_utils

    if not os.environ.get("GRADIO_TEMP_DIR"):
        folder = tempfile.mkdtemp(prefix="nst-gradio-")
        os.environ["GRADIO_TEMP_DIR"] = folder
        atexit.register(shutil.rmtree, folder, True)
    # These modules read the variable at import (``/tmp/gradio``): the MCP server writes callers' files there, and
    # every app Gradio creates made a folder there that outlived the process.
    for module in (mcp, route_utils, routes, screen_recording_utils):
        module.DEFAULT_TEMP_DIR = os.environ["GRADIO_TEMP_DIR"]
    return Path(os.environ["GRADIO_TEMP_DIR"])


Slider, Number, Radio, Dropdown, Checkbox, Textbox, File, Audio, Video, Image, ImageEditor = (
    lenient(component) for component in (gr.Slider, gr.Number, gr.Radio, gr.Dropdown, gr.Checkbox, gr.Textbox,
                                         gr.File, gr.Audio, gr.Video, gr.Image, gr.ImageEditor))
