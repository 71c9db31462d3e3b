"""A method's hyperparameters, declared once as a typed dataclass.

Each field of a :class:`Params` subclass is one parameter: its annotation says its type, its
default is the ``cpu`` profile's value, ``paper=`` gives the ``paper`` profile's when it differs,
and ``check=`` the constraint a user value must meet. :class:`methods.base.Method` reads the
declaration to build ``self.params`` (a plain dict, defaults in field order then the user's
overrides), to refuse unknown names with a did-you-mean, and to derive the per-profile
``defaults`` mapping older code reads. A declaration looks like::

    class Params(Params):
        history_len: int = param(10, check=positive_int)
        iterations: int = param(10, paper=15, check=positive_int)
        prompt_style: str = param("index", check=choice("index", "title"))

A check returns ``None`` for a good value, else what was expected; :meth:`Params.resolve`
raises it as ``ConfigError("method_params.<method>.<field>: <expected>")`` so the config field
is named. Every method declares a ``Params`` class (``NoParams`` when it has none); a
hand-written ``defaults`` dict is refused.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any, ClassVar

from benchmark.errors import ConfigError

__all__ = [
    "Check",
    "NoParams",
    "Params",
    "choice",
    "distinct_positive_ints",
    "flag",
    "fraction",
    "non_negative_int",
    "non_negative_number",
    "optional",
    "param",
    "positive_int",
    "positive_int_or",
    "positive_number",
    "unknown_message",
    "word_or_auto",
]

#: a constraint: ``None`` when the value is good, else what was expected (``got`` included)
Check = Callable[[Any], "str | None"]

_UNSET: Any = object()


def param(default: Any, *, paper: Any = _UNSET, check: Check | None = None) -> Any:
    """One parameter: its ``cpu`` default, the ``paper`` profile's when it differs, and its
    constraint. Mutable defaults (lists) are copied per instance so no run shares them."""
    profiles = {} if paper is _UNSET else {"paper": paper}
    metadata = {"profiles": profiles, "check": check}
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default),
                                 metadata=metadata)  # fmt: skip
    return dataclasses.field(default=default, metadata=metadata)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def positive_int(value: Any) -> str | None:
    """An integer >= 1 (``True`` is not a number here)."""
    return None if _is_int(value) and value >= 1 else f"a positive integer, got {value!r}"


def non_negative_int(value: Any) -> str | None:
    """An integer >= 0 (a minimum length that may be zero)."""
    return None if _is_int(value) and value >= 0 else f"an integer >= 0, got {value!r}"


def non_negative_number(value: Any) -> str | None:
    """An int or float >= 0."""
    return None if _is_number(value) and value >= 0 else f"a number >= 0, got {value!r}"


def positive_number(value: Any) -> str | None:
    """An int or float > 0 (a learning rate)."""
    problem = non_negative_number(value)
    if problem is None and not value > 0:
        return f"must be > 0, got {value!r}"
    return problem


def fraction(value: Any) -> str | None:
    """A number from 0 to 1 (a dropout rate, a share of the training steps)."""
    good = _is_number(value) and 0 <= value <= 1
    return None if good else f"a number from 0 to 1, got {value!r}"


def flag(value: Any) -> str | None:
    """``true`` or ``false``: a real bool, so a quoted ``"yes"`` is refused, not truthy."""
    return None if isinstance(value, bool) else f"true or false, got {value!r}"


def choice(*choices: Any) -> Check:
    """One of ``choices`` (compared with ``==``)."""

    def check(value: Any) -> str | None:
        if value in choices:
            return None
        return f"{value!r} is not one of {', '.join(str(c) for c in choices)}"

    return check


def optional(check: Check) -> Check:
    """``None`` (``null`` in YAML: the knob is off, or chosen elsewhere) or a value ``check``
    accepts."""

    def either(value: Any) -> str | None:
        problem = None if value is None else check(value)
        return None if problem is None else f"null or {problem}"

    return either


def positive_int_or(word: str, meaning: str) -> Check:
    """``word`` (e.g. ``"auto"``, described by ``meaning``) or a positive integer."""

    def check(value: Any) -> str | None:
        if value == word or (_is_int(value) and value >= 1):
            return None
        return f"{word!r} ({meaning}) or a positive integer, got {value!r}"

    return check


def distinct_positive_ints(value: Any) -> str | None:
    """A non-empty list of distinct positive integers (e.g. history lengths to choose from)."""
    good = (
        isinstance(value, (list, tuple))
        and len(value) > 0
        and all(_is_int(n) and n >= 1 for n in value)
        and len(set(value)) == len(value)
    )
    return None if good else f"distinct positive integers, got {value!r}"


def word_or_auto(value: Any) -> str | None:
    """A non-blank word naming the items (``auto``: chosen from the data)."""
    return None if isinstance(value, str) and value.strip() else "a word such as 'movie', or 'auto'"


def check_divisible(method: str, params: Mapping[str, Any], field: str, by: str) -> None:
    """A check across two fields, after each passed its own: ``params[field]`` must be a
    multiple of ``params[by]`` (e.g. a model width of its attention heads)."""
    if params[field] % params[by]:
        raise ConfigError(f"method_params.{method}.{field}: must be divisible by {by} "
                          f"({params[by]}), got {params[field]}")  # fmt: skip


def unknown_message(method: str, unknown: Iterable[str], accepted: Iterable[str]) -> str:
    """``unknown parameter 'x' for m; did you mean 'y'? accepted: ...`` for every unknown name
    (the did-you-mean by :func:`difflib.get_close_matches`)."""
    accepted = sorted(accepted)
    parts = []
    for key in sorted(unknown):
        close = difflib.get_close_matches(key, accepted, n=1)
        parts.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    noun = "parameter" if len(parts) == 1 else "parameters"
    takes = f"accepted: {', '.join(accepted)}" if accepted else f"{method} takes no parameters"
    return f"unknown {noun} {', '.join(parts)} for {method}; {takes}"


class Params:
    """Base of a method's parameter declaration; subclasses are ``@dataclass`` classes whose
    fields come from :func:`param`. Only the class is read: ``self.params`` stays a dict."""

    #: the profiles besides ``cpu`` a field may give its own default for
    profiles: ClassVar[tuple[str, ...]] = ("paper",)
    #: inherited fields this declaration drops (a variant without one of its parent's knobs)
    omit: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def specs(cls) -> list[dataclasses.Field]:
        """The declared fields, in order, without the omitted ones."""
        if not dataclasses.is_dataclass(cls):
            return []
        return [f for f in dataclasses.fields(cls) if f.name not in cls.omit]

    @classmethod
    def defaults_for(cls, profile: str = "cpu") -> dict[str, Any]:
        """Every parameter with its default under ``profile`` (a fresh copy; an unknown
        profile gets the ``cpu`` values, as the older ``defaults`` dicts did)."""
        out = {}
        for f in cls.specs():
            profiles = f.metadata.get("profiles", {})
            if profile in profiles:
                value = profiles[profile]
            elif f.default_factory is not dataclasses.MISSING:
                value = f.default_factory()
            else:
                value = f.default
            out[f.name] = copy.deepcopy(value)
        return out

    @classmethod
    def profile_view(cls) -> Mapping[str, Mapping[str, Any]]:
        """The older ``defaults`` shape, read-only: all ``cpu`` values, and per other profile
        only the values it changes."""
        view = {"cpu": MappingProxyType(cls.defaults_for("cpu"))}
        for profile in cls.profiles:
            changed = {f.name: f.metadata["profiles"][profile] for f in cls.specs()
                       if profile in f.metadata.get("profiles", {})}  # fmt: skip
            view[profile] = MappingProxyType(changed)
        return MappingProxyType(view)

    @classmethod
    def validate(cls, method: str, params: Mapping[str, Any]) -> None:
        """Raise :class:`ConfigError` naming ``method_params.<method>.<field>`` for the first
        value (in field order) that breaks its field's check."""
        for f in cls.specs():
            check = f.metadata.get("check")
            if check is None or f.name not in params:
                continue
            problem = check(params[f.name])
            if problem is not None:
                raise ConfigError(f"method_params.{method}.{f.name}: {problem}")

    @classmethod
    def resolve(cls, method: str, profile: str, overrides: Mapping[str, Any]) -> dict[str, Any]:
        """``self.params`` for a run: the profile's defaults, then ``overrides``, checked.
        An unknown name is a :class:`TypeError` (a wrong keyword), with a did-you-mean."""
        out = cls.defaults_for(profile)
        unknown = set(overrides) - set(out)
        if unknown:
            raise TypeError(unknown_message(method, unknown, out))
        out.update(overrides)
        cls.validate(method, out)
        return out


@dataclasses.dataclass
class NoParams(Params):
    """The declaration of a method without hyperparameters (the reference baselines)."""
