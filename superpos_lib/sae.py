"""Sparse autoencoders (SAEs): ReLU-L1 and TopK, several instances trained at once.

An SAE reads a vector of activations ``x`` (``d_in`` numbers) and writes it as a sparse,
non-negative combination of ``d_sae`` learned directions (the rows of ``W_dec``)::

    z     = act((x - b_dec) @ W_enc + b_enc)      # latents (the sparse code), d_sae numbers
    x_hat = z @ W_dec + b_dec                     # reconstruction, d_in numbers

``act`` is a ReLU (sparsity comes from an L1 penalty on ``z``) or TopK (keep the ``k`` largest
pre-activations, then a ReLU; sparsity is exact). Names follow saprmarks/dictionary_learning and
SAELens: ``W_enc``, ``b_enc``, ``W_dec``, ``b_dec``, ``encode``, ``decode``.

**Loss and decoder-norm convention.** The course writes the ReLU SAE's loss for one sample as

    L = ||x - x_hat||^2  +  l1_coeff * sum_i z_i * ||W_dec[i]||

(squared error summed over the ``d_in`` coordinates; averaged over the batch). The penalty is on the
*latents* ``z`` (not on the input, which is data). The decoder-norm weight stops the model from
cheating the penalty by shrinking ``z`` and growing ``W_dec``. :func:`train_sae` additionally keeps
every row of ``W_dec`` at unit norm (it removes the gradient's component along each row, then
renormalises after each step, as in Bricken et al. 2023), so during training the weight is 1 and
the penalty is the plain L1 norm of ``z``. TopK SAEs have no L1 term; dead latents are pushed back
to life by the AuxK loss of Gao et al. (2024).

**Speed.** :func:`train_sae` uses hand-derived gradients by default (``method="fast"``):

* ReLU: the five matrix products of a step are done on augmented matrices, ``[x - b_dec, 1]`` and
  ``[W_enc; b_enc]`` for the encoder, ``[W_dec, l1/B]`` for the decoder, so the encoder bias, its
  gradient, the L1 term, its gradient and the per-latent firing counts all come out of the GEMMs
  instead of extra passes over the ``(batch, d_sae)`` latents.
* TopK: only the encoder product and the top-k selection are dense. The latents are stored as a
  sparse CSR matrix with ``k`` entries per row; the decoder's forward and backward products and the
  encoder's weight gradient are sparse-dense products (``torch.sparse.mm``) and a sampled product
  (``torch.sparse.sampled_addmm``) that touch only the active latents.

``method="autograd"`` runs the same training with autograd and ``torch.optim.Adam``: a reference
that the tests compare against.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import nn

from . import _validate as V
from .device import resolve_device

__all__ = [
    "SparseAutoencoder",
    "SyntheticFeatures",
    "synthetic_features",
    "train_sae",
    "sae_loss",
    "resample_dead_latents",
]

_ACTIVATIONS = ("relu", "topk")
_FEATURE_SEED_OFFSET = 0x5EED_0000


# --------------------------------------------------------------------------------------------
# Synthetic ground truth
# --------------------------------------------------------------------------------------------


@dataclass
class SyntheticFeatures:
    """Known features in superposition: ``n_features`` unit directions in ``d`` dimensions.

    A sample is ``x = sum_i c_i * directions[i]`` where feature ``i`` is active with probability
    ``probabilities[i]`` and, when active, has a magnitude uniform on (0, 1] (as in the toy models
    of chapter 1). Calling the object, ``features(batch_size)``, draws a fresh batch ``(batch_size,
    d)``, so it can be passed to :func:`train_sae` as ``data``.

    Attributes: ``directions (n_features, d)`` unit rows; ``probabilities (n_features,)``;
    ``generator`` (the sampler's own ``torch.Generator``).
    """

    directions: torch.Tensor
    probabilities: torch.Tensor
    generator: torch.Generator

    @property
    def d(self) -> int:
        return self.directions.shape[1]

    @property
    def n_features(self) -> int:
        return self.directions.shape[0]

    def sample_coefficients(self, batch_size: int) -> torch.Tensor:
        """Feature coefficients ``c``: ``(batch_size, n_features)``, mostly zeros, others in (0, 1]."""
        V.positive_int("batch_size", batch_size)
        u = torch.rand(batch_size, self.n_features, generator=self.generator, device=self.directions.device)
        p = self.probabilities
        # one uniform draw gives both: active when u < p, and then u / p is uniform on (0, 1)
        return torch.where(u < p, u / p, torch.zeros((), device=u.device))

    def __call__(self, batch_size: int) -> torch.Tensor:
        """A batch of activations ``x``: ``(batch_size, d)``."""
        return self.sample_coefficients(batch_size) @ self.directions


def synthetic_features(
    n_features: int = 512,
    d: int = 128,
    *,
    mean_active: float = 5.0,
    decay: float = 0.5,
    seed: int = 0,
    device=None,
) -> SyntheticFeatures:
    """Ground truth for SAE experiments: random unit directions and decaying feature probabilities.

    ``directions``: ``(n_features, d)`` Gaussian rows normalised to unit length. Feature ``i``
    (counting from 0) is active with probability ``p_i`` proportional to ``(i + 1) ** -decay``,
    scaled so that on average ``mean_active`` features are active per sample (``sum_i p_i =
    mean_active``). Returns a :class:`SyntheticFeatures`, callable as a batch sampler.
    """
    V.positive_int("n_features", n_features)
    V.positive_int("d", d)
    V.positive_float("mean_active", mean_active)
    V.non_negative_float("decay", decay)
    V.non_negative_int("seed", seed)
    if mean_active > n_features:
        raise ValueError(f"mean_active must be at most n_features={n_features}, got {mean_active}")
    dev = resolve_device(device)
    # a stream of its own: seeded like SparseAutoencoder(seed=seed), the SAE would start at the answer
    gen = torch.Generator(device="cpu").manual_seed(_FEATURE_SEED_OFFSET + seed)
    directions = torch.randn(n_features, d, generator=gen)
    directions = directions / directions.norm(dim=1, keepdim=True)
    weights = torch.arange(1, n_features + 1, dtype=torch.float64) ** -decay
    p = weights * (mean_active / weights.sum())
    if p.max() > 1:
        raise ValueError(
            f"decay={decay} with mean_active={mean_active} gives feature probabilities above 1; "
            "use a smaller decay or mean_active"
        )
    sampler_gen = torch.Generator(device=dev).manual_seed(_FEATURE_SEED_OFFSET + seed + 1)
    return SyntheticFeatures(directions.to(dev), p.float().to(dev), sampler_gen)


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------


class SparseAutoencoder(nn.Module):
    """``n_instances`` independent SAEs with the same shapes, evaluated as one batched program.

    Parameters (``I = n_instances``): ``W_enc (I, d_in, d_sae)``, ``b_enc (I, d_sae)``,
    ``W_dec (I, d_sae, d_in)`` with unit-norm rows (each row is one latent's dictionary direction),
    ``b_dec (I, d_in)`` (subtracted before encoding, added after decoding).

    ``activation="relu"``: ``z = ReLU(pre)``. ``activation="topk"``: keep the ``k`` largest
    pre-activations of each sample, then a ReLU; ``k`` is an int or one int per instance.
    Initialisation (seeded by ``seed``): random unit-norm decoder rows, ``W_enc = W_dec^T``,
    zero biases.

    Inputs ``x`` are ``(batch, d_in)`` (the same data for every instance) or
    ``(I, batch, d_in)``; latents are ``(I, batch, d_sae)``; reconstructions ``(I, batch, d_in)``.
    """

    def __init__(
        self,
        d_in: int,
        d_sae: int,
        *,
        activation: str = "relu",
        k: int | Sequence[int] | None = None,
        n_instances: int = 1,
        device=None,
        seed: int = 0,
    ):
        super().__init__()
        V.positive_int("d_in", d_in)
        V.positive_int("d_sae", d_sae)
        V.one_of("activation", activation, _ACTIVATIONS)
        V.positive_int("n_instances", n_instances)
        V.non_negative_int("seed", seed)
        ks = None
        if activation == "topk":
            if k is None:
                raise ValueError("k must be given (a positive integer <= d_sae) when activation='topk', got None")
            ks = [k] * n_instances if isinstance(k, int) and not isinstance(k, bool) else list(k) if isinstance(k, (list, tuple, torch.Tensor)) else None
            if ks is None or len(ks) != n_instances:
                raise ValueError(f"k must be an int or a sequence of {n_instances} ints (one per instance), got {k!r}")
            ks = [int(v) if isinstance(v, torch.Tensor) else v for v in ks]
            for v in ks:
                V.positive_int("k", v)
                if v > d_sae:
                    raise ValueError(f"k must be at most d_sae={d_sae}, got {v}")
        elif k is not None:
            raise ValueError(f"k must be None when activation='relu' (only TopK SAEs use k), got {k!r}")
        self.d_in, self.d_sae, self.activation, self.n_instances = d_in, d_sae, activation, n_instances
        dev = resolve_device(device)
        gen = torch.Generator().manual_seed(seed)
        W_dec = torch.randn(n_instances, d_sae, d_in, generator=gen)
        W_dec = W_dec / W_dec.norm(dim=-1, keepdim=True)
        self.W_enc = nn.Parameter(W_dec.transpose(1, 2).contiguous().to(dev))
        self.b_enc = nn.Parameter(torch.zeros(n_instances, d_sae, device=dev))
        self.W_dec = nn.Parameter(W_dec.to(dev))
        self.b_dec = nn.Parameter(torch.zeros(n_instances, d_in, device=dev))
        self.register_buffer("k", torch.tensor(ks if ks is not None else [0] * n_instances, dtype=torch.long, device=dev))

    @property
    def k_max(self) -> int:
        return int(self.k.max())

    def extra_repr(self) -> str:
        ks = f", k={self.k.tolist()}" if self.activation == "topk" else ""
        return f"d_in={self.d_in}, d_sae={self.d_sae}, activation={self.activation!r}{ks}, n_instances={self.n_instances}"

    def _check_input(self, x: torch.Tensor, name: str = "x") -> torch.Tensor:
        V.tensor(name, x, ndim=(2, 3))
        if x.shape[-1] != self.d_in:
            raise ValueError(f"{name} must have last dimension d_in={self.d_in}, got shape {tuple(x.shape)}")
        if x.ndim == 3 and x.shape[0] != self.n_instances:
            raise ValueError(f"{name} with 3 dimensions must have n_instances={self.n_instances} rows first, got shape {tuple(x.shape)}")
        return x

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        """``(x - b_dec) @ W_enc + b_enc``: ``(I, batch, d_sae)``."""
        self._check_input(x)
        x = x.to(self.W_enc.dtype)
        if x.ndim == 2:
            x = x.unsqueeze(0)
        return torch.baddbmm(self.b_enc.unsqueeze(1), x - self.b_dec.unsqueeze(1), self.W_enc)

    def activate(self, pre: torch.Tensor) -> torch.Tensor:
        """Latents from pre-activations ``(I, batch, d_sae)``: ReLU, or TopK then ReLU."""
        if self.activation == "relu":
            return torch.relu(pre)
        values, indices = pre.topk(self.k_max, dim=-1)
        keep = torch.arange(self.k_max, device=pre.device) < self.k.view(-1, 1, 1)  # (I, 1, k_max)
        values = torch.relu(values) * keep
        return torch.zeros_like(pre).scatter(-1, indices, values)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latents ``z``: ``(I, batch, d_sae)`` from ``x (batch, d_in)`` or ``(I, batch, d_in)``."""
        return self.activate(self.pre_activations(x))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Reconstruction ``z @ W_dec + b_dec``: ``(I, batch, d_in)`` from ``z (I, batch, d_sae)``."""
        V.tensor("z", z, ndim=3)
        if z.shape[0] != self.n_instances or z.shape[-1] != self.d_sae:
            raise ValueError(f"z must have shape (n_instances={self.n_instances}, batch, d_sae={self.d_sae}), got {tuple(z.shape)}")
        return torch.baddbmm(self.b_dec.unsqueeze(1), z, self.W_dec)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x_hat, z)``: reconstruction ``(I, batch, d_in)`` and latents ``(I, batch, d_sae)``."""
        z = self.encode(x)
        return self.decode(z), z

    @torch.no_grad()
    def normalize_decoder(self) -> None:
        """Rescale every row of ``W_dec`` to unit norm (in place)."""
        self.W_dec.div_(self.W_dec.norm(dim=-1, keepdim=True).clamp_min(1e-12))


def sae_loss(x: torch.Tensor, x_hat: torch.Tensor, z: torch.Tensor, W_dec: torch.Tensor, l1_coeff) -> torch.Tensor:
    """The ReLU SAE loss per instance, averaged over the batch:
    ``mean_b ||x_b - x_hat_b||^2 + l1_coeff * mean_b sum_i z_bi * ||W_dec[i]||``.

    ``x``: ``(batch, d_in)`` or ``(I, batch, d_in)``; ``x_hat``: ``(I, batch, d_in)``;
    ``z``: ``(I, batch, d_sae)``; ``W_dec``: ``(I, d_sae, d_in)``; ``l1_coeff``: a number or
    ``(I,)``. Returns ``(I,)``. The penalty is on the latents ``z``; the input has no parameters.
    """
    V.tensor("x_hat", x_hat, ndim=3, finite=False)
    V.tensor("z", z, ndim=3, finite=False)
    V.tensor("W_dec", W_dec, ndim=3, finite=False)
    V.tensor("x", x, ndim=(2, 3), finite=False)
    if x.shape[-2:] != x_hat.shape[-2:]:
        raise ValueError(f"x must have shape (batch, d_in) = {tuple(x_hat.shape[-2:])} like x_hat, got {tuple(x.shape)}")
    if W_dec.shape[1] != z.shape[-1]:
        raise ValueError(f"W_dec must have d_sae={z.shape[-1]} rows per instance (like z), got shape {tuple(W_dec.shape)}")
    lam = torch.as_tensor(l1_coeff, dtype=z.dtype, device=z.device)
    if (lam < 0).any():
        raise ValueError(f"l1_coeff must be non-negative, got {l1_coeff!r}")
    mse = (x - x_hat).pow(2).sum(-1).mean(-1)
    l1 = (z.abs() * W_dec.norm(dim=-1).unsqueeze(1)).sum(-1).mean(-1)
    return mse + lam * l1


# --------------------------------------------------------------------------------------------
# Gradients: hand-derived (fast) and autograd (reference)
# --------------------------------------------------------------------------------------------


class _Workspace:
    """Buffers reused by the fast ReLU step (augmented matrices)."""

    def __init__(self, sae: SparseAutoencoder, batch: int):
        I, d, m = sae.n_instances, sae.d_in, sae.d_sae
        dev, dt = sae.W_enc.device, sae.W_enc.dtype
        self.xa = torch.empty(I, batch, d + 1, device=dev, dtype=dt)
        self.xa[..., d] = 1.0
        self.A_enc = torch.empty(I, d + 1, m, device=dev, dtype=dt)
        self.A_dec = torch.empty(I, m, d + 1, device=dev, dtype=dt)
        self.G_dec = torch.empty(I, m, d + 1, device=dev, dtype=dt)
        relu = sae.activation == "relu"
        self.g = torch.empty(I, batch, m, device=dev, dtype=dt) if relu else None
        self.z = torch.empty(I, batch, m, device=dev, dtype=dt) if relu else None


def _relu_grads(sae: SparseAutoencoder, x: torch.Tensor, lam: torch.Tensor, ws: _Workspace, want_stats: bool):
    """One forward + backward of a ReLU SAE with hand-derived gradients.

    ``x (B, d)``; ``lam (I,)`` L1 coefficients. Returns ``(grads, fired, stats)`` where grads are
    for ``W_enc, b_enc, W_dec, b_dec`` (W_dec's not yet projected), ``fired (I, d_sae)`` bool.
    """
    I, d, m = sae.n_instances, sae.d_in, sae.d_sae
    B = x.shape[0]
    W_enc, b_enc, W_dec, b_dec = sae.W_enc.detach(), sae.b_enc.detach(), sae.W_dec.detach(), sae.b_dec.detach()
    xa, A_enc, A_dec = ws.xa, ws.A_enc, ws.A_dec
    xc = xa[..., :d]
    torch.sub(x.unsqueeze(0), b_dec.unsqueeze(1), out=xc)     # x - b_dec; the last column stays 1
    A_enc[:, :d].copy_(W_enc)
    A_enc[:, d].copy_(b_enc)
    A_dec[..., :d].copy_(W_dec)
    A_dec[..., d].copy_((lam / 2).unsqueeze(1).expand(I, m))  # the L1 term as an extra output column
    z = torch.bmm(xa, A_enc, out=ws.z).relu_()                 # GEMM 1: latents (I, B, m)
    out = torch.bmm(z, A_dec)                                  # GEMM 2: [x_hat - b_dec, (lam/2) sum_i z_i]
    err = out[..., :d].sub_(xc)                                # x_hat - x
    stats = None
    if want_stats:
        sq = err.pow(2).sum(-1)                                # (I, B)
        stats = {"mse": sq.mean(-1), "l1_term": out[..., d].mean(-1) * 2, "sq_err": sq}
    out[..., d] = 1.0
    # d loss / d [x_hat, l1 column] = (2/B) [x_hat - x, 1]: the factor 2/B rides on the GEMMs' alpha
    G_dec = torch.baddbmm(ws.G_dec, z.transpose(1, 2), out, beta=0.0, alpha=2.0 / B)  # GEMM 3: [grad W_dec, (2/B) sum_b z]
    g = torch.baddbmm(ws.g, out, A_dec.transpose(1, 2), beta=0.0, alpha=2.0 / B, out=ws.g)  # GEMM 4: d loss / d z
    g = torch.ops.aten.threshold_backward.grad_input(g, z, 0.0, grad_input=g)        # through the ReLU, in place
    G_enc = torch.bmm(xa.transpose(1, 2), g)                   # GEMM 5: [grad W_enc; grad b_enc]
    grad_b_enc = G_enc[:, d]
    grad_b_dec = torch.baddbmm(err.sum(1, keepdim=True), grad_b_enc.unsqueeze(1), W_enc.transpose(1, 2),
                               alpha=-1.0, beta=2.0 / B).squeeze(1)
    fired = G_dec[..., d] > 0
    grads = [G_enc[:, :d], grad_b_enc, G_dec[..., :d], grad_b_dec]
    if want_stats:
        stats["l0"] = (z > 0).sum(-1).float().mean(-1)
    return grads, fired, stats


def _csr(crow: torch.Tensor, col: torch.Tensor, val: torch.Tensor, shape) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.sparse_csr_tensor(crow, col, val, shape, check_invariants=False)


class _SparseCode:
    """TopK latents of all instances as one block-diagonal sparse matrix ``(I*B, I*m)`` with
    ``k`` stored entries per row (int32 indices), plus the transposed pattern ``(I*m, I*B)``."""

    def __init__(self, values: torch.Tensor, indices: torch.Tensor, m: int):
        I, B, k = values.shape
        dev = values.device
        self.shape = (I, B, k)
        cols = indices.to(torch.int32)
        if I > 1:
            cols = cols + (torch.arange(I, device=dev, dtype=torch.int32) * m).view(I, 1, 1)
        self.cols = cols.reshape(-1)
        self.crow = torch.arange(0, I * B * k + 1, k, device=dev, dtype=torch.int32)
        self.n_rows, self.n_cols = I * B, I * m
        self.values = values.reshape(-1)
        self.perm = torch.argsort(self.cols, stable=True)  # the transpose: entries grouped by latent
        counts = torch.bincount(self.cols, minlength=self.n_cols)
        self.crow_t = torch.zeros(self.n_cols + 1, dtype=torch.int32, device=dev)
        torch.cumsum(counts, 0, out=self.crow_t[1:])
        self.rows_t = torch.div(self.perm, k, rounding_mode="floor").to(torch.int32)

    def matrix(self, values: torch.Tensor | None = None) -> torch.Tensor:
        return _csr(self.crow, self.cols, self.values if values is None else values, (self.n_rows, self.n_cols))

    def matrix_t(self, values: torch.Tensor | None = None) -> torch.Tensor:
        v = self.values if values is None else values
        return _csr(self.crow_t, self.rows_t, v[self.perm], (self.n_cols, self.n_rows))

    def sampled(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``(a @ b)`` at the stored positions, in storage order: ``(I*B*k,)``."""
        pattern = self.matrix(torch.zeros_like(self.values))  # beta=0 still reads it
        return torch.sparse.sampled_addmm(pattern, a, b, beta=0.0).values()


def _topk_grads(sae: SparseAutoencoder, x: torch.Tensor, dead: torch.Tensor | None, aux_coeff: float,
                k_aux: int, ws: _Workspace, want_stats: bool):
    """One forward + backward of a TopK SAE (plus AuxK on ``dead (I, m)`` latents) with sparse
    decoder products. Returns ``(grads, fired, stats)`` as :func:`_relu_grads`."""
    I, d, m = sae.n_instances, sae.d_in, sae.d_sae
    B = x.shape[0]
    W_enc, b_enc, W_dec, b_dec = sae.W_enc.detach(), sae.b_enc.detach(), sae.W_dec.detach(), sae.b_dec.detach()
    xa, A_enc = ws.xa, ws.A_enc
    torch.sub(x.unsqueeze(0), b_dec.unsqueeze(1), out=xa[..., :d])
    A_enc[:, :d].copy_(W_enc)
    A_enc[:, d].copy_(b_enc)
    pre = torch.bmm(xa, A_enc)                                 # the one dense GEMM (I, B, m)
    kmax = sae.k_max
    values, indices = pre.topk(kmax, dim=-1)                   # (I, B, kmax)
    live = values > 0
    if bool((sae.k < kmax).any()):
        live &= torch.arange(kmax, device=x.device) < sae.k.view(-1, 1, 1)
    values = values * live
    code = _SparseCode(values, indices, m)
    W_flat = W_dec.reshape(I * m, d)
    x_hat = torch.sparse.mm(code.matrix(), W_flat).view(I, B, d)
    err = x_hat.add_(b_dec.unsqueeze(1)).sub_(x.unsqueeze(0))  # x_hat - x  (I, B, d)
    stats = None
    if want_stats:
        sq = err.pow(2).sum(-1)
        stats = {"mse": sq.mean(-1), "sq_err": sq, "l0": live.sum(-1).float().mean(-1)}
    g = err.mul_(2.0 / B)                                      # d loss / d x_hat
    g_flat = g.reshape(I * B, d)
    gv = code.sampled(g_flat, W_flat.t()) * live.reshape(-1)   # d loss / d z at active latents
    grad_W_dec = torch.sparse.mm(code.matrix_t(), g_flat).view(I, m, d)
    xa_flat = xa.reshape(I * B, d + 1)
    G_enc_t = torch.sparse.mm(code.matrix_t(gv), xa_flat).view(I, m, d + 1)
    fired = torch.bincount(code.cols, weights=live.reshape(-1).to(x.dtype), minlength=I * m).view(I, m) > 0

    if dead is not None and aux_coeff > 0 and bool(dead.any()):
        # AuxK (Gao et al. 2024): the top-k_aux dead latents reconstruct the main model's error.
        e = -err.detach() * (B / 2.0)                          # x - x_hat, (I, B, d)
        masked = pre.masked_fill(~dead.unsqueeze(1), float("-inf"))
        ka = min(k_aux, m)
        av, ai = masked.topk(ka, dim=-1)
        alive_aux = av > 0                                     # -inf and negatives give 0
        av = torch.where(alive_aux, av, torch.zeros((), device=x.device))
        aux = _SparseCode(av, ai, m)
        e_hat = torch.sparse.mm(aux.matrix(), W_flat).view(I, B, d)
        r = e_hat - e                                          # (I, B, d)
        if want_stats:
            stats["aux"] = r.pow(2).sum(-1).mean(-1)
        ga = r.mul_(2.0 * aux_coeff / B).reshape(I * B, d)     # d (aux_coeff * L_aux) / d e_hat
        gva = aux.sampled(ga, W_flat.t()) * alive_aux.reshape(-1)
        grad_W_dec += torch.sparse.mm(aux.matrix_t(), ga).view(I, m, d)
        G_enc_t += torch.sparse.mm(aux.matrix_t(gva), xa_flat).view(I, m, d + 1)
    elif want_stats:
        stats["aux"] = torch.zeros(I, device=x.device)

    grad_W_enc = G_enc_t[..., :d].transpose(1, 2)
    grad_b_enc = G_enc_t[..., d]
    grad_b_dec = g.sum(1) - torch.bmm(grad_b_enc.unsqueeze(1), W_enc.transpose(1, 2)).squeeze(1)
    return [grad_W_enc, grad_b_enc, grad_W_dec, grad_b_dec], fired, stats


def _autograd_loss(sae: SparseAutoencoder, x: torch.Tensor, lam: torch.Tensor, dead, aux_coeff: float, k_aux: int,
                   want_stats: bool):
    """The same losses as the fast paths, written plainly for autograd. Returns ``(loss, fired, stats)``."""
    B = x.shape[0]
    pre = torch.baddbmm(sae.b_enc.unsqueeze(1), x.unsqueeze(0) - sae.b_dec.unsqueeze(1), sae.W_enc)
    z = sae.activate(pre)
    x_hat = torch.baddbmm(sae.b_dec.unsqueeze(1), z, sae.W_dec)
    sq = (x_hat - x).pow(2).sum(-1)
    loss = sq.mean(-1)
    stats = {"mse": sq.mean(-1).detach(), "sq_err": sq.detach(), "l0": (z > 0).sum(-1).float().mean(-1)} if want_stats else None
    if sae.activation == "relu":
        l1 = lam * (z * sae.W_dec.norm(dim=-1).unsqueeze(1)).sum(-1).mean(-1)
        loss = loss + l1
        if want_stats:
            stats["l1_term"] = l1.detach()
    elif dead is not None and aux_coeff > 0 and bool(dead.any()):
        e = (x - x_hat).detach()
        masked = pre.masked_fill(~dead.unsqueeze(1), float("-inf"))
        av, ai = masked.topk(min(k_aux, sae.d_sae), dim=-1)
        z_aux = torch.zeros_like(pre).scatter(-1, ai, torch.where(av > 0, av, torch.zeros((), device=x.device)))
        aux = (torch.bmm(z_aux, sae.W_dec) - e).pow(2).sum(-1).mean(-1)
        loss = loss + aux_coeff * aux
        if want_stats:
            stats["aux"] = aux.detach()
    elif want_stats:
        stats["aux"] = torch.zeros(sae.n_instances, device=x.device)
    fired = (z > 0).any(1).detach()
    return loss, fired, stats


def _project_decoder_grad(W_dec: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """Remove from each row's gradient its component along the (unit-norm) row."""
    return grad - (grad * W_dec).sum(-1, keepdim=True) * W_dec


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------


class _Adam:
    """``torch.optim.Adam`` (default betas and eps) applied to plain tensors and explicit grads
    (views into the fused step's GEMM outputs), with PyTorch's fused Adam kernel: one pass per
    tensor instead of seven."""

    def __init__(self, params: list[torch.Tensor], lr: float, betas=(0.9, 0.999), eps=1e-8):
        self.params, self.lr, self.betas, self.eps = params, lr, betas, eps
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]
        self.steps = [torch.zeros((), dtype=torch.float32, device=p.device) for p in params]

    @torch.no_grad()
    def step(self, grads: list[torch.Tensor]) -> None:
        grads = [g.contiguous() for g in grads]
        torch._foreach_add_(self.steps, 1.0)
        torch._fused_adam_(self.params, grads, self.m, self.v, [], self.steps, lr=self.lr, beta1=self.betas[0],
                           beta2=self.betas[1], weight_decay=0.0, eps=self.eps, amsgrad=False, maximize=False)


def _check_data(data, d_in: int):
    """Validate ``data`` (tensor or callable); returns a function ``batch(B, gen) -> (B, d_in)``."""
    if isinstance(data, torch.Tensor):
        V.tensor("data", data, ndim=2)
        if data.shape[-1] != d_in:
            raise ValueError(f"data must have last dimension d_in={d_in}, got shape {tuple(data.shape)}")
        if data.shape[0] < 1:
            raise ValueError("data must hold at least one sample, got 0 rows")

        def batch(B: int, gen: torch.Generator) -> torch.Tensor:
            idx = torch.randint(0, data.shape[0], (B,), generator=gen, device="cpu").to(data.device)
            return data[idx]

        return batch
    if callable(data):
        return lambda B, gen: data(B)
    raise ValueError(f"data must be a tensor (n_samples, d_in) or a callable batch_size -> (batch_size, d_in), got {type(data).__name__}")


def _check_batch(x, B: int, d_in: int) -> torch.Tensor:
    V.tensor("data", x, ndim=2)
    if x.shape != (B, d_in):
        raise ValueError(f"data(batch_size) must return shape (batch_size, d_in) = ({B}, {d_in}), got {tuple(x.shape)}")
    return x


@torch.no_grad()
def resample_dead_latents(sae: SparseAutoencoder, x: torch.Tensor, dead: torch.Tensor, *,
                          generator: torch.Generator | None = None, encoder_scale: float = 0.2,
                          optimizer_state: list[torch.Tensor] | None = None) -> torch.Tensor:
    """Re-initialise dead latents on inputs the SAE reconstructs badly (Bricken et al. 2023).

    ``x``: ``(batch, d_in)``; ``dead``: ``(I, d_sae)`` bool. For every instance, each dead latent
    gets an input ``x_j`` drawn with probability proportional to its squared reconstruction error;
    its decoder row becomes ``(x_j - b_dec) / ||x_j - b_dec||``, its encoder column the same vector
    times ``encoder_scale`` times the mean norm of the live encoder columns, its encoder bias 0.
    ``optimizer_state`` (Adam moments laid out like ``[W_enc, b_enc, W_dec, b_dec]``, repeated) is
    zeroed for those latents. Returns the number of latents resampled per instance ``(I,)``.
    """
    I, d, m = sae.n_instances, sae.d_in, sae.d_sae
    V.tensor("x", x, ndim=2)
    if x.shape[-1] != d:
        raise ValueError(f"x must have last dimension d_in={d}, got shape {tuple(x.shape)}")
    if not isinstance(dead, torch.Tensor) or dead.dtype != torch.bool or dead.shape != (I, m):
        raise ValueError(f"dead must be a bool tensor of shape (n_instances, d_sae) = ({I}, {m})")
    V.positive_float("encoder_scale", encoder_scale)
    x_hat, _ = sae(x)
    weights = (x_hat - x).pow(2).sum(-1).pow(2) + 1e-12       # (I, B): probability ~ squared loss
    # one candidate input per latent (I, m), drawn on the CPU so a CPU generator works everywhere
    pick = torch.multinomial(weights.cpu(), m, replacement=True, generator=generator).to(x.device)
    xc = x.unsqueeze(0) - sae.b_dec.unsqueeze(1)               # (I, B, d)
    new_dir = torch.gather(xc, 1, pick.unsqueeze(-1).expand(I, m, d))
    new_dir = new_dir / new_dir.norm(dim=-1, keepdim=True).clamp_min(1e-12)   # (I, m, d)
    enc_norms = sae.W_enc.norm(dim=1)                          # (I, m)
    alive = (~dead).float()
    mean_alive = (enc_norms * alive).sum(-1) / alive.sum(-1).clamp_min(1)
    mean_alive = torch.where(alive.sum(-1) > 0, mean_alive, torch.ones_like(mean_alive))
    mask = dead.unsqueeze(-1)                                  # (I, m, 1)
    sae.W_dec.copy_(torch.where(mask, new_dir, sae.W_dec))
    new_enc = (new_dir * (encoder_scale * mean_alive).view(I, 1, 1)).transpose(1, 2)
    sae.W_enc.copy_(torch.where(dead.unsqueeze(1), new_enc, sae.W_enc))
    sae.b_enc.masked_fill_(dead, 0.0)
    if optimizer_state is not None:
        for i, s in enumerate(optimizer_state):
            kind = i % 4
            if kind == 0:
                s.masked_fill_(dead.unsqueeze(1), 0.0)
            elif kind == 1:
                s.masked_fill_(dead, 0.0)
            elif kind == 2:
                s.masked_fill_(mask, 0.0)
    return dead.sum(-1)


def train_sae(
    sae: SparseAutoencoder,
    data: torch.Tensor | Callable[[int], torch.Tensor],
    *,
    steps: int,
    batch_size: int = 1024,
    lr: float = 1e-3,
    l1_coeff: float | Sequence[float] = 0.1,
    l1_warmup_steps: int = 0,
    resample_dead_every: int | None = None,
    dead_window: int = 100,
    aux_coeff: float = 1 / 32,
    k_aux: int | None = None,
    log_every: int | None = None,
    method: str = "fast",
    progress: bool = True,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """Train ``sae`` (all instances at once, on the same batches) with Adam.

    ``data``: activations ``(n_samples, d_in)`` (batches drawn with replacement, seeded by ``seed``)
    or a callable ``data(batch_size) -> (batch_size, d_in)`` giving fresh samples.

    ReLU SAEs minimise ``mean_b ||x - x_hat||^2 + l1 * mean_b sum_i z_i ||W_dec[i]||`` with unit-norm
    decoder rows (kept by projection), ``l1`` ramping linearly from 0 to ``l1_coeff`` (a number or one
    per instance) over ``l1_warmup_steps``. ``resample_dead_every=N`` re-initialises, every N steps,
    latents that did not fire in the last N steps (:func:`resample_dead_latents`). TopK SAEs minimise
    the squared error plus ``aux_coeff`` times the AuxK loss of Gao et al. (2024): the ``k_aux``
    (default ``d_in // 2``) largest dead latents reconstruct the residual ``x - x_hat``. A latent is
    *dead* when it has not fired (``z > 0``) on any sample of the last ``dead_window`` steps.
    ``decoder bias`` starts at the mean of the data.

    ``method``: ``"fast"`` (hand-derived gradients, fused/sparse products) or ``"autograd"``
    (reference). Returns a history: ``step (n_logs,)`` and, each ``(n_logs, I)``: ``loss``, ``mse``
    (mean squared error summed over coordinates), ``l0`` (mean active latents per sample), ``fve``
    (fraction of variance explained on the batch), ``dead_fraction``, ``aux`` (AuxK loss, TopK);
    and ``resampled (I,)`` (total latents resampled).
    """
    if not isinstance(sae, SparseAutoencoder):
        raise ValueError(f"sae must be a SparseAutoencoder, got {type(sae).__name__}")
    V.positive_int("steps", steps)
    V.positive_int("batch_size", batch_size)
    V.positive_float("lr", lr)
    V.non_negative_int("l1_warmup_steps", l1_warmup_steps)
    if resample_dead_every is not None:
        V.positive_int("resample_dead_every", resample_dead_every)
    V.positive_int("dead_window", dead_window)
    V.non_negative_float("aux_coeff", aux_coeff)
    if k_aux is None:
        k_aux = max(1, sae.d_in // 2)
    V.positive_int("k_aux", k_aux)
    if log_every is None:
        log_every = max(1, steps // 100)
    V.positive_int("log_every", log_every)
    V.one_of("method", method, ("fast", "autograd"))
    V.non_negative_int("seed", seed)
    I, d, m = sae.n_instances, sae.d_in, sae.d_sae
    dev, dt = sae.W_enc.device, sae.W_enc.dtype
    try:
        lam_full = torch.as_tensor(l1_coeff, dtype=dt).to(dev).reshape(-1)
    except Exception:
        raise ValueError(f"l1_coeff must be a number or one number per instance, got {l1_coeff!r}") from None
    if lam_full.numel() not in (1, I) or not torch.isfinite(lam_full).all() or (lam_full < 0).any():
        raise ValueError(f"l1_coeff must be a non-negative number or {I} non-negative numbers (one per instance), got {l1_coeff!r}")
    lam_full = lam_full.expand(I).clone()
    if sae.activation == "topk" and bool((lam_full > 0).any()) and l1_coeff != 0.1:
        warnings.warn("l1_coeff is ignored for TopK SAEs (sparsity comes from k)", stacklevel=2)
    if sae.activation == "topk":
        lam_full.zero_()
    get_batch = _check_data(data, d)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    first = _check_batch(get_batch(batch_size, gen), batch_size, d)

    # decoder bias starts at the data mean
    with torch.no_grad():
        if isinstance(data, torch.Tensor):
            mean = data[: 100_000].mean(0)
        else:
            mean = first.mean(0)
        sae.b_dec.copy_(mean.to(dt).expand(I, d))
        sae.normalize_decoder()

    params = [sae.W_enc, sae.b_enc, sae.W_dec, sae.b_dec]
    if method == "fast":
        opt = _Adam([p.data for p in params], lr)
        ws = _Workspace(sae, batch_size)
    else:
        opt = torch.optim.Adam(params, lr=lr)
    last_fired = torch.zeros(I, m, dtype=torch.long, device=dev)
    resampled = torch.zeros(I, dtype=torch.long, device=dev)
    log = {key: [] for key in ("step", "loss", "mse", "l0", "fve", "dead_fraction", "aux")}

    from tqdm.auto import tqdm

    bar = tqdm(range(steps), disable=not progress, desc=f"SAE ({sae.activation}, {I} inst.)", leave=False)
    x = first
    for step in bar:
        if step > 0:
            x = get_batch(batch_size, gen)
            if x.shape != (batch_size, d):
                x = _check_batch(x, batch_size, d)
        x = x.to(device=dev, dtype=dt)
        lam = lam_full * min(1.0, (step + 1) / l1_warmup_steps) if l1_warmup_steps > 0 else lam_full
        want = step % log_every == 0 or step == steps - 1
        dead = (step - last_fired) >= dead_window if sae.activation == "topk" else None
        if method == "fast":
            if sae.activation == "relu":
                grads, fired, stats = _relu_grads(sae, x, lam, ws, want)
            else:
                grads, fired, stats = _topk_grads(sae, x, dead, aux_coeff, k_aux, ws, want)
            with torch.no_grad():
                grads[2] = _project_decoder_grad(sae.W_dec.detach(), grads[2])
            opt.step(grads)
        else:
            opt.zero_grad(set_to_none=True)
            loss, fired, stats = _autograd_loss(sae, x, lam, dead, aux_coeff, k_aux, want)
            loss.sum().backward()
            with torch.no_grad():
                sae.W_dec.grad = _project_decoder_grad(sae.W_dec.detach(), sae.W_dec.grad)
            opt.step()
        sae.normalize_decoder()
        last_fired = torch.where(fired, step + 1, last_fired)
        if want:
            with torch.no_grad():
                var = (x - x.mean(0)).pow(2).sum(-1).mean()
                mse = stats["mse"]
                if sae.activation == "relu":
                    total = mse + stats["l1_term"]
                else:
                    total = mse + aux_coeff * stats["aux"]
                log["step"].append(step)
                log["mse"].append(mse.detach().clone())
                log["loss"].append(total.detach().clone())
                log["l0"].append(stats["l0"].detach().clone())
                log["fve"].append((1 - mse / var.clamp_min(1e-12)).detach().clone())
                log["dead_fraction"].append(((step + 1 - last_fired) >= dead_window).float().mean(-1))
                log["aux"].append(stats.get("aux", torch.zeros(I, device=dev)).detach().clone())
            if progress:
                bar.set_postfix(mse=f"{mse.mean().item():.4g}", l0=f"{stats['l0'].mean().item():.3g}")
        if resample_dead_every is not None and sae.activation == "relu" and (step + 1) % resample_dead_every == 0 and step + 1 < steps:
            dead_now = (step + 1 - last_fired) >= resample_dead_every
            if bool(dead_now.any()):
                state = []
                if method == "fast":
                    for mom in (opt.m, opt.v):
                        state.extend(mom)
                else:
                    for p in params:
                        st = opt.state.get(p, {})
                        if st:
                            state.append(st["exp_avg"])
                            state.append(st["exp_avg_sq"])
                    # reorder to [W_enc, b_enc, W_dec, b_dec] moment groups
                    state = [state[0], state[2], state[4], state[6], state[1], state[3], state[5], state[7]] if len(state) == 8 else None
                resampled += resample_dead_latents(sae, get_batch(batch_size, gen).to(dev, dt), dead_now,
                                                   generator=gen, optimizer_state=state)
                last_fired = torch.where(dead_now, step + 1, last_fired)
    bar.close()
    history = {key: torch.stack(val) if key != "step" else torch.tensor(val) for key, val in log.items()}
    history["resampled"] = resampled
    return history
