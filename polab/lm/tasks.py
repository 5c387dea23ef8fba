"""Tasks with verifiable rewards, generated in-kit from a seed.

* :class:`AdditionTask` — ``123+456=`` → ``579<eos>``: multi-digit addition, answer digits
  in normal order (the reversed order makes the task far too easy for a teaching testbed).
  With ``reverse=True`` the answer is written least significant digit first, ``975<eos>``
  (each digit then depends only on the columns already written): RL's curve bends within
  seconds, chapter 14's ScaleRL testbed. With
  ``scratchpad=True`` the completion first works column by column, least significant first,
  ``<scratch>3+6=9;2+5=7;1+4=5</scratch>579<eos>``; its length grows with the number of
  digits (drawn per operand between ``min_digits`` and ``digits``) and with the carries.
* :class:`CountdownTask` — ``3,7,5:26=`` → ``3*7+5<eos>``: combine every number exactly once
  with ``+ - * /`` (and parentheses) to reach the target (TinyZero's Countdown rule).

Every task has ``sample_prompts(n, generator) -> Problems`` (prompt strings, a reference
answer for SFT, and the tensors the reward reads), ``reward(problems, completion_ids)`` (1.0
for a correct answer that ends with ``<eos>``, else 0.0; a prefix of a longer output does not
count) and a fixed held-out set ``eval_problems()`` drawn from its own seed;
``sample_prompts`` never returns a held-out problem, so SFT and RL never see them.

Taught in notebooks/03_grpo_family.ipynb.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import torch
import torch.nn.functional as F

from polab.lm.tokenizer import CharTokenizer


@dataclass
class Problems:
    """A batch of problems: ``prompts`` (text without ``<bos>``), ``answers`` (a reference
    completion without ``<eos>``: what SFT imitates; the reward may accept others) and
    ``data`` (per-problem tensors, first dimension ``len(self)``, that the reward reads)."""

    prompts: list[str]
    answers: list[str]
    data: dict[str, torch.Tensor]

    def __len__(self) -> int:
        return len(self.prompts)

    def select(self, index: torch.Tensor) -> Problems:
        idx = index.tolist()
        return Problems([self.prompts[i] for i in idx], [self.answers[i] for i in idx],
                        {k: v[index] for k, v in self.data.items()})

    def repeat(self, group_size: int) -> Problems:
        """Each problem ``group_size`` times in a row (the layout of GRPO's groups)."""
        return self.select(torch.arange(len(self)).repeat_interleave(group_size))

    @staticmethod
    def concat(parts: Sequence[Problems]) -> Problems:
        return Problems([p for x in parts for p in x.prompts],
                        [a for x in parts for a in x.answers],
                        {k: torch.cat([x.data[k] for x in parts]) for k in parts[0].data})


def answer_match(completion_ids: torch.Tensor, target_ids: torch.Tensor, start: torch.Tensor,
                 eos_id: int, pad_id: int) -> torch.Tensor:
    """``(B,)`` True where the completion holds ``target_ids`` from column ``start`` on.

    ``target_ids`` is ``(B, L)``: the answer, ``<eos>``, then ``<pad>`` (right padding is not
    compared). ``start < 0`` means "no answer found". The answer's ``<eos>`` must be the
    completion's first one, so a truncated output or a prefix of a longer one fails.
    """
    B, N = completion_ids.shape
    L = target_ids.shape[1]
    cols = torch.arange(N, device=completion_ids.device)
    padded = F.pad(completion_ids, (0, L), value=pad_id)
    got = padded.gather(1, start.clamp_min(0)[:, None] + torch.arange(L, device=padded.device))
    match = ((got == target_ids) | (target_ids == pad_id)).all(1)
    eos_before = ((completion_ids == eos_id) & (cols < start[:, None])).any(1)
    return match & (start >= 0) & ~eos_before


class Task:
    """Base class: the held-out set and sampling that avoids it. A task defines ``_draw``
    (random problems as tensors), ``_key`` (an integer id per problem), ``_render`` (tensors
    to :class:`Problems`) and ``reward``."""

    name: str
    max_new_tokens: int  # enough completion tokens for every reference answer plus <eos>

    def __init__(self, tokenizer: CharTokenizer | None, eval_size: int, eval_seed: int,
                 **kwargs: Any):
        self.tokenizer = tokenizer or CharTokenizer()
        self.kwargs = {"eval_size": eval_size, "eval_seed": eval_seed, **kwargs}
        self.eval_size, self.eval_seed = eval_size, eval_seed
        self._eval: Problems | None = None
        self._eval_keys = torch.empty(0, dtype=torch.long)
        if eval_size:
            data = self._draw(8 * eval_size + 64, torch.Generator().manual_seed(eval_seed))
            keys, inverse = torch.unique(self._key(data), return_inverse=True)
            first = torch.full((len(keys),), len(inverse)).scatter_reduce(
                0, inverse, torch.arange(len(inverse)), "amin")
            if len(first) < eval_size:
                raise ValueError(f"{self.name}: only {len(first)} distinct problems for "
                                 f"eval_size={eval_size}")
            chosen = first.sort().values[:eval_size]  # the first distinct draws, in draw order
            self._eval = self._render({k: v[chosen] for k, v in data.items()})
            self._eval_keys = keys[inverse[chosen]].sort().values

    def spec(self) -> dict[str, Any]:
        """What :func:`make_task` needs to rebuild this task (saved with checkpoints)."""
        return {"name": self.name, **self.kwargs}

    def eval_problems(self) -> Problems:
        """The fixed held-out set (``eval_size`` distinct problems from ``eval_seed``)."""
        if self._eval is None:
            raise ValueError(f"{self.name} was built with eval_size=0: no held-out set")
        return self._eval

    def sample_prompts(self, n: int, generator: torch.Generator | None = None) -> Problems:
        """``n`` random problems, none of them in the held-out set."""
        parts, have = [], 0
        while have < n:
            data = self._draw(n - have + 16, generator)
            keep = ~torch.isin(self._key(data), self._eval_keys)
            keep &= keep.cumsum(0) <= n - have
            parts.append({k: v[keep] for k, v in data.items()})
            have += int(keep.sum())
        return self._render({k: torch.cat([p[k] for p in parts]) for k in parts[0]})

    def encode_prompts(self, problems: Problems, device: torch.device | str | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(prompt_ids, prompt_mask)``: ``<bos>`` + prompt, left-padded."""
        return self.tokenizer.encode_batch(problems.prompts, add_bos=True, device=device)

    def reward(self, problems: Problems, completion_ids: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _draw(self, n: int, generator: torch.Generator | None) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def _key(self, data: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def _render(self, data: dict[str, torch.Tensor]) -> Problems:
        raise NotImplementedError


def _digits(x: torch.Tensor, n: int) -> torch.Tensor:
    """``(B, n)`` decimal digits of ``x``, least significant first."""
    return (x[:, None] // 10 ** torch.arange(n, device=x.device)) % 10


class AdditionTask(Task):
    """``a+b=`` with each operand's digit count in ``[min_digits, digits]`` (``min_digits=1``
    includes 0), drawn uniformly or, with ``digit_dist="geometric"``, with probability
    ∝ 2^-d (long-tailed lengths: chapter 04's T-PPO). Defaults: two 3-digit operands, 512
    held-out pairs."""

    name = "addition"
    DIGIT_DISTS = ("uniform", "geometric")

    def __init__(self, digits: int = 3, min_digits: int | None = None, scratchpad: bool = False,
                 tokenizer: CharTokenizer | None = None, eval_size: int = 512,
                 eval_seed: int = 1234, digit_dist: str = "uniform", reverse: bool = False):
        self.digits, self.min_digits = digits, min_digits or digits
        self.scratchpad, self.digit_dist, self.reverse = scratchpad, digit_dist, reverse
        if reverse and scratchpad:
            raise ValueError("reverse=True writes the sum's digits reversed; it has no "
                             "scratchpad variant (scratchpad=True)")
        if not 1 <= self.min_digits <= digits <= 9:
            raise ValueError(f"need 1 <= min_digits <= digits <= 9, got {self.min_digits}, "
                             f"{digits}")
        if digit_dist not in self.DIGIT_DISTS:
            raise ValueError(f"digit_dist={digit_dist!r}: expected one of {self.DIGIT_DISTS}")
        # answer + <eos>; the scratchpad adds <scratch>, "a+b+1=ss;" per column, </scratch>
        self.max_new_tokens = digits + 2 + scratchpad * (9 * digits + 1)
        extra: dict[str, Any] = {"digit_dist": digit_dist} if digit_dist != "uniform" else {}
        if reverse:
            extra["reverse"] = True
        super().__init__(tokenizer, eval_size, eval_seed, digits=digits,
                         min_digits=self.min_digits, scratchpad=scratchpad, **extra)

    def _draw(self, n: int, generator: torch.Generator | None) -> dict[str, torch.Tensor]:
        if self.digit_dist == "geometric":
            d = torch.arange(self.min_digits, self.digits + 1, dtype=torch.float64)
            ndig = self.min_digits + torch.multinomial(
                0.5 ** d, 2 * n, replacement=True, generator=generator).view(2, n)
        else:
            ndig = torch.randint(self.min_digits, self.digits + 1, (2, n), generator=generator)
        lo = torch.where(ndig == 1, 0, 10 ** (ndig - 1))
        u = torch.rand((2, n), generator=generator, dtype=torch.float64)
        x = lo + (u * (10 ** ndig - lo)).long()
        return {"a": x[0], "b": x[1]}

    def _key(self, data: dict[str, torch.Tensor]) -> torch.Tensor:
        return data["a"] * 10 ** self.digits + data["b"]

    def _render(self, data: dict[str, torch.Tensor]) -> Problems:
        a, b = data["a"], data["b"]
        prompts = [f"{x}+{y}=" for x, y in zip(a.tolist(), b.tolist(), strict=True)]
        sums = self._answers(a + b)
        if not self.scratchpad:
            return Problems(prompts, sums, data)
        da, db = _digits(a, self.digits), _digits(b, self.digits)
        carry, col_sum = torch.zeros_like(da), torch.zeros_like(da)
        c = torch.zeros_like(a)
        for i in range(self.digits):  # over digit columns (the carry chain), all rows at once
            carry[:, i] = c
            col_sum[:, i] = da[:, i] + db[:, i] + c
            c = col_sum[:, i] // 10
        ncols = torch.maximum(a, b).clamp_min(1).log10().floor().long() + 1
        answers = []
        for x, y, cin, s, k, total in zip(da.tolist(), db.tolist(), carry.tolist(),
                                          col_sum.tolist(), ncols.tolist(), sums, strict=True):
            steps = [f"{x[i]}+{y[i]}" + "+1" * cin[i] + f"={s[i]}" for i in range(k)]
            answers.append("<scratch>" + ";".join(steps) + "</scratch>" + total)
        return Problems(prompts, answers, data)

    def _answers(self, sums: torch.Tensor) -> list[str]:
        """The sums as answer strings (digits reversed with ``reverse``)."""
        return [str(s)[::-1] if self.reverse else str(s) for s in sums.tolist()]

    def _answer_ids(self, sums: torch.Tensor) -> torch.Tensor:
        """``(B, L)`` token ids of the answers, ``<eos>``, then ``<pad>``: the tokenizer's
        right-padded encoding of ``_answers(sums)`` + ``<eos>``, built from the digits (no
        strings)."""
        tok = self.tokenizer
        width = self.digits + 1  # a sum of two d-digit numbers has at most d + 1 digits
        n = 1 + (sums[:, None] >= 10 ** torch.arange(1, width, device=sums.device)).sum(1)
        col = torch.arange(width + 1, device=sums.device)
        digit = col.expand(len(sums), -1) if self.reverse else n[:, None] - 1 - col
        digits = _digits(sums, width).gather(1, digit.clamp(0, width - 1))
        lut = torch.tensor([tok.stoi[str(d)] for d in range(10)], device=sums.device)
        ids = torch.where(col < n[:, None], lut[digits], tok.pad_id)
        return torch.where(col == n[:, None], tok.eos_id, ids)[:, :int(n.max()) + 1]

    def reward(self, problems: Problems, completion_ids: torch.Tensor) -> torch.Tensor:
        """1.0 where the answer (after the first ``</scratch>`` in the scratchpad variant)
        is exactly ``a + b`` (reversed with ``reverse``) followed by ``<eos>``; the scratchpad
        itself is not graded."""
        tok = self.tokenizer
        target = self._answer_ids(problems.data["a"] + problems.data["b"]).to(
            completion_ids.device)
        if self.scratchpad:
            is_close = completion_ids == tok.scratch_close_id
            start = torch.where(is_close.any(1), is_close.int().argmax(1) + 1, -1)
        else:
            start = torch.zeros(len(completion_ids), dtype=torch.long,
                                device=completion_ids.device)
        return answer_match(completion_ids, target, start, tok.eos_id, tok.pad_id).float()


class CountdownTask(Task):
    """``n_numbers`` numbers in ``[1, max_number]`` and a target in ``[1, max_target]`` that
    some left-to-right combination of all of them reaches with positive integer steps."""

    name = "countdown"

    def __init__(self, n_numbers: int = 3, max_number: int = 9, max_target: int = 99,
                 tokenizer: CharTokenizer | None = None, eval_size: int = 512,
                 eval_seed: int = 4321):
        self.n_numbers, self.max_number, self.max_target = n_numbers, max_number, max_target
        width = len(str(max_number))
        self.max_new_tokens = n_numbers * (width + 1) + 2 * (n_numbers - 2) + 1
        super().__init__(tokenizer, eval_size, eval_seed, n_numbers=n_numbers,
                         max_number=max_number, max_target=max_target)

    OPS = "+-*/"

    def _draw(self, n: int, generator: torch.Generator | None) -> dict[str, torch.Tensor]:
        """Rejection sampling, vectorised: draw numbers, an order and operators; keep the rows
        whose left-to-right value stays a positive integer and lands in ``[1, max_target]``."""
        parts, have = [], 0
        while have < n:
            m = 4 * (n - have) + 16
            nums = torch.randint(1, self.max_number + 1, (m, self.n_numbers), generator=generator)
            order = torch.rand((m, self.n_numbers), generator=generator).argsort(1)
            ops = torch.randint(0, 4, (m, self.n_numbers - 1), generator=generator)
            seq = nums.gather(1, order)
            value, ok = seq[:, 0].clone(), torch.ones(m, dtype=torch.bool)
            for i in range(1, self.n_numbers):  # over expression positions, all rows at once
                x, op = seq[:, i], ops[:, i - 1]
                ok &= (op != 3) | (value % x == 0)
                value = torch.stack([value + x, value - x, value * x,
                                     value // x]).gather(0, op[None]).squeeze(0)
                ok &= value > 0
            ok &= value <= self.max_target
            parts.append({"numbers": nums[ok], "target": value[ok], "order": order[ok],
                          "ops": ops[ok]})
            have += int(ok.sum())
        return {k: torch.cat([p[k] for p in parts])[:n] for k in parts[0]}

    def _key(self, data: dict[str, torch.Tensor]) -> torch.Tensor:
        base = max(self.max_number, self.max_target) + 1
        cols = torch.cat([data["numbers"].sort(1).values, data["target"][:, None]], 1)
        return (cols * base ** torch.arange(cols.shape[1])).sum(1)

    def _render(self, data: dict[str, torch.Tensor]) -> Problems:
        prompts, answers = [], []
        seqs = data["numbers"].gather(1, data["order"]).tolist()
        for nums, target, seq, ops in zip(data["numbers"].tolist(), data["target"].tolist(),
                                          seqs, data["ops"].tolist(), strict=True):
            prompts.append(",".join(map(str, nums)) + f":{target}=")
            expr, prev = str(seq[0]), None
            for x, op in zip(seq[1:], ops, strict=True):
                if op >= 2 and prev is not None and prev < 2:  # (a+b)*c needs parentheses
                    expr = f"({expr})"
                expr, prev = f"{expr}{self.OPS[op]}{x}", op
            answers.append(expr)
        return Problems(prompts, answers, {"numbers": data["numbers"], "target": data["target"]})

    def reward(self, problems: Problems, completion_ids: torch.Tensor) -> torch.Tensor:
        """1.0 where the text before the first ``<eos>`` is an expression using each number
        exactly once that evaluates (exactly, with fractions) to the target. Parsing text is
        the one per-sample Python loop in this module."""
        texts, ended = self.tokenizer.decode_completions(completion_ids)
        ok = [bool(e) and _countdown_ok(t, nums, target) for t, e, nums, target in
              zip(texts, ended.tolist(), problems.data["numbers"].tolist(),
                  problems.data["target"].tolist(), strict=True)]
        return torch.tensor(ok, dtype=torch.float32, device=completion_ids.device)


_BINOPS = {ast.Add: Fraction.__add__, ast.Sub: Fraction.__sub__, ast.Mult: Fraction.__mul__,
           ast.Div: Fraction.__truediv__}


def _countdown_ok(text: str, numbers: list[int], target: int) -> bool:
    """Check a Countdown answer without ``eval``: only ``+ - * /``, parentheses and integers."""
    used: list[int] = []

    def value(node: ast.AST) -> Fraction:
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            return _BINOPS[type(node.op)](value(node.left), value(node.right))
        if isinstance(node, ast.Constant) and type(node.value) is int:
            used.append(node.value)
            return Fraction(node.value)
        raise ValueError("not allowed")

    if not text or not set(text) <= set("0123456789+-*/()"):
        return False
    try:
        result = value(ast.parse(text, mode="eval").body)
    except (SyntaxError, ValueError, ZeroDivisionError, RecursionError):
        return False
    return sorted(used) == sorted(numbers) and result == target


TASKS = {"addition": AdditionTask, "countdown": CountdownTask}


def make_task(spec: dict[str, Any], tokenizer: CharTokenizer | None = None) -> Task:
    """Rebuild a task from :meth:`Task.spec`."""
    kwargs = dict(spec)
    return TASKS[kwargs.pop("name")](tokenizer=tokenizer, **kwargs)


def mixture(parts: Sequence[tuple[Task, float]], n: int,
            generator: torch.Generator | None = None) -> Problems:
    """``n`` problems from several tasks in fixed proportions (e.g. an SFT curriculum)."""
    total = sum(w for _, w in parts)
    counts = [round(n * w / total) for _, w in parts[:-1]]
    counts.append(n - sum(counts))
    return Problems.concat([t.sample_prompts(c, generator) for (t, _), c in zip(parts, counts,
                                                                                 strict=True)])
