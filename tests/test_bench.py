"""The benchmark script runs and prints its table (timings themselves are never asserted: no timed tests)."""

from __future__ import annotations

import pytest

from benchmarks import speed as bench

pytestmark = pytest.mark.slow  # benchmark tables: every backbone and method, timed passes


@pytest.mark.parametrize("backbone, explained", [("shapes_gapnet", 0), ("efficientnet_lite0", 285)])
def test_speed_table_runs_for_any_backbone(backbone, explained, capsys):
    assert bench.bench_classes(backbone)[0] == explained
    bench.speed(backbone, repeats=1, threads=1, device="cpu", peers=False, memory=False)
    table = capsys.readouterr().out
    assert f"class {explained}," in table and "| forward pass, no gradients (floor) | torch |" in table
    assert "| CAM at " in table and "| Grad-CAM at " in table and "| Saliency | camdemo |" in table
    assert "another class" in table and "restyle" in table


def test_multi_pass_table_runs(capsys):
    """The slow methods get their own table (a single run here, on the small teaching network)."""
    bench.speed("shapes_gapnet", repeats=1, threads=1, device="cpu", peers=False, memory=False, multi_pass=True)
    table = capsys.readouterr().out
    for name in ("Score-CAM at features, 256 channels", "Integrated Gradients", "SmoothGrad (saliency), 25 samples",
                 "Occlusion, patch 32, stride 16"):
        assert f"| {name}" in table


def test_reduced_precision_rows_follow_and_only_for_methods_that_honor_it(capsys):
    bench.speed("shapes_gapnet", repeats=1, threads=1, device="cpu", peers=False, memory=False, precision="half")
    table = capsys.readouterr().out
    assert "| forward pass, no gradients, bfloat16 | torch |" in table
    assert "| Grad-CAM at features, bfloat16 | camdemo |" in table and "| CAM at features, bfloat16 |" in table
    assert "| Saliency, bfloat16" not in table and "| Saliency | camdemo |" in table
