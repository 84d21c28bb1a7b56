"""Pieces every tab is laid out with: its first words, and the content picture it starts from."""

from __future__ import annotations

import gradio as gr

from .serving import Image


def intro(plain: str, science: str) -> None:
    """What the tab does, in plain words; the science one click away."""
    gr.Markdown(plain)
    with gr.Accordion("How it works", open=False):
        gr.Markdown(science)


def content_picture() -> gr.Image:
    """The content photo input, made unrendered so that the tab's examples can come first."""
    return Image(label="Content image", type="filepath", image_mode=None, sources=["upload", "clipboard"],
                 height=260, render=False)
