"""Base checkpoints carry a SHA-256 of their content and the metrics they were saved with;
a corrupt, truncated or foreign file is a named error (file and problem), never a silent
load or a torch traceback; ``pretrain`` accepts every shipped name and writes atomically."""

import os
import random
import shutil

import pytest
import torch

import polab.lm.pretrain as pretrain_module
from polab.lm.checkpoint import CheckpointError, content_digest, read_checkpoint, write_checkpoint
from polab.lm.model import GPT, GPTConfig
from polab.lm.pretrain import (
    CHECKPOINT_DIR,
    RECIPES,
    load_base,
    save_base,
    shipped_bases,
    shipped_metrics,
)
from polab.lm.tasks import make_task
from polab.lm.tokenizer import CharTokenizer

SHIPPED = CHECKPOINT_DIR / "addition.pt"


@pytest.fixture
def copy(tmp_path):
    target = tmp_path / "addition.pt"
    shutil.copyfile(SHIPPED, target)
    return target


def raises_naming(path, *words):
    """Context manager: a CheckpointError naming ``path`` and each of ``words``, with no
    chained torch exception to print as a traceback."""
    class Check:
        def __enter__(self):
            self.ctx = pytest.raises(CheckpointError)
            self.info = self.ctx.__enter__()

        def __exit__(self, *exc):
            handled = self.ctx.__exit__(*exc)
            err = self.info.value
            assert str(path) in str(err) and err.path == path, str(err)
            for word in words:
                assert word in str(err), str(err)
            chained = err.__cause__ or (None if err.__suppress_context__ else err.__context__)
            assert chained is None, f"a chained traceback is kept: {chained!r}"
            return handled
    return Check()


def test_shipped_checkpoint_carries_its_hash_and_metrics():
    state = read_checkpoint(SHIPPED)
    assert state["sha256"] == content_digest(state) and len(state["sha256"]) == 64
    assert {"greedy_pass@1", "sampled_pass@1", "sft_steps"} <= set(shipped_metrics("addition"))
    assert shipped_metrics("addition")["greedy_pass@1"] == pytest.approx(0.3046875)


def test_every_shipped_base_has_a_recipe():
    assert shipped_bases() and set(shipped_bases()) <= set(RECIPES)


def test_bit_flip_in_the_weights_is_named(copy):
    blob = bytearray(copy.read_bytes())
    weight = read_checkpoint(copy)["model"]["wte.weight"]
    at = blob.find(weight.numpy().tobytes())
    assert at > 0
    blob[at + weight.numel() * 2 + 1] ^= 0x04  # one bit of one float in the middle
    copy.write_bytes(bytes(blob))
    with raises_naming(copy, "corrupt", "does not match its sha256"):
        read_checkpoint(copy)
    with raises_naming(copy, "corrupt"):
        load_base("addition", directory=copy.parent)


def test_changed_metrics_are_named(copy):
    state = read_checkpoint(copy)
    state["metrics"]["greedy_pass@1"] = 0.9  # sha256 left as it was
    torch.save(state, copy)
    with raises_naming(copy, "does not match its sha256"):
        read_checkpoint(copy)


def test_random_bit_flips_never_load_different_content(copy):
    """Wherever one bit flips, the file either loads exactly the shipped content (a flip in
    zip padding) or raises a CheckpointError naming it."""
    original = copy.read_bytes()
    reference = read_checkpoint(SHIPPED)
    rng = random.Random(0)
    outcomes = set()
    for _ in range(25):
        blob = bytearray(original)
        blob[rng.randrange(len(blob))] ^= 1 << rng.randrange(8)
        copy.write_bytes(bytes(blob))
        try:
            state = read_checkpoint(copy)
        except CheckpointError as err:
            assert str(copy) in str(err)
            outcomes.add("refused")
            continue
        assert state["sha256"] == reference["sha256"] == content_digest(state)
        outcomes.add("same")
    assert "refused" in outcomes


@pytest.mark.parametrize("keep", [0.5, 0.99, 100])
def test_truncated_file_is_named(copy, keep):
    blob = copy.read_bytes()
    copy.write_bytes(blob[:int(len(blob) * keep)] if keep < 1 else blob[:keep])
    with raises_naming(copy, "damaged torch archive (truncated or corrupt)"):
        read_checkpoint(copy)


def test_empty_and_text_files_are_named(tmp_path):
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with raises_naming(empty, "empty"):
        read_checkpoint(empty)
    text = tmp_path / "notes.pt"
    text.write_text("these are not weights\n")
    with raises_naming(text, "not a torch checkpoint file"):
        read_checkpoint(text)


def test_foreign_torch_files_are_named(tmp_path):
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.randn(3, 3), "step": 7}, other)
    with raises_naming(other, "not a polab base checkpoint", "lacks"):
        read_checkpoint(other)
    torch.save([torch.zeros(2)], other)
    with raises_naming(other, "not a polab base checkpoint", "list"):
        read_checkpoint(other)
    torch.save(torch.nn.Linear(2, 2), other)  # a pickled module: weights_only refuses it
    with raises_naming(other, "not plain tensors", "torch.load said"):
        read_checkpoint(other)


def test_checkpoint_without_hash_is_named(copy):
    state = read_checkpoint(copy)
    del state["sha256"]
    torch.save(state, copy)
    with raises_naming(copy, "carries no sha256", "python -m polab.lm.pretrain"):
        read_checkpoint(copy)


def test_missing_file_is_named(tmp_path):
    with raises_naming(tmp_path / "nope.pt", "no such file"):
        read_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(ValueError, match="no base checkpoint 'nope'"):
        load_base("nope", directory=tmp_path)


def tiny_base():
    tokenizer = CharTokenizer()
    task = make_task({"name": "addition", "digits": 1, "eval_size": 16}, tokenizer)
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=16, n_layer=1, n_head=2,
                          n_embd=8))
    return model, task


def test_save_base_roundtrip_and_atomic_write(tmp_path, monkeypatch):
    model, task = tiny_base()
    path = save_base(tmp_path / "tiny.pt", model, task, {"greedy_pass@1": 0.5})
    loaded, _, _ = load_base("tiny", directory=tmp_path)
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in model.state_dict().items())
    assert shipped_metrics("tiny", directory=tmp_path) == {"greedy_pass@1": 0.5}
    before = path.read_bytes()

    def crash_mid_write(obj, f):
        f.write(b"PK\x03\x04 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash_mid_write)
    with pytest.raises(OSError, match="disk full"):
        save_base(path, model, task, {"greedy_pass@1": 0.0})
    assert path.read_bytes() == before  # the old file is untouched
    assert os.listdir(tmp_path) == ["tiny.pt"]  # and no temporary file is left


def test_write_checkpoint_refuses_an_incomplete_payload(tmp_path):
    with pytest.raises(ValueError, match="lacks"):
        write_checkpoint(tmp_path / "x.pt", {"model": {}})


def test_pretrain_cli_refuses_unknown_names_in_one_line(capsys):
    with pytest.raises(SystemExit) as exit_:
        pretrain_module.main(["addition", "multiplication"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "no recipe for 'multiplication'; known: addition" in err and "Traceback" not in err
    with pytest.raises(ValueError, match="no recipe for base 'x'; known: addition"):
        pretrain_module.pretrain("x")


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_pretrain_cli_accepts_every_shipped_name_and_writes_a_verified_file(
        name, tmp_path, monkeypatch, capsys):
    model, task = tiny_base()
    monkeypatch.setattr(pretrain_module, "pretrain",
                        lambda n, progress=True: (model, task, {"sft_steps": 3.0}))
    monkeypatch.setattr(pretrain_module, "base_metrics",
                        lambda m, t: {"greedy_pass@1": 0.25})
    shipped_before = SHIPPED.read_bytes()
    pretrain_module.main([name, "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert f"{name}: saved {tmp_path / f'{name}.pt'}" in out and "(shipped: " in out
    assert os.listdir(tmp_path) == [f"{name}.pt"]
    assert read_checkpoint(tmp_path / f"{name}.pt")["metrics"] == {"greedy_pass@1": 0.25,
                                                                    "sft_steps": 3.0}
    assert SHIPPED.read_bytes() == shipped_before
