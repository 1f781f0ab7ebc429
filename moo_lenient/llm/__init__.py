"""LLM alignment: K rewards, a user preference, any moo_lenient method.

- :mod:`~moo_lenient.llm.rewards`: reward functions in TRL's protocol (built-ins that run
  offline, wrappers for a reward model and for a cost);
- :mod:`~moo_lenient.llm.advantages` and :mod:`~moo_lenient.llm.losses`: per-objective
  group-normalized advantages, one policy-gradient loss per reward, the shared KL term;
- :mod:`~moo_lenient.llm.policy`: sampling groups of completions and their log-probabilities;
- :mod:`~moo_lenient.llm.trainer`: a plain-PyTorch training loop
  (:class:`MultiObjectiveAligner`), LoRA through PEFT by default;
- :mod:`~moo_lenient.llm.trl`: ``MOGRPOConfig`` / ``MOGRPOTrainer`` for TRL (imported on its
  own: ``from moo_lenient.llm.trl import MOGRPOTrainer``);
- :mod:`~moo_lenient.llm.presets`: the offline ``tiny`` preset, or a local pretrained model;
- :mod:`~moo_lenient.llm.evaluation`, :mod:`~moo_lenient.llm.sweep`,
  :mod:`~moo_lenient.llm.tabular`: fronts over preferences, their indicators and plots.

Everything here needs the ``llm`` extra (``pip install "moo_lenient[llm]"``) except the
torch-only core (advantages, losses, tabular).
"""

from moo_lenient.llm.advantages import group_normalize, signal_mask
from moo_lenient.llm.losses import kl_penalty, policy_gradient_losses
from moo_lenient.llm.rewards import (
    CheerfulnessReward,
    CostAsReward,
    EmbeddingSimilarityReward,
    HarmlessnessReward,
    LengthReward,
    SequenceClassifierReward,
    reward_matrix,
)
from moo_lenient.llm.trainer import AlignConfig, MultiObjectiveAligner

__all__ = [
    "AlignConfig",
    "CheerfulnessReward",
    "CostAsReward",
    "EmbeddingSimilarityReward",
    "HarmlessnessReward",
    "LengthReward",
    "MultiObjectiveAligner",
    "SequenceClassifierReward",
    "group_normalize",
    "kl_penalty",
    "policy_gradient_losses",
    "reward_matrix",
    "signal_mask",
]
