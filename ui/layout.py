"""Pieces every tab is laid out with: its first words, and the content picture it starts from."""

from __future__ import annotations

from collections.abc import Callable

import gradio as gr

from .serving import Image

# Text read again at each page load (what this server's estimates say now): (component, function), in build order.
ON_LOAD: list[tuple[gr.components.Component, Callable[[], str]]] = []


def fresh_markdown(text: Callable[[], str], **options: object) -> gr.Markdown:
    """Markdown whose text ``text()`` gives, read again at each page load (no client API endpoint)."""
    markdown = gr.Markdown(text(), **options)
    ON_LOAD.append((markdown, text))
    return markdown


def refresh_on_load(demo: gr.Blocks) -> None:
    """Wire every :func:`fresh_markdown` to the page's load. Call after every tab is built."""
    for component, text in ON_LOAD:
        demo.load(text, None, component, api_visibility="private", queue=False)


def intro(plain: str, science: str) -> None:
    """What the tab does, in plain words; the science one click away."""
    gr.Markdown(plain)
    with gr.Accordion("How it works", open=False):
        gr.Markdown(science)


def content_picture() -> gr.Image:
    """The content photo input, made unrendered so that the tab's examples can come first."""
    return Image(label="Content image", type="filepath", image_mode=None, sources=["upload", "clipboard"],
                 height=260, render=False)
