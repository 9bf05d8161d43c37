"""Once-per-container builders run with the cyclic garbage collector paused (issue 13, cold start).

A cold start allocates hundreds of thousands of long-lived objects (modules, classes, botocore's service
models, the classifier's tables) and almost no garbage. The collector, left on, runs well over a hundred
times while they are made and walks them again and again: about 19 ms of the processing function's
cold start here. Paused, nothing is collected that would have been; once the builder is done,
everything alive is frozen (out of every later collection's sight: what the builder made lives as
long as the container) and collection resumes as before. A builder runs once per container, so what
else is alive then (the objects of the request that asked for it) is frozen once, not per request.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def settled(build: Callable[[], T]) -> functools._lru_cache_wrapper[T]:
    """`build` run once per container (a `functools.cache`) with the collector paused, its result frozen."""

    @functools.wraps(build)
    def paused() -> T:
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return build()
        finally:
            gc.freeze()
            # Nested builders (the intake runtime makes the shared one) leave it to the outermost.
            if was_enabled:
                gc.enable()

    return functools.cache(paused)
