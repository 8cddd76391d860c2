"""Run an iterator (decoding, keyframe sampling) in a background thread, a few items ahead of its consumer."""

from __future__ import annotations

import threading
from queue import Empty, Full, Queue
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")
_END = object()


def prefetch(items: Iterable[T], size: int = 8) -> Iterator[T]:
    """Yields what ``items`` yields, produced up to ``size`` items ahead in a thread.

    FFmpeg and PyTorch release the GIL, so decoding the next frames overlaps the OCR of this one.
    An exception in the producer is raised in the consumer; closing the consumer stops the producer.
    """
    queue: Queue = Queue(size)
    stop = threading.Event()

    def put(entry: tuple[object, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                queue.put(entry, timeout=0.1)
                return True
            except Full:
                continue
        return False

    def produce() -> None:
        iterator = iter(items)
        try:
            for item in iterator:
                if not put((item, None)):
                    return
            put((_END, None))
        except BaseException as error:  # handed to the consumer, which raises it
            put((_END, error))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="reelkit-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            try:
                item, error = queue.get(timeout=0.1)
            except Empty:
                if not thread.is_alive() and queue.empty():
                    return
                continue
            if error is not None:
                raise error
            if item is _END:
                return
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join()
