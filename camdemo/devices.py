"""Where and how the network runs: the device, the CPU threads and the forward pass's precision."""

from __future__ import annotations

import os
from typing import NamedTuple

import torch

from .errors import CamdemoError

def available_cpus() -> int:
    """CPU cores this process may really use: affinity mask and cgroup quota (containers, Spaces)."""
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:  # cgroup v2, e.g. "200000 100000" = 2 CPUs; "max 100000" = no limit
        quota, period = open("/sys/fs/cgroup/cpu.max").read().split()[:2]
        if quota != "max":
            count = min(count, max(1, int(int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return max(1, count)


_threads_configured = False


def default_device() -> torch.device:
    """CUDA when a GPU is present (or ``CAMDEMO_DEVICE`` says so), else the CPU."""
    wanted = os.environ.get("CAMDEMO_DEVICE")
    if wanted:
        return torch.device(wanted)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


PRECISIONS = ("float32", "half", "float16", "bfloat16")  # "half": float16 on CUDA, bfloat16 on a CPU


class MapTolerance(NamedTuple):
    """How far a map may move from the float32 one: heatmaps on their [0, 1] display scale."""

    max_heatmap_difference: float
    min_correlation: float  # Pearson, over the heatmap's pixels
    max_probability_difference: float  # of the explained class


# Measured against float32 for every layer method on EfficientNet-Lite0/1/2 (6 photos each, class fixed),
# on the CPU (docs/performance.md, "On a GPU, and half precision"). float16: at most 0.062 (Score-CAM; the
# others 0.014), at least 0.9987, at most 0.0024. bfloat16 keeps float32's range but only 8 mantissa bits
# (float16: 11): at most 0.105, at least 0.9905, at most 0.032.
PRECISION_TOLERANCE = {
    "float16": MapTolerance(max_heatmap_difference=0.08, min_correlation=0.998, max_probability_difference=0.005),
    "bfloat16": MapTolerance(max_heatmap_difference=0.15, min_correlation=0.99, max_probability_difference=0.05),
}


def default_precision() -> str:
    """The precision ``explain`` uses when not told: ``CAMDEMO_PRECISION`` (e.g. ``half``), else float32."""
    return os.environ.get("CAMDEMO_PRECISION", "float32")


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The dtype to autocast the forward pass to, or None for float32; ``CamdemoError`` for an unknown name."""
    if precision not in PRECISIONS:
        raise CamdemoError(f"Unknown precision '{precision}'. Choose one of: {', '.join(PRECISIONS)}.")
    if precision == "half":  # float16 kernels on a CPU are slow or missing; bfloat16 ones exist
        precision = "float16" if device.type == "cuda" else "bfloat16"
    return None if precision == "float32" else getattr(torch, precision)


def configure_cpu_threads() -> None:
    """Never run more intra-op threads than the cores we may use (torch counts the host's cores)."""
    global _threads_configured
    if not _threads_configured:
        _threads_configured = True
        cores = available_cpus()
        if torch.get_num_threads() > cores:
            torch.set_num_threads(cores)
