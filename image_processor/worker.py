"""Decoding in a child process with hard limits, so that no file can take the function down.

Pre-checks reject every hostile shape we know of in milliseconds, but a decoder is native code
reading attacker-controlled bytes: a file nobody anticipated can still make it allocate without
bound, spin, or crash. So the decode and the thumbnails run in a worker process of their own,
limited in memory (an address-space cap it sets on itself before each image) and in time (the
parent waits on the pipe with a deadline, then kills it). A worker that runs out of either, or dies
on a signal, becomes DecoderLimitError: a rejection like any other, which the handler records, so
the upload ends as a REJECTED record and never as a retry loop.

The worker is a plain process fed through its stdin and stdout pipes (Lambda has no /dev/shm, so
multiprocessing's queues and pools fail there). One is started per execution environment at
init, so its interpreter start-up and Pillow import overlap the handler's, and it is reused for
every image until a limit ends it. The local stack runs several environments as threads of one
process, so workers are pooled: a thread takes an idle one or starts its own.

Messages on the pipes are length-prefixed frames: a JSON header, then raw bytes (the upload one
way, the thumbnails the other). JSON, not pickle: the parent never unpickles what a process that
has just parsed an attacker's file sends back.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import resource
import select
import signal
import struct
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from image_processor.images import ImageInfo, ImageRejectedError, Thumbnail

MIB = 1024 * 1024
# What image_processor's own process holds besides the upload, on Lambda's Python runtime: the
# interpreter, boto3 and its two clients (about 95 MB measured with the handler imported), with
# room for the response buffers.
HANDLER_RESERVED_BYTES = 128 * MIB
# An idle worker: the interpreter with Pillow and pi-heif imported (30-35 MB resident measured).
WORKER_RESERVED_BYTES = 48 * MIB
MEMORY_MARGIN_BYTES = 32 * MIB
# Below this the worker could not decode even a small photo.
MIN_DECODE_BYTES = 64 * MIB
# What the handler keeps of the invocation's remaining time after the decode, to remove thumbnails,
# send the message and settle the key, before Lambda's own timeout would kill everything.
TIME_RESERVE_SECONDS = 5.0
DEFAULT_ENTRY = "image_processor.imaging:make_thumbnails"
_FRAME_LENGTH = struct.Struct("!Q")
_CODE_ROOT = str(Path(__file__).resolve().parent.parent)
_STDERR_TAIL_BYTES = 4096


class DecoderLimitError(ImageRejectedError):
    """The decoder ran out of its memory or time budget, or crashed: the file is rejected for it."""

    def __init__(self, detail: str) -> None:
        super().__init__("decoder_limit", detail)


@dataclass(frozen=True)
class Limits:
    memory_bytes: int
    seconds: float

    @classmethod
    def for_invocation(
        cls, *, memory_mb: int, remaining_seconds: float, max_decode_seconds: float, upload_bytes: int
    ) -> Limits:
        """The budget one decode gets from what the invocation has left."""
        # Both processes hold a copy of the upload; the cap counts only what the decode adds to the worker.
        reserved = HANDLER_RESERVED_BYTES + WORKER_RESERVED_BYTES + MEMORY_MARGIN_BYTES
        memory = memory_mb * MIB - reserved - 2 * upload_bytes
        if memory < MIN_DECODE_BYTES:
            # The same upload would fail the same way on every retry: rejected, like any file over a limit.
            raise DecoderLimitError(
                f"the function's {memory_mb} MB leave the decoder {max(memory, 0) // MIB} MB after "
                f"{reserved // MIB} MB for its processes and two copies of this {upload_bytes:,}-byte upload"
            )
        seconds = min(max_decode_seconds, remaining_seconds - TIME_RESERVE_SECONDS)
        return cls(memory_bytes=memory, seconds=max(seconds, 0.0))


class DecoderPool:
    """Worker processes for `entry` (`module:function`, make_thumbnails' signature), reused across calls."""

    def __init__(self, entry: str = DEFAULT_ENTRY) -> None:
        self.entry = entry
        # CPU time its workers spent on images, every thread counted: what bench/ adds to its own.
        self.decode_cpu_seconds = 0.0
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()

    def prestart(self) -> None:
        """Starts one worker now, so its start-up overlaps the caller's own (Lambda's init phase)."""
        with self._lock:
            self._idle.append(_Worker(self.entry))

    def thumbnails(self, data: bytes, limits: Limits, **options: Any) -> tuple[ImageInfo, tuple[Thumbnail, ...]]:
        """Runs the entry on `data` in a worker within `limits`; raises ImageRejectedError (or its
        DecoderLimitError) as the entry would, in the caller's process."""
        with self._worker() as worker:
            try:
                return worker.run(data, limits, options)
            finally:
                with self._lock:
                    self.decode_cpu_seconds += worker.last_cpu_seconds

    def worker_pids(self) -> list[int]:
        """The idle workers' process ids, for measuring what they cost (bench/)."""
        with self._lock:
            return [worker.process.pid for worker in self._idle]

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.stop()

    @contextlib.contextmanager
    def _worker(self) -> Iterator[_Worker]:
        with self._lock:
            worker = self._idle.pop() if self._idle else None
        if worker is None or not worker.alive():
            worker = _Worker(self.entry)
        try:
            yield worker
        finally:
            if worker.alive():
                with self._lock:
                    self._idle.append(worker)


class _Worker:
    def __init__(self, entry: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "image_processor.worker", entry],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=os.environ
            | {
                # Fewer malloc arenas: each reserves address space that the cap would count.
                "MALLOC_ARENA_MAX": "2",
                # The code's folder first (Lambda's /var/task), whatever the working directory.
                "PYTHONPATH": os.pathsep.join(filter(None, (_CODE_ROOT, os.environ.get("PYTHONPATH")))),
            },
        )
        self._stderr_tail = b""
        self.last_cpu_seconds = 0.0

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()

    def run(self, data: bytes, limits: Limits, options: dict[str, Any]) -> tuple[ImageInfo, tuple[Thumbnail, ...]]:
        self.last_cpu_seconds = 0.0  # unknown for a worker that dies: its kernel accounting goes with it
        if limits.seconds <= 0:
            raise DecoderLimitError("the invocation had no time left to decode the image")
        deadline = time.monotonic() + limits.seconds
        try:
            _write_frame(self.process.stdin, json.dumps({"memory_bytes": limits.memory_bytes, "options": options}))
            _write_frame(self.process.stdin, data)
            self.process.stdin.flush()
            reply = json.loads(self._read_frame(deadline))
            self.last_cpu_seconds = reply["cpu_seconds"]
            if "info" in reply:
                blobs = [self._read_frame(deadline) for _ in reply["thumbnails"]]
                thumbnails = tuple(
                    Thumbnail(data=blob, **meta) for meta, blob in zip(reply["thumbnails"], blobs, strict=True)
                )
                return ImageInfo(**reply["info"]), thumbnails
        except TimeoutError:
            self.stop()
            raise DecoderLimitError(f"decoding took longer than its {limits.seconds:.1f} s budget") from None
        except (BrokenPipeError, EOFError):
            raise DecoderLimitError(self._death()) from None
        if "memory" in reply:
            self.stop()  # a process that hit its cap may have left a native library half-way: start afresh
            raise DecoderLimitError(
                f"decoding needed more than its {limits.memory_bytes // MIB:,} MB memory budget ({reply['memory']})"
            )
        if "failed" in reply:
            raise DecoderLimitError(f"the decoder failed unexpectedly: {reply['failed']}")
        raise ImageRejectedError(reply["rejected"]["reason"], reply["rejected"]["detail"])

    def _death(self) -> str:
        self.process.wait()
        code = self.process.returncode
        with contextlib.suppress(OSError, ValueError):
            self._stderr_tail = (self._stderr_tail + self.process.stderr.read())[-_STDERR_TAIL_BYTES:]
        self.stop()
        how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
        last_line = self._stderr_tail.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        said = f": {last_line[0][:200]}" if last_line[0] else ""
        return f"the decoder crashed ({how}){said}"

    def _read_frame(self, deadline: float) -> bytes:
        header = self._read_exactly(_FRAME_LENGTH.size, deadline)
        return self._read_exactly(_FRAME_LENGTH.unpack(header)[0], deadline)

    def _read_exactly(self, count: int, deadline: float) -> bytes:
        """Reads `count` bytes from the worker's stdout by `deadline`, draining its stderr meanwhile
        so a chatty decoder cannot block on a full pipe."""
        stdout, stderr = self.process.stdout.fileno(), self.process.stderr.fileno()
        chunks, missing = [], count
        while missing:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            readable, _, _ = select.select([stdout, stderr], [], [], remaining)
            if stderr in readable:
                self._stderr_tail = (self._stderr_tail + os.read(stderr, 65536))[-_STDERR_TAIL_BYTES:]
            if stdout in readable:
                chunk = os.read(stdout, min(missing, 1 << 20))
                if not chunk:
                    raise EOFError
                chunks.append(chunk)
                missing -= len(chunk)
        return b"".join(chunks)


def _write_frame(pipe: IO[bytes], payload: bytes | str) -> None:
    body = payload.encode("utf-8") if isinstance(payload, str) else payload
    pipe.write(_FRAME_LENGTH.pack(len(body)))
    pipe.write(body)


def _read_request(pipe: IO[bytes]) -> tuple[dict[str, Any], bytes] | None:
    """The next request's header and upload, or None once the parent has closed the pipe."""
    frames = []
    for _ in range(2):
        header = pipe.read(_FRAME_LENGTH.size)
        if len(header) < _FRAME_LENGTH.size:
            return None
        (length,) = _FRAME_LENGTH.unpack(header)
        frames.append(pipe.read(length))
        if len(frames[-1]) < length:
            return None
    return json.loads(frames[0]), frames[1]


Entry = Callable[..., tuple[ImageInfo, tuple[Thumbnail, ...]]]


def _serve(entry: Entry, requests: IO[bytes], replies: IO[bytes]) -> None:
    """The worker's loop: one image per request, until the parent closes the pipe."""
    while (next_request := _read_request(requests)) is not None:
        request, data = next_request
        cpu_started = time.process_time()
        with _memory_capped(request["memory_bytes"]):
            try:
                info, thumbnails = entry(data, **request["options"])
            except MemoryError as error:
                reply, blobs = {"memory": f"{type(error).__name__}: {error}"[:200] or "MemoryError"}, []
            except ImageRejectedError as error:
                if _ran_out_of_memory(error):
                    reply, blobs = {"memory": error.detail[:200]}, []
                else:
                    reply, blobs = {"rejected": {"reason": error.reason, "detail": error.detail}}, []
            except Exception as error:  # noqa: BLE001 - the same file fails the same way on every retry
                traceback.print_exc()
                reply, blobs = {"failed": f"{type(error).__name__}: {error}"[:300]}, []
            else:
                meta = [{"width": t.width, "height": t.height, "content_type": t.content_type} for t in thumbnails]
                reply, blobs = {"info": asdict(info), "thumbnails": meta}, [t.data for t in thumbnails]
            del data
        reply["cpu_seconds"] = time.process_time() - cpu_started
        _write_frame(replies, json.dumps(reply, ensure_ascii=False))
        for blob in blobs:
            _write_frame(replies, blob)
        replies.flush()


@contextlib.contextmanager
def _memory_capped(budget: int) -> Iterator[None]:
    """Caps the process's address space at what it maps now plus `budget` for the duration of one image.

    RLIMIT_AS rather than RLIMIT_DATA, because libraries map decode buffers in ways the data limit does
    not count on every kernel; the cap is relative, so the interpreter and libraries already mapped are
    not charged to the image. Where the platform has no such limit (macOS), only the time limit holds.
    """
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        mapped = _mapped_bytes()
        if mapped is not None:
            resource.setrlimit(resource.RLIMIT_AS, (mapped + budget, hard))
    except (ValueError, OSError):
        mapped = None
    try:
        yield
    finally:
        if mapped is not None:
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _mapped_bytes() -> int | None:
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return None


def _ran_out_of_memory(error: ImageRejectedError) -> bool:
    """Native decoders report a failed allocation as their own error (libheif: "Memory allocation
    error", libavif/dav1d: "Out of memory"), which imaging turns into a rejection for a corrupt file."""
    cause = error.__cause__
    text = f"{error.detail} {cause}".lower()
    return isinstance(cause, MemoryError) or "out of memory" in text or "memory allocation" in text


def _load_entry(entry: str) -> Entry:
    module_name, _, function_name = entry.partition(":")
    return getattr(importlib.import_module(module_name), function_name)


def main(argv: list[str]) -> None:
    entry = _load_entry(argv[1] if len(argv) > 1 else DEFAULT_ENTRY)
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    # Whatever a decoder prints goes to stderr, never into the reply frames.
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    _serve(entry, sys.stdin.buffer, replies)


if __name__ == "__main__":
    main(sys.argv)
