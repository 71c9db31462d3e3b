"""``benchmark.cite``: the suite's entry follows CITATION.cff, every method is accounted for."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest
import yaml

from benchmark import cite as cite_mod
from benchmark.cli import main
from benchmark.data import DATASETS, FORMATS
from benchmark.errors import ConfigError, UnknownNameError
from benchmark.registry import LazyRegistry
from methods import METHODS

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "data"


def _entries(text: str) -> list[str]:
    """Keys of the BibTeX entries in ``text``, in order."""
    return re.findall(r"^@\w+\{([^,\s]+),", text, flags=re.M)


def _wellformed(bibtex: str) -> bool:
    depth = 0
    for ch in bibtex:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            return False
    fields = set(re.findall(r"^\s*(\w+)\s*=", bibtex, flags=re.M))
    return depth == 0 and {"title", "author", "year"} <= fields and bool(_entries(bibtex))


def test_every_registered_method_has_a_paper_or_a_reason():
    assert cite_mod.check_no_paper_consistency() == []
    for name in METHODS:
        text = cite_mod.method_citation(name)
        assert bool(text) != (name in cite_mod.NO_PAPER), name
        if text:
            assert _wellformed(text), name


def test_a_forgotten_method_is_caught(monkeypatch):
    class Forgotten:
        bibtex = ""

    class CitedAnyway:
        bibtex = "@misc{x2020,\n  title={X}, author={Y}, year={2020}\n}"

    fake = types.ModuleType("methods")
    fake.METHODS = LazyRegistry("method")  # type: ignore[attr-defined]
    fake.METHODS.add("forgotten", Forgotten)
    fake.METHODS.add("pop", CitedAnyway)
    monkeypatch.setitem(sys.modules, "methods", fake)
    problems = cite_mod.check_no_paper_consistency()
    assert any("'forgotten' has no bibtex" in p for p in problems)
    assert any("'pop' has a bibtex but is listed in NO_PAPER" in p for p in problems)
    assert any("NO_PAPER lists 'random'" in p for p in problems)


def test_method_attribute_reads_the_class_for_cite_and_leaderboards():
    for name in METHODS:
        cls = METHODS.get(name)
        assert cite_mod.method_attribute(name, "bibtex") == cite_mod.method_citation(name)
        assert cite_mod.method_attribute(name, "baseline") == (cls.baseline or "").strip()
    assert cite_mod.method_attribute("pop", "baseline")  # a reference baseline says what it is
    with pytest.raises(UnknownNameError):
        cite_mod.method_attribute("no-such-method", "bibtex")


def test_citation_file_agrees_with_pyproject():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    cff = cite_mod.read_citation_file()
    assert cff["cff-version"] == "1.2.0"
    assert cff["title"] == "recbench"
    assert str(cff["version"]) == project["version"]
    assert cff["license"] == project["license"]["text"]
    assert cff["authors"] == [{"name": "recbench contributors"}]


def test_suite_entry_is_built_from_the_citation_file(tmp_path):
    entry = cite_mod.suite_bibtex()
    assert entry.startswith("@software{recbench,")
    assert "{{recbench contributors}}" in entry and "version = {0.1.0}" in entry.replace(
        "  ", " "
    )
    cff = yaml.safe_load(cite_mod.CITATION_FILE.read_text())
    cff.update({
        "title": "Other_Suite",
        "version": "9.9",
        "date-released": "2031-02-03",
        "authors": [{"family-names": "Hengel", "name-particle": "van den",
                     "given-names": "Anton"}, {"name": "A & B Lab"}],
    })
    other = tmp_path / "CITATION.cff"
    other.write_text(yaml.safe_dump(cff))
    entry = cite_mod.suite_bibtex(other)
    assert entry.startswith("@software{othersuite,")
    assert re.search(r"title\s+= \{Other\\_Suite\}", entry)
    assert re.search(r"author\s+= \{van den Hengel, Anton and \{A \\& B Lab\}\}", entry)
    assert re.search(r"version\s+= \{9\.9\}", entry) and re.search(r"year\s+= \{2031\}", entry)


def test_a_broken_citation_file_names_the_field(tmp_path):
    bad = tmp_path / "CITATION.cff"
    bad.write_text("cff-version: 1.2.0\nmessage: hi\ntitle: x\n")
    with pytest.raises(ConfigError, match=r"CITATION\.cff: field 'authors' is missing"):
        cite_mod.suite_bibtex(bad)
    with pytest.raises(ConfigError, match="not found"):
        cite_mod.suite_bibtex(tmp_path / "nope.cff")


def test_default_cites_the_suite_and_every_method_once():
    text = cite_mod.cite()
    keys = _entries(text)
    assert keys[0] == "recbench"
    assert len(keys) == len(set(keys))
    assert "% method: peapod, peapod-knn, peapod-no-user" in text
    assert keys.count("ramos2024peapod") == 1
    for name in METHODS:
        assert name in text
    assert "% method pop: no paper to cite" in text


def test_selected_methods_only():
    text = cite_mod.cite("sasrec,pop")
    assert _entries(text) == ["recbench", "kang2018sasrec"]
    assert "geng2022p5" not in text and "% method pop: no paper" in text


def test_unknown_method_suggests_a_name():
    with pytest.raises(UnknownNameError, match=r"--methods: unknown method 'sasrek'.*'sasrec'"):
        cite_mod.cite("sasrek")


def test_every_dataset_and_format_is_accounted_for():
    for name in [*DATASETS.names(), *FORMATS.names()]:
        papers = cite_mod.DATASET_PAPERS.get(name, ())
        assert bool(papers) != (name in cite_mod.DATASET_NO_PAPER), name
        for key in papers:
            assert _entries(cite_mod.DATASET_BIBTEX[key]) == [key]
            assert _wellformed(cite_mod.DATASET_BIBTEX[key])


def test_datasets_by_name_format_or_path():
    text = cite_mod.cite("pop", ["ml-100k", str(FIXTURES / "amazon2018" / "plain"), "atomic"])
    assert _entries(text) == ["recbench", "harper2015movielens", "ni2019justifying"]
    assert "(format amazon2018)" in text
    assert "% dataset atomic: RecBole atomic files" in text
    with pytest.raises(UnknownNameError, match=r"'ml-10k'.*Did you mean 'ml-100k'"):
        cite_mod.cite("pop", "ml-10k")


def test_cli(capsys):
    assert main(["cite", "--methods", "pod", "--datasets", "ml-100k"]) == 0
    out = capsys.readouterr().out
    assert _entries(out) == ["recbench", "li2023pod", "harper2015movielens"]
    assert main(["cite", "--methods", "po"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --methods: unknown method 'po'") and err.count("\n") == 1
