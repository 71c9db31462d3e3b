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


def test_name_attribute_must_equal_the_key():
    reg = LazyRegistry("thing", name_attr="name")

    class Right:
        name = "right"

    class Wrong:
        name = "other"

    reg.add("right", Right)
    reg.add("wrong", Wrong)
    assert reg.get("right") is Right
    with pytest.raises(ValueError, match=r"'wrong' is registered as .*name is 'other'"):
        reg.get("wrong")
    assert "wrong" in reg  # still listed; only loading it fails


def test_name_check_on_a_lazy_target_names_the_module():
    reg = LazyRegistry("method", name_attr="name")
    reg.add("pop2", "methods.pop:Popularity")
    with pytest.raises(ValueError, match=r"methods\.pop:Popularity, whose name is 'pop'"):
        reg.get("pop2")


def test_importing_the_registries_imports_no_method_module():
    """The name check runs on first use, so listing names stays free of method imports."""
    import subprocess
    import sys

    code = (
        "import sys, methods, tasks; "
        "loaded = [m for m in sys.modules if m.startswith('methods.') "
        "and m not in ('methods.base', 'methods.params')]; "
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
