"""Several clients at once through the real server: no errors, and every answer equals its answer alone."""

from __future__ import annotations

import os

from camdemo.load import request_mix, resident_mb, run_load


def test_concurrent_clients_get_exactly_their_answers_alone(server):
    report = run_load(server, clients=4, requests_per_client=4, seed=11, pid=os.getpid())
    assert report.errors == [] and report.wrong == []
    assert len(report.latencies) == 16 and report.distinct >= 8
    assert report.memory_after_mb < 2 * report.memory_before_mb  # the bounded check is the 500-request run


def test_request_mix_covers_backbones_methods_and_classes():
    mix = request_mix(200, seed=0)
    assert {r.backbone for r in mix} == {"efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2",
                                         "shapes_gapnet"}
    assert {r.method for r in mix} == {"cam", "gradcam", "saliency"}
    assert len({r.class_choice for r in mix}) >= 6
    assert all(r.image.startswith("shapes_") == (r.backbone == "shapes_gapnet") for r in mix)
    assert resident_mb(os.getpid()) > 0
