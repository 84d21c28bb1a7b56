"""Train a feed-forward style network (Johnson et al. 2016) on a folder of photos.

    python -m nst_core.image.train_fast --style painting.jpg --data photos/ --out models/my-style

The loss network is a registry backbone (default: the bundled original VGG19, so training runs
offline). The output folder receives ``model.safetensors`` + ``config.json`` (what the app and
``nst_core.image.fast.load_fast_model`` read, and what a Hub repo for the app holds), a sample image,
and ``checkpoints/step-NNNNNN/`` folders that ``--resume`` continues from.
"""

from __future__ import annotations

import argparse
import logging
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from PIL import Image

from ..errors import InvalidInput
from ..losses import LayerLosses, Objective, Term, total_variation
from ..runtime import pick_runtime, seeded
from .backbones import FeatureNet, backbone_spec, load_backbone
from .fast import (
    FAST_ARCHITECTURE,
    FastModel,
    FastSettings,
    FastStyle,
    TransformerNet,
    load_fast_model,
    save_fast_model,
    stylize_fast,
)
from .io import fit_long_side, load_image, to_tensor

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}


@dataclass(frozen=True)
class TrainConfig:
    style: Path
    data: Path
    out: Path
    title: str = "custom style"
    backbone: str = "vgg19"
    size: int = 256               # training crops are size x size
    batch_size: int = 4
    steps: int = 20000
    learning_rate: float = 1e-3
    content_weight: float = 1.0
    style_weight: float = 10.0
    tv_weight: float = 10.0
    content_layers: tuple[str, ...] = ("relu2_2",)
    style_layers: tuple[str, ...] | None = None  # None: the backbone's defaults
    style_size: int | None = None  # long side of the style image (None: ``size``)
    checkpoint_every: int = 1000
    seed: int = 0
    device: str = "auto"
    resume: bool = False


@dataclass(frozen=True)
class TrainProgress:
    step: int
    total: int
    losses: dict[str, float]
    checkpoint: Path | None = None


def list_images(folder: Path) -> list[Path]:
    files = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InvalidInput(f"No images (jpg, png, webp, bmp) under {folder}.")
    return files


def _batches(files: list[Path], size: int, batch_size: int, seed: int) -> Iterator[torch.Tensor]:
    """Endless random square crops, resized so the short side is ``size``; unreadable files are skipped."""
    rng = random.Random(seed)
    while True:
        batch = []
        while len(batch) < batch_size:
            path = rng.choice(files)
            try:
                image = load_image(path).image
            except InvalidInput as exc:
                log.warning("skipping %s: %s", path, exc)
                continue
            image = fit_long_side(image, size, min_short_side=size)
            left, top = rng.randint(0, image.width - size), rng.randint(0, image.height - size)
            batch.append(to_tensor(image.crop((left, top, left + size, top + size))))
        yield torch.cat(batch)


class PerceptualLoss:
    """Content + Gram style + TV loss of a batch of outputs, through a fixed feature network."""

    def __init__(self, net: FeatureNet, style: torch.Tensor, config: TrainConfig) -> None:
        self.net, self.config = net, config
        style_layers = config.style_layers or backbone_spec(config.backbone).style_layers
        with torch.no_grad():
            self.style = LayerLosses.style([net(style, style_layers)], style_layers)

    def __call__(self, output: torch.Tensor, content: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        c = self.config
        with torch.no_grad():
            content_features = self.net(content, c.content_layers)
        objective = Objective(self.net, [
            Term.on_features("content", c.content_weight, LayerLosses.content(content_features, c.content_layers)),
            Term.on_features("style", c.style_weight, self.style),
            Term.on_input("tv", c.tv_weight, total_variation),
        ])
        return objective(output)


def _latest_checkpoint(out: Path) -> Path | None:
    found = sorted((out / "checkpoints").glob("step-*/model.safetensors"))
    return found[-1].parent if found else None


def _save(net: TransformerNet, optimizer: torch.optim.Optimizer, folder: Path, step: int, style: FastStyle,
          sample: Image.Image) -> None:
    save_fast_model(net, folder, style, extra={"step": step})
    torch.save({"step": step, "optimizer": optimizer.state_dict()}, folder / "trainer.pt")
    net.eval()
    stylize_fast(sample, FastModel(net, style), FastSettings(precision="fp32")).image.save(folder / "sample.png")
    net.train()


def train(config: TrainConfig, *, network: FeatureNet | None = None,
          on_progress: Callable[[TrainProgress], None] | None = None) -> Path:
    """Train (or resume) a style; returns the folder holding the final ``model.safetensors``."""
    files = list_images(config.data)
    runtime = pick_runtime(config.device, "fp32")
    loss_net = (network or load_backbone(config.backbone)).to(runtime.device)
    style_image = fit_long_side(load_image(config.style, label="style image").image, config.style_size or config.size)
    perceptual = PerceptualLoss(loss_net, to_tensor(style_image).to(runtime.device), config)
    style = FastStyle(key="file:model.safetensors", title=config.title, artist="", value_range=255,
                      channel_order="rgb", architecture=FAST_ARCHITECTURE, license="")
    with seeded(config.seed):
        net = TransformerNet().to(runtime.device).train()
    optimizer = torch.optim.Adam(net.parameters(), lr=config.learning_rate)
    start = 0
    if config.resume and (latest := _latest_checkpoint(config.out)) is not None:
        resumed = load_fast_model(latest / "model.safetensors").net
        net.load_state_dict(resumed.state_dict())
        for parameter in net.parameters():
            parameter.requires_grad_(True)
        state = torch.load(latest / "trainer.pt", map_location=runtime.device, weights_only=True)
        optimizer.load_state_dict(state["optimizer"])
        start = int(state["step"])
        log.info("resuming from %s at step %d", latest, start)
    sample = load_image(files[0]).image
    batches = _batches(files, config.size, config.batch_size, config.seed + start)
    for step in range(start + 1, config.steps + 1):
        content = next(batches).to(runtime.device)
        optimizer.zero_grad(set_to_none=True)
        output = net(content * 255.0) / 255.0
        loss, terms = perceptual(output, content)
        loss.backward()
        optimizer.step()
        checkpoint = None
        if step % config.checkpoint_every == 0 or step == config.steps:
            checkpoint = config.out / "checkpoints" / f"step-{step:06d}"
            _save(net, optimizer, checkpoint, step, style, sample)
        if on_progress is not None:
            on_progress(TrainProgress(step, config.steps, terms, checkpoint))
    _save(net, optimizer, config.out, config.steps, style, sample)
    return config.out


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    defaults = TrainConfig(Path(), Path(), Path())
    parser = argparse.ArgumentParser(prog="python -m nst_core.image.train_fast", description=__doc__.splitlines()[0])
    parser.add_argument("--style", type=Path, required=True, help="the style image")
    parser.add_argument("--data", type=Path, required=True, help="a folder of training photos (e.g. COCO train2014)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--title", default=defaults.title)
    parser.add_argument("--backbone", default=defaults.backbone, help="loss network (registry name)")
    for name in ("size", "batch_size", "steps", "checkpoint_every", "seed", "style_size"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(defaults, name))
    for name in ("learning_rate", "content_weight", "style_weight", "tv_weight"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=float, default=getattr(defaults, name))
    parser.add_argument("--device", default=defaults.device)
    parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --out")
    args = vars(parser.parse_args(argv))
    return replace(defaults, **args)


def main(argv: list[str] | None = None) -> None:
    from tqdm import tqdm

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    config = parse_args(argv)
    with tqdm(total=config.steps, unit="step") as bar:
        def on_progress(event: TrainProgress) -> None:
            bar.n = event.step
            bar.set_postfix({k: f"{v:.3g}" for k, v in event.losses.items()})
            if event.checkpoint:
                bar.write(f"checkpoint: {event.checkpoint}")
            bar.refresh()

        out = train(config, on_progress=on_progress)
    print(f"model written to {out / 'model.safetensors'} (config: {out / 'config.json'})")


if __name__ == "__main__":
    main()
