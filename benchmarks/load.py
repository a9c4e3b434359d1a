"""Many users at once: ``python -m benchmarks.load [--clients 8] [--requests 25]``.

Starts the app as its own process (or uses ``--url`` and ``--pid`` of a running one), then:

1. runs every distinct request once, alone, one after another: the reference answers;
2. runs N concurrent ``gradio_client`` clients, each sending M requests that mix images, backbones,
   methods and classes;
3. checks every concurrent answer against the reference for the same request: the float heatmap
   (the ``.npy`` download, not the lossy picture) must be identical, and so must the class;
4. reports throughput, p50/p95 latency, errors, wrong results and the server's memory (resident set)
   after the reference pass and at the end.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from camdemo.assets import ASSETS_DIR

PHOTOS = ["chelsea_cat.jpg", "coffee.jpg", "cat_and_coffee.jpg", "rocket.jpg", "astronaut.jpg"]
SHAPES = ["shapes_star.png", "shapes_heart.png", "shapes_arrow.png", "shapes_two.png"]
LAYERS = {"efficientnet_lite0": "head", "efficientnet_lite1": "head", "efficientnet_lite2": "head",
          "shapes_gapnet": "features"}


@dataclass(frozen=True)
class Request:
    image: str
    backbone: str
    method: str
    class_choice: str


def request_mix(count: int, seed: int = 0) -> list[Request]:
    """``count`` requests over offline backbones, all three methods and several classes (some repeats)."""
    rng = np.random.default_rng(seed)
    mix = []
    for _ in range(count):
        backbone = str(rng.choice(list(LAYERS)))
        image = str(rng.choice(SHAPES if backbone == "shapes_gapnet" else PHOTOS))
        method = str(rng.choice(["cam", "gradcam", "saliency"]))
        classes = ["auto", "0", "3", "5"] if backbone == "shapes_gapnet" else ["auto", "285", "967", "504", "281"]
        mix.append(Request(image, backbone, method, str(rng.choice(classes))))
    return mix


def call(client, request: Request) -> tuple[np.ndarray, str]:
    """One explain call through the API; returns the float heatmap and the summary line."""
    from gradio_client import handle_file

    outputs = client.predict(handle_file(str(ASSETS_DIR / request.image)), request.backbone,
                             LAYERS[request.backbone], request.method, request.class_choice, "jet", 0.5, True,
                             api_name="/explain")
    return np.load(outputs[6]), outputs[3]


def resident_mb(pid: int) -> float:
    """Resident memory of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no VmRSS for process {pid}")


@dataclass
class LoadReport:
    clients: int
    requests_per_client: int
    distinct: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    memory_before_mb: float | None = None
    memory_after_mb: float | None = None

    @property
    def total(self) -> int:
        return self.clients * self.requests_per_client

    def table(self) -> str:
        lat = sorted(self.latencies) or [float("nan")]
        p95 = lat[min(len(lat) - 1, int(round(0.95 * (len(lat) - 1))))]
        lines = [
            "| clients × requests | distinct requests | throughput | p50 latency | p95 latency | errors "
            "| wrong results | server memory before → after |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            f"| {self.clients} × {self.requests_per_client} = {self.total} | {self.distinct} | "
            f"{self.total / self.seconds:.1f} req/s | {statistics.median(lat):.2f} s | {p95:.2f} s | "
            f"{len(self.errors)} | {len(self.wrong)} | " + (
                f"{self.memory_before_mb:.0f} → {self.memory_after_mb:.0f} MB "
                f"({100 * (self.memory_after_mb / self.memory_before_mb - 1):+.1f}%) |"
                if self.memory_before_mb else "— |"),
        ]
        return "\n".join(lines)


def run_load(url: str, clients: int = 8, requests_per_client: int = 25, seed: int = 0,
             pid: int | None = None) -> LoadReport:
    """The whole check against a running server at ``url`` (its process ``pid`` for memory, if given)."""
    from gradio_client import Client

    plans = [request_mix(requests_per_client, seed + i) for i in range(clients)]
    distinct = sorted({request for plan in plans for request in plan}, key=repr)
    reference_client = Client(url, verbose=False)
    reference = {request: call(reference_client, request)[0] for request in distinct}
    report = LoadReport(clients, requests_per_client, len(distinct), 0.0)
    report.memory_before_mb = resident_mb(pid) if pid else None
    lock = threading.Lock()
    barrier = threading.Barrier(clients)

    def user(plan: list[Request]) -> None:
        client = Client(url, verbose=False)
        barrier.wait()
        for request in plan:
            started = time.perf_counter()
            try:
                heatmap, _ = call(client, request)
            except Exception as error:  # reported, never raised: a load test counts failures
                with lock:
                    report.errors.append(f"{request}: {error}")
                continue
            elapsed = time.perf_counter() - started
            with lock:
                report.latencies.append(elapsed)
                if not np.array_equal(heatmap, reference[request]):
                    report.wrong.append(str(request))

    threads = [threading.Thread(target=user, args=(plan,)) for plan in plans]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report.seconds = time.perf_counter() - started
    report.memory_after_mb = resident_mb(pid) if pid else None
    return report


def fn_index(url: str, api_name: str) -> int:
    """The index of the running app's event whose API name is ``api_name`` (for raw queue calls)."""
    import httpx

    dependencies = httpx.get(f"{url}config", timeout=10).json()["dependencies"]
    return next(dependency["id"] for dependency in dependencies if dependency.get("api_name") == api_name)


def latency(url: str, count: int = 30, with_gradio_client: bool = False) -> tuple[float, float]:
    """p50 and p95 seconds from upload to result for Grad-CAM on EfficientNet-Lite0, one 1-megapixel JPEG.

    As a browser does it: upload the file, join the queue, read the result stream, then fetch the three
    pictures the page shows (original, overlay, heatmap); the download buttons' files are fetched only
    when someone clicks them, so not here. ``with_gradio_client``: the upload and the call through
    ``gradio_client`` instead, which polls its stream every 50 ms and so adds its own waiting.
    """
    import json
    import tempfile
    import uuid

    import cv2
    import httpx

    photo = cv2.imread(str(ASSETS_DIR / "chelsea_cat.jpg"))
    folder = Path(tempfile.mkdtemp())
    path = folder / "photo_1mp.jpg"
    cv2.imwrite(str(path), cv2.resize(photo, (1224, 816), interpolation=cv2.INTER_CUBIC),
                [cv2.IMWRITE_JPEG_QUALITY, 92])
    settings = ["efficientnet_lite0", "head", "gradcam", "auto", "jet", 0.5, True]
    times = []
    with httpx.Client(timeout=60) as http:
        if with_gradio_client:
            from gradio_client import Client, handle_file
            client = Client(url, verbose=False, download_files=False)

            def explain() -> list:
                return client.predict(handle_file(str(path)), *settings, api_name="/explain")
        else:
            explain_index = fn_index(url, "explain")
            defaults = [info["parameter_default"] for info in
                        http.get(f"{url}gradio_api/info").json()["named_endpoints"]["/explain"]["parameters"]]

            def explain() -> list:
                (uploaded,) = http.post(f"{url}gradio_api/upload", files={"files": (path.name, path.read_bytes(),
                                                                                    "image/jpeg")}).json()
                image = {"path": uploaded, "orig_name": path.name, "meta": {"_type": "gradio.FileData"}}
                session = uuid.uuid4().hex
                http.post(f"{url}gradio_api/queue/join", json={
                    "data": [image, *settings, *defaults[len(settings) + 1:]], "fn_index": explain_index,
                    "session_hash": session, "event_data": None, "trigger_id": None}).raise_for_status()
                with http.stream("GET", f"{url}gradio_api/queue/data", params={"session_hash": session}) as stream:
                    for line in stream.iter_lines():
                        message = json.loads(line[5:]) if line.startswith("data:") else {}
                        if message.get("msg") == "process_completed":
                            return message["output"]["data"]
                raise RuntimeError("the result stream ended without a result")

        for index in range(count + 2):
            started = time.perf_counter()
            pair, heatmap, *_ = explain()
            for shown in (*pair, heatmap):
                http.get(shown["url"]).raise_for_status()
            if index >= 2:  # the first two warm the model and the server
                times.append(time.perf_counter() - started)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(timeout: float = 120.0, log: Path | None = None, env: dict | None = None
                 ) -> tuple[subprocess.Popen, str]:
    """``python app.py`` on a free local port, offline; returns (process, url) once the page is served."""
    import httpx

    port = free_port()
    root = ASSETS_DIR.parent
    environment = dict(os.environ, CAMDEMO_OFFLINE="1", **(env or {}))
    output = open(log, "w") if log else subprocess.DEVNULL
    process = subprocess.Popen([sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(port)], cwd=root,
                               env=environment, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            raise RuntimeError("the app exited while starting")
        time.sleep(0.3)
    process.kill()
    raise RuntimeError(f"the app did not serve {url} within {timeout:.0f} s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=25, help="requests per client")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--url", default=None, help="a running app (default: start one)")
    parser.add_argument("--pid", type=int, default=None, help="its process id, for memory")
    parser.add_argument("--latency", action="store_true",
                        help="first: p50/p95 of one client, Grad-CAM, EfficientNet-Lite0, a 1-megapixel JPEG")
    parser.add_argument("--latency-only", action="store_true", help="only the latency, no load")
    parser.add_argument("--gradio-client", action="store_true",
                        help="measure the latency through gradio_client (it polls every 50 ms) instead of plain HTTP")
    args = parser.parse_args(argv)
    process = None
    url, pid = args.url, args.pid
    if url is None:
        process, url = start_server()
        pid = process.pid
    try:
        if args.latency or args.latency_only:
            p50, p95 = latency(url, with_gradio_client=args.gradio_client)
            how = "gradio_client" if args.gradio_client else "plain HTTP, as a browser"
            print(f"one client ({how}), Grad-CAM, EfficientNet-Lite0, 1-megapixel JPEG, upload to result: "
                  f"p50 {1000 * p50:.0f} ms, p95 {1000 * p95:.0f} ms (30 requests)\n")
            if args.latency_only:
                return
        report = run_load(url, args.clients, args.requests, args.seed, pid)
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
    print(report.table())
    for problem in (report.errors + report.wrong)[:10]:
        print("  problem:", problem)
    sys.exit(1 if report.errors or report.wrong else 0)


if __name__ == "__main__":
    main()
