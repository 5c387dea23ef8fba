"""Configs: every bad value is rejected naming the field; every good one trains.

Property-based (hypothesis) over every config class and every field: out-of-range and
wrong-type values raise ``ValueError`` naming the field, the value and the allowed range;
in-range configs of the registered algorithms train one finite iteration. For the training
property, fields that only scale compute are drawn from the low end of their range so one
iteration stays fast (a 65,536-env rollout is valid but is a GPU's job).
"""

import dataclasses
import importlib
import math
import pkgutil
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import polab
import polab.algos as algos
from polab.config import Config, param
from polab.train import train


def all_config_classes():
    for mod in pkgutil.walk_packages(polab.__path__, "polab."):
        if not mod.name.endswith("__main__") and ".pretrain" not in mod.name:
            importlib.import_module(mod.name)
    seen, todo = [], list(Config.__subclasses__())
    while todo:
        cls = todo.pop()
        seen.append(cls)
        todo.extend(cls.__subclasses__())
    return sorted({c for c in seen if dataclasses.fields(c)}, key=lambda c: c.__name__)


CONFIGS = all_config_classes()
FIELDS = [(cls, spec) for cls in CONFIGS for spec in cls.spec()]


def bad_values(spec):
    """Values of the wrong type, outside the range, or not among the choices."""
    if spec.type is bool:
        return st.sampled_from([0, 1, "yes", None, 1.0])
    if spec.choices is not None:
        return st.one_of(st.text(max_size=6).filter(lambda s: s not in spec.choices),
                         st.integers() if spec.type is str else st.none())
    wrong = [st.text(max_size=3), st.none(), st.just(True)]
    if spec.type is int:
        wrong.append(st.floats(allow_nan=False).filter(lambda x: not float(x).is_integer()))
    else:
        wrong.append(st.sampled_from([math.nan, math.inf, -math.inf]))
    number = st.integers if spec.type is int else st.floats
    if spec.low is not None:
        below = spec.low - 1 if spec.type is int else spec.low - abs(spec.low) * 0.5 - 1e-3
        wrong.append(number(max_value=below))
    if spec.high is not None:
        above = spec.high + 1 if spec.type is int else spec.high + abs(spec.high) * 0.5 + 1e-3
        wrong.append(number(min_value=above, **({} if spec.type is int else
                                                {"allow_infinity": False})))
    return st.one_of(wrong)


@pytest.mark.parametrize("cls,spec", FIELDS, ids=[f"{c.__name__}.{s.name}" for c, s in FIELDS])
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_bad_value_raises_naming_field_value_and_range(cls, spec, data):
    value = data.draw(bad_values(spec))
    config = cls().replace(**{spec.name: value})
    with pytest.raises(ValueError) as err:
        config.validate()
    message = str(err.value)
    assert f"{cls.__name__}.{spec.name}=" in message
    assert repr(value) in message
    assert "expected" in message


@pytest.mark.parametrize("cls", CONFIGS, ids=[c.__name__ for c in CONFIGS])
def test_defaults_are_valid(cls):
    assert cls().validate().problems() == []


# Compute-scaling fields: drawn from [low, cap] in the training property.
CAPS = {"num_envs": 16, "num_steps": 32, "total_timesteps": 4096, "hidden": 32,
        "update_epochs": 3, "num_iterations": 3}


def good_values(spec):
    if spec.type is bool:
        return st.booleans()
    if spec.choices is not None:
        return st.sampled_from(spec.choices)
    high = min(spec.high, CAPS.get(spec.name, spec.high))
    if spec.type is int:
        return st.integers(spec.low, high)
    if spec.log:
        return st.floats(math.log10(spec.low), math.log10(high)).map(lambda e: 10.0 ** e)
    return st.floats(spec.low, high)


@st.composite
def valid_configs(draw, spec_):
    values = {s.name: draw(good_values(s)) for s in spec_.config.spec()}
    config = spec_.make_config(**values)
    if hasattr(config, "batch_size") and hasattr(config, "num_minibatches"):
        divisors = [d for d in range(1, config.batch_size + 1)
                    if config.batch_size % d == 0 and d <= 64]
        config = config.replace(num_minibatches=draw(st.sampled_from(divisors)))
    return config


@pytest.mark.parametrize("name", sorted(n for n, s in algos.ALGORITHMS.items()
                                         if s.testbed == "env"))  # LM configs: test_grpo.py
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_valid_config_trains_one_finite_iteration(name, data):
    spec = algos.ALGORITHMS[name]
    config = data.draw(valid_configs(spec))
    assert config.problems() == []
    history = train(spec.cls(config, spec.default_env, device="cpu"), 1, progress=False)
    assert history.status == "finished", history.message
    assert all(math.isfinite(v) for v in history.records[0].values())


def test_cross_field_rule_and_overrides():
    from polab.algos import PPOConfig

    bad = PPOConfig(num_envs=3, num_steps=5, num_minibatches=4)
    assert any("num_minibatches=4 must divide" in p for p in bad.problems())
    cfg = PPOConfig().with_overrides(["learning_rate=1e-3", "norm_adv=false", "num_envs=8"])
    assert (cfg.learning_rate, cfg.norm_adv, cfg.num_envs) == (1e-3, False, 8)
    with pytest.raises(ValueError, match="no field 'lr'"):
        PPOConfig().with_overrides(["lr=1"])
    with pytest.raises(ValueError, match="num_envs='many' is not a valid int"):
        PPOConfig().with_overrides(["num_envs=many"])


def test_param_metadata_reaches_spec():
    @dataclass(frozen=True)
    class Demo(Config):
        lr: float = param(1e-3, help="step size", low=1e-5, high=1.0, log=True, paper="X 2020")
        mode: str = param("a", help="which", choices=("a", "b"))

    lr, mode = Demo.spec()
    assert (lr.log, lr.low, lr.paper, lr.help) == (True, 1e-5, "X 2020", "step size")
    assert mode.choices == ("a", "b")
    with pytest.raises(ValueError, match=r"Demo.mode='c' is not allowed: expected one of"):
        Demo(mode="c").validate()


@pytest.mark.parametrize("value,expected", [
    (np.float32(0.1), 0.1), (np.float64(0.25), 0.25), (np.array(0.5, dtype=np.float32), 0.5),
    (torch.tensor(0.3), 0.3), (torch.tensor(2e-3, dtype=torch.float64), 2e-3)])
def test_numpy_and_torch_floats_become_python_floats(value, expected):
    from polab.algos import PPOConfig

    cfg = PPOConfig(clip_coef=value).validate()
    assert type(cfg.clip_coef) is float and cfg.clip_coef == expected


def test_numpy_and_torch_ints_and_bools_become_python_scalars():
    from polab.algos import PPOConfig

    cfg = PPOConfig(num_envs=np.int64(4), seed=torch.tensor(3), norm_adv=np.bool_(False),
                    clip_vloss=torch.tensor(False), learning_rate=np.int32(0)).replace(
                        learning_rate=np.float32(1e-3)).validate()
    assert (cfg.num_envs, cfg.seed, cfg.norm_adv, cfg.clip_vloss) == (4, 3, False, False)
    assert [type(cfg.num_envs), type(cfg.seed), type(cfg.norm_adv)] == [int, int, bool]
    assert cfg.learning_rate == 1e-3
    assert cfg.to_dict()["num_envs"] == 4


@pytest.mark.parametrize("field,value", [
    ("num_envs", np.float32(1.5)), ("num_envs", torch.tensor(2.0)), ("norm_adv", np.int64(1)),
    ("num_envs", torch.tensor([3, 4])), ("clip_coef", np.array([0.1, 0.2]))])
def test_wrong_numpy_or_torch_type_still_names_the_field(field, value):
    from polab.algos import PPOConfig

    with pytest.raises(ValueError, match=rf"PPOConfig\.{field}=.* has the wrong type"):
        PPOConfig(**{field: value}).validate()
