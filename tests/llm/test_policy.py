import torch

from moo_lenient.llm.policy import completion_logprobs, sample_group, trainable_parameters
from moo_lenient.llm.presets import load_preset, load_prompts


def test_prompts_shipped_and_split():
    train, held_out = load_prompts("train"), load_prompts("eval")
    assert len(train) == 256 and len(held_out) == 64
    assert not set(train) & set(held_out)


def test_preset_families_build_offline():
    for family in ("gpt2", "llama"):
        p = load_preset("tiny", family=family)
        n = sum(x.numel() for x in p.model.parameters())
        assert 100_000 < n < 200_000
        assert p.tokenizer.padding_side == "left"


def test_rollout_layout_and_logprobs_match_generation(tiny_model, tokenizer):
    torch.manual_seed(0)
    prompts = ["Write one sentence about the sea.", "Hi."]
    r = sample_group(tiny_model, tokenizer, prompts, group_size=3, max_new_tokens=6)
    assert len(r) == 6 and r.prompts == [prompts[0]] * 3 + [prompts[1]] * 3
    assert r.completion_mask.shape == (6, 6)
    # Re-generate the same samples with scores and compare the log-probabilities.
    torch.manual_seed(0)
    enc = tokenizer([p for p in prompts for _ in range(3)], return_tensors="pt", padding=True)
    out = tiny_model.generate(
        **enc,
        do_sample=True,
        top_k=0,
        top_p=1.0,
        max_new_tokens=6,
        min_new_tokens=1,
        output_scores=True,
        return_dict_in_generate=True,
        pad_token_id=tokenizer.pad_token_id,
    )
    assert torch.equal(out.sequences, r.input_ids)
    ref = torch.stack(
        [
            torch.log_softmax(s.float(), -1).gather(
                -1, out.sequences[:, enc.input_ids.shape[1] + t, None]
            )[:, 0]
            for t, s in enumerate(out.scores)
        ],
        dim=1,
    )
    with torch.no_grad():
        lp = completion_logprobs(tiny_model, r)
    m = r.completion_mask.bool()
    # Cached (generation) and uncached forward passes differ by float rounding only.
    torch.testing.assert_close(lp[m], ref[m], atol=5e-3, rtol=1e-3)


def test_trainable_scope(tiny_model):
    assert len(trainable_parameters(tiny_model)) == len(list(tiny_model.parameters()))
    import pytest

    with pytest.raises(ValueError, match="no parameters in scope 'lora'"):
        trainable_parameters(tiny_model, "lora")


def test_local_pretrained_path_is_the_same_code_path(tmp_path):
    p = load_preset("tiny")
    p.model.save_pretrained(tmp_path)
    p.tokenizer.save_pretrained(tmp_path)
    q = load_preset(model_path=tmp_path)
    assert q.train_prompts == p.train_prompts and q.tokenizer.padding_side == "left"
    enc = p.tokenizer(["Hello there."], return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(q.model(**enc).logits, p.model(**enc).logits)


def test_missing_local_path_is_a_clear_error(tmp_path):
    import pytest

    with pytest.raises(FileNotFoundError, match="is not a directory"):
        load_preset(model_path=tmp_path / "nope")
    with pytest.raises(ValueError, match="unknown preset"):
        load_preset("huge")
