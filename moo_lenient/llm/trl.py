r"""TRL integration: GRPO with one objective per reward, aggregated by a moo_lenient method.

``MOGRPOTrainer`` is a drop-in replacement for ``trl.GRPOTrainer`` (configured with
:class:`MOGRPOConfig`, a ``GRPOConfig`` with a few more fields). Rewards are computed by TRL as
usual; instead of scalarizing them, every reward function is an objective with its own
advantages, loss and gradient, and a method from :mod:`moo_lenient.methods` (PLC by default)
chooses the update direction once per optimizer step. See :class:`MOGRPOTrainer` for the math.
The preference can also be sampled per generation batch and written before the prompts, so that
one model serves all preferences (``moo_preference_sampling``, ``moo_condition_on_preference``).

Tested against trl 1.16 and transformers 5.24 (the TRL internals this module relies on are
listed in :class:`MOGRPOTrainer` and checked by the contract test in ``tests/llm/test_trl.py``).
"""

from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from moo_lenient._validation import as_float64_vector, check_preference
from moo_lenient.llm.advantages import SCALES, group_normalize, signal_mask
from moo_lenient.llm.losses import LOSS_TYPES, kl_penalty, policy_gradient_losses, reduce_tokens
from moo_lenient.llm.trainer import preference_prefix
from moo_lenient.methods import available, get
from moo_lenient.optimizer import MultiObjectiveOptimizer, StepInfo

try:
    from trl import GRPOConfig, GRPOTrainer
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        'moo_lenient.llm.trl needs TRL: pip install "trl>=1.16,<2" (and transformers, peft)'
    ) from exc

__all__ = [
    "ADVANTAGES_KEY",
    "MOO_STATE_NAME",
    "PREFERENCE_KEY",
    "PREFERENCE_SAMPLING",
    "VALUES_KEY",
    "ZERO_SIGNAL",
    "MOGRPOConfig",
    "MOGRPOTrainer",
]

ZERO_SIGNAL = ("drop", "keep")
PREFERENCE_SAMPLING = ("fixed", "dirichlet")

# Keys this module adds to TRL's generation output (tensors with a leading batch dimension, so
# they survive TRL's shuffling and splitting into micro-batches).
ADVANTAGES_KEY = "moo_advantages"  # (B_local, K) per-objective advantages
VALUES_KEY = "moo_values"  # (B_local, K), every row the K values handed to the method
PREFERENCE_KEY = "moo_preference"  # (B_local, K) float64 on the CPU, every row the preference

# File written into every checkpoint folder next to the Trainer's optimizer.pt (see
# MOGRPOTrainer._save_optimizer_and_scheduler).
MOO_STATE_NAME = "moo_state.pt"
_MOO_STATE_KEYS = ("method_name", "method", "step", "num_objectives")
# Optional key of moo_state.pt: the bit-generator state of the preference sampler.
_PREFERENCE_RNG_KEY = "preference_rng"


def _weights_only_safe(obj: Any) -> Any:
    """``obj`` with numpy arrays turned into tensors and numpy scalars into Python numbers, so
    that ``torch.load(..., weights_only=True)`` reads it back."""
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(obj.copy())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {k: _weights_only_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        items = [_weights_only_safe(v) for v in obj]
        return items if isinstance(obj, list) else tuple(items)
    return obj


def _check_preference_entries(value: Any, name: str) -> list[float]:
    """Non-negative, finite, not all zero; the length is checked against the rewards later."""
    try:
        w = as_float64_vector(value, name)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a list of numbers, got {value!r}") from exc
    if w.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.isfinite(w).all() or (w < 0).any() or not w.sum() > 0:
        raise ValueError(
            f"{name} must hold non-negative finite numbers, not all zero, got {w.tolist()}"
            + (
                " (reward_weights doubles as the preference when preference is None: set "
                "MOGRPOConfig(preference=...) explicitly to use negative reward weights)"
                if name == "reward_weights"
                else ""
            )
        )
    return w.tolist()


def _prefix_prompt(prompt: Any, prefix: str) -> Any:
    """``prompt`` with ``prefix`` written before its text, as new objects (``prompt`` is left
    untouched): a string is prefixed; a conversation (a list of messages) gets the prefix before
    the content of its last user message (before its first text part if the content is a list
    of parts, or as a new first text part if it has none)."""
    if isinstance(prompt, str):
        return prefix + prompt
    if isinstance(prompt, (list, tuple)) and all(isinstance(m, dict) for m in prompt):
        for i in range(len(prompt) - 1, -1, -1):
            message = prompt[i]
            if message.get("role") != "user":
                continue
            content = message.get("content")
            if isinstance(content, str):
                content = prefix + content
            elif isinstance(content, (list, tuple)):
                parts = list(content)
                for j, part in enumerate(parts):
                    if isinstance(part, dict) and part.get("type") == "text":
                        parts[j] = {**part, "text": prefix + str(part.get("text") or "")}
                        break
                else:
                    parts.insert(0, {"type": "text", "text": prefix})
                content = parts
            else:
                raise ValueError(
                    "moo_condition_on_preference: the last user message's content must be a "
                    f"string or a list of parts, got {type(content).__name__}"
                )
            return [*prompt[:i], {**message, "content": content}, *prompt[i + 1 :]]
        raise ValueError(
            "moo_condition_on_preference: a conversational prompt has no user message to write "
            "the preference into"
        )
    raise ValueError(
        "moo_condition_on_preference needs string or conversational prompts (a list of "
        f"messages), got {type(prompt).__name__}"
    )


def _prefix_rows(rows: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    """Copies of the dataset rows with ``prefix`` written before each ``"prompt"``."""
    out = []
    for row in rows:
        if "prompt" not in row:
            raise ValueError(
                'moo_condition_on_preference needs a "prompt" in every dataset row (prompts '
                "supplied by an environment's reset() are not supported)"
            )
        out.append({**row, "prompt": _prefix_prompt(row["prompt"], prefix)})
    return out


@dataclass
class MOGRPOConfig(GRPOConfig):
    r"""``GRPOConfig`` plus the multi-objective settings of :class:`MOGRPOTrainer`.

    Parameters (in addition to ``GRPOConfig``'s):
        gradient_aggregation: the method that aggregates the per-objective gradients, a name
            in ``moo_lenient.methods.available()`` (``"ls"``, ``"mgda"``, ``"pcgrad"``,
            ``"plc"``, ``"stch"``). Default ``"plc"``.
        moo_method_kwargs: keyword arguments for the method (``methods.get(name, **kwargs)``),
            e.g. ``{"kappa0": 2.0}`` for PLC (a JSON string on the command line). The run's
            ``max_steps`` is the method's horizon unless ``horizon`` is given here.
        preference: K non-negative weights, one per reward function (normalized to sum 1),
            fixed for the run. Default: TRL's ``reward_weights`` doubles as the preference;
            uniform if both are None. ``reward_weights`` does NOT otherwise change the
            per-objective advantages, which come from the raw reward columns (TRL still uses
            it for its own logged ``reward`` and its unused scalar ``advantages``).
        moo_reward_scale: normalization of the per-objective advantages,
            :func:`moo_lenient.llm.advantages.group_normalize`'s ``scale``: ``"group"``
            (default; each reward z-scored within its group of ``num_generations``
            completions), ``"batch"`` (centred per group, divided by the reward's batch
            standard deviation) or ``"none"`` (centred only, Dr. GRPO). TRL's own
            ``scale_rewards`` does not apply to these advantages.
        moo_zero_signal: ``"drop"`` (default): an objective whose advantages are all zero in
            an optimizer step's micro-batches (its reward did not vary within any group) is
            excluded from that step (``active=``; weight 0, logged as ``moo/active/<name>`` =
            0); ``"keep"``: it takes part with its zero gradient (a min-norm method such as
            MGDA then returns a zero update).
        moo_preference_sampling: ``"fixed"`` (default): the preference above for every step;
            ``"dirichlet"``: a new preference for every generation batch, drawn from
            Dirichlet(``moo_dirichlet_alpha``) by a numpy Generator seeded with ``seed`` (its
            state is saved in the checkpoints), and given to the aggregator of the optimizer
            steps trained on that batch. The fixed preference is then used by evaluation only.
            Needs ``steps_per_generation`` to be a multiple of ``gradient_accumulation_steps``
            (so that an optimizer step never mixes two generation batches).
        moo_dirichlet_alpha: the Dirichlet's concentration, the same for every reward
            (positive; 1.0, the default, is uniform on the simplex).
        moo_condition_on_preference: write the preference of the generation batch before every
            prompt, as :func:`moo_lenient.llm.trainer.preference_prefix` text (e.g.
            ``"<w 0.60 0.40> "``; before a string prompt, or before the content of the last
            user message of a conversational one), so that one model learns to serve all
            preferences (Rewards-in-Context style). Default False. Reward functions see the
            prefixed prompts.

    Supported TRL options: ``loss_type`` in ``"grpo"``, ``"dapo"`` (TRL's default) and
    ``"dr_grpo"``; ``beta`` (KL as a shared regularizer); ``num_iterations`` and
    ``steps_per_generation`` (PPO clipping with symmetric ``epsilon``); PEFT; gradient
    accumulation, clipping, schedules. Refused with a ValueError because they would change the
    loss outside the per-objective hook: ``use_liger_kernel``, the other loss types,
    ``top_entropy_quantile < 1``, entropy bonuses, ``off_policy_mask_threshold``,
    ``importance_sampling_level="sequence"``, ``delta``, vLLM importance-sampling correction
    and asymmetric clipping (``epsilon_high``) with off-policy updates.
    """

    gradient_aggregation: str = field(
        default="plc",
        metadata={"help": "moo_lenient method aggregating the per-reward gradients."},
    )
    moo_method_kwargs: dict | None = field(
        default=None, metadata={"help": "Keyword arguments for the moo_lenient method."}
    )
    preference: list[float] | None = field(
        default=None,
        metadata={"help": "Preference over the reward functions (default: reward_weights)."},
    )
    moo_reward_scale: str = field(
        default="group",
        metadata={"help": "Per-objective advantage normalization: 'group', 'batch' or 'none'."},
    )
    moo_zero_signal: str = field(
        default="drop",
        metadata={"help": "Objectives without advantage signal in a step: 'drop' or 'keep'."},
    )
    moo_preference_sampling: str = field(
        default="fixed",
        metadata={
            "help": "'fixed' (the preference) or 'dirichlet' (a new preference per generation "
            "batch, drawn from Dirichlet(moo_dirichlet_alpha))."
        },
    )
    moo_dirichlet_alpha: float = field(
        default=1.0,
        metadata={"help": "Concentration of the Dirichlet the preferences are drawn from."},
    )
    moo_condition_on_preference: bool = field(
        default=False,
        metadata={"help": "Write the preference before every prompt ('<w 0.60 0.40> ')."},
    )

    def __post_init__(self) -> None:
        if not isinstance(self.gradient_aggregation, str):
            raise ValueError(
                f"gradient_aggregation must be a method name, one of {available()}, "
                f"got {self.gradient_aggregation!r}"
            )
        self.gradient_aggregation = self.gradient_aggregation.lower()
        if self.gradient_aggregation not in available():
            raise ValueError(
                f"unknown gradient_aggregation {self.gradient_aggregation!r}; "
                f"available: {available()}"
            )
        if isinstance(self.moo_method_kwargs, str) and self.moo_method_kwargs.startswith("{"):
            self.moo_method_kwargs = json.loads(self.moo_method_kwargs)  # from the command line
        if self.moo_method_kwargs is not None and not isinstance(self.moo_method_kwargs, dict):
            raise ValueError(
                f"moo_method_kwargs must be a dict or None, got {self.moo_method_kwargs!r}"
            )
        try:  # builds a throwaway instance to report bad keyword arguments now
            get(self.gradient_aggregation, **(self.moo_method_kwargs or {}))
        except TypeError as exc:
            raise ValueError(
                f"bad moo_method_kwargs for {self.gradient_aggregation!r}: {exc}"
            ) from exc
        if self.preference is not None:
            self.preference = _check_preference_entries(self.preference, "preference")
        elif self.reward_weights is not None:
            _check_preference_entries(self.reward_weights, "reward_weights")
        if self.moo_reward_scale not in SCALES:
            raise ValueError(
                f"moo_reward_scale must be one of {SCALES}, got {self.moo_reward_scale!r}"
            )
        if self.moo_zero_signal not in ZERO_SIGNAL:
            raise ValueError(
                f"moo_zero_signal must be one of {ZERO_SIGNAL}, got {self.moo_zero_signal!r}"
            )
        if self.moo_preference_sampling not in PREFERENCE_SAMPLING:
            raise ValueError(
                f"moo_preference_sampling must be one of {PREFERENCE_SAMPLING}, "
                f"got {self.moo_preference_sampling!r}"
            )
        alpha = self.moo_dirichlet_alpha
        if (
            isinstance(alpha, bool)
            or not isinstance(alpha, (int, float))
            or not math.isfinite(alpha)
            or alpha <= 0
        ):
            raise ValueError(f"moo_dirichlet_alpha must be a positive number, got {alpha!r}")
        self.moo_dirichlet_alpha = float(alpha)
        if not isinstance(self.moo_condition_on_preference, bool):
            raise ValueError(
                "moo_condition_on_preference must be True or False, "
                f"got {self.moo_condition_on_preference!r}"
            )
        if self.loss_type not in LOSS_TYPES:
            raise ValueError(
                f"MOGRPOTrainer supports loss_type in {LOSS_TYPES}, got {self.loss_type!r}"
            )
        if self.use_liger_kernel:
            raise ValueError(
                "use_liger_kernel=True is not supported by MOGRPOTrainer: the Liger path computes "
                "the loss outside compute_loss and bypasses the per-objective gradients"
            )
        unsupported = {
            "top_entropy_quantile < 1": self.top_entropy_quantile < 1.0,
            "entropy_coef != 0": self.entropy_coef != 0.0,
            "use_adaptive_entropy": self.use_adaptive_entropy,
            "off_policy_mask_threshold": self.off_policy_mask_threshold is not None,
            "importance_sampling_level != 'token'": self.importance_sampling_level != "token",
            "delta (two-sided clipping)": self.delta is not None,
            "vLLM importance-sampling correction": (
                self.use_vllm and self.vllm_importance_sampling_correction
            ),
        }
        bad = [name for name, on in unsupported.items() if on]
        if bad:
            raise ValueError(f"MOGRPOTrainer does not support {', '.join(bad)}")
        super().__post_init__()
        off_policy = (
            self.num_iterations > 1 or self.steps_per_generation > self.gradient_accumulation_steps
        )
        if off_policy and self.epsilon_high is not None and self.epsilon_high != self.epsilon:
            raise ValueError(
                "MOGRPOTrainer clips symmetrically (epsilon); epsilon_high != epsilon is not "
                "supported with num_iterations > 1 or steps_per_generation > "
                "gradient_accumulation_steps"
            )
        if (
            self.moo_preference_sampling == "dirichlet"
            and self.steps_per_generation % self.gradient_accumulation_steps != 0
        ):
            raise ValueError(
                "moo_preference_sampling='dirichlet' draws one preference per generation batch "
                "and needs every optimizer step within one generation batch: steps_per_generation "
                f"({self.steps_per_generation}) must be a multiple of gradient_accumulation_steps "
                f"({self.gradient_accumulation_steps})"
            )


class MOGRPOTrainer(GRPOTrainer):
    r"""GRPO with one objective per reward function, aggregated by a moo_lenient method.

    **Per objective.** For a generation batch of prompts with G = ``num_generations``
    completions each and K reward functions, TRL computes the rewards
    :math:`r_{ik}` (NaN where a reward returned None). Each reward gets its own advantages,
    normalized by ``moo_reward_scale`` (:func:`~moo_lenient.llm.advantages.group_normalize`,
    default ``"group"``):

    .. math::
        A_{ik} = \frac{r_{ik} - \bar r_{g(i)k}}{\sigma_{g(i)k} + 10^{-4}},

    computed from the raw reward columns (TRL's ``reward_weights`` and ``scale_rewards`` do not
    enter; TRL's scalar ``advantages`` are computed but unused). One forward pass gives the
    per-token log-probabilities :math:`\ell_{it}`; objective k's loss is the GRPO surrogate
    with advantage column k, reduced as TRL's ``loss_type`` (``grpo``, ``dapo``, ``dr_grpo``):

    .. math::
        L_k = -\mathrm{reduce}_{i,t}\big[\min(\rho_{it} A_{ik},
              \mathrm{clip}(\rho_{it}, 1-\epsilon, 1+\epsilon) A_{ik})\big],

    with :math:`\rho = 1` on-policy and :math:`\rho = e^{\ell - \ell^{old}}` when TRL provides
    ``old_per_token_logps`` (``num_iterations > 1``). Its gradient :math:`g_k` is taken over
    the trainable parameters (the LoRA parameters with PEFT).

    **Accumulation.** Micro-batches of one optimizer step are scaled as TRL scales its loss
    (1/``gradient_accumulation_steps`` for grpo/dr_grpo; the token count of the whole
    accumulation window for dapo), so the summed :math:`g_k` equal the large-batch gradients.

    **Values.** The method prices objectives with :math:`v_k = -\operatorname{mean}_i r_{ik}`
    (minus reward k's mean over the generation batch, NaN ignored; 0 if reward k returned
    only None), the same for every micro-batch of a step.

    **Aggregation.** On the last micro-batch of the step the method (``gradient_aggregation``,
    preference p, see below) returns weights :math:`\alpha` and the direction
    :math:`d = \sum_k \alpha_k g_k` (for weight-based methods). Objectives without signal in
    the step (all advantages zero) get :math:`\alpha_k = 0` with ``moo_zero_signal="drop"``.

    **Preference.** With ``moo_preference_sampling="fixed"`` (default) p is the config's
    ``preference`` (or ``reward_weights``; uniform if both are None) for every step. With
    ``"dirichlet"`` a new p ~ Dirichlet(``moo_dirichlet_alpha``) is drawn for every
    generation batch (TRL generates once per ``steps_per_generation * num_iterations``
    micro-batches), from a numpy Generator seeded with ``seed`` whose state goes into the
    checkpoints; p travels with the generation output (:data:`PREFERENCE_KEY`, one row per
    completion) through TRL's shuffling and splitting, and the aggregator of every optimizer step
    trained on that batch gets it. With ``moo_condition_on_preference`` the model sees p as
    text, ``preference_prefix(p)`` (e.g. ``"<w 0.60 0.40> "``), before every prompt of the
    batch (string prompts; for conversations, the content of the last user message), written
    into copies of the dataset rows before TRL tokenizes them, so one model learns to serve all
    preferences (Rewards-in-Context style). Evaluation (``evaluate()``, also during training)
    never samples: it prefixes and reports with the fixed preference.

    **Shared.** The KL to the reference policy (``beta > 0``; TRL's k3 estimator, multiplied by
    the importance ratio when ``use_bias_correction_kl``) is a regularizer, not an objective:
    its plain gradient is added once after aggregation, :math:`\mathrm{grad} = d +
    \beta\nabla \mathrm{KL}`. The Trainer then clips, steps, and schedules as usual.

    **How ``.grad`` gets d.** Aggregation happens inside ``compute_loss`` (TRL's callbacks
    fire after the backward pass, too late). On non-final micro-batches the gradients are only
    accumulated (``torch.autograd.grad``) and the returned loss carries no gradient to the
    parameters. On the final one ``compute_loss`` aggregates, reads the direction
    :math:`d_p` of each parameter, clears ``.grad`` and returns the surrogate
    :math:`\sum_p \langle p, d_p\rangle - \mathrm{stop}(\cdot) + \text{reported loss}`, whose
    gradient is exactly :math:`d` (scaled to undo accelerate's division of the loss by its
    gradient-accumulation steps, 1 under ``Trainer``); the Trainer's own backward then leaves
    :math:`d` in ``.grad``. The reported (logged) loss is :math:`\sum_k p_k L_k + \beta
    \mathrm{KL}` (p: the micro-batch's preference).

    **Logged per optimizer step** (``trainer.state.log_history``): ``moo/weight/<name>``,
    ``moo/grad_norm/<name>``, ``moo/cos/<a>_<b>``, ``moo/active/<name>`` (1/0),
    ``moo/value/<name>``, ``moo/preference/<name>`` (the p the aggregator got; in evaluation
    ``eval_moo/preference/<name>``, the fixed one); for PLC ``moo/plc/lenient`` (1/0),
    ``moo/plc/tolerated``, ``moo/plc/rectified`` and ``moo/plc/dissenters`` (counts); ``kl``
    (beta > 0) and ``entropy`` as TRL logs them.

    **TRL internals used** (trl 1.16): ``_calculate_rewards`` (returns the gathered
    (N, K) ``rewards_per_func``), ``_generate_and_score_completions`` (output dict with
    ``prompt_ids``, ``prompt_mask``, ``completion_ids``, ``completion_mask``,
    ``num_items_in_batch``, optional ``old_per_token_logps``, ``ref_per_token_logps``,
    ``tool_mask``; it reads the prompts from the ``"prompt"`` of the dataset rows it is given,
    once per ``steps_per_generation * num_iterations`` micro-batches in training),
    ``_get_per_token_logps_and_entropies``, ``_metrics[mode]`` (lists
    averaged at each log), ``reward_func_names``, ``num_generations(_eval)``, ``beta``,
    ``epsilon_low``, ``loss_type``, ``max_completion_length``, ``aux_loss_enabled``, and
    ``current_gradient_accumulation_steps`` / ``accelerator.sync_gradients`` from
    transformers' ``Trainer``, whose checkpoint hooks ``_save_optimizer_and_scheduler(output_dir)``
    (called by ``_save_checkpoint`` unless ``save_only_model``) and
    ``_load_optimizer_and_scheduler(checkpoint)`` (called by ``train(resume_from_checkpoint=...)``)
    are extended (transformers 5.24).

    **Checkpoints.** Every checkpoint folder gets ``moo_state.pt`` (:data:`MOO_STATE_NAME`,
    ``torch.save``) next to the Trainer's ``optimizer.pt``: the
    :meth:`~moo_lenient.MultiObjectiveOptimizer.state_dict` without the inner optimizer (which
    the Trainer saves), i.e. ``method_name``, ``method`` (e.g. PLC's step counter, averages and
    forecast), ``step`` and ``num_objectives``, plus ``preference_rng``, the state of the
    preference sampler's bit generator, only tensors and Python primitives (it is read
    with ``torch.load(..., weights_only=True)``). ``train(resume_from_checkpoint=...)`` reads it
    and restores it into the MultiObjectiveOptimizer when that is built on the first resumed
    step; a checkpoint of another ``gradient_aggregation`` or number of rewards is refused with
    a ValueError, and a checkpoint without the file (e.g. from ``GRPOTrainer``) resumes a stateful
    method afresh, with a warning (and so does a ``"dirichlet"`` sampler without a saved
    state). A resumed run then takes the same steps, with the same sampled preferences, as an
    uninterrupted one (given the same ``max_steps``, which is PLC's horizon, and a checkpoint at
    the end of a generation batch: TRL regenerates after a resume, so with
    ``steps_per_generation > gradient_accumulation_steps`` a checkpoint inside a generation
    batch resumes with a new batch and a new preference).

    Single process only (the per-objective gradients are not reduced across processes).
    """

    # compute_loss returns a loss already scaled for gradient accumulation (as GRPOTrainer's).
    loss_is_scaled_for_ga = True

    def __init__(
        self,
        model: Any,
        reward_funcs: Any = None,
        args: MOGRPOConfig | None = None,
        *rest: Any,
        **kwargs: Any,
    ) -> None:
        if args is None:
            name = model if isinstance(model, str) else type(model).__name__
            args = MOGRPOConfig(f"{str(name).split('/')[-1]}-MOGRPO")
        if not isinstance(args, MOGRPOConfig):
            raise TypeError(
                f"MOGRPOTrainer needs an MOGRPOConfig (a GRPOConfig subclass), got {type(args)}"
            )
        if not rest and kwargs.get("environment_factory") is None and reward_funcs is not None:
            k = len(reward_funcs) if isinstance(reward_funcs, (list, tuple)) else 1
            self._resolve_preference(args, k)  # fail fast, before models are built
        super().__init__(model, reward_funcs, args, *rest, **kwargs)
        k = len(self.reward_funcs)
        self._moo_preference = self._resolve_preference(args, k)
        # Draws the "dirichlet" preferences, one per training generation batch (checkpointed).
        self._moo_rng = np.random.default_rng(args.seed)
        if self.accelerator.num_processes > 1:
            raise NotImplementedError(
                "MOGRPOTrainer aggregates per-process gradients and does not support several "
                "processes yet"
            )
        if self.aux_loss_enabled:
            raise ValueError(
                "MOGRPOTrainer does not support the MoE router auxiliary loss; set "
                "router_aux_loss_coef=0.0"
            )
        self._moo: MultiObjectiveOptimizer | None = None
        self._moo_rewards: Tensor | None = None
        self._moo_signal: Tensor | None = None  # (K,) OR of the signal over the window
        self._moo_window_preference: Tensor | None = None  # (K,) float64, that of the window
        self._moo_window_open = False
        # State read from a checkpoint's moo_state.pt, applied when the optimizer is built.
        self._moo_resume_state: dict[str, Any] | None = None
        self.last_step_info: StepInfo | None = None

    @staticmethod
    def _resolve_preference(args: MOGRPOConfig, k: int) -> np.ndarray:
        pref, source = args.preference, "preference"
        if pref is None and args.reward_weights is not None:
            pref, source = args.reward_weights, "reward_weights (the default preference)"
        if pref is not None and len(pref) != k:
            raise ValueError(
                f"{source} has {len(pref)} entries but there are {k} reward functions "
                "(one preference weight per reward function)"
            )
        return check_preference(pref, k)

    @property
    def moo_optimizer(self) -> MultiObjectiveOptimizer | None:
        """The MultiObjectiveOptimizer wrapping ``self.optimizer`` (created on the first step)."""
        return self._moo

    # Generation: per-objective advantages and values -----------------------------------------
    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        self._moo_rewards = rewards
        return rewards

    def _generation_preference(self, mode: str) -> np.ndarray:
        """The (K,) normalized preference of a new generation batch: drawn in training with
        ``moo_preference_sampling="dirichlet"``, else the fixed one."""
        k = len(self.reward_funcs)
        if mode == "train" and self.args.moo_preference_sampling == "dirichlet":
            w = self._moo_rng.dirichlet(np.full(k, self.args.moo_dirichlet_alpha))
            return check_preference(w, k)
        return self._moo_preference.copy()

    def _generate_and_score_completions(self, inputs):
        mode = "train" if self.model.training else "eval"
        preference = self._generation_preference(mode)
        if self.args.moo_condition_on_preference:  # copies: the dataset rows stay as they are
            inputs = _prefix_rows(inputs, preference_prefix(preference))
        self._moo_rewards = None
        output = super()._generate_and_score_completions(inputs)
        rewards = self._moo_rewards
        if rewards is None or rewards.ndim != 2:
            raise RuntimeError(
                "MOGRPOTrainer: TRL did not call _calculate_rewards as expected (TRL version?)"
            )
        group = self.num_generations if mode == "train" else self.num_generations_eval
        rewards = rewards.detach().float()
        if group >= 2:
            adv = group_normalize(rewards.cpu(), group, self.args.moo_reward_scale)
        else:  # a single completion per prompt (eval only): no within-group signal
            adv = torch.zeros_like(rewards, device="cpu")
        valid = ~torch.isnan(rewards)
        means = torch.where(valid, rewards, 0.0).sum(0) / valid.sum(0).clamp_min(1)
        values = -means
        b_local = output["completion_ids"].shape[0]
        start = self.accelerator.process_index * b_local
        device = output["completion_ids"].device
        output[ADVANTAGES_KEY] = adv[start : start + b_local].to(device)
        output[VALUES_KEY] = values.to(device).unsqueeze(0).expand(b_local, -1).contiguous()
        pref = torch.from_numpy(np.asarray(preference, dtype=np.float64).copy())
        output[PREFERENCE_KEY] = pref.unsqueeze(0).expand(b_local, -1).contiguous()
        if mode == "eval":  # training logs the aggregator's preference once per step
            for name, w in zip(self.reward_func_names, pref.tolist(), strict=True):
                self._metrics[mode][f"moo/preference/{name}"].append(float(w))
        return output

    # Loss -------------------------------------------------------------------------------------
    def _per_objective_losses(
        self, model: Any, inputs: dict[str, Any], mode: str
    ) -> tuple[Tensor, Tensor | None, Tensor, Tensor]:
        """(K,) losses and the regularizer (beta KL or None) of one micro-batch, scaled for
        gradient accumulation; the (K,) values, scaled alike; the (K,) signal mask."""
        completion_ids, completion_mask = inputs["completion_ids"], inputs["completion_mask"]
        input_ids = torch.cat([inputs["prompt_ids"], completion_ids], dim=1)
        attention_mask = torch.cat([inputs["prompt_mask"], completion_mask], dim=1)
        logits_to_keep = completion_ids.size(1)
        mask = (
            completion_mask if "tool_mask" not in inputs else completion_mask * inputs["tool_mask"]
        )
        logps, entropies, _ = self._get_per_token_logps_and_entropies(
            model,
            input_ids,
            attention_mask,
            logits_to_keep,
            compute_entropy=True,
            pixel_values=inputs.get("pixel_values"),
            image_grid_thw=inputs.get("image_grid_thw"),
            num_images=inputs.get("num_images"),
            pixel_attention_mask=inputs.get("pixel_attention_mask"),
            spatial_shapes=inputs.get("spatial_shapes"),
            num_tiles=inputs.get("num_tiles"),
            image_sizes=inputs.get("image_sizes"),
            token_type_ids=inputs.get("token_type_ids"),
            mm_token_type_ids=inputs.get("mm_token_type_ids"),
            image_position_ids=inputs.get("image_position_ids"),
        )
        advantages = inputs[ADVANTAGES_KEY]
        old = inputs.get("old_per_token_logps")
        loss_type = self.loss_type
        max_len = self.max_completion_length
        losses = policy_gradient_losses(
            logps,
            mask,
            advantages,
            old_logprobs=old,
            clip_eps=self.epsilon_low,
            loss_type=loss_type,
            max_completion_length=max_len,
        )
        # Scale as TRL does, so that the sum over the micro-batches of a step is the step's loss.
        gas = self.current_gradient_accumulation_steps if mode == "train" else 1
        if loss_type == "dapo":
            normalizer = (
                inputs["num_items_in_batch"].clamp(min=1.0) / self.accelerator.num_processes
            )
            if mode == "train":
                normalizer = normalizer * gas / self.args.steps_per_generation
            scale = mask.sum().clamp(min=1.0).to(logps.dtype) / normalizer.to(logps.dtype)
        else:
            scale = torch.tensor(1.0 / gas, dtype=logps.dtype, device=logps.device)
        losses = losses * scale

        regularizer = None
        mf = mask.to(logps.dtype)
        if self.beta != 0.0:
            ref = inputs["ref_per_token_logps"]
            if self.args.use_bias_correction_kl:
                delta = ref.detach() - logps
                old_lp = logps.detach() if old is None else old.detach()
                per_token_kl = (torch.exp(delta) - delta - 1.0) * torch.exp(logps - old_lp)
                kl = reduce_tokens(per_token_kl, mask, loss_type, max_len)
            else:
                per_token_kl = None
                kl = kl_penalty(logps, ref, mask, loss_type, max_len)
            regularizer = self.beta * kl * scale
            with torch.no_grad():
                if per_token_kl is None:
                    d = ref - logps
                    per_token_kl = torch.exp(d) - d - 1.0
                self._metrics[mode]["kl"].append(
                    float((per_token_kl * mf).sum() / mf.sum().clamp(min=1.0))
                )
        if entropies is not None:
            self._metrics[mode]["entropy"].append(
                float((entropies.detach() * mf).sum() / mf.sum().clamp(min=1.0))
            )

        values = inputs[VALUES_KEY][0].detach().to(torch.float64).cpu() / gas
        has_tokens = (mask.sum(1) > 0).unsqueeze(1)
        signal = signal_mask(torch.where(has_tokens, advantages, 0.0)).cpu()
        return losses, regularizer, values, signal

    def _batch_preference(self, inputs: dict[str, Any]) -> Tensor:
        """(K,) float64 CPU preference of a micro-batch (its generation batch's)."""
        pref = inputs.get(PREFERENCE_KEY)
        if pref is None:  # not generated by this trainer
            return torch.from_numpy(self._moo_preference.copy())
        return pref[0].detach().to("cpu", torch.float64)

    def _reported_loss(
        self, losses: Tensor, regularizer: Tensor | None, preference: Tensor
    ) -> Tensor:
        pref = preference.to(dtype=losses.dtype, device=losses.device)
        loss = (losses.detach() * pref).sum()
        if regularizer is not None:
            loss = loss + regularizer.detach()
        return loss

    def _ensure_moo(self) -> MultiObjectiveOptimizer:
        if self._moo is None or self._moo.optimizer is not self.optimizer:
            method = get(self.args.gradient_aggregation, **(self.args.moo_method_kwargs or {}))
            total = (
                self.state.max_steps if self.state.max_steps and self.state.max_steps > 0 else None
            )
            if getattr(method, "horizon", None) is not None:  # set in moo_method_kwargs: kept
                total = None
            self._moo = MultiObjectiveOptimizer(
                self.optimizer, method=method, preference=self._moo_preference, total_steps=total
            )
            if self._moo_resume_state is not None:  # resumed from a checkpoint
                state, self._moo_resume_state = self._moo_resume_state, None
                # The Trainer has already loaded the inner optimizer from optimizer.pt: hand its
                # current state back (a no-op load) and restore the method, step and K.
                self._moo.load_state_dict({**state, "optimizer": self.optimizer.state_dict()})
        return self._moo

    # Checkpoints ------------------------------------------------------------------------------
    def _moo_checkpoint_state(self) -> dict[str, Any] | None:
        """What moo_state.pt holds: the MultiObjectiveOptimizer's state without the inner
        optimizer, and the preference sampler's state; None before the first step (unless
        resumed and not stepped since)."""
        if self._moo is None:
            state = self._moo_resume_state
        else:
            state = {
                "method_name": self._moo.method.name,
                "method": self._moo.method.state_dict(),
                "step": self._moo.step_count,
                "num_objectives": self._moo.num_objectives,
            }
        if state is None:
            return None
        return _weights_only_safe({**state, _PREFERENCE_RNG_KEY: self._moo_rng.bit_generator.state})

    def _save_optimizer_and_scheduler(self, output_dir: str) -> None:
        super()._save_optimizer_and_scheduler(output_dir)
        state = self._moo_checkpoint_state()
        if state is not None and self.args.should_save:
            torch.save(state, os.path.join(output_dir, MOO_STATE_NAME))

    def _load_optimizer_and_scheduler(self, checkpoint: str | None) -> None:
        super()._load_optimizer_and_scheduler(checkpoint)
        if checkpoint is None:
            return
        self._moo_resume_state = None
        name = self.args.gradient_aggregation
        path = os.path.join(checkpoint, MOO_STATE_NAME)
        sampling = self.args.moo_preference_sampling == "dirichlet"
        if not os.path.isfile(path):
            if get(name, **(self.args.moo_method_kwargs or {})).state_dict():  # stateful
                warnings.warn(
                    f"checkpoint {checkpoint} has no {MOO_STATE_NAME}: the state of "
                    f"gradient_aggregation={name!r} starts afresh",
                    stacklevel=2,
                )
            if sampling:
                warnings.warn(
                    f"checkpoint {checkpoint} has no {MOO_STATE_NAME}: the preference sampler "
                    f"starts afresh from seed={self.args.seed}",
                    stacklevel=2,
                )
            self._moo_rng = np.random.default_rng(self.args.seed)
            return
        state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or set(_MOO_STATE_KEYS) - set(state):
            raise ValueError(f"{path} is not a MOGRPOTrainer method state (keys {_MOO_STATE_KEYS})")
        if state["method_name"] != name:
            raise ValueError(
                f"{path} holds the state of gradient_aggregation={state['method_name']!r}, but "
                f"this trainer uses {name!r}: resume with the same gradient_aggregation (or "
                f"delete {MOO_STATE_NAME} to start the method afresh)"
            )
        k = state["num_objectives"]
        if k is not None and k != len(self.reward_funcs):
            raise ValueError(
                f"{path} holds the state of {k} objectives, but this trainer has "
                f"{len(self.reward_funcs)} reward functions"
            )
        rng_state = state.pop(_PREFERENCE_RNG_KEY, None)
        if rng_state is not None:
            try:
                self._moo_rng.bit_generator.state = rng_state
            except (TypeError, ValueError, KeyError) as exc:
                raise ValueError(
                    f"{path}: bad {_PREFERENCE_RNG_KEY} (the preference sampler's state): {exc}"
                ) from exc
        else:
            if sampling:
                warnings.warn(
                    f"{path} has no {_PREFERENCE_RNG_KEY}: the preference sampler starts afresh "
                    f"from seed={self.args.seed}",
                    stacklevel=2,
                )
            self._moo_rng = np.random.default_rng(self.args.seed)
        self._moo_resume_state = state
        self._moo = None  # rebuilt, with this state, on the first resumed step

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if return_outputs:
            raise ValueError("MOGRPOTrainer does not support returning outputs")
        mode = "train" if self.model.training else "eval"
        preference = self._batch_preference(inputs)
        if mode == "eval" or not torch.is_grad_enabled():
            losses, regularizer, _, _ = self._per_objective_losses(model, inputs, mode)
            return self._reported_loss(losses, regularizer, preference)

        moo = self._ensure_moo()
        if not self._moo_window_open:  # first micro-batch of an optimizer step
            moo.zero_grad(set_to_none=True)
            self._moo_signal = None
            self._moo_window_preference = preference
            self._moo_window_open = True
        elif not torch.equal(preference, self._moo_window_preference):
            raise RuntimeError(
                "MOGRPOTrainer: the micro-batches of one optimizer step come from generation "
                "batches with different preferences (steps_per_generation must be a multiple of "
                "gradient_accumulation_steps)"
            )
        losses, regularizer, values, signal = self._per_objective_losses(model, inputs, mode)
        moo.backward(losses, values=values.numpy(), regularizer=regularizer)
        self._moo_signal = signal if self._moo_signal is None else self._moo_signal | signal
        reported = self._reported_loss(losses, regularizer, preference)

        if not self.accelerator.sync_gradients:
            # Nothing reaches the parameters: the per-objective gradients wait in `moo`.
            return reported.detach().clone().requires_grad_(True)

        active = None
        if self.args.moo_zero_signal == "drop":
            active = self._moo_signal.numpy().astype(bool)
        info = moo.aggregate(preference=self._moo_window_preference.numpy(), active=active)
        self._moo_window_open = False
        self.last_step_info = info
        self._log_step(info, mode)

        # `aggregate` wrote the direction (plus the regularizer's gradient) into `.grad`; move it
        # into a surrogate so that the Trainer's own backward leaves exactly it in `.grad`.
        directions = []
        for p in moo.trainable_parameters():
            if p.grad is not None:
                directions.append((p, p.grad))
            p.grad = None
        # accelerate divides the loss by its own accumulation steps before backward (1 under
        # transformers' Trainer, which accumulates itself); undo that.
        scale = float(self.accelerator.gradient_accumulation_steps)
        if not directions:
            return reported.detach().clone().requires_grad_(True)
        surrogate = sum((p * g.detach()).sum() for p, g in directions) * scale
        return surrogate - surrogate.detach() + reported

    # Logging ----------------------------------------------------------------------------------
    def _log_step(self, info: StepInfo, mode: str) -> None:
        metrics = self._metrics[mode]
        names = list(self.reward_func_names)
        weights = info.weights.tolist()
        norms = info.grad_norms
        cos = info.cosines
        active = info.active.tolist() if info.active is not None else [True] * len(names)
        values = info.values.tolist()
        preference = info.preference.tolist()
        for k, name in enumerate(names):
            metrics[f"moo/preference/{name}"].append(float(preference[k]))
            metrics[f"moo/weight/{name}"].append(float(weights[k]))
            metrics[f"moo/active/{name}"].append(1.0 if active[k] else 0.0)
            metrics[f"moo/value/{name}"].append(float(values[k]))
            if norms is not None:
                metrics[f"moo/grad_norm/{name}"].append(float(norms[k]))
        if cos is not None:
            for a in range(len(names)):
                for b in range(a + 1, len(names)):
                    metrics[f"moo/cos/{names[a]}_{names[b]}"].append(float(cos[a, b]))
        diag = info.diagnostics
        if "lenient" in diag:
            metrics["moo/plc/lenient"].append(1.0 if diag["lenient"] else 0.0)
            for key in ("tolerated", "rectified", "dissenters"):
                metrics[f"moo/plc/{key}"].append(float(len(diag.get(key, ()))))
        elif self.args.gradient_aggregation == "plc":  # no active objective: nothing to price
            metrics["moo/plc/lenient"].append(math.nan)
