"""The claims files (polab/claims.py): validation, writing and reading back, the verdict rule,
the shipped files against the registry and the benchmarks, and the README's generated claims
and goals tables."""

import argparse
import json
from pathlib import Path

import pytest
from helpers import readme_block

from polab import claims, registry
from polab.claims import Claim, load_claims, seed_verdict, write_claims

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")}
NOT_BENCHMARKS = {"reference_ppo.py"}
"""Modules in benchmarks/ that other benchmarks import and that measure nothing themselves."""


def claim(**changes) -> Claim:
    base = {"card": "41_bgpo", "algorithms": ("bgpo",), "notebook": "14_scaling_and_diffusion",
            "claim": "c", "baseline": "b", "metric": "m", "seeds": (0, 1),
            "values": {"a": (1.0, 2.0), "b": (0.5, float("nan"))}, "verdict": "reproduced"}
    return Claim(**{**base, **changes})


def test_bad_claims_name_the_field():
    with pytest.raises(ValueError, match="verdict='holds' is not one of"):
        claim(verdict="holds")
    with pytest.raises(ValueError, match=r"values\['a'\] has 1 numbers, expected 2"):
        claim(values={"a": (1.0,)})
    with pytest.raises(ValueError, match="algorithms is empty"):
        claim(algorithms=())
    assert claim(seeds=(), values={"a": (3.0,)}).seeds == ()  # one deterministic measurement


def goal(**changes) -> Claim:
    base = {"card": "", "issue": 19, "algorithms": (), "notebook": "00_tour", "claim": "c",
            "baseline": "b", "metric": "m", "seeds": (), "values": {"a": (2.0,)},
            "verdict": "met"}
    return Claim(**{**base, **changes})


def test_goal_claims_validate():
    assert goal().is_goal and not claim().is_goal
    assert goal(verdict="not met").algorithms == ()  # a goal may measure no algorithm
    with pytest.raises(ValueError, match=r"verdict='reproduced' is not one of \['met', "):
        goal(verdict="reproduced")
    with pytest.raises(ValueError, match="verdict='met' is not one of"):
        claim(verdict="met")  # a card's claim keeps the card verdicts
    with pytest.raises(ValueError, match="card and issue are both empty"):
        goal(issue=None)
    with pytest.raises(ValueError, match="card='41_bgpo' and issue=19"):
        claim(issue=19)
    with pytest.raises(ValueError, match=r"Claim of issue 19 .*values\['a'\] has 2 numbers"):
        goal(values={"a": (1.0, 2.0)})


def test_goal_claims_read_back_and_card_claims_keep_their_format(tmp_path):
    path = write_claims("g", [goal(), claim()], results_dir=tmp_path)
    raw = json.loads(path.read_text())["claims"]
    assert raw[0]["issue"] == 19 and "issue" not in raw[1]  # card files read as before
    back = load_claims((tmp_path,))["g"].claims
    assert back == (goal(), claim(values={"a": (1.0, 2.0), "b": (0.5, None)}))
    files = load_claims((tmp_path,))
    assert list(claims.by_issue(files)) == [19] and list(claims.by_card(files)) == ["41_bgpo"]
    assert "| 19 | c | b | **met** |" in claims.goals_table(files)
    assert "| 19 |" not in claims.markdown_table(files)


def test_seed_verdict():
    assert seed_verdict([True, True, True], True) == "reproduced"
    assert seed_verdict([True, False, True], True) == "reproduced (weakly)"
    assert seed_verdict([True, False, False], False) == "not reproduced"
    assert seed_verdict([], False) == "not reproduced"


def test_written_file_reads_back_and_a_fresh_run_replaces_the_shipped_one(tmp_path):
    shipped, fresh = tmp_path / "shipped", tmp_path / "fresh"
    write_claims("x", [claim()], results_dir=shipped, machine_text="box", date="2026-01-01")
    path = write_claims("x", [claim(verdict="not reproduced")], results_dir=fresh)
    raw = json.loads(path.read_text())
    assert raw["claims"][0]["values"]["b"] == [0.5, None]  # NaN is null in JSON
    assert set(raw) >= {"name", "script", "command", "machine", "date", "claims"}
    assert load_claims((shipped,))["x"].claims[0].verdict == "reproduced"
    assert load_claims((shipped,))["x"].date == "2026-01-01"
    assert load_claims((shipped, fresh))["x"].claims[0].verdict == "not reproduced"
    (fresh / "broken.json").write_text('{"name": "broken"}')
    with pytest.raises(ValueError, match="broken.json: not a claims file"):
        load_claims((fresh,))


def test_save_run_writes_the_results_and_the_claims_file_but_no_empty_one(tmp_path):
    args = argparse.Namespace(json=tmp_path / "run" / "res.json", results_dir=tmp_path / "out")
    res = {1: {"x": 0.5}}  # an integer key: the claims see the JSON form, "1"

    def claims_of(r: dict) -> list[Claim]:
        return [goal(values={"x": (r["1"]["x"],)})] if r["1"]["x"] > 0 else []

    path = claims.save_run("toy", res, claims_of, args)
    assert json.loads(args.json.read_text()) == {"1": {"x": 0.5}}
    assert load_claims((tmp_path / "out",))["toy"].claims[0].values == {"x": (0.5,)}
    path.unlink()
    assert claims.save_run("toy", {1: {"x": 0.0}}, claims_of, args) is None
    assert not (tmp_path / "out" / "toy.json").exists()


def test_shipped_claims_name_registered_algorithms_their_cards_and_notebooks():
    files = load_claims((claims.SHIPPED_RESULTS,))
    assert files, "no claims file in benchmarks/results/claims/"
    for f in files.values():
        assert (ROOT / f.script).exists(), f"{f.name}: no script {f.script}"
        for c in f.claims:
            assert c.notebook in NOTEBOOKS, f"{f.name}: no notebook {c.notebook}"
            assert c.issue is None or c.issue > 0, f"{f.name}: issue {c.issue}"
            for name in c.algorithms:
                spec = registry.get(name)  # registered, goal or card
                assert c.is_goal or spec.card.startswith(c.card[:2]), (f.name, name, c.card)


def test_readme_claims_table_is_the_shipped_claims():
    assert readme_block(claims.README_BEGIN, claims.README_END) == claims.readme_table(), (
        "README.md's claims table differs from benchmarks/results/claims/: run "
        "python scripts/readme_tables.py")


def test_readme_goals_table_is_the_shipped_goals():
    block = readme_block(claims.README_GOALS_BEGIN, claims.README_GOALS_END)
    assert block == claims.readme_goals_table(), (
        "README.md's goals table differs from benchmarks/results/claims/: run "
        "python scripts/readme_tables.py")
    text = (ROOT / "README.md").read_text()
    assert text.index(claims.README_GOALS_BEGIN) > text.index("### Speed"), (
        "the goals table belongs under the README's Speed table")


def test_every_benchmark_ships_a_claims_file():
    """Issue 20: every benchmark writes a result file; one with no shipped file fails here."""
    scripts = {f.script for f in load_claims((claims.SHIPPED_RESULTS,)).values()}
    missing = [p.name for p in sorted((ROOT / "benchmarks").glob("*.py"))
               if p.name not in NOT_BENCHMARKS and f"benchmarks/{p.name}" not in scripts]
    assert not missing, (f"no claims file in benchmarks/results/claims/ from {missing}: give "
                         "each a claims(res) and commit its run's file (or list a module that "
                         "measures nothing in NOT_BENCHMARKS)")
    assert all((ROOT / "benchmarks" / name).exists() for name in NOT_BENCHMARKS)


def test_every_registered_algorithm_with_a_card_has_a_measured_claim():
    """Issue 20: a registered algorithm with a card and no result file fails here."""
    covered = {name for f in load_claims((claims.SHIPPED_RESULTS,)).values()
               for c in f.claims for name in c.algorithms}
    missing = [s.name for s in registry.ALGORITHMS.values() if s.card and s.name not in covered]
    assert not missing, f"no claims file measures {missing}: add them to a benchmark's claims"


def test_book_claims_page_has_the_goals_after_the_cards():
    import sys

    sys.path.insert(0, str(ROOT / "scripts"))
    import build_book

    page = build_book.claims_page()
    assert "## Project goals" in page and page.index("## Card") < page.index("## Project goals")
    for f in load_claims().values():
        for c in f.claims:
            assert c.claim in page, f"the claims page lacks {f.name}'s {c.source} {c.claim!r}"
            if c.is_goal:  # under its issue, in its own benchmark's table
                section = page[page.index(f"### Issue {c.issue}"):]
                assert f"Measured by `{f.script}`" in section.split("\n### ")[0], f.name
