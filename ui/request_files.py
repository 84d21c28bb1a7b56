"""Files a request names: an upload's own path, or a URL fetched within the limits of an upload.

Gradio moves a request's files into its cache while it checks the request, before any handler, validator or
budget of ours runs. Two of its answers there did not suit a public page:

* a path that was not uploaded is refused with the path made absolute ("Cannot move /srv/app/x.png ..."), so
  a relative name told any visitor where the app lives on the server;
* a URL (the client's ``handle_file("https://...")``, an MCP tool's file argument) is fetched with its whole
  answer read into memory, without a limit on its size or its duration, so one link to a file of many
  gigabytes could use up the server's memory.

:func:`guard_request_files` keeps both behaviours and bounds them: the refusal names no path, and a URL is
fetched as a stream into the cache, public hosts only (each redirect checked again, as Gradio does), at most
the page's upload limit (``max_file_size`` of ``launch``) and :data:`FETCH_SECONDS`, and counted in the asking
address's upload quota (:mod:`.request_limits`); a fetch cut short leaves no file behind.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from pathlib import Path
from urllib.parse import urljoin, urlparse

import httpx
import safehttpx
from gradio import processing_utils
from gradio.context import LocalContext
from gradio.exceptions import InvalidPathError
from gradio_client import utils as client_utils

from nst_core.errors import shown

from . import request_limits

FETCH_SECONDS = 30.0
FALLBACK_MAX_BYTES = 100 * 2**20  # when the page sets no upload limit
NOT_UPLOADED = ("A file in the request was not uploaded to this page: upload it first (the client's handle_file "
                "does) and send the path the upload returns, or give a public URL.")

_check_allowed = processing_utils._check_allowed


class FetchRefused(ValueError):
    """A file given by URL that is not fetched: too large, too slow, not there, or not at a public address."""

    def __init__(self, message: str, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url


def _check_uploaded(path: str | Path, check_in_upload_folder: bool) -> None:
    try:
        _check_allowed(path, check_in_upload_folder)
    except InvalidPathError:
        if not check_in_upload_folder:
            raise  # the app's own outputs: the developer's message, paths and all
        raise InvalidPathError(NOT_UPLOADED) from None


def max_bytes() -> int:
    """The page's upload limit, which a fetched file keeps to as well."""
    blocks = LocalContext.blocks.get(None)
    return getattr(blocks, "max_file_size", None) or FALLBACK_MAX_BYTES


async def _transport(url: str) -> httpx.AsyncBaseTransport | None:
    """Gradio's choice: its own hosts as they are, any other host only at a public address it resolves to."""
    host = httpx.URL(url).host
    if not host:
        raise FetchRefused("The URL names no host.")
    if safehttpx.matches_domain_whitelist(host, processing_utils.PUBLIC_HOSTNAME_WHITELIST):
        return None
    try:
        address = await safehttpx.async_validate_url(host)
    except ValueError:  # it resolves to no public address, or to none
        raise FetchRefused(f"The URL's host, {shown(host)}, has no public address this server may fetch from.") \
            from None
    return safehttpx.AsyncSecureTransport(address)


class _Overflow(Exception):
    """The answer claimed, or reached, ``size`` bytes: more than its limit."""

    def __init__(self, size: int) -> None:
        self.size = size


async def _stream_to(url: str, target: Path, limit: float) -> None:
    """``url``'s answer written to ``target``."""
    for _ in range(processing_utils.MAX_REDIRECTS + 1):
        async with httpx.AsyncClient(transport=await _transport(url)) as client, \
                client.stream("GET", url, follow_redirects=False) as response:
            if response.has_redirect_location:
                url = urljoin(str(response.url), response.headers["Location"])
                continue
            if response.status_code != 200:
                raise FetchRefused(f"The file's URL answered with status {response.status_code}.")
            if int(response.headers.get("content-length") or 0) > limit:
                raise _Overflow(int(response.headers["content-length"]))
            size = 0
            with target.open("wb") as file:
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > limit:
                        raise _Overflow(size)
                    file.write(chunk)
            return
    raise FetchRefused(f"The file's URL redirected more than {processing_utils.MAX_REDIRECTS} times.")


async def fetch_within_limits(url: str, cache_dir: str) -> str:
    """``url``'s file in Gradio's cache (where Gradio's own fetch puts it), fetched once and charged to the
    quota of the address that asked for it, as an upload would be."""
    name = client_utils.strip_invalid_filename_characters(Path(urlparse(url).path.rstrip("/")).name) or "file"
    target = Path(cache_dir) / processing_utils.hash_url(url) / name
    if target.exists():
        return str(target.resolve())
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{name}.{uuid.uuid4().hex[:8]}.partial")  # requests for one URL at once
    uploads, address = request_limits.SENDER.get() or (None, "")
    largest = max_bytes()
    try:
        async with asyncio.timeout(FETCH_SECONDS):
            await _stream_to(url, partial, min(largest, uploads.room(address) if uploads else math.inf))
        partial.replace(target)
    except FetchRefused as refusal:
        raise FetchRefused(str(refusal), url) from None
    except TimeoutError:
        raise FetchRefused(f"The file at that URL took longer than {FETCH_SECONDS:.0f} s to fetch.", url) from None
    except _Overflow as over:
        raise FetchRefused(f"The file at that URL is larger than {largest / 2**20:.0f} MB, the most a file may be "
                           "here." if over.size > largest or not uploads else uploads.refusal(address, over.size),
                           url) from None
    except httpx.HTTPError:
        raise FetchRefused("The file at that URL could not be fetched: its host did not answer.", url) from None
    finally:
        partial.unlink(missing_ok=True)
    if uploads:
        uploads.charge_kept(address, [str(target.resolve())])
    return str(target.resolve())


def guard_request_files() -> None:
    """Install both (idempotent: each wraps or replaces Gradio's own function by name)."""
    processing_utils._check_allowed = _check_uploaded
    processing_utils.async_ssrf_protected_download = fetch_within_limits
