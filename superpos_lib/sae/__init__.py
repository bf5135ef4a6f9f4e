"""Sparse autoencoders (SAEs): ReLU-L1, TopK, JumpReLU, Gated and BatchTopK, several instances trained at once.

An SAE reads a vector of activations ``x`` (``d_in`` numbers) and writes it as a sparse,
non-negative combination of ``d_sae`` learned directions (the rows of ``W_dec``)::

    z     = act((x - b_dec) @ W_enc + b_enc)      # latents (the sparse code), d_sae numbers
    x_hat = z @ W_dec + b_dec                     # reconstruction, d_in numbers

Names follow saprmarks/dictionary_learning and SAELens: ``W_enc``, ``b_enc``, ``W_dec``, ``b_dec``,
``encode``, ``decode``. One module per architecture holds its activation rule, its loss for autograd
and, where there is one, its hand-derived training step: ``relu`` (L1 penalty, Bricken et al. 2023),
``topk`` (Gao et al. 2024), ``jump_relu`` (Rajamanoharan et al. 2024b, with the straight-through
estimators :func:`jumprelu` and :func:`heaviside_step`), ``gated`` (Rajamanoharan et al. 2024a) and
``batchtopk`` (Bussmann et al. 2024). ``auxk`` holds the AuxK loss for dead latents, ``resample``
Bricken et al.'s resampling, ``train`` the training loop (:func:`train_sae`), ``synthetic`` the
ground-truth generator, ``model`` the module itself.

**Loss and decoder-norm convention.** The ReLU SAE's loss for one sample is

    L = ||x - x_hat||^2  +  l1_coeff * sum_i z_i * ||W_dec[i]||

(squared error summed over the ``d_in`` coordinates; averaged over the batch; ARENA averages over
coordinates instead, so its coefficients are ``d_in`` times smaller). The penalty is on the *latents*
``z`` (not on the input, which is data). :func:`train_sae` keeps every row of ``W_dec`` at unit norm,
so during training the weight is 1 and the penalty is the plain L1 norm of ``z``.

**Speed.** :func:`train_sae` uses hand-derived gradients by default (``method="fast"``) for ReLU and
JumpReLU (five GEMMs on augmented matrices) and for TopK and BatchTopK (one dense GEMM and a
selection, then sparse products over the active latents only). ``method="autograd"`` runs the same
training with autograd and ``torch.optim.Adam``: the reference the tests compare against. Gated SAEs
always use autograd.
"""

from __future__ import annotations

import torch

from . import auxk, batchtopk, gated, jump_relu, relu, topk  # noqa: F401
from ._context import StepContext
from ._optim import _Adam, _project_decoder_grad  # noqa: F401
from ._sparse import _csr, _SparseCode  # noqa: F401
from ._workspace import _Workspace  # noqa: F401
from .auxk import auxk_loss
from .jump_relu import _jumprelu_grads, heaviside_step, jumprelu  # noqa: F401
from .model import ACTIVATIONS, SparseAutoencoder, sae_loss
from .relu import _relu_grads  # noqa: F401
from .resample import resample_dead_latents
from .synthetic import SyntheticFeatures, synthetic_features
from .topk import _topk_grads  # noqa: F401
from .train import ARCHITECTURES, train_sae

__all__ = [
    "SparseAutoencoder",
    "SyntheticFeatures",
    "synthetic_features",
    "train_sae",
    "sae_loss",
    "resample_dead_latents",
    "auxk_loss",
    "jumprelu",
    "heaviside_step",
    "ACTIVATIONS",
]


def _autograd_loss(sae, x, lam, dead, aux_coeff: float, k_aux: int, want_stats: bool, *, aux_scale: float = 1.0,
                   bandwidth: float = 0.05):
    """The architecture's loss for autograd with the arguments spelled out (kept for tests):
    ``(loss (I,), fired (I, m), stats)``."""
    lam = torch.as_tensor(lam, dtype=sae.W_enc.dtype).expand(sae.n_instances)
    ctx = StepContext(lam=lam, dead=dead, aux_coeff=aux_coeff, k_aux=k_aux, aux_scale=aux_scale, bandwidth=bandwidth)
    return ARCHITECTURES[sae.activation].autograd_loss(sae, x, ctx, want_stats)
