import pytest
import torch

from polab.lm.tokenizer import CharTokenizer

TEXTS = ["123+456=579", "<scratch>3+6=9;2+5=7</scratch>579", "(7-3)*2", "",
         "<tool>12*34</tool><out>408</out>", "x"]


def test_round_trip_single_and_batch():
    tok = CharTokenizer()
    for text in TEXTS:
        assert tok.decode(tok.encode(text)) == text
    assert tok.encode("<eos>") == [tok.eos_id]
    assert tok.encode("1<scratch>") == [tok.stoi["1"], tok.scratch_open_id]
    for side in ("left", "right"):
        ids, mask = tok.encode_batch(TEXTS, add_bos=True, add_eos=True, padding_side=side)
        assert ids.shape == (len(TEXTS), max(len(tok.encode(t)) for t in TEXTS) + 2)
        assert tok.decode_batch(ids) == [f"<bos>{t}<eos>" for t in TEXTS]
        assert torch.equal(ids == tok.pad_id, ~mask)  # pad exactly where the mask is False
        assert mask.sum(1).tolist() == [len(tok.encode(t)) + 2 for t in TEXTS]


def test_padding_side_puts_real_tokens_at_the_right_end():
    tok = CharTokenizer()
    ids, mask = tok.encode_batch(["12", "3"], padding_side="left")
    assert ids.tolist() == [[tok.bos_id, tok.stoi["1"], tok.stoi["2"]],
                            [tok.pad_id, tok.bos_id, tok.stoi["3"]]]
    assert mask.tolist() == [[True, True, True], [False, True, True]]
    ids, mask = tok.encode_batch(["12", "3"], padding_side="right", add_bos=False)
    assert ids.tolist() == [[tok.stoi["1"], tok.stoi["2"]], [tok.stoi["3"], tok.pad_id]]


def test_unknown_character_is_rejected():
    with pytest.raises(ValueError, match="'A'"):
        CharTokenizer().encode_batch(["12", "1A"])
    with pytest.raises(ValueError):
        CharTokenizer(chars="01<")


def test_decode_completions_stops_at_first_eos():
    tok = CharTokenizer()
    ids, _ = tok.encode_batch(["57<eos>9", "579", "<eos>"], add_bos=False, padding_side="right")
    texts, ended = tok.decode_completions(ids)
    assert texts == ["57", "579", ""]
    assert ended.tolist() == [True, False, True]


def test_state_dict_round_trip():
    tok = CharTokenizer(extra_special=("<b8>",))
    again = CharTokenizer.from_state_dict(tok.state_dict())
    assert again.itos == tok.itos and again.encode("1<b8>") == tok.encode("1<b8>")
