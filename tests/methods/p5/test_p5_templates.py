"""P5 templates: every template renders, fails clearly without its fields, held-out layout."""

from __future__ import annotations

import numpy as np
import pytest

from methods.p5.templates import (
    FAMILIES,
    SHORT,
    TEMPLATES,
    Template,
    get_template,
    render,
    render_source,
    seen_templates,
    short_input,
    unseen_templates,
)

FULL = {
    "user": 7,
    "history": np.array([3, 1024, 5]),
    "target": 42,
    "item": 1024,
    "answer": "yes",
    "candidates": [9, 42, 1],
    "title": "Lavender Hand Cream",
    "feature": "scent",
    "explanation": "The scent is lovely.",
}
ALL = [t for ts in TEMPLATES.values() for t in ts]


@pytest.mark.parametrize("template", ALL + list(SHORT.values()), ids=lambda t: t.id)
def test_every_template_renders_with_its_fields(template):
    fields = {k: FULL[k] for k in template.needs}
    source, target = render(template, **fields)
    assert "{" not in source and "}" not in source
    assert source.strip() and target.strip()
    if "user" in template.needs:
        assert "user_7" in source
    if "history" in template.needs:
        assert "3 1024 5" in source


@pytest.mark.parametrize("template", ALL + list(SHORT.values()), ids=lambda t: t.id)
def test_every_missing_field_raises_keyerror_naming_template_and_field(template):
    for name in template.needs:
        fields = {k: FULL[k] for k in template.needs if k != name}
        with pytest.raises(KeyError) as err:
            render(template, **fields)
        assert template.id in str(err.value) and repr(name) in str(err.value)
    # None counts as missing too
    with pytest.raises(KeyError):
        render(template, **{**{k: FULL[k] for k in template.needs}, min(template.needs): None})


def test_template_counts_ids_and_held_out_layout():
    assert {f: len(ts) for f, ts in TEMPLATES.items()} == {
        "sequential": 8, "direct": 8, "explanation": 6,
    }
    prefix = {"sequential": "2-", "direct": "5-", "explanation": "3-"}
    for family in FAMILIES:
        ts = TEMPLATES[family]
        assert [t.id for t in ts] == [f"{prefix[family]}{i}" for i in range(1, len(ts) + 1)]
        assert all(t.family == family for t in ts)
        assert seen_templates(family) and unseen_templates(family)
        # P5's rule: the last template of each family is held out
        assert unseen_templates(family) == [ts[-1]]
        assert seen_templates(family) == ts[:-1]
        # held-out and short templates work on any dataset: ids only
        assert not unseen_templates(family)[0].needs & {"title", "feature"}
    ids = [t.id for t in ALL]
    assert len(ids) == len(set(ids))
    with pytest.raises(ValueError, match="unknown template family"):
        seen_templates("rating")


def test_direct_has_both_styles_among_seen_templates():
    styles = {t.style for t in seen_templates("direct")}
    assert styles == {"yes_no", "choose"}
    for t in TEMPLATES["direct"]:
        assert (t.target == "{answer}") == (t.style == "yes_no")
    assert {t.style for t in TEMPLATES["sequential"]} == {"generate"}


def test_explanation_templates_use_title_and_feature_but_some_need_neither():
    needs = [t.needs for t in seen_templates("explanation")]
    assert any("feature" in n for n in needs)
    assert any("title" in n for n in needs)
    assert any(not n & {"title", "feature"} for n in needs)


def test_ids_render_as_text():
    t = get_template("5-3")
    source, target = render(t, user=7, item=np.int64(1024), answer="no")
    assert "user_7" in source and "item 1024" in source and target == "no"
    source, target = render(get_template("2-1"), user=np.int64(0), history=[1, 2, 3], target=4)
    assert "user_0" in source and "1 2 3" in source and target == "4"
    source, target = render(get_template("5-5"), user=3, candidates=np.array([8, 9]), target=9)
    assert source.endswith("8 9") and target == "9"


def test_short_inputs_have_no_instruction_words():
    assert short_input("sequential", user=12, history=[5, 9, 33]) == "user_12 ; 5 9 33"
    assert short_input("direct", user=12, candidates=[4, 8]) == "user_12 ; 4 8"
    assert short_input("explanation", user=12, item=77) == "user_12 ; 77"
    for family, t in SHORT.items():
        assert t.family == family and t.short and not t.seen
    with pytest.raises(KeyError, match="history"):
        short_input("sequential", user=12)


def test_extra_fields_ignored_and_source_only_rendering():
    t = get_template("2-3")
    assert render_source(t, user=1, history=[2], item=5) == render(
        t, user=1, history=[2], target=3, title="x"
    )[0]


def test_template_validation():
    with pytest.raises(ValueError, match="unknown field"):
        Template("sequential", "2-99", "{user} {rating}", "{target}", seen=True)
    with pytest.raises(ValueError, match="plain name"):
        Template("sequential", "2-99", "{user!r}", "{target}", seen=True)
    with pytest.raises(ValueError, match="unknown family"):
        Template("rating", "1-1", "{user}", "{target}", seen=True)
    with pytest.raises(TypeError):
        render(get_template("2-1"), user=1.5, history=[1], target=2)
