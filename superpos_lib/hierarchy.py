"""Hierarchical ground truth for SAEs: parent features with children, feature absorption and splitting.

A child can fire only together with its parent ("a specific feature implies a general one": a
token in "short" starts with "s"). The children of one parent exclude each other. This is the
setting where Chanin et al. (2024) found **feature absorption**: an SAE trained for sparsity lets a
child's latent absorb its parent's direction and the parent's latent stop firing whenever that
child is present (one latent instead of two). :func:`absorption` measures it against the ground
truth; :func:`latents_per_parent` measures **feature splitting**, how many latents divide one
parent's family between them as the dictionary grows.

Shapes: ``directions (n_features, d)`` with the ``n_parents`` parents first, then the children of
parent 0, of parent 1, ...; ``coefficients (n, n_features)``; ``latents (n, d_sae)`` or
``(I, n, d_sae)``; ``learned (d_sae, d)`` or ``(I, d_sae, d)`` (decoder rows).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from . import _validate as V
from .device import resolve_device
from .metrics.dictionary import cosine_matrix

__all__ = ["HierarchicalFeatures", "hierarchical_features", "absorption", "latents_per_parent"]

_SEED_OFFSET = 0x41E7_0000


@dataclass
class HierarchicalFeatures:
    """Parents and children as unit directions, and a sampler that respects "child implies parent".

    ``directions (n_parents * (1 + n_children), d)``; ``parent_of (n_features,)``: the parent index of
    each child, -1 for parents; ``p_parent``: probability a parent is active; ``p_child``: probability
    that a given child is active when its parent is (children exclude each other). Active features
    have magnitudes uniform on (0, 1]. ``features(batch_size)`` draws ``x (batch_size, d)``.
    """

    directions: torch.Tensor
    parent_of: torch.Tensor
    n_parents: int
    n_children: int
    p_parent: float
    p_child: float
    generator: torch.Generator

    def __post_init__(self):
        V.positive_int("n_parents", self.n_parents)
        V.positive_int("n_children", self.n_children)
        n = self.n_parents * (1 + self.n_children)
        V.non_empty("directions", V.tensor("directions", self.directions, ndim=2))
        if self.directions.shape[0] != n:
            raise ValueError(f"directions must have n_parents * (1 + n_children) = {n} rows, got shape "
                             f"{tuple(self.directions.shape)}")
        if (not isinstance(self.parent_of, torch.Tensor) or self.parent_of.is_floating_point()
                or self.parent_of.shape != (n,)):
            raise ValueError(f"parent_of must be an integer tensor of shape ({n},), one parent index per feature")
        V.finite_float("p_parent", self.p_parent, low=0, high=1, low_open=True)
        V.finite_float("p_child", self.p_child, low=0, high=1 / self.n_children, low_open=True)
        V.required_generator_on("generator", self.generator, self.directions.device)

    @property
    def d(self) -> int:
        return self.directions.shape[1]

    @property
    def n_features(self) -> int:
        return self.directions.shape[0]

    def children(self, parent: int) -> torch.Tensor:
        """Feature indices of ``parent``'s children: ``(n_children,)``."""
        V.int_in_range("parent", parent, 0, self.n_parents)
        start = self.n_parents + parent * self.n_children
        return torch.arange(start, start + self.n_children, device=self.directions.device)

    def sample_coefficients(self, batch_size: int) -> torch.Tensor:
        """Coefficients ``(batch_size, n_features)``: a child is non-zero only where its parent is."""
        V.positive_int("batch_size", batch_size)
        P, C, dev = self.n_parents, self.n_children, self.directions.device
        g = self.generator
        parent_on = torch.rand(batch_size, P, generator=g, device=dev) < self.p_parent
        # which child (or none): u in [0, C * p_child) picks child floor(u / p_child)
        u = torch.rand(batch_size, P, generator=g, device=dev)
        child = torch.div(u, self.p_child, rounding_mode="floor").long()          # >= C means none
        child_on = parent_on.unsqueeze(-1) & (child.unsqueeze(-1) == torch.arange(C, device=dev))
        mags = 1.0 - torch.rand(batch_size, P * (1 + C), generator=g, device=dev)  # (0, 1]
        on = torch.cat([parent_on, child_on.reshape(batch_size, P * C)], dim=1)
        return torch.where(on, mags, torch.zeros((), device=dev))

    def __call__(self, batch_size: int) -> torch.Tensor:
        """A batch of activations ``x = coefficients @ directions``: ``(batch_size, d)``."""
        return self.sample_coefficients(batch_size) @ self.directions


def hierarchical_features(n_parents: int = 16, n_children: int = 3, d: int = 32, *, p_parent: float = 0.15,
                          p_child: float = 0.25, seed: int = 0, device=None) -> HierarchicalFeatures:
    """Random unit directions for ``n_parents`` parents with ``n_children`` children each, in ``d``
    dimensions. A parent is active with probability ``p_parent``; given its parent, each child with
    probability ``p_child`` (at most one child at a time, so ``n_children * p_child <= 1``)."""
    V.positive_int("n_parents", n_parents)
    V.positive_int("n_children", n_children)
    V.positive_int("d", d)
    V.probability_tensor("p_parent", p_parent, ())
    V.probability_tensor("p_child", p_child, ())
    V.non_negative_int("seed", seed)
    if n_children * p_child > 1 + 1e-9:
        raise ValueError(f"p_child must be at most 1 / n_children = {1 / n_children:.3g} (children exclude each other), got {p_child}")
    dev = resolve_device(device)
    gen = torch.Generator().manual_seed(_SEED_OFFSET + seed)
    n = n_parents * (1 + n_children)
    directions = torch.randn(n, d, generator=gen)
    directions = directions / directions.norm(dim=1, keepdim=True)
    parent_of = torch.cat([torch.full((n_parents,), -1), torch.arange(n_parents).repeat_interleave(n_children)])
    sampler = torch.Generator(device=dev).manual_seed(_SEED_OFFSET + seed + 1)
    return HierarchicalFeatures(directions.to(dev), parent_of.to(dev), n_parents, n_children, float(p_parent),
                                float(p_child), sampler)


def _check(latents, coefficients, hier):
    if not isinstance(hier, HierarchicalFeatures):
        raise ValueError(f"hier must be a HierarchicalFeatures, got {type(hier).__name__}")
    V.tensor("latents", latents, ndim=(2, 3))
    V.non_empty("latents", latents, -2, "sample")
    V.tensor("coefficients", coefficients, ndim=2)
    if coefficients.shape != (latents.shape[-2], hier.n_features):
        raise ValueError(f"coefficients must have shape (n_samples, n_features) = ({latents.shape[-2]}, {hier.n_features}), "
                         f"got {tuple(coefficients.shape)}")


def absorption(latents: torch.Tensor, coefficients: torch.Tensor, learned: torch.Tensor,
               hier: HierarchicalFeatures) -> dict[str, torch.Tensor]:
    """Feature absorption, child by child, against the ground truth.

    Each feature is matched to the latent whose decoder row has the largest cosine with it. For
    every child ``c`` of parent ``p`` (shapes ``(n_children_total,)`` or ``(I, n_children_total)``):

    - ``parent_recall_alone``: how often ``p``'s latent fires when ``p`` is active without a child;
    - ``parent_recall_with_child``: how often it fires when ``c`` (hence ``p``) is active;
    - ``absorption_rate``: on inputs with ``c`` active, the share where ``p``'s latent is silent
      while ``c``'s latent fires (Chanin et al.'s signature);
    - ``child_parent_cos``: cosine of ``c``'s latent's decoder row with ``p``'s direction (the
      parent's direction absorbed into the child's latent; two random directions in ``d`` dimensions
      have ``|cos|`` of order ``1 / sqrt(d)``).
    """
    _check(latents, coefficients, hier)
    cos = cosine_matrix(learned, hier.directions)                       # (..., n_features, d_sae)
    match = cos.argmax(-1)                                              # (..., n_features)
    fired = latents > 0
    idx = match.unsqueeze(-2).expand(*latents.shape[:-1], match.shape[-1])
    fires = torch.gather(fired, -1, idx)                                # (..., n, n_features): matched latent fires
    P = hier.n_parents
    child_ids = torch.arange(P, hier.n_features, device=coefficients.device)
    parents = hier.parent_of[child_ids]
    on = coefficients > 0
    child_on = on[:, child_ids]                                         # (n, n_ch)
    any_child = on[:, P:].reshape(-1, P, hier.n_children).any(-1)       # (n, P)
    alone = (on[:, :P] & ~any_child)[:, parents]                        # (n, n_ch)
    par_fires = fires[..., parents]                                     # (..., n, n_ch)
    ch_fires = fires[..., child_ids]
    n_with = child_on.sum(0).clamp_min(1).float()
    n_alone = alone.sum(0).clamp_min(1).float()
    rec_with = (par_fires & child_on).sum(-2).float() / n_with
    rec_alone = (par_fires & alone).sum(-2).float() / n_alone
    absorbed = (~par_fires & ch_fires & child_on).sum(-2).float() / n_with
    unit = learned / learned.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    child_rows = torch.gather(unit, -2, match[..., child_ids].unsqueeze(-1).expand(*match.shape[:-1], child_ids.numel(), unit.shape[-1]))
    child_parent_cos = (child_rows * hier.directions[parents]).sum(-1)
    return {"parent_recall_alone": rec_alone, "parent_recall_with_child": rec_with, "absorption_rate": absorbed,
            "child_parent_cos": child_parent_cos}


def latents_per_parent(latents: torch.Tensor, coefficients: torch.Tensor, hier: HierarchicalFeatures,
                       purity: float = 0.9) -> torch.Tensor:
    """Feature splitting: for each parent, the number of live latents that fire (almost) only inside
    its family, i.e. on inputs where that parent is active at least a share ``purity`` of the time
    they fire. Returns ``(n_parents,)`` or ``(I, n_parents)`` (long). One latent per parent is no
    splitting; ``1 + n_children`` means the family is split into "parent alone" and one latent per
    child."""
    _check(latents, coefficients, hier)
    if isinstance(purity, bool) or not isinstance(purity, (int, float)) or not 0 < purity <= 1:
        raise ValueError(f"purity must be a number in (0, 1], got {purity!r}")
    fired = (latents > 0).to(latents.dtype)                             # (..., n, d_sae)
    parent_on = (coefficients[:, : hier.n_parents] > 0).to(latents.dtype)  # (n, P)
    inside = parent_on.transpose(0, 1) @ fired                          # (..., P, d_sae): firings inside each family
    total = fired.sum(-2, keepdim=True)                                 # (..., 1, d_sae)
    pure = (total > 0) & (inside >= purity * total)
    return pure.sum(-1)
