"""Serving policy: what one upload may carry, and what the server cleans up after itself.

Gradio 6.31 accepts up to 1,000 files per upload request, each up to ``max_file_size``, and spools
them into its cache as they stream in. Its parser deletes those partial files when it refuses a body,
but not when the client goes away midway, nor when the route then refuses a file's name (``..``);
and its cache cleanup deletes files but never the folder each one was in. This module adds, through
``launch(app_kwargs=app_kwargs(...))``:

- ``UploadLimits``, an ASGI middleware on the upload route that follows the body as it streams in
  (nothing is buffered) and refuses at the first part, byte or file name over the line, or when the
  disk is nearly full, with a message a person can read (the browser shows ``HTTP 413: <message>``);
- a start-up step that removes the result folders of camdemo processes that are gone, and a
  periodic sweep of empty folders in Gradio's cache;
- ``disk_guard``, which turns a full disk while writing result files into ``DISK_FULL_MESSAGE``,
  with no server path in what the user sees.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import errno
import functools
import logging
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path
from typing import Callable

import gradio as gr
from gradio.exceptions import InvalidPathError
from gradio.utils import DeveloperPath, UserProvidedPath, get_upload_folder, safe_join
from gradio.utils import _parse_file_size  # Gradio's own reading of max_file_size, so both limits agree
from gradio_client.utils import strip_invalid_filename_characters
from python_multipart.multipart import parse_options_header
from starlette.formparsers import MultiPartException
from starlette.middleware import Middleware

log = logging.getLogger("camdemo.app.serving")

UPLOAD_ROUTE = "/gradio_api/upload"
MAX_FILES_PER_UPLOAD = 1  # the app takes one image per upload; Gradio's own limit is 1,000
FRAMING_BYTES = 64 * 2**10  # boundaries and part headers around the file(s)
MAX_HEADER_BYTES = 16 * 2**10  # of one part; Gradio's parser refuses more than 8 KB
DISK_RESERVE_BYTES = 100 * 2**20  # uploads and results stop here, leaving room for Gradio's own copies
EMPTY_FOLDER_SWEEP_SECONDS = 600
EMPTY_FOLDER_AGE_SECONDS = 60  # Gradio makes a folder just before it puts a file in it: leave young ones
DRAIN_PAUSE_SECONDS = 0.5  # see UploadLimits._refuse
DRAIN_SECONDS = 10
RESULT_FOLDER_PREFIX = "camdemo-downloads-"
FILE_ROUTE = "/file="  # Gradio serves its cached files at /gradio_api/file=<path>
OWNER_FILE = "owner"  # "<host> <pid>" of the process that writes into a result folder
ORPHAN_AGE_SECONDS = 24 * 3600  # a result folder whose owner cannot be checked goes after a day untouched

DISK_FULL_MESSAGE = "The server's disk is full; please try again later."
WRITE_FAILED_MESSAGE = "The server could not save this result; please try again."
BAD_NAME_MESSAGE = "This file's name cannot be used; please rename the file and upload it again."


def too_many_files_message(limit: int) -> str:
    return f"Please upload one image at a time (at most {limit} file{'s' * (limit != 1)} per upload)."


def too_large_message(limit: int) -> str:
    return f"This upload is too large: at most {limit / 2**20:.0f} MB per upload."


# ---------------------------------------------------------------- uploads


class UploadRefused(MultiPartException):
    """Raised into Gradio's multipart parser from the request body: it then deletes the files it began.

    Gradio's ``GradioMultiPartParser`` (like Starlette's) closes and unlinks its temporary files on a
    ``MultiPartException`` from the body stream; any other exception would leave them in the cache.
    """

    def __init__(self, status: int | None, message: str):
        super().__init__(message)
        self.status = status  # None: the client has gone, nobody to answer


class _PartScanner:
    """Follows a multipart body as it streams in (RFC 2046): counts its parts and reads their file names.

    A delimiter is CRLF, ``--`` and the boundary (the body's first may come without the CRLF); the
    last one is followed by ``--``. The boundary never occurs inside a part, so counting is exact.
    Each part's headers end at the first blank line; ``filename`` is read from Content-Disposition,
    as Gradio's parser reads it. Only the tail of a chunk that may begin a delimiter is kept.
    """

    def __init__(self, boundary: bytes):
        self.delimiter = b"\r\n--" + boundary
        self.pending = b"\r\n"
        self.in_headers = False
        self.closed = False
        self.parts = 0
        self.filenames: list[str] = []

    def feed(self, chunk: bytes) -> None:
        if self.closed:
            return
        data = self.pending + chunk
        while True:
            if self.in_headers:
                end = data.find(b"\r\n\r\n")
                if end == -1:
                    self.pending = data[-MAX_HEADER_BYTES:]  # longer headers: Gradio refuses them itself
                    return
                self._read_headers(data[:end])
                data, self.in_headers = data[end + 4:], False
                continue
            index = data.find(self.delimiter)
            if index == -1:
                self.pending = data[-(len(self.delimiter) - 1):]
                return
            after = data[index + len(self.delimiter):]
            if len(after) < 2:  # cannot tell a new part from the closing delimiter yet
                self.pending = data[index:]
                return
            if after.startswith(b"--"):  # the closing delimiter: what follows is an epilogue, ignored
                self.closed = True
                return
            self.parts += 1
            data, self.in_headers = after, True

    def _read_headers(self, block: bytes) -> None:
        for line in block.split(b"\r\n"):
            field, _, value = line.partition(b":")
            if field.strip().lower() == b"content-disposition":
                filename = parse_options_header(value.strip())[1].get(b"filename")
                if filename is not None:
                    try:
                        self.filenames.append(filename.decode())
                    except UnicodeDecodeError:
                        self.filenames.append(filename.decode("latin-1"))


def refused_file_name(filename: str) -> bool:
    """True for a name Gradio's upload route refuses only after the whole file is on disk (and leaves it there)."""
    name = strip_invalid_filename_characters(Path(filename).name) if filename else "file"
    try:
        safe_join(DeveloperPath("/"), UserProvidedPath(name))
    except InvalidPathError:
        return True
    return False


def _nearly_full(folder: str | os.PathLike, needed: int) -> bool:
    try:
        return shutil.disk_usage(folder).free - needed < DISK_RESERVE_BYTES
    except OSError:  # the folder is not there yet: Gradio makes it on the first upload
        return False


def is_disk_full(error: BaseException) -> bool:
    return isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)


class UploadLimits:
    """ASGI middleware for Gradio's upload route: at most ``max_files`` parts and ``max_bytes`` per request.

    The body is checked message by message before Gradio's parser sees it, so a refused request never
    has more than ``max_bytes`` on disk. A declared ``Content-Length`` over the limit is refused before
    reading anything. A refusal, a client that disconnects midway and a nearly full disk are raised into
    the parser as ``UploadRefused``, so it deletes what it spooled; the client then gets the status and
    message here (413 for the limits, 507 for the disk), as plain text like Gradio's own upload errors.

    A file name that Gradio's route would refuse (``..``) is refused here, before its part is written:
    Gradio checks names only after parsing, and leaves the whole file in its cache when it refuses one.
    """

    def __init__(self, app, max_bytes: int, max_files: int = MAX_FILES_PER_UPLOAD):
        self.app = app
        self.max_bytes = max_bytes
        self.max_files = max_files

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].endswith(UPLOAD_ROUTE):
            await self.app(scope, receive, send)
            return
        headers = {key.decode("latin-1").lower(): value for key, value in scope["headers"]}
        declared = headers.get("content-length", b"").strip()
        declared_bytes = int(declared) if declared.isdigit() else 0
        upload_dir = getattr(scope.get("app"), "uploaded_file_dir", None) or get_upload_folder()
        if declared_bytes > self.max_bytes:
            await self._refuse(receive, send, UploadRefused(413, too_large_message(self.max_bytes - FRAMING_BYTES)))
            return
        if _nearly_full(upload_dir, declared_bytes):
            await self._refuse(receive, send, UploadRefused(507, DISK_FULL_MESSAGE))
            return

        _, options = parse_options_header(headers.get("content-type", b""))
        body = _CheckedBody(self, receive, send, upload_dir, options.get(b"boundary"))
        try:
            await self.app(scope, body.receive, body.send)
        except UploadRefused:
            pass  # it reached us directly: the body was read outside Gradio's parser
        except OSError as error:  # the disk filled up between the check and the write
            if body.answered or not is_disk_full(error):
                raise
            log.error("upload failed: %s", error)
            body.refusal = UploadRefused(507, DISK_FULL_MESSAGE)
        refusal = body.refusal
        if refusal is not None and refusal.status is not None and not body.answered:
            await self._refuse(None if body.body_done else receive, send, refusal)

    async def _refuse(self, receive, send, refusal: UploadRefused) -> None:
        """Answer ``refusal`` in plain text, after reading and dropping what the client is still sending.

        A client that is still sending when the server closes the connection gets a reset instead of
        the answer. So the rest of the body, if ``receive`` is given, is read (and nothing kept) until
        it ends, the client pauses for ``DRAIN_PAUSE_SECONDS``, or ``max_bytes`` more have come.
        """
        drained = 0
        deadline = time.monotonic() + DRAIN_SECONDS
        while receive is not None and drained <= self.max_bytes and time.monotonic() < deadline:
            try:
                message = await asyncio.wait_for(receive(), DRAIN_PAUSE_SECONDS)
            except TimeoutError:
                break
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
            drained += len(message.get("body", b""))
        body = refusal.message.encode()
        await send({"type": "http.response.start", "status": refusal.status,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


class _CheckedBody:
    """One upload's body as Gradio's parser reads it: counted and scanned message by message, and refused
    (``UploadRefused`` raised into the parser) as soon as it breaks one of ``limits``. Once it is refused,
    Gradio's own reply is dropped: the refusal is answered by ``UploadLimits`` instead."""

    def __init__(self, limits: UploadLimits, receive, send, upload_dir: str | os.PathLike,
                 boundary: bytes | None):
        self.limits = limits
        self.upload_dir = upload_dir
        self._receive, self._send = receive, send
        self.scanner = _PartScanner(boundary) if boundary is not None else None
        self.received = 0  # bytes of body so far
        self.body_done = False  # the client has sent its last body message
        self.refusal: UploadRefused | None = None
        self.answered = False  # Gradio's reply has started going out

    async def receive(self):
        message = await self._receive()
        if message["type"] == "http.disconnect":
            self.refusal = UploadRefused(None, "The upload was interrupted.")
        elif message["type"] == "http.request":
            self.refusal = self._problem(message) or self.refusal
        if self.refusal is not None:
            raise self.refusal
        return message

    def _problem(self, message) -> UploadRefused | None:
        """Count and scan one body message; the refusal it calls for, if any."""
        body = message.get("body", b"")
        self.received += len(body)
        self.body_done = not message.get("more_body", False)
        if self.scanner is not None:
            self.scanner.feed(body)
        max_bytes, max_files = self.limits.max_bytes, self.limits.max_files
        if self.received > max_bytes:
            return UploadRefused(413, too_large_message(max_bytes - FRAMING_BYTES))
        if self.scanner is not None and self.scanner.parts > max_files:
            return UploadRefused(413, too_many_files_message(max_files))
        if self.scanner is not None and any(map(refused_file_name, self.scanner.filenames)):
            return UploadRefused(400, BAD_NAME_MESSAGE)
        if body and _nearly_full(self.upload_dir, len(body)):
            return UploadRefused(507, DISK_FULL_MESSAGE)
        return None

    async def send(self, message) -> None:
        if self.refusal is None:  # Gradio's own reply to a refusal is dropped: ours goes out instead
            self.answered = True
            await self._send(message)


# ---------------------------------------------------------------- disk full while writing results


def disk_guard(folder: Path | Callable[[], str | os.PathLike]):
    """Decorator for functions that write result files into ``folder`` (or the folder a callable names at the
    call): no server path reaches the user.

    When less than ``DISK_RESERVE_BYTES`` is free the call is refused before writing (Gradio then copies
    the files into its cache, which needs as much again); a full disk says ``DISK_FULL_MESSAGE``, any
    other failure to write says ``WRITE_FAILED_MESSAGE``, and the log keeps the details.
    """
    def decorate(function):
        @functools.wraps(function)
        def guarded(*args, **kwargs):
            if _nearly_full(folder() if callable(folder) else folder, 0):
                log.error("%s refused: less than %d MB free", function.__name__, DISK_RESERVE_BYTES // 2**20)
                raise gr.Error(DISK_FULL_MESSAGE, print_exception=False)
            try:
                return function(*args, **kwargs)
            except OSError as error:
                log.error("%s failed: %s", function.__name__, error)
                message = DISK_FULL_MESSAGE if is_disk_full(error) else WRITE_FAILED_MESSAGE
                raise gr.Error(message, print_exception=False) from None
        return guarded
    return decorate


# ---------------------------------------------------------------- cleaning up


def claim_folder(folder: Path) -> None:
    """Mark ``folder`` as this process's, so that a later camdemo removes it once the process is gone."""
    (folder / OWNER_FILE).write_text(f"{socket.gethostname()} {os.getpid()}\n")


def _owner_gone(folder: Path) -> bool | None:
    """True if the folder's owner ran on this host and is no longer running; None if it cannot be told."""
    try:
        host, pid = (folder / OWNER_FILE).read_text().split()
        pid_number = int(pid)
    except (OSError, ValueError):
        return None
    if host != socket.gethostname():
        return None
    try:
        os.kill(pid_number, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # another user's process
        return False
    return False


def remove_stale_result_folders(parent: str | os.PathLike | None = None) -> list[Path]:
    """Remove ``camdemo-downloads-*`` folders left by camdemo processes that are gone; returns them.

    A folder whose owner cannot be checked (no owner file, written by an older camdemo or on another
    host sharing the temp folder) is removed only once untouched for ``ORPHAN_AGE_SECONDS``.
    """
    removed = []
    for folder in Path(parent or tempfile.gettempdir()).glob(RESULT_FOLDER_PREFIX + "*"):
        try:
            if not folder.is_dir() or folder.is_symlink():
                continue
            gone = _owner_gone(folder)
            if gone is None:
                gone = time.time() - folder.stat().st_mtime > ORPHAN_AGE_SECONDS
        except OSError:
            continue
        if gone:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    if removed:
        log.info("removed %d result folder(s) of earlier runs", len(removed))
    return removed


def remove_empty_folders(root: str | os.PathLike[str], min_age: float = EMPTY_FOLDER_AGE_SECONDS) -> int:
    """Remove the empty folders under ``root`` (not ``root`` itself) untouched for ``min_age`` seconds.

    Gradio's cache cleanup deletes files but keeps the folder each one was in (one per upload and
    per result file). ``os.rmdir`` removes only empty folders, so a file put in meanwhile is safe.
    """
    removed = 0
    for folder, _subfolders, files in os.walk(root, topdown=False):
        if files or folder == str(root):
            continue
        try:
            if time.time() - os.stat(folder).st_mtime >= min_age:
                os.rmdir(folder)
                removed += 1
        except OSError:  # not empty (a subfolder is left, or a file just arrived), or gone
            continue
    return removed


async def _sweep_empty_folders(root: str, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            await asyncio.to_thread(remove_empty_folders, root)
        except OSError as error:
            log.warning("could not sweep %s: %s", root, error)


def lifespan(every: float = EMPTY_FOLDER_SWEEP_SECONDS):
    """Gradio ``app_kwargs["lifespan"]``: clear earlier runs' result folders, then sweep the cache."""
    @contextlib.asynccontextmanager
    async def run(app):
        await asyncio.to_thread(remove_stale_result_folders)  # older camdemo wrote them to the temp folder
        await asyncio.to_thread(remove_stale_result_folders, app.uploaded_file_dir)
        await asyncio.to_thread(remove_empty_folders, app.uploaded_file_dir)  # left by earlier runs too
        sweeper = asyncio.create_task(_sweep_empty_folders(app.uploaded_file_dir, every))
        try:
            yield
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
    return run


class FilesBeingWritten:
    """ASGI middleware: a request for a result file still being written waits for it (at most ``timeout``).

    The app hands out a result's download files before they are written (encoding a 1-megapixel PNG takes
    longer than the network's pass), so that the result shows at once. A browser asks for them only when
    clicked, but an API client may ask at once: it then waits here instead of getting a 404.
    """

    def __init__(self, app, pending: Callable[[str], concurrent.futures.Future | None], timeout: float = 30.0):
        self.app = app
        self.pending = pending
        self.timeout = timeout

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD") and FILE_ROUTE in scope["path"]:
            writing = self.pending(scope["path"].split(FILE_ROUTE, 1)[1])
            if writing is not None:
                with contextlib.suppress(Exception):  # a failed write is logged by its writer; Gradio says 404
                    await asyncio.wait_for(asyncio.wrap_future(writing), self.timeout)
        await self.app(scope, receive, send)


def app_kwargs(max_file_size: str | int, max_files: int = MAX_FILES_PER_UPLOAD,
               pending: Callable[[str], concurrent.futures.Future | None] | None = None) -> dict:
    """The ``app_kwargs`` for ``demo.launch``: upload limits, clean-up and, given ``pending`` (a file path →
    the future of its write, or None), waiting for files still being written. A fresh dict: Gradio edits it."""
    per_file = _parse_file_size(max_file_size)
    assert per_file is not None  # None only for no size at all
    max_bytes = max_files * per_file + FRAMING_BYTES
    middleware = [Middleware(UploadLimits, max_bytes=max_bytes, max_files=max_files)]
    if pending is not None:
        middleware.append(Middleware(FilesBeingWritten, pending=pending))
    return {"middleware": middleware, "lifespan": lifespan()}
