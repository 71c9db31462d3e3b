"""BibTeX for the suite, the methods and the datasets behind a reported number.

Each fact has one home, so the printed citations cannot drift from the rest of the project:
the suite's entry is built from ``CITATION.cff`` (parsed here, never copied), a method's paper
is its class's ``bibtex`` (the same text every leaderboard ends with), and the dataset papers
live in :data:`DATASET_BIBTEX`. Methods without a paper are listed in :data:`NO_PAPER` with the
reason, and a test checks that every registered method is in exactly one of the two places, so
a new method cannot be forgotten.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from benchmark.errors import ConfigError, UnknownNameError

__all__ = [
    "CITATION_FILE",
    "DATASET_BIBTEX",
    "DATASET_NO_PAPER",
    "DATASET_PAPERS",
    "NO_PAPER",
    "check_no_paper_consistency",
    "cite",
    "dataset_sources",
    "method_attribute",
    "method_citation",
    "read_citation_file",
    "suite_bibtex",
]

#: The suite's citation metadata (Citation File Format), at the repository root.
CITATION_FILE = Path(__file__).resolve().parent.parent / "CITATION.cff"

#: Registered methods with no paper to cite, and why.
NO_PAPER: dict[str, str] = {
    "pop": "training-split popularity baseline",
    "random": "seeded uniform-score baseline",
    "idplus1": "this suite's probe of the item-id leak; the leak is Xu et al. 2024, "
    "arXiv 2402.06216",
    "item-expl": "this suite's retrieval baseline for explanations",
    "global-expl": "this suite's constant-answer baseline for explanations (the text pop)",
    "user-copy": "this suite's copy baseline for explanations (the user's latest one)",
}

DATASET_BIBTEX: dict[str, str] = {
    "harper2015movielens": """@article{harper2015movielens,
  title     = {The MovieLens Datasets: History and Context},
  author    = {Harper, F. Maxwell and Konstan, Joseph A.},
  journal   = {ACM Transactions on Interactive Intelligent Systems},
  volume    = {5},
  number    = {4},
  articleno = {19},
  year      = {2015},
  doi       = {10.1145/2827872}
}""",
    "ni2019justifying": """@inproceedings{ni2019justifying,
  title     = {Justifying Recommendations using Distantly-Labeled Reviews and Fine-Grained
               Aspects},
  author    = {Ni, Jianmo and Li, Jiacheng and McAuley, Julian},
  booktitle = {Proceedings of the 2019 Conference on Empirical Methods in Natural Language
               Processing and the 9th International Joint Conference on Natural Language
               Processing (EMNLP-IJCNLP)},
  pages     = {188--197},
  year      = {2019},
  doi       = {10.18653/v1/D19-1018}
}""",
    "he2016ups": """@inproceedings{he2016ups,
  title     = {Ups and Downs: Modeling the Visual Evolution of Fashion Trends with One-Class
               Collaborative Filtering},
  author    = {He, Ruining and McAuley, Julian},
  booktitle = {Proceedings of the 25th International Conference on World Wide Web},
  pages     = {507--517},
  year      = {2016},
  doi       = {10.1145/2872427.2883037}
}""",
    "mcauley2015image": """@inproceedings{mcauley2015image,
  title     = {Image-Based Recommendations on Styles and Substitutes},
  author    = {McAuley, Julian and Targett, Christopher and Shi, Qinfeng and
               van den Hengel, Anton},
  booktitle = {Proceedings of the 38th International ACM SIGIR Conference on Research and
               Development in Information Retrieval},
  pages     = {43--52},
  year      = {2015},
  doi       = {10.1145/2766462.2767755}
}""",
    "hou2024bridging": """@article{hou2024bridging,
  title     = {Bridging Language and Items for Retrieval and Recommendation},
  author    = {Hou, Yupeng and Li, Jiacheng and He, Zhankui and Yan, An and Chen, Xiusi and
               McAuley, Julian},
  journal   = {arXiv preprint arXiv:2403.03952},
  year      = {2024},
  doi       = {10.48550/arXiv.2403.03952}
}""",
}

#: Registry datasets and data formats -> keys of :data:`DATASET_BIBTEX`. P5-format data is
#: P5's preprocessing of the Amazon 2014 reviews, whose page asks for both papers.
DATASET_PAPERS: dict[str, tuple[str, ...]] = {
    "ml-100k": ("harper2015movielens",),
    "ml-1m": ("harper2015movielens",),
    "grouplens-100k": ("harper2015movielens",),
    "movielens-csv": ("harper2015movielens",),
    "amazon2018": ("ni2019justifying",),
    "amazon2023": ("hou2024bridging",),
    "p5": ("he2016ups", "mcauley2015image"),
}

#: Registry datasets and formats with no single paper, and what to cite instead.
DATASET_NO_PAPER: dict[str, str] = {
    "atomic": "RecBole atomic files hold many datasets; cite the source of the one you used",
    "recbole-split": "pre-split RecBole sets hold many datasets; cite the source of the one you "
    "used and the paper whose split it is (e.g. LLMRank, UniSRec)",
    "hf": "a saved Hugging Face dataset can hold any data; cite the source of the one you used",
}


# --- the suite --------------------------------------------------------------------------------


def read_citation_file(path: Path = CITATION_FILE) -> dict[str, Any]:
    """The parsed ``CITATION.cff``, checked for the fields a BibTeX entry needs."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"{path}: not found; the suite's citation lives in CITATION.cff at the repository "
            "root (run from a source checkout)"
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of CFF fields at the top level")
    for key in ("cff-version", "message", "title", "authors"):
        if not data.get(key):
            raise ConfigError(f"{path}: field {key!r} is missing; the CFF 1.2.0 schema needs it")
    if not isinstance(data["authors"], list):
        raise ConfigError(f"{path}: field 'authors' must be a list of persons or entities")
    return data


_BIB_SPECIALS = re.compile(r"([&%$#_])")


def _bib(text: object) -> str:
    return _BIB_SPECIALS.sub(r"\\\1", " ".join(str(text).split()))


def _author(entry: Any, path: Path, i: int) -> str:
    """One CFF author as BibTeX: ``Family, Given`` for a person, ``{Name}`` for an entity."""
    if not isinstance(entry, dict):
        raise ConfigError(f"{path}: authors[{i}] must be a mapping (name, or family-names)")
    if entry.get("family-names"):
        family = " ".join(
            str(p) for p in (entry.get("name-particle"), entry["family-names"]) if p
        )
        parts = [family, entry.get("name-suffix"), entry.get("given-names")]
        return _bib(", ".join(str(p) for p in parts if p))  # "von Last, Jr, First"
    if entry.get("name"):
        return "{" + _bib(entry["name"]) + "}"  # braces: a corporate author, not "Last, First"
    raise ConfigError(f"{path}: authors[{i}] has neither 'family-names' nor 'name'")


def suite_bibtex(path: Path = CITATION_FILE) -> str:
    """A biblatex ``@software`` entry built from ``CITATION.cff``."""
    path = Path(path)
    cff = read_citation_file(path)
    key = re.sub(r"[^a-z0-9]+", "", str(cff["title"]).lower()) or "software"
    fields: list[tuple[str, str]] = [
        ("title", _bib(cff["title"])),
        ("author", " and ".join(_author(a, path, i) for i, a in enumerate(cff["authors"]))),
    ]
    if cff.get("version") is not None:
        fields.append(("version", _bib(cff["version"])))
    released = cff.get("date-released")
    if released:
        fields.append(("year", str(released)[:4]))
        fields.append(("date", str(released)))
    for cff_key, bib_key in (("doi", "doi"), ("license", "license")):
        if cff.get(cff_key):
            fields.append((bib_key, _bib(cff[cff_key])))
    url = cff.get("url") or cff.get("repository-code")
    if url:
        fields.append(("url", str(url)))
    width = max(len(k) for k, _ in fields)
    body = ",\n".join(f"  {k.ljust(width)} = {{{v}}}" for k, v in fields)
    return f"@software{{{key},\n{body}\n}}"


# --- methods and datasets ---------------------------------------------------------------------


def method_attribute(name: str, attr: str) -> str:
    """A text class attribute of a registered method (``bibtex``, ``baseline``), stripped; ""
    when the class sets none.

    The one reader of the method classes for what reports print about them, so ``cite`` and
    the leaderboards cannot disagree. ``methods`` is imported here, lazily, because it pulls in
    torch, which neither needs otherwise. Raises UnknownNameError (with close matches) for an
    unregistered name.
    """
    from methods import METHODS

    cls = METHODS.get(name)
    return str(getattr(cls, attr, "") or "").strip()


def method_citation(name: str) -> str:
    """The method's BibTeX (its class's ``bibtex``); "" when the class sets none.

    Raises UnknownNameError (with close matches) for an unregistered name.
    """
    return method_attribute(name, "bibtex")


def dataset_sources(value: str) -> str:
    """The registry dataset or data format a ``--datasets`` value stands for.

    Accepts a registry name (``ml-100k``), a format name (``amazon2018``) or the path of a
    dataset, whose format is detected as ``run`` would.
    """
    from benchmark.data import DATASETS, FORMATS, detect_format

    if value in DATASETS or value in FORMATS:
        return value
    if Path(value).expanduser().exists():
        return detect_format(value)
    known = sorted({*DATASETS.names(), *FORMATS.names()})
    close = difflib.get_close_matches(value, known, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise UnknownNameError(
        f"--datasets: {value!r} is not a registry dataset, a data format or an existing path."
        f"{hint} Give a dataset's path or one of: {', '.join(known)}."
    )


def _entry_key(bibtex: str) -> str:
    match = re.match(r"\s*@\w+\s*\{\s*([^,\s]+)\s*,", bibtex)
    return match.group(1) if match else bibtex


def _split(values: str | Iterable[str] | None) -> list[str]:
    if values is None:
        return []
    items = values.split(",") if isinstance(values, str) else list(values)
    out: list[str] = []
    for item in (str(v).strip() for v in items):
        if item and item not in out:
            out.append(item)
    return out


def cite(
    methods: str | Sequence[str] | None = None,
    datasets: str | Sequence[str] | None = None,
    *,
    citation_file: Path = CITATION_FILE,
) -> str:
    """BibTeX for the suite, the given methods (default: every registered one) and datasets.

    Entries shared by several methods (the PeaPOD variants) are printed once, headed by a
    comment naming every method they cover; methods and datasets without a paper get a
    comment saying so.
    """
    from methods import METHODS

    names = _split(methods) or METHODS.names()
    for name in names:
        if name not in METHODS:
            raise UnknownNameError("--methods: " + METHODS.unknown_message(name))
    suite = suite_bibtex(citation_file)
    blocks = [f"% the suite, from {Path(citation_file).name}", suite, ""]

    covered: dict[str, tuple[str, list[str]]] = {}  # entry key -> (bibtex, methods)
    without: list[str] = []
    for name in names:
        text = method_citation(name)
        if text:
            covered.setdefault(_entry_key(text), (text, []))[1].append(name)
        else:
            without.append(name)
    for text, users in covered.values():
        blocks += [f"% method: {', '.join(users)}", text, ""]
    for name in without:
        reason = NO_PAPER.get(name, "no paper recorded (its class sets no bibtex)")
        blocks += [f"% method {name}: no paper to cite ({reason})", ""]

    sources: dict[str, list[str]] = {}
    for value in _split(datasets):
        sources.setdefault(dataset_sources(value), []).append(value)
    printed: set[str] = set()
    for source, values in sources.items():
        label = ", ".join(values) + ("" if values == [source] else f" (format {source})")
        keys = DATASET_PAPERS.get(source, ())
        if not keys:
            reason = DATASET_NO_PAPER.get(source, "no paper recorded")
            blocks += [f"% dataset {label}: {reason}", ""]
            continue
        for key in keys:
            if key in printed:
                continue
            printed.add(key)
            blocks += [f"% dataset: {label}", DATASET_BIBTEX[key], ""]
    while blocks and blocks[-1] == "":
        blocks.pop()
    return "\n".join(blocks) + "\n"


def check_no_paper_consistency() -> list[str]:
    """Registered methods whose citation status is unclear: no ``bibtex`` and not in
    :data:`NO_PAPER`, or in :data:`NO_PAPER` but with a ``bibtex`` after all."""
    from methods import METHODS

    problems = []
    for name in METHODS:
        has = bool(method_citation(name))
        if not has and name not in NO_PAPER:
            problems.append(
                f"method {name!r} has no bibtex: set its class's bibtex, or add it to "
                "benchmark.cite.NO_PAPER with the reason"
            )
        if has and name in NO_PAPER:
            problems.append(f"method {name!r} has a bibtex but is listed in NO_PAPER; drop it")
    for name in NO_PAPER:
        if name not in METHODS:
            problems.append(f"NO_PAPER lists {name!r}, which is not a registered method")
    return problems
