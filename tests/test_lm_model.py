import pytest
import torch

from polab.lm.model import GPT, GPTConfig
from polab.lm.tokenizer import CharTokenizer

PROMPTS = ["7+5=", "123+456=", "40+321=", "9+9="]


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = GPT(GPTConfig(vocab_size=CharTokenizer().vocab_size, block_size=32))
    for p in m.parameters():  # a sharper random model than the 0.02 init, so errors show
        p.data.normal_(0.0, 0.3)
    return m.eval()


def test_config_rejects_bad_head_count():
    with pytest.raises(ValueError, match="n_head"):
        GPTConfig(n_embd=64, n_head=5).validate()


@torch.no_grad()
def test_left_padded_rows_compute_what_each_prompt_computes_alone(model):
    tok = CharTokenizer()
    ids, mask = tok.encode_batch(PROMPTS)
    assert not mask.all()  # the batch really is padded
    logits = model(ids, mask)
    for i, text in enumerate(PROMPTS):
        alone, _ = tok.encode_batch([text])
        ref = model(alone)[0]
        torch.testing.assert_close(logits[i, -ref.shape[0]:], ref, atol=1e-5, rtol=1e-5)


@torch.no_grad()
def test_kv_cache_steps_equal_the_full_forward(model):
    tok = CharTokenizer()
    ids, mask = tok.encode_batch(PROMPTS)
    extra = torch.randint(3, tok.vocab_size, (len(PROMPTS), 5), generator=torch.Generator()
                          .manual_seed(0))
    full_ids = torch.cat([ids, extra], 1)
    full_mask = torch.cat([mask, torch.ones_like(extra, dtype=torch.bool)], 1)
    for m in (mask, None):  # padded path and the unmasked fast path
        fm = None if m is None else full_mask
        full = model(full_ids, fm)
        cache = model.new_cache(len(PROMPTS))
        P = ids.shape[1]
        steps = [model(ids, m, cache)]
        steps.append(model(extra[:, :2], None if m is None else full_mask[:, :P + 2], cache))
        for t in range(2, 5):  # a chunk of two new tokens, then one token at a time
            steps.append(model(extra[:, t:t + 1], None if m is None else full_mask[:, :P + t + 1],
                               cache))
        torch.testing.assert_close(torch.cat(steps, 1), full, atol=1e-5, rtol=1e-5)
        assert cache.length == full_ids.shape[1]


def test_context_longer_than_block_size_is_an_error(model):
    with pytest.raises(ValueError, match="block_size"):
        model(torch.zeros((1, 33), dtype=torch.long))


def test_return_hidden_gives_the_states_the_tied_head_reads():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=16, block_size=8, n_layer=1, n_head=2, n_embd=8))
    ids = torch.randint(0, 16, (3, 5))
    logits, h = model(ids, return_hidden=True)
    assert h.shape == (3, 5, 8)
    torch.testing.assert_close(logits, model(ids))
    torch.testing.assert_close(logits, h @ model.wte.weight.T)
