"""Train the teaching network on cluttered shapes: ``python -m camdemo.teaching.train``.

Generates the training, validation and test splits from their own seeds (nothing is downloaded),
trains ``ShapesGapNet`` with AdamW and a one-cycle schedule, prints accuracy per epoch, and writes
``assets/shapes_gapnet.pt`` (float16 state dict, loaded with ``weights_only=True``) with
``assets/shapes_gapnet.json`` (classes, input size, accuracy, seed, date). About 5 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from camdemo.teaching import scenes as shapes
from camdemo.assets import ASSETS_DIR
from camdemo.teaching.network import ShapesGapNet

MEAN, STD = 0.5, 0.25  # input = (pixel / 255 − 0.5) / 0.25
WEIGHTS_NAME = "shapes_gapnet.pt"


def to_inputs(images: np.ndarray) -> torch.Tensor:
    """N×H×W×3 uint8 → N×3×H×W normalized float32 (the same normalization as the registered backbone)."""
    pixels = torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255.0)
    return ((pixels - MEAN) / STD).contiguous(memory_format=torch.channels_last)


def generate(seed: int, count: int, description: str) -> tuple[np.ndarray, np.ndarray]:
    images, labels = [], []
    for start in tqdm(range(0, count, 500), desc=description, unit="×500 images", leave=False):
        batch_images, batch_labels = shapes.make_batch(seed, start, min(500, count - start))
        images.append(batch_images)
        labels.append(batch_labels)
    return np.concatenate(images), np.concatenate(labels)


def augment(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random flips and quarter turns: every shape class is closed under them (shapes are drawn at any angle)."""
    if torch.rand(1, generator=generator) < 0.5:
        batch = batch.flip(3)
    return torch.rot90(batch, int(torch.randint(4, (1,), generator=generator)), dims=(2, 3))


@torch.no_grad()
def accuracy(model: torch.nn.Module, images: np.ndarray, labels: np.ndarray, batch_size: int = 250) -> float:
    model.eval()
    correct = 0
    for start in range(0, len(images), batch_size):
        logits = model(to_inputs(images[start:start + batch_size]))
        correct += int((logits.argmax(1).numpy() == labels[start:start + batch_size]).sum())
    return correct / len(images)


def train_loop(model: torch.nn.Module, images: np.ndarray, labels: np.ndarray, epochs: int, batch_size: int,
               learning_rate: float, seed: int, on_epoch=None, max_steps: int | None = None) -> list[float]:
    """Train in place; returns the mean training loss of each epoch."""
    generator = torch.Generator().manual_seed(seed)
    steps_per_epoch = len(images) // batch_size
    total = epochs * steps_per_epoch if max_steps is None else min(max_steps, epochs * steps_per_epoch)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=5e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=learning_rate, total_steps=total)
    losses, step = [], 0
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(images), generator=generator).numpy()
        epoch_losses = []
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{epochs}", unit="batch", leave=False)
        for index in bar:
            if step >= total:
                break
            chosen = order[index * batch_size:(index + 1) * batch_size]
            inputs = augment(to_inputs(images[chosen]), generator)
            loss = F.cross_entropy(model(inputs), torch.from_numpy(labels[chosen]))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            step += 1
            epoch_losses.append(loss.detach().item())
            bar.set_postfix(loss=f"{np.mean(epoch_losses[-20:]):.3f}")
        losses.append(float(np.mean(epoch_losses)) if epoch_losses else float("nan"))
        if on_epoch is not None:
            on_epoch(epoch, losses[-1])
    model.eval()
    return losses


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m camdemo.teaching.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-size", type=int, default=16000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0, help="seed of initialization and batch order")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=ASSETS_DIR / WEIGHTS_NAME)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    started = time.perf_counter()
    train_images, train_labels = generate(shapes.TRAIN_SEED, args.train_size, "training images")
    val_images, val_labels = generate(shapes.VALIDATION_SEED, 1000, "validation images")
    test_images, test_labels = generate(shapes.TEST_SEED, 2000, "test images")
    print(f"generated {len(train_images)} training, 1000 validation, 2000 test images "
          f"in {time.perf_counter() - started:.0f} s")

    model = ShapesGapNet(len(shapes.CLASSES)).to(memory_format=torch.channels_last)

    def report(epoch: int, loss: float) -> None:
        print(f"epoch {epoch + 1:2d}/{args.epochs}  train loss {loss:.4f}  "
              f"validation accuracy {accuracy(model, val_images, val_labels):.2%}  "
              f"({time.perf_counter() - started:.0f} s)", flush=True)

    train_loop(model, train_images, train_labels, args.epochs, args.batch_size, args.learning_rate, args.seed,
               on_epoch=report)
    test_accuracy = accuracy(model, test_images, test_labels)
    print(f"test accuracy on 2000 held-out images: {test_accuracy:.2%}")

    state = {key: value.half() if value.is_floating_point() else value
             for key, value in model.state_dict().items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, args.out)
    half = ShapesGapNet(len(shapes.CLASSES))
    half.load_state_dict(state)
    stored_accuracy = accuracy(half, test_images, test_labels)
    metadata = {
        "classes": list(shapes.CLASSES), "input_size": shapes.IMAGE_SIZE, "mean": MEAN, "std": STD,
        "test_accuracy": round(stored_accuracy, 4), "test_images": 2000, "test_seed": shapes.TEST_SEED,
        "train_images": args.train_size, "train_seed": shapes.TRAIN_SEED, "epochs": args.epochs,
        "init_seed": args.seed, "weights_dtype": "float16",
        "trained_on": datetime.date.today().isoformat(), "seconds": round(time.perf_counter() - started),
        "command": " ".join(["python -m camdemo.teaching.train", *(sys.argv[1:] if argv is None else argv)]),
    }
    args.out.with_suffix(".json").write_text(json.dumps(metadata, indent=2) + "\n")
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} kB, float16; test accuracy "
          f"{stored_accuracy:.2%} as stored) and {args.out.with_suffix('.json').name}")


if __name__ == "__main__":
    main()
