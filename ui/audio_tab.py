"""The Audio tab: a sub-tab per backend, their forms made from :class:`~nst_core.AudioSettings` and each
backend's options dataclass."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import gradio as gr

from nst_core import InvalidInput, cost
from nst_core.audio.backends import AUDIO_BACKENDS, AudioBackend, AudioBackendSpec, ShallowOptions, load_backend
from nst_core.audio.io import audio_seconds, save_wav
from nst_core.audio.optimize import AudioProgress, AudioResult, AudioSettings, iter_stylize_audio
from nst_core.runtime import pick_runtime

from . import state
from .endpoint import notes, offer
from .figures import LossHistory, loss_plot, score_table, spectrogram_pictures
from .form import Form
from .layout import intro
from .models import UNAVAILABLE, can_be_had, models_panel
from .serving import Audio, File, JobControl, streamed

# The settings each backend offers with its own defaults; the rest are shared by every backend's sub-tab.
PER_BACKEND = ("steps", "style_weight", "content_weight", "spectral_content_weight", "envelope_weight")


@dataclass(frozen=True)
class AudioJob:
    content: str
    styles: list[str]
    settings: AudioSettings
    backend: AudioBackend
    cost: cost.Cost


@dataclass
class AudioForms:
    shared: Form    # AudioSettings, every backend's
    own: Form       # AudioSettings' PER_BACKEND fields, at this backend's defaults
    options: Form   # the backend's options dataclass


@functools.lru_cache(maxsize=4)
def built_backend(name: str, options: object, seed: int) -> AudioBackend:
    """Audio networks, built or read from disk once and kept while requests keep asking for them."""
    return load_backend(name, options, seed=seed)


def audio_job(spec: AudioBackendSpec, forms: AudioForms, values: Mapping[str, Any]) -> AudioJob:
    """An audio endpoint's clips, settings and network, checked, with its cost within the budget."""
    content = values.get("content")
    # The style clips, each with the words that name its input (a refusal is shown on the input it names).
    named = [("style clip", values.get("style"))] + [
        (f"extra style clip {number}", extra) for number, extra in enumerate(values.get("extra_styles") or [], 1)]
    styles = [clip for _, clip in named if clip]
    if not content:
        raise InvalidInput("Upload or record a content clip.")
    if not styles:
        raise InvalidInput("Upload or record a style clip.")
    longest = state.BUDGET.limit("audio_seconds")
    settings = AudioSettings(**forms.shared.values(values), **forms.own.values(values), backend=spec.name,
                             options=forms.options.settings(values),
                             max_seconds=min(longest, AudioSettings.max_seconds) if longest else
                             AudioSettings.max_seconds)
    settings.check(len(styles), state.BUDGET.limit)
    if isinstance(settings.options, ShallowOptions):
        state.BUDGET.refuse_over("audio_filters", sum(settings.options.filters), "The shallow net's width (all "
                                 "layers)", " filters", "choose fewer filters (1024 is the default)")
    backend = built_backend(spec.name, settings.options, settings.seed)
    seconds = min(audio_seconds(content, label="content clip"), settings.max_seconds)
    for label, clip in named:  # each header read now, so that a bad clip is refused before the queue
        if clip:
            audio_seconds(clip, label=label)
    estimate = cost.audio_cost(backend, settings, pick_runtime("auto", settings.precision), seconds)
    cost.admit(estimate, state.BUDGET, f"This clip ({seconds:.0f} s with {spec.title}, {settings.steps} steps)",
               "choose fewer steps, a shorter clip" + (" or fewer filters" if spec.name == "shallow" else ""))
    return AudioJob(content, styles, settings, backend, estimate)


def balance_report(result: AudioResult, settings: AudioSettings) -> str:
    """One sentence on the style-strength targets: reached at which step, or how close the run came."""
    if not result.balance:
        return "Fixed weights (the balance did not adapt)."
    last = result.balance[-1]
    s = result.scores.balance
    reading = f"onsets {s.onset_correlation:.2f}, chroma {s.chroma_correlation:.2f}, Gram ratio {s.gram_ratio:.2f}"
    missed = [name for name, target in result.facts.get("targets", {}).items() if not target["met"]]
    verdict = ("every target met" if not missed else
               "missed: " + ", ".join(TARGET_WORDS[name] for name in missed) + " (see the notes below)")
    return f"Style strength {settings.style_strength:g}: stopped at step {last.step} with {reading}; {verdict}."


TARGET_WORDS = {"onset": "the rhythm", "chroma": "the notes", "gram_ratio": "the style"}


def run_audio(job: AudioJob, progress: gr.Progress) -> Iterator[tuple]:
    """Stream (audio, spectrograms, scores, status, loss curves) for one audio job."""
    history = LossHistory(skip=("total",))

    def work(control: JobControl) -> Iterator[tuple]:
        for event in iter_stylize_audio(job.content, job.styles, job.settings, backend=job.backend,
                                        prepared=state.PREPARED, control=control):
            if isinstance(event, AudioProgress):
                progress((event.done, event.total),
                         desc=f"Segment {event.segment + 1}/{event.num_segments}, at most {event.total} steps")
                history.add(event.done, event.losses)
                if event.preview is not None:
                    terms = ", ".join(f"{k} {v:.4g}" for k, v in event.losses.items())
                    elapsed = time.monotonic() - control.started
                    yield (None, spectrogram_pictures({"result so far": event.preview}), None,
                           f"**Step {event.done}** (at most {event.total}), {elapsed:.0f} s so far. Losses: {terms}",
                           history.figure())
                continue
            path = save_wav(state.STORE.path(f"audio-{job.settings.backend}", ".wav"), event.samples,
                            event.sample_rate)
            status = (f"Done in {event.seconds:.1f} s ({event.phase_seconds:.1f} s of it phase reconstruction) on "
                      f"{event.runtime}. Network: {event.backend_note}. {balance_report(event, job.settings)}"
                      f"{notes(event.notices)}")
            table = score_table(event.scores, event.facts.get("targets"))
            yield str(path), spectrogram_pictures(event.spectrograms), table, status, history.figure()

    yield from streamed(work, JobControl(state.BUDGET.limit("seconds")), outputs=5)


def audio_backend_tab(spec: AudioBackendSpec, shared: Form, clips: dict, outputs: list) -> None:
    """A sub-tab made from the backend's spec: its description, its defaults and one widget per option."""
    defaults = {name: getattr(spec.defaults, name) for name in PER_BACKEND}
    forms = AudioForms(shared, Form(AudioSettings, only=PER_BACKEND, defaults=defaults), Form(spec.options))
    missing = [net.label for net in spec.weights if not can_be_had(net.key)]
    usable = len(missing) < len(spec.weights) or not spec.weights
    with gr.Tab(spec.title if usable else spec.title + UNAVAILABLE):
        if missing:
            gr.Markdown(f"**Not available on this server right now:** {', '.join(missing)} is not downloaded and "
                        "cannot be fetched now; see *Models* at the foot of the tab for how to get it.",
                        elem_classes="availability")
        gr.Markdown(spec.description)
        forms.own.render("steps", "style_weight", "content_weight")
        forms.own.render("spectral_content_weight", "envelope_weight")
        forms.options.render_panel("basic")
        run = gr.Button(f"Stylize with {spec.title}" if usable else f"{spec.title}: network not available",
                        variant="primary", size="lg", interactive=usable)

    def check(values: Mapping[str, Any]) -> AudioJob:
        return audio_job(spec, forms, values)

    def stylize_audio(progress: gr.Progress = gr.Progress(), **values: Any) -> Iterator[tuple]:
        yield from run_audio(check(values), progress)

    stylize_audio.__name__ = f"stylize_audio_{spec.name}"  # the MCP tool's name
    offer(run, stylize_audio, check=check, api_name=f"audio_{spec.name}",
          description=f"Restyle a sound with {spec.title}: keep the content clip's notes and rhythm, take the style "
                      f"clip's timbre and texture. {spec.description} Returns (the WAV, the spectrograms, the "
                      "scores, the status, the loss curves); streams previews while it runs.",
          inputs={**clips, **shared.inputs(), **forms.own.inputs(), **forms.options.inputs()}, outputs=outputs)


INTRO = ("**Make one sound take on the texture of another:** the melody and rhythm of the first clip, the timbre "
         "of the second (a piano melody played by rain, speech made of strings). Click an example (listen to them "
         "below it), then press the button of a network; the shallow net is the quickest and always available.")
SCIENCE = ("The result's spectrogram is optimized so that a network's features of it match the content clip's and the "
           "correlations between those features (their Gram matrices) match the style clip's, as in image style "
           "transfer (Ulyanov & Lebedev 2016; Grinstein et al. 2018), then turned back into sound by fast Griffin-Lim "
           "starting from the content's phase. With *Adapt the balance* the style weight moves during the run until "
           "the scores reach the chosen strength. Shallow net: random weights by design. Genre CNN: random weights "
           "unless a trained model is given.")
EXAMPLE_CLIPS = {"piano_melody": "Piano melody", "string_pad": "String pad", "rain": "Rain", "drum_loop": "Drum loop",
                 "speech": "Speech"}


def audio_tab() -> None:
    with gr.Tab("Audio"):
        intro(INTRO, SCIENCE)
        content = Audio(label="Content clip", sources=["upload", "microphone"], type="filepath", render=False)
        style = Audio(label="Style clip", sources=["upload", "microphone"], type="filepath", render=False)
        gr.Examples(
            [[str(state.AUDIO / "piano_melody.flac"), str(state.AUDIO / "string_pad.flac")],
             [str(state.AUDIO / "piano_melody.flac"), str(state.AUDIO / "rain.flac")],
             [str(state.AUDIO / "drum_loop.flac"), str(state.AUDIO / "string_pad.flac")],
             [str(state.AUDIO / "speech.flac"), str(state.AUDIO / "rain.flac")]],
            inputs=[content, style], label="Examples: click one",
        )
        with gr.Accordion("Listen to the example clips", open=False), gr.Row():
            for stem, title in EXAMPLE_CLIPS.items():
                gr.Audio(str(state.AUDIO / f"{stem}.flac"), label=title, interactive=False, min_width=160,
                         buttons=[])
        with gr.Row():
            content.render()
            style.render()
        shared = Form(AudioSettings, skip=PER_BACKEND)
        shared.render_panel("basic", per_row=2)
        extra = File(label="Further style clips (their statistics are averaged)", file_count="multiple",
                     file_types=["audio"], type="filepath", value=[], render=False)
        extra.api_extra = {"description": "more style clips, optional: their statistics are averaged"}
        extra.api_example = []
        with gr.Accordion("More style clips, phase and seed", open=False):
            extra.render()
            shared.render_panel("advanced", per_row=3)
        # Outputs are shared by every backend's button: made first, shown below the backend tabs.
        result = gr.Audio(label="Result", type="filepath", interactive=False, format="wav", render=False)
        pictures = gr.Gallery(label="Spectrograms", columns=3, height=240, render=False, show_label=False,
                              allow_preview=True)
        scores = gr.Dataframe(headers=["score", "result", "content (baseline)", "reading"],
                              label="Objective scores", interactive=False, render=False, wrap=True,
                              column_widths=["34%", "14%", "18%", "34%"])
        status = gr.Markdown(label="Status", render=False, elem_classes="status")
        losses = loss_plot("Loss curves", render=False)
        outputs = [result, pictures, scores, status, losses]
        with gr.Tabs():
            for spec in AUDIO_BACKENDS.values():
                audio_backend_tab(spec, shared, {"content": content, "style": style, "extra_styles": extra}, outputs)
        status.render()
        result.render()
        gr.Markdown("Spectrograms: content, style, result (seconds across, frequency up, one colour scale)")
        pictures.render()
        with gr.Row(equal_height=False):
            scores.render()
            losses.render()
        models_panel({net.label: net.key for spec in AUDIO_BACKENDS.values() for net in spec.weights})

