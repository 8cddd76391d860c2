"""One decode of a video, read at once by several analysers, each in its own thread.

``reelkit analyze`` reads overlays and samples thumbnail candidates from the same frames. Decoding the video
once for both, and running them side by side, saves a whole decode (seconds for 4K HEVC) and lets one use the
core the other leaves idle.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from pathlib import Path
from queue import Empty, Full, Queue
from typing import Iterator

from av.video.reformatter import VideoReformatter

from reelkit.video.decode import DecodedFrame, VideoReader

_END = object()


class DecodeStopped(Exception):
    """The shared decode was closed (another reader failed) before this reader was done."""


@dataclass(eq=False)
class _Subscriber:
    queue: Queue
    detached: bool = False


class SharedDecode:
    """Decodes a video once, in a thread, for every reader made by :meth:`reader` before the first frame is read.

    Each reader gets every frame, at its own working size (``max_side``), and must run in its own thread: one
    that falls ``ahead`` frames behind holds the decoder back, which bounds memory. Every reader is read to the
    end or :meth:`SharedReader.detach`-ed, or the decode :meth:`close`-d, else the others wait for it.

    >>> decode = SharedDecode("clip.mp4")  # doctest: +SKIP
    >>> overlays, candidates = decode.reader(max_side=1920), decode.reader()  # doctest: +SKIP
    """

    def __init__(self, path: str | Path, ahead: int = 8) -> None:
        self.source = VideoReader(path)  # a bad video fails here, with VideoReader's one-line errors
        self.ahead = ahead
        self._subscribers: list[_Subscriber] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def reader(self, max_side: int = 0) -> SharedReader:
        with self._lock:
            if self._thread is not None:
                raise RuntimeError("every reader of a shared decode must be made before it starts")
            subscriber = _Subscriber(Queue(self.ahead))
            self._subscribers.append(subscriber)
        return SharedReader(self, subscriber, max_side)

    def close(self) -> None:
        """Stop decoding; readers not yet at the end raise :class:`DecodeStopped`."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._produce, name="reelkit-shared-decode", daemon=True)
                self._thread.start()

    def _produce(self) -> None:
        try:
            for frame in self.source:
                for subscriber in self._subscribers:
                    self._put(subscriber, (frame, None))
                if self._stop.is_set() or all(s.detached for s in self._subscribers):
                    break
            else:
                for subscriber in self._subscribers:
                    self._put(subscriber, (_END, None))
                return
        except BaseException as error:  # each reader raises it (a VideoError for a damaged file)
            for subscriber in self._subscribers:
                self._put(subscriber, (_END, error))
            return
        for subscriber in self._subscribers:
            self._put(subscriber, (_END, DecodeStopped("the shared decode was stopped")))

    def _put(self, subscriber: _Subscriber, entry: tuple[object, BaseException | None]) -> None:
        while not subscriber.detached:
            try:
                subscriber.queue.put(entry, timeout=0.1)
                return
            except Full:
                if not self._stop.is_set():
                    continue
                if entry[0] is not _END:
                    return
                try:  # stopping: the end takes the place of a frame that reader will no longer need
                    subscriber.queue.get_nowait()
                except Empty:
                    pass


class SharedReader(VideoReader):
    """A :class:`VideoReader` over a :class:`SharedDecode`: the same ``info``, frames at its own ``max_side``."""

    def __init__(self, decode: SharedDecode, subscriber: _Subscriber, max_side: int) -> None:
        self.path, self.info, self.max_side = decode.source.path, decode.source.info, max_side
        self._decode, self._subscriber = decode, subscriber

    def detach(self) -> None:
        """Stop taking frames, so that the decode no longer waits for this reader."""
        self._subscriber.detached = True
        while True:  # free the decoder if it waits on a full queue
            try:
                self._subscriber.queue.get_nowait()
            except Empty:
                return

    def __iter__(self) -> Iterator[DecodedFrame]:
        self._decode._start()
        try:
            while not self._subscriber.detached:
                try:
                    frame, error = self._subscriber.queue.get(timeout=0.1)
                except Empty:
                    continue
                if error is not None:
                    raise error
                if frame is _END:
                    return
                # Its own scaler: the av frame's is shared with the other readers, in other threads.
                yield replace(frame, max_side=self.max_side, reformatter=VideoReformatter())
        finally:
            self.detach()
