import pytest
import torch

from polab.lm.tasks import AdditionTask, CountdownTask, Problems, _countdown_ok, make_task, mixture
from polab.lm.tokenizer import CharTokenizer


def _completions(tok, texts):
    """Completion ids as the sampler returns them: right-padded with <pad>."""
    return tok.encode_batch(texts, add_bos=False, padding_side="right")[0]


def _problem(a, b):
    return Problems([f"{a}+{b}="], [str(a + b)], {"a": torch.tensor([a]), "b": torch.tensor([b])})


def test_addition_reward_hand_cases():
    task = AdditionTask(eval_size=0)
    tok = task.tokenizer
    texts = ["579<eos>",            # correct
             "579",                 # no <eos>: truncated, not an answer
             "57<eos>",             # a prefix of the answer
             "5790<eos>",           # the answer is a prefix of the output
             "579<eos>1",           # what follows the first <eos> is ignored
             "<eos>579<eos>",       # ended before answering
             "0579<eos>",
             "<scratch>1</scratch>579<eos>"]  # no scratchpad in the direct format
    problems = _problem(123, 456).repeat(len(texts))
    assert task.reward(problems, _completions(tok, texts)).tolist() == [1, 0, 0, 0, 1, 0, 0, 0]


def test_addition_reward_with_carry_into_a_new_digit():
    task = AdditionTask(eval_size=0)
    problems = Problems.concat([_problem(999, 1), _problem(500, 500)])
    done = _completions(task.tokenizer, ["1000<eos>", "100<eos>"])
    assert task.reward(problems, done).tolist() == [1.0, 0.0]


def test_scratchpad_reward_grades_only_the_answer_after_the_scratchpad():
    task = AdditionTask(scratchpad=True, eval_size=0)
    texts = ["<scratch>3+6=9;2+5=7;1+4=5</scratch>579<eos>",
             "<scratch>anything</scratch>579<eos>",
             "<scratch>3+6=9</scratch>578<eos>",
             "<scratch>3+6=9;579<eos>",                 # never closed
             "<scratch>3+6=9<eos></scratch>579<eos>",   # ended inside the scratchpad
             "<scratch></scratch>579",                  # no <eos>
             "579<eos>"]
    problems = _problem(123, 456).repeat(len(texts))
    got = task.reward(problems, _completions(task.tokenizer, texts))
    assert got.tolist() == [1, 1, 0, 0, 0, 0, 0]


def test_reference_answers_earn_reward_and_scratchpad_length_varies():
    gen = torch.Generator().manual_seed(0)
    tasks = (AdditionTask(eval_size=0), AdditionTask(min_digits=1, scratchpad=True, eval_size=0),
             CountdownTask(eval_size=0), CountdownTask(n_numbers=4, max_number=12, eval_size=0))
    for task in tasks:
        p = task.sample_prompts(200, gen)
        ids = _completions(task.tokenizer, [a + "<eos>" for a in p.answers])
        assert ids.shape[1] <= task.max_new_tokens
        assert task.reward(p, ids).tolist() == [1.0] * 200
    scratch = AdditionTask(min_digits=1, scratchpad=True, eval_size=0).sample_prompts(200, gen)
    sizes = {len(CharTokenizer().encode(a)) for a in scratch.answers}
    assert min(sizes) <= 12 and max(sizes) >= 30


def test_scratchpad_steps_carry_correctly():
    task = AdditionTask(scratchpad=True, eval_size=0)
    assert task._render({"a": torch.tensor([158]), "b": torch.tensor([267])}).answers == [
        "<scratch>8+7=15;5+6+1=12;1+2+1=4</scratch>425"]


def test_held_out_set_is_fixed_distinct_and_never_sampled():
    task = AdditionTask()
    ev = task.eval_problems()
    assert len(ev) == 512 and len(set(ev.prompts)) == 512
    assert ev.prompts == AdditionTask().eval_problems().prompts  # same seed, same set
    assert all(100 <= int(x) <= 999 for p in ev.prompts for x in p[:-1].split("+"))
    # pin the held-out draw to a tiny range so that most random draws hit it
    small = AdditionTask(digits=1, eval_size=60, eval_seed=0)
    drawn = small.sample_prompts(2000, torch.Generator().manual_seed(1))
    assert len(drawn) == 2000
    assert not set(drawn.prompts) & set(small.eval_problems().prompts)
    assert len(set(drawn.prompts)) == 100 - 60  # every pair of digits except the held-out ones


def test_countdown_checker_hand_cases():
    assert _countdown_ok("3*7+5", [3, 7, 5], 26)
    assert _countdown_ok("(6+2)/4*3", [6, 2, 4, 3], 6)
    assert _countdown_ok("6/4*4", [6, 4, 4], 6)                # exact fractions in between
    assert not _countdown_ok("3*7+5+0", [3, 7, 5], 26)         # a number not given
    assert not _countdown_ok("3*7*1", [3, 7, 5], 21)           # 5 not used, 1 not given
    assert not _countdown_ok("7*3+3", [3, 7, 5], 24)           # 3 used twice
    assert not _countdown_ok("3*7+5", [3, 7, 5], 25)           # wrong value
    assert not _countdown_ok("3**7", [3, 7], 2187)             # only + - * /
    assert not _countdown_ok("(3+7", [3, 7], 10)
    assert not _countdown_ok("7/(3-3)", [7, 3, 3], 1)
    assert not _countdown_ok("", [1], 1)


def test_countdown_reward_requires_eos():
    task = CountdownTask(eval_size=0)
    p = Problems(["3,7,5:26="] * 3, ["3*7+5"] * 3,
                 {"numbers": torch.tensor([[3, 7, 5]] * 3), "target": torch.tensor([26] * 3)})
    got = task.reward(p, _completions(task.tokenizer, ["3*7+5<eos>", "3*7+5", "5+7*3<eos>"]))
    assert got.tolist() == [1.0, 0.0, 1.0]


def test_problems_repeat_mixture_and_spec():
    task = AdditionTask(eval_size=0)
    p = task.sample_prompts(3, torch.Generator().manual_seed(0))
    r = p.repeat(2)
    assert r.prompts == [p.prompts[0]] * 2 + [p.prompts[1]] * 2 + [p.prompts[2]] * 2
    assert torch.equal(r.data["a"], p.data["a"].repeat_interleave(2))
    easy = AdditionTask(digits=1, eval_size=0)
    m = mixture([(easy, 0.75), (task, 0.25)], 8, torch.Generator().manual_seed(0))
    assert [len(x) for x in m.prompts] == [4] * 6 + [8] * 2
    assert make_task(task.spec()).spec() == task.spec()
    with pytest.raises(ValueError, match="distinct problems"):
        AdditionTask(digits=1, eval_size=200)


def test_geometric_digit_counts_fall_by_half_per_digit():
    task = AdditionTask(digits=6, min_digits=1, scratchpad=True, eval_size=0,
                        digit_dist="geometric")
    data = task._draw(40_000, torch.Generator().manual_seed(0))
    ndig = torch.cat([data["a"], data["b"]]).clamp_min(1).log10().floor().long() + 1
    share = torch.bincount(ndig, minlength=7)[1:].double() / len(ndig)
    expected = 0.5 ** torch.arange(1, 7, dtype=torch.float64)
    # P(1 digit) also holds the 0..9 draws of d = 1 only; the bins fall by half per digit
    torch.testing.assert_close(share, expected / expected.sum(), atol=0.01, rtol=0)
    assert task.spec()["digit_dist"] == "geometric"
    assert "digit_dist" not in AdditionTask(eval_size=0).spec()  # old specs unchanged
    with pytest.raises(ValueError, match="digit_dist"):
        AdditionTask(digit_dist="zipf", eval_size=0)


@pytest.mark.parametrize("kwargs", [{}, {"reverse": True}, {"min_digits": 1},
                                    {"digits": 5, "min_digits": 1, "scratchpad": True}])
def test_answer_ids_are_the_tokenized_answers(kwargs):
    """The reward's targets built from digits equal the tokenizer's encoding of the answer
    strings + <eos> (right-padded), including 0 and every digit-count boundary."""
    task = AdditionTask(eval_size=0, **kwargs)
    p = task.sample_prompts(500, torch.Generator().manual_seed(1))
    sums = torch.cat([p.data["a"] + p.data["b"], torch.tensor([0, 9, 10, 99, 100, 999, 1000])])
    expected, _ = task.tokenizer.encode_batch(task._answers(sums), add_bos=False, add_eos=True,
                                              padding_side="right")
    assert torch.equal(task._answer_ids(sums), expected)
