"""The Gradio app: ``build_demo`` makes the page, ``with_queue`` and ``launch_options`` say how it is served.

A thin layer over camdemo's public API. The page is laid out in ``camdemo.app.layout`` (one module per tab),
its events are connected in ``camdemo.app.wiring`` to the handlers in ``camdemo.app.handlers``, and what it
shows is drawn and written by ``camdemo.app.views`` and ``camdemo.app.display`` (no Gradio there).
"""

from __future__ import annotations

import gradio as gr

import camdemo
from camdemo.app import serving
from camdemo.app.browser import PHONE_CSS, SELECT_ON_FOCUS
from camdemo.app.classes import ENTER_SENDS_TEXT
from camdemo.app.downloads import pending_write
from camdemo.app.extra_models import register_extra_models
from camdemo.app.layout.page import build_page
from camdemo.app.wiring import wire

MAX_FILE_SIZE = "50mb"
# Gradio keeps a copy of the page's components per session (about 100 KB here, measured) for up to
# 10,000 sessions by default, i.e. ~1 GB on a public Space over time. A session dropped from this LRU
# (1,000 other visitors used the app since) forgets its last result: a colormap change then does nothing
# until the next Explain.
SESSION_CAPACITY = 1000
# Gradio copies every upload and every output file into its cache and, by default, never deletes them
# (nor forgets their names): every 10 minutes, files older than an hour go.
CACHE_CLEANUP = (600, 3600)
QUEUE_SIZE = 64  # Gradio's queue: requests waiting for one of its worker threads (model work waits in camdemo.app.jobs)
QUEUE_FULL = "The server is very busy right now: too many requests are waiting. Please try again in a minute."


def build_demo() -> gr.Blocks:
    """Build the Blocks app; ``app.py`` launches it with ``launch_options()``. The operator's own models
    (``CAMDEMO_EXTRA_MODELS``, ``camdemo.app.extra_models``) are registered first."""
    register_extra_models()
    with gr.Blocks(title="camdemo: explain image classifiers", delete_cache=CACHE_CLEANUP) as demo:
        page = build_page(camdemo.DEFAULT_BACKBONE, camdemo.DEFAULT_METHOD)
        wire(demo, page)
    return demo


def with_queue(demo: gr.Blocks, max_size: int = QUEUE_SIZE) -> gr.Blocks:
    """``demo.queue(max_size)``, with a message for people when the queue is full (Gradio's names its sizes)."""
    demo.queue(max_size=max_size)
    gradio_queue = demo._queue
    push = gradio_queue.push

    async def push_or_refuse(*args, **kwargs):
        accepted, detail, state = await push(*args, **kwargs)
        if state == "queue_full":
            detail = QUEUE_FULL
        return accepted, detail, state

    gradio_queue.push = push_or_refuse  # type: ignore[method-assign]  # Gradio has no hook for this message
    return demo


def launch_options() -> dict:
    """Safe defaults: bounded uploads, no server files exposed beyond Gradio's own cache, errors shown."""
    return dict(max_file_size=MAX_FILE_SIZE, show_error=True, allowed_paths=[], ssr_mode=False,
                head=SELECT_ON_FOCUS + ENTER_SENDS_TEXT, css=PHONE_CSS, state_session_capacity=SESSION_CAPACITY,
                run_history=False,  # no uploads kept in shared classroom browsers
                app_kwargs=serving.app_kwargs(MAX_FILE_SIZE, pending=pending_write))  # camdemo.app.serving
