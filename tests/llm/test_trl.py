"""MOGRPOTrainer / MOGRPOConfig on a tiny offline GPT-2 (no downloads, CPU)."""

from __future__ import annotations

import inspect
import math
import os
import shutil
from collections import defaultdict

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import datasets
import peft
import transformers
import trl

from moo_lenient.llm.presets import build_tiny_model, build_tokenizer, load_prompts
from moo_lenient.llm.trainer import preference_prefix
from moo_lenient.llm.trl import (
    ADVANTAGES_KEY,
    MOO_STATE_NAME,
    PREFERENCE_KEY,
    VALUES_KEY,
    MOGRPOConfig,
    MOGRPOTrainer,
    _prefix_rows,
)

pytestmark = [
    # transformers 5.24 deprecates gradient_checkpointing* in favour of activation_checkpointing*;
    # TRL 1.16 still sets GRPOConfig.gradient_checkpointing=True and calls the old methods around
    # generation. Harmless and not ours.
    pytest.mark.filterwarnings(
        r"ignore:`(gradient_checkpointing(_kwargs|_enable|_disable)?|is_gradient_checkpointing)` "
        r"is deprecated:FutureWarning"
    ),
]


# Rewards ----------------------------------------------------------------------------------------
def long(prompts, completions, **kw):
    return [min(len(c.split()), 20) / 20 for c in completions]


def short(prompts, completions, **kw):
    return [-len(c) / 50 - c.count("!") for c in completions]


def const(prompts, completions, **kw):
    return [1.0 for _ in completions]


# Fixtures and helpers ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer()


@pytest.fixture(scope="module")
def dataset():
    return datasets.Dataset.from_dict({"prompt": load_prompts("train")[:16]})


def config(tmp_path, cls=MOGRPOConfig, **overrides):
    kwargs = {
        "output_dir": str(tmp_path / "out"),
        "per_device_train_batch_size": 8,
        "num_generations": 4,
        "max_completion_length": 8,
        "max_steps": 2,
        "report_to": "none",
        "logging_steps": 1,
        "save_strategy": "no",
        "use_cpu": True,
        "learning_rate": 1e-2,
        "disable_tqdm": True,
        "seed": 0,
        # TRL defaults to bf16 autocast and gradient checkpointing, also on CPU: slower here and
        # not exact; test_end_to_end[plc] keeps them.
        "bf16": False,
        "gradient_checkpointing": False,
    }
    kwargs.update(overrides)
    return cls(**kwargs)


def sgd(**overrides):
    """Plain SGD in float32: no momentum or weight decay, constant lr, no warmup or clipping."""
    return {
        "optim": "sgd",
        "learning_rate": 0.1,
        "lr_scheduler_type": "constant",
        "warmup_steps": 0,
        "weight_decay": 0.0,
        "max_grad_norm": 0.0,  # 0 disables clipping in transformers' Trainer
        **overrides,
    }


class RecordingTrainer(MOGRPOTrainer):
    """Records the micro-batches handed to compute_loss."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if not hasattr(self, "recorded"):
            self.recorded = []
        self.recorded.append(
            {k: v.detach().clone() if torch.is_tensor(v) else v for k, v in inputs.items()}
        )
        return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)


class PromptSpyTrainer(RecordingTrainer):
    """Also records (training?, prompts) of every generation batch, as the rewards see them."""

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        if not hasattr(self, "reward_prompts"):
            self.reward_prompts = []
        self.reward_prompts.append((self.model.training, list(prompts)))
        return super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)


def make_trainer(tokenizer, dataset, args, rewards=(long, short), cls=RecordingTrainer, **kw):
    model = build_tiny_model(tokenizer, seed=0)
    return cls(
        model=model,
        reward_funcs=list(rewards),
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        **kw,
    )


def snapshot(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def changed(model, before, atol=0.0) -> set[str]:
    return {n for n, p in model.named_parameters() if (p.detach() - before[n]).abs().max() > atol}


def logged(trainer, key) -> list[float]:
    return [h[key] for h in trainer.state.log_history if key in h]


def logged_preferences(trainer, names=("long", "short")) -> list[tuple[float, ...]]:
    columns = [logged(trainer, f"moo/preference/{name}") for name in names]
    return list(zip(*columns, strict=True))


# Contract with TRL ------------------------------------------------------------------------------
def test_trl_contract(tokenizer, dataset, tmp_path):
    """The TRL / transformers internals MOGRPOTrainer relies on (a TRL upgrade fails here)."""
    from trl.trainer.utils import shuffle_sequence_dict, split_tensor_dict

    gt = trl.GRPOTrainer
    params = lambda f: list(inspect.signature(f).parameters)  # noqa: E731
    assert params(gt._calculate_rewards)[:5] == [
        "self",
        "inputs",
        "prompts",
        "completions",
        "completion_ids_list",
    ]
    assert params(gt._generate_and_score_completions)[:2] == ["self", "inputs"]
    logps = params(gt._get_per_token_logps_and_entropies)
    assert logps[:5] == ["self", "model", "input_ids", "attention_mask", "logits_to_keep"]
    for name in ("compute_entropy", "pixel_values", "num_images", "token_type_ids"):
        assert name in logps
    assert params(gt.compute_loss)[:5] == [
        "self",
        "model",
        "inputs",
        "return_outputs",
        "num_items_in_batch",
    ]
    # GRPOTrainer's loss is already scaled for gradient accumulation: the Trainer must not
    # divide ours again (transformers >= 5.19 reads this attribute in training_step).
    assert gt.loss_is_scaled_for_ga is True
    assert "loss_is_scaled_for_ga" in inspect.getsource(transformers.Trainer.training_step)
    fields = trl.GRPOConfig.__dataclass_fields__
    for name in (
        "reward_weights",
        "loss_type",
        "beta",
        "epsilon",
        "epsilon_high",
        "num_iterations",
        "steps_per_generation",
        "use_bias_correction_kl",
        "use_liger_kernel",
        "top_entropy_quantile",
        "delta",
    ):
        assert name in fields, name
    # A (B, K) tensor survives TRL's buffering (shuffled in unison, split along rows).
    batch = {"a": torch.arange(8.0), ADVANTAGES_KEY: torch.arange(8.0).repeat(2, 1).T}
    batch["n"] = torch.tensor(3.0)
    for chunk in split_tensor_dict(shuffle_sequence_dict(batch), 2):
        assert chunk[ADVANTAGES_KEY].shape == (4, 2)
        assert torch.equal(chunk[ADVANTAGES_KEY][:, 0], chunk["a"])
        assert chunk["n"].ndim == 0
    # Attributes of a constructed trainer.
    trainer = make_trainer(tokenizer, dataset, config(tmp_path))
    assert isinstance(trainer._metrics["train"], defaultdict)
    assert trainer.reward_func_names == ["long", "short"]
    assert trainer.accelerator.gradient_accumulation_steps == 1
    for name in ("num_generations", "num_generations_eval", "beta", "epsilon_low", "loss_type"):
        assert hasattr(trainer, name), name
    assert hasattr(trainer, "max_completion_length") and hasattr(trainer, "aux_loss_enabled")
    assert hasattr(trainer.accelerator, "sync_gradients")
    # Generation-output keys read by compute_loss.
    source = inspect.getsource(gt._generate_and_score_completions)
    for key in ("num_items_in_batch", "old_per_token_logps", "ref_per_token_logps", "tool_mask"):
        assert f'"{key}"' in source, key
    # The prompts come from the rows handed to it (prefixed there for preference conditioning),
    # and training generates once per steps_per_generation * num_iterations micro-batches.
    assert 'prompts = [x["prompt"] for x in inputs]' in source
    prepare_source = inspect.getsource(gt._prepare_inputs)
    assert "self._generate_and_score_completions(generation_batch)" in prepare_source
    assert "generate_every = self.args.steps_per_generation * self.num_iterations" in prepare_source
    # Checkpoint hooks extended to save / restore the method's state (moo_state.pt).
    tt = transformers.Trainer
    assert params(tt._save_optimizer_and_scheduler) == ["self", "output_dir"]
    assert params(tt._load_optimizer_and_scheduler) == ["self", "checkpoint"]
    save_source = inspect.getsource(tt._save_checkpoint)
    assert "self._save_optimizer_and_scheduler(output_dir)" in save_source
    trainer_source = inspect.getsource(transformers.trainer)
    assert "self._load_optimizer_and_scheduler(resume_from_checkpoint)" in trainer_source


# End to end -------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["plc", "mgda"])
def test_end_to_end(tokenizer, dataset, tmp_path, method):
    # "plc" runs with TRL's defaults (bf16 autocast, gradient checkpointing).
    defaults = {"bf16": None, "gradient_checkpointing": True} if method == "plc" else {}
    args = config(tmp_path, gradient_aggregation=method, **defaults)
    trainer = make_trainer(tokenizer, dataset, args)
    before = snapshot(trainer.model)
    trainer.train()
    assert trainer.state.global_step == 2
    assert changed(trainer.model, before)
    batch = trainer.recorded[0]
    for key in ("prompt_ids", "prompt_mask", "completion_ids", "completion_mask"):
        assert key in batch
    assert batch[ADVANTAGES_KEY].shape == (8, 2) and batch[VALUES_KEY].shape == (8, 2)
    # The rewards conflict and vary within the groups (else the test would be vacuous).
    assert (batch[ADVANTAGES_KEY] != 0).any(0).all()
    for name in ("long", "short"):
        weights = logged(trainer, f"moo/weight/{name}")
        assert len(weights) == 2 and all(w >= 0 for w in weights)
        assert logged(trainer, f"moo/active/{name}") == [1.0, 1.0]
        assert len(logged(trainer, f"moo/grad_norm/{name}")) == 2
        assert len(logged(trainer, f"moo/value/{name}")) == 2
    assert len(logged(trainer, "moo/cos/long_short")) == 2
    if method == "plc":
        for key in ("lenient", "tolerated", "rectified"):
            assert len(logged(trainer, f"moo/plc/{key}")) == 2
    info = trainer.last_step_info
    assert info is not None and info.microbatches == 1
    assert all(torch.isfinite(torch.tensor(logged(trainer, "loss"))))
    if method == "mgda":  # evaluation: compute_loss under no_grad, no aggregation
        eval_set = datasets.Dataset.from_dict({"prompt": load_prompts("eval")[:2]})
        metrics = trainer.evaluate(eval_set)
        assert math.isfinite(metrics["eval_loss"])
        assert trainer.moo_optimizer.step_count == 2


def test_lora_only_adapters_change_with_kl(tokenizer, dataset, tmp_path):
    lora = peft.LoraConfig(
        r=4, lora_alpha=8, target_modules=["c_attn"], lora_dropout=0.0, fan_in_fan_out=True
    )  # GPT-2 uses Conv1D layers (fan_in_fan_out=True avoids a peft warning)
    args = config(tmp_path, gradient_aggregation="plc", beta=0.05, learning_rate=0.1)
    trainer = make_trainer(tokenizer, dataset, args, peft_config=lora)
    before = snapshot(trainer.model)
    trainer.train()
    moved = changed(trainer.model, before)
    assert moved, "no parameter changed"
    assert all("lora_" in n for n in moved), sorted(moved)
    assert any("lora_B" in n for n in moved)
    # The KL (reference = the adapter disabled) is the shared regularizer and is logged.
    assert "ref_per_token_logps" in trainer.recorded[0]
    kl = logged(trainer, "kl")
    assert len(kl) == 2 and kl[0] == pytest.approx(0.0, abs=1e-6) and kl[1] > 0


# Correctness ------------------------------------------------------------------------------------
def _independent_update(tokenizer, initial, batch, preference, loss_type, lr, max_len):
    """θ0 - lr Σ_k w_k ∇L_k from the recorded batch, without TRL or moo_lenient code paths."""
    model = build_tiny_model(tokenizer, seed=0)
    model.load_state_dict(initial, strict=False)
    model.train()
    ids = torch.cat([batch["prompt_ids"], batch["completion_ids"]], 1)
    att = torch.cat([batch["prompt_mask"], batch["completion_mask"]], 1)
    t = batch["completion_ids"].shape[1]
    logits = model(input_ids=ids, attention_mask=att).logits[:, -t - 1 : -1]
    logp = torch.log_softmax(logits.float(), -1).gather(-1, batch["completion_ids"][..., None])
    logp = logp.squeeze(-1)
    m = batch["completion_mask"].float()

    # Advantages from the decoded completions, grouped by prompt: z-score per reward.
    texts = tokenizer.batch_decode(batch["completion_ids"], skip_special_tokens=True)
    prompts = [
        tuple(r[mk.bool()].tolist())
        for r, mk in zip(batch["prompt_ids"], batch["prompt_mask"], strict=True)
    ]
    rewards = torch.tensor([long(None, texts), short(None, texts)], dtype=torch.float64).T
    adv = torch.zeros_like(rewards)
    for p in set(prompts):
        rows = [i for i, q in enumerate(prompts) if q == p]
        r = rewards[rows]
        adv[rows] = (r - r.mean(0)) / (r.std(0) + 1e-4)
    torch.testing.assert_close(adv.float(), batch[ADVANTAGES_KEY], atol=1e-5, rtol=1e-5)

    w = torch.tensor(preference, dtype=torch.float64)
    a = (adv @ (w / w.sum())).float()  # Σ_k w_k A_k: the losses are linear in A on-policy
    per_token = -a[:, None] * logp * m
    if loss_type == "dapo":
        loss = per_token.sum() / m.sum()
    elif loss_type == "grpo":
        loss = (per_token.sum(1) / m.sum(1).clamp(min=1)).mean()
    else:  # dr_grpo
        loss = per_token.sum() / (m.shape[0] * max_len)
    params = dict(model.named_parameters())
    grads = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
    return {
        n: (initial[n] - lr * g if g is not None else initial[n])
        for (n, _), g in zip(params.items(), grads, strict=True)
    }


@pytest.mark.parametrize("loss_type", ["dapo", "grpo", "dr_grpo"])
def test_ls_step_equals_weighted_gradient(tokenizer, dataset, tmp_path, loss_type):
    pref = [0.7, 0.3]
    # With dapo, TRL's reward_weights (unnormalized) doubles as the preference; it must not
    # change the per-objective advantages (checked against the raw rewards below).
    weighting = {"reward_weights": [7.0, 3.0]} if loss_type == "dapo" else {"preference": pref}
    args = config(
        tmp_path, **sgd(), **weighting, gradient_aggregation="ls", loss_type=loss_type, max_steps=1
    )
    trainer = make_trainer(tokenizer, dataset, args)
    initial = snapshot(trainer.model)
    trainer.train()
    assert len(trainer.recorded) == 1
    info = trainer.last_step_info
    torch.testing.assert_close(info.weights, torch.tensor(pref, dtype=torch.float64))
    expected = _independent_update(
        tokenizer, initial, trainer.recorded[0], pref, loss_type, 0.1, args.max_completion_length
    )
    for n, p in trainer.model.named_parameters():
        torch.testing.assert_close(p.detach(), expected[n], atol=2e-6, rtol=1e-5, msg=n)
    assert changed(trainer.model, initial)


def test_gradient_accumulation_equals_large_batch(tokenizer, dataset, tmp_path):
    updates = []
    for bs, gas in ((8, 1), (4, 2)):
        args = config(
            tmp_path / f"gas{gas}",
            **sgd(),
            gradient_aggregation="ls",
            per_device_train_batch_size=bs,
            gradient_accumulation_steps=gas,
            max_steps=1,
        )
        trainer = make_trainer(tokenizer, dataset, args)
        before = snapshot(trainer.model)
        trainer.train()
        assert len(trainer.recorded) == gas and trainer.last_step_info.microbatches == gas
        completions = torch.cat([b["completion_ids"] for b in trainer.recorded])
        updates.append(
            (
                {n: p.detach() - before[n] for n, p in trainer.model.named_parameters()},
                sorted(map(tuple, completions.tolist())),
            )
        )
    (big, gen_big), (acc, gen_acc) = updates
    assert gen_big == gen_acc, "the two runs did not generate the same completions"
    assert any(d.abs().max() > 0 for d in big.values())
    for n in big:
        torch.testing.assert_close(acc[n], big[n], atol=1e-6, rtol=1e-4, msg=n)


def test_single_reward_matches_stock_grpo(tokenizer, dataset, tmp_path):
    """K = 1 with "ls": the same update as TRL's GRPOTrainer (advantages, loss scaling and
    gradient accumulation conventions agree with TRL's), here for loss_type="grpo", gas = 2."""
    common = {**sgd(), "per_device_train_batch_size": 4, "gradient_accumulation_steps": 2}
    common.update(loss_type="grpo", max_steps=1)
    updates = []
    for cls, trainer_cls in ((trl.GRPOConfig, trl.GRPOTrainer), (MOGRPOConfig, MOGRPOTrainer)):
        args = config(tmp_path / cls.__name__, cls=cls, **common)
        if cls is MOGRPOConfig:
            args.gradient_aggregation = "ls"
        trainer = make_trainer(tokenizer, dataset, args, rewards=(long,), cls=trainer_cls)
        before = snapshot(trainer.model)
        trainer.train()
        updates.append({n: p.detach() - before[n] for n, p in trainer.model.named_parameters()})
    stock, ours = updates
    assert any(d.abs().max() > 0 for d in stock.values())
    for n in stock:
        torch.testing.assert_close(ours[n], stock[n], atol=1e-6, rtol=1e-4, msg=n)


# Zero signal ------------------------------------------------------------------------------------
@pytest.mark.parametrize("policy", ["drop", "keep"])
def test_zero_signal(tokenizer, dataset, tmp_path, policy):
    args = config(tmp_path, **sgd(), gradient_aggregation="mgda", moo_zero_signal=policy)
    args.max_steps = 1
    trainer = make_trainer(tokenizer, dataset, args, rewards=(long, const))
    before = snapshot(trainer.model)
    trainer.train()
    assert (trainer.recorded[0][ADVANTAGES_KEY][:, 1] == 0).all()
    moved = changed(trainer.model, before, atol=1e-7)
    if policy == "drop":
        assert logged(trainer, "moo/active/const") == [0.0]
        assert logged(trainer, "moo/active/long") == [1.0]
        assert logged(trainer, "moo/weight/const") == [0.0]
        assert logged(trainer, "moo/weight/long") == [pytest.approx(1.0)]
        assert moved
    else:  # MGDA's min-norm point with a zero gradient is (about) zero
        assert logged(trainer, "moo/active/const") == [1.0]
        assert not moved


# Off-policy (num_iterations > 1): clipping with TRL's old log-probabilities ---------------------
def test_num_iterations_uses_old_logps(tokenizer, dataset, tmp_path):
    args = config(tmp_path, gradient_aggregation="mgda", num_iterations=2, loss_type="grpo")
    trainer = make_trainer(tokenizer, dataset, args)
    before = snapshot(trainer.model)
    trainer.train()
    assert "old_per_token_logps" in trainer.recorded[1]
    # Second pass over the same generation: the same completions, a moved policy.
    assert torch.equal(
        trainer.recorded[0]["completion_ids"].sort(0)[0],
        trainer.recorded[1]["completion_ids"].sort(0)[0],
    )
    assert changed(trainer.model, before)


# Checkpoints ------------------------------------------------------------------------------------
def test_resume_restores_method_state(tokenizer, dataset, tmp_path):
    """4 PLC steps in one go = 2 steps, a checkpoint, and a new trainer resumed to 4 steps."""
    common = {
        "gradient_aggregation": "plc",
        "max_steps": 4,  # also PLC's horizon: the same in both runs
        "save_strategy": "steps",
        "save_steps": 2,
        "optim": "adamw_torch",
        "lr_scheduler_type": "constant",
        "warmup_steps": 0,
    }
    # Uninterrupted; its step-2 checkpoint is what a run stopped after step 2 leaves behind.
    full = make_trainer(tokenizer, dataset, config(tmp_path / "full", **common), cls=MOGRPOTrainer)
    full.train()
    ckpt = tmp_path / "full" / "out" / "checkpoint-2"
    assert (ckpt / "optimizer.pt").is_file() and (ckpt / "rng_state.pth").is_file()
    saved = torch.load(ckpt / MOO_STATE_NAME, weights_only=True)
    # No inner optimizer; the preference sampler's state (unused with "fixed") is there.
    assert set(saved) == {"method_name", "method", "step", "num_objectives", "preference_rng"}
    assert (saved["method_name"], saved["step"], saved["num_objectives"]) == ("plc", 2, 2)
    assert saved["method"]["t"] == 2 and torch.is_tensor(saved["method"]["ema_sq"])

    def resume(name, checkpoint, **overrides):
        args = config(tmp_path / name, **{**common, **overrides})
        trainer = make_trainer(tokenizer, dataset, args, cls=MOGRPOTrainer)
        trainer.train(resume_from_checkpoint=str(checkpoint))
        return trainer

    resumed = resume("resumed", ckpt)
    assert resumed.state.global_step == 4
    for trainer in (full, resumed):
        assert trainer.moo_optimizer.method.t == 4 and trainer.moo_optimizer.step_count == 4
    # The Trainer restores the model, AdamW, scheduler and RNG states (rng_state.pth: the same
    # batches and sampled completions), moo_state.pt the method's: the same steps 3 and 4.
    assert logged(resumed, "moo/weight/long") == logged(full, "moo/weight/long")
    final = dict(full.model.named_parameters())
    for n, p in resumed.model.named_parameters():
        torch.testing.assert_close(p, final[n], atol=1e-6, rtol=0.0, msg=n)

    # A checkpoint without moo_state.pt (e.g. GRPOTrainer's) resumes PLC afresh, with a warning
    # (max_steps=2: the Trainer still takes one step); another method's trainer refuses the PLC
    # state when the checkpoint is loaded, before any step.
    bare = tmp_path / "bare"
    shutil.copytree(ckpt, bare)
    (bare / MOO_STATE_NAME).unlink()
    with pytest.warns(UserWarning, match=f"no {MOO_STATE_NAME}: .*'plc' starts afresh"):
        afresh = resume("afresh", bare, max_steps=2)
    assert afresh.moo_optimizer.method.t == afresh.state.global_step - 2  # counted from 0 again
    with pytest.raises(ValueError, match=r"gradient_aggregation='plc'.*uses 'mgda'"):
        resume("other", ckpt, gradient_aggregation="mgda", max_steps=2)


# Preference sampling and conditioning -----------------------------------------------------------
def _prompt_texts(tokenizer, batch) -> list[str]:
    """The prompts of a recorded micro-batch as the model saw them (decoded tokens)."""
    return [
        tokenizer.decode(ids[mask.bool()], skip_special_tokens=True)
        for ids, mask in zip(batch["prompt_ids"], batch["prompt_mask"], strict=True)
    ]


def test_dirichlet_preference_conditions_prompts_and_aggregation(tokenizer, dataset, tmp_path):
    """One Dirichlet preference per generation batch: written before its prompts, given to the
    aggregator ("ls": the weights are the preference), logged; evaluation uses the fixed one."""
    args = config(
        tmp_path,
        gradient_aggregation="ls",
        moo_zero_signal="keep",  # "ls" weights = the preference even without reward variation
        moo_preference_sampling="dirichlet",
        moo_condition_on_preference=True,
        preference=[0.7, 0.3],  # evaluation's
    )
    trainer = make_trainer(tokenizer, dataset, args, cls=PromptSpyTrainer)
    trainer.train()
    prefs = logged_preferences(trainer)
    assert len(prefs) == 2 and prefs[0] != prefs[1]
    for pref in prefs:
        assert sum(pref) == pytest.approx(1.0) and min(pref) >= 0.0
        assert pref != pytest.approx((0.7, 0.3))
    # One generation batch per optimizer step (steps_per_generation = 1): its prompts carry its
    # preference, once, and that is the preference the model saw and the aggregator got.
    assert len(trainer.reward_prompts) == 2 and len(trainer.recorded) == 2
    for (training, prompts), batch, pref in zip(
        trainer.reward_prompts, trainer.recorded, prefs, strict=True
    ):
        prefix = preference_prefix(pref)
        assert training and len(prompts) == 8
        assert all(q.startswith(prefix) and "<w" not in q[len(prefix) :] for q in prompts)
        assert {q[len(prefix) :] for q in prompts} <= set(load_prompts("train")[:16])
        assert all(t.startswith(prefix) for t in _prompt_texts(tokenizer, batch))
        expected = torch.tensor(pref, dtype=torch.float64).expand(8, 2)
        torch.testing.assert_close(batch[PREFERENCE_KEY], expected, rtol=0, atol=0)
    assert logged(trainer, "moo/weight/long") == pytest.approx([p[0] for p in prefs], abs=1e-12)
    assert logged(trainer, "moo/weight/short") == pytest.approx([p[1] for p in prefs], abs=1e-12)
    torch.testing.assert_close(
        trainer.last_step_info.preference, torch.tensor(prefs[-1], dtype=torch.float64)
    )
    # The dataset rows were copied, not prefixed in place.
    assert dataset["prompt"] == load_prompts("train")[:16]

    # Evaluation: the fixed preference for the prefix and the report; the sampler is not drawn.
    rng_state = trainer._moo_rng.bit_generator.state
    trainer.reward_prompts.clear()
    eval_set = datasets.Dataset.from_dict({"prompt": load_prompts("eval")[:2]})
    metrics = trainer.evaluate(eval_set)
    assert trainer.reward_prompts and not any(training for training, _ in trainer.reward_prompts)
    for _, prompts in trainer.reward_prompts:
        assert all(q.startswith("<w 0.70 0.30> ") for q in prompts)
    assert metrics["eval_moo/preference/long"] == pytest.approx(0.7)
    assert metrics["eval_moo/preference/short"] == pytest.approx(0.3)
    assert math.isfinite(metrics["eval_loss"])
    assert trainer._moo_rng.bit_generator.state == rng_state


@pytest.mark.parametrize("condition", [True, False])
def test_fixed_preference_conditioning(tokenizer, dataset, tmp_path, condition):
    """ "fixed": the fixed preference (here reward_weights, normalized) is written before every
    prompt with moo_condition_on_preference, nothing without; logged and aggregated."""
    args = config(
        tmp_path,
        gradient_aggregation="ls",
        reward_weights=[7.0, 3.0],
        moo_condition_on_preference=condition,
        max_steps=1,
    )
    trainer = make_trainer(tokenizer, dataset, args, cls=PromptSpyTrainer)
    trainer.train()
    ((training, prompts),) = trainer.reward_prompts
    assert training and len(prompts) == 8
    texts = _prompt_texts(tokenizer, trainer.recorded[0])
    if condition:
        assert all(q.startswith("<w 0.70 0.30> ") for q in prompts + texts)
    else:
        assert not any("<w" in q for q in prompts + texts)
        assert set(prompts) <= set(load_prompts("train")[:16])
    assert logged_preferences(trainer) == [pytest.approx((0.7, 0.3))]
    expected = torch.tensor([0.7, 0.3], dtype=torch.float64).expand(8, 2)
    torch.testing.assert_close(trainer.recorded[0][PREFERENCE_KEY], expected)
    torch.testing.assert_close(trainer.last_step_info.weights, expected[0])


def test_prefix_rows_copies_and_handles_conversations():
    conversation = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi."},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "And this?"}]},
    ]
    rows = [{"prompt": "Say hi.", "id": 1}, {"prompt": conversation, "id": 2}]
    snapshot_rows = [{"prompt": "Say hi.", "id": 1}, {"prompt": [dict(m) for m in conversation]}]
    snapshot_rows[1]["id"] = 2
    snapshot_rows[1]["prompt"][3] = {
        "role": "user",
        "content": [{"type": "image"}, {"type": "text", "text": "And this?"}],
    }
    out = _prefix_rows(rows, "<w 0.60 0.40> ")
    assert rows == snapshot_rows  # untouched
    assert out[0] == {"prompt": "<w 0.60 0.40> Say hi.", "id": 1}
    assert out[1]["id"] == 2
    assert out[1]["prompt"][:3] == conversation[:3]  # only the last user message changes
    assert out[1]["prompt"][3]["content"] == [
        {"type": "image"},
        {"type": "text", "text": "<w 0.60 0.40> And this?"},
    ]
    image_only = [{"role": "user", "content": [{"type": "image"}]}]
    assert _prefix_rows([{"prompt": image_only}], "<w 1.00> ")[0]["prompt"][0]["content"] == [
        {"type": "text", "text": "<w 1.00> "},
        {"type": "image"},
    ]
    with pytest.raises(ValueError, match="no user message"):
        _prefix_rows([{"prompt": [{"role": "system", "content": "x"}]}], "<w 1.00> ")
    with pytest.raises(ValueError, match='needs a "prompt"'):
        _prefix_rows([{"environment": "x"}], "<w 1.00> ")


def test_resume_restores_preference_sampler(tokenizer, dataset, tmp_path):
    """2 "dirichlet" steps in one go = 1 step, a checkpoint, and a resumed run: the same
    sampled preference (from the sampler state in moo_state.pt), prompts and parameters."""
    common = {
        **sgd(),
        "gradient_aggregation": "ls",
        "moo_preference_sampling": "dirichlet",
        "moo_condition_on_preference": True,
        "max_steps": 2,
        "save_strategy": "steps",
        "save_steps": 1,
    }
    full = make_trainer(
        tokenizer, dataset, config(tmp_path / "full", **common), cls=PromptSpyTrainer
    )
    full.train()
    full_prefs = logged_preferences(full)
    assert len(set(full_prefs)) == 2
    ckpt = tmp_path / "full" / "out" / "checkpoint-1"
    saved = torch.load(ckpt / MOO_STATE_NAME, weights_only=True)
    assert saved["preference_rng"]["bit_generator"] == "PCG64"

    args = config(tmp_path / "resumed", **common)
    resumed = make_trainer(tokenizer, dataset, args, cls=PromptSpyTrainer)
    resumed.train(resume_from_checkpoint=str(ckpt))
    assert resumed.state.global_step == 2
    # Not the seed's first draw again, but the uninterrupted run's second (the log history up to
    # the checkpoint is restored by the Trainer; reward_prompts holds only this run's batches).
    assert logged_preferences(resumed) == full_prefs
    assert [prompts for _, prompts in resumed.reward_prompts] == [full.reward_prompts[1][1]]
    assert all(q.startswith(preference_prefix(full_prefs[1])) for q in full.reward_prompts[1][1])
    torch.testing.assert_close(resumed.last_step_info.preference, full.last_step_info.preference)
    final = dict(full.model.named_parameters())
    for n, p in resumed.model.named_parameters():
        torch.testing.assert_close(p, final[n], atol=1e-6, rtol=0.0, msg=n)

    # A moo_state.pt without the sampler's state (an older checkpoint) is loaded with a warning,
    # and the sampler starts again from the seed (checked on the loading hook, without a step).
    old = tmp_path / "old"
    shutil.copytree(ckpt, old)
    del saved["preference_rng"]
    torch.save(saved, old / MOO_STATE_NAME)
    afresh = make_trainer(tokenizer, dataset, args, cls=MOGRPOTrainer)
    afresh._moo_rng.dirichlet([1.0, 1.0])  # moved away from the seed's state
    afresh.create_optimizer_and_scheduler(num_training_steps=2)
    with pytest.warns(UserWarning, match="no preference_rng: the preference sampler starts afresh"):
        afresh._load_optimizer_and_scheduler(str(old))
    assert afresh._moo_rng.bit_generator.state == np.random.default_rng(0).bit_generator.state


# Errors -----------------------------------------------------------------------------------------
def test_config_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown gradient_aggregation"):
        config(tmp_path, gradient_aggregation="nope")
    with pytest.raises(ValueError, match="moo_method_kwargs"):
        config(tmp_path, gradient_aggregation="plc", moo_method_kwargs={"bogus": 1})
    with pytest.raises(ValueError, match="use_liger_kernel"):
        config(tmp_path, use_liger_kernel=True)
    with pytest.raises(ValueError, match="moo_zero_signal"):
        config(tmp_path, moo_zero_signal="maybe")
    with pytest.raises(ValueError, match="moo_reward_scale"):
        config(tmp_path, moo_reward_scale="global")
    with pytest.raises(ValueError, match="loss_type"):
        config(tmp_path, loss_type="bnpo")
    with pytest.raises(ValueError, match="preference"):
        config(tmp_path, preference=[1.0, -1.0])
    with pytest.raises(ValueError, match="reward_weights"):
        config(tmp_path, reward_weights=[1.0, -1.0])
    with pytest.raises(ValueError, match="top_entropy_quantile"):
        config(tmp_path, top_entropy_quantile=0.2)


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"moo_preference_sampling": "uniform"}, "moo_preference_sampling must be one of"),
        ({"moo_preference_sampling": None}, "moo_preference_sampling must be one of"),
        ({"moo_dirichlet_alpha": 0.0}, "moo_dirichlet_alpha must be a positive number"),
        ({"moo_dirichlet_alpha": -1.0}, "moo_dirichlet_alpha must be a positive number"),
        ({"moo_dirichlet_alpha": math.nan}, "moo_dirichlet_alpha must be a positive number"),
        ({"moo_dirichlet_alpha": math.inf}, "moo_dirichlet_alpha must be a positive number"),
        ({"moo_dirichlet_alpha": "1"}, "moo_dirichlet_alpha must be a positive number"),
        ({"moo_dirichlet_alpha": True}, "moo_dirichlet_alpha must be a positive number"),
        ({"moo_condition_on_preference": "yes"}, "moo_condition_on_preference must be True"),
        ({"moo_condition_on_preference": 1}, "moo_condition_on_preference must be True"),
        (  # an optimizer step would mix two generation batches (two preferences)
            {
                "moo_preference_sampling": "dirichlet",
                "per_device_train_batch_size": 4,
                "gradient_accumulation_steps": 2,
                "steps_per_generation": 1,
            },
            r"steps_per_generation \(1\) must be a multiple of gradient_accumulation_steps \(2\)",
        ),
    ],
)
def test_preference_sampling_config_errors(tmp_path, overrides, match):
    with pytest.raises(ValueError, match=match):
        config(tmp_path, **overrides)


def test_preference_sampling_config_accepts(tmp_path):
    args = config(tmp_path, moo_preference_sampling="dirichlet", moo_dirichlet_alpha=2)
    assert args.moo_dirichlet_alpha == 2.0 and isinstance(args.moo_dirichlet_alpha, float)
    assert args.moo_condition_on_preference is False
    # Each optimizer step within one generation batch: fine with "dirichlet".
    args = config(
        tmp_path,
        moo_preference_sampling="dirichlet",
        per_device_train_batch_size=4,
        gradient_accumulation_steps=2,
        steps_per_generation=4,
    )
    assert args.steps_per_generation == 4


def test_trainer_errors(tokenizer, dataset, tmp_path):
    with pytest.raises(ValueError, match=r"preference has 3 entries but there are 2 reward"):
        make_trainer(tokenizer, dataset, config(tmp_path, preference=[1.0, 1.0, 1.0]))
    with pytest.raises(TypeError, match="MOGRPOConfig"):
        MOGRPOTrainer(
            model=build_tiny_model(tokenizer),
            reward_funcs=[long, short],
            args=trl.GRPOConfig(output_dir=str(tmp_path / "o"), use_cpu=True, report_to="none"),
            train_dataset=dataset,
            processing_class=tokenizer,
        )
