"""The once-per-container builders run with the cyclic collector paused and leave what they made frozen."""

from __future__ import annotations

import gc

import pytest

from chalicelib.coldstart import settled


def test_a_builder_runs_once_with_the_collector_paused_and_turns_it_back_on() -> None:
    seen: list[bool] = []

    @settled
    def build() -> list[object]:
        seen.append(gc.isenabled())
        return [object() for _ in range(10)]

    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    try:
        first = build()
        assert build() is first  # one per container
        assert seen == [False]
        assert gc.isenabled()
        assert gc.get_freeze_count() > frozen  # what it made is out of later collections' sight
    finally:
        gc.unfreeze()


def test_a_nested_builder_leaves_the_collector_to_the_outermost() -> None:
    inner_after: list[bool] = []

    @settled
    def inner() -> int:
        return 1

    @settled
    def outer() -> int:
        value = inner()
        inner_after.append(gc.isenabled())
        return value + 1

    try:
        assert outer() == 2
        assert inner_after == [False]
        assert gc.isenabled()
    finally:
        gc.unfreeze()


def test_a_failing_builder_turns_the_collector_back_on_and_is_tried_again() -> None:
    calls: list[int] = []

    @settled
    def build() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise OSError("model missing")
        return 7

    try:
        with pytest.raises(OSError, match="model missing"):
            build()
        assert gc.isenabled()
        assert build() == 7  # an exception is not cached
        build.cache_clear()
        assert build() == 7
        assert len(calls) == 3
    finally:
        gc.unfreeze()
