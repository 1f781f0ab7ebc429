import pytest


@pytest.fixture(scope="session")
def tokenizer():
    from moo_lenient.llm.presets import build_tokenizer

    return build_tokenizer()


@pytest.fixture
def tiny_model(tokenizer):
    from moo_lenient.llm.presets import build_tiny_model

    return build_tiny_model(tokenizer, seed=0)


def words(prompts, completions, **kw):
    return [min(len(c.split()), 20) / 20 for c in completions]


def brevity(prompts, completions, **kw):
    return [-min(1.0, len(c) / 100) for c in completions]


def constant(prompts, completions, **kw):
    return [0.5 for _ in completions]
