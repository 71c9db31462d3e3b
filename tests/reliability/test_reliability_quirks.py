"""Data quirks are recorded in every ranking result's protocol, outside its config hash, and an
LLM method on generated-id titles is warned about at the start (issue 14, point 9)."""

from __future__ import annotations

import json

import pytest

from benchmark.config import stable_hash
from benchmark.data.schema import TITLES_IDGENREC, TITLES_NONE
from benchmark.results import load_result
from tasks.quirks import TIE_BREAK


@pytest.fixture
def idgenrec_dir(tmp_path):
    """A P5 directory whose only "titles" are IDGenRec's generated ids."""
    folder = tmp_path / "gen"
    (folder / "idgenrec").mkdir(parents=True)
    lines = [" ".join(map(str, [u, *range(1 + u, 7 + u)])) for u in range(1, 31)]
    (folder / "sequential.txt").write_text("\n".join(lines) + "\n")
    items = {str(i): f"B{i:03d}" for i in range(1, 40)}
    (folder / "datamaps.json").write_text(json.dumps({"id2item": items}))
    (folder / "idgenrec/item_generative_indexing_phase_0.txt").write_text(
        "".join(f"{asin} gen{i} word{int(i) % 5}\n" for i, asin in items.items()))
    return folder


def test_ranking_results_record_data_quirks(toy_dir, tmp_path, cli):
    res = tmp_path / "res"
    assert cli("run", "--methods", "idplus1", "--datasets", str(toy_dir), "--seeds", "0",
               "--results-dir", str(res), "--no-progress") == (0, [])
    for task in ("sequential", "topn"):
        rec = load_result(res / "toy" / task / "idplus1/seed0.json").record
        quirks = rec["protocol"]["data_quirks"]
        # the toy walks forward one item per second: no ties, nothing re-consumed, no titles
        assert quirks == {"valid_ties_previous": 0.0, "test_ties_previous": 0.0,
                          "tie_break": TIE_BREAK, "test_in_history": 0.0, "titles": TITLES_NONE}
        assert quirks["test_in_history"] == rec["protocol"]["targets_in_history"] / 60
        assert "data_quirks" not in json.dumps(rec["config"])
        assert rec["config_hash"] == stable_hash(rec["config"])


def test_ties_and_reconsumed_targets_are_measured(tmp_path, cli):
    folder = tmp_path / "ties"
    folder.mkdir()
    rows = ["user_id:token\titem_id:token\ttimestamp:float"]
    for u in range(10):
        # users 0-3 make their last two interactions in the same second; users 0-1 end on
        # their first item again
        last, when = (1 + u if u < 2 else 40 + u), (200 if u < 4 else 300)
        rows += [f"{u}\t{1 + u}\t100", f"{u}\t{20 + u}\t200", f"{u}\t{last}\t{when}"]
    (folder / "ties.inter").write_text("\n".join(rows) + "\n")
    res = tmp_path / "res"
    assert cli("run", "--methods", "pop", "--datasets", str(folder), "--tasks", "sequential",
               "--seeds", "0", "--results-dir", str(res), "--no-progress")[0] == 0
    rec = load_result(res / "ties/sequential/pop/seed0.json").record
    quirks = rec["protocol"]["data_quirks"]
    assert quirks["test_ties_previous"] == 0.4 and quirks["valid_ties_previous"] == 0.0
    assert quirks["test_in_history"] == 0.2 and rec["protocol"]["targets_in_history"] == 2


def test_llm_methods_on_generated_titles_are_warned_about(idgenrec_dir, tmp_path, cli,
                                                          monkeypatch):
    res = tmp_path / "res"
    argv = ["run", "--methods", "pop", "--datasets", str(idgenrec_dir), "--tasks", "sequential",
            "--seeds", "0", "--results-dir", str(res), "--no-progress"]
    assert cli(*argv) == (0, [])  # not an LLM method: nothing to say
    rec = load_result(res / "gen/sequential/pop/seed0.json").record
    assert rec["protocol"]["data_quirks"]["titles"] == TITLES_IDGENREC
    monkeypatch.setattr("benchmark.runner.uses_llm", lambda method: True)
    code, err = cli(*argv, "--force")
    assert code == 0 and len(err) == 1
    assert err[0].startswith("warning: dataset 'gen'") and "pop" in err[0]
    assert TITLES_IDGENREC in err[0]
