"""The registry (polab/registry/) is the one list of algorithms: every entry's Config and
trainer import, its notebook and card exist, its smallest run (``smoke``) builds on its default
testbed and steps once with finite metrics, and the README's algorithm table is the
registry's (README, "Algorithms")."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import readme_block

from polab import registry
from polab.config import Config

ROOT = Path(__file__).resolve().parent.parent

# The card files of ../shared/cards (beside a clone in CI, absent elsewhere): a fixed list, so
# this test does not depend on that folder.
CARDS = frozenset(
    f"{n:02d}_{s}.md" for n, s in enumerate(
        "parl iterresearch hdpo cmorl a2fm capo hapo_history tppo sapo_swarm pg_igt_harpg "
        "hapo_hetero cpto adyen_cb loop d3s inpo moe_survey vopp agnostic_rl mdpo umt_psr hbpo "
        "ghpo scalerl papo a2pr arpo bqnco agent_survey apo backtrack drrpo prefix_grouper "
        "subpo otc aspo spo camel iwocs trimpi bgpo h2o".split(), start=1))

NAMES = registry.names()


def test_the_registry_holds_every_family_and_testbed():
    assert {"pg", "group", "morl", "diffsim"} <= {s.family for s in registry.ALGORITHMS.values()}
    for name in ("hdpo", "inventory-reinforce", "c-morl", "linear-scalarisation", "vanilla-pg",
                 "npg-igt", "harpg", "n-harpg"):
        assert name in registry.ALGORITHMS
    with pytest.raises(ValueError, match="unknown algorithm 'sarsa'"):
        registry.get("sarsa")
    with pytest.raises(ValueError, match="registered twice"):
        registry.register(registry.get("ppo"))


@pytest.mark.parametrize("name", NAMES)
def test_entry_refs_notebook_card_and_smoke_fields(name):
    spec = registry.get(name)
    assert issubclass(spec.config, Config) and callable(spec.cls)
    fields = {f.name for f in spec.config.spec()}
    assert {k for k, _ in spec.smoke} <= fields, "smoke names fields the config lacks"
    assert (ROOT / "notebooks" / f"{spec.notebook}.ipynb").is_file()
    assert spec.card is None or spec.card in CARDS
    assert spec.default_env.split(":")[0] in {e.split(":")[0]
                                              for e in registry.testbed_envs(spec.testbed)}
    config = spec.make_config(smoke=True)
    assert spec.iterations(config) >= 1


@pytest.mark.parametrize("name", NAMES)
def test_every_algorithm_builds_and_steps_on_its_smallest_task(name):
    spec = registry.get(name)
    algo = spec.build(spec.make_config(smoke=True), device="cpu")
    metrics = algo.step()
    assert algo.global_step > 0
    for key, value in metrics.items():
        if isinstance(value, torch.Tensor):
            value = value.detach().float()
            assert torch.isfinite(value).all(), key
        elif isinstance(value, np.ndarray):
            assert np.isfinite(value).all(), key
        elif isinstance(value, (int, float)):
            assert math.isfinite(value), key


def test_testbed_names_reach_the_config_and_must_agree():
    hdpo = registry.get("hdpo")
    assert hdpo.make_config(env="lost-sales").lost_sales is True
    assert registry.get("c-morl").make_config(env="fruit-tree-3d").env == "fruit-tree-3d"
    with pytest.raises(ValueError, match="unknown inventory setting 'nope'"):
        hdpo.make_config(env="nope")
    with pytest.raises(ValueError, match="needs lost_sales=True"):
        hdpo.build(hdpo.make_config(env="backlogged"), "lost-sales")
    with pytest.raises(ValueError, match="unknown LQR system"):
        registry.get("harpg").build(registry.get("harpg").make_config(), "nope")


def test_linear_scalarisation_counts_its_own_run_length():
    spec = registry.get("linear-scalarisation")
    config = spec.make_config(smoke=True)
    assert spec.iterations(config) == config.baseline_iterations


def test_readme_algorithm_table_is_the_registry():
    block = readme_block(registry.README_BEGIN, registry.README_END)
    assert block == registry.markdown_table(), (
        "README.md's algorithm table differs from polab/registry/: run "
        "python scripts/readme_tables.py")
    for name in NAMES:
        assert f"| `{name}` |" in block


def test_readme_lists_every_notebook_and_benchmark():
    """The series table names every notebook, the benchmark table every script."""
    text = (ROOT / "README.md").read_text()
    series = text.split("## The series", 1)[1].split("\n## ", 1)[0]
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert f"[{path.stem}](notebooks/{path.name})" in series, f"{path.name} not in the series"
    bench = text.split("## Benchmarks", 1)[1].split("\n## ", 1)[0]
    for path in sorted((ROOT / "benchmarks").glob("*.py")):
        assert f"benchmarks/{path.name}" in bench, f"benchmarks/{path.name} not in the table"
    for spec in registry.ALGORITHMS.values():
        assert f"[{spec.notebook}](notebooks/{spec.notebook}.ipynb)" in series
