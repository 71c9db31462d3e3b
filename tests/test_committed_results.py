"""The committed results must stay reusable: the current code must compute the same config hash
for them, or ``python -m benchmark run`` (README, set-up step 1) would refuse to skip them."""

import functools
from pathlib import Path
from types import SimpleNamespace

import pytest

from benchmark.config import RunConfig, stable_hash
from benchmark.results import iter_result_files, load_result
from benchmark.runner import entry_config
from tasks import TASKS
from tasks.base import parse_variant

RESULTS = Path(__file__).resolve().parent.parent / "results"
FILES = iter_result_files(RESULTS)
#: each committed result is read and its sidecar hashed once for all the tests below
_load = functools.cache(load_result)


@pytest.mark.skipif(not FILES, reason="no committed results")
@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(RESULTS)))
def test_committed_result_matches_current_code(path):
    res = _load(path)  # also checks the sidecar's sha256
    rec = res.record
    stored = rec["config"]
    # the task as a run would rebuild it from the name it is filed under
    base, options = parse_variant(rec["task"]["name"])
    task = TASKS.get(base).with_options(options)
    cfg = RunConfig(
        profile=stored["profile"], id_indexing=stored["id_indexing"],
        method_params={stored["method"]: stored["method_params"]},
        data_options=stored.get("data_options", {}), backbone=stored.get("backbone"),
        # an LLM method's --backend/--llm enter its config only when not the defaults
        backend=stored.get("backend", "auto"), llm=stored.get("llm"),
    )
    ds = SimpleNamespace(name=stored["dataset"], content_hash=stored["content_hash"])
    now = entry_config(cfg, ds, task, stored["method"], stored["seed"])
    assert now == stored
    assert stable_hash(now) == rec["config_hash"]
    assert len(res.users) == rec["users_evaluated"]


#: committed results knowingly kept under an older default: (method, parameter) -> why
KEPT_UNDER_AN_OLD_DEFAULT = {
    # the generate rows ran on a lent H200 with the fixed 80-token budget before ``auto``;
    # the board's notes count the cut answers and the README (LLM re-ranking) says so
    ("llmrank", "max_new_tokens"): "README: the generate rows are still those of the old budget",
    ("rpp", "max_new_tokens"): "README: the generate rows are still those of the old budget",
}


@pytest.mark.skipif(not FILES, reason="no committed results")
@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(RESULTS)))
def test_committed_result_ran_under_the_current_defaults(path):
    """A changed default leaves the config hash alone, so ``run`` keeps the old results; this
    makes the change either re-run them or list them above with the reason."""
    from benchmark.resume import changed_params
    from methods import METHODS

    rec = _load(path).record
    name = rec["method"]["name"]
    cls = METHODS.get(name)
    now = cls.Params.resolve(name, rec["config"]["profile"], rec["config"]["method_params"])
    stale = changed_params(rec["method"].get("params"), now)
    unexplained = {k: v for k, v in stale.items() if (name, k) not in KEPT_UNDER_AN_OLD_DEFAULT}
    assert unexplained == {}, f"re-run {name} (or list it in KEPT_UNDER_AN_OLD_DEFAULT)"


@pytest.mark.skipif(not FILES, reason="no committed results")
def test_every_committed_mark_agrees_with_the_printed_means():
    from benchmark.leaderboard import build_leaderboards
    from benchmark.leaderboard.build import mark_disagreements
    from benchmark.results import load_all

    boards = build_leaderboards(load_all(RESULTS))
    assert boards
    assert [w for lb in boards for w in mark_disagreements(lb)] == []
    for lb in boards:
        if lb.task_info.get("kind") == "generation":
            # explanation boards: no test reference is a training reference, in any seed
            for seed, protocol in lb.protocol_by_seed.items():
                assert protocol["verbatim_overlap"] == {"valid": 0.0, "test": 0.0}, seed
                assert protocol["items_without_training"] == {"valid": 0, "test": 0}, seed


CHOICES = RESULTS.parent / "perf" / "results" / "p2rec_choices"


@pytest.mark.skipif(not CHOICES.is_dir(), reason="no committed P2Rec choice checks")
def test_the_readme_p2rec_choice_table_is_the_scripts_output(tmp_path, monkeypatch):
    """README's table of the P2Rec checks is what ``perf/p2rec_choices.py`` makes of the
    committed results now, so a re-run check cannot leave stale numbers in it."""
    import runpy
    import sys

    script = RESULTS.parent / "perf" / "p2rec_choices.py"
    out = tmp_path / "table.md"
    monkeypatch.setattr(sys, "argv", [str(script), "--out", str(out)])
    runpy.run_path(str(script), run_name="__main__")
    text = out.read_text()
    committed = (RESULTS.parent / "perf" / "results" / "p2rec_choices.md").read_text()
    assert text == committed
    body = text.split("\n\n", 2)[2]  # the tables, after the command line and the legend
    readme = (RESULTS.parent / "README.md").read_text()
    block = readme.split("<!-- p2rec-choices:start -->")[1].split("<!-- p2rec-choices:end -->")[0]
    assert block.strip() == body.strip()
