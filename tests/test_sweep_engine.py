"""``polab sweep`` / ``run_sweep`` (issue 18, "Done when": sweep): the same table with
``--workers`` 0, 1 and 2; reruns skip done trials and retry failed ones; a bad config is a
failed row naming its field while the other trials run; ``--address`` joins a head started
on 127.0.0.1; ``parse_grid`` and ``load_spec`` coerce values and name bad knobs."""

import dataclasses
import math
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from polab import cli
from polab.sweep import SweepSpec, engine, load_spec, parse_grid, run_sweep, summary
from polab.sweep.engine import comparable

ALGO, ENV = "scalerl", "bandit"  # card 24's 64-arm bandit: 8 trials in ~2 s in-process
GRID = {"surrogate": ("cispo", "clip"), "zero_var_filter": (True, False)}
SEEDS, ITERATIONS = (0, 1), 3
ROOT = Path(__file__).resolve().parent.parent
RAY = Path(sys.executable).with_name("ray")


def make_spec(out: Path, **changes) -> SweepSpec:
    return SweepSpec(**{"algo": ALGO, "env": ENV, "grid": GRID, "seeds": SEEDS,
                        "iterations": ITERATIONS, "smoke": True, "out": out, "workers": 0,
                        **changes})


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> pd.DataFrame:
    """The sweep run in this process (``workers=0``): 2 × 2 grid × 2 seeds."""
    return run_sweep(make_spec(tmp_path_factory.mktemp("ref")), progress=False)


def test_in_process_table_has_a_row_per_record_in_trial_order(reference):
    trials = make_spec(Path("unused")).trials()
    assert len(trials) == 8 and len(reference) == 8 * ITERATIONS
    assert list(reference["trial_id"].drop_duplicates()) == [t.trial_id for t in trials]
    assert (reference["status"] == "finished").all() and (reference["error"] == "").all()
    assert list(reference.columns[:7]) == ["trial_id", "variant", "surrogate",
                                           "zero_var_filter", "seed", "step", "compute"]
    assert (reference["compute"] == reference["compute/flops"]).all()  # ScaleRL logs FLOPs
    assert (reference["step"] == reference["global_step"]).all()
    first = reference.iloc[:ITERATIONS]
    assert list(first["surrogate"]) == ["cispo"] * ITERATIONS
    assert list(first["seed"]) == [0] * ITERATIONS
    assert list(first["variant"]) == ["default"] * ITERATIONS
    assert reference["eval/pass_rate"].notna().any()


def test_sweep_curves_figure_draws_a_line_per_trial_and_a_legend_per_variant(tmp_path):
    from polab.plots.sweep import sweep_curves_figure

    spec = make_spec(tmp_path, grid={}, variants={"a": {}, "b": {"learning_rate": 0.05},
                                                  "bad": {"learning_rate": 5.0}})
    table = run_sweep(spec, progress=False)
    fig = sweep_curves_figure(table, x="compute", y="reward", log_x=True)
    assert len(fig.data) == 4  # two seeds of a and b; the failed variant draws nothing
    assert [t.showlegend for t in fig.data] == [True, False, True, False]
    assert fig.data[0].line.color == fig.data[1].line.color != fig.data[2].line.color
    assert list(fig.data[0].x) == list(table["compute"][:ITERATIONS])
    with pytest.raises(ValueError, match="no column 'nope'"):
        sweep_curves_figure(table, y="nope")


def test_import_does_not_import_ray():
    code = "import sys, polab.sweep; sys.exit('ray' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}).returncode == 0


def test_rerun_skips_done_trials_and_retries_failed_ones(tmp_path, monkeypatch):
    calls = []
    real_train = engine.train

    def flaky_train(algo, n, **kw):
        calls.append(algo.config.seed)
        if algo.config.seed == 1 and len(calls) <= 8:  # seed 1 fails on the first run only
            raise RuntimeError("worker lost\nsecond line")
        return real_train(algo, n, **kw)

    monkeypatch.setattr(engine, "train", flaky_train)
    spec = make_spec(tmp_path)
    first = run_sweep(spec, progress=False)
    failed = first[first["status"] == "failed"]
    assert len(calls) == 8 and len(failed) == 4 and set(failed["seed"]) == {1}
    assert set(failed["error"]) == {"RuntimeError: worker lost"}
    assert len(engine.read_results(tmp_path)) == 4 * ITERATIONS + 4

    second = run_sweep(spec, progress=False)  # only the four failed trials run again
    assert calls[8:] == [1, 1, 1, 1] and (second["status"] == "finished").all()
    assert len(engine.read_results(tmp_path)) == 8 * ITERATIONS  # failed rows replaced
    run_sweep(spec, progress=False)  # nothing left to run
    assert len(calls) == 12 and len(engine.read_results(tmp_path)) == 8 * ITERATIONS


def test_bad_config_is_a_failed_row_and_the_others_run(tmp_path, reference):
    grid = {"learning_rate": (0.1, 5.0), "zero_var_filter": (True,)}
    table = run_sweep(make_spec(tmp_path, grid=grid), progress=False)
    bad = table[table["learning_rate"] == 5.0]
    assert len(bad) == 2 and (bad["status"] == "failed").all()  # one row per seed
    assert bad["step"].isna().all()
    assert all("learning_rate=5.0 is out of range" in e for e in bad["error"])
    good = table[table["learning_rate"] == 0.1]  # the default: the reference's cispo trials
    assert len(good) == 2 * ITERATIONS and (good["status"] == "finished").all()
    same = reference[(reference["surrogate"] == "cispo") & reference["zero_var_filter"]]
    pd.testing.assert_series_equal(good["loss"].reset_index(drop=True),
                                   same["loss"].reset_index(drop=True))
    rows = summary(table, make_spec(tmp_path, grid=grid))
    assert list(rows["done"]) == [2, 0] and list(rows["failed"]) == [0, 2]
    assert math.isfinite(rows["mean"][0]) and math.isnan(rows["mean"][1])


class TestLocalRay:
    """Workers 1 and 2 share one local Ray session, started as ``run_sweep`` starts it (its
    workers import this checkout's polab, which holds the ``scalerl`` entry, only through the
    ``PYTHONPATH`` that ``init_ray`` gives them)."""

    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def local_ray(cls, tmp_path_factory):
        import ray

        elsewhere = tmp_path_factory.mktemp("x")
        with pytest.MonkeyPatch.context() as mp:  # only init_ray's PYTHONPATH leads to ROOT
            mp.delenv("PYTHONPATH", raising=False)
            mp.chdir(elsewhere)
            assert engine.init_ray(make_spec(elsewhere, workers=2))
        yield
        ray.shutdown()

    @pytest.mark.parametrize("workers", [1, 2])
    def test_same_table_with_ray_workers(self, workers, tmp_path, reference):
        table = run_sweep(make_spec(tmp_path, workers=workers), progress=False)
        pd.testing.assert_frame_equal(comparable(table), comparable(reference))
        assert not table["time"].equals(reference["time"])  # what comparable() leaves out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module", autouse=True)
def head():
    """A Ray head on 127.0.0.1 (``ray start --head``), started with the module so that its
    start-up overlaps the other tests; ``--block`` makes SIGTERM stop it and everything it
    started (``ray stop`` would stop every Ray on the machine). Token authentication off:
    the driver joins by address alone. Without ``PYTHONPATH``: its workers find this checkout
    only through the job's ``runtime_env`` (else they would import the polab installed in the
    environment, which may lack ``scalerl`` or ``polab.sweep``, and every trial would fail)."""
    port = _free_port()
    proc = subprocess.Popen(
        [str(RAY), "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port),
         "--num-cpus", "2", "--include-dashboard", "false", "--block"],
        env={**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
             "RAY_AUTH_MODE": "disabled"}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        yield proc, port
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def test_cli_joins_a_head_on_localhost(tmp_path, reference, head, capsys, monkeypatch):
    proc, port = head
    monkeypatch.chdir(tmp_path)  # Ray puts the driver's directory on its workers' sys.path
    for line in proc.stdout:
        if "Ray runtime started" in line:
            break
    else:
        pytest.fail("ray start --head did not start")
    code = cli.main(["sweep", ALGO, "--env", ENV, "--grid", "surrogate=cispo,clip",
                     "--grid", "zero_var_filter=true,false", "--seeds", "0,1", "--iterations",
                     str(ITERATIONS), "--smoke", "--address", f"127.0.0.1:{port}",
                     "--workers", "1", "--out", str(tmp_path), "--quiet"])  # one worker to start
    text = capsys.readouterr().out
    assert code == 0 and f"Ray at 127.0.0.1:{port}" in text
    assert f"table: {tmp_path / 'results.csv'} ({8 * ITERATIONS} rows" in text
    assert text.count("default ") == 4 and "± " in text  # one summary line per grid point
    table = engine.sweep_table(engine.read_results(tmp_path), make_spec(tmp_path),
                               make_spec(tmp_path).trials())
    pd.testing.assert_frame_equal(comparable(table), comparable(reference))


def test_parse_grid_coerces_to_the_field_types():
    grid = parse_grid(["learning_rate=1e-3,0.01", "zero_var_filter=true,0",
                       "off_policy_k=4,8.0", "is_correction=yes", "surrogate=clip"], ALGO)
    assert grid == {"learning_rate": (1e-3, 0.01), "zero_var_filter": (True, False),
                    "off_policy_k": (4, 8), "is_correction": (True,), "surrogate": ("clip",)}
    assert type(grid["off_policy_k"][1]) is int and type(grid["learning_rate"][0]) is float
    assert parse_grid("eps_max=2", ALGO) == {"eps_max": (2.0,)}
    # a spec coerces what the Python API gives it too (an int for a float field, strings)
    spec = SweepSpec(ALGO, grid={"eps_max": [1, "2.5"]}, variants={"b": {"lm_head_fp32": "off"}})
    assert spec.grid == {"eps_max": (1.0, 2.5)} and spec.variants == {"b": {"lm_head_fp32": False}}


@pytest.mark.parametrize("item, message", [
    ("lr=0.1", "scalerl has no knob 'lr'; knobs are "),
    ("learning_rate=fast", "learning_rate='fast' is not a valid float"),
    ("is_correction=maybe", "is_correction='maybe' is not a valid bool"),
    ("off_policy_k=2.5", "off_policy_k='2.5' is not a valid int"),
    ("learning_rate", "--grid expects key=v1,v2"),
    ("learning_rate=", "--grid learning_rate= lists no values"),
    ("seed=1,2", "seed is not a knob of a sweep"),
])
def test_parse_grid_names_bad_input(item, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        parse_grid(item, ALGO)


def test_spec_names_bad_fields(tmp_path):
    for kw, message in [({"seeds": []}, "SweepSpec.seeds"), ({"seeds": [0, 0]}, "repeats"),
                        ({"workers": -1}, "SweepSpec.workers"),
                        ({"iterations": 0}, "SweepSpec.iterations"),
                        ({"gpus_per_trial": 1.0}, "gpus_per_trial > 0 with device='cpu'"),
                        ({"variants": {"v": {"eps_max": 2}}, "grid": {"eps_max": [3]}},
                         "set by variant 'v' and by the grid"),
                        ({"algo": "nope"}, "unknown algorithm 'nope'")]:
        with pytest.raises(ValueError, match=message):
            SweepSpec(**{"algo": ALGO, **kw})


def test_load_spec_reads_variants_and_grid(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('algo = "scalerl"\nenv = "bandit"\nseeds = [0, 1]\niterations = 2\n'
                    'smoke = true\n[grid]\nlearning_rate = [0.1, 1]\n'
                    '[variants.scalerl]\n[variants.no-is]\nis_correction = "false"\n')
    spec = load_spec(path, out=tmp_path, workers=0)
    assert spec.variants == {"scalerl": {}, "no-is": {"is_correction": False}}
    assert spec.grid == {"learning_rate": (0.1, 1.0)} and spec.seeds == (0, 1)
    trials = spec.trials()
    assert [(t.variant, t.knobs.get("learning_rate"), t.seed) for t in trials[:3]] == [
        ("scalerl", 0.1, 0), ("scalerl", 0.1, 1), ("scalerl", 1.0, 0)]
    assert len({t.trial_id for t in trials}) == 8
    assert not any(t.config.is_correction for t in trials[4:])
    assert trials[0].config.is_correction and trials[0].config.generation_batch_size == 32
    table = run_sweep(spec, progress=False)  # variants × grid × seeds, lr=1 is in range
    assert len(table) == 8 * 2 and list(table["variant"].unique()) == ["scalerl", "no-is"]
    path.write_text('algo = "scalerl"\n[grid]\nlr = [1]\n')
    with pytest.raises(ValueError, match="no knob 'lr'"):
        load_spec(path)
    path.write_text('algo = "scalerl"\nworkers = 3\n')
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['workers'\]"):
        load_spec(path)
    path.write_text("algo = \n")
    with pytest.raises(ValueError, match="not valid TOML"):
        load_spec(path)


@pytest.mark.parametrize("args, message", [
    (["--grid", "lr=0.1,0.2"], "scalerl has no knob 'lr'; knobs are "),
    (["--seeds", "0,x"], "--seeds '0,x': expected integers"),
    (["--iterations", "0"], "argument --iterations: 0 must be at least 1"),
    (["--workers", "-1"], "argument --workers: -1 must be 0 or more"),
    (["--gpus-per-trial", "1"], "gpus_per_trial > 0 with device='cpu'"),
])
def test_cli_errors_are_one_line(args, message, tmp_path, capsys):
    argv = ["sweep", ALGO, *args, "--out", str(tmp_path)]
    try:
        code = cli.main(argv if "--workers" in args else [*argv, "--workers", "0"])
    except SystemExit as stop:  # argparse's own errors
        code = stop.code
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("polab: error: ") and message in err
    assert not (tmp_path / "results.csv").exists()


def test_cli_needs_an_algorithm_or_a_spec(capsys):
    assert cli.main(["sweep"]) == 2
    assert "name an algorithm (polab sweep ALGO ...) or a --spec FILE" in capsys.readouterr().err


def test_rerun_exercise_checker(tmp_path):
    from polab.sweep.exercises import check_rerun_answer

    spec = make_spec(tmp_path, grid={}, variants={"a": {}, "bad": {"learning_rate": 5.0}})
    before = run_sweep(spec, progress=False)
    after = run_sweep(dataclasses.replace(spec, seeds=(0, 1, 2)), progress=False)
    assert len(after.attrs["ran"]) == 4 and len(after.attrs["skipped"]) == 2
    ok = check_rerun_answer(before, after, 4)
    assert ok.ok and "2 were already finished" in ok.message and "2 had failed" in ok.message
    wrong = check_rerun_answer(before, after, 2)
    assert not wrong.ok and "So it is 4, not 2" in wrong.message
    assert not check_rerun_answer(before, after, "4").ok


def test_cli_runs_a_spec_file_and_skips_on_rerun(tmp_path, capsys):
    path = tmp_path / "recipes.toml"
    path.write_text('algo = "scalerl"\nenv = "bandit"\nseeds = [0, 1]\n'
                    '[variants.scalerl]\n[variants.ppo-clip]\nsurrogate = "clip"\n')
    argv = ["sweep", "--spec", str(path), "--grid", "zero_var_filter=true,false",
            "--iterations", "2", "--smoke", "--workers", "0", "--out", str(tmp_path / "o"),
            "--quiet"]
    assert cli.main(argv) == 0
    text = capsys.readouterr().out
    assert "= 2 × 2 × 2) in this process" in text and "ran 8 trials, skipped 0" in text
    assert text.count("\n scalerl ") == 2 and text.count("\nppo-clip ") == 2
    assert cli.main(argv) == 0 and "ran 0 trials, skipped 8" in capsys.readouterr().out
    assert cli.main(["sweep", "ppo", "--spec", str(path)]) == 2
    assert "sweeps scalerl, not ppo" in capsys.readouterr().err
