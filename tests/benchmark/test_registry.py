import pytest

from benchmark.errors import UnknownNameError
from benchmark.registry import LazyRegistry
from methods import METHODS
from tasks import TASKS


def test_lazy_import_on_first_use():
    reg = LazyRegistry("thing")
    reg.add("od", "collections:OrderedDict")
    assert "od" in reg
    from collections import OrderedDict

    assert reg.get("od") is OrderedDict


def test_unknown_name_suggests_close_matches():
    with pytest.raises(UnknownNameError) as err:
        METHODS.get("sasrek")
    assert "'sasrec'" in str(err.value) and "Did you mean" in str(err.value)
    with pytest.raises(UnknownNameError, match="Known:"):
        TASKS.get("zzz")


def test_decorator_registration_and_duplicates():
    reg = LazyRegistry("thing")

    @reg.register("one")
    class One:
        """First line."""

    assert reg.get("one") is One
    assert reg.describe("one") == "First line."
    with pytest.raises(ValueError, match="already registered"):
        reg.add("one", object())


def test_every_registered_method_and_task_imports():
    for name in METHODS:
        cls = METHODS.get(name)
        assert cls.name == name
    for name in TASKS:
        assert TASKS.get(name).name == name
