"""``python -m nst_core.weights list | download [KEY ...] | verify [KEY ...]``: the weights from a terminal."""

from __future__ import annotations

import argparse
import logging
import sys

from tqdm.auto import tqdm

from .. import hub
from ..errors import NSTError
from . import BY_KEY, NETWORKS, NetworkState, entry, status, verify


def _keys(names: list[str]) -> list[str]:
    unknown = [name for name in names if name not in BY_KEY]
    if unknown:
        raise SystemExit(f"unknown network(s): {', '.join(unknown)}; known: {', '.join(BY_KEY)}")
    return names or list(BY_KEY)


def _list() -> int:
    for item in NETWORKS:
        weights, state = entry(item.key), status(item.key)
        source = weights.source
        revision = getattr(source, "revision", "") or "-"
        checksum = f"sha256 {source.sha256[:16]}..." if len(source.sha256) == 64 else \
            (f"sha256 prefix {source.sha256}" if source.sha256 else "no published checksum")
        print(f"{item.key:22} {item.label}\n    source: {source.describe()}\n    revision: {revision}\n"
              f"    {checksum}; {weights.size_mb:.0f} MB; licence: {weights.license}\n"
              f"    state: {state.state} ({state.detail})")
    return 0


def _download(keys: list[str]) -> int:
    failed = 0
    for key in keys:
        with tqdm(desc=key, unit="B", unit_scale=True, disable=None) as bar:
            def show(done: int, total: int, bar: tqdm = bar) -> None:
                bar.total = total or None
                bar.update(done - bar.n)

            try:
                if hub.cached_path(entry(key)) is None:
                    hub.weight_path(entry(key), progress=show)
            except NSTError as exc:
                failed += _report(key, NetworkState("unavailable", str(exc)))
                continue
        failed += _report(key, verify(key))
    return 1 if failed else 0


def _report(key: str, state: NetworkState) -> int:
    """One line per network; counts as a failure when the network is cached but unusable or cannot be had."""
    word = "FAILED" if state.state == "failed" else state.state
    print(f"{key:22} {word}: {state.detail}")
    return int(state.state in ("failed", "unavailable"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nst_core.weights", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="every network: source, pinned revision, checksum, size, licence, state")
    for name, text in (("download", "fill the Hugging Face cache (HF_HOME), then verify"),
                       ("verify", "run the checksum and health check on what is cached")):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("keys", nargs="*", metavar="KEY", help="networks (default: all): " + ", ".join(BY_KEY))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "list":
        return _list()
    keys = _keys(args.keys)
    if args.command == "download":
        return _download(keys)
    failed = sum(_report(key, verify(key)) for key in keys)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
