"""A lazy name registry: names map to ``"module:attribute"`` strings imported on first use.

Lazy imports keep ``python -m benchmark list`` fast and let a method depend on heavy optional
packages (vLLM, transformers) without every run importing them.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from benchmark.errors import UnknownNameError

T = TypeVar("T")


class LazyRegistry(Generic[T]):
    """Maps names to objects, given either directly or as ``"package.module:Name"`` strings."""

    def __init__(self, kind: str, name_attr: str | None = None) -> None:
        """``name_attr``: an attribute each registered object also carries its name in (a
        method's ``name``); :meth:`get` checks it equals the key on first use, so the two
        spellings cannot drift apart while the key stays readable without importing."""
        self.kind = kind
        self.name_attr = name_attr
        self._targets: dict[str, str | T] = {}
        self._loaded: dict[str, T] = {}

    def add(self, name: str, target: str | T) -> None:
        """Register ``target`` (an object or a ``"module:attr"`` string) under ``name``."""
        if name in self._targets and self._targets[name] is not target:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._targets[name] = target

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""

        def deco(obj: T) -> T:
            self.add(name, obj)
            return obj

        return deco

    def get(self, name: str) -> T:
        """Return the object for ``name``, importing it on first use."""
        if name in self._loaded:
            return self._loaded[name]
        if name not in self._targets:
            raise UnknownNameError(self.unknown_message(name))
        target = self._targets[name]
        if isinstance(target, str):
            module_name, _, attr = target.partition(":")
            obj = getattr(importlib.import_module(module_name), attr)
        else:
            obj = target
        self._check_name(name, obj, target)
        self._loaded[name] = obj
        return obj

    def _check_name(self, name: str, obj: Any, target: Any) -> None:
        """Refuse an object whose own name differs from its key: results, cards and the
        registry would otherwise call one method by two names (a bug, not bad input)."""
        if self.name_attr is None:
            return
        own = getattr(obj, self.name_attr, None)
        if own != name:
            where = target if isinstance(target, str) else repr(obj)
            raise ValueError(
                f"{self.kind} {name!r} is registered as {where}, whose {self.name_attr} is "
                f"{own!r}; set {self.name_attr} = {name!r} there or register it as {own!r}"
            )

    def unknown_message(self, name: str) -> str:
        close = difflib.get_close_matches(name, list(self._targets), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        return f"unknown {self.kind} {name!r}.{hint} Known: {', '.join(sorted(self._targets))}."

    def names(self) -> list[str]:
        return sorted(self._targets)

    def __contains__(self, name: object) -> bool:
        return name in self._targets

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def describe(self, name: str) -> str:
        """First docstring line of the registered object (imports it)."""
        obj: Any = self.get(name)
        doc = (getattr(obj, "__doc__", None) or "").strip().splitlines()
        return doc[0] if doc else ""
