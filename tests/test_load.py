"""Several clients at once through the real server: no errors, and every answer equals its answer alone."""

from __future__ import annotations

import os

import pytest

from benchmarks.load import request_mix, resident_mb, run_load


@pytest.mark.slow
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


@pytest.mark.slow
def test_identical_requests_at_once_all_arrive_whole(server):
    """A class clicking the same example: identical outputs at the same moment must all download whole.

    With image arrays, Gradio 6.31 re-writes a content-named cache file in place while another client
    may be reading it (seen as "received 0 bytes" under load); the app returns files, which Gradio copies
    atomically.
    """
    import threading

    import numpy as np
    from gradio_client import Client

    from benchmarks.load import Request, call

    request = Request("shapes_two.png", "shapes_gapnet", "gradcam", "auto")
    clients = [Client(server, verbose=False) for _ in range(8)]
    barrier = threading.Barrier(len(clients))
    results, errors = [], []

    def user(client):
        barrier.wait()
        for _ in range(3):
            try:
                results.append(call(client, request)[0])
            except Exception as error:  # collected: every failure is reported below
                errors.append(error)

    threads = [threading.Thread(target=user, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(results) == 24
    assert all(np.array_equal(result, results[0]) for result in results)


def test_a_session_stays_the_same_size_however_many_requests_it_sends(served_demo):
    """Gradio 6.31 keeps a per-session copy of each component a handler updates, and every *property*
    update (``gr.Dropdown(value=...)`` or ``gr.update(value=...)``) adds the new copy under a new id for
    as long as the session lives. Results set the class as a plain value, so a session stays the same
    size however many results it gets (before: one 1,000-choice dropdown more per request).
    """
    from gradio_client import Client

    from benchmarks.load import Request, call

    client = Client(served_demo.local_url, verbose=False)
    requests = [Request("shapes_star.png", "shapes_gapnet", "cam", "auto"),
                Request("shapes_two.png", "shapes_gapnet", "gradcam", "3")]
    for request in requests:
        call(client, request)
    session = served_demo.state_holder.session_data[client.session_hash]
    blocks, file_sets = len(session.blocks_config.blocks), len(served_demo.temp_file_sets)
    for request in requests * 3:
        call(client, request)
    assert len(session.blocks_config.blocks) == blocks
    assert len(served_demo.temp_file_sets) == file_sets


def test_the_server_bounds_its_sessions_and_its_file_cache(served_demo):
    """Each visitor's session costs Gradio about 100 KB; the oldest are dropped beyond ``SESSION_CAPACITY``.
    Uploads and outputs copied into Gradio's cache are deleted once older than an hour."""
    from camdemo.app import ui

    assert served_demo.state_holder.capacity == ui.SESSION_CAPACITY <= 1000
    frequency, age = served_demo.delete_cache
    assert (frequency, age) == ui.CACHE_CLEANUP and frequency <= age <= 24 * 3600
