"""Run cards: one per leaderboard row, linked from the table, kept in sync by --check."""

from __future__ import annotations

import json
import re
import shutil

from benchmark.leaderboard import check_leaderboards, write_leaderboards
from benchmark.results import iter_result_files


def _links(markdown: str) -> list[str]:
    return re.findall(r"\]\(([^)]+)\)", markdown)


def _three_seeds(make_result, **kw):
    for s in range(3):
        make_result("my_model", s, rate=0.6, rng_seed=s, **kw)
        make_result("base_line", s, rate=0.2, rng_seed=10 + s, **kw)


def test_every_row_gets_a_card_linked_from_the_table(make_result, results_dir, tmp_path):
    _three_seeds(make_result)
    out = tmp_path / "leaderboards"
    write_leaderboards(results_dir, out)
    table = (out / "toy" / "sequential.md").read_text()
    row_a = next(line for line in table.splitlines() if line.startswith("| a "))
    assert "| [my_model](sequential/cards/my_model.md) " in row_a
    for method in ("my_model", "base_line"):
        card = out / "toy" / "sequential" / "cards" / f"{method}.md"
        text = card.read_text()
        assert text.startswith(f"# {method} on toy — sequential\n")
        assert "[toy — sequential leaderboard](../../sequential.md)" in text
        for link in _links(text):  # every link resolves: table, results, per-sample logs
            assert (card.parent / link).resolve().is_file(), link
        for seed in range(3):
            record = json.loads((results_dir / "toy" / "sequential" / method /
                                 f"seed{seed}.json").read_text())
            assert f"`{record['per_user_sha256']}`" in text
            assert f"seed{seed}.npz](" in text and f"seed{seed}.json](" in text
        assert "`0123456789abcdef0123`" in text  # the dataset's full content hash
        assert "| git commit" in text and "abcdef1234567890" in text
        assert "## Resolved config" in text and "## Hyperparameters" in text
        assert '"dim": 8' in text


def test_reconstructed_command_says_so(make_result, results_dir, tmp_path):
    _three_seeds(make_result)
    out = tmp_path / "lb"
    write_leaderboards(results_dir, out)
    text = (out / "toy" / "sequential" / "cards" / "my_model.md").read_text()
    assert "Reconstructed (seeds 0, 1, 2): the result files record no command" in text
    assert ("python -m benchmark run --methods my_model --datasets toy --tasks sequential "
            "--seeds 0,1,2 --profile cpu --data-format csv") in text
    assert "`--datasets` is the path the run recorded" in text


def test_recorded_command_and_params_need_no_reconstruction(make_result, results_dir, tmp_path):
    def recorded(record):
        record["command"] = "python -m benchmark run --config configs/mine.yaml"

    def with_params(record):
        record["config"] = {"dataset": "ml-100k", "method_params": {"dim": 8},
                            "profile": "paper", "id_indexing": "random", "seed": record["seed"]}

    make_result("cmd", 0, edit=recorded)
    make_result("cmd", 1, edit=recorded, rng_seed=5)
    make_result("params", 0, edit=with_params, rng_seed=6)
    out = tmp_path / "lb"
    write_leaderboards(results_dir, out)
    cmd = (out / "toy" / "sequential" / "cards" / "cmd.md").read_text()
    assert "Recorded by the run (seeds 0, 1):" in cmd
    assert "python -m benchmark run --config configs/mine.yaml" in cmd
    assert "Reconstructed" not in cmd
    params = (out / "toy" / "sequential" / "cards" / "params.md").read_text()
    assert ("python -m benchmark run --methods params --datasets ml-100k --tasks sequential "
            "--seeds 0 --profile paper --id-indexing random --config params-config.yaml") in params
    assert "```yaml\nmethod_params:\n  params:\n    dim: 8\n```" in params
    assert "`--datasets` is the path" not in params  # a registry name


def test_candidates_file_is_linked_with_its_hash(make_result, results_dir, tmp_path):
    cand = results_dir / "toy" / "sequential" / "candidates-seed0.npz"
    cand.parent.mkdir(parents=True)
    cand.write_bytes(b"not really")

    def edit(record):
        record["candidates_file"] = {"path": "toy/sequential/candidates-seed0.npz",
                                     "sha256": "feedbeef" * 8}

    make_result("m", 0, edit=edit)
    out = tmp_path / "lb"
    write_leaderboards(results_dir, out)
    card = out / "toy" / "sequential" / "cards" / "m.md"
    text = card.read_text()
    assert f"sha256 `{'feedbeef' * 8}`" in text
    link = next(x for x in _links(text) if x.endswith("candidates-seed0.npz"))
    assert (card.parent / link).resolve() == cand.resolve()


def test_check_covers_cards(make_result, results_dir, tmp_path):
    _three_seeds(make_result)
    out = tmp_path / "lb"
    write_leaderboards(results_dir, out)
    assert check_leaderboards(results_dir, out) == []
    card = out / "toy" / "sequential" / "cards" / "base_line.md"
    first = card.read_text()
    card.write_text(first.replace("abcdef1234567890", "0000"))
    problems = check_leaderboards(results_dir, out)
    assert len(problems) == 1 and problems[0].startswith(f"changed: {card}")

    # a rerun with another environment changes the card, nothing else
    write_leaderboards(results_dir, out)

    def elsewhere(record):
        record["environment"]["hardware"] = {"cpu": "test", "gpu": "H100"}

    make_result("base_line", 2, rate=0.2, rng_seed=12, edit=elsewhere)
    problems = check_leaderboards(results_dir, out)
    assert any(p.startswith(f"changed: {card}") for p in problems)
    write_leaderboards(results_dir, out)
    assert "| hardware: gpu" in card.read_text() and "H100" in card.read_text()

    # a method whose results are gone loses its card
    shutil.rmtree(results_dir / "toy" / "sequential" / "base_line")
    assert any(p.startswith(f"extra: {card}") for p in check_leaderboards(results_dir, out))
    write_leaderboards(results_dir, out)
    assert not card.exists() and check_leaderboards(results_dir, out) == []


def test_cards_are_deterministic_and_relative(make_result, results_dir, tmp_path):
    _three_seeds(make_result)
    a, b = tmp_path / "a", tmp_path / "b"
    write_leaderboards(results_dir, a)
    write_leaderboards(results_dir, b)
    card = "toy/sequential/cards/my_model.md"
    assert (a / card).read_text() == (b / card).read_text()
    assert str(tmp_path) not in (a / card).read_text()
    assert len(iter_result_files(results_dir)) == 6
