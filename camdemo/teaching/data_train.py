"""Train the two data teaching networks: ``python -m camdemo.teaching.data_train digits|beam``.

Generates training, validation and test sets from their own seeds (nothing is downloaded; the digits come
from scikit-learn's bundled set, test canvases from held-out source digits), trains with AdamW and a
one-cycle schedule, prints validation accuracy per epoch, and writes ``assets/<name>.pt`` (float16 state
dict, loaded with ``weights_only=True``) with ``assets/<name>.json`` (classes, input, accuracy, seeds,
date, command). A few minutes each on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..assets import ASSETS_DIR
from . import beam, digits
from .data_networks import BeamGapNet, DigitsGapNet


@dataclass(frozen=True)
class Task:
    """One teaching network: its data, its model and its defaults."""

    name: str  # also the weights file's stem
    classes: tuple[str, ...]
    build: Callable[[], torch.nn.Module]
    batch: Callable[[str, int, int], tuple[np.ndarray, np.ndarray]]  # (split: train|validation|test, start, count)
    input_shape: tuple[int, int]
    train_size: int
    epochs: int
    learning_rate: float
    seeds: dict[str, int]


def _digit_batch(split: str, start: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    seed = {"train": digits.TRAIN_SEED, "validation": digits.VALIDATION_SEED, "test": digits.TEST_SEED}[split]
    # validation canvases are built from training digits (new positions and clutter); test ones from held-out digits
    return digits.make_batch(digits.TEST if split == "test" else digits.TRAIN, seed, start, count)


def _beam_batch(split: str, start: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    seed = {"train": beam.TRAIN_SEED, "validation": beam.VALIDATION_SEED, "test": beam.TEST_SEED}[split]
    return beam.make_batch(seed, start, count)


TASKS = {
    "digits": Task("digits_gapnet", digits.CLASSES, lambda: DigitsGapNet(len(digits.CLASSES)), _digit_batch,
                   (digits.CANVAS, digits.CANVAS), 12_000, 6, 4e-3,
                   {"train": digits.TRAIN_SEED, "validation": digits.VALIDATION_SEED, "test": digits.TEST_SEED}),
    "beam": Task("beam_gapnet", beam.CLASSES, lambda: BeamGapNet(len(beam.CLASSES), beam.ROWS), _beam_batch,
                 (beam.ROWS, beam.COLUMNS), 6_000, 4, 4e-3,
                 {"train": beam.TRAIN_SEED, "validation": beam.VALIDATION_SEED, "test": beam.TEST_SEED}),
}


@torch.no_grad()
def accuracy(model: torch.nn.Module, inputs: np.ndarray, labels: np.ndarray, batch_size: int = 500) -> float:
    """Top-1 accuracy of ``model`` (put in eval mode) on N×1×H×W float inputs."""
    model.eval()
    correct = 0
    for start in range(0, len(inputs), batch_size):
        logits = model(torch.from_numpy(inputs[start:start + batch_size]))
        correct += int((logits.argmax(1).numpy() == labels[start:start + batch_size]).sum())
    return correct / len(inputs)


def train_loop(model: torch.nn.Module, inputs: np.ndarray, labels: np.ndarray, epochs: int, batch_size: int,
               learning_rate: float, seed: int,
               on_epoch: Callable[[int, float], None] | None = None) -> list[float]:
    """Train in place with AdamW and a one-cycle schedule; returns the mean training loss of each epoch."""
    generator = torch.Generator().manual_seed(seed)
    steps = len(inputs) // batch_size
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=5e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=learning_rate, total_steps=epochs * steps)
    losses = []
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(inputs), generator=generator).numpy()
        epoch_losses = []
        for step in range(steps):
            chosen = order[step * batch_size:(step + 1) * batch_size]
            loss = F.cross_entropy(model(torch.from_numpy(inputs[chosen])), torch.from_numpy(labels[chosen]))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            epoch_losses.append(loss.detach().item())
        losses.append(float(np.mean(epoch_losses)))
        if on_epoch is not None:
            on_epoch(epoch, losses[-1])
    model.eval()
    return losses


def half_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The state dict with floating-point tensors stored as float16 (half the file)."""
    return {key: value.half() if value.is_floating_point() else value for key, value in model.state_dict().items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m camdemo.teaching.data_train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", choices=sorted(TASKS))
    parser.add_argument("--train-size", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--test-size", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0, help="seed of initialization and batch order")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="weights file (default assets/<name>.pt)")
    args = parser.parse_args(argv)
    task = TASKS[args.task]
    train_size = args.train_size or task.train_size
    epochs = args.epochs or task.epochs
    out = args.out or ASSETS_DIR / f"{task.name}.pt"
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    started = time.perf_counter()
    train_inputs, train_labels = task.batch("train", 0, train_size)
    val_inputs, val_labels = task.batch("validation", 0, 1000)
    test_inputs, test_labels = task.batch("test", 0, args.test_size)
    print(f"generated {train_size} training, 1000 validation, {args.test_size} test inputs "
          f"in {time.perf_counter() - started:.0f} s", flush=True)
    model = task.build()

    def report(epoch: int, loss: float) -> None:
        print(f"epoch {epoch + 1:2d}/{epochs}  train loss {loss:.4f}  validation accuracy "
              f"{accuracy(model, val_inputs, val_labels):.2%}  ({time.perf_counter() - started:.0f} s)", flush=True)

    train_loop(model, train_inputs, train_labels, epochs, args.batch_size, task.learning_rate, args.seed, report)
    state = half_state(model)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, out)
    stored = task.build()
    stored.load_state_dict({key: value.float() if value.is_floating_point() else value for key, value in state.items()})
    test_accuracy = accuracy(stored, test_inputs, test_labels)
    metadata = {
        "classes": list(task.classes), "input": f"N×1×{task.input_shape[0]}×{task.input_shape[1]} float32 in [0, 1], "
        "not normalized", "test_accuracy": round(test_accuracy, 4), "test_inputs": args.test_size,
        "seeds": task.seeds, "train_inputs": train_size, "epochs": epochs, "init_seed": args.seed,
        "weights_dtype": "float16", "trained_on": datetime.date.today().isoformat(),
        "seconds": round(time.perf_counter() - started),
        "command": " ".join(["python -m camdemo.teaching.data_train", *(sys.argv[1:] if argv is None else argv)]),
    }
    out.with_suffix(".json").write_text(json.dumps(metadata, indent=2, ensure_ascii=False) + "\n")
    print(f"test accuracy on {args.test_size} held-out inputs: {test_accuracy:.2%} (float16 weights as stored)")
    print(f"wrote {out} ({out.stat().st_size // 1024} kB) and {out.with_suffix('.json').name}")


if __name__ == "__main__":
    main()
