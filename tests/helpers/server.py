"""The real app on a free local port, and talking to it the way a hand-written client (or an attacker) would:
raw HTTP, no gradio_client.

``launched_demo`` starts the app as ``app.py`` does. ``call`` uses the public ``/gradio_api/call/<api_name>``
route; ``open_job`` joins the queue for any event by its ``fn_index`` (private ones too) and keeps its
result stream open until the block ends, so a test can leave in the middle of a job as a closed browser
tab would.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import httpx

from benchmarks.load import free_port

if TYPE_CHECKING:
    import gradio as gr


@contextmanager
def launched_demo(queue_size: int = 16) -> Iterator[gr.Blocks]:
    """The real app (``ui.build_demo()`` with ``ui.launch_options()``, as ``app.py`` launches it) on a free
    local port with a queue of ``queue_size``; closed at the end of the block. Its URL: ``demo.local_url``."""
    from camdemo.app import ui

    demo = ui.build_demo()
    ui.with_queue(demo, max_size=queue_size).launch(server_name="127.0.0.1", server_port=free_port(),
                                                    prevent_thread_lock=True, quiet=True, **ui.launch_options())
    try:
        yield demo
    finally:
        demo.close()


def is_serving(url: str) -> bool:
    """Whether an app at ``url`` answers its info route (it has finished starting)."""
    try:
        return httpx.get(f"{url}gradio_api/info", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def wait_for(condition: Callable[[], object], seconds: float = 10) -> bool:
    """Poll ``condition`` every 50 ms for up to ``seconds``; whether it holds in the end."""
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return bool(condition())


def fn_index(demo: gr.Blocks, name: str) -> int:
    """The index of the event whose function is called ``name`` (or whose API name is ``name``)."""
    for index, block_fn in demo.fns.items():
        if block_fn.api_name == name or getattr(block_fn.fn, "__name__", None) == name:
            return index
    raise KeyError(name)


def call(url: str, api_name: str, data: list[Any], timeout: float = 120) -> tuple[str, str]:
    """POST raw ``data`` to ``/gradio_api/call/<api_name>`` and read the result stream: (event, its data)."""
    response = httpx.post(f"{url}gradio_api/call/{api_name}", content=json.dumps({"data": data}),  # NaN allowed
                          headers={"content-type": "application/json"}, timeout=30)
    response.raise_for_status()
    event_id = response.json()["event_id"]
    event = ""
    with httpx.stream("GET", f"{url}gradio_api/call/{api_name}/{event_id}", timeout=timeout) as stream:
        for line in stream.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                return event, line.split(":", 1)[1].strip()
    raise AssertionError("the stream ended without a result")


@contextmanager
def open_job(url: str, index: int, data: list[Any]) -> Iterator[list[dict]]:
    """Join the queue for event ``index`` with raw ``data``; yield the list its stream's messages arrive in.

    Leaving the block closes the stream: to the server, the page has gone.
    """
    session = uuid.uuid4().hex
    joined = httpx.post(f"{url}gradio_api/queue/join", timeout=30, json={
        "data": data, "fn_index": index, "session_hash": session, "event_data": None, "trigger_id": None})
    joined.raise_for_status()
    messages: list[dict] = []
    client = httpx.Client(timeout=None)
    response = client.send(client.build_request("GET", f"{url}gradio_api/queue/data",
                                                params={"session_hash": session}), stream=True)

    def read() -> None:
        try:
            for line in response.iter_lines():
                if line.startswith("data:"):
                    messages.append(json.loads(line[5:]))
        except (httpx.HTTPError, RuntimeError, ValueError):
            pass  # closed by the test

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield messages
    finally:
        response.close()
        client.close()
