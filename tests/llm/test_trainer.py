import dataclasses

import numpy as np
import pytest
import torch

from moo_lenient import MultiObjectiveOptimizer
from moo_lenient.llm.advantages import group_normalize
from moo_lenient.llm.losses import policy_gradient_losses
from moo_lenient.llm.policy import completion_logprobs, sample_group
from moo_lenient.llm.trainer import AlignConfig, MultiObjectiveAligner, preference_prefix
from tests.llm.conftest import brevity, constant, words
from tests.tolerances import rtol

PROMPTS = [f"Write one sentence about topic {i}." for i in range(16)]


def _aligner(model, tokenizer, rewards=(words, brevity), **kw):
    cfg = AlignConfig(
        **{"steps": 4, "prompts_per_step": 2, "group_size": 4, "max_new_tokens": 8, **kw}
    )
    return MultiObjectiveAligner(model, tokenizer, list(rewards), PROMPTS, cfg)


def _snapshot(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


# every method gets the config's preference; MGDA ignores it by design (and warns once)
@pytest.mark.filterwarnings("ignore::moo_lenient.PreferenceIgnoredWarning")
@pytest.mark.parametrize("method", ["plc", "ls", "mgda", "pcgrad", "stch"])
def test_one_step_changes_only_the_lora_parameters(tiny_model, tokenizer, method):
    al = _aligner(tiny_model, tokenizer, method=method, preference=[0.7, 0.3])
    before = _snapshot(al.model)
    rec = al.train_step()
    changed = {n for n, p in al.model.named_parameters() if not torch.equal(p, before[n])}
    assert changed, "nothing changed"
    assert all("lora_" in n for n in changed)
    assert changed <= set(al.param_names)
    # LoRA's B starts at 0, so A gets no gradient on the first step; every B moves.
    assert {n for n in al.param_names if "lora_B" in n} <= changed
    assert rec["active/words"] == 1 and rec["active/brevity"] == 1
    assert np.isfinite([rec["weight/words"], rec["cos/words_brevity"]]).all()


def test_full_fine_tuning_changes_the_base_weights(tiny_model, tokenizer):
    al = _aligner(tiny_model, tokenizer, lora=False, beta=0.1)
    before = _snapshot(al.model)
    al.train_step()
    rec = al.train_step()
    assert rec["kl"] > 0  # the policy moved away from the frozen copy
    assert not torch.equal(before["transformer.wte.weight"], al.model.transformer.wte.weight)


def test_kl_with_lora_uses_the_base_model_as_reference(tiny_model, tokenizer):
    al = _aligner(tiny_model, tokenizer, beta=0.5, learning_rate=0.05)
    first = al.train_step()
    second = al.train_step()
    assert first["kl"] == pytest.approx(0.0, abs=1e-7)  # LoRA B starts at 0: policy = base
    assert second["kl"] > 0


def test_zero_signal_objective_is_dropped(tiny_model, tokenizer):
    al = _aligner(tiny_model, tokenizer, rewards=(words, constant), method="mgda")
    before = _snapshot(al.model)
    rec = al.train_step()
    assert rec["active/constant"] == 0 and rec["weight/constant"] == 0.0
    assert rec["active/words"] == 1 and rec["weight/words"] > 0
    assert any(not torch.equal(p, before[n]) for n, p in al.model.named_parameters())


def test_zero_signal_kept_stalls_mgda(tiny_model, tokenizer):
    al = _aligner(
        tiny_model, tokenizer, rewards=(words, constant), method="mgda", zero_signal="keep"
    )
    before = _snapshot(al.model)
    rec = al.train_step()
    assert rec["weight/words"] == pytest.approx(0.0, abs=1e-12)  # min-norm point is g = 0
    assert all(torch.equal(p, before[n]) for n, p in al.model.named_parameters())


@pytest.mark.parametrize("policy", ["drop", "keep"])
def test_zero_signal_plc_gives_the_zero_voice_no_say(tiny_model, tokenizer, policy):
    # Kept, the zero gradient is a zero voice in PLC's own rule: weight 0, not a dissenter.
    al = _aligner(
        tiny_model, tokenizer, rewards=(words, constant), method="plc", zero_signal=policy
    )
    before = _snapshot(al.model)
    rec = al.train_step()
    assert rec["weight/constant"] == 0.0 and rec["weight/words"] > 0
    assert any(not torch.equal(p, before[n]) for n, p in al.model.named_parameters())


@pytest.mark.parametrize("method", ["ls", "mgda", "plc"])
def test_accumulation_equals_the_large_batch(tiny_model, tokenizer, method):
    torch.manual_seed(0)
    rollout = sample_group(tiny_model, tokenizer, PROMPTS[:4], group_size=4, max_new_tokens=8)
    from moo_lenient.llm.rewards import reward_matrix

    rewards = reward_matrix([words, brevity], rollout.prompts, rollout.completions)
    adv = group_normalize(rewards, 4)
    # float64, so that the two orderings are compared at a precision whose rounding bounds
    # mean something (float32's worst case over the Gramian's 149k-term sums would be 1.8e-2)
    tiny_model.double()
    params = list(tiny_model.parameters())
    values = -rewards.mean(0).double().numpy()

    def run(chunks):
        opt = MultiObjectiveOptimizer(torch.optim.SGD(params, lr=0.0), method=method, total_steps=5)
        for rows in chunks:  # one forward pass per micro-batch, as in training
            part = dataclasses.replace(
                rollout,
                input_ids=rollout.input_ids[rows],
                attention_mask=rollout.attention_mask[rows],
                completion_mask=rollout.completion_mask[rows],
            )
            logp = completion_logprobs(tiny_model, part)
            losses = policy_gradient_losses(logp, part.completion_mask, adv[rows])
            opt.backward(list(losses / len(chunks)), values=values / len(chunks))
        info = opt.step()
        return [p.grad.clone() for p in params], info

    g_full, full = run([slice(0, 16)])
    g_acc, acc = run([slice(0, 8), slice(8, 16)])  # two micro-batches of two whole groups
    # The gradients sum over every token position of the 16 sequences (288 terms), in two
    # micro-batches or in one; the entries can cancel: absolute, relative to each tensor's
    # largest entry.
    tol = rtol(rollout.input_ids.numel())
    for a, b in zip(g_acc, g_full, strict=True):
        torch.testing.assert_close(a, b, rtol=tol, atol=tol * float(b.abs().max()))
    # The weights: the Gramian's dot products over the 149k parameters (n terms) of rows that
    # differ by tol, then the K x K solve (MGDA's and PLC's weights move by at most cond(G)
    # times a relative change of G); relative to the largest weight.
    gram = full.gramian.numpy()
    cond = float(np.linalg.cond(gram)) if np.linalg.matrix_rank(gram) == len(gram) else 1e6
    wtol = (2 * tol + rtol(sum(p.numel() for p in params))) * cond
    torch.testing.assert_close(
        acc.weights, full.weights, rtol=0, atol=wtol * float(full.weights.abs().max())
    )


def test_trainer_accumulates_micro_batches(tiny_model, tokenizer):
    al = _aligner(tiny_model, tokenizer, gradient_accumulation_steps=2)
    seen = []
    orig = al.optimizer.step

    def spy(*a, **kw):
        info = orig(*a, **kw)
        seen.append(info.microbatches)
        return info

    al.optimizer.step = spy
    al.train_step()
    assert seen == [2]


def test_checkpoint_resume_reproduces_the_run(tokenizer, tmp_path):
    from moo_lenient.llm.presets import build_tiny_model

    def fresh():
        return _aligner(
            build_tiny_model(tokenizer, seed=0), tokenizer, method="plc", preference=[0.6, 0.4]
        )

    straight = fresh()
    straight.train(4)
    first = fresh()
    first.train(2)
    first.save(tmp_path / "ckpt.pt")
    resumed = fresh()
    resumed.load(tmp_path / "ckpt.pt")
    resumed.train(2)
    for n, p in dict(resumed.model.named_parameters()).items():
        assert torch.equal(p, dict(straight.model.named_parameters())[n]), n
    assert resumed.history[-1]["reward/words"] == straight.history[-1]["reward/words"]
    assert resumed.step == 4


def test_preference_sampling_and_conditioning(tiny_model, tokenizer):
    al = _aligner(
        tiny_model, tokenizer, preference_sampling="dirichlet", condition_on_preference=True
    )
    recs = al.train(2)
    prefs = [(r["preference/words"], r["preference/brevity"]) for r in recs]
    assert prefs[0] != prefs[1] and all(abs(sum(p) - 1) < 1e-9 for p in prefs)
    assert preference_prefix([0.6, 0.4]) == "<w 0.60 0.40> "


def test_csv_and_stdout_log(tiny_model, tokenizer, tmp_path, capsys):
    cfg = AlignConfig(steps=2, prompts_per_step=2, group_size=2, max_new_tokens=4, log_every=2)
    al = MultiObjectiveAligner(
        tiny_model, tokenizer, [words, brevity], PROMPTS, cfg, log_path=tmp_path / "log.csv"
    )
    al.train()
    lines = (tmp_path / "log.csv").read_text().splitlines()
    assert len(lines) == 3 and "weight/words" in lines[0] and "plc/lenient" in lines[0]
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 1 and printed[0].startswith("step 2 | words ")


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"method": "nope"}, "unknown method"),
        ({"group_size": 1}, "group_size"),
        ({"steps": 0}, "steps"),
        ({"learning_rate": float("nan")}, "learning_rate"),
        ({"beta": -1.0}, "beta"),
        ({"zero_signal": "ignore"}, "zero_signal"),
        ({"log_every": -1}, "log_every"),
        ({"preference": [0.5, -0.5]}, "non-negative"),
    ],
)
def test_bad_config(kw, match):
    with pytest.raises(ValueError, match=match):
        AlignConfig(**kw)


def test_bad_setup(tiny_model, tokenizer):
    with pytest.raises(ValueError, match="preference has 3 entries but there are 2 rewards"):
        _aligner(tiny_model, tokenizer, preference=[0.2, 0.3, 0.5])
    with pytest.raises(ValueError, match="at least one reward"):
        _aligner(tiny_model, tokenizer, rewards=())


def test_method_kwargs_reach_the_method(tiny_model, tokenizer):
    al = _aligner(tiny_model, tokenizer, method="plc", method_kwargs={"kappa0": 2.0})
    assert al.optimizer.method.kappa0 == 2.0 and al.optimizer.method.horizon == 4
