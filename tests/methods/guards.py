"""Test helpers that make a method's fit fail loudly: a split whose test part cannot be read,
and a function that dies on its n-th call (a kill in the middle of a fit). Imported by the
tests, not collected."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class NoTestSplit:
    """A split whose test targets cannot be read: fit must work without them."""

    def __init__(self, split: Any) -> None:
        self._split = split

    def __getattr__(self, name: str) -> Any:
        if name == "test":
            raise AssertionError("fit read split.test")
        attr = getattr(self._split, name)
        if name in ("histories", "targets"):

            def guarded(stage: str) -> Any:
                assert stage != "test", f"fit called split.{name}('test')"
                return attr(stage)

            return guarded
        return attr


def dies_on_call(real: Callable[..., Any], n: int, error: BaseException) -> Callable[..., Any]:
    """``real``, except that its ``n``-th call raises ``error`` (stands in for a kill)."""
    calls = 0

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == n:
            raise error
        return real(*args, **kwargs)

    return wrapper
