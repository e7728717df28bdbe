"""Decoding in a worker process with hard limits, so that no file can take the function down.

Pre-checks reject every hostile shape we know of in milliseconds, but a decoder is native code
reading attacker-controlled bytes: a file nobody anticipated can still make it allocate without
bound, spin, or crash. So every image is decoded and thumbnailed in a worker process forked from the
handler's: limited in memory (a cap on private memory the worker sets on itself for each image) and
in time (the parent waits on a pipe with a deadline, then kills it). A worker that runs out of
either, dies on a signal, or raises anything but a rejection becomes DecoderLimitError: a rejection
like any other, which the handler records, so the upload ends as a REJECTED record and never as a
retry loop; the next image gets a newly forked worker.

Forked, not started with an interpreter of its own: the handler imports Pillow and the decoders once,
during Lambda's init, and forks its worker there, which starts with them loaded (copy-on-write), so
the isolation adds a fork (milliseconds) to a cold start, not a second interpreter and a second import
of everything (+22 % in the benchmark). Long-lived, not one fork per image: a fork and its
copy-on-write faults cost about 6 ms of CPU per image, a fifth of a 12 MP JPEG's thumbnail. But an
upload of FORK_WITH_UPLOAD_BYTES or more gets a worker forked for it, which shares the upload instead
of receiving three copies of it through a pipe (about 1.3 ms per MB). The
local stack runs several invocations as threads of one process: each takes an idle worker or forks
its own. The pipes carry length-prefixed frames (Lambda has no /dev/shm, so multiprocessing's queues
and pools fail there): a JSON header, then raw bytes; JSON, not pickle: the parent never unpickles
what a process that has just parsed an attacker's file sends back.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import resource
import select
import signal
import struct
import threading
import time
import traceback
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from image_processor.images import Decode, ImageInfo, ImageRejectedError, Thumbnail

MIB = 1024 * 1024
# What image_processor's own process holds besides the upload, on Lambda's Python runtime: the
# interpreter, boto3 and its two clients, Pillow and the decoders (about 120 MB measured with the
# handler imported), with room for the response buffers. The worker shares all of it (copy-on-write);
# the cap counts only what a decode adds. A piped upload (under FORK_WITH_UPLOAD_BYTES) is copied into
# the worker before its cap is set, which MEMORY_MARGIN_BYTES covers.
HANDLER_RESERVED_BYTES = 160 * MIB
MEMORY_MARGIN_BYTES = 32 * MIB
# Below this the decoder could not thumbnail even a small photo.
MIN_DECODE_BYTES = 64 * MIB
# What the handler keeps of the invocation's remaining time after the decode, to remove thumbnails,
# send the message and settle the key, before Lambda's own timeout would kill everything.
TIME_RESERVE_SECONDS = 5.0
# A child's memory cap only sees memory it maps or makes writable. glibc raises its mmap threshold after a
# large free (up to 32 MB) and then keeps such memory in its heap, where a child would reuse it unseen; a fixed
# threshold, set here for the handler's whole process, makes every allocation of 128 KB or more a mapping
# of its own, returned to the system when freed. Not on C libraries without mallopt (macOS).
_MALLOPT = getattr(ctypes.CDLL(None), "mallopt", None)
_M_MMAP_THRESHOLD = -3
if _MALLOPT is not None:
    _MALLOPT(_M_MMAP_THRESHOLD, 128 * 1024)
_FRAME_LENGTH = struct.Struct("!Q")
_PIPE_BYTES = 1 << 20
# From this size up, an upload is decoded by a worker forked for it, which shares it, rather than sent down a
# pipe: a fork costs about 6 ms of CPU, a pipe about 1.3 ms per MB.
FORK_WITH_UPLOAD_BYTES = 4 * MIB
_STDERR = 2
_MAX_FD = os.sysconf("SC_OPEN_MAX")


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
        reserved = HANDLER_RESERVED_BYTES + MEMORY_MARGIN_BYTES
        memory = memory_mb * MIB - reserved - upload_bytes
        if memory < MIN_DECODE_BYTES:
            # The same upload would fail the same way on every retry: rejected, like any file over a limit.
            raise DecoderLimitError(
                f"the function's {memory_mb} MB leave the decoder {max(memory, 0) // MIB} MB after "
                f"{reserved // MIB} MB for the handler and this {upload_bytes:,}-byte upload"
            )
        seconds = min(max_decode_seconds, remaining_seconds - TIME_RESERVE_SECONDS)
        return cls(memory_bytes=memory, seconds=max(seconds, 0.0))


class Decoder:
    """Runs `decode` (make_thumbnails' signature) on each upload in a forked, limited worker process."""

    def __init__(self, decode: Decode) -> None:
        self.decode = decode
        # What the workers spent on images, every thread counted, and the largest peak resident memory one
        # reached while decoding (it includes the pages a worker shares with this process): for bench/.
        self.cpu_seconds = 0.0
        self.peak_rss_kb = 0
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        """Forks a worker now (Lambda's init phase), so that the first image does not wait for one."""
        worker = _Worker.fork(self.decode)
        with self._lock:
            self._idle.append(worker)

    def thumbnails(self, data: bytes, limits: Limits, **options: Any) -> tuple[ImageInfo, tuple[Thumbnail, ...]]:
        """`decode(data, **options)` in a worker within `limits`; raises ImageRejectedError (or its
        DecoderLimitError) as `decode` would, in the caller's process."""
        if limits.seconds <= 0:
            raise DecoderLimitError("the invocation had no time left to decode the image")
        request = {"memory_bytes": limits.memory_bytes, "options": options}
        if len(data) >= FORK_WITH_UPLOAD_BYTES:
            # A worker of its own, forked holding the upload: it shares it copy-on-write, where the pipe would
            # copy it three times (a 42 MB HEIC: about 55 ms of CPU against a fork's 6).
            worker = _Worker.fork(self.decode, (request, data))
        else:
            with self._lock:
                worker = self._idle.pop() if self._idle else None
            worker = worker or _Worker.fork(self.decode)
        try:
            reply, blobs = worker.run(request, data, limits)
        finally:
            self._record(worker)
        return _result(reply, blobs, limits)

    def close(self) -> None:
        """Ends the idle workers (a worker also ends by itself when this process does)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.stop()

    def _record(self, worker: _Worker) -> None:
        with self._lock:
            self.cpu_seconds += worker.last_cpu_seconds
            self.peak_rss_kb = max(self.peak_rss_kb, worker.last_peak_rss_kb)
            if worker.alive:
                self._idle.append(worker)


class _Worker:
    """One forked worker: the parent's end of its two pipes, and what its last image cost."""

    def __init__(self, pid: int, requests: int, replies: int, *, holds_request: bool) -> None:
        self.pid, self._requests, self._replies = pid, requests, replies
        self.holds_request = holds_request  # forked for one upload it already has: it serves that, then ends
        self.alive = True
        self.last_cpu_seconds = 0.0
        self.last_peak_rss_kb = 0

    @classmethod
    def fork(cls, decode: Decode, only: tuple[dict[str, Any], bytes] | None = None) -> _Worker:
        """A worker that serves requests from its pipe, or with `only`, that one request, then ends."""
        request_read, request_write = os.pipe()
        reply_read, reply_write = os.pipe()
        for pipe in (request_write, reply_write):
            _widen(pipe)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the worker ends in os._exit, which coverage never sees
            _serve(decode, request_read, reply_write, only)
        os.close(request_read)
        os.close(reply_write)
        return cls(pid, request_write, reply_read, holds_request=only is not None)

    def run(self, request: dict[str, Any], data: bytes, limits: Limits) -> tuple[dict[str, Any], list[bytes]]:
        self.last_cpu_seconds, self.last_peak_rss_kb = 0.0, 0
        try:
            if not self.holds_request:
                _write_frame(self._requests, json.dumps(request).encode())
                _write_frame(self._requests, data)
            reply, blobs = _read_reply(self._replies, time.monotonic() + limits.seconds)
        except TimeoutError:
            self.stop()
            raise DecoderLimitError(f"decoding took longer than its {limits.seconds:.1f} s budget") from None
        except BrokenPipeError:
            reply, blobs = None, []
        if reply is None:
            raise DecoderLimitError(f"the decoder crashed ({_described(self.stop())})")
        self.last_cpu_seconds, self.last_peak_rss_kb = reply.pop("cpu_seconds"), reply.pop("peak_rss_kb")
        if "memory" in reply or "failed" in reply or self.holds_request:
            # A worker that hit its cap or failed unexpectedly may be left half-way: the next image forks afresh.
            self.stop()
        return reply, blobs

    def stop(self) -> int:
        """Ends the worker (at once) and returns its wait status."""
        self.alive = False
        for fd in (self._requests, self._replies):
            os.close(fd)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        return os.waitpid(self.pid, 0)[1]


def _result(reply: dict[str, Any], blobs: list[bytes], limits: Limits) -> tuple[ImageInfo, tuple[Thumbnail, ...]]:
    if "info" in reply:
        metas = reply["thumbnails"]
        thumbnails = tuple(Thumbnail(data=blob, **meta) for meta, blob in zip(metas, blobs, strict=True))
        return ImageInfo(**reply["info"]), thumbnails
    if "memory" in reply:
        raise DecoderLimitError(
            f"decoding needed more than its {limits.memory_bytes // MIB:,} MB memory budget ({reply['memory']})"
        )
    if "failed" in reply:
        raise DecoderLimitError(f"the decoder failed unexpectedly: {reply['failed']}")
    raise ImageRejectedError(reply["rejected"]["reason"], reply["rejected"]["detail"])


def _described(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"


def _read_reply(fd: int, deadline: float) -> tuple[dict[str, Any] | None, list[bytes]]:
    """The child's reply header and thumbnails, or (None, []) when it died before sending them all."""
    reader = _FrameReader(fd, deadline)
    header = reader.frame()
    if header is None:
        return None, []
    reply = json.loads(header)
    blobs = [reader.frame() for _ in reply.get("thumbnails", ())]
    if any(blob is None for blob in blobs):
        return None, []
    return reply, blobs


class _FrameReader:
    """Length-prefixed frames from a pipe, each read by `deadline` (TimeoutError after it), if there is one."""

    def __init__(self, fd: int, deadline: float | None) -> None:
        self._fd = fd
        self._deadline = deadline

    def frame(self) -> bytes | None:
        header = self._exactly(_FRAME_LENGTH.size)
        return None if header is None else self._exactly(_FRAME_LENGTH.unpack(header)[0])

    def _exactly(self, count: int) -> bytes | None:
        # Straight into one buffer: an upload of tens of MB is not read chunk by chunk and joined.
        buffer = bytearray(count)
        view, done = memoryview(buffer), 0
        while done < count:
            if self._deadline is not None:
                remaining = self._deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                if not select.select([self._fd], [], [], remaining)[0]:
                    continue
            read = os.readv(self._fd, [view[done:]])
            if not read:
                return None
            done += read
        return bytes(buffer)


def _serve(decode: Decode, requests: int, replies: int, only: tuple[dict[str, Any], bytes] | None) -> None:
    """The forked worker: one image per request until the parent closes the pipe (or only the request it
    was forked with), then an exit that runs none of the parent's clean-up (atexit handlers, buffered
    streams it copied)."""
    code = 0
    try:
        # Only its own two pipes: a copy of another worker's would keep that worker from seeing its end.
        os.closerange(3, min(requests, replies))
        os.closerange(min(requests, replies) + 1, max(requests, replies))
        os.closerange(max(requests, replies) + 1, _MAX_FD)
        warnings.simplefilter("ignore")  # Pillow's DecompressionBombWarning: the record says it all
        started = time.process_time()  # waiting for a request costs no CPU: each image's count includes reading it
        for request, data in [only] if only else _requests(requests):
            _reset_peak_rss()
            with _memory_capped(request["memory_bytes"]):
                reply, blobs = _decoded(decode, data, request["options"])
            del data
            reply |= {"cpu_seconds": time.process_time() - started, "peak_rss_kb": _peak_rss_kb()}
            _write_frame(replies, json.dumps(reply, ensure_ascii=False).encode("utf-8"))
            for blob in blobs:
                _write_frame(replies, blob)
            started = time.process_time()
    except BaseException:  # noqa: BLE001 - nothing may escape a forked worker into the parent's code
        # Straight to the file descriptor: another thread of the parent may have held sys.stderr's lock.
        os.write(_STDERR, traceback.format_exc().encode("utf-8", "replace"))
        code = 1
    finally:
        os._exit(code)


def _decoded(decode: Decode, data: bytes, options: dict[str, Any]) -> tuple[dict[str, Any], list[bytes]]:
    try:
        info, thumbnails = decode(data, **options)
    except MemoryError as error:
        return {"memory": f"{type(error).__name__}: {error}"[:200]}, []
    except ImageRejectedError as error:
        if _ran_out_of_memory(error):
            return {"memory": error.detail[:200]}, []
        return {"rejected": {"reason": error.reason, "detail": error.detail}}, []
    except Exception as error:  # noqa: BLE001 - the same file fails the same way on every retry
        os.write(_STDERR, traceback.format_exc().encode("utf-8", "replace"))
        return {"failed": f"{type(error).__name__}: {error}"[:300]}, []
    meta = [{"width": t.width, "height": t.height, "content_type": t.content_type} for t in thumbnails]
    return {"info": asdict(info), "thumbnails": meta}, [t.data for t in thumbnails]


def _requests(fd: int) -> Iterator[tuple[dict[str, Any], bytes]]:
    reader = _FrameReader(fd, deadline=None)
    while (header := reader.frame()) is not None and (data := reader.frame()) is not None:
        yield json.loads(header), data


@contextlib.contextmanager
def _memory_capped(budget: int) -> Iterator[None]:
    """Caps the worker's private writable memory at what it has now plus `budget` while one image decodes
    (RLIMIT_DATA: since Linux 4.7 it counts every private writable mapping, anonymous mmap and thread stacks
    included, and it is checked when reserved address space is made writable, as malloc's arenas grow).
    Relative, so the interpreter, the libraries and the pages the worker shares with its parent are not
    charged to the image; see _MALLOPT for why no large free memory is left to reuse unseen. Where the
    platform has no /proc (macOS), only the time limit holds.
    """
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
        resource.setrlimit(resource.RLIMIT_DATA, (_status_kb(b"VmData:") * 1024 + budget, hard))
    except (OSError, ValueError, StopIteration):
        yield
        return
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))


def _reset_peak_rss() -> None:
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")  # peak RSS := current RSS (Linux >= 4.0)


def _peak_rss_kb() -> int:
    try:
        return _status_kb(b"VmHWM:")
    except (OSError, StopIteration):
        return 0


def _status_kb(field: bytes) -> int:
    with open("/proc/self/status", "rb") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field))


def _ran_out_of_memory(error: ImageRejectedError) -> bool:
    """Native decoders report a failed allocation as their own error (libheif: "Memory allocation
    error", libavif/dav1d: "Out of memory"), which imaging turns into a rejection for a corrupt file."""
    cause = error.__cause__
    text = f"{error.detail} {cause}".lower()
    return isinstance(cause, MemoryError) or "out of memory" in text or "memory allocation" in text


def _widen(pipe: int) -> None:
    """A pipe of 1 MiB, where Linux allows it (pipe-max-size), instead of 64 KiB: an upload of tens of MB
    crosses in a few dozen writes and reads instead of a thousand, each a switch between the processes."""
    with contextlib.suppress(OSError, AttributeError):
        fcntl.fcntl(pipe, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)


def _write_frame(fd: int, body: bytes) -> None:
    for part in (_FRAME_LENGTH.pack(len(body)), body):
        view = memoryview(part)
        while view:
            view = view[os.write(fd, view) :]
