"""Looking inside the network: activation maximization, content reconstruction, Deep Dream and the shipped gallery.

Each test pins what the method teaches, on the teaching network (ShapesGapNet, 96-pixel inputs) with few steps so
that the fast tier stays fast; the real backbones come in the slow tier and in ``python -m benchmarks.inside``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import camdemo
from camdemo.inside import gallery
from camdemo.inside.probe import probe
from camdemo.models import load_model

from tests.helpers import ASSETS
from tests.helpers.methods import assert_no_hooks, training_modes

SHAPES = "shapes_gapnet"


def channel_means(backbone: str, layer: str, channel: int, pictures: list[np.ndarray], size: int | None = None):
    """The channel's mean activation on each H×W×3 uint8 picture (resized to ``size``² first, if given)."""
    found = probe(backbone, layer)
    if size is not None:
        pictures = [np.asarray(Image.fromarray(p).resize((size, size), Image.BILINEAR)) for p in pictures]
    inputs = torch.cat([found.normalize(torch.from_numpy(np.array(p)).permute(2, 0, 1)[None].float() / 255)
                        for p in pictures])
    with torch.no_grad(), found.reader() as read:
        return read(inputs)[:, channel].mean(dim=(1, 2)).tolist()


def noise_pictures(count: int, size: int, seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(count)]


class Untouched:
    """The shared model's parameters (values and requires_grad), modes and hooks, to compare after a call."""

    def __init__(self, backbone: str):
        self.model = load_model(backbone)
        self.modes = training_modes(self.model)
        self.params = {name: (p.detach().clone(), p.requires_grad) for name, p in self.model.named_parameters()}

    def check(self) -> None:
        assert_no_hooks(self.model)
        assert training_modes(self.model) == self.modes
        for name, p in self.model.named_parameters():
            value, requires_grad = self.params[name]
            assert p.requires_grad == requires_grad and p.grad is None, name
            assert torch.equal(p.detach(), value), name


# --- the parameterization and the transforms ---------------------------------------------------------------


def test_the_fourier_scale_is_one_over_frequency_clamped_at_the_lowest():
    """8×8: s(f) = √64 / max(|f|, 1/8). At f = (0, 1/8): 8 / (1/8) = 64; at f = 0 the clamp gives 64 too; at
    f = (1/8, 1/8): 8 / (√2/8) = 64/√2; at f = (1/2, 1/2) (the corner): 8 / (√2/2) = 8√2."""
    from camdemo.inside.parameterization import frequency_scale

    scale = frequency_scale(8, 8)
    assert scale.shape == (8, 5)
    assert scale[0, 0].item() == pytest.approx(64) and scale[0, 1].item() == pytest.approx(64)
    assert scale[1, 1].item() == pytest.approx(64 / 2 ** 0.5)
    assert scale[4, 4].item() == pytest.approx(8 * 2 ** 0.5)


def test_a_fixed_contrast_image_keeps_its_contrast_and_the_transforms_keep_the_size_rule():
    from camdemo.inside.parameterization import FourierImage
    from camdemo.inside.transforms import Robustness

    generator = torch.Generator().manual_seed(0)
    image = FourierImage(2, 64, 64, generator=generator, contrast=1.5)
    with torch.no_grad():
        image.spectrum.mul_(100)  # what many steps of ascent would do to the spectrum's size
        rgb = image.rgb()
    assert rgb.shape == (2, 3, 64, 64) and 0 < rgb.min() and rgb.max() < 1
    assert ((rgb - 0.5).abs() > 0.45).float().mean() < 0.1  # σ(1.5·z) saturates only the tails
    moved = Robustness().apply(rgb, torch.Generator().manual_seed(1))
    # 64 px is 2/7 of 224: pad 3, jitters 2 and 1 → 64 + 6 − 2 − 1 = 67
    assert moved.shape == (2, 3, 67, 67)


# --- activation maximization ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_synthesized_image_excites_its_channel_far_more_than_noise_and_the_examples():
    """48 steps on ShapesGapNet's ``features`` channel 48 (the one the shapes examples excite most, in the gallery):
    measured 3.3 on the starting noise → 19.8, against 0.5–1.7 on the four shapes examples and < 0.1 on uniform
    noise."""
    before = Untouched(SHAPES)
    result = camdemo.maximize_activation(backbone=SHAPES, layer="features", channel=48, steps=48, size=64, seed=0)
    before.check()
    assert result.image.shape == (64, 64, 3) and result.image.dtype == np.uint8
    assert result.value > 3 * result.start_value
    examples = channel_means(SHAPES, "features", 48, gallery.example_pictures(SHAPES), size=96)
    noise = channel_means(SHAPES, "features", 48, noise_pictures(4, 64))
    assert result.value > 5 * max(examples) and result.value > 50 * max(max(noise), 0.01)
    assert result.value == pytest.approx(channel_means(SHAPES, "features", 48, [result.image])[0], rel=1e-4)


@pytest.mark.slow
def test_same_seed_same_image_and_another_seed_another():
    settings = dict(backbone=SHAPES, layer="block2", channel=3, steps=6, size=48)
    first = camdemo.maximize_activation(**settings, seed=7)
    again = camdemo.maximize_activation(**settings, seed=7)
    other = camdemo.maximize_activation(**settings, seed=8)
    assert np.array_equal(first.image, again.image) and first.value == again.value
    assert not np.array_equal(first.image, other.image)


@pytest.mark.slow
def test_a_class_score_and_a_neuron_can_be_maximized():
    cls = camdemo.maximize_activation(backbone=SHAPES, class_index=2, steps=24, size=64)
    assert cls.layer == "logits" and cls.objective == "class" and cls.value > cls.start_value + 5
    neuron = camdemo.maximize_activation(backbone=SHAPES, layer="features", channel=48, neuron=True, steps=24,
                                         size=64)
    assert neuron.objective == "neuron" and neuron.value > neuron.start_value + 1


# --- content reconstruction -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_reconstruction_matches_the_activations_and_deeper_layers_keep_less_of_the_picture():
    """60 steps per layer on a shapes scene: measured loss 0.85 → 0.021 at ``stem`` and 0.99 → 0.074 at
    ``features``; pixel error 0.05 at ``stem`` against 0.23 at ``features``."""
    before = Untouched(SHAPES)
    result = camdemo.reconstruct(ASSETS / "shapes_two.png", backbone=SHAPES, layers=["stem", "features"], steps=60,
                                 size=96)
    before.check()
    stem, features = result.layers
    assert result.original.shape == stem.image.shape == (96, 96, 3)
    for layer in result.layers:
        assert layer.loss < 0.25 * layer.start_loss, layer
    assert stem.pixel_error < 0.1 and features.pixel_error > 2 * stem.pixel_error


def test_default_layers_go_from_early_to_late():
    assert camdemo.inside.default_layers(SHAPES) == ["stem", "block1", "block2", "features"]
    assert camdemo.inside.default_layers("efficientnet_lite0") == ["blocks.0", "blocks.4", "blocks.14", "head"]


# --- Deep Dream ----------------------------------------------------------------------------------------------


def test_deep_dream_increases_the_layer_strength_and_keeps_the_picture():
    before = Untouched(SHAPES)
    result = camdemo.deep_dream(ASSETS / "shapes_two.png", backbone=SHAPES, layer="block1", octaves=2, steps=4)
    before.check()
    assert result.image.shape == result.original.shape == (96, 96, 3)
    assert result.value > 1.5 * result.start_value
    difference = np.abs(result.image.astype(float) - result.original).mean() / 255
    assert 0.01 < difference < 0.3  # changed, yet still the same scene


def test_deep_dream_keeps_the_aspect_ratio_and_the_largest_side():
    wide = np.asarray(Image.open(ASSETS / "rocket.jpg").convert("RGB"))
    result = camdemo.deep_dream(wide, backbone=SHAPES, layer="block1", octaves=1, steps=1, max_side=80)
    assert max(result.image.shape[:2]) == 80
    assert result.image.shape[1] / result.image.shape[0] == pytest.approx(wide.shape[1] / wide.shape[0], rel=0.05)


# --- safety: cancellation and bad inputs -------------------------------------------------------------------------


def _cancel_after(calls: int):
    seen = []

    def progress(fraction: float, text: str) -> None:
        seen.append(text)
        if len(seen) >= calls:
            raise camdemo.Cancelled("Stopped: the test asked.")
    return progress


@pytest.mark.parametrize("run", [
    lambda progress: camdemo.maximize_activation(backbone=SHAPES, layer="block2", steps=200, size=48,
                                                 progress=progress),
    lambda progress: camdemo.reconstruct(ASSETS / "shapes_two.png", backbone=SHAPES, layers=["block1"], steps=200,
                                         size=48, progress=progress),
    lambda progress: camdemo.deep_dream(ASSETS / "shapes_two.png", backbone=SHAPES, octaves=2, steps=20,
                                        progress=progress),
], ids=["maximize", "reconstruct", "dream"])
def test_a_cancelled_run_raises_cancelled_and_leaves_the_model_clean(run):
    before = Untouched(SHAPES)
    with pytest.raises(camdemo.Cancelled, match="the test asked"):
        run(_cancel_after(3))
    before.check()


@pytest.mark.slow
def test_the_cached_imagenet_model_is_untouched_by_all_three():
    """On EfficientNet-Lite0 (the default backbone), a few steps of each: parameters, modes and hooks as before."""
    before = Untouched("efficientnet_lite0")
    camdemo.maximize_activation(layer="blocks.4", channel=5, steps=2, size=64)
    camdemo.reconstruct(ASSETS / "chelsea_cat.jpg", layers=["blocks.2"], steps=2, size=64)
    camdemo.deep_dream(ASSETS / "chelsea_cat.jpg", layer="blocks.4", octaves=1, steps=1, max_side=96)
    before.check()


@pytest.mark.parametrize("call, message", [
    (lambda: camdemo.maximize_activation(backbone=SHAPES, layer="nope"), "'nope' is not a layer of ShapesGapNet"),
    (lambda: camdemo.maximize_activation(backbone=SHAPES, layer="features", channel=96),
     r"channel of 'features' .* from 0 to 95; 96 was given"),
    (lambda: camdemo.maximize_activation(backbone=SHAPES, layer="features", channel=-1), "from 0 to 95"),
    (lambda: camdemo.maximize_activation(backbone=SHAPES, class_index=8), r"class of 'logits' .* from 0 to 7"),
    (lambda: camdemo.maximize_activation(backbone=SHAPES, layer="stem", class_index=1), "leave the layer out"),
    (lambda: camdemo.maximize_activation(backbone=SHAPES, steps=0), "number of steps must be a whole number from 1"),
    (lambda: camdemo.maximize_activation(backbone=SHAPES, steps=2.5), "number of steps must be a whole number"),
    (lambda: camdemo.maximize_activation(backbone=SHAPES, size=8), "image size must be a whole number from 32"),
    (lambda: camdemo.maximize_activation(backbone="nonet"), "Unknown backbone 'nonet'"),
    (lambda: camdemo.reconstruct(np.zeros((16, 16, 3), np.uint8), backbone=SHAPES, steps=1), "16"),
    (lambda: camdemo.reconstruct(ASSETS / "shapes_two.png", backbone=SHAPES, layers=[]), "from 1 to 8 layers"),
    (lambda: camdemo.reconstruct(ASSETS / "shapes_two.png", backbone=SHAPES, layers=["stem", "nope"]),
     "'nope' is not a layer"),
    (lambda: camdemo.reconstruct(b"not an image", backbone=SHAPES), "image"),
    (lambda: camdemo.deep_dream(ASSETS / "shapes_two.png", backbone=SHAPES, octaves=0), "octaves"),
    (lambda: camdemo.deep_dream(ASSETS / "shapes_two.png", backbone=SHAPES, octave_scale=1.0), "above 1"),
    (lambda: camdemo.deep_dream(ASSETS / "shapes_two.png", backbone=SHAPES, max_side=5000), "largest side"),
    (lambda: camdemo.inside_cost("paint"), "Unknown kind 'paint'"),
])
def test_bad_inputs_get_sentences(call, message):
    with pytest.raises(camdemo.CamdemoError, match=message):
        call()
    assert_no_hooks(load_model(SHAPES))


def test_the_cost_grows_with_steps_size_layers_and_octaves():
    one = camdemo.inside_cost("maximize", backbone="efficientnet_lite0", steps=128, size=112)
    assert one.passes == pytest.approx(128 / 4)
    assert camdemo.inside_cost("reconstruct", backbone="efficientnet_lite0", steps=128, size=112,
                               layers=3).passes == pytest.approx(3 * one.passes)
    assert camdemo.inside_cost("dream", backbone="efficientnet_lite0", steps=10, size=224, octaves=2).passes == \
        pytest.approx(10 * (1 + 1.4 ** -2))


# --- the shipped gallery --------------------------------------------------------------------------------------


def test_the_shipped_index_matches_the_files_and_the_chosen_layers():
    index = json.loads(gallery.INDEX.read_text())
    entries = camdemo.channel_gallery()
    named = {entry.file for entry in entries}
    on_disk = {str(path.relative_to(gallery.GALLERY_DIR)) for path in gallery.GALLERY_DIR.rglob("*.jpg")}
    assert named == on_disk and len(named) == len(entries)
    assert index["criterion"] == gallery.CRITERION and index["settings"] == gallery.SETTINGS
    for backbone, layers in gallery.GALLERY_LAYERS.items():
        mine = camdemo.channel_gallery(backbone)
        assert [entry.layer for entry in mine] == [layer for layer in layers for _ in range(gallery.CHANNELS)]
        for entry in mine:
            with Image.open(entry.path) as picture:
                assert picture.format == "JPEG" and picture.size == (entry.size, entry.size)
            assert entry.path.stat().st_size < 20_000
    assert sum(path.stat().st_size for path in gallery.GALLERY_DIR.rglob("*")) < 1_000_000


def _check_gallery(backbone: str) -> None:
    """Every shipped picture excites its channel more than noise and the example pictures do, and the channels are
    the strongest on the examples (the documented criterion)."""
    pictures = gallery.example_pictures(backbone)
    for layer in gallery.GALLERY_LAYERS[backbone]:
        entries = [entry for entry in camdemo.channel_gallery(backbone) if entry.layer == layer]
        assert [(entry.channel, entry.examples_mean) for entry in entries] == \
            [(channel, pytest.approx(mean, abs=1e-3)) for channel, mean in gallery.strongest_channels(backbone, layer)]
        for entry in entries:
            shipped = np.asarray(Image.open(entry.path).convert("RGB"))
            (value,) = channel_means(backbone, layer, entry.channel, [shipped])
            noise = channel_means(backbone, layer, entry.channel, noise_pictures(3, entry.size))
            examples = channel_means(backbone, layer, entry.channel, pictures, size=entry.size)
            assert value > max(noise) and value > max(np.mean(examples), entry.examples_mean), (entry, value)
            assert value == pytest.approx(entry.value, rel=0.25)  # JPEG changes it a little


@pytest.mark.slow
def test_the_shipped_shapes_gallery_excites_its_channels():
    _check_gallery(SHAPES)


@pytest.mark.slow
@pytest.mark.parametrize("backbone", ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"])
def test_the_shipped_imagenet_galleries_excite_their_channels(backbone):
    _check_gallery(backbone)


# --- the command line ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_command_line_writes_the_pictures_and_refuses_bad_settings(tmp_path):
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "camdemo", *args], capture_output=True, text=True, timeout=300)

    done = run("maximize", "--backbone", SHAPES, "--layer", "block2", "--channel", "3", "--steps", "8", "--size",
               "48", "--quiet", "--out", str(tmp_path / "c.png"))
    assert done.returncode == 0, done.stderr
    assert Image.open(tmp_path / "c.png").size == (48, 48)
    done = run("reconstruct", str(ASSETS / "shapes_two.png"), "--backbone", SHAPES, "--layers", "stem,features",
               "--steps", "4", "--quiet", "--out", str(tmp_path / "r"))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == \
        ["shapes_two_features.png", "shapes_two_original.png", "shapes_two_stem.png"]
    done = run("dream", str(ASSETS / "shapes_two.png"), "--backbone", SHAPES, "--octaves", "1", "--steps", "2",
               "--quiet", "--out", str(tmp_path / "d.png"))
    assert done.returncode == 0 and Image.open(tmp_path / "d.png").size == (96, 96), done.stderr
    done = run("maximize", "--backbone", SHAPES, "--layer", "nope", "--quiet")
    assert done.returncode == 2 and "'nope' is not a layer" in done.stderr


# --- the app ---------------------------------------------------------------------------------------------------


def test_a_visitor_runs_one_inside_job_at_a_time_and_stop_stops_it():
    """The lanes' tag: a second tagged job of the same visitor is refused; ``stop`` ends the running one."""
    import threading

    from camdemo.app.jobs import Busy, Lanes

    lanes = Lanes()
    started = threading.Event()
    outcome: list[BaseException] = []

    def long_job(progress):
        started.set()
        while True:
            progress(0.5, "working")
            threading.Event().wait(0.01)

    def first():
        try:
            lanes.run(long_job, session="visitor", fast=False, tag="inside")
        except BaseException as error:  # noqa: BLE001  (the test inspects it)
            outcome.append(error)

    worker = threading.Thread(target=first)
    worker.start()
    assert started.wait(10)
    with pytest.raises(Busy, match="already have one of these running"):
        lanes.run(lambda progress: None, session="visitor", fast=False, tag="inside")
    assert lanes.run(lambda progress: "other visitor", session="someone else", fast=True, tag="inside") == \
        "other visitor"
    assert lanes.stop("visitor", "inside", "Stopped: you pressed Stop.") == 1
    worker.join(10)
    assert len(outcome) == 1 and isinstance(outcome[0], camdemo.Cancelled) and "pressed Stop" in str(outcome[0])
    lanes.shutdown()


def test_the_tab_shows_the_gallery_at_once_and_its_endpoints_answer(server):
    import httpx
    from gradio_client import Client, handle_file

    config = httpx.get(f"{server}config", timeout=30).json()
    galleries = [c for c in config["components"] if c.get("type") == "gallery"
                 and "respond to" in str(c.get("props", {}).get("label", ""))]
    (shown,) = galleries
    items = shown["props"]["value"]
    assert len(items) == len(camdemo.channel_gallery(camdemo.DEFAULT_BACKBONE))
    picture = items[0]["image"]
    assert httpx.get(picture["url"], timeout=30).status_code == 200
    client = Client(server, verbose=False)
    image, text = client.predict("shapes_gapnet", "block2", 3, False, 16, api_name="/maximize")
    assert Image.open(image).size == (96, 96) and "channel 3" in text and "block2" in text
    shown, download, text = client.predict(handle_file(str(ASSETS / "shapes_two.png")), "shapes_gapnet", "block1",
                                           1, 2, api_name="/dream")
    assert Image.open(download).format == "PNG" and "block1" in text
    gallery_items, table = client.predict(handle_file(str(ASSETS / "shapes_two.png")), "shapes_gapnet",
                                          ["stem", "features"], 20, api_name="/reconstruct")
    assert len(gallery_items) == 3 and "`features`" in table
    with pytest.raises(Exception, match="from 0 to 95"):
        client.predict("shapes_gapnet", "features", 500, False, 16, api_name="/maximize")
    eight = [info.name for info in camdemo.layers("efficientnet_lite2")][:8]  # estimated 58 s: refused at once
    with pytest.raises(Exception, match="more than this server allows"):
        client.predict(handle_file(str(ASSETS / "shapes_two.png")), "efficientnet_lite2", eight, 400,
                       api_name="/reconstruct")
    client.close()
