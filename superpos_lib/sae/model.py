"""The SAE module: parameters, encoder, decoder, and the ReLU-L1 loss written out.

The activation rule of each architecture lives in its own module (``relu``, ``topk``,
``jumprelu``, ``gated``, ``batchtopk``); :meth:`SparseAutoencoder.activate` dispatches to it.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .. import _validate as V
from ..device import resolve_device

__all__ = ["SparseAutoencoder", "sae_loss", "ACTIVATIONS"]

ACTIVATIONS = ("relu", "topk", "jumprelu", "gated", "batchtopk")
_USES_K = ("topk", "batchtopk")


def _check_k(k, activation: str, n_instances: int, d_sae: int) -> list[int] | None:
    if activation not in _USES_K:
        if k is not None:
            raise ValueError(f"k must be None when activation={activation!r} (only TopK and BatchTopK SAEs use k), got {k!r}")
        return None
    if k is None:
        raise ValueError(f"k must be given (a positive integer <= d_sae) when activation={activation!r}, got None")
    if isinstance(k, int) and not isinstance(k, bool):
        ks = [k] * n_instances
    elif isinstance(k, (list, tuple, torch.Tensor)):
        ks = list(k)
    else:
        ks = None
    if ks is None or len(ks) != n_instances:
        raise ValueError(f"k must be an int or a sequence of {n_instances} ints (one per instance), got {k!r}")
    ks = [int(v) if isinstance(v, torch.Tensor) else v for v in ks]
    for v in ks:
        V.positive_int("k", v)
        if v > d_sae:
            raise ValueError(f"k must be at most d_sae={d_sae}, got {v}")
    return ks


class SparseAutoencoder(nn.Module):
    """``n_instances`` independent SAEs with the same shapes, evaluated as one batched program.

    Parameters (``I = n_instances``): ``W_enc (I, d_in, d_sae)``, ``b_enc (I, d_sae)``,
    ``W_dec (I, d_sae, d_in)`` with unit-norm rows (each row is one latent's dictionary direction),
    ``b_dec (I, d_in)`` (subtracted before encoding, added after decoding). With ``pre = (x - b_dec)
    @ W_enc + b_enc``, the latents ``z`` are (``activation=``):

    - ``"relu"``: ``ReLU(pre)``; sparsity from an L1 penalty in training.
    - ``"topk"``: the ``k`` largest pre-activations of each sample, then a ReLU (Gao et al. 2024).
    - ``"jumprelu"``: ``pre * H(pre - theta)`` with a learned threshold per latent ``theta =
      exp(log_threshold)``, ``log_threshold (I, d_sae)`` initialised at ``log(threshold)``
      (Rajamanoharan et al. 2024b); an L0 penalty in training, see :func:`superpos_lib.sae.jumprelu`.
    - ``"gated"``: a gate ``H(pre)`` decides which latents fire, a magnitude path with the same
      directions rescaled, ``W_mag = W_enc * exp(r_mag)`` and its own bias ``b_mag``, says how much:
      ``z = H(pre) * ReLU((x - b_dec) @ W_mag + b_mag)`` (Rajamanoharan et al. 2024a); extra
      parameters ``r_mag, b_mag (I, d_sae)`` (zero at init, so the two paths start equal).
    - ``"batchtopk"``: in training the ``k * B`` largest pre-activations of a batch of ``B`` samples
      (Bussmann et al. 2024); at inference (this method) ``pre * H(pre - threshold)`` with the fixed
      per-instance ``threshold (I,)`` buffer that training estimates. Before training has set it,
      the batch rule is applied to whatever batch is passed.

    ``k`` is an int or one int per instance. Initialisation (seeded by ``seed``): random unit-norm
    decoder rows, ``W_enc = W_dec^T``, zero biases.

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
        threshold: float = 0.1,
        n_instances: int = 1,
        device=None,
        seed: int = 0,
    ):
        super().__init__()
        V.positive_int("d_in", d_in)
        V.positive_int("d_sae", d_sae)
        V.one_of("activation", activation, ACTIVATIONS)
        V.positive_int("n_instances", n_instances)
        V.positive_float("threshold", threshold)
        V.non_negative_int("seed", seed)
        ks = _check_k(k, activation, n_instances, d_sae)
        self.d_in, self.d_sae, self.activation, self.n_instances = d_in, d_sae, activation, n_instances
        dev = resolve_device(device)
        gen = torch.Generator().manual_seed(seed)
        W_dec = torch.randn(n_instances, d_sae, d_in, generator=gen)
        W_dec = W_dec / W_dec.norm(dim=-1, keepdim=True)
        self.W_enc = nn.Parameter(W_dec.transpose(1, 2).contiguous().to(dev))
        self.b_enc = nn.Parameter(torch.zeros(n_instances, d_sae, device=dev))
        self.W_dec = nn.Parameter(W_dec.to(dev))
        self.b_dec = nn.Parameter(torch.zeros(n_instances, d_in, device=dev))
        if activation == "jumprelu":
            self.log_threshold = nn.Parameter(torch.full((n_instances, d_sae), float(torch.tensor(threshold).log()), device=dev))
        if activation == "gated":
            self.r_mag = nn.Parameter(torch.zeros(n_instances, d_sae, device=dev))
            self.b_mag = nn.Parameter(torch.zeros(n_instances, d_sae, device=dev))
        if activation == "batchtopk":
            self.register_buffer("threshold", torch.full((n_instances,), float("nan"), device=dev))
        self.register_buffer("k", torch.tensor(ks if ks is not None else [0] * n_instances, dtype=torch.long, device=dev))

    @property
    def k_max(self) -> int:
        return int(self.k.max())

    def extra_repr(self) -> str:
        ks = f", k={self.k.tolist()}" if self.activation in _USES_K else ""
        return f"d_in={self.d_in}, d_sae={self.d_sae}, activation={self.activation!r}{ks}, n_instances={self.n_instances}"

    def _check_input(self, x: torch.Tensor, name: str = "x") -> torch.Tensor:
        V.tensor(name, x, ndim=(2, 3))
        if x.shape[-1] != self.d_in:
            raise ValueError(f"{name} must have last dimension d_in={self.d_in}, got shape {tuple(x.shape)}")
        if x.ndim == 3 and x.shape[0] != self.n_instances:
            raise ValueError(f"{name} with 3 dimensions must have n_instances={self.n_instances} rows first, got shape {tuple(x.shape)}")
        return x

    def _centred(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        x = x.to(self.W_enc.dtype)
        if x.ndim == 2:
            x = x.unsqueeze(0)
        return x - self.b_dec.unsqueeze(1)

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        """``(x - b_dec) @ W_enc + b_enc``: ``(I, batch, d_sae)`` (the gate's pre-activations for
        ``"gated"``)."""
        return torch.baddbmm(self.b_enc.unsqueeze(1), self._centred(x), self.W_enc)

    def magnitude_pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        """Gated SAEs only: ``(x - b_dec) @ (W_enc * exp(r_mag)) + b_mag``: ``(I, batch, d_sae)``."""
        if self.activation != "gated":
            raise ValueError(f"magnitude_pre_activations needs activation='gated', this SAE has {self.activation!r}")
        pre = torch.bmm(self._centred(x), self.W_enc)
        return pre * self.r_mag.exp().unsqueeze(1) + self.b_mag.unsqueeze(1)

    def activate(self, pre: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
        """Latents from pre-activations ``(I, batch, d_sae)`` with this SAE's inference rule
        (``x`` is needed only by ``"gated"``, for its magnitude path)."""
        V.tensor("pre", pre, ndim=3)
        if pre.shape[0] != self.n_instances or pre.shape[-1] != self.d_sae:
            raise ValueError(f"pre must have shape (n_instances={self.n_instances}, batch, d_sae={self.d_sae}), "
                             f"got {tuple(pre.shape)}")
        V.non_empty("pre", pre, 1, "sample")
        if x is not None:
            self._check_input(x)
            if x.shape[-2] != pre.shape[1]:
                raise ValueError(f"x must hold the batch of {pre.shape[1]} samples pre was computed from, got shape {tuple(x.shape)}")
        return self._activate(pre, x)

    def _activate(self, pre: torch.Tensor, x: torch.Tensor | None) -> torch.Tensor:
        from . import batchtopk, gated, jump_relu, relu, topk

        if self.activation == "relu":
            return relu.activate(pre)
        if self.activation == "topk":
            return topk.activate(pre, self.k)
        if self.activation == "jumprelu":
            return jump_relu.activate(pre, self.log_threshold.exp())
        if self.activation == "batchtopk":
            return batchtopk.activate(pre, self.k, self.threshold)
        if x is None:
            raise ValueError("x must be given to activate a gated SAE (its magnitude path reads the input)")
        return gated.activate(pre, self.magnitude_pre_activations(x))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latents ``z``: ``(I, batch, d_sae)`` from ``x (batch, d_in)`` or ``(I, batch, d_in)``."""
        return self._activate(self.pre_activations(x), x)

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
    V.tensor("x_hat", x_hat, ndim=3)
    V.tensor("z", z, ndim=3)
    V.tensor("W_dec", W_dec, ndim=3)
    V.tensor("x", x, ndim=(2, 3))
    I, B, d_in = x_hat.shape
    V.non_empty("x_hat", x_hat, (0, 1), "instance and sample (the batch mean of nothing is undefined)")
    if x.shape[-2:] != x_hat.shape[-2:] or (x.ndim == 3 and x.shape[0] != I):
        raise ValueError(f"x must have shape (batch, d_in) = {(B, d_in)} or (I, batch, d_in) = {(I, B, d_in)} "
                         f"like x_hat, got {tuple(x.shape)}")
    if z.shape[:2] != (I, B):
        raise ValueError(f"z must have the instances and batch of x_hat, (I, batch, d_sae) = ({I}, {B}, d_sae), "
                         f"got {tuple(z.shape)}")
    if W_dec.shape != (I, z.shape[-1], d_in):
        raise ValueError(f"W_dec must have shape (I, d_sae, d_in) = {(I, z.shape[-1], d_in)} (like x_hat and z), "
                         f"got {tuple(W_dec.shape)}")
    for name, t in (("x", x), ("z", z), ("W_dec", W_dec)):
        V.same_dtype(name, t, "x_hat", x_hat)
    lam = V.number_or_tensor("l1_coeff", l1_coeff, like=z, low=0)
    if lam.ndim > 1 or lam.numel() not in (1, I):
        raise ValueError(f"l1_coeff must be a number or one number per instance ({I},), got shape {tuple(lam.shape)}")
    mse = (x - x_hat).pow(2).sum(-1).mean(-1)
    l1 = (z.abs() * W_dec.norm(dim=-1).unsqueeze(1)).sum(-1).mean(-1)
    return mse + lam * l1
