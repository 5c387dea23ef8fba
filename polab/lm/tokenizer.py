"""A character-level tokenizer with a few special tokens, and batch encode/decode.

Every character is one token; the special tokens are spelled in text as ``<pad>``, ``<bos>``,
``<eos>``, ``<scratch>``/``</scratch>`` (a scratchpad), ``<tool>``/``</tool>`` (a tool call
written by the model) and ``<out>``/``</out>`` (a tool's output, inserted by the environment).
``<`` and ``>`` are not ordinary characters, so a special token's spelling is unambiguous and
``decode(encode(text)) == text`` for every text the tokenizer accepts.

Batches are ``(B, L)`` LongTensors with a boolean mask of the real (non-padding) tokens.
Prompts are left-padded (their last token is then always in the last column, so sampling
continues every row at the same column); SFT sequences are right-padded (see
:mod:`polab.lm.model` for why both are correct). Taught in notebooks/03_grpo_family.ipynb.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch

SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>", "<scratch>", "</scratch>", "<tool>", "</tool>",
                  "<out>", "</out>")
CHARS = "0123456789+-*/=()[],.:;?| abcdefghijklmnopqrstuvwxyz"


class CharTokenizer:
    """Token ids: the special tokens first (``<pad>`` = 0), then one id per character.

    ``extra_special`` appends more special tokens (e.g. a later chapter's budget markers).
    """

    def __init__(self, chars: str = CHARS, extra_special: Sequence[str] = ()):
        if len(set(chars)) != len(chars) or "<" in chars or ">" in chars:
            raise ValueError("chars must be distinct and may not contain '<' or '>'")
        self.chars, self.extra_special = chars, tuple(extra_special)
        self.special_tokens = SPECIAL_TOKENS + self.extra_special
        self.itos = list(self.special_tokens) + list(chars)
        self.stoi = {s: i for i, s in enumerate(self.itos)}
        # encoding works on code points: each special token is first replaced by one private-use
        # character, then a lookup table maps every code point to its id (-1: not in vocab)
        self._private = {s: chr(0xE000 + i) for i, s in enumerate(self.special_tokens)}
        codes = [ord(c) for c in chars] + [ord(c) for c in self._private.values()]
        self._lut = np.full(max(codes) + 1, -1, dtype=np.int64)
        self._lut[codes] = [self.stoi[c] for c in chars] + [self.stoi[s] for s in self._private]
        (self.pad_id, self.bos_id, self.eos_id, self.scratch_open_id, self.scratch_close_id,
         self.tool_open_id, self.tool_close_id, self.out_open_id, self.out_close_id) = (
            self.stoi[s] for s in SPECIAL_TOKENS)

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def _ids(self, texts: Sequence[str]) -> tuple[np.ndarray, list[int]]:
        """Token ids of all texts concatenated, and each text's length in tokens."""
        short = list(texts)
        for special, ch in self._private.items():
            short = [t.replace(special, ch) for t in short]
        codes = np.frombuffer("".join(short).encode("utf-32-le"), dtype=np.uint32)
        ids = self._lut[np.minimum(codes, len(self._lut) - 1)]
        bad = (ids < 0) | (codes >= len(self._lut))
        if bad.any():
            ch = chr(int(codes[bad.argmax()]))
            raise ValueError(f"character {ch!r} is not in the tokenizer's vocabulary")
        return ids, [len(t) for t in short]

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (special tokens spelled ``<eos>`` etc.)."""
        return self._ids([text])[0].tolist()

    def decode(self, ids: Sequence[int] | torch.Tensor, skip_pad: bool = True) -> str:
        """The text of ``ids``; padding is dropped unless ``skip_pad=False``."""
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else ids
        return "".join(self.itos[i] for i in ids if not (skip_pad and i == self.pad_id))

    def encode_batch(self, texts: Sequence[str], add_bos: bool = True, add_eos: bool = False,
                     padding_side: Literal["left", "right"] = "left",
                     device: torch.device | str | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(ids, mask)`` of shape ``(B, L)``: the texts padded with ``<pad>`` on one side;
        ``mask`` is True on real tokens. Optionally prepend ``<bos>`` / append ``<eos>``."""
        ids, lengths = self._ids(texts)
        rows = torch.arange(len(lengths))
        n_text = torch.tensor(lengths, dtype=torch.long)
        n_all = n_text + add_bos + add_eos
        width = int(n_all.max()) if len(lengths) else 0
        first = width - n_all if padding_side == "left" else torch.zeros_like(n_all)
        col = torch.arange(width)
        text_start = first + add_bos
        out = torch.full((len(lengths), width), self.pad_id, dtype=torch.long)
        out[(col >= text_start[:, None]) & (col < (text_start + n_text)[:, None])] = (
            torch.from_numpy(ids))
        if add_bos:
            out[rows, first] = self.bos_id
        if add_eos:
            out[rows, text_start + n_text] = self.eos_id
        mask = (col >= first[:, None]) & (col < (first + n_all)[:, None])
        return out.to(device), mask.to(device)

    def decode_batch(self, ids: torch.Tensor, skip_pad: bool = True) -> list[str]:
        """One text per row of a ``(B, L)`` tensor."""
        return [self.decode(row, skip_pad) for row in ids.tolist()]

    def decode_completions(self, completion_ids: torch.Tensor) -> tuple[list[str], torch.Tensor]:
        """``(texts, ended)``: each row's text before its first ``<eos>`` and whether it has
        one. Rewards use this to require EOS (a prefix of a longer output is not an answer)."""
        is_eos = completion_ids == self.eos_id
        ended = is_eos.any(1)
        width = completion_ids.shape[1]
        first = torch.where(ended, is_eos.int().argmax(1), torch.full_like(ended, width,
                                                                             dtype=torch.long))
        keep = torch.arange(width, device=completion_ids.device) < first[:, None]
        kept = torch.where(keep, completion_ids, self.pad_id)
        return self.decode_batch(kept), ended

    def state_dict(self) -> dict[str, object]:
        return {"chars": self.chars, "extra_special": list(self.extra_special)}

    @classmethod
    def from_state_dict(cls, state: dict[str, object]) -> CharTokenizer:
        return cls(str(state["chars"]), tuple(state["extra_special"]))  # type: ignore[arg-type]
