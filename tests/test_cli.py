"""``polab list`` and ``polab train`` read the registry for every testbed, and no run is lost
(README, "Commands"): Ctrl-C and a closed pipe keep the history so far in ``--save``; a
``--save`` path that cannot be written is refused before training; every error is one line
on stderr without a traceback."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from polab import cli, registry
from polab.train import History

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "POLAB_SMOKE": "1"}
PPO_SMALL = ["--set", "num_envs=4", "--set", "num_steps=16", "--set", "num_minibatches=2"]


def _sigint_as_in_a_terminal() -> None:
    """A command started in the background of a non-interactive shell (as CI may start the
    suite) inherits an ignored SIGINT, and Python then never raises KeyboardInterrupt; a
    user's terminal delivers it. The child gets the terminal's default back."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def polab(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "polab.cli", *args], cwd=ROOT, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_sigint_as_in_a_terminal, **kw)


def smoke_sets(name: str) -> list[str]:
    """``--set`` arguments of ``name``'s smallest run, less its run length."""
    spec = registry.get(name)
    return [a for k, v in spec.smoke if k != spec.run_length for a in ("--set", f"{k}={v}")]


def test_list_shows_every_algorithm_by_family(capsys):
    assert cli.main(["list"]) == 0
    text = capsys.readouterr().out
    for spec in registry.ALGORITHMS.values():
        assert f"  {spec.name} " in text and spec.paper in text
        assert f"notebooks/{spec.notebook}.ipynb" in text
    for family in ("pg:", "group:", "morl:", "diffsim:"):
        assert f"\n{family}\n" in f"\n{text}"
    assert "backlogged, lost-sales" in text and "double-integrator" in text


def test_cli_list_and_train(tmp_path, capsys):
    out = tmp_path / "h.json"
    code = cli.main(["train", "ppo", "--env", "CartPole-v1", "--seed", "1", "--quiet",
                     "--set", "num_envs=8", "--set", "num_steps=16", "--iterations", "2",
                     "--save", str(out)])
    text = capsys.readouterr().out
    assert code == 0 and "wall-clock" in text and "solved threshold 475" in text
    assert f"history saved to {out}" in text
    assert len(History.load(out)) == 2


@pytest.mark.parametrize(("name", "env", "expect"), [
    ("harpg", "double-integrator", "final optimality_gap: "),
    ("inventory-reinforce", "lost-sales", "final gap_pct: "),
    ("linear-scalarisation", "deep-sea-treasure-v0", "final morl/hypervolume: "),
])
def test_train_runs_every_testbed(name, env, expect, capsys):
    code = cli.main(["train", name, "--env", env, "--quiet", "--iterations", "2",
                     *smoke_sets(name)])
    text = capsys.readouterr().out
    assert code == 0, text
    assert f"on {env}, seed 0, 2 iterations" in text and expect in text


def test_cli_trains_a_language_task_algorithm(capsys):
    code = cli.main(["train", "dr-grpo", "--quiet", "--iterations", "2",
                     "--set", "generation_batch_size=32"])
    text = capsys.readouterr().out
    assert code == 0 and "on addition" in text and "final eval/pass@1" in text
    assert "completions sampled: 64" in text


def test_iterations_sets_the_run_length_or_may_only_shorten_a_budget(capsys):
    assert cli.main(["train", "hdpo", "--iterations", "7", "--help-config"]) == 0
    assert "num_iterations       = 7 " in capsys.readouterr().out
    assert cli.main(["train", "harpg", "--iterations", "1000000000"]) == 2
    assert cli.main(["train", "ppo", "--iterations", "100000"]) == 2
    assert "can only shorten" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        cli.main(["train", "ppo", "--iterations", "0"])
    assert stop.value.code == 2
    assert capsys.readouterr().err == "polab: error: argument --iterations: 0 must be at least 1\n"


def test_cli_bad_input_is_a_clear_error(capsys):
    assert cli.main(["train", "ppo", "--set", "clip_coef=7"]) == 2
    assert "PPOConfig.clip_coef=7.0 is out of range" in capsys.readouterr().err
    assert cli.main(["train", "sarsa"]) == 2
    assert "unknown algorithm 'sarsa'" in capsys.readouterr().err
    assert cli.main(["train", "grpo", "--env", "nope"]) == 2
    assert "no base checkpoint 'nope'" in capsys.readouterr().err
    assert cli.main(["train", "sac", "--env", "CartPole-v1"]) == 2
    assert "needs continuous actions" in capsys.readouterr().err
    assert cli.main(["train", "hdpo", "--env", "nope"]) == 2
    assert "unknown inventory setting 'nope'" in capsys.readouterr().err


BAD = {
    "--device gpu0": "--device 'gpu0'",
    "--threads -1": "argument --threads: -1 must be at least 1",
    "--env gym:NoSuchEnv-v0": "--env 'gym:NoSuchEnv-v0'",
    "--env Nope-v0": "unknown environment 'Nope-v0'",
    "--set lr=abc": "has no field 'lr'",
    "--set learning_rate=abc": "learning_rate='abc' is not a valid float",
    "--set nosuchfield=1": "has no field 'nosuchfield'",
    "--iterations 0": "argument --iterations: 0 must be at least 1",
}


@pytest.mark.parametrize("bad", BAD)
def test_every_error_is_one_line(bad, capsys):
    try:
        code = cli.main(["train", "ppo", "--quiet", *bad.split()])
    except SystemExit as stop:  # argparse's own errors
        code = stop.code
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("polab: error: "), err
    assert BAD[bad] in err


def test_errors_reach_the_shell_as_one_line_without_a_traceback():
    bad = ["--device gpu0", "--env gym:NoSuchEnv-v0", "--threads -1"]
    procs = {b: polab("train", "ppo", "--quiet", *b.split()) for b in bad}
    for b, proc in procs.items():
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 2 and err.count("\n") == 1, (b, err)
        assert BAD[b] in err and "Traceback" not in err, (b, err)


def interrupt_at(monkeypatch, name: str, call: int, error: type[BaseException]) -> None:
    """Make the ``call``-th ``step()`` of ``name``'s trainer raise ``error``."""
    cls = registry.get(name).cls
    step, calls = cls.step, []

    def patched(self):
        calls.append(1)
        if len(calls) == call:
            raise error()
        return step(self)
    monkeypatch.setattr(cls, "step", patched)


def test_ctrl_c_keeps_the_history_so_far(tmp_path, monkeypatch, capsys):
    interrupt_at(monkeypatch, "ppo", 3, KeyboardInterrupt)
    save = tmp_path / "runs" / "h.json"
    code = cli.main(["train", "ppo", "--quiet", *PPO_SMALL, "--save", str(save)])
    err = capsys.readouterr().err
    assert code == cli.INTERRUPTED == 130
    assert "interrupted by Ctrl-C after 2 iterations" in err and str(save) in err
    hist = History.load(save)
    assert len(hist) == 2 and hist.status == "interrupted"


def test_ctrl_c_without_save_says_how_to_keep_it(monkeypatch, capsys):
    interrupt_at(monkeypatch, "harpg", 2, KeyboardInterrupt)
    assert cli.main(["train", "harpg", "--quiet", *smoke_sets("harpg")]) == 130
    assert "pass --save FILE to keep the history" in capsys.readouterr().err


def test_sigint_to_a_running_polab_train_keeps_the_history(tmp_path):
    save = tmp_path / "h.json"
    proc = polab("train", "ppo", *PPO_SMALL, "--save", str(save))
    seen = ""
    while "1/" not in seen:  # the progress bar's first completed iteration
        char = proc.stderr.read(1)
        assert char, seen
        seen += char
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert f"history saved to {save}" in err
    hist = History.load(save)
    assert hist.status == "interrupted" and len(hist) >= 1


def test_a_closed_pipe_keeps_the_run_and_its_history(tmp_path):
    save = tmp_path / "h.json"
    proc = polab("train", "ppo", "--quiet", *PPO_SMALL, "--iterations", "2", "--save", str(save))
    proc.stdout.close()  # the reader is gone, as after `| head -1`
    err = proc.stderr.read()
    proc.wait(timeout=120)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert err == f"polab: history saved to {save}\n"
    assert History.load(save).status == "finished"


def test_a_broken_pipe_during_training_keeps_the_history(tmp_path, monkeypatch, capsys):
    interrupt_at(monkeypatch, "ppo", 2, BrokenPipeError)
    save = tmp_path / "h.json"
    assert cli.main(["train", "ppo", "--quiet", *PPO_SMALL, "--save", str(save)]) == 141
    assert "interrupted by a closed pipe after 1 iterations" in capsys.readouterr().err
    assert History.load(save).status == "interrupted"


def test_a_missing_save_directory_is_created_before_training(tmp_path, monkeypatch, capsys):
    save = tmp_path / "new" / "sub" / "h.json"
    cls = registry.get("harpg").cls
    step, seen = cls.step, []

    def step_checking_the_directory(self):
        seen.append(save.parent.is_dir())
        return step(self)
    monkeypatch.setattr(cls, "step", step_checking_the_directory)
    assert cli.main(["train", "harpg", "--quiet", "--iterations", "2", *smoke_sets("harpg"),
                     "--save", str(save)]) == 0
    assert seen == [True, True]  # there before the first step, not only at the save
    assert len(History.load(save)) == 2


def test_an_unwritable_save_path_is_refused_before_training(tmp_path, monkeypatch, capsys):
    interrupt_at(monkeypatch, "ppo", 1, AssertionError)  # training must not start
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert cli.main(["train", "ppo", "--quiet", "--save", str(blocker / "h.json")]) == 2
    err = capsys.readouterr().err
    assert err == f"polab: error: --save {blocker / 'h.json'}: cannot write there ({blocker} " \
                  "is a file)\n"
    assert cli.main(["train", "ppo", "--quiet", "--save", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err
