"""Model work for one visitor: run in its lane (``camdemo.app.jobs``), with Gradio's progress bar, stopped when
the visitor's page has gone."""

from __future__ import annotations

import contextvars
from typing import Any, Callable

import gradio as gr

import camdemo
from camdemo.app.jobs import Progress, lanes


def session_of(request: gr.Request | None) -> str:
    """The visitor's page session (``"local"`` when called directly, from Python or a test)."""
    return getattr(request, "session_hash", None) or "local"


def client_gone(request: gr.Request | None) -> Callable[[], bool]:
    """A check that is True once the page that sent ``request`` has gone (Gradio marks its jobs not alive)."""
    try:
        gradio_queue = request.app.get_blocks()._queue  # type: ignore[union-attr]
        session = request.session_hash  # type: ignore[union-attr]
    except (AttributeError, TypeError):  # called directly (tests, notebooks): no client to lose
        return lambda: False

    def gone() -> bool:
        return any(job.session_hash == session and not job.alive
                   for jobs in list(gradio_queue.active_jobs) for job in list(jobs or ()))
    return gone


def progress_reporter(progress: gr.Progress | None) -> Progress | None:
    """A ``progress(fraction, text)`` callback for the engine that updates Gradio's progress bar.

    Call it in the handler's thread: Gradio finds the event a progress update belongs to through context
    variables, which the lanes' worker threads do not have, so the callback carries the handler's context.
    """
    if progress is None:
        return None
    context = contextvars.copy_context()
    return lambda fraction, text: context.run(progress, fraction, desc=text)


def on_model(function: Callable[[Progress], Any], request: gr.Request | None = None, fast: bool = False,
             progress: gr.Progress | None = None, tag: str = "") -> Any:
    """Run ``function(progress)`` in its lane for the visitor of ``request`` and wait for the result.

    ``function`` gets a ``progress(fraction, text)`` callback where it stops if its page has gone, if it runs
    past the time limit or if the server shuts down. ``CamdemoError`` (also a refusal) becomes a message.
    A ``tag`` allows the visitor one such job at a time, and lets ``stop_mine`` stop it.
    """
    try:
        return lanes().run(function, session=session_of(request), fast=fast, client_gone=client_gone(request),
                           progress=progress_reporter(progress), tag=tag)
    except camdemo.CamdemoError as error:
        raise gr.Error(str(error), print_exception=False) from None


def stop_mine(request: gr.Request | None, tag: str, reason: str) -> int:
    """Stop the visitor's jobs tagged ``tag`` at their next step (a Stop button); how many were told."""
    return lanes().stop(session_of(request), tag, reason)
