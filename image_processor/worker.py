"""Decoding in a child process with hard limits, so that no file can take the function down.

Pre-checks reject every hostile shape we know of in milliseconds, but a decoder is native code
reading attacker-controlled bytes: a file nobody anticipated can still make it allocate without
bound, spin, or crash. So every image is decoded and thumbnailed in a process of its own, forked
from the handler's: limited in memory (a cap on private memory the child sets on itself) and in time
(the parent waits on a pipe with a deadline, then kills it). A child that runs out of either, dies
on a signal, or raises anything but a rejection becomes DecoderLimitError: a rejection like any
other, which the handler records, so the upload ends as a REJECTED record and never as a retry loop.

Why a fork per image, not a long-lived worker started with its own interpreter: the handler
imports Pillow and the decoders once, during Lambda's init, and each child starts with them
already loaded (copy-on-write), so a cold start pays for no second interpreter, and the upload's
bytes reach the child without a copy. A fork costs about a millisecond; every image starts from the
same clean state, and whatever a decoder leaves behind (a leak, a corrupted heap) dies with its
child. The parent never decodes, so no decoder can be half-way through anything when it forks. The
pipe carries plain processes' bytes (Lambda has no /dev/shm, so multiprocessing's queues and pools
fail there) and JSON, not pickle: the parent never unpickles what a process that has just parsed an
attacker's file sends back.
"""

from __future__ import annotations

import ctypes
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
from dataclasses import asdict, dataclass
from typing import Any

from image_processor.images import Decode, ImageInfo, ImageRejectedError, Thumbnail

MIB = 1024 * 1024
# What image_processor's own process holds besides the upload, on Lambda's Python runtime: the
# interpreter, boto3 and its two clients, Pillow and the decoders (about 120 MB measured with the
# handler imported), with room for the response buffers. A child shares all of it (copy-on-write)
# and the upload; the cap counts only what its decode adds.
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
_READ_CHUNK = 1 << 20
_STDERR = 2


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
    """Runs `decode` (make_thumbnails' signature) on each upload in a forked, limited child process."""

    def __init__(self, decode: Decode) -> None:
        self.decode = decode
        # What the children spent, every thread counted (from the kernel, at each child's end): bench/ adds it
        # to its own CPU time; and the largest peak resident memory a child reached, which includes the pages
        # it shares with this process.
        self.cpu_seconds = 0.0
        self.peak_rss_kb = 0
        self._lock = threading.Lock()

    def thumbnails(self, data: bytes, limits: Limits, **options: Any) -> tuple[ImageInfo, tuple[Thumbnail, ...]]:
        """`decode(data, **options)` in a child within `limits`; raises ImageRejectedError (or its
        DecoderLimitError) as `decode` would, in the caller's process."""
        if limits.seconds <= 0:
            raise DecoderLimitError("the invocation had no time left to decode the image")
        read_end, write_end = os.pipe()
        child = os.fork()
        if child == 0:  # pragma: no cover - the child ends in os._exit, which coverage never sees
            os.close(read_end)
            _child(self.decode, data, options, limits.memory_bytes, write_end)
        os.close(write_end)
        try:
            reply, blobs = _read_reply(read_end, time.monotonic() + limits.seconds)
        except TimeoutError:
            os.kill(child, signal.SIGKILL)
            self._reap(child)
            raise DecoderLimitError(f"decoding took longer than its {limits.seconds:.1f} s budget") from None
        finally:
            os.close(read_end)
        status = self._reap(child)
        if reply is None:
            raise DecoderLimitError(f"the decoder crashed ({_described(status)})")
        return _result(reply, blobs, limits)

    def _reap(self, child: int) -> int:
        _, status, usage = os.wait4(child, 0)
        with self._lock:
            self.cpu_seconds += usage.ru_utime + usage.ru_stime
            self.peak_rss_kb = max(self.peak_rss_kb, usage.ru_maxrss)
        return status


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
    """Length-prefixed frames from a pipe, each read by `deadline` (TimeoutError after it)."""

    def __init__(self, fd: int, deadline: float) -> None:
        self._fd = fd
        self._deadline = deadline

    def frame(self) -> bytes | None:
        header = self._exactly(_FRAME_LENGTH.size)
        return None if header is None else self._exactly(_FRAME_LENGTH.unpack(header)[0])

    def _exactly(self, count: int) -> bytes | None:
        chunks, missing = [], count
        while missing:
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            readable, _, _ = select.select([self._fd], [], [], remaining)
            if not readable:
                continue
            chunk = os.read(self._fd, min(missing, _READ_CHUNK))
            if not chunk:
                return None
            chunks.append(chunk)
            missing -= len(chunk)
        return b"".join(chunks)


def _child(decode: Decode, data: bytes, options: dict[str, Any], memory_bytes: int, reply_fd: int) -> None:
    """The forked child: caps itself, decodes, writes its reply, and exits without running the parent's
    clean-up (atexit handlers, buffered streams it copied)."""
    code = 0
    try:
        warnings.simplefilter("ignore")  # Pillow's DecompressionBombWarning: the record says it all
        _cap_memory(memory_bytes)
        reply, blobs = _decoded(decode, data, options)
        _write_frame(reply_fd, json.dumps(reply, ensure_ascii=False).encode("utf-8"))
        for blob in blobs:
            _write_frame(reply_fd, blob)
    except BaseException:  # noqa: BLE001 - nothing may escape a forked child into the parent's code
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


def _cap_memory(budget: int) -> None:
    """Caps the child's private writable memory at what it has now plus `budget` (RLIMIT_DATA: since Linux
    4.7 it counts every private writable mapping, anonymous mmap and thread stacks included, and it is
    checked when reserved address space is made writable, as malloc's arenas grow). Relative, so the
    interpreter, the libraries and the upload the child shares with its parent are not charged to the
    image; see _MALLOPT for why the parent keeps no large free memory a child could reuse unseen. Where
    the platform has no /proc (macOS), only the time limit holds.
    """
    try:
        with open("/proc/self/status", "rb") as status:
            data_kb = next(int(line.split()[1]) for line in status if line.startswith(b"VmData:"))
        _, hard = resource.getrlimit(resource.RLIMIT_DATA)
        resource.setrlimit(resource.RLIMIT_DATA, (data_kb * 1024 + budget, hard))
    except (OSError, ValueError, StopIteration):
        return


def _ran_out_of_memory(error: ImageRejectedError) -> bool:
    """Native decoders report a failed allocation as their own error (libheif: "Memory allocation
    error", libavif/dav1d: "Out of memory"), which imaging turns into a rejection for a corrupt file."""
    cause = error.__cause__
    text = f"{error.detail} {cause}".lower()
    return isinstance(cause, MemoryError) or "out of memory" in text or "memory allocation" in text


def _write_frame(fd: int, body: bytes) -> None:
    view = memoryview(_FRAME_LENGTH.pack(len(body)) + body)
    while view:
        view = view[os.write(fd, view) :]
