import math

import torch

from polab.lm.model import GPT, GPTConfig
from polab.lm.sft import SFT, SFTConfig, sft_batch, sft_loss
from polab.lm.tasks import AdditionTask, Problems


def test_sft_batch_marks_answer_and_eos_only():
    task = AdditionTask(eval_size=0)
    tok = task.tokenizer
    p = Problems(["1+2=", "10+20="], ["3", "30"], {})
    ids, mask = sft_batch(tok, p)
    assert tok.decode_batch(ids) == ["<bos>1+2=3<eos>", "<bos>10+20=30<eos>"]
    assert tok.decode_batch(torch.where(mask, ids, tok.pad_id)) == ["3<eos>", "30<eos>"]


def test_sft_loss_hand_case():
    # two positions; the second is masked out and must not count
    logits = torch.tensor([[[0.0, math.log(3.0)], [5.0, -5.0]]])
    targets = torch.tensor([[1, 1]])
    out = sft_loss(logits, targets, torch.tensor([[True, False]]))
    torch.testing.assert_close(out["loss"], torch.tensor(-math.log(0.75)))
    assert out["token_accuracy"].item() == 1.0


def _sft(seed):
    task = AdditionTask(digits=2, min_digits=1, eval_size=0)
    torch.manual_seed(seed)
    model = GPT(GPTConfig(vocab_size=task.tokenizer.vocab_size, block_size=16))
    return SFT(SFTConfig(seed=seed, batch_size=32), task, device="cpu", model=model)


def test_sft_is_deterministic_and_learns():
    a, b = _sft(0), _sft(0)
    first = a.step()["loss"]
    for _ in range(7):
        last = a.step()["loss"]
    for _ in range(8):
        b.step()
    assert last < first - 0.5
    assert a.global_step == 8 * 32
    for (name, pa), pb in zip(a.model.named_parameters(), b.model.parameters(), strict=True):
        assert torch.equal(pa, pb), name
    c = _sft(0)
    c.load_state_dict(a.state_dict())
    assert c.step()["loss"] == b.step()["loss"]  # optimizer and data stream restored too
