"""Where a server runs model work: two lanes, bounded queues, a time limit, and jobs that can stop.

A classroom's 50 ms Grad-CAM must not wait behind another student's minute of Integrated Gradients,
and one visitor must not be able to take the server. So:

* **Two lanes**, each one worker thread: *fast* for single-pass methods, *slow* for multi-pass ones.
  While a fast job runs, the slow job pauses at its next progress step, so the fast one has the
  CPU to itself (on 2 cores, two jobs at once would each run at half speed).
* **Bounded waiting**: at most ``per_session`` jobs of one visitor (page session) at a time, and a
  fixed number waiting in each lane; beyond that a job is refused at once with a message.
* **Stopping**: a job checks at every progress step whether its client has gone, whether it has run
  past the time limit, or whether the server is shutting down, and stops with ``Cancelled``. A job
  whose client left while it waited never starts.

The workers are daemon threads, so Ctrl+C ends the server without waiting for a job; ``shutdown``
(run at exit) also tells running jobs to stop at their next step. Nothing here imports Gradio: the
app passes ``client_gone`` and ``progress`` callbacks.
"""

from __future__ import annotations

import atexit
import ctypes
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import Cancelled, CamdemoError

Progress = Callable[[float, str], None]

_malloc_trim: Callable[[int], int] | None
try:  # glibc keeps freed heap pages; give them back after each job so a long-running server stays flat
    _malloc_trim = ctypes.CDLL("libc.so.6").malloc_trim
except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to trim
    _malloc_trim = None

FAST, SLOW = "fast", "slow"
CLIENT_LEFT = "Stopped: the page that asked for this left."


class Busy(CamdemoError):
    """A job refused before it started because its visitor or its lane has too many waiting."""


@dataclass(eq=False)
class Job:
    """One piece of model work: what to run, who asked, and why it should stop (if it should)."""

    function: Callable[..., Any]
    session: str
    lane: str
    time_limit: float
    client_gone: Callable[[], bool] = lambda: False
    progress: Progress | None = None
    tag: str = ""  # a kind of job a visitor may run only one of at a time (and stop by name); "" for any
    stop_reason: str | None = None
    started: float | None = None
    result: Any = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason

    def check(self) -> None:
        """Raise ``Cancelled`` if this job should stop now."""
        if self.stop_reason is None and self.client_gone():
            self.stop(CLIENT_LEFT)
        if self.stop_reason is None and self.started is not None \
                and time.monotonic() - self.started > self.time_limit:
            self.stop(f"Stopped after {self.time_limit:.0f} s, this server's limit for one request. Choose fewer "
                      "steps or samples (the method settings say what each costs), or a single-pass method.")
        if self.stop_reason is not None:
            raise Cancelled(self.stop_reason)


class Lanes:
    """The fast and the slow lane, with their admission rules (see the module docstring)."""

    def __init__(self, *, per_session: int = 2, waiting: dict[str, int] | None = None, time_limit: float = 60.0):
        self.per_session = per_session
        self.waiting_limit = waiting or {FAST: 32, SLOW: 4}
        self.time_limit = time_limit
        self._lock = threading.Lock()
        self._queues: dict[str, queue.Queue[Job]] = {FAST: queue.Queue(), SLOW: queue.Queue()}
        self._waiting: dict[str, list[Job]] = {FAST: [], SLOW: []}
        self._running: dict[str, Job | None] = {FAST: None, SLOW: None}
        self._fast_idle = threading.Event()
        self._fast_idle.set()
        self._stopping = False
        for lane in (FAST, SLOW):
            threading.Thread(target=self._work, args=(lane,), name=f"camdemo-{lane}", daemon=True).start()

    # --- what callers use ---------------------------------------------------------------------------

    def run(self, function: Callable[..., Any], *args: Any, session: str, fast: bool,
            client_gone: Callable[[], bool] = lambda: False, progress: Progress | None = None, tag: str = "",
            **kwargs: Any) -> Any:
        """Run ``function(*args, progress=<checked callback>, **kwargs)`` in its lane and return its result.

        ``function`` must call the ``progress`` it is given at each step of slow work: that is where
        the job pauses for fast jobs and stops when it should. Raises ``Busy`` when the visitor or
        the lane has too many jobs (or already one with this ``tag``), ``Cancelled`` when the job was
        stopped, or what ``function`` raised.
        """
        lane = FAST if fast else SLOW
        job = Job(lambda report: function(*args, progress=report, **kwargs), session, lane, self.time_limit,
                  client_gone, progress, tag)
        self._admit(job)
        self._queues[lane].put(job)
        while not job.done.wait(0.25):
            if job.started is None:
                self._report_waiting(job)
                if client_gone():
                    job.stop(CLIENT_LEFT)
        if job.error is not None:
            raise job.error
        return job.result

    def counts(self) -> dict[str, int]:
        """Jobs waiting and running per lane (for tests and logs)."""
        with self._lock:
            return {f"{lane}_waiting": len(self._waiting[lane]) for lane in (FAST, SLOW)} | \
                {f"{lane}_running": int(self._running[lane] is not None) for lane in (FAST, SLOW)}

    def stop(self, session: str, tag: str, reason: str) -> int:
        """Tell the visitor's running and waiting jobs tagged ``tag`` to stop at their next step; how many."""
        with self._lock:
            jobs = [job for lane in (FAST, SLOW) for job in [*self._waiting[lane], self._running[lane]]
                    if job is not None and job.session == session and job.tag == tag]
        for job in jobs:
            job.stop(reason)
        return len(jobs)

    def shutdown(self) -> None:
        """Tell every running and waiting job to stop at its next step (the server is going down)."""
        with self._lock:
            self._stopping = True
            jobs = [job for lane in (FAST, SLOW) for job in self._waiting[lane]]
            jobs += [job for job in self._running.values() if job is not None]
        for job in jobs:
            job.stop("Stopped: the server is shutting down.")

    # --- inside ------------------------------------------------------------------------------------

    def _admit(self, job: Job) -> None:
        with self._lock:
            if self._stopping:
                raise Busy("The server is shutting down; please try again in a moment.")
            mine = [other for lane in (FAST, SLOW) for other in [*self._waiting[lane], self._running[lane]]
                    if other is not None and other.session == job.session]
            if job.tag and any(other.tag == job.tag for other in mine):
                raise Busy("You already have one of these running; wait for it to finish or press Stop.")
            if len(mine) >= self.per_session:
                raise Busy(f"You already have {len(mine)} jobs running or waiting on this server; please wait for "
                           "them to finish before starting another.")
            if len(self._waiting[job.lane]) >= self.waiting_limit[job.lane]:
                hint = (" Single-pass methods (CAM, Grad-CAM, saliency…) do not wait behind these."
                        if job.lane == SLOW else "")
                raise Busy(f"The server is busy: {len(self._waiting[job.lane])} {job.lane} jobs are waiting. Please "
                           f"try again in a minute.{hint}")
            self._waiting[job.lane].append(job)

    def _report_waiting(self, job: Job) -> None:
        if job.progress is None:
            return
        with self._lock:
            ahead = self._waiting[job.lane].index(job) if job in self._waiting[job.lane] else 0
            ahead += self._running[job.lane] is not None
        if ahead:
            job.progress(0.0, f"Waiting for {ahead} job{'s' if ahead > 1 else ''} ahead of this one")

    def _checked_progress(self, job: Job) -> Progress:
        def report(fraction: float, text: str) -> None:
            job.check()
            if job.lane == SLOW:  # let a waiting or running fast job have the CPU first
                while not self._fast_idle.wait(0.1):
                    job.check()
                while self._waiting[FAST]:
                    job.check()
                    time.sleep(0.01)
            if job.progress is not None:
                job.progress(fraction, text)
        return report

    def _work(self, lane: str) -> None:
        while True:
            job = self._queues[lane].get()
            with self._lock:
                self._waiting[lane].remove(job)
                self._running[lane] = job
                if lane == FAST:
                    self._fast_idle.clear()
            try:
                job.started = time.monotonic()
                job.check()  # its client may have left while it waited
                job.result = job.function(self._checked_progress(job))
            except BaseException as error:  # handed to the caller's thread, which raises it
                job.error = error
            finally:
                with self._lock:
                    self._running[lane] = None
                    if lane == FAST and not self._waiting[FAST]:
                        self._fast_idle.set()
                job.done.set()
                if _malloc_trim is not None:
                    _malloc_trim(0)


_lanes: Lanes | None = None
_lanes_lock = threading.Lock()


def lanes() -> Lanes:
    """The process's lanes, started on first use and told to stop their jobs at exit."""
    global _lanes
    with _lanes_lock:
        if _lanes is None:
            _lanes = Lanes()
            atexit.register(_lanes.shutdown)
        return _lanes
