"""The video section: a clip stylized frame by frame, its knobs :class:`~nst_core.VideoSettings`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from nst_core import InvalidInput, VideoProgress, VideoSettings, cost, iter_stylize_video
from nst_core.runtime import pick_runtime
from nst_core.video.io import probe
from nst_core.video.stylize import output_size

from . import state
from .endpoint import notes, offer
from .form import Form
from .serving import JobControl, Video, refuse_large_picture, streamed
from .style_choice import StyleChoice, check_style, chosen_model, compiled, runs_compiled, style_reading

DESCRIPTION = ("Restyle a video (mp4, webm, mov) frame by frame with a Fast style, keeping its frame rate and "
               "sound; one set of normalization statistics for the clip keeps it steady. Returns (the MP4, the "
               "status with its flicker figure).")


@dataclass(frozen=True)
class VideoJob:
    video: str
    settings: VideoSettings
    cost: cost.Cost


def video_job(choice: StyleChoice, form: Form, values: Mapping[str, Any]) -> VideoJob:
    """The /fast_video endpoint's clip and settings, checked, with its estimated cost within the budget."""
    video = values.get("video")
    if not video:
        raise InvalidInput("Upload a video (mp4, webm or mov).")
    check_style(values)
    longest = state.BUDGET.limit("video_seconds")
    settings = VideoSettings(**choice.form.values(values), **form.values(values),
                             max_seconds=min(longest, VideoSettings.max_seconds) if longest else
                             VideoSettings.max_seconds)
    settings.check(state.BUDGET.limit)
    info = probe(video, settings.max_seconds)
    refuse_large_picture(info.width, info.height, "video's frame")
    size, _ = output_size(info, settings.long_side)
    # The frames are decoded at their own size whatever the result's (a clip of 200 kB can hold 8192x8192 frames),
    # once more for the clip's statistics.
    decoding = cost.video_reading_cost(info.frames, info.width * info.height / 1e6,
                                       Path(video).stat().st_size * 8 / 1e6,
                                       passes=2 if settings.stability == "clip" else 1)
    estimate = cost.reading_cost(style_reading(values)).then(decoding).then(cost.video_cost(
        settings, pick_runtime(settings.device, settings.precision), info.frames, size, compiled=runs_compiled(values)))
    cost.admit(estimate, state.BUDGET, f"This video ({info.frames} frames at {size[0]}x{size[1]})",
               "choose a smaller long side or a shorter clip")
    return VideoJob(video, settings, estimate)


def video_section(choice: StyleChoice) -> None:
    form = Form(VideoSettings, skip=tuple(choice.form.fields))
    with gr.Accordion("Video: stylize a clip, keeping its frame rate and sound", open=False), gr.Row():
        with gr.Column():
            video = Video(label="Video (mp4, webm, mov; up to 20 s are used)", sources=["upload"])
            form.render_panel("basic")
            form.render_panel("advanced")
            run = gr.Button("Stylize the video", variant="primary")
        with gr.Column():
            result = gr.Video(label="Result", interactive=False)
            status = gr.Markdown(label="Status")

    def check(values: Mapping[str, Any]) -> VideoJob:
        return video_job(choice, form, values)

    # long_side is named here so that the client API marks it optional (empty: the video's own size).
    def stylize_video(progress: gr.Progress = gr.Progress(), *, long_side: int | None = None,
                      **values: Any) -> Iterator[tuple[str, str]]:
        values = {**values, "long_side": long_side}
        job, model = check(values), chosen_model(values)

        def work(control: JobControl) -> Iterator[tuple[str, str]]:
            for event in iter_stylize_video(job.video, model, job.settings, output=state.STORE.path("video", ".mp4"),
                                            compiler=compiled(values), prepared=state.PREPARED, control=control):
                if isinstance(event, VideoProgress):
                    progress((event.done, event.total), desc="Frames")
                    continue
                width, height = event.size
                yield str(event.path), (
                    f"{model.style.title}: {event.frames} frame{'s' * (event.frames != 1)} at {event.fps:.3g} fps, "
                    f"{width}x{height}, in "
                    f"{event.seconds:.1f} s ({event.frames / event.seconds:.1f} frames/s) on {event.runtime}; "
                    f"flicker {event.flicker:.2f} (output change between frames / input change)."
                    f"{notes(event.notices)}")

        yield from streamed(work, JobControl(), outputs=2)

    offer(run, stylize_video, check=check, api_name="fast_video", description=DESCRIPTION,
          inputs={"video": video, **choice.inputs(), **form.inputs(), "compiled": choice.compiled},
          outputs=[result, status])
