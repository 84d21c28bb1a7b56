"""Train the genre CNN on GTZAN (10 genres x 100 clips of 30 s at 22.05 kHz).

    python -m nst_core.audio.train_genre --out models/genre-cnn            # downloads GTZAN from the Hub
    python -m nst_core.audio.train_genre --data path/to/genres --out ...    # an extracted copy

GTZAN comes from the Hub dataset ``marsyas/gtzan`` (``data/genres.tar.gz``, 1.23 GB) through the weight
registry; ``jazz.00054.wav`` is corrupt in every copy and is skipped, as is any other unreadable file.
Each clip gives 431-frame (~5 s) segments; clips (not segments) are split 80/20 into training and
validation, so no song is in both. Writes ``model.safetensors`` + ``config.json`` (the best validation
epoch), which ``--genre-model`` / the Audio tab load.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from .. import hub
from ..errors import InvalidInput
from ..runtime import pick_runtime, seeded
from .backends.genre_cnn import GENRES, SEGMENT_FRAMES, GenreCNN
from .io import load_audio
from .spectral import log_magnitude

log = logging.getLogger(__name__)
KNOWN_CORRUPT = {"jazz.00054.wav"}

# The training data: a dataset file, fetched and verified like the networks' weights.
GTZAN = hub.WeightEntry(
    key="gtzan",
    # "Add data", the last commit to touch data/ (the head, d214656, changed only the loading script); the LFS
    # pointer on that page gives the sha256:
    # https://huggingface.co/datasets/marsyas/gtzan/commit/7031b102fce5383cfdfa12714eaf42065e82b855
    source=hub.HubFile("marsyas/gtzan", "data/genres.tar.gz", "7031b102fce5383cfdfa12714eaf42065e82b855",
                       repo_type="dataset",
                       sha256="b28cc067ff6199bd826f5d1a6931458586d64acae7f44b2e882b7a97af057531"),
    convert=hub.as_is, description="GTZAN genre collection (Tzanetakis & Cook 2002)",
    license="research use; see the dataset card", size_mb=1226,
    pin_source="https://huggingface.co/datasets/marsyas/gtzan/commit/7031b102fce5383cfdfa12714eaf42065e82b855",
)


@dataclass(frozen=True)
class GenreTrainConfig:
    out: Path
    data: Path | None = None
    epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 1e-3
    segments_per_clip: int = 6
    validation_fraction: float = 0.2
    seed: int = 0
    device: str = "auto"


def gtzan_folder() -> Path:
    """Download (once) and extract GTZAN; returns the folder holding one sub-folder per genre."""
    archive = hub.weight_path(GTZAN)
    target = archive.parent / "gtzan-extracted"
    if not (target / "genres").is_dir():
        target.mkdir(exist_ok=True)
        with tarfile.open(archive) as tar:
            tar.extractall(target, filter="data")
    return target / "genres"


def list_clips(folder: Path) -> tuple[list[tuple[Path, int]], tuple[str, ...]]:
    """(file, class index) for every clip under ``folder/<genre>/``, known-corrupt files left out."""
    classes = tuple(sorted(p.name for p in Path(folder).iterdir() if p.is_dir()))
    if len(classes) < 2:
        raise InvalidInput(f"{folder} needs one sub-folder per genre (found {len(classes)}).")
    clips = [(path, index) for index, genre in enumerate(classes)
             for path in sorted((Path(folder) / genre).glob("*.wav")) if path.name not in KNOWN_CORRUPT]
    return clips, classes


def clip_segments(path: Path, net: GenreCNN, count: int) -> list[torch.Tensor]:
    """Up to ``count`` evenly spaced 431-frame power-mel segments of one clip; [] for an unreadable file."""
    try:
        samples = load_audio(path, sample_rate=net.frame.sample_rate, min_seconds=0.5).samples  # short ones are padded
    except InvalidInput as exc:
        log.warning("skipping %s: %s", path.name, exc)
        return []
    with torch.no_grad():
        mel = net.mel_power(log_magnitude(net.frame, samples)[0].unsqueeze(0))[0]  # (1, mels, frames)
    frames = mel.shape[-1]
    if frames < SEGMENT_FRAMES:
        mel = F.pad(mel, (0, SEGMENT_FRAMES - frames))
        frames = SEGMENT_FRAMES
    starts = torch.linspace(0, frames - SEGMENT_FRAMES, count).round().long().unique().tolist()
    return [mel[..., s:s + SEGMENT_FRAMES] for s in starts]


def _dataset(clips: list[tuple[Path, int]], net: GenreCNN, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    inputs, labels = [], []
    for path, label in clips:
        segments = clip_segments(path, net, count)
        inputs += segments
        labels += [label] * len(segments)
    if not inputs:
        raise InvalidInput("No readable clips to train on.")
    return torch.stack(inputs), torch.tensor(labels)


def _accuracy(net: GenreCNN, inputs: torch.Tensor, labels: torch.Tensor, batch: int) -> float:
    net.eval()
    with torch.no_grad():
        predictions = torch.cat([net.classify(inputs[i:i + batch]).argmax(1) for i in range(0, len(inputs), batch)])
    net.train()
    return float((predictions == labels).float().mean())


def train_genre(config: GenreTrainConfig, *,
                on_epoch: Callable[[int, float, float], None] | None = None) -> tuple[Path, float]:
    """Train; returns the folder with the best model and its validation accuracy."""
    folder = config.data or gtzan_folder()
    clips, classes = list_clips(folder)
    random.Random(config.seed).shuffle(clips)
    cut = max(1, int(len(clips) * config.validation_fraction))
    runtime = pick_runtime(config.device, "fp32")
    with seeded(config.seed):
        net = GenreCNN(num_classes=len(classes)).to(runtime.device).train()
    generator = torch.Generator().manual_seed(config.seed)
    train_x, train_y = _dataset(clips[cut:], net, config.segments_per_clip)
    val_x, val_y = _dataset(clips[:cut], net, config.segments_per_clip)
    optimizer = torch.optim.Adam(net.parameters(), lr=config.learning_rate)
    best = -1.0
    config.out.mkdir(parents=True, exist_ok=True)
    for epoch in range(1, config.epochs + 1):
        order = torch.randperm(len(train_x), generator=generator)
        total, seen = 0.0, 0
        for i in range(0, len(order), config.batch_size):
            index = order[i:i + config.batch_size]
            if len(index) < 2:  # batch norm cannot train on one segment: it waits for the next epoch's shuffle
                continue
            loss = F.cross_entropy(net.classify(train_x[index].to(runtime.device)), train_y[index].to(runtime.device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(index)
            seen += len(index)
        accuracy = _accuracy(net, val_x.to(runtime.device), val_y.to(runtime.device), config.batch_size)
        if accuracy > best:
            best = accuracy
            save_file({k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()},
                      str(config.out / "model.safetensors"))
            (config.out / "config.json").write_text(json.dumps(
                {"architecture": "genre-cnn-v1", "classes": list(classes), "epoch": epoch,
                 "validation_accuracy": accuracy, "clips": len(clips)}, indent=2))
        if on_epoch is not None:
            on_epoch(epoch, total / max(seen, 1), accuracy)
    return config.out, best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m nst_core.audio.train_genre", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--data", type=Path, help=f"folder with one sub-folder per genre ({', '.join(GENRES)})")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    config = GenreTrainConfig(out=args.out, data=args.data, epochs=args.epochs, batch_size=args.batch_size,
                              learning_rate=args.learning_rate, seed=args.seed, device=args.device)
    out, accuracy = train_genre(
        config, on_epoch=lambda e, loss, acc: print(f"epoch {e}: loss {loss:.3f}, validation accuracy {acc:.1%}"))
    print(f"best validation accuracy {accuracy:.1%}; model in {out / 'model.safetensors'}")


if __name__ == "__main__":
    main()
