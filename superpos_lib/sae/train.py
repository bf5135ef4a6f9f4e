"""Training SAEs: one loop, every architecture, split into named steps.

A step of :func:`train_sae` is: draw a batch (:func:`_next_batch`), compute the gradients
(:func:`_gradients`: the architecture's hand-derived ``fast_grads``, or autograd on its
``autograd_loss``), update the parameters under the unit-norm decoder constraint
(:func:`_update`), track which latents fired (:func:`_track_firing`), log (:func:`_log_step`) and,
for ReLU SAEs, resample dead latents (:func:`_maybe_resample`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch

from .. import _validate as V
from . import batchtopk, gated, jump_relu, relu, topk
from ._context import StepContext
from ._optim import _Adam, _project_decoder_grad
from ._workspace import _Workspace
from .model import SparseAutoencoder
from .resample import _check_decoder_rule, resample_dead_latents

__all__ = ["train_sae"]

ARCHITECTURES = {"relu": relu, "topk": topk, "jumprelu": jump_relu, "gated": gated, "batchtopk": batchtopk}
_HAS_FAST = ("relu", "topk", "jumprelu", "batchtopk", "gated")
_USES_AUXK = ("topk", "batchtopk")
_DEFAULT_SPARSITY = {"relu": 0.1, "gated": 0.1, "jumprelu": 0.1}


# ------------------------------------------------------------------------------ data


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


# ------------------------------------------------------------------------------ settings and state


def _coefficients(name: str, value, I: int, dt, dev) -> torch.Tensor:
    try:
        lam = torch.as_tensor(value, dtype=dt).to(dev).reshape(-1)
    except Exception:
        raise ValueError(f"{name} must be a number or one number per instance, got {value!r}") from None
    if lam.numel() not in (1, I) or not torch.isfinite(lam).all() or (lam < 0).any():
        raise ValueError(f"{name} must be a non-negative number or {I} non-negative numbers (one per instance), got {value!r}")
    return lam.expand(I).clone()


def _learning_rates(lr, I: int, dev) -> float | torch.Tensor:
    """A positive number, or a tensor ``(I,)`` of them from one number per instance."""
    if isinstance(lr, (int, float)) and not isinstance(lr, bool):
        V.positive_float("lr", lr)
        return float(lr)
    try:
        rates = torch.as_tensor(lr, dtype=torch.float32).to(dev).reshape(-1)
    except Exception:
        raise ValueError(f"lr must be a positive number or one per instance, got {lr!r}") from None
    if rates.numel() != I or not torch.isfinite(rates).all() or (rates <= 0).any():
        raise ValueError(f"lr must be a positive number or {I} positive numbers (one per instance), got {lr!r}")
    return rates


@dataclass
class _Run:
    """Everything a training run carries from step to step."""

    sae: SparseAutoencoder
    steps: int
    batch_size: int
    lam_full: torch.Tensor
    sparsity_warmup_steps: int
    resample_dead_every: int | None
    resample_decoder: Callable | None
    dead_window: int
    aux_coeff: float
    k_aux: int
    bandwidth: float
    log_every: int
    fast: bool
    get_batch: Callable
    gen: torch.Generator
    lr: float | torch.Tensor = 1e-3  # a number, or (I,) per instance
    opt: object = None
    ws: _Workspace | None = None
    params: list = field(default_factory=list)
    aux_scale: float = 1.0
    last_fired: torch.Tensor | None = None
    was_dead: torch.Tensor | None = None
    revived: torch.Tensor | None = None
    resampled: torch.Tensor | None = None
    log: dict = field(default_factory=dict)


def _init_decoder_bias(run: _Run, data, first: torch.Tensor) -> None:
    """``b_dec`` starts at the data mean; unit decoder rows; ``aux_scale`` = the data's variance."""
    sae = run.sae
    with torch.no_grad():
        sample = data[:100_000] if isinstance(data, torch.Tensor) else first
        sample = sample.to(device=sae.W_enc.device, dtype=sae.W_enc.dtype)
        mean = sample.mean(0)
        sae.b_dec.copy_(mean.expand(sae.n_instances, sae.d_in))
        sae.normalize_decoder()
        run.aux_scale = float((sample - mean).pow(2).sum(-1).mean().clamp_min(1e-12))


def _make_optimizer(run: _Run) -> None:
    run.params = list(run.sae.parameters())
    if run.fast or isinstance(run.lr, torch.Tensor):  # torch.optim.Adam has one learning rate per tensor
        run.opt = _Adam([p.data for p in run.params], run.lr)
    else:
        run.opt = torch.optim.Adam(run.params, lr=run.lr)
    if run.fast:
        run.ws = _Workspace(run.sae, run.batch_size)


# ------------------------------------------------------------------------------ the steps


def _next_batch(run: _Run, step: int, first: torch.Tensor) -> torch.Tensor:
    x = first if step == 0 else run.get_batch(run.batch_size, run.gen)
    if x.shape != (run.batch_size, run.sae.d_in):
        x = _check_batch(x, run.batch_size, run.sae.d_in)
    # detached: a batch function may hand over activations that still carry a graph (a model's
    # hidden layer computed outside torch.no_grad)
    return x.detach().to(device=run.sae.W_enc.device, dtype=run.sae.W_enc.dtype)


def _context(run: _Run, step: int) -> StepContext:
    w = run.sparsity_warmup_steps
    lam = run.lam_full * min(1.0, (step + 1) / w) if w > 0 else run.lam_full
    dead = (step - run.last_fired) >= run.dead_window if run.sae.activation in _USES_AUXK else None
    return StepContext(lam=lam, dead=dead, aux_coeff=run.aux_coeff, k_aux=run.k_aux, aux_scale=run.aux_scale,
                       bandwidth=run.bandwidth)


def _gradients(run: _Run, x: torch.Tensor, ctx: StepContext, want: bool):
    """Gradients of the architecture's loss. Fast: a list of tensors (W_dec's projected); autograd:
    left in ``.grad`` (projected). Returns ``(grads or None, fired (I, m), stats)``."""
    arch = ARCHITECTURES[run.sae.activation]
    sae = run.sae
    if run.fast:
        grads, fired, stats = arch.fast_grads(sae, x, ctx, run.ws, want)
        with torch.no_grad():
            grads[2] = _project_decoder_grad(sae.W_dec.detach(), grads[2])
        return grads, fired, stats
    for p in run.params:
        p.grad = None
    loss, fired, stats = arch.autograd_loss(sae, x, ctx, want)
    loss.sum().backward()
    with torch.no_grad():
        sae.W_dec.grad = _project_decoder_grad(sae.W_dec.detach(), sae.W_dec.grad)
    return None, fired.detach(), stats


def _update(run: _Run, grads) -> None:
    """One Adam step, then every decoder row back to unit norm."""
    if isinstance(run.opt, _Adam):
        run.opt.step(grads if grads is not None else [p.grad for p in run.params])
    else:
        run.opt.step()
    run.sae.normalize_decoder()


def _track_firing(run: _Run, step: int, fired: torch.Tensor, stats) -> None:
    """Remember when each latent last fired; count latents that fire again after being dead."""
    run.was_dead |= (step - run.last_fired) >= run.dead_window
    run.revived |= run.was_dead & fired
    run.last_fired = torch.where(fired, step + 1, run.last_fired)
    if run.sae.activation == "batchtopk" and stats is not None and "min_kept" in stats:
        batchtopk.update_threshold(run.sae, stats["min_kept"])


@torch.no_grad()
def _log_step(run: _Run, step: int, x: torch.Tensor, stats: dict, progress_bar) -> None:
    I = run.sae.n_instances
    dev = x.device
    var = (x - x.mean(0)).pow(2).sum(-1).mean()
    mse = stats["mse"]
    aux = stats.get("aux", torch.zeros(I, device=dev))
    if run.sae.activation in _USES_AUXK:
        total = mse + run.aux_coeff * run.aux_scale * aux
    else:
        total = mse + stats.get("penalty", torch.zeros(I, device=dev)) + (aux if run.sae.activation == "gated" else 0)
    log = run.log
    log["step"].append(step)
    log["mse"].append(mse.detach().clone())
    log["loss"].append(total.detach().clone())
    log["l0"].append(stats["l0"].detach().clone().float())
    log["fve"].append((1 - mse / var.clamp_min(1e-12)).detach().clone())
    log["dead_fraction"].append(((step + 1 - run.last_fired) >= run.dead_window).float().mean(-1))
    log["aux"].append(aux.detach().clone())
    if progress_bar is not None:
        progress_bar.set_postfix(mse=f"{mse.mean().item():.4g}", l0=f"{stats['l0'].float().mean().item():.3g}")


def _adam_moments(run: _Run) -> list[torch.Tensor] | None:
    """Adam's moments laid out ``[m of W_enc, b_enc, W_dec, b_dec, v of the same]``."""
    if isinstance(run.opt, _Adam):
        return list(run.opt.m[:4]) + list(run.opt.v[:4])
    first, second = [], []
    for p in run.params[:4]:
        st = run.opt.state.get(p, {})
        if not st:
            return None
        first.append(st["exp_avg"])
        second.append(st["exp_avg_sq"])
    return first + second


def _maybe_resample(run: _Run, step: int) -> None:
    every = run.resample_dead_every
    if every is None or run.sae.activation != "relu" or (step + 1) % every != 0 or step + 1 >= run.steps:
        return
    dead_now = (step + 1 - run.last_fired) >= every
    if bool(dead_now.any()):
        sae = run.sae
        x = run.get_batch(run.batch_size, run.gen).to(sae.W_enc.device, sae.W_enc.dtype)
        run.resampled += resample_dead_latents(sae, x, dead_now, generator=run.gen, optimizer_state=_adam_moments(run),
                                              decoder_rows=run.resample_decoder)
        run.last_fired = torch.where(dead_now, step + 1, run.last_fired)


# ------------------------------------------------------------------------------ the loop


def train_sae(
    sae: SparseAutoencoder,
    data: torch.Tensor | Callable[[int], torch.Tensor],
    *,
    steps: int,
    batch_size: int = 1024,
    lr: float | Sequence[float] = 1e-3,
    l1_coeff: float | Sequence[float] | None = None,
    l0_coeff: float | Sequence[float] | None = None,
    l1_warmup_steps: int = 0,
    bandwidth: float = 0.05,
    resample_dead_every: int | None = None,
    resample_decoder: Callable | None = None,
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
    or a callable ``data(batch_size) -> (batch_size, d_in)`` giving fresh samples. Decoder rows are
    kept at unit norm (the gradient's component along each row is removed, rows are renormalised
    after each step, as in Bricken et al. 2023); ``b_dec`` starts at the mean of the data.

    Losses, by ``sae.activation`` (all averaged over the batch; squared error summed over coordinates):

    - ``"relu"``: ``||x - x_hat||^2 + l1 * sum_i z_i ||W_dec[i]||`` (``l1_coeff``, default 0.1).
      ``resample_dead_every=N`` re-initialises, every N steps, latents that did not fire in the last
      N steps (:func:`resample_dead_latents`; ``resample_decoder`` replaces its decoder-row rule, as
      its ``decoder_rows``).
    - ``"gated"``: the gated SAE loss with its auxiliary term (:mod:`superpos_lib.sae.gated`;
      ``l1_coeff``, default 0.1).
    - ``"jumprelu"``: ``||x - x_hat||^2 + l0 * ||z||_0`` with straight-through estimators of
      bandwidth ``bandwidth`` (:func:`superpos_lib.sae.jumprelu`; ``l0_coeff``, default 0.1).
    - ``"topk"``, ``"batchtopk"``: ``||x - x_hat||^2`` plus AuxK (:mod:`superpos_lib.sae.auxk`, Gao et
      al.'s normalised definition) with weight ``aux_coeff`` on the ``k_aux`` (default ``d_in // 2``)
      largest dead latents. A latent is *dead* when it has not fired (``z > 0``) on any sample of
      the last ``dead_window`` steps. BatchTopK also estimates its inference threshold.

    The sparsity coefficient (``l1_coeff`` or ``l0_coeff``, a number or one per instance) ramps
    linearly from 0 over ``l1_warmup_steps``. ``lr``: Adam's learning rate, a number or one per
    instance (so one run can compare learning rates). ``method``: ``"fast"`` (hand-derived gradients,
    fused/sparse products) or ``"autograd"`` (the reference).

    Returns a history: ``step (n_logs,)`` and, each ``(n_logs, I)``: ``loss``, ``mse`` (mean squared
    error summed over coordinates), ``l0`` (mean active latents per sample), ``fve`` (fraction of
    variance explained on the batch), ``dead_fraction``, ``aux`` (the normalised AuxK error for
    TopK/BatchTopK, the gated auxiliary loss for Gated, else 0); and, each ``(I,)``, ``resampled``
    (total latents resampled) and ``revived`` (latents that fired again after having been dead, i.e.
    silent for ``dead_window`` steps, at some point).
    """
    if not isinstance(sae, SparseAutoencoder):
        raise ValueError(f"sae must be a SparseAutoencoder, got {type(sae).__name__}")
    V.positive_int("steps", steps)
    V.positive_int("batch_size", batch_size)
    lr = _learning_rates(lr, sae.n_instances, sae.W_enc.device)
    V.non_negative_int("l1_warmup_steps", l1_warmup_steps)
    V.positive_float("bandwidth", bandwidth)
    if resample_dead_every is not None:
        V.positive_int("resample_dead_every", resample_dead_every)
    _check_decoder_rule("resample_decoder", resample_decoder)
    if resample_decoder is not None and (resample_dead_every is None or sae.activation != "relu"):
        warnings.warn("resample_decoder is used only when ReLU SAEs are resampled (activation 'relu' and "
                      "resample_dead_every set); here it is ignored", stacklevel=2)
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
    act = sae.activation
    dev, dt = sae.W_enc.device, sae.W_enc.dtype
    if l1_coeff is not None:
        lam_l1 = _coefficients("l1_coeff", l1_coeff, I, dt, dev)
        if act not in ("relu", "gated"):
            warnings.warn(f"l1_coeff is ignored for {act!r} SAEs" + (" (use l0_coeff)" if act == "jumprelu" else
                          " (sparsity comes from k)"), stacklevel=2)
    if l0_coeff is not None:
        lam_l0 = _coefficients("l0_coeff", l0_coeff, I, dt, dev)
        if act != "jumprelu":
            warnings.warn(f"l0_coeff is used only by JumpReLU SAEs, not {act!r}", stacklevel=2)
    if act in ("relu", "gated"):
        lam_full = lam_l1 if l1_coeff is not None else torch.full((I,), _DEFAULT_SPARSITY[act], dtype=dt, device=dev)
    elif act == "jumprelu":
        lam_full = lam_l0 if l0_coeff is not None else torch.full((I,), _DEFAULT_SPARSITY[act], dtype=dt, device=dev)
    else:
        lam_full = torch.zeros(I, dtype=dt, device=dev)
    get_batch = _check_data(data, d)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    first = _check_batch(get_batch(batch_size, gen), batch_size, d)

    run = _Run(sae=sae, steps=steps, batch_size=batch_size, lam_full=lam_full, sparsity_warmup_steps=l1_warmup_steps,
               resample_dead_every=resample_dead_every, resample_decoder=resample_decoder, dead_window=dead_window,
               aux_coeff=aux_coeff, k_aux=k_aux,
               bandwidth=bandwidth, log_every=log_every, fast=method == "fast" and act in _HAS_FAST,
               get_batch=get_batch, gen=gen, lr=lr)
    _init_decoder_bias(run, data, first)
    _make_optimizer(run)
    run.last_fired = torch.zeros(I, m, dtype=torch.long, device=dev)
    run.was_dead = torch.zeros(I, m, dtype=torch.bool, device=dev)
    run.revived = torch.zeros(I, m, dtype=torch.bool, device=dev)
    run.resampled = torch.zeros(I, dtype=torch.long, device=dev)
    run.log = {key: [] for key in ("step", "loss", "mse", "l0", "fve", "dead_fraction", "aux")}

    from tqdm.auto import tqdm

    bar = tqdm(range(steps), disable=not progress, desc=f"SAE ({act}, {I} inst.)", leave=False)
    for step in bar:
        x = _next_batch(run, step, first)
        want = step % log_every == 0 or step == steps - 1
        ctx = _context(run, step)
        grads, fired, stats = _gradients(run, x, ctx, want)
        _update(run, grads)
        _track_firing(run, step, fired, stats)
        if want:
            _log_step(run, step, x, stats, bar if progress else None)
        _maybe_resample(run, step)
    bar.close()
    history = {key: torch.stack(val) if key != "step" else torch.tensor(val) for key, val in run.log.items()}
    history["resampled"] = run.resampled
    history["revived"] = run.revived.sum(-1)
    return history
