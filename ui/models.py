"""The Models panel: per network, whether it is verified, downloading, refused or cannot be had here."""

from __future__ import annotations

import gradio as gr

from nst_core import hub, weights

PANELS: list[tuple[gr.Markdown, dict[str, str]]] = []  # every panel on the page, filled while the tabs are built
MARKS = {"verified": "verified", "ready": "ready", "download": "downloads on first use",
         "failed": "**failed, refused**", "unavailable": "**unavailable**"}


UNAVAILABLE = " (not available here)"  # after a network's name on a choice that cannot run on this server now


def can_be_had(key: str) -> bool:
    """Whether the weights ``key`` are here or can be fetched now (so a choice of them can run)."""
    return weights.status(key).state not in ("unavailable", "failed")


def offered(label: str, key: str) -> str:
    """A choice's label, marked when its network's weights ``key`` cannot be had here now."""
    return label if can_be_had(key) else label + UNAVAILABLE


def weights_report(keys: dict[str, str]) -> str:
    """A Markdown list saying, per network (label -> weights key), what state its weights are in."""
    states = {label: weights.status(key) for label, key in keys.items()}
    lines = []
    for label, status in states.items():
        mark = (f"downloading {status.percent:.0f} %" if status.percent is not None else "downloading") \
            if status.state == "downloading" else MARKS[status.state]
        lines.append(f"- {label}: {mark} ({status.detail})")
    if any(status.state == "unavailable" for status in states.values()):
        lines.append(f"\nTo enable an unavailable model: {hub.FIX_HINT}")
    return "\n".join(lines)


def models_panel(keys: dict[str, str]) -> gr.Markdown:
    """A Models accordion whose report is refreshed on page load and while the start-up fetch runs."""
    with gr.Accordion("Models", open=False):
        gr.Markdown("The pretrained networks this tab uses, and whether this server has them: *verified* (checked "
                    "and ready), *ready* (checked on first use), *downloads on first use*, or *unavailable* (with "
                    "the reason and how to get it).")
        panel = gr.Markdown(weights_report(keys))
    PANELS.append((panel, keys))
    return panel


def refresh() -> list:
    """New reports for every panel; the timer runs while a download does."""
    return [*(weights_report(keys) for _, keys in PANELS), gr.Timer(active=weights.FETCHER.running)]


def keep_fresh(demo: gr.Blocks) -> None:
    """Fresh reports on every page load, and every 2 s while a download runs. Call after every tab is built."""
    timer = gr.Timer(2.0, active=weights.FETCHER.running)
    outputs = [panel for panel, _ in PANELS] + [timer]
    demo.load(refresh, None, outputs, api_visibility="private", queue=False)
    timer.tick(refresh, None, outputs, api_visibility="private", queue=False)
