"""Converters: a checkpoint as read -> the state dict a network loads (renamed, filtered)."""

from __future__ import annotations

from .entries import Converter, StateDict


def keep_prefix(prefix: str) -> Converter:
    """Keep only tensors under ``prefix`` (e.g. a VGG trunk without timm's classifier)."""

    def convert(raw: object) -> StateDict:
        kept = {name: tensor for name, tensor in raw.items() if name.startswith(prefix)}
        if not kept:
            raise KeyError(f"no tensor starts with {prefix!r}")
        return kept

    return convert


def drop_prefix(prefix: str) -> Converter:
    """Drop tensors under ``prefix`` (e.g. a ResNet's ``fc`` classifier)."""

    def convert(raw: object) -> StateDict:
        return {name: tensor for name, tensor in raw.items() if not name.startswith(prefix)}

    return convert
