"""The toy models of *Toy Models of Superposition* (Elhage et al. 2022), many instances at once.

A toy model squeezes ``n_features`` sparse features into ``d_hidden < n_features`` dimensions and
tries to read them back out::

    h  = W f                    # (d_hidden,)   W: (d_hidden, n_features), column i = feature i's direction
    f' = ReLU(W^T h + b)        # (n_features,) tied weights, a bias per feature

Variants: ``hidden_activation="relu"`` puts a ReLU on the hidden layer too (``h = ReLU(W f)``), which
gives the hidden space a privileged basis (the neurons); ``linear=True`` is TMS's linear baseline
``f' = W^T W f + b`` (no ReLU), whose best ``W^T W`` is a projection onto at most ``d_hidden``
directions; ``bias=False`` removes the bias from either model (``f' = ReLU(W^T W f)`` or
``f' = W^T W f``), to separate what the ReLU and what the bias do.

The loss is TMS's importance-weighted squared error, averaged over the batch and the features of one
instance and summed over instances: ``L = sum_k mean_{batch, i} I_ki (f_ki - f'_ki)^2``. Instances do
not interact, so summing trains each one as if it were alone.

Every tensor carries an instance axis first: ``W`` is ``(n_instances, d_hidden, n_features)``, ``b`` is
``(n_instances, n_features)``; the batch axis comes first in ``forward``/``hidden``
(``(batch, n_instances, n_features)``), as in :func:`superpos_lib.data.sparse_features`.

:func:`train` runs a fused kernel: forward pass and hand-derived gradients with preallocated buffers,
batched matrix products over all instances, Adam applied in place to one flat parameter buffer, and
32 random bits per feature for the data (see :mod:`superpos_lib.data`). Hidden activations for
downstream analyses: ``model.hidden(features)`` -> ``(batch, n_instances, d_hidden)``.
``kernel="autograd"`` runs the same training with autograd and ``torch.optim.Adam`` (same data, same
updates up to rounding); tests check the two agree.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from . import _validate
from .data import _Sampler
from .device import resolve_device

__all__ = ["ToyModel", "train", "manual_gradients", "evaluate", "two_feature_phase_losses", "two_feature_phase",
           "two_feature_phase_boundary", "best_of_repeats",
           "PHASE_NAMES", "two_feature_antipodal_optimum", "optimised_phase_boundary", "three_feature_phase_losses",
           "three_feature_phase", "THREE_FEATURE_PHASE_NAMES", "train_with_snapshots", "one_sparse_loss_terms", "readout_flip_radius",
           "two_feature_expected_loss"]

_ADAM_BETAS = (0.9, 0.999)
_ADAM_EPS = 1e-8


class ToyModel(nn.Module):
    """``n_instances`` independent toy models trained together.

    Args:
        n_features: number of input features ``n`` (>= 1).
        d_hidden: hidden dimensions ``d`` (>= 1).
        n_instances: number of independent models (>= 1).
        importance: weight ``I`` of each feature in the loss, >= 0: a scalar, ``(n_features,)`` or
            ``(n_instances, n_features)``.
        feature_probability: probability ``p = 1 - S`` that a feature is non-zero, in (0, 1]; same
            shapes as ``importance``. Used by :func:`train` to draw data.
        hidden_activation: ``None`` (TMS's model, ``h = W f``) or ``"relu"`` (``h = ReLU(W f)``).
        linear: ``True`` for TMS's linear baseline ``f' = W^T W f + b`` (no ReLU).
        bias: ``False`` for a model without the bias ``b`` (it stays zero and untrained).
        device: ``None`` (course default), ``"cpu"``, ``"cuda"`` or a ``torch.device``.
        seed: seed of the initialisation (drawn on the CPU, so identical on every device).
        dtype: parameter dtype (float32 by default; float64 for gradient tests).

    Attributes:
        W: ``(n_instances, d_hidden, n_features)``, xavier-normal per instance
            (std ``sqrt(2 / (d_hidden + n_features))``).
        b: ``(n_instances, n_features)``, zeros (stays zero and untrained when ``bias=False``).
        importance, feature_probability: ``(n_instances, n_features)`` buffers.
    """

    def __init__(self, n_features: int, d_hidden: int, n_instances: int = 1, *, importance=1.0,
                 feature_probability=1.0, hidden_activation: str | None = None, linear: bool = False,
                 bias: bool = True, device=None, seed: int = 0, dtype: torch.dtype = torch.float32):
        super().__init__()
        _validate.positive_int("n_features", n_features)
        _validate.positive_int("d_hidden", d_hidden)
        _validate.positive_int("n_instances", n_instances)
        _validate.one_of("hidden_activation", hidden_activation, (None, "relu"))
        _validate.one_of("linear", linear, (False, True))
        if not isinstance(bias, bool):
            raise ValueError(f"bias must be True or False, got {bias!r}")
        _validate.non_negative_int("seed", seed)
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        if linear and hidden_activation is not None:
            raise ValueError("hidden_activation must be None when linear=True (the linear baseline has no ReLU)")
        shape = (n_instances, n_features)
        imp = _importance_tensor(importance, shape, dtype)
        prob = _validate.probability_tensor("feature_probability", feature_probability, shape, dtype=dtype)
        device = resolve_device(device)

        self.n_features, self.d_hidden, self.n_instances = n_features, d_hidden, n_instances
        self.hidden_activation, self.linear, self.bias = hidden_activation, linear, bias
        gen = torch.Generator().manual_seed(seed)
        std = math.sqrt(2.0 / (n_features + d_hidden))  # xavier normal for a (d_hidden, n_features) matrix
        W = torch.randn(n_instances, d_hidden, n_features, generator=gen, dtype=dtype) * std
        self.W = nn.Parameter(W.to(device))
        self.b = nn.Parameter(torch.zeros(n_instances, n_features, dtype=dtype, device=device),
                              requires_grad=bias)
        self.register_buffer("importance", imp.clone().to(device))
        self.register_buffer("feature_probability", prob.clone().to(device))

    def extra_repr(self) -> str:
        return (f"n_features={self.n_features}, d_hidden={self.d_hidden}, n_instances={self.n_instances}, "
                f"hidden_activation={self.hidden_activation}, linear={self.linear}, bias={self.bias}")

    def _check_features(self, features) -> torch.Tensor:
        _validate.tensor("features", features, ndim=3)
        if features.shape[1:] != (self.n_instances, self.n_features):
            raise ValueError(f"features must have shape (batch, {self.n_instances}, {self.n_features}), "
                             f"got {tuple(features.shape)}")
        _validate.non_empty("features", features, 0, "sample (an empty batch has no loss)")
        return features.to(self.W.dtype)

    def hidden(self, features: torch.Tensor) -> torch.Tensor:
        """Hidden activations ``h = W f`` (``ReLU(W f)`` with ``hidden_activation="relu"``).

        ``features``: ``(batch, n_instances, n_features)`` -> ``(batch, n_instances, d_hidden)``.
        """
        f = self._check_features(features)
        h = torch.einsum("bin,idn->bid", f, self.W)
        return torch.relu(h) if self.hidden_activation == "relu" else h

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Reconstruction ``f' = ReLU(W^T h + b)`` (``W^T W f + b`` when ``linear``; no ``b`` when
        ``bias=False``).

        ``features``: ``(batch, n_instances, n_features)`` -> same shape.
        """
        h = self.hidden(features)
        out = torch.einsum("bid,idn->bin", h, self.W)
        if self.bias:
            out = out + self.b
        return out if self.linear else torch.relu(out)

    def loss(self, features: torch.Tensor) -> torch.Tensor:
        """Importance-weighted squared error per instance, ``(n_instances,)``: the mean over the batch
        and the features of ``I_i (f_i - f'_i)^2``. :func:`train` minimises its sum over instances."""
        f = self._check_features(features)
        err = self(f) - f
        return (self.importance * err.pow(2)).mean(dim=(0, 2))

    def generate_batch(self, batch_size: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Features drawn with this model's ``feature_probability``: ``(batch_size, n_instances, n_features)``."""
        from .data import sparse_features

        return sparse_features(batch_size, self.n_instances, self.n_features, self.feature_probability,
                               generator=generator, device=self.W.device, dtype=self.W.dtype)


def _importance_tensor(importance, shape, dtype) -> torch.Tensor:
    try:
        imp = torch.as_tensor(importance, dtype=dtype)
    except Exception:
        raise ValueError(f"importance must be a number, a sequence or a tensor, got {type(importance).__name__}") from None
    try:
        imp = torch.broadcast_to(imp, shape)
    except RuntimeError:
        raise ValueError(f"importance has shape {tuple(imp.shape)}, which does not broadcast to {shape} "
                         "(n_instances, n_features)") from None
    if not torch.isfinite(imp).all() or (imp < 0).any():
        raise ValueError(f"importance must be finite and >= 0, got values from {imp.min().item():g} to {imp.max().item():g}")
    return imp


class _FusedKernel:
    """Preallocated buffers and the fused forward/backward pass for one model and batch size.

    Layout: instance-major, so every product is one ``bmm`` over instances. Features ``f`` are
    ``(n_instances, batch, n_features)``. The bias is folded into the weights: the parameters live in
    one flat buffer ``theta`` viewed as ``W_aug`` ``(n_instances, d_hidden + 1, n_features)``, whose
    first ``d_hidden`` rows are ``W`` and last row is ``b``; the hidden buffer ``h_aug`` carries a
    constant 1 in its last column, so ``h_aug @ W_aug = W^T h + b`` is one ``bmm`` and
    ``h_aug^T @ dL/dpre`` gives ``dL/dW`` (readout part) and ``dL/db`` at once. Adam then works on the
    flat buffer. Elementwise ops run on contiguous full-size operands (broadcasting over the tiny
    feature axis is several times slower on the CPU), and ReLU masks are float ``sign`` values.
    """

    def __init__(self, model: ToyModel, batch_size: int):
        I, d, n = model.n_instances, model.d_hidden, model.n_features
        dev, dt = model.W.device, model.W.dtype
        self.model, self.B, self.d = model, batch_size, d
        self.relu_hidden = model.hidden_activation == "relu"
        self.theta = torch.zeros(I * (d + 1) * n, device=dev, dtype=dt)
        self.grad = torch.zeros_like(self.theta)
        self.W_aug, self.gW_aug = self.theta.view(I, d + 1, n), self.grad.view(I, d + 1, n)
        self.W, self.b = self.W_aug[:, :d], self.W_aug[:, d]
        self.gW, self.gb = self.gW_aug[:, :d], self.gW_aug[:, d]
        self.W.copy_(model.W.detach())
        self.b.copy_(model.b.detach())
        self.Wt = self.W.transpose(1, 2)  # (I, n, d), a view that follows the in-place updates
        full = (I, batch_size, n)
        self.f = torch.empty(full, device=dev, dtype=dt)
        self.y = torch.empty(full, device=dev, dtype=dt)
        self.s = torch.empty(full, device=dev, dtype=dt)
        self.h = torch.empty(I, batch_size, d, device=dev, dtype=dt)
        self.h_aug = torch.ones(I, batch_size, d + 1, device=dev, dtype=dt)
        self.dh = torch.empty_like(self.h)
        self.hs = torch.empty_like(self.h) if self.relu_hidden else None
        self.gW_in = torch.empty(I, d, n, device=dev, dtype=dt)
        self.Wc = torch.empty(I, d, n, device=dev, dtype=dt)
        self.imp3 = model.importance.to(dt).unsqueeze(1)  # (I, 1, n)
        self.coef3 = (2.0 / (batch_size * n)) * self.imp3  # dL_k/df'_ki = coef * (f'_ki - f_ki)
        self.sampler = _Sampler(full, model.feature_probability.unsqueeze(1), dt, dev)

    def sample(self, generator) -> torch.Tensor:
        return self.sampler.fill_(self.f, generator)

    def gradients(self, loss_out: torch.Tensor | None = None) -> None:
        """Forward and backward on ``self.f``; writes ``self.gW_aug`` (``gW`` and ``gb``) and, if
        given, the loss per instance into ``loss_out`` ``(n_instances,)``."""
        f, h, y, s, d = self.f, self.h, self.y, self.s, self.d
        model = self.model
        torch.bmm(f, self.Wt, out=h)                        # h = W f                      (I, B, d)
        if self.relu_hidden:
            h.clamp_(min=0.0)                               # h = ReLU(W f)
            torch.sign(h, out=self.hs)                      # 1 where the hidden ReLU is on, else 0
        self.h_aug[..., :d].copy_(h)
        torch.bmm(self.h_aug, self.W_aug, out=y)            # W^T h + b (b = 0 without bias) (I, B, n)
        if not model.linear:
            y.clamp_(min=0.0)                               # f' = ReLU(W^T h + b)
            torch.sign(y, out=s)                            # ReLU gate: 1 where f' > 0, else 0
        if loss_out is not None:
            err = y - f
            torch.sum(err.mul_(err).mul_(self.imp3), dim=(1, 2), out=loss_out).div_(self.B * model.n_features)
        # dL/dpre = coef * gate * (f' - f) = coef * (f' - gate * f)  (f' is 0 where the gate is 0).
        # The factor coef (per instance and feature) is applied to the small products below.
        if model.linear:
            y.sub_(f)
        else:
            y.addcmul_(f, s, value=-1.0)
        torch.bmm(self.h_aug.transpose(1, 2), y, out=self.gW_aug)  # readout dW and db (rows d)
        self.gW_aug.mul_(self.coef3)
        torch.mul(self.W, self.coef3, out=self.Wc)
        torch.bmm(y, self.Wc.transpose(1, 2), out=self.dh)  # dL/dh = dL/dpre W^T           (I, B, d)
        if self.relu_hidden:
            self.dh.mul_(self.hs)
        torch.bmm(self.dh.transpose(1, 2), f, out=self.gW_in)  # dL/dW through h = W f
        self.gW.add_(self.gW_in)
        if not model.bias:
            self.gb.zero_()

    def write_back(self) -> None:
        with torch.no_grad():
            self.model.W.copy_(self.W)
            self.model.b.copy_(self.b)


def manual_gradients(model: ToyModel, features: torch.Tensor):
    """Loss and hand-derived gradients of the summed loss, as the fused training kernel computes them.

    ``features``: ``(batch, n_instances, n_features)``. Returns ``(loss, dW, db)`` with shapes
    ``(n_instances,)``, ``(n_instances, d_hidden, n_features)``, ``(n_instances, n_features)``
    (``db`` is zero for a model without bias). Used to test the kernel against autograd.
    """
    if not isinstance(model, ToyModel):
        raise ValueError(f"model must be a ToyModel, got {type(model).__name__}")
    f = model._check_features(features)
    kernel = _FusedKernel(model, f.shape[0])
    kernel.f.copy_(f.transpose(0, 1))
    loss = torch.empty(model.n_instances, dtype=model.W.dtype, device=model.W.device)
    kernel.gradients(loss)
    return loss, kernel.gW.clone(), kernel.gb.clone()


def _log_steps(steps: int, log_every: int) -> list[int]:
    logged = list(range(0, steps, log_every))
    if logged[-1] != steps - 1:
        logged.append(steps - 1)
    return logged


def train(model: ToyModel, *, steps: int = 10_000, batch_size: int = 1024, lr: float = 1e-3, seed: int = 0,
          progress: bool = True, log_every: int = 10, kernel: str = "fused",
          lr_schedule: str = "constant") -> torch.Tensor:
    """Train every instance of ``model`` at once with Adam on fresh batches of sparse features.

    Args:
        model: a :class:`ToyModel`; its ``W`` and ``b`` are updated in place.
        steps: optimisation steps (>= 1). batch_size: samples per step and instance.
        lr: Adam learning rate (betas 0.9, 0.999, eps 1e-8, as ``torch.optim.Adam``).
        seed: seed of the data generator (on the model's device).
        progress: show a ``tqdm`` progress bar.
        log_every: record the loss every ``log_every`` steps (and at the last step).
        kernel: ``"fused"`` (hand-derived gradients, in-place Adam) or ``"autograd"`` (the same
            training written with autograd and ``torch.optim.Adam``; slower, for checking).
        lr_schedule: ``"constant"`` or ``"cosine"`` (``lr * cos(pi/2 * t / (steps - 1))`` at step
            ``t``, decaying to 0 as in the TMS notebook's ``cosine_decay_lr``).

    Returns:
        Loss history ``(steps_logged, n_instances)``: row ``j`` is the loss of each instance on the
        batch of step ``j * log_every`` (the last row: the last step), before that step's update.
    """
    if not isinstance(model, ToyModel):
        raise ValueError(f"model must be a ToyModel, got {type(model).__name__}")
    _validate.positive_int("steps", steps)
    _validate.positive_int("batch_size", batch_size)
    _validate.positive_float("lr", lr)
    _validate.non_negative_int("seed", seed)
    _validate.positive_int("log_every", log_every)
    _validate.one_of("kernel", kernel, ("fused", "autograd"))
    _validate.one_of("lr_schedule", lr_schedule, ("constant", "cosine"))
    from tqdm.auto import tqdm

    if lr_schedule == "cosine" and steps > 1:
        lrs = [lr * math.cos(0.5 * math.pi * t / (steps - 1)) for t in range(steps)]
    else:
        lrs = [lr] * steps

    device = model.W.device
    generator = torch.Generator(device=device).manual_seed(seed)
    logged = _log_steps(steps, log_every)
    history = torch.empty(len(logged), model.n_instances, dtype=model.W.dtype, device=device)
    log_at = {s: j for j, s in enumerate(logged)}
    bar = tqdm(total=steps, disable=not progress, desc=f"training {model.n_instances} toy models",
               mininterval=0.5)
    if kernel == "fused":
        _train_fused(model, steps, batch_size, lrs, generator, history, log_at, bar)
    else:
        _train_autograd(model, steps, batch_size, lrs, generator, history, log_at, bar)
    bar.close()
    return history.cpu()


def _train_fused(model, steps, batch_size, lrs, generator, history, log_at, bar):
    k = _FusedKernel(model, batch_size)
    b1, b2 = _ADAM_BETAS
    params, grad = k.theta, k.grad  # without bias, b's gradient is 0, so Adam leaves b at 0
    m, v = torch.zeros_like(params), torch.zeros_like(params)
    denom = torch.empty_like(params)
    chunk = 0
    snapshot = _SNAPSHOT  # (every, list) while train_with_snapshots runs
    if snapshot is not None:
        snapshot[1].append((0, k.W.detach().cpu().clone()))
    for step in range(1, steps + 1):
        k.sample(generator)
        row = log_at.get(step - 1)
        k.gradients(history[row] if row is not None else None)
        # Adam, exactly as torch.optim.Adam (non-foreach) computes it, on the flat buffer.
        m.lerp_(grad, 1 - b1)
        v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
        bias_correction2_sqrt = math.sqrt(1 - b2 ** step)
        torch.sqrt(v, out=denom).div_(bias_correction2_sqrt).add_(_ADAM_EPS)
        params.addcdiv_(m, denom, value=-lrs[step - 1] / (1 - b1 ** step))
        if snapshot is not None and (step % snapshot[0] == 0 or step == steps):
            snapshot[1].append((step, k.W.detach().cpu().clone()))
        chunk += 1
        if chunk == 100 or step == steps:
            bar.update(chunk)
            chunk = 0
    k.write_back()


def _train_autograd(model, steps, batch_size, lrs, generator, history, log_at, bar):
    params = [model.W, model.b] if model.bias else [model.W]
    opt = torch.optim.Adam(params, lr=lrs[0], betas=_ADAM_BETAS, eps=_ADAM_EPS, foreach=False)
    f = torch.empty(model.n_instances, batch_size, model.n_features, dtype=model.W.dtype, device=model.W.device)
    sampler = _Sampler(tuple(f.shape), model.feature_probability.unsqueeze(1), f.dtype, f.device)
    for step in range(steps):
        sampler.fill_(f, generator)
        loss = model.loss(f.transpose(0, 1))
        opt.param_groups[0]["lr"] = lrs[step]
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        opt.step()
        row = log_at.get(step)
        if row is not None:
            history[row] = loss.detach()
        bar.update(1)


@torch.no_grad()
def evaluate(model: ToyModel, n_samples: int = 65_536, *, chunk_size: int = 8192, seed: int = 12345) -> torch.Tensor:
    """Loss per instance ``(n_instances,)`` on ``n_samples`` fresh samples (in chunks of
    ``chunk_size``), a far less noisy estimate than the training batches' losses."""
    if not isinstance(model, ToyModel):
        raise ValueError(f"model must be a ToyModel, got {type(model).__name__}")
    _validate.positive_int("n_samples", n_samples)
    _validate.positive_int("chunk_size", chunk_size)
    _validate.non_negative_int("seed", seed)
    generator = torch.Generator(device=model.W.device).manual_seed(seed)
    total = torch.zeros(model.n_instances, dtype=torch.float64, device=model.W.device)
    done = 0
    while done < n_samples:
        size = min(chunk_size, n_samples - done)
        total += model.loss(model.generate_batch(size, generator)).double() * size
        done += size
    return (total / n_samples).to(model.W.dtype).cpu()


@torch.no_grad()
def best_of_repeats(model: ToyModel, repeats: int, *, n_samples: int = 65_536, seed: int = 12345):
    """Keep the best of several independently initialised copies of each configuration.

    Training can stop in a local minimum (e.g. a feature whose ReLU never fires gets no gradient),
    so it pays to train a few copies and keep the one with the lowest loss. Lay the instances out
    as ``repeats`` blocks of ``n_configs`` (instance ``r * n_configs + c`` is copy ``r`` of
    configuration ``c``, e.g. ``feature_probability=p.repeat(repeats)``); every copy is scored with
    :func:`evaluate` on ``n_samples`` fresh samples from one seeded generator (drawn independently for
    each instance). The kept minimum is biased low by the scoring noise: where the copies' losses are
    close, or rare inputs (several features at once at small ``p``) decide, use more samples.

    Returns ``(W, b, loss)``: ``(n_configs, d_hidden, n_features)``, ``(n_configs, n_features)`` and
    ``(n_configs,)``, detached, on the CPU.
    """
    if not isinstance(model, ToyModel):
        raise ValueError(f"model must be a ToyModel, got {type(model).__name__}")
    _validate.positive_int("repeats", repeats)
    if model.n_instances % repeats:
        raise ValueError(f"repeats must divide n_instances = {model.n_instances}, got {repeats}")
    n_configs = model.n_instances // repeats
    loss = evaluate(model, n_samples, seed=seed).view(repeats, n_configs)
    best = loss.argmin(0)
    pick = best * n_configs + torch.arange(n_configs)
    return model.W.detach()[pick].cpu(), model.b.detach()[pick].cpu(), loss[best, torch.arange(n_configs)]


PHASE_NAMES = ("not represented", "dedicated dimension", "superposition")


def two_feature_phase_losses(relative_importance, feature_probability, *, optimise_antipodal: bool = False,
                             **optimum_kwargs) -> torch.Tensor:
    """Closed-form expected losses of the three candidate solutions for 2 features in 1 dimension.

    Feature 1 has importance 1, feature 2 importance ``r = relative_importance``; both are present
    with probability ``p``, magnitudes uniform on [0, 1] (so ``E[x] = p/2``, ``E[x^2] = p/3``). Losses
    are summed over the two features (TMS's mean over features is half of this; the phase is the same):

    - *not represented* (feature 2 dropped; ``W = [1, 0]``, bias ``b_2 = E[x_2]``): ``r (p/3 - p^2/4)``
    - *dedicated dimension* (feature 1 dropped instead): ``p/3 - p^2/4``
    - *superposition* (antipodal, ``W = [1, -1]``, ``b = 0``): an error only when both features are
      present, then ``(1 + r) min(x_1, x_2)^2``, and ``E[min^2] = 1/6``: ``(1 + r) p^2 / 6``.

    The first two are the exact optima of their configurations; the third is the loss of the
    idealised antipodal pair, an upper bound on the best antipodal solution. With
    ``optimise_antipodal=True`` the third column is the best antipodal solution instead, minimised
    numerically over weights and biases (:func:`two_feature_antipodal_optimum`; ``optimum_kwargs``
    are passed on): its bias is positive, and it wins over a wider range of ``p``.

    ``relative_importance``, ``feature_probability``: broadcastable tensors (r > 0, p in (0, 1]).
    Returns ``(..., 3)`` in the order of :data:`PHASE_NAMES`.
    """
    r, p = _phase_arguments(relative_importance, feature_probability)
    if not isinstance(optimise_antipodal, bool):
        raise ValueError(f"optimise_antipodal must be True or False, got {optimise_antipodal!r}")
    single = p / 3 - p ** 2 / 4
    pair = two_feature_antipodal_optimum(r, p, **optimum_kwargs)[0] if optimise_antipodal else (1 + r) * p ** 2 / 6
    return torch.stack([r * single, single, pair], dim=-1)


def two_feature_phase_boundary(relative_importance) -> torch.Tensor:
    """Feature probability below which superposition has the lowest closed-form loss
    (:func:`two_feature_phase_losses`): ``4r / (2 + 5r)`` for ``r <= 1`` (against dropping feature 2)
    and ``4 / (5 + 2r)`` for ``r >= 1`` (against dropping feature 1); both give 4/7 at ``r = 1``. Above
    it, the more important feature gets the dimension (the boundary there is ``r = 1``).

    ``relative_importance``: positive tensor, any shape -> same shape (float64).
    """
    r = _validate.real_values("relative_importance", relative_importance)
    if not torch.isfinite(r).all() or (r <= 0).any() or r.numel() == 0:
        raise ValueError("relative_importance must hold at least one value, each positive and finite")
    return torch.where(r <= 1, 4 * r / (2 + 5 * r), 4 / (5 + 2 * r))


def two_feature_phase(W: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Classify trained 2-feature, 1-dimension models into the phases of :data:`PHASE_NAMES`.

    ``W``: ``(..., 1, 2)``. Returns ``(...)`` int64: 0 = feature 2 not represented (only feature 1 has
    norm > ``threshold``), 1 = feature 2 has the dimension to itself (only feature 2), 2 = both,
    with opposite signs (an antipodal pair: superposition), -1 = anything else (neither, or both
    with the same sign).
    """
    _validate.tensor("W", W, ndim=tuple(range(2, 9)))
    if W.shape[-2:] != (1, 2):
        raise ValueError(f"W must have shape (..., 1, 2) (2 features in 1 dimension), got {tuple(W.shape)}")
    _validate.positive_float("threshold", threshold)
    w1, w2 = W[..., 0, 0], W[..., 0, 1]
    on1, on2 = w1.abs() > threshold, w2.abs() > threshold
    phase = torch.full(w1.shape, -1, dtype=torch.int64, device=W.device)
    phase[on1 & ~on2] = 0
    phase[on2 & ~on1] = 1
    phase[on1 & on2 & (w1 * w2 < 0)] = 2
    return phase


# --- 2 features in 1 dimension: the best antipodal solution, found numerically --------------------

def _antipodal_loss(params: torch.Tensor, r: torch.Tensor, p: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Expected loss (summed over the 2 features) of ``f' = ReLU(W^T W f + b)`` with ``W = [w1, -w2]``,
    by midpoint quadrature on the magnitudes ``u`` ``(N,)``. ``params``: ``(..., 4)`` = (w1, w2, b1, b2)."""
    w1, w2, b1, b2 = (params[..., k, None] for k in range(4))
    r1, p1 = r[..., None], p[..., None]
    relu = torch.relu
    none = relu(b1[..., 0]) ** 2 + r * relu(b2[..., 0]) ** 2
    one = ((u - relu(w1 * w1 * u + b1)) ** 2 + r1 * relu(-w1 * w2 * u + b2) ** 2).mean(-1)   # only feature 1
    two = (relu(-w1 * w2 * u + b1) ** 2 + r1 * (u - relu(w2 * w2 * u + b2)) ** 2).mean(-1)   # only feature 2
    x1, x2 = u[:, None], u[None, :]
    w1, w2, b1, b2, r2 = (t[..., None] for t in (w1, w2, b1, b2, r1))
    o1 = relu(w1 * w1 * x1 - w1 * w2 * x2 + b1)
    o2 = relu(w2 * w2 * x2 - w1 * w2 * x1 + b2)
    both = ((x1 - o1) ** 2 + r2 * (x2 - o2) ** 2).mean(dim=(-2, -1))
    return (1 - p) ** 2 * none + p * (1 - p) * (one + two) + p * p * both


def two_feature_antipodal_optimum(relative_importance, feature_probability, *, grid: int = 24, steps: int = 150,
                                  lr: float = 0.02) -> tuple[torch.Tensor, torch.Tensor]:
    """The best *antipodal* solution of 2 features in 1 dimension, minimised numerically.

    Minimises the expected loss (summed over the two features, as :func:`two_feature_phase_losses`)
    over ``W = [w1, -w2]`` with ``w1, w2 >= 0.5`` (both represented) and free biases ``b1, b2``: Adam
    on a ``grid x grid`` midpoint quadrature of the magnitudes, from two starts (the idealised
    ``w = 1, b = 0`` and ``w = 0.9, b = 0.2``), all settings at once. The optimal bias is never
    negative: an antipodal pair has only negative interference, which the ReLU already removes, and
    a positive bias with shorter weights hedges the case where both features are present.

    ``relative_importance`` (r > 0), ``feature_probability`` (p in (0, 1]): broadcastable tensors.
    Returns ``(loss, params)``: ``(...)`` and ``(..., 4)`` = (w1, w2, b1, b2), float64.
    """
    _validate.positive_int("grid", grid)
    _validate.positive_int("steps", steps)
    _validate.positive_float("lr", lr)
    r, p = _phase_arguments(relative_importance, feature_probability)
    u = (torch.arange(grid, dtype=torch.float64) + 0.5) / grid
    starts = torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.9, 0.9, 0.2, 0.2]], dtype=torch.float64)
    params = starts.expand(*r.shape, 2, 4).clone().requires_grad_(True)
    rs, ps = r[..., None], p[..., None]
    opt = torch.optim.Adam([params], lr=lr)
    for t in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr * math.cos(0.5 * math.pi * t / steps)
        opt.zero_grad(set_to_none=True)
        _antipodal_loss(params, rs, ps, u).sum().backward()
        opt.step()
        with torch.no_grad():
            params[..., :2].clamp_(min=0.5)
    with torch.no_grad():
        loss = _antipodal_loss(params, rs, ps, u)
        best = loss.argmin(-1, keepdim=True)
        return loss.gather(-1, best)[..., 0], params.gather(-2, best[..., None].expand(*best.shape, 4))[..., 0, :]


def _phase_arguments(relative_importance, feature_probability):
    r = _validate.real_values("relative_importance", relative_importance)
    p = _validate.real_values("feature_probability", feature_probability)
    for name, t in (("relative_importance", r), ("feature_probability", p)):
        if t.numel() == 0:
            raise ValueError(f"{name} must hold at least one value, got an empty tensor")
    if not torch.isfinite(r).all() or (r <= 0).any():
        raise ValueError("relative_importance must be positive and finite")
    if not torch.isfinite(p).all() or (p <= 0).any() or (p > 1).any():
        raise ValueError("feature_probability must lie in (0, 1]")
    try:
        return torch.broadcast_tensors(r, p)
    except RuntimeError:
        raise ValueError(f"relative_importance {tuple(r.shape)} and feature_probability {tuple(p.shape)} "
                         "must broadcast together") from None


def optimised_phase_boundary(relative_importance, feature_probability, losses: torch.Tensor) -> torch.Tensor:
    """Where superposition stops winning, read off a grid of losses: for each relative importance,
    the largest feature probability below which the superposition candidate (last column of
    ``losses``) has the lowest loss at every grid point, linearly interpolated to the crossing.

    ``relative_importance``: ``(n_r,)``; ``feature_probability``: ``(n_p,)`` increasing;
    ``losses``: ``(n_r, n_p, n_candidates)``. Returns ``(n_r,)`` (NaN where superposition never wins
    at the smallest p; ``p.max()`` where it wins everywhere).
    """
    r = _validate.real_values("relative_importance", relative_importance, ndim=1)
    p = _validate.real_values("feature_probability", feature_probability, ndim=1)
    losses = _validate.real_values("losses", losses, ndim=3)
    for name, t in (("relative_importance", r), ("feature_probability", p)):
        if t.numel() == 0:
            raise ValueError(f"{name} must hold at least one value, got an empty tensor")
    if losses.shape[:2] != (len(r), len(p)) or losses.shape[2] < 2:
        raise ValueError(f"losses must have shape ({len(r)}, {len(p)}, n_candidates >= 2), got {tuple(losses.shape)}")
    if (p[1:] <= p[:-1]).any():
        raise ValueError("feature_probability must be strictly increasing")
    gap = losses[..., :-1].min(-1).values - losses[..., -1]  # > 0 where superposition wins
    out = torch.full((len(r),), float("nan"), dtype=torch.float64)
    for k in range(len(r)):
        lose = (gap[k] <= 0).nonzero().flatten()
        if gap[k, 0] <= 0:
            continue
        if lose.numel() == 0:
            out[k] = p[-1]
            continue
        j = lose[0].item()
        g0, g1 = gap[k, j - 1], gap[k, j]
        out[k] = p[j - 1] + (p[j] - p[j - 1]) * g0 / (g0 - g1)
    return out


# --- 3 features in 2 dimensions ------------------------------------------------------------------

THREE_FEATURE_PHASE_NAMES = ("W ⊥ [0,0,1]: features 1, 2 dedicated, 3 dropped",
                             "W ⊥ [1,0,0]: feature 1 dropped, 2, 3 dedicated",
                             "W ⊥ [0,1,1]: 1 dedicated, 2 and 3 antipodal",
                             "W ⊥ [1,1,0]: 1 and 2 antipodal, 3 dedicated")


def three_feature_phase_losses(relative_importance, feature_probability, *, optimise_antipodal: bool = False,
                               **optimum_kwargs) -> torch.Tensor:
    """Closed-form expected losses of the candidate solutions for 3 features in 2 dimensions (TMS).

    Features 1 and 2 have importance 1, feature 3 importance ``r = relative_importance``; all are
    present with probability ``p``, magnitudes uniform on [0, 1]. Losses are summed over the three
    features. A solution is named by the null space of ``W`` (``W ⊥ v``: ``W v = 0``), in the
    order of :data:`THREE_FEATURE_PHASE_NAMES`. With ``V = p/3 - p^2/4`` the variance of one feature
    (the cost of replacing it by its mean through the bias):

    - ``W ⊥ [0,0,1]``: features 1 and 2 orthogonal unit vectors, feature 3 dropped: ``r V``;
    - ``W ⊥ [1,0,0]``: feature 1 dropped (``W ⊥ [0,1,0]``, dropping feature 2, is the same): ``V``;
    - ``W ⊥ [0,1,1]``: feature 1 has a dimension, features 2 and 3 share the other as an antipodal
      pair (``W_2 = -W_3``; or 1 and 3, the same): ``(1 + r) p^2 / 6``;
    - ``W ⊥ [1,1,0]``: features 1 and 2 antipodal, feature 3 dedicated: ``2 p^2 / 6``.

    The antipodal terms are the idealised pair (``w = 1``, ``b = 0``), an upper bound on the best
    antipodal pair; ``optimise_antipodal=True`` uses :func:`two_feature_antipodal_optimum` instead
    (``optimum_kwargs`` are passed on). A feature with a dimension to itself costs nothing. Other
    configurations (a triangle, features at 120°) lose to these: every pair of the three interferes.

    Returns ``(..., 4)`` float64.
    """
    r, p = _phase_arguments(relative_importance, feature_probability)
    if not isinstance(optimise_antipodal, bool):
        raise ValueError(f"optimise_antipodal must be True or False, got {optimise_antipodal!r}")
    single = p / 3 - p ** 2 / 4
    if optimise_antipodal:
        pair_r = two_feature_antipodal_optimum(r, p, **optimum_kwargs)[0]
        pair_1 = two_feature_antipodal_optimum(torch.ones_like(r), p, **optimum_kwargs)[0]
    else:
        pair_r, pair_1 = (1 + r) * p ** 2 / 6, 2 * p ** 2 / 6
    return torch.stack([r * single, single, pair_r, pair_1], dim=-1)


def three_feature_phase(W: torch.Tensor, threshold: float = 0.5, antipodal_cos: float = -0.9) -> torch.Tensor:
    """Classify trained 3-feature, 2-dimension models into the candidates of
    :func:`three_feature_phase_losses`.

    ``W``: ``(..., 2, 3)``. A feature is represented when its norm exceeds ``threshold``; two
    features are antipodal when their cosine is below ``antipodal_cos``. Returns ``(...)`` int64:
    0 = features 1, 2 represented and 3 not; 1 = feature 3 and one of features 1, 2 represented;
    2 = all three, feature 3 antipodal to feature 1 or 2; 3 = all three, features 1 and 2
    antipodal; -1 = anything else (e.g. a triangle, or fewer than two features).
    """
    _validate.tensor("W", W, ndim=tuple(range(2, 9)))
    if W.shape[-2:] != (2, 3):
        raise ValueError(f"W must have shape (..., 2, 3) (3 features in 2 dimensions), got {tuple(W.shape)}")
    _validate.positive_float("threshold", threshold)
    _validate.finite_float("antipodal_cos", antipodal_cos, low=-1, high=1)
    norms = W.norm(dim=-2)
    on = norms > threshold
    unit = W / norms.clamp_min(1e-12).unsqueeze(-2)
    cos = unit.transpose(-1, -2) @ unit
    anti = cos < antipodal_cos
    phase = torch.full(norms.shape[:-1], -1, dtype=torch.int64, device=W.device)
    two = on.sum(-1) == 2
    phase[two & on[..., 0] & on[..., 1]] = 0
    phase[two & on[..., 2]] = 1
    all3 = on.all(-1)
    phase[all3 & (anti[..., 0, 2] ^ anti[..., 1, 2]) & ~anti[..., 0, 1]] = 2
    phase[all3 & anti[..., 0, 1] & ~anti[..., 0, 2] & ~anti[..., 1, 2]] = 3
    return phase


# --- training with snapshots of W (learning dynamics) ---------------------------------------------

def train_with_snapshots(model: ToyModel, snapshot_every: int, **train_kwargs) -> tuple[torch.Tensor, torch.Tensor,
                                                                                       torch.Tensor]:
    """:func:`train`, keeping a copy of ``W`` every ``snapshot_every`` steps (and after the last).

    The run is the same as ``train(model, **train_kwargs)`` (same data, same updates). Returns
    ``(history, steps, W_snapshots)``: the loss history of :func:`train`, the step counts ``(k,)``
    at which ``W`` was copied (after that many updates, starting with 0), and
    ``(k, n_instances, d_hidden, n_features)`` on the CPU.
    """
    if not isinstance(model, ToyModel):
        raise ValueError(f"model must be a ToyModel, got {type(model).__name__}")
    _validate.positive_int("snapshot_every", snapshot_every)
    if train_kwargs.get("kernel", "fused") != "fused":
        raise ValueError("kernel must be 'fused' for train_with_snapshots")
    snaps: list[torch.Tensor] = []
    global _SNAPSHOT
    _SNAPSHOT = (snapshot_every, snaps)
    try:
        history = train(model, **train_kwargs)
    finally:
        _SNAPSHOT = None
    steps = torch.tensor([s for s, _ in snaps])
    return history, steps, torch.stack([w for _, w in snaps])


_SNAPSHOT = None


# --- the loss split into feature benefit and interference ----------------------------------------

@torch.no_grad()
def one_sparse_loss_terms(W: torch.Tensor, b: torch.Tensor, importance, *, grid: int = 512,
                          linear: bool = False) -> dict[str, torch.Tensor]:
    """TMS's split of the loss on inputs where exactly one feature is present (the inputs that
    dominate when features are sparse), for ``f' = ReLU(W^T W f + b)`` (``linear=True``: no ReLU).

    When only feature ``i`` is present, with magnitude ``x ~ U[0, 1]``, feature ``i`` reads
    ``ReLU(||W_i||^2 x + b_i)`` and every other feature ``j`` reads ``ReLU((W_j . W_i) x + b_j)``.
    Averaged over which feature is present (each equally likely) and over ``x`` (midpoint quadrature
    with ``grid`` points), with the loss's mean over features:

    - ``"benefit"``: ``(1/n) mean_i I_i E(x - ReLU(||W_i||^2 x + b_i))^2``, how far a lone
      feature is from being read back exactly (``I_i / 3`` per feature when it is dropped);
    - ``"interference"``: ``(1/n) mean_i sum_{j != i} I_j [E ReLU((W_j . W_i) x + b_j)^2 - ReLU(b_j)^2]``,
      what the lone feature leaks into the others' read-outs beyond their constant bias read-out.
      Negative interference ``W_j . W_i < 0`` costs nothing when the bias is not positive (the ReLU
      clips it);
    - ``"bias"``: ``(1/n) mean_i sum_{j != i} I_j ReLU(b_j)^2``, the others' read-outs when they
      are absent and nothing leaks (e.g. a dropped feature's bias ``p/2``);
    - ``"linear_interference"``: the same sum without ReLU and bias, ``sum_{j != i} I_j (W_j . W_i)^2 / 3``,
      the interference a linear read-out would pay for the same ``W``.
    - ``"empty"``: the loss on an input with no feature present, ``mean_j I_j ReLU(b_j)^2``.

    ``W``: ``(n_instances, d, n)``, ``b``: ``(n_instances, n)``, ``importance``: broadcastable to
    ``(n_instances, n)``. Returns a dict of ``(n_instances,)`` float64 tensors.
    """
    _validate.non_empty("W", _validate.tensor("W", W, ndim=3))
    _validate.tensor("b", b, ndim=2)
    _validate.positive_int("grid", grid)
    I, _, n = W.shape
    if b.shape != (I, n):
        raise ValueError(f"b must have shape {(I, n)}, got {tuple(b.shape)}")
    imp = _importance_tensor(importance, (I, n), torch.float64)
    W, b = W.detach().double().cpu(), b.detach().double().cpu()
    G = W.transpose(1, 2) @ W                                   # (I, n_read, n_present): W_j . W_i
    x = (torch.arange(grid, dtype=torch.float64) + 0.5) / grid
    pre = G[..., None] * x + b[:, :, None, None]                # (I, j, i, x)
    out = pre if linear else torch.relu(pre)
    eye = torch.eye(n, dtype=torch.bool)[None, :, :, None]
    own = ((x - out) ** 2).mean(-1).diagonal(dim1=1, dim2=2)    # (I, i)
    leak = torch.where(eye, 0.0, out ** 2).mean(-1)             # (I, j, i)
    G_off = torch.where(eye[..., 0], 0.0, G)
    return {"benefit": (imp * own).mean(-1) / n,
            "interference": (imp[:, :, None] * (leak - torch.where(eye[..., 0], 0.0, torch.relu(b)[:, :, None] ** 2))).sum(1).mean(-1) / n,
            "bias": (imp[:, :, None] * torch.where(eye[..., 0], 0.0, torch.relu(b)[:, :, None] ** 2)).sum(1).mean(-1) / n,
            "linear_interference": (imp[:, :, None] * G_off ** 2 / 3).sum(1).mean(-1) / n,
            "empty": (imp * (b if linear else torch.relu(b)) ** 2).mean(-1)}


# --- adversarial vulnerability --------------------------------------------------------------------

@torch.no_grad()
def readout_flip_radius(W: torch.Tensor, b: torch.Tensor, *, threshold: float = 0.5) -> torch.Tensor:
    """The smallest input perturbation that changes what a toy model reads out (an L2 attack).

    Input: feature ``i`` alone at magnitude 1, ``f = e_i``. Feature ``j`` is *read out* when
    ``f'_j = ReLU((W^T W f + b)_j) > threshold``. The pre-activations are affine in the input,
    ``a(f + delta) = a(f) + (W^T W) delta``, so the smallest ``||delta||_2`` that makes some feature
    ``j != i`` cross the threshold is ``(threshold - a_j) / ||(W^T W)_j||``, and the one that makes
    feature ``i`` drop below it is ``(a_i - threshold) / ||(W^T W)_i||``; the radius is the minimum
    of these (exact, since the ReLU is monotone; ``delta`` may make some inputs negative). Without
    superposition (orthogonal unit features, zero bias) it is ``min(threshold, 1 - threshold)``.

    ``W``: ``(n_instances, d, n)``, ``b``: ``(n_instances, n)``. Returns ``(n_instances, n)``
    float64: the radius for each feature ``i``, NaN where feature ``i`` alone is not read out.
    """
    _validate.non_empty("W", _validate.tensor("W", W, ndim=3))
    _validate.tensor("b", b, ndim=2)
    threshold = _validate.positive_float("threshold", threshold)
    I, _, n = W.shape
    if b.shape != (I, n):
        raise ValueError(f"b must have shape {(I, n)}, got {tuple(b.shape)}")
    W, b = W.detach().double().cpu(), b.detach().double().cpu()
    G = W.transpose(1, 2) @ W                              # (I, n, n), symmetric; row j = (W^T W)_j
    row = G.norm(dim=-1).clamp_min(1e-12)                  # (I, n)
    a = G + b[:, :, None]                                  # a[:, j, i]: pre-activation of j given e_i
    eye = torch.eye(n, dtype=torch.bool)[None]
    dist = torch.where(eye, a - threshold, threshold - a) / row[:, :, None]
    dist = torch.where(dist < 0, torch.zeros_like(dist), dist)  # already on the other side: radius 0
    radius = dist.min(dim=1).values                        # (I, i)
    on = a.diagonal(dim1=1, dim2=2) > threshold
    return torch.where(on, radius, torch.full_like(radius, float("nan")))


def two_feature_expected_loss(params: torch.Tensor, relative_importance, feature_probability, *,
                              grid: int = 24) -> torch.Tensor:
    """Expected loss (summed over the 2 features) of ``f' = ReLU(W^T W f + b)`` with ``W = [w1, -w2]``
    (one dimension), by midpoint quadrature on a ``grid x grid`` grid of magnitudes; differentiable.

    ``params``: ``(..., 4)`` = (w1, w2, b1, b2), float64; ``relative_importance`` (r > 0) and
    ``feature_probability`` (p in (0, 1]) broadcast with ``params[..., 0]``. Returns ``(...)``.
    """
    _validate.tensor("params", params, ndim=tuple(range(1, 9)))
    if params.shape[-1] != 4:
        raise ValueError(f"params must have shape (..., 4) = (w1, w2, b1, b2), got {tuple(params.shape)}")
    _validate.positive_int("grid", grid)
    r, p = _phase_arguments(relative_importance, feature_probability)
    try:
        torch.broadcast_shapes(r.shape, params.shape[:-1])
    except RuntimeError:
        raise ValueError(f"feature_probability and relative_importance {tuple(r.shape)} must broadcast with "
                         f"params[..., 0] {tuple(params.shape[:-1])}") from None
    u = (torch.arange(grid, dtype=torch.float64) + 0.5) / grid
    return _antipodal_loss(params.double(), r, p, u)
