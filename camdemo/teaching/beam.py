"""Vibrating cantilever beams: spectrograms (rows = frequency bins, columns = time) whose changed rows are known.

A 2-D float matrix that is not a photo, with an answer to "which rows matter": the classes differ only
in known frequency rows, so a map's row profile can be checked against the truth.

Physics (Euler–Bernoulli cantilever, clamped at x = 0, free at x = L). Mode n vibrates at

    f_n = (β_n L)² / (2π L²) · sqrt(EI / (ρA)),   β_n L = 1.8751, 4.6941, 7.8548, 10.9955, …

(roots of cos βL · cosh βL = −1). The beam here is a steel strip (E = 210 GPa, ρ = 7850 kg/m³,
5 mm thick, L = 0.8 m): f = 6.5, 41, 115 and 224 Hz. An accelerometer records the free decay after a
hammer hit at a random time: Σ_n A_n exp(−ζ_n ω_n t) sin(ω_n t), with random amplitudes A_n
(hammer and sensor positions), damping ζ_n = 0.3–1%, ±1% spread of all frequencies (temperature) and
white noise. The spectrogram is |STFT|² (Hann window of 128 samples at 512 Hz, hop 32): 64 rows of
4 Hz from 0 to 252 Hz, 64 columns of 62.5 ms, in decibels below the matrix's maximum, mapped from
[−80 dB, 0 dB] to [0, 1].

Classes:

* ``healthy``;
* ``stiffness loss``: the bending stiffness EI of a 10%-long segment centered at x_d ∈ [0.05, 0.65] L
  drops by a fraction d ∈ [0.5, 0.9]. To first order in d (Rayleigh's quotient), mode n's frequency
  becomes f_n · sqrt(1 − d · e_n), with e_n the share of mode n's strain energy ∫ EI φ_n''² that lies in
  the segment; a loss over the whole beam (e_n = 1) gives the textbook f · sqrt(1 − d). Which modes move,
  and by how much, depends on where the damage is; every damaged beam has a mode that moves by 1.5 bins
  (6 Hz) or more.
* ``breathing crack``: a crack that opens and closes makes the stiffness bilinear, and the response gains
  harmonics. Simulated: the second harmonic of mode 2 (2 f_2 ≈ 82 Hz, where no mode lies), at 10–30% of
  mode 2's amplitude and decaying twice as fast (it grows with the square of mode 2's motion). A real
  crack would also add harmonics of the other modes and lower them slightly; those are left out so that
  the truth is one band.

The changed rows of a sample are measured, not assumed: the same beam and hammer hit are simulated
without the damage (its twin), and a row changed when the noise-free power of some cell after the hit
differs tenfold (10 dB) between the two, the noise's power counted on both sides (``changed_rows``). These
are the rows around each moved mode (its peak and the skirts of the window's main lobe, often mode 1's
rows too, which moves by under a bin but is the loudest) or around the added harmonic. Every sample is
a pure function of (seed, index).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

CLASSES = ("healthy", "stiffness loss", "breathing crack")
HEALTHY, STIFFNESS_LOSS, CRACK = range(3)
BETA_L = (1.8751040687, 4.6940911330, 7.8547574382, 10.9955407349)  # roots of cos x · cosh x = −1
YOUNG, DENSITY, THICKNESS, LENGTH = 210e9, 7850.0, 0.005, 0.8  # steel strip: Pa, kg/m³, m, m
SAMPLE_RATE, WINDOW, HOP = 512.0, 128, 32
ROWS = COLUMNS = 64
SAMPLES = WINDOW + (COLUMNS - 1) * HOP
BIN_HZ = SAMPLE_RATE / WINDOW  # 4 Hz per row
DYNAMIC_RANGE_DB = 80.0
SEGMENT = 0.1  # length of the damaged segment, as a share of L
TRAIN_SEED, VALIDATION_SEED, TEST_SEED, EXAMPLE_SEED = 21, 22, 23, 25


def modal_frequencies(length: float = LENGTH, thickness: float = THICKNESS, young: float = YOUNG,
                      density: float = DENSITY) -> np.ndarray:
    """f_n = (β_n L)² / (2π L²) · sqrt(EI / (ρA)) in Hz; for a rectangular section EI / (ρA) = E h² / (12 ρ)."""
    wave_speed = math.sqrt(young * thickness ** 2 / (12 * density))
    return np.array([beta ** 2 / (2 * math.pi * length ** 2) * wave_speed for beta in BETA_L])


def curvature(mode: int, x: np.ndarray) -> np.ndarray:
    """φ_n''(x) / β_n² of cantilever mode n (0-based) at x ∈ [0, 1] (units of L).

    φ_n = cosh βx − cos βx − σ_n (sinh βx − sin βx), σ_n = (cosh βL + cos βL) / (sinh βL + sin βL).
    """
    beta = BETA_L[mode]
    sigma = (math.cosh(beta) + math.cos(beta)) / (math.sinh(beta) + math.sin(beta))
    bx = beta * x
    return np.cosh(bx) + np.cos(bx) - sigma * (np.sinh(bx) + np.sin(bx))


def strain_energy_share(center: float, length: float = SEGMENT) -> np.ndarray:
    """e_n: the share of each mode's strain energy ∫ φ_n''² dx within center ± length/2 (units of L)."""
    x = np.linspace(0.0, 1.0, 4001)
    inside = np.abs(x - center) <= length / 2
    shares = []
    for mode in range(len(BETA_L)):
        energy = curvature(mode, x) ** 2
        shares.append(np.trapezoid(energy * inside, x) / np.trapezoid(energy, x))
    return np.array(shares)


def damaged_frequencies(frequencies: np.ndarray, center: float, loss: float) -> np.ndarray:
    """Rayleigh's first-order rule: f_n · sqrt(1 − d · e_n) for a stiffness loss ``loss`` = d at ``center``."""
    return frequencies * np.sqrt(1.0 - loss * strain_energy_share(center))


WINDOW_SHAPE = np.hanning(WINDOW + 2)[1:-1]  # a Hann window without its zero ends


def power(signal: np.ndarray) -> np.ndarray:
    """|STFT|²: ROWS × COLUMNS (row k = k · 4 Hz, column j = the window starting at sample j · HOP)."""
    frames = np.lib.stride_tricks.sliding_window_view(signal, WINDOW)[::HOP] * WINDOW_SHAPE
    return np.abs(np.fft.rfft(frames, axis=1)).T[:ROWS] ** 2


def spectrogram(signal: np.ndarray) -> np.ndarray:
    """|STFT|² in dB below its maximum, mapped from [−80, 0] dB to [0, 1]: ROWS × COLUMNS float32."""
    values = power(signal)
    decibels = 10 * np.log10(np.maximum(values, 1e-30) / values.max())
    return np.clip(1.0 + decibels / DYNAMIC_RANGE_DB, 0.0, 1.0).astype(np.float32)


CHANGE_DB = 10.0  # a cell changed when its power changed tenfold


def changed_rows(signal: np.ndarray, twin: np.ndarray, noise: float, first_sample: int) -> np.ndarray:
    """The rows where the noise-free spectrograms of a beam and of its undamaged twin differ visibly.

    A cell differs when its power changes by ≥ 10 dB (tenfold), counting the noise's power per cell
    (σ² · Σ w², white noise of standard deviation σ through the window w) on both sides, so changes
    buried in the noise do not count. Only frames after the hit (window start ≥ ``first_sample``) are
    compared: the hit itself is broadband in both.
    """
    floor = noise ** 2 * float(np.sum(WINDOW_SHAPE ** 2))
    after = np.arange(COLUMNS) * HOP >= first_sample
    ratio = (power(signal)[:, after] + floor) / (power(twin)[:, after] + floor)
    return (np.abs(10 * np.log10(ratio)) >= CHANGE_DB).any(axis=1)


@dataclass(frozen=True)
class BeamSample:
    """A spectrogram (ROWS×COLUMNS float32 in [0, 1]), its class and the rows that differ from the healthy beam."""

    matrix: np.ndarray
    label: int
    changed_rows: np.ndarray  # ROWS booleans; none for a healthy beam
    frequencies: np.ndarray  # the modes' frequencies in this sample (Hz), after any damage
    healthy_frequencies: np.ndarray  # the same beam's frequencies without damage
    added: tuple[float, ...] = ()  # frequencies of added harmonics (Hz)

    @property
    def name(self) -> str:
        return CLASSES[self.label]


def _draw_damage(rng: np.random.Generator, healthy: np.ndarray) -> np.ndarray:
    """A stiffness loss that moves at least one mode by ≥ 1.5 bins (else redrawn): the damaged frequencies."""
    while True:
        center, loss = rng.uniform(0.05, 0.65), rng.uniform(0.5, 0.9)
        damaged = damaged_frequencies(healthy, center, loss)
        if (healthy - damaged).max() >= 1.5 * BIN_HZ:
            return damaged


def make_sample(seed: int, index: int, label: int | None = None) -> BeamSample:
    """Sample ``index`` of the split drawn from ``seed``: a random class (or ``label``), beam and hammer hit."""
    rng = np.random.default_rng([seed, index, 7])
    label = int(rng.integers(len(CLASSES))) if label is None else label
    healthy = modal_frequencies() * (1.0 + rng.uniform(-0.01, 0.01))
    frequencies, added = healthy, []
    if label == STIFFNESS_LOSS:
        frequencies = _draw_damage(rng, healthy)
    elif label == CRACK:
        added = [2.0 * healthy[1]]
    amplitudes = 10.0 ** rng.uniform(-1.0, 0.0, len(frequencies))  # 0 to −20 dB per mode
    damping = rng.uniform(0.003, 0.01, len(frequencies))
    phases = rng.uniform(0, 2 * math.pi, len(frequencies))
    start = rng.uniform(0.2, 1.5)
    t = np.arange(SAMPLES) / SAMPLE_RATE - start
    after = t >= 0

    def ring(modes: np.ndarray) -> np.ndarray:
        """The free decay of the modes at ``modes`` (Hz) after the hit, noise-free."""
        signal = np.zeros(SAMPLES)
        for f, a, zeta, phase in zip(modes, amplitudes, damping, phases):
            omega = 2 * math.pi * f
            signal[after] += a * np.exp(-zeta * omega * t[after]) * np.sin(omega * t[after] + phase)
        return signal

    signal, twin = ring(frequencies), ring(healthy)  # the twin: the same beam and hit, undamaged
    for f in added:  # the harmonic: twice mode 2's frequency and decay rate
        omega, share = 2 * math.pi * f, rng.uniform(0.1, 0.3)
        decay = 2 * damping[1] * math.pi * healthy[1]
        signal[after] += share * amplitudes[1] * np.exp(-2 * decay * t[after]) * np.sin(omega * t[after])
    noise = 10.0 ** rng.uniform(-3.5, -2.5)  # 50 to 70 dB below a mode of amplitude 1
    changed = changed_rows(signal, twin, noise, int(np.ceil(start * SAMPLE_RATE)))
    matrix = spectrogram(signal + rng.normal(0.0, noise, SAMPLES))
    return BeamSample(matrix, label, changed, frequencies, healthy, tuple(added))


def make_batch(seed: int, start: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Samples ``start`` … ``start + count − 1`` as (N×1×ROWS×COLUMNS float32 in [0, 1], N labels): the input."""
    samples = [make_sample(seed, index) for index in range(start, start + count)]
    return np.stack([s.matrix for s in samples])[:, None], np.array([s.label for s in samples], np.int64)


# --- bundled examples --------------------------------------------------------------------------

EXAMPLES = (("beam_healthy", 0, HEALTHY), ("beam_stiffness_loss", 1, STIFFNESS_LOSS), ("beam_crack", 2, CRACK))


def example_sample(stem: str) -> BeamSample:
    """The held-out sample saved in ``assets/`` as ``stem``.npy / .json."""
    for name, index, label in EXAMPLES:
        if name == stem:
            return make_sample(EXAMPLE_SEED, index, label)
    raise KeyError(stem)
