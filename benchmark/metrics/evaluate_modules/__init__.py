"""recbench's metrics as Hugging Face ``evaluate`` modules, one folder each (``recbench_ranking``,
``recbench_text``), for code that already scores models with ``evaluate.load``.

The scripts call :mod:`benchmark.metrics`, so their numbers are the suite's by construction;
load one by its folder, which needs no network::

    import evaluate
    from benchmark.metrics.evaluate_modules import module_path

    ranking = evaluate.load(module_path("recbench_ranking"))
"""

from __future__ import annotations

from pathlib import Path

#: the modules shipped here, each a folder holding ``<name>.py`` and its card ``README.md``
MODULES: tuple[str, ...] = ("recbench_ranking", "recbench_text")


def module_path(name: str) -> str:
    """The folder ``evaluate.load`` takes for module ``name``: an absolute path, because a
    relative one that does not exist is looked up on the Hugging Face Hub instead."""
    if name not in MODULES:
        raise ValueError(f"unknown recbench evaluate module {name!r}; expected one of "
                         f"{', '.join(MODULES)}")
    return str(Path(__file__).resolve().parent / name)
