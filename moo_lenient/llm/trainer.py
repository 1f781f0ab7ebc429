r"""A plain-PyTorch loop for multi-reward, preference-conditioned policy-gradient training.

Each optimizer step (:meth:`MultiObjectiveAligner.train_step`), for each of its
``gradient_accumulation_steps`` micro-batches:

1. draw ``prompts_per_step`` prompts; prefix each with the step's preference when the model
   is preference-conditioned (``condition_on_preference``: one model for all preferences,
   as in Rewards-in-Context);
2. sample ``group_size`` completions per prompt and score them with the K reward functions
   (TRL's protocol, :mod:`moo_lenient.llm.rewards`);
3. per-objective group-normalized advantages A (N x K, :mod:`moo_lenient.llm.advantages`);
4. one forward pass for the completion log-probabilities, the K policy-gradient losses
   :math:`L_k` (:mod:`moo_lenient.llm.losses`) and, with ``beta > 0``, the KL to the frozen
   reference, a shared regularizer;
5. ``MultiObjectiveOptimizer.backward``: the K gradients over the trainable parameters
   (LoRA adapters by default), accumulated per objective, with the values
   :math:`f_k = -\bar r_k` (minus each reward's batch mean: the surrogate losses have no
   meaningful values, and PLC prices with these).

Then one aggregation by the method and one step of the inner optimizer (AdamW), with the
preference given to the aggregator. Objectives without any non-zero advantage in the step
(``zero_signal="drop"``, the default) take no part in it and are logged; ``"keep"`` hands
their zero gradients to the method (MGDA then returns a zero update).
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from moo_lenient._validation import check_preference
from moo_lenient.llm.advantages import SCALES, group_normalize, signal_mask
from moo_lenient.llm.losses import LOSS_TYPES, kl_penalty, policy_gradient_losses
from moo_lenient.llm.policy import completion_logprobs, sample_group, trainable_parameters
from moo_lenient.llm.rewards import reward_matrix, reward_names
from moo_lenient.methods import available, get
from moo_lenient.optimizer import MultiObjectiveOptimizer, StepInfo

__all__ = ["AlignConfig", "MultiObjectiveAligner", "preference_prefix"]


def preference_prefix(preference: Sequence[float]) -> str:
    """The text a preference-conditioned model sees before each prompt, e.g. ``<w 0.60 0.40> ``."""
    return "<w " + " ".join(f"{float(x):.2f}" for x in preference) + "> "


@dataclass
class AlignConfig:
    """Settings of :class:`MultiObjectiveAligner` (validated on construction).

    Attributes:
        method: a name from ``moo_lenient.available()``; ``method_kwargs`` go to it.
        preference: K non-negative weights (normalized); None = uniform.
        preference_sampling: ``"fixed"`` or ``"dirichlet"`` (a new preference per optimizer
            step, Dirichlet(``dirichlet_alpha``), given to the model and the aggregator).
        condition_on_preference: prefix prompts with the preference (needed to serve several
            preferences with one model).
        steps: planned optimizer steps (PLC's horizon).
        prompts_per_step, group_size: prompts per micro-batch and completions per prompt.
        gradient_accumulation_steps: micro-batches per optimizer step (the per-objective
            gradients are accumulated and aggregated once).
        beta: weight of the KL to the reference model (a shared regularizer; 0 = none).
        loss_type, reward_scale: see :mod:`~moo_lenient.llm.losses` and
            :mod:`~moo_lenient.llm.advantages`.
        zero_signal: ``"drop"`` or ``"keep"``.
        lora: train LoRA adapters (PEFT) of rank ``lora_rank`` on ``lora_targets``; False =
            full fine-tuning of every parameter.
        log_every: print a one-line summary to stdout every this many steps (0 = never).
    """

    method: str = "plc"
    method_kwargs: dict[str, Any] = field(default_factory=dict)
    preference: list[float] | None = None
    preference_sampling: Literal["fixed", "dirichlet"] = "fixed"
    dirichlet_alpha: float = 1.0
    condition_on_preference: bool = False
    steps: int = 100
    prompts_per_step: int = 4
    group_size: int = 4
    gradient_accumulation_steps: int = 1
    max_new_tokens: int = 16
    temperature: float = 1.0
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    beta: float = 0.0
    loss_type: Literal["grpo", "dapo", "dr_grpo"] = "grpo"
    reward_scale: Literal["group", "batch", "none"] = "group"
    zero_signal: Literal["drop", "keep"] = "drop"
    lora: bool = True
    lora_rank: int = 8
    lora_alpha: int = 16
    lora_targets: list[str] | str | None = None
    seed: int = 0
    log_every: int = 0

    def __post_init__(self) -> None:
        if self.method.lower() not in available():
            raise ValueError(f"unknown method {self.method!r}; available: {available()}")
        for name in ("steps", "prompts_per_step", "gradient_accumulation_steps", "max_new_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if isinstance(self.group_size, bool) or not isinstance(self.group_size, int):
            raise ValueError(f"group_size must be an integer >= 2, got {self.group_size!r}")
        if self.group_size < 2:
            raise ValueError(
                f"group_size must be >= 2 (advantages are relative to the group), "
                f"got {self.group_size}"
            )
        for name in ("temperature", "learning_rate", "dirichlet_alpha"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        for name in ("beta", "weight_decay"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a non-negative number, got {value!r}")
        choices = {
            "preference_sampling": ("fixed", "dirichlet"),
            "loss_type": LOSS_TYPES,
            "reward_scale": SCALES,
            "zero_signal": ("drop", "keep"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if self.preference is not None:
            self.preference = [
                float(x) for x in check_preference(self.preference, len(self.preference))
            ]
        if isinstance(self.log_every, bool) or not isinstance(self.log_every, int):
            raise ValueError(f"log_every must be an integer >= 0, got {self.log_every!r}")
        if self.log_every < 0:
            raise ValueError(f"log_every must be an integer >= 0, got {self.log_every!r}")
        if self.lora and (self.lora_rank < 1 or self.lora_alpha <= 0):
            raise ValueError("lora_rank must be >= 1 and lora_alpha > 0")


class MultiObjectiveAligner:
    """Train a causal LM against K rewards under a preference with any moo_lenient method.

    Args:
        model: a ``transformers`` causal LM (or a PEFT model). With ``config.lora`` and a model
            that is not a PEFT model yet, LoRA adapters are added (``peft``).
        tokenizer: its tokenizer (a pad and an EOS token are needed).
        reward_funcs: K reward functions in TRL's protocol.
        prompts: the training prompts.
        config: :class:`AlignConfig`.
        log_path: optional CSV file, one row per optimizer step.
        callbacks: called with each step's log record (a flat dict).
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        reward_funcs: Sequence[Callable[..., list[float | None]]],
        prompts: Sequence[str],
        config: AlignConfig | None = None,
        *,
        log_path: str | Path | None = None,
        callbacks: Sequence[Callable[[dict[str, Any]], None]] = (),
    ) -> None:
        self.config = config = config or AlignConfig()
        self.reward_funcs = list(reward_funcs)
        if not self.reward_funcs:
            raise ValueError("at least one reward function is needed")
        self.names = reward_names(self.reward_funcs)
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"reward names must be unique, got {self.names}")
        k = len(self.reward_funcs)
        if config.preference is not None and len(config.preference) != k:
            raise ValueError(
                f"preference has {len(config.preference)} entries but there are {k} rewards"
            )
        self.prompts = list(prompts)
        if not self.prompts:
            raise ValueError("no prompts")
        self.tokenizer = tokenizer
        self.model = self._prepare_model(model)
        self._reference = None
        if config.beta > 0 and not self._is_peft:
            import copy

            self._reference = copy.deepcopy(self.model).eval().requires_grad_(False)
        named = trainable_parameters(self.model)
        self.param_names = [n for n, _ in named]
        inner = torch.optim.AdamW(
            [p for _, p in named], lr=config.learning_rate, weight_decay=config.weight_decay
        )
        self.optimizer = MultiObjectiveOptimizer(
            inner,
            method=get(config.method, **config.method_kwargs),
            preference=config.preference,
            total_steps=config.steps,
        )
        self.rng = np.random.default_rng(config.seed)
        self.torch_rng = torch.Generator().manual_seed(config.seed)
        self.step = 0
        self.history: list[dict[str, Any]] = []
        self.log_path = None if log_path is None else Path(log_path)
        self.callbacks = list(callbacks)

    # Setup ------------------------------------------------------------------------------------
    @property
    def _is_peft(self) -> bool:
        return hasattr(self.model, "disable_adapter") and hasattr(self.model, "peft_config")

    def _prepare_model(self, model: Any) -> Any:
        is_peft = hasattr(model, "disable_adapter") and hasattr(model, "peft_config")
        if self.config.lora and not is_peft:
            try:
                from peft import LoraConfig, get_peft_model
            except ImportError as exc:  # pragma: no cover - depends on the environment
                raise ImportError('LoRA needs peft: pip install "moo_lenient[llm]"') from exc
            # None: PEFT's default modules for the architecture (GPT-2: c_attn; Llama: q, v).
            lora = LoraConfig(
                r=self.config.lora_rank,
                lora_alpha=self.config.lora_alpha,
                lora_dropout=0.0,
                target_modules=self.config.lora_targets,
                fan_in_fan_out=getattr(model.config, "model_type", "") == "gpt2",  # Conv1D
                task_type="CAUSAL_LM",
            )
            with torch.random.fork_rng(devices=[]):  # LoRA's A init: reproducible per seed
                torch.manual_seed(self.config.seed)
                model = get_peft_model(model, lora)
        return model

    # One optimizer step -----------------------------------------------------------------------
    def step_preference(self) -> np.ndarray:
        """The preference of the next step (fixed, or drawn from the Dirichlet)."""
        k = len(self.reward_funcs)
        if self.config.preference_sampling == "dirichlet":
            return self.rng.dirichlet(np.full(k, self.config.dirichlet_alpha))
        return check_preference(self.config.preference, k)

    def train_step(self) -> dict[str, Any]:
        """One optimizer step (all its micro-batches); returns the step's log record."""
        cfg = self.config
        start = time.perf_counter()
        w = self.step_preference()
        gas = cfg.gradient_accumulation_steps
        active = torch.zeros(len(self.reward_funcs), dtype=torch.bool)
        reward_sums = np.zeros(len(self.reward_funcs))
        reward_counts = np.zeros(len(self.reward_funcs))
        kl_total = 0.0
        self.model.train()
        for _ in range(gas):
            idx = self.rng.choice(len(self.prompts), size=cfg.prompts_per_step, replace=False)
            prompts = [self.prompts[i] for i in idx]
            if cfg.condition_on_preference:
                prompts = [preference_prefix(w) + p for p in prompts]
            with _seeded(self.torch_rng):
                rollout = sample_group(
                    self.model,
                    self.tokenizer,
                    prompts,
                    cfg.group_size,
                    cfg.max_new_tokens,
                    cfg.temperature,
                )
            rewards = reward_matrix(
                self.reward_funcs, rollout.prompts, rollout.completions, rollout.completion_ids
            )
            adv = group_normalize(rewards, cfg.group_size, cfg.reward_scale)
            active |= signal_mask(adv)
            valid = ~torch.isnan(rewards)
            reward_sums += torch.where(valid, rewards, 0.0).sum(0).double().numpy()
            reward_counts += valid.sum(0).numpy()
            means = torch.where(valid, rewards, 0.0).sum(0) / valid.sum(0).clamp_min(1)
            logprobs = completion_logprobs(self.model, rollout, cfg.temperature)
            losses = policy_gradient_losses(
                logprobs,
                rollout.completion_mask,
                adv,
                loss_type=cfg.loss_type,
                max_completion_length=cfg.max_new_tokens,
            )
            regularizer = None
            if cfg.beta > 0:
                kl = kl_penalty(
                    logprobs,
                    self._reference_logprobs(rollout),
                    rollout.completion_mask,
                    cfg.loss_type,
                    cfg.max_new_tokens,
                )
                kl_total += float(kl.detach()) / gas
                regularizer = cfg.beta * kl / gas
            self.optimizer.backward(
                list(losses / gas), values=(-means.double() / gas).numpy(), regularizer=regularizer
            )
        mask = active.numpy() if cfg.zero_signal == "drop" else None
        info = self.optimizer.step(preference=w, active=mask)
        record = self._record(info, w, reward_sums / np.maximum(reward_counts, 1), kl_total)
        record["seconds"] = time.perf_counter() - start
        self.step += 1
        self.history.append(record)
        self._emit(record)
        return record

    def train(self, steps: int | None = None, progress: bool = False) -> list[dict[str, Any]]:
        """Run ``steps`` optimizer steps (default: up to ``config.steps``)."""
        steps = self.config.steps - self.step if steps is None else steps
        iterator: Any = range(max(0, steps))
        if progress:
            from tqdm.auto import tqdm

            iterator = tqdm(iterator, desc=f"align[{self.config.method}]", unit="step")
        return [self.train_step() for _ in iterator]

    @torch.no_grad()
    def _reference_logprobs(self, rollout: Any) -> Tensor:
        if self._is_peft:
            return completion_logprobs(
                self.model, rollout, self.config.temperature, disable_adapter=True
            )
        return completion_logprobs(self._reference, rollout, self.config.temperature)

    # Logging ----------------------------------------------------------------------------------
    def _record(
        self, info: StepInfo, w: np.ndarray, reward_means: np.ndarray, kl: float
    ) -> dict[str, Any]:
        rec: dict[str, Any] = {"step": self.step, "kl": kl}
        norms, cos = info.grad_norms, info.cosines
        for i, name in enumerate(self.names):
            rec[f"preference/{name}"] = float(w[i])
            rec[f"reward/{name}"] = float(reward_means[i])
            rec[f"weight/{name}"] = float(info.weights[i])
            rec[f"grad_norm/{name}"] = float(norms[i])
            rec[f"active/{name}"] = int(bool(info.active[i]))
            for j in range(i + 1, len(self.names)):
                rec[f"cos/{name}_{self.names[j]}"] = float(cos[i, j])
        d = info.diagnostics
        if "lenient" in d:  # PLC
            rec["plc/lenient"] = int(bool(d["lenient"]))
            rec["plc/coalition"] = len(d.get("coalition", ()))
            rec["plc/tolerated"] = len(d.get("tolerated", ()))
            rec["plc/rectified"] = len(d.get("rectified", ()))
            rec["plc/escaped"] = int(bool(d.get("escaped", False)))
        return rec

    def _emit(self, record: dict[str, Any]) -> None:
        if self.log_path is not None:
            new = not self.log_path.exists()
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with self.log_path.open("a", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=list(record))
                if new:
                    writer.writeheader()
                writer.writerow(record)
        for callback in self.callbacks:
            callback(record)
        every = self.config.log_every
        if every and (record["step"] + 1) % every == 0:
            parts = [f"step {record['step'] + 1}"]
            parts += [f"{n} {record[f'reward/{n}']:+.3f}" for n in self.names]
            parts += [f"w[{n}] {record[f'weight/{n}']:.3g}" for n in self.names]
            if self.config.beta > 0:
                parts.append(f"kl {record['kl']:.4f}")
            print(" | ".join(parts), flush=True)

    # State ------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Trainable weights, optimizer and method state, step, RNG states and the config."""
        params = dict(trainable_parameters(self.model))
        return {
            "params": {n: params[n].detach().clone() for n in self.param_names},
            "optimizer": self.optimizer.state_dict(),
            "step": self.step,
            "rng": self.rng.bit_generator.state,
            "torch_rng": self.torch_rng.get_state(),
            "config": asdict(self.config),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (same reward count, method and trainable parameters)."""
        params = dict(trainable_parameters(self.model))
        if sorted(state["params"]) != sorted(self.param_names):
            raise ValueError("the checkpoint's trainable parameters differ from this model's")
        if state["config"].get("method") != self.config.method:
            raise ValueError(
                f"checkpoint is for method {state['config'].get('method')!r}, "
                f"this run uses {self.config.method!r}"
            )
        self.optimizer.load_state_dict(state["optimizer"])
        with torch.no_grad():
            for n, value in state["params"].items():
                params[n].copy_(value)
        self.step = int(state["step"])
        self.rng.bit_generator.state = state["rng"]
        self.torch_rng.set_state(state["torch_rng"])

    def save(self, path: str | Path) -> None:
        torch.save(self.state_dict(), Path(path))

    def load(self, path: str | Path) -> None:
        """Load a checkpoint written by :meth:`save` (``torch.load(weights_only=True)``)."""
        self.load_state_dict(torch.load(Path(path), weights_only=True))


class _seeded:
    """Run a block with torch's global RNG drawn from (and advancing) a private generator, so
    sampling is reproducible and resumable whatever else uses the global RNG."""

    def __init__(self, generator: torch.Generator) -> None:
        self.generator = generator

    def __enter__(self) -> None:
        self._fork = torch.random.fork_rng(devices=[])
        self._fork.__enter__()
        seed = int(torch.randint(0, 2**62, (1,), generator=self.generator))
        torch.manual_seed(seed)

    def __exit__(self, *exc: object) -> None:
        self._fork.__exit__(*exc)
