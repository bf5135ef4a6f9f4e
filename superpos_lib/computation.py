"""Computation in superposition: a toy model that computes ``|x|`` (Toy Models of Superposition, sec. 9).

The previous toy models only *store* features and read them back. This one has to *compute*
something: each input ``x_j`` is uniform on [-1, 1] when present (probability ``p``, else 0) and
the target is ``|x_j|``, a non-linear function. The model is TMS's: a ReLU hidden layer with no
bias, so its hidden basis is privileged and we can ask what each neuron does::

    h = ReLU(W1 x)               W1: (m, n)
    y = ReLU(W2 h + b2)          W2: (n, m), b2: (n,)
    loss = E_x sum_j I_j (y_j - |x_j|)^2     (summed over features; chapter 1's loss is a mean)

``hidden_bias=True`` adds a hidden bias ``b1`` (``h = ReLU(W1 x + b1)``), a deviation from TMS.

``|x| = ReLU(x) + ReLU(-x)``, so two neurons per feature compute it exactly. The best model in
which every neuron reads a single feature (no superposition) computes the ``m // 2`` most
important features exactly with such pairs and outputs the constant ``E|x_j| = p/2`` for the
others (:func:`no_superposition_loss`): a second neuron for a feature removes more loss than a
first neuron for a less important one. A model that computes in superposition has to beat it.

Everything is batched over independent *instances* (one model per feature probability and
restart, say): parameters carry a leading ``n_instances`` axis and inputs are
``(batch, n_instances, n)``, the layout of :func:`superpos_lib.data.sparse_features`.
:func:`train_abs_model` runs a fused kernel (hand-derived gradients, in-place Adam on one flat
buffer, cosine learning-rate decay), several times faster on the CPU than autograd.
"""

from __future__ import annotations

import math

import torch
from tqdm.auto import tqdm

from . import _validate as v
from .data import _check_batch_args
from .device import resolve_device

__all__ = ["AbsValueModel", "signed_sparse_features", "abs_loss", "train_abs_model", "evaluate_abs_model",
           "no_superposition_loss", "constant_output_loss", "loss_reduction", "best_instances",
           "asymmetric_superposition"]

_ADAM_BETAS = (0.9, 0.999)
_ADAM_EPS = 1e-8


def signed_sparse_features(batch_size: int, n_instances: int, n_features: int, feature_probability=1.0, *,
                           generator: torch.Generator | None = None, device=None,
                           dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Sparse inputs for the ``|x|`` task.

    Each entry is present with probability ``p`` (``feature_probability`` in (0, 1]: a scalar or
    anything that broadcasts to ``(n_instances, n_features)``) and then uniform on [-1, 1); otherwise 0.
    Returns ``(batch_size, n_instances, n_features)``.
    """
    device, p = _check_batch_args(batch_size, n_instances, n_features, feature_probability, generator, device, dtype)
    return _fill_signed_(torch.empty(batch_size, n_instances, n_features, dtype=dtype, device=device), 1.0 / p, generator)


def _fill_signed_(out: torch.Tensor, inv_p: torch.Tensor, generator) -> torch.Tensor:
    # one draw per entry: u < p means present, and 2 u / p - 1 is then uniform on [-1, 1)
    out.uniform_(0.0, 1.0, generator=generator).mul_(inv_p)
    present = out < 1.0
    return out.mul_(2.0).sub_(1.0).mul_(present)


class AbsValueModel(torch.nn.Module):
    """``n_instances`` independent ReLU networks ``y = ReLU(W2 ReLU(W1 x) + b2)`` (TMS's |x| model).

    Parameters: ``W1 (n_instances, d_hidden, n_features)``, ``W2 (n_instances, n_features, d_hidden)``,
    ``b2 (n_instances, n_features)``; with ``hidden_bias=True`` also a trained ``b1 (n_instances,
    d_hidden)`` (otherwise ``b1`` is a zero buffer). Weights start Xavier-normal (from
    ``generator``), biases at 0.
    """

    def __init__(self, n_features: int, d_hidden: int, n_instances: int = 1, *, hidden_bias: bool = False,
                 generator: torch.Generator | None = None, device=None, dtype: torch.dtype = torch.float32):
        super().__init__()
        n = v.positive_int("n_features", n_features)
        m = v.positive_int("d_hidden", d_hidden)
        k = v.positive_int("n_instances", n_instances)
        if not isinstance(hidden_bias, bool):
            raise ValueError(f"hidden_bias must be True or False, got {hidden_bias!r}")
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        device = v.sampling_device(device, generator)  # checks both; the generator's device wins
        std = math.sqrt(2.0 / (n + m))
        self.hidden_bias = hidden_bias
        self.W1 = torch.nn.Parameter(torch.randn(k, m, n, generator=generator, device=device, dtype=dtype) * std)
        self.W2 = torch.nn.Parameter(torch.randn(k, n, m, generator=generator, device=device, dtype=dtype) * std)
        self.b2 = torch.nn.Parameter(torch.zeros(k, n, device=device, dtype=dtype))
        b1 = torch.zeros(k, m, device=device, dtype=dtype)
        if hidden_bias:
            self.b1 = torch.nn.Parameter(b1)
        else:
            self.register_buffer("b1", b1)

    @property
    def n_features(self) -> int:
        return self.W1.shape[-1]

    @property
    def d_hidden(self) -> int:
        return self.W1.shape[-2]

    @property
    def n_instances(self) -> int:
        return self.W1.shape[0]

    def extra_repr(self) -> str:
        return (f"n_features={self.n_features}, d_hidden={self.d_hidden}, n_instances={self.n_instances}, "
                f"hidden_bias={self.hidden_bias}")

    def _check(self, x) -> torch.Tensor:
        x = v.tensor("x", x, ndim=3)
        if x.shape[1:] != (self.n_instances, self.n_features):
            raise ValueError(f"x must have shape (batch, n_instances={self.n_instances}, n_features={self.n_features}), "
                             f"got {tuple(x.shape)}")
        return x

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """Neuron activations ``ReLU(W1 x + b1)``: ``x (batch, n_instances, n)`` -> ``(batch, n_instances, m)``."""
        x = self._check(x)
        return torch.relu(torch.einsum("kmn,bkn->bkm", self.W1, x) + self.b1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x (batch, n_instances, n)`` -> ``y (batch, n_instances, n)``."""
        h = self.hidden(x)
        return torch.relu(torch.einsum("knm,bkm->bkn", self.W2, h) + self.b2)


def abs_loss(y: torch.Tensor, x: torch.Tensor, importance: torch.Tensor | None = None) -> torch.Tensor:
    """Importance-weighted squared error against ``|x|``, per instance.

    ``y, x``: ``(batch, n_instances, n)``; ``importance``: broadcastable to ``(n_instances, n)``
    (default 1). Returns ``(n_instances,)``: ``mean_batch sum_j I_j (y_j - |x_j|)^2``.
    """
    y = v.tensor("y", y, ndim=3)
    x = v.tensor("x", x, ndim=3)
    if y.shape != x.shape:
        raise ValueError(f"y must have the shape of x {tuple(x.shape)}, got {tuple(y.shape)}")
    v.non_empty("x", x, 0, "sample (an empty batch has no mean loss)")
    if importance is None:
        importance = torch.ones((), dtype=x.dtype, device=x.device)
    else:
        importance = _importance(importance, x.shape[1:], x.dtype, x.device)
    return _abs_loss(y, x, importance)


def _importance(importance, shape, dtype, device) -> torch.Tensor:
    try:
        importance = torch.as_tensor(importance, dtype=dtype, device=device)
        importance = torch.broadcast_to(importance, shape)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"importance must broadcast to (n_instances, n_features)={tuple(shape)}") from None
    if not torch.isfinite(importance).all() or (importance < 0).any():
        raise ValueError("importance must be finite and non-negative")
    return importance


def _abs_loss(y, x, importance):
    return ((y - x.abs()).pow(2) * importance).sum(-1).mean(0)


def _check_model(model) -> "AbsValueModel":
    if not isinstance(model, AbsValueModel):
        raise ValueError(f"model must be an AbsValueModel, got {type(model).__name__}")
    return model


def _model_inputs(model, feature_probability, importance):
    shape = (model.n_instances, model.n_features)
    device, dtype = model.W1.device, model.W1.dtype
    p = v.probability_tensor("feature_probability", feature_probability, shape, dtype=dtype, device=device)
    importance = (torch.ones(shape, dtype=dtype, device=device) if importance is None
                  else _importance(importance, shape, dtype, device))
    return p, importance


class _AbsKernel:
    """Preallocated buffers and the hand-derived forward/backward pass of :class:`AbsValueModel`.

    Layout instance-major, ``x: (n_instances, batch, n)``, so every product is one ``bmm``. All
    parameters live in one flat buffer (``W1``, ``W2``, ``b2``, ``b1``) for an in-place Adam. With
    ``pre1 = W1 x + b1``, ``h = ReLU(pre1)``, ``pre2 = W2 h + b2``, ``y = ReLU(pre2)`` and
    ``L = mean_batch sum_j I_j (y_j - |x_j|)^2``: ``dL/dpre2 = (2 I / B) (y - gate |x|)`` (``y`` is 0
    where the output gate is closed), ``dW2 = dpre2^T h``, ``db2 = sum_batch dpre2``,
    ``dpre1 = (dpre2 W2) * [pre1 > 0]``, ``dW1 = dpre1^T x``, ``db1 = sum_batch dpre1``.
    """

    def __init__(self, model: AbsValueModel, p: torch.Tensor, importance: torch.Tensor, batch_size: int):
        K, m, n = model.n_instances, model.d_hidden, model.n_features
        dev, dt = model.W1.device, model.W1.dtype
        self.model, self.B = model, batch_size
        sizes = [K * m * n, K * n * m, K * n, K * m]
        self.theta = torch.zeros(sum(sizes), device=dev, dtype=dt)
        self.grad = torch.zeros_like(self.theta)
        shapes = [(K, m, n), (K, n, m), (K, 1, n), (K, 1, m)]
        self.W1, self.W2, self.b2, self.b1 = (t.view(s) for t, s in zip(self.theta.split(sizes), shapes))
        self.gW1, self.gW2, self.gb2, self.gb1 = (t.view(s) for t, s in zip(self.grad.split(sizes), shapes))
        with torch.no_grad():
            self.W1.copy_(model.W1)
            self.W2.copy_(model.W2)
            self.b2.copy_(model.b2.unsqueeze(1))
            self.b1.copy_(model.b1.unsqueeze(1))
        self.hidden_bias = model.hidden_bias
        full, hid = (K, batch_size, n), (K, batch_size, m)
        self.x, self.ax, self.y, self.gate = (torch.empty(full, device=dev, dtype=dt) for _ in range(4))
        self.h, self.dh, self.hgate = (torch.empty(hid, device=dev, dtype=dt) for _ in range(3))
        inv_p = (1.0 / p).unsqueeze(1).expand(full)
        self.two_inv_p = (2.0 * inv_p).contiguous()
        self.imp = importance.unsqueeze(1).contiguous()  # (K, 1, n)
        self.coef = ((2.0 / batch_size) * self.imp).expand(full).contiguous()

    def sample(self, generator) -> None:
        # u uniform on [0, 1): s = 2 - 2u/p is in (0, 2] exactly when u < p (present), and x = s - 1
        x = self.x
        x.uniform_(0.0, 1.0, generator=generator)
        torch.addcmul(torch.full((), 2.0, dtype=x.dtype, device=x.device), x, self.two_inv_p, value=-1.0, out=x)
        torch.nn.functional.threshold_(x, 0.0, 0.0)
        torch.sign(x, out=self.gate)                     # 1 where present
        x.sub_(1.0).mul_(self.gate)
        torch.abs(x, out=self.ax)

    def gradients(self, loss_out: torch.Tensor | None = None) -> None:
        x, h, y = self.x, self.h, self.y
        torch.bmm(x, self.W1.transpose(1, 2), out=h)
        if self.hidden_bias:
            h.add_(self.b1)
        h.clamp_(min=0.0)
        torch.sign(h, out=self.hgate)
        torch.baddbmm(self.b2, h, self.W2.transpose(1, 2), out=y)
        y.clamp_(min=0.0)
        torch.sign(y, out=self.gate)
        if loss_out is not None:
            err = (y - self.ax).pow_(2).mul_(self.imp)
            torch.sum(err, dim=(1, 2), out=loss_out).div_(self.B)
        y.addcmul_(self.ax, self.gate, value=-1.0).mul_(self.coef)  # dL/dpre2
        torch.bmm(y.transpose(1, 2), h, out=self.gW2)
        torch.sum(y, dim=1, keepdim=True, out=self.gb2)
        torch.bmm(y, self.W2, out=self.dh)
        self.dh.mul_(self.hgate)                             # dL/dpre1
        torch.bmm(self.dh.transpose(1, 2), x, out=self.gW1)
        if self.hidden_bias:
            torch.sum(self.dh, dim=1, keepdim=True, out=self.gb1)
        else:
            self.gb1.zero_()

    def write_back(self) -> None:
        with torch.no_grad():
            self.model.W1.copy_(self.W1)
            self.model.W2.copy_(self.W2)
            self.model.b2.copy_(self.b2.squeeze(1))
            self.model.b1.copy_(self.b1.squeeze(1))


def _manual_gradients(model: AbsValueModel, x: torch.Tensor, importance=None):
    """Loss and hand-derived gradients on the batch ``x (batch, n_instances, n)``, as the training
    kernel computes them: ``(loss (K,), dW1, dW2, db2 (K, n), db1 (K, m))``. For tests."""
    x = model._check(x)
    _, importance = _model_inputs(model, 1.0, importance)
    k = _AbsKernel(model, torch.ones_like(importance), importance, x.shape[0])
    k.x.copy_(x.transpose(0, 1))
    torch.abs(k.x, out=k.ax)
    loss = torch.empty(model.n_instances, dtype=x.dtype, device=x.device)
    k.gradients(loss)
    return loss, k.gW1.clone(), k.gW2.clone(), k.gb2.squeeze(1).clone(), k.gb1.squeeze(1).clone()


def train_abs_model(model: AbsValueModel, feature_probability, importance=None, *, steps: int = 3000,
                    batch_size: int = 1024, lr: float = 1e-2, start_factor: float = 3.0, start_steps: int | None = None,
                    generator: torch.Generator | None = None, log_every: int = 10, progress: bool = True) -> torch.Tensor:
    """Train every instance of ``model`` at once with Adam on fresh batches of signed sparse inputs.

    ``feature_probability``: in (0, 1], broadcast to ``(n_instances, n_features)`` (one value per
    instance: pass a tensor of shape ``(n_instances, 1)``). ``importance``: non-negative,
    broadcast to ``(n_instances, n_features)`` (default 1).

    Training runs in two phases, each Adam (betas 0.9, 0.999) with a half-cosine learning rate
    from ``lr`` down to 0: first ``start_steps`` steps (default ``steps // 2``) on *denser* inputs,
    feature probability ``min(1, start_factor * p)``, then ``steps`` steps on the target ``p``.
    Starting denser is a continuation method: at small ``p`` a randomly initialised model mostly
    ends in poor local minima (features left with one neuron of their pair, less important features
    computed instead of more important ones), while the solution for a denser ``p`` is a good
    starting point. ``start_factor=1`` (or ``start_steps=0``) trains on ``p`` throughout.

    With the defaults the best of a few restarts reaches the no-superposition optimum at ``p = 1``
    and beats it at ``p = 0.1`` for the chapter's sizes (``n = 20``, ``m = 8``, ``I_j = 0.7^j``);
    tests check both. Local minima remain: train several restarts and keep the best
    (:func:`best_instances`).

    Returns the per-instance loss of the training batch every ``log_every`` steps of the final
    phase (and at its last step), ``(steps_logged, n_instances)``, on the CPU.
    """
    _check_model(model)
    steps = v.positive_int("steps", steps)
    batch_size = v.positive_int("batch_size", batch_size)
    lr = v.positive_float("lr", lr)
    start_factor = v.positive_float("start_factor", start_factor)
    if start_factor < 1:
        raise ValueError(f"start_factor must be at least 1 (the first phase is denser), got {start_factor}")
    start_steps = steps // 2 if start_steps is None else v.non_negative_int("start_steps", start_steps)
    log_every = v.positive_int("log_every", log_every)
    device = model.W1.device
    v.generator_on("generator", generator, device)
    p, importance = _model_inputs(model, feature_probability, importance)
    phases = [((p * start_factor).clamp(max=1.0), start_steps)] if start_steps and start_factor > 1 else []
    phases.append((p, steps))
    bar = tqdm(total=sum(n for _, n in phases), disable=not progress,
               desc=f"training {model.n_instances} |x| models", mininterval=0.5)
    for phase_p, phase_steps in phases:
        history = _train_phase(model, phase_p, importance, phase_steps, batch_size, lr, generator, log_every, bar)
    bar.close()
    return history


def _train_phase(model, p, importance, steps, batch_size, lr, generator, log_every, bar) -> torch.Tensor:
    k = _AbsKernel(model, p, importance, batch_size)
    logged = list(range(0, steps, log_every))
    if logged[-1] != steps - 1:
        logged.append(steps - 1)
    log_at = {s: j for j, s in enumerate(logged)}
    history = torch.empty(len(logged), model.n_instances, dtype=model.W1.dtype, device=model.W1.device)
    b1, b2 = _ADAM_BETAS
    m1, m2 = torch.zeros_like(k.theta), torch.zeros_like(k.theta)
    denom = torch.empty_like(k.theta)
    done = 0
    for step in range(1, steps + 1):
        k.sample(generator)
        row = log_at.get(step - 1)
        k.gradients(history[row] if row is not None else None)
        m1.lerp_(k.grad, 1 - b1)
        m2.mul_(b2).addcmul_(k.grad, k.grad, value=1 - b2)
        torch.sqrt(m2, out=denom).div_(math.sqrt(1 - b2 ** step)).add_(_ADAM_EPS)
        rate = lr * 0.5 * (1 + math.cos(math.pi * (step - 1) / steps))
        k.theta.addcdiv_(m1, denom, value=-rate / (1 - b1 ** step))
        if step % 100 == 0 or step == steps:
            bar.update(step - done)
            done = step
    k.write_back()
    return history.cpu()


@torch.no_grad()
def evaluate_abs_model(model: AbsValueModel, feature_probability, importance=None, *, n_samples: int = 65_536,
                       chunk_size: int = 8192, seed: int = 12345, per_feature: bool = False) -> torch.Tensor:
    """Loss per instance on ``n_samples`` fresh samples, the same samples for every instance with
    the same feature probability (so restarts are compared fairly), a far less noisy estimate than
    the training batches. Returns ``(n_instances,)`` (importance-weighted, summed over features),
    or with ``per_feature=True`` the unweighted mean squared error of each feature ``(n_instances, n)``.
    """
    _check_model(model)
    n_samples = v.positive_int("n_samples", n_samples)
    chunk_size = v.positive_int("chunk_size", chunk_size)
    v.non_negative_int("seed", seed)
    if not isinstance(per_feature, bool):
        raise ValueError(f"per_feature must be True or False, got {per_feature!r}")
    p, importance = _model_inputs(model, feature_probability, importance)
    generator = torch.Generator(device=model.W1.device).manual_seed(seed)
    total = torch.zeros(model.n_instances, model.n_features, dtype=torch.float64, device=model.W1.device)
    done = 0
    while done < n_samples:
        size = min(chunk_size, n_samples - done)
        u = torch.rand(size, 1, model.n_features, generator=generator, device=p.device, dtype=p.dtype)
        x = torch.where(u < p, 2 * u / p - 1, torch.zeros((), dtype=p.dtype, device=p.device))
        total += (model(x) - x.abs()).pow(2).sum(0).double()
        done += size
    per = (total / n_samples).to(model.W1.dtype).cpu()
    return per if per_feature else (per * importance.cpu()).sum(-1)


def _variance_abs(p: torch.Tensor) -> torch.Tensor:
    # x = 0 w.p. 1 - p, else U[-1, 1]: E|x| = p/2, E x^2 = p/3
    return p / 3 - p ** 2 / 4


def constant_output_loss(feature_probability, importance) -> torch.Tensor:
    """Loss of the best constant output ``y_j = E|x_j| = p/2`` (no neuron used): ``sum_j I_j Var|x_j|``
    with ``Var|x_j| = p/3 - p^2/4``. ``feature_probability`` in (0, 1] and ``importance >= 0``:
    ``(..., n_features)`` tensors that broadcast together -> ``(...)`` (float64)."""
    p, importance = _baseline_args(feature_probability, importance)
    return (importance * _variance_abs(p)).sum(-1)


def no_superposition_loss(feature_probability, importance, d_hidden: int) -> torch.Tensor:
    """Loss of the best ``|x|`` model with ``d_hidden`` neurons in which every neuron reads one feature.

    It computes the ``d_hidden // 2`` most important features exactly with a ``ReLU(x)``,
    ``ReLU(-x)`` pair each and outputs the constant ``p/2`` for the others:
    ``sum_{j not in top} I_j (p/3 - p^2/4)``. (A pair is optimal: one neuron computes one sign
    of ``x_j`` and, fitted by least squares, removes at most half of the feature's loss, so the
    second neuron of a feature gains at least as much as a first neuron for any feature of lower
    importance. An odd ``d_hidden`` leaves one neuron unused.) ``feature_probability``,
    ``importance``: ``(..., n_features)`` tensors that broadcast together -> ``(...)`` (float64).
    """
    p, importance = _baseline_args(feature_probability, importance)
    d_hidden = v.positive_int("d_hidden", d_hidden)
    top = importance.argsort(dim=-1, descending=True, stable=True)[..., : d_hidden // 2]
    kept = torch.zeros_like(importance).scatter_(-1, top, 1.0)
    return (importance * (1 - kept) * _variance_abs(p)).sum(-1)


def _baseline_args(feature_probability, importance):
    p = v.real_values("feature_probability", feature_probability)
    importance = v.real_values("importance", importance, finite=False)
    if importance.ndim < 1 or importance.shape[-1] == 0:
        raise ValueError("importance must have a feature axis with at least one feature (..., n_features)")
    try:
        p, importance = torch.broadcast_tensors(p, importance)
    except RuntimeError:
        raise ValueError(f"feature_probability {tuple(p.shape)} and importance {tuple(importance.shape)} "
                         "must broadcast together") from None
    v.probability_tensor("feature_probability", p, tuple(p.shape), dtype=torch.float64)
    if not torch.isfinite(importance).all() or (importance < 0).any():
        raise ValueError("importance must be finite and non-negative")
    return p, importance.clone()


def loss_reduction(per_feature_loss: torch.Tensor, feature_probability) -> torch.Tensor:
    """How much of each feature's constant-output loss a model removes: ``1 - L_j / Var|x_j|``.

    1 for a feature computed exactly, about 0.5 for one computed by a single neuron (one sign of
    ``x``), 0 for a constant output, negative when interference makes it worse than a constant.
    ``per_feature_loss``: ``(n_instances, n)`` from ``evaluate_abs_model(..., per_feature=True)``;
    ``feature_probability`` broadcasts to it. Returns ``(n_instances, n)``.
    """
    per_feature_loss = v.non_empty("per_feature_loss", v.tensor("per_feature_loss", per_feature_loss, ndim=2))
    p = v.probability_tensor("feature_probability", feature_probability, tuple(per_feature_loss.shape),
                             dtype=per_feature_loss.dtype, device=per_feature_loss.device)
    return 1 - per_feature_loss / _variance_abs(p)


@torch.no_grad()
def best_instances(model: AbsValueModel, loss: torch.Tensor, configs) -> tuple[AbsValueModel, torch.Tensor]:
    """Keep the best restart of each configuration.

    ``configs``: either the number of restarts ``R`` when instances are laid out as ``R`` blocks of
    ``n_configs`` (instance ``r * n_configs + c`` is restart ``r`` of configuration ``c``, e.g.
    ``feature_probability=p.repeat(R)``), or a tensor ``(n_instances,)`` of configuration labels
    ``0 .. n_configs - 1`` (any number of restarts per configuration). ``loss``: ``(n_instances,)``,
    e.g. from :func:`evaluate_abs_model`. Returns a new model holding the best instance of each
    configuration, in label order, and their losses ``(n_configs,)``.
    """
    _check_model(model)
    loss = v.tensor("loss", loss, ndim=1).cpu()
    if loss.shape[0] != model.n_instances:
        raise ValueError(f"loss must have one value per instance ({model.n_instances}), got {loss.shape[0]}")
    if isinstance(configs, int) and not isinstance(configs, bool):
        repeats = v.positive_int("configs", configs)
        if model.n_instances % repeats:
            raise ValueError(f"configs (the number of restarts) must divide n_instances = {model.n_instances}, "
                             f"got {repeats}")
        labels = torch.arange(model.n_instances) % (model.n_instances // repeats)
    else:
        if not isinstance(configs, torch.Tensor):
            raise ValueError(f"configs must be a number of restarts or a tensor of labels, got {type(configs).__name__}")
        labels = configs.cpu()
        if labels.shape != (model.n_instances,) or labels.is_floating_point() or labels.min() < 0:
            raise ValueError(f"configs must be a number of restarts or one non-negative integer label per "
                             f"instance ({model.n_instances}), got {configs!r}")
        if set(labels.tolist()) != set(range(int(labels.max()) + 1)):
            raise ValueError("configs must use every label from 0 to its maximum")
    n_configs = int(labels.max()) + 1
    pick = torch.stack([torch.where(labels == c, loss, torch.full_like(loss, float("inf"))).argmin()
                        for c in range(n_configs)])
    out = AbsValueModel(model.n_features, model.d_hidden, n_configs, hidden_bias=model.hidden_bias,
                        device=model.W1.device, dtype=model.W1.dtype)
    index = pick.to(model.W1.device)
    for name in ("W1", "W2", "b2", "b1"):
        getattr(out, name).copy_(getattr(model, name)[index])
    return out, loss[pick]


@torch.no_grad()
def asymmetric_superposition(model: AbsValueModel, instance: int = 0, *, min_ratio: float = 2.0,
                             min_gain: float = 0.5) -> list[dict]:
    """Neurons that compute two features at once by *asymmetric superposition* (TMS, sec. 9).

    Neuron ``i`` reads feature ``a`` strongly and feature ``b`` weakly, with opposite signs, and
    the output layer undoes the asymmetry: ``|W1[i, a]| >= min_ratio |W1[i, b]|`` and the gains
    ``W2[a, i] |W1[i, a]|`` and ``W2[b, i] |W1[i, b]|`` are both ``>= min_gain`` (about 1 when the
    neuron computes one sign of ``|x_a|`` and the other sign of ``|x_b|``). TMS's example is
    ``W1[i, (a, b)] = (2, -1/2)``, ``W2[(a, b), i] = (1/2, 2)``. Feature ``b``'s output then receives
    a large interference ``W2[b, i] W1[i, a] x_a`` whenever ``a`` is present, which other neurons
    must cancel: ``inhibitors`` lists the neurons that read ``a`` with the same sign (with at least
    a fifth of the weight ``|W1[i, a]|``) and write negatively to ``b``.

    Returns one dict per motif, those whose two gains are closest to 1 first, with keys ``neuron, strong, weak`` (feature
    indices), ``W1`` (the pair ``(W1[i, a], W1[i, b])``), ``W2`` (``(W2[a, i], W2[b, i])``),
    ``inhibitors`` (list of ``(neuron, W1[neuron, a], W2[b, neuron])``).
    """
    _check_model(model)
    v.non_negative_int("instance", instance)
    if instance >= model.n_instances:
        raise ValueError(f"instance must be below n_instances = {model.n_instances}, got {instance}")
    min_ratio = v.positive_float("min_ratio", min_ratio)
    min_gain = v.positive_float("min_gain", min_gain)
    W1, W2 = model.W1[instance].cpu(), model.W2[instance].cpu()  # (m, n), (n, m)
    gain = W2.T * W1.abs()  # gain[i, j] = W2[j, i] |W1[i, j]|
    found = []
    for i in range(W1.shape[0]):
        for a in range(W1.shape[1]):
            for b in range(W1.shape[1]):
                wa, wb = W1[i, a].item(), W1[i, b].item()
                if a == b or wa * wb >= 0 or abs(wa) < min_ratio * abs(wb):
                    continue
                if gain[i, a] < min_gain or gain[i, b] < min_gain:
                    continue
                inhibitors = [(k, W1[k, a].item(), W2[b, k].item()) for k in range(W1.shape[0])
                              if k != i and W1[k, a].item() * wa > 0 and abs(W1[k, a].item()) >= 0.2 * abs(wa)
                              and W2[b, k].item() < 0]
                score = abs(math.log(gain[i, a].item())) + abs(math.log(gain[i, b].item()))
                found.append({"neuron": i, "strong": a, "weak": b, "W1": (wa, wb), "W2": (W2[a, i].item(), W2[b, i].item()),
                              "inhibitors": inhibitors, "_score": score})
    found.sort(key=lambda d: d["_score"])
    for d in found:
        del d["_score"]
    return found
