"""What every command shares: the (input, output) pairs of a file or a folder, the progress bar, the report."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ..errors import InvalidInput
from ..events import Progress

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff")
VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".mkv", ".avi")
NOT_FLAGS = ("preview_every",)  # the app's preview cadence; a terminal shows a bar instead


def jobs(content: Path, output: Path, suffixes: tuple[str, ...], result_suffix: str) -> list[tuple[Path, Path]]:
    """(input, output) pairs: one for a file, one per matching file for a folder (outputs named after inputs)."""
    if not content.is_dir():
        if not content.is_file():
            raise InvalidInput(f"{content} does not exist.")
        return [(content, output)]
    files = sorted(p for p in content.iterdir() if p.suffix.lower() in suffixes)
    if not files:
        raise InvalidInput(f"{content} holds no {', '.join(suffixes)} files.")
    if output.suffix:
        raise InvalidInput(f"For a folder of inputs, give an output folder (got the file name {output.name}).")
    output.mkdir(parents=True, exist_ok=True)
    return [(path, output / f"{path.stem}{result_suffix}") for path in files]


def with_bar(events: Iterator[object], label: str) -> object:
    """Run ``events`` to the end behind a progress bar; returns the last event (the result)."""
    from tqdm.auto import tqdm

    last = None
    with tqdm(desc=label, unit="step", leave=False, disable=None) as bar:
        for last in events:
            if isinstance(last, Progress):
                bar.total = last.total
                bar.update(last.done - bar.n)
    return last


def report(out: Path, seconds: float, runtime: str, notices: list[str]) -> None:
    print(f"{out} ({seconds:.1f} s on {runtime})")
    for notice in notices:
        print(f"  note: {notice}")
