"""Every public function of superpos_lib rejects a malformed call with a ValueError that names the
argument, before doing any work.

The public API is enumerated, not listed by hand: every module of ``superpos_lib`` and its
subpackages (names starting with ``_`` excluded), each module's ``__all__`` (or, for a module
without one, the functions and classes it defines without a leading ``_``), and for every public
class its constructor and the public methods it defines. Every name found must have an entry in
``CASES`` (a valid call) or in ``EXEMPT`` (with the reason it takes no data), so a function added
later fails here until it meets the same standard.

From each entry's valid call, malformed calls are derived one argument at a time (every argument the
call passes, and every argument it leaves at a default other than ``None``), by what that argument is:

* ``device``: an unknown name and a number; ``generator``: a seed (an int) and a string;
  ``dtype``: an integer dtype and a string (also when they are left at ``None``);
* a tensor: something that is not a tensor, a NaN entry and an integer dtype (floating tensors),
  a float dtype (integer tensors), an empty first axis;
* an int: a string, a fraction, -1; a float: NaN, a string;
* a string naming an option: an unknown option, a number (free text such as titles is left alone);
* a list of strings: a bare string (which would be read character by character), a list of numbers;
* a list of numbers: a string, NaN entries; a mapping, a path or any other object: a string.

Hand-written ``extra`` cases add what depends on the function: wrong shapes (kind ``"shape"``,
required for every entry that takes a tensor), tensors that do not match each other (``"mismatch"``,
required where two or more tensors are taken), out-of-range values. ``skip`` opts one derived case
out, always with the reason it is valid input for that function.
"""

from __future__ import annotations

import importlib
import inspect
import math
import pkgutil
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

import superpos_lib  # noqa: E402

# --------------------------------------------------------------------------------------------
# Enumerating the public API
# --------------------------------------------------------------------------------------------


def _public_modules():
    yield superpos_lib
    for info in pkgutil.walk_packages(superpos_lib.__path__, "superpos_lib."):
        if any(part.startswith("_") for part in info.name.split(".")[1:]):
            continue
        yield importlib.import_module(info.name)


def _public_names(module) -> list[str]:
    """A module says what it makes public in ``__all__`` (``[]`` for a module of internal pieces);
    a module that does not say is a failure, so that a new module (an SAE architecture, a model
    loader) cannot leave its functions out of this test by accident."""
    assert hasattr(module, "__all__"), f"{module.__name__} has no __all__: list its public names (or [])"
    return list(module.__all__)


def public_api() -> dict[str, Any]:
    """Qualified name (``"ToyModel"``, ``"ToyModel.loss"``, ``"sparse_features"``) -> object, for every
    public function, class and public method of a public class."""
    found: list[tuple[str, str, Any]] = []  # (qualified name, defining module, object)
    for module in _public_modules():
        for name in _public_names(module):
            obj = getattr(module, name)
            if inspect.isclass(obj):
                found.append((obj.__qualname__, obj.__module__, obj))
                for attr, member in vars(obj).items():
                    if attr.startswith("_") or isinstance(member, (property, type)):
                        continue
                    if inspect.isfunction(member) or isinstance(member, (staticmethod, classmethod)):
                        found.append((f"{obj.__qualname__}.{attr}", obj.__module__, getattr(obj, attr)))
            elif callable(obj):
                found.append((getattr(obj, "__qualname__", name), getattr(obj, "__module__", module.__name__), obj))
    owners: dict[str, set] = {}
    for qualname, where, obj in found:
        owners.setdefault(qualname, set()).add(where)
    # a name defined in two modules is listed as "module:name" (both need an entry)
    return {(qualname if len(owners[qualname]) == 1 else f"{where}:{qualname}"): obj for qualname, where, obj in found}


# Public callables that take no data or sizes, or only describe results; none can be called wrongly
# in a way that matters (each says why).
EXEMPT = {
    "use_course_style": "takes no arguments",
    "registered_exercises": "takes no arguments",
    "registered_answers": "takes no arguments",
    "require_packages": "takes no arguments",
    "corpus_path": "takes no arguments",
    "cache_dir": "takes no arguments",
    "smollm_gguf_path": "takes no arguments",
    "smollm_cache_path": "takes no arguments",
    "plot_l1_geometry": "takes only an optional Axes; draws a fixed picture",
    "ToyModel.extra_repr": "takes no arguments (module repr)",
    "AbsValueModel.extra_repr": "takes no arguments (module repr)",
    "SparseAutoencoder.extra_repr": "takes no arguments (module repr)",
    "CheckResult": "a result record built by the checkers, never by a student",
    "Mismatch": "an exception type",
    "RIPBound": "a result record (NamedTuple) returned by rip_lower_bound",
    "register": "decorator for the library's own checkers; names are checked against duplicates",
    "call_student": "runs the student's function and turns any error into a Mismatch (test_checks_core)",
    "compare": "checker internals: turns any student output into a Mismatch message (test_checks_core)",
    "ista_step_reference": "a checker's private reference solution, only called on the checker's own inputs",
    "superpos_lib.exercises.cli:main": "command-line entry point: argparse rejects bad arguments with a usage message",
    "superpos_lib.notebook:main": "command-line entry point: argparse rejects bad arguments with a usage message",
}


# --------------------------------------------------------------------------------------------
# Fixtures: small valid objects
# --------------------------------------------------------------------------------------------


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(*shape, seed: int = 0, dtype=torch.float32) -> torch.Tensor:
    return torch.randn(*shape, generator=_gen(seed), dtype=dtype)


def _toy(**kwargs):
    from superpos_lib.toy_models import ToyModel

    return ToyModel(5, 2, 3, **kwargs)


def _abs_model():
    from superpos_lib.computation import AbsValueModel

    return AbsValueModel(4, 3, 2, generator=_gen())


def _figure():
    fig, ax = plt.subplots(figsize=(1, 1))
    ax.plot([0, 1])
    return fig


class _FakeBert(nn.Module):
    """Just enough of a BERT encoder for argument checks (the real one is tested in test_real_models)."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Module()
        self.encoder.layer = nn.ModuleList([nn.Linear(4, 4), nn.Linear(4, 4)])
        self.config = SimpleNamespace(hidden_size=4, _name_or_path="fake-bert")

    def forward(self, input_ids=None, attention_mask=None):
        return self.encoder.layer[1](self.encoder.layer[0](torch.ones(1, 4)))


class _FakeTokenizer:
    def __call__(self, texts, return_tensors=None, **kwargs):
        ids = [[0, 5, 1] for _ in texts]
        if return_tensors == "pt":
            return {"input_ids": torch.tensor(ids), "attention_mask": torch.ones(len(ids), 3, dtype=torch.long)}
        return {"input_ids": ids}

    def __len__(self):
        return 8

    def convert_ids_to_tokens(self, ids):
        return [f"t{i}" for i in ids]

    def get_special_tokens_mask(self, ids, already_has_special_tokens=True):
        return [int(i in (0, 1)) for i in ids]


class _FakeLlama(nn.Module):
    """Just enough of a Llama-style causal LM for argument checks."""

    def __init__(self):
        super().__init__()
        self.model = nn.Module()
        self.model.layers = nn.ModuleList([nn.Linear(4, 4), nn.Linear(4, 4)])
        self.model.norm = nn.LayerNorm(4)
        self.lm_head = nn.Linear(4, 8, bias=False)
        self.config = SimpleNamespace(hidden_size=4, _name_or_path="fake-llama")


def _activations():
    from superpos_lib.real_models import Activations

    n = 6
    return Activations(_randn(n, 4), torch.arange(n) % 4, torch.tensor([0, 0, 0, 1, 1, 1]),
                       torch.tensor([0, 1, 2, 0, 1, 2]), ["a", "b", "##c", "d"], {})


def _sae(**kwargs):
    from superpos_lib.sae import SparseAutoencoder

    return SparseAutoencoder(4, 6, n_instances=2, **kwargs)


def _s_sae_wide():
    from superpos_lib.sae import SparseAutoencoder

    return SparseAutoencoder(5, 6)


def _notebook():
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("def f(x):\n    '''doc'''\n    return x\n",
                                          metadata={"tags": ["solution"]})]
    return nb


# --------------------------------------------------------------------------------------------
# The table: one valid call per public callable
# --------------------------------------------------------------------------------------------


@dataclass
class Case:
    """``make()`` returns ``(target, kwargs)``: a callable and keyword arguments of a valid call.

    ``extra``: ``(kind, argument, change)`` where ``change(kwargs)`` returns the malformed keyword
    arguments and the error must name ``argument``. ``skip``: ``{"argument:kind": reason}``.
    ``run``: also make the valid call (False where it needs the real model or the corpus)."""

    make: Callable[[], tuple[Callable, dict]]
    extra: list = field(default_factory=list)
    skip: dict = field(default_factory=dict)
    run: bool = True


def _with(**changes):
    """A ``change`` that replaces some arguments."""
    return lambda kw: {**kw, **changes}


def _edit(name, fn):
    """A ``change`` that replaces argument ``name`` by ``fn(old value)``."""
    return lambda kw: {**kw, name: fn(kw[name])}


def _nan(t: torch.Tensor) -> torch.Tensor:
    t = t.clone()
    t.view(-1)[0] = float("nan")
    return t


CASES: dict[str, Case] = {}


def case(name: str, make, *, extra=(), skip=None, run=True):
    if name in CASES:
        raise AssertionError(f"{name} has two entries")
    CASES[name] = Case(make, list(extra), dict(skip or {}), run)


_NO_NAN_CHECK = "NaN is a legitimate value here"

# --- device ---------------------------------------------------------------------------------------
from superpos_lib import device as _device  # noqa: E402

case("get_device", lambda: (_device.get_device, {"name": "cpu"}), skip={"name:option": "checked by its own case"},
     extra=[("option", "name", _with(name="tpu"))])
case("resolve_device", lambda: (_device.resolve_device, {"device": "cpu"}))
case("seed_everything", lambda: (_device.seed_everything, {"seed": 0}))

# --- data, computation ---------------------------------------------------------------------------
from superpos_lib import computation as _comp  # noqa: E402
from superpos_lib import data as _data  # noqa: E402

case("sparse_features", lambda: (_data.sparse_features, dict(batch_size=4, n_instances=2, n_features=6,
                                                            feature_probability=0.5, generator=_gen(),
                                                            correlated_pairs=1)),
     extra=[("range", "feature_probability", _with(feature_probability=1.5)),
            ("shape", "feature_probability", _with(feature_probability=torch.full((3,), 0.5))),
            ("range", "correlated_pairs", _with(correlated_pairs=4))])
case("signed_sparse_features", lambda: (_comp.signed_sparse_features, dict(batch_size=4, n_instances=2, n_features=3,
                                                                          feature_probability=0.5, generator=_gen())),
     extra=[("range", "feature_probability", _with(feature_probability=0.0)),
            ("shape", "feature_probability", _with(feature_probability=torch.full((2, 2), 0.5)))])
case("AbsValueModel", lambda: (_comp.AbsValueModel, dict(n_features=4, d_hidden=3, n_instances=2, generator=_gen())))
case("AbsValueModel.hidden", lambda: (_abs_model().hidden, {"x": _randn(5, 2, 4)}),
     extra=[("shape", "x", _edit("x", lambda x: x[0])), ("shape", "x", _edit("x", lambda x: x[..., :3]))])
case("AbsValueModel.forward", lambda: (_abs_model().forward, {"x": _randn(5, 2, 4)}),
     extra=[("shape", "x", _edit("x", lambda x: x[:, :1]))])
case("abs_loss", lambda: (_comp.abs_loss, dict(y=_randn(5, 2, 4), x=_randn(5, 2, 4, seed=1), importance=torch.ones(4))),
     extra=[("shape", "y", _edit("y", lambda y: y[0])),
            ("mismatch", "y", _edit("y", lambda y: y[:, :1])),
            ("mismatch", "importance", _with(importance=torch.ones(3))),
            ("range", "importance", _with(importance=-torch.ones(4)))],
     skip={"importance:dtype": "whole-number weights are valid"})
case("train_abs_model", lambda: (_comp.train_abs_model, dict(model=_abs_model(), feature_probability=0.5,
                                                            importance=torch.ones(4), steps=2, batch_size=8,
                                                            generator=_gen(), progress=False)),
     extra=[("range", "feature_probability", _with(feature_probability=2.0)),
            ("shape", "importance", _with(importance=torch.ones(3)))],
     skip={"importance:dtype": "whole-number weights are valid"})

_P = torch.tensor([[0.1], [0.5]])
case("evaluate_abs_model", lambda: (_comp.evaluate_abs_model, dict(model=_abs_model(), feature_probability=_P,
                                                                  importance=torch.ones(4), n_samples=8, chunk_size=4)),
     extra=[("mismatch", "importance", _with(importance=torch.ones(3, 4))), ("range", "feature_probability", _with(feature_probability=1.5)),
            ("shape", "importance", _with(importance=torch.ones(3)))],
     skip={"importance:dtype": "whole-number weights are valid", "feature_probability:dtype": "a probability of 1 is valid"})
for _name in ("constant_output_loss", "no_superposition_loss"):
    case(_name, (lambda n: lambda: (getattr(_comp, n), dict(feature_probability=_P, importance=torch.ones(4),
                                                            **({"d_hidden": 3} if n == "no_superposition_loss" else {}))))(_name),
         extra=[("range", "feature_probability", _with(feature_probability=0.0)),
                ("range", "importance", _with(importance=-torch.ones(4))),
                ("mismatch", "importance", _with(importance=torch.ones(3, 4))),
                ("shape", "importance", _with(importance=torch.tensor(1.0)))],
         skip={"importance:dtype": "whole-number weights are valid", "feature_probability:dtype": "a probability of 1 is valid"})
case("loss_reduction", lambda: (_comp.loss_reduction, dict(per_feature_loss=torch.rand(2, 4), feature_probability=_P)),
     extra=[("shape", "per_feature_loss", _with(per_feature_loss=torch.rand(4))),
            ("mismatch", "feature_probability", _with(feature_probability=torch.full((3,), 0.5)))],
     skip={"feature_probability:dtype": "a probability of 1 is valid"})
case("best_instances", lambda: (_comp.best_instances, dict(model=_abs_model(), loss=torch.rand(2), configs=torch.tensor([0, 0]))),
     extra=[("shape", "loss", _with(loss=torch.rand(3))), ("mismatch", "configs", _with(configs=torch.tensor([0, 2]))),
            ("range", "configs", _with(configs=3))],
     skip={"configs:dtype": "checked by the mismatch case"})
case("asymmetric_superposition", lambda: (_comp.asymmetric_superposition, dict(model=_abs_model(), instance=1, min_ratio=2.0,
                                                                              min_gain=0.5)),
     extra=[("range", "instance", _with(instance=2))])

# --- toy models ----------------------------------------------------------------------------------
from superpos_lib import toy_models as _tm  # noqa: E402

case("ToyModel", lambda: (_tm.ToyModel, dict(n_features=5, d_hidden=2, n_instances=3, importance=torch.ones(5),
                                             feature_probability=torch.full((3, 1), 0.5), hidden_activation="relu")),
     extra=[("shape", "importance", _with(importance=torch.ones(4))),
            ("range", "feature_probability", _with(feature_probability=0.0)),
            ("mismatch", "hidden_activation", _with(linear=True))],
     skip={"importance:dtype": "whole-number weights are valid"})
for _method in ("hidden", "forward", "loss"):
    case(f"ToyModel.{_method}", (lambda m: lambda: (getattr(_toy(), m), {"features": torch.rand(4, 3, 5)}))(_method),
         extra=[("shape", "features", _edit("features", lambda f: f[0])),
                ("shape", "features", _edit("features", lambda f: f[..., :4]))])
case("ToyModel.generate_batch", lambda: (_toy().generate_batch, dict(batch_size=4, generator=_gen())))
case("train", lambda: (_tm.train, dict(model=_toy(), steps=2, batch_size=4, progress=False)))
case("manual_gradients", lambda: (_tm.manual_gradients, dict(model=_toy(dtype=torch.float64),
                                                            features=torch.rand(4, 3, 5, dtype=torch.float64))),
     extra=[("shape", "features", _edit("features", lambda f: f[:, :2]))])
case("evaluate", lambda: (_tm.evaluate, dict(model=_toy(), n_samples=8, chunk_size=4)))
case("best_of_repeats", lambda: (_tm.best_of_repeats, dict(model=_toy(), repeats=3, n_samples=8)),
     extra=[("range", "repeats", _with(repeats=2))])
case("two_feature_phase_losses", lambda: (_tm.two_feature_phase_losses,
                                          dict(relative_importance=torch.tensor([0.5, 2.0]),
                                               feature_probability=torch.tensor([[0.1], [0.9]]))),
     extra=[("range", "relative_importance", _with(relative_importance=torch.tensor([-1.0]))),
            ("range", "feature_probability", _with(feature_probability=1.5)),
            ("mismatch", "feature_probability", _with(feature_probability=torch.full((3,), 0.5))),
            ("shape", "relative_importance", _with(relative_importance=torch.ones(0)))])
case("two_feature_phase_boundary", lambda: (_tm.two_feature_phase_boundary,
                                            dict(relative_importance=torch.tensor([0.5, 2.0]))),
     extra=[("range", "relative_importance", _with(relative_importance=0.0)),
            ("shape", "relative_importance", _with(relative_importance=torch.ones(0)))])
case("two_feature_phase", lambda: (_tm.two_feature_phase, dict(W=_randn(3, 1, 2), threshold=0.5)),
     extra=[("shape", "W", _edit("W", lambda W: W[..., :1]))])

_PHASE = dict(relative_importance=torch.tensor([0.5, 2.0]), feature_probability=torch.tensor([[0.1], [0.9]]))
case("two_feature_antipodal_optimum", lambda: (_tm.two_feature_antipodal_optimum, dict(_PHASE, grid=4, steps=2)),
     extra=[("shape", "relative_importance", _with(relative_importance=torch.ones(0))), ("range", "feature_probability", _with(feature_probability=1.5)),
            ("mismatch", "feature_probability", _with(feature_probability=torch.full((3,), 0.5)))])
case("three_feature_phase_losses", lambda: (_tm.three_feature_phase_losses, dict(_PHASE)),
     extra=[("shape", "relative_importance", _with(relative_importance=torch.ones(0))), ("range", "relative_importance", _with(relative_importance=-1.0)),
            ("mismatch", "feature_probability", _with(feature_probability=torch.full((3,), 0.5)))])
case("optimised_phase_boundary", lambda: (_tm.optimised_phase_boundary,
                                          dict(relative_importance=torch.tensor([0.5, 2.0]),
                                               feature_probability=torch.tensor([0.1, 0.5, 0.9]),
                                               losses=torch.rand(2, 3, 3))),
     extra=[("shape", "losses", _with(losses=torch.rand(2, 3))), ("mismatch", "losses", _with(losses=torch.rand(3, 3, 3))),
            ("range", "feature_probability", _with(feature_probability=torch.tensor([0.5, 0.1, 0.9])))],
     skip={f"{a}:dtype": "whole numbers are valid values" for a in ("relative_importance", "losses")})
case("three_feature_phase", lambda: (_tm.three_feature_phase, dict(W=_randn(3, 2, 3), threshold=0.5, antipodal_cos=-0.9)),
     extra=[("shape", "W", _edit("W", lambda W: W[..., :2])), ("range", "antipodal_cos", _with(antipodal_cos=-1.5))])
case("train_with_snapshots", lambda: (_tm.train_with_snapshots, dict(model=_toy(), snapshot_every=1, steps=2, batch_size=4,
                                                                    progress=False)),
     extra=[("option", "kernel", _with(kernel="autograd"))])
case("one_sparse_loss_terms", lambda: (_tm.one_sparse_loss_terms, dict(W=_randn(3, 2, 5), b=torch.zeros(3, 5),
                                                                      importance=torch.ones(5), grid=8)),
     extra=[("shape", "W", _with(W=_randn(2, 5))), ("mismatch", "b", _with(b=torch.zeros(3, 4))),
            ("mismatch", "importance", _with(importance=torch.ones(4)))],
     skip={"importance:dtype": "whole-number weights are valid"})

case("readout_flip_radius", lambda: (_tm.readout_flip_radius, dict(W=_randn(3, 2, 5), b=torch.zeros(3, 5), threshold=0.5)),
     extra=[("shape", "W", _with(W=_randn(2, 5))), ("mismatch", "b", _with(b=torch.zeros(3, 4)))])
case("two_feature_expected_loss", lambda: (_tm.two_feature_expected_loss,
                                           dict(params=torch.tensor([[1.0, 1.0, 0.0, 0.0]] * 2, dtype=torch.float64),
                                                relative_importance=torch.tensor([1.0]), feature_probability=torch.tensor([0.5]),
                                                grid=4)),
     extra=[("shape", "params", _with(params=torch.ones(3, dtype=torch.float64))),
            ("mismatch", "feature_probability", _with(feature_probability=torch.full((3,), 0.5))),
            ("range", "feature_probability", _with(feature_probability=1.5))],
     skip={"relative_importance:dtype": "whole numbers are valid importances"})

# --- metrics ------------------------------------------------------------------------------------
from superpos_lib import metrics as _m  # noqa: E402

for _name in ("feature_norms", "feature_angles", "feature_interference", "feature_dimensionality",
              "dimensions_per_feature"):
    case(_name, (lambda n: lambda: (getattr(_m, n), {"W": _randn(3, 2, 5)}))(_name),
         extra=[("shape", "W", _with(W=torch.ones(5)))])
case("represented_features", lambda: (_m.represented_features, dict(W=_randn(3, 2, 5), threshold=0.5)),
     extra=[("shape", "W", _with(W=torch.ones(5))), ("range", "threshold", _with(threshold=-1.0))])
case("feature_groups", lambda: (_m.feature_groups, dict(W=_randn(2, 5), overlap=0.05, min_norm=0.5)),
     extra=[("shape", "W", _with(W=_randn(3, 2, 5))), ("range", "overlap", _with(overlap=1.0)),
            ("range", "min_norm", _with(min_norm=-0.5))])
case("neuron_polysemanticity", lambda: (_m.neuron_polysemanticity, dict(W=_randn(3, 2, 5), features=torch.rand(8, 3, 5),
                                                                      threshold=0.1)),
     extra=[("shape", "features", _with(features=torch.rand(5))),
            ("mismatch", "features", _edit("features", lambda f: f[..., :4])),
            ("mismatch", "features", _edit("features", lambda f: f[:, :2]))])
case("neuron_polysemanticity_from_weights", lambda: (_m.neuron_polysemanticity_from_weights,
                                                     dict(W=_randn(3, 2, 5), threshold=0.1, feature_value=1.0)),
     extra=[("shape", "W", _with(W=torch.ones(5))), ("range", "feature_value", _with(feature_value=0.0))])
case("neuron_regime", lambda: (_m.neuron_regime, dict(W=_randn(2, 5), threshold=0.1)),
     extra=[("shape", "W", _with(W=_randn(3, 2, 5)))])
case("pair_geometry", lambda: (_m.pair_geometry, dict(W=_randn(2, 5), a=1, min_norm=0.5)),
     extra=[("shape", "W", _with(W=_randn(3, 2, 5))), ("range", "a", _with(a=4))])
for _name in ("l0_sparsity", "gini", "effective_dimension"):
    case(_name, (lambda n: lambda: (getattr(_m, n), {"a": _randn(3, 5)}))(_name),
         extra=[("shape", "a", _with(a=torch.tensor(1.0)))])
for _name in ("cosine_matrix", "mmcs", "feature_recovery"):
    case(_name, (lambda n: lambda: (getattr(_m, n), {"learned": _randn(2, 6, 4), "true": _randn(2, 5, 4, seed=1)}))(_name),
         extra=[("shape", "learned", _with(learned=torch.ones(4))),
                ("mismatch", "true", _edit("true", lambda t: t[..., :3])),
                ("mismatch", "true", _edit("true", lambda t: torch.cat([t, t]))),
                ("mismatch", "true", _edit("true", lambda t: t.double()))])
CASES["feature_recovery"].extra.append(("range", "threshold", _with(threshold=1.5)))
for _name in ("explained_variance", "reconstruction_scale"):
    case(_name, (lambda n: lambda: (getattr(_m, n), {"x": _randn(6, 4), "x_hat": _randn(2, 6, 4, seed=1)}))(_name),
         extra=[("shape", "x", _with(x=torch.ones(4))),
                ("mismatch", "x_hat", _edit("x_hat", lambda t: t[..., :3])),
                ("mismatch", "x_hat", _edit("x_hat", lambda t: t.double()))])
for _name in ("l0", "dead_fraction"):
    case(_name, (lambda n: lambda: (getattr(_m, n), {"latents": torch.relu(_randn(2, 6, 4))}))(_name),
         extra=[("shape", "latents", _with(latents=torch.ones(4)))])

case("cosine_spectrum", lambda: (_m.cosine_spectrum, {"W": _randn(2, 5)}),
     extra=[("shape", "W", _with(W=_randn(3, 2, 5))), ("shape", "W", _with(W=_randn(2, 1)))])
case("polytope_name", lambda: (_m.polytope_name, dict(W=_randn(2, 5), tol=0.12)),
     extra=[("shape", "W", _with(W=_randn(3, 2, 5)))])
case("thomson_points", lambda: (_m.thomson_points, dict(k=4, m=3, steps=2, restarts=1, seed=0)))
case("neuron_feature_groups", lambda: (_m.neuron_feature_groups, dict(W=_randn(3, 5), threshold=0.1)),
     extra=[("shape", "W", _with(W=_randn(2, 3, 5)))])

case("relative_reconstruction_bias", lambda: (_m.relative_reconstruction_bias, dict(x=_randn(6, 4), x_hat=_randn(2, 6, 4, seed=1),
                                                                                  offset=torch.zeros(2, 4))),
     extra=[("shape", "x", _with(x=torch.ones(4))), ("mismatch", "x_hat", _edit("x_hat", lambda t: t[..., :3])),
            ("mismatch", "offset", _with(offset=torch.zeros(3)))])
_GT = dict(latents=torch.relu(_randn(2, 8, 6)), coefficients=torch.relu(_randn(8, 5, seed=1)),
           learned=_randn(2, 6, 4, seed=2), true=_randn(5, 4, seed=3))
case("matched_latents", lambda: (_m.matched_latents, dict(learned=_GT["learned"], true=_GT["true"])),
     extra=[("shape", "learned", _with(learned=torch.ones(4))), ("mismatch", "true", _edit("true", lambda t: t[:, :3]))])
case("latent_precision", lambda: (_m.latent_precision, dict(learned=_GT["learned"], true=_GT["true"], latents=_GT["latents"],
                                                           threshold=0.9)),
     extra=[("shape", "latents", _with(latents=torch.ones(6))), ("mismatch", "latents", _edit("latents", lambda z: z[..., :5])),
            ("range", "threshold", _with(threshold=1.5))])
case("mean_max_correlation", lambda: (_m.mean_max_correlation, dict(latents=_GT["latents"], coefficients=_GT["coefficients"])),
     extra=[("shape", "latents", _with(latents=torch.ones(6))),
            ("mismatch", "coefficients", _edit("coefficients", lambda c: c[:7]))])
case("firing_f1", lambda: (_m.firing_f1, dict(_GT)),
     extra=[("shape", "latents", _with(latents=torch.ones(6))),
            ("mismatch", "coefficients", _edit("coefficients", lambda c: c[:7])),
            ("mismatch", "true", _edit("true", lambda t: t[:4]))])
case("activation_slope", lambda: (_m.activation_slope, dict(_GT, condition="fired")),
     extra=[("shape", "latents", _with(latents=torch.ones(6))),
            ("mismatch", "coefficients", _edit("coefficients", lambda c: c[:7])),
            ("mismatch", "true", _edit("true", lambda t: t[:4]))])

# --- hierarchy ------------------------------------------------------------------------------------
from superpos_lib import hierarchy as _h  # noqa: E402


def _hier():
    return _h.hierarchical_features(n_parents=2, n_children=2, d=4)


case("hierarchical_features", lambda: (_h.hierarchical_features, dict(n_parents=2, n_children=2, d=4, p_parent=0.2,
                                                                     p_child=0.3, seed=0)),
     extra=[("range", "p_child", _with(p_child=0.6)), ("range", "p_parent", _with(p_parent=0.0))])
case("HierarchicalFeatures", lambda: (lambda h: (_h.HierarchicalFeatures, dict(directions=h.directions, parent_of=h.parent_of,
                                                                               n_parents=2, n_children=2, p_parent=0.2,
                                                                               p_child=0.3, generator=_gen())))(_hier()),
     extra=[("shape", "directions", _edit("directions", lambda d: d[:5])),
            ("mismatch", "parent_of", _edit("parent_of", lambda p: p[:5])),
            ("range", "p_child", _with(p_child=1.5))],
     skip={"parent_of:dtype": "covered by the mismatch case"})
case("HierarchicalFeatures.children", lambda: (_hier().children, {"parent": 1}), extra=[("range", "parent", _with(parent=2))])
case("HierarchicalFeatures.sample_coefficients", lambda: (_hier().sample_coefficients, {"batch_size": 3}))
_HC = dict(latents=torch.relu(_randn(2, 8, 6)), coefficients=torch.rand(8, 6))
case("absorption", lambda: (_h.absorption, dict(_HC, learned=_randn(2, 6, 4), hier=_hier())),
     extra=[("shape", "latents", _with(latents=torch.ones(6))), ("mismatch", "coefficients", _edit("coefficients", lambda c: c[:7])),
            ("mismatch", "learned", _edit("learned", lambda l: l[..., :3]))])
case("latents_per_parent", lambda: (_h.latents_per_parent, dict(_HC, hier=_hier(), purity=0.9)),
     extra=[("shape", "latents", _with(latents=torch.ones(6))), ("mismatch", "coefficients", _edit("coefficients", lambda c: c[:7])),
            ("range", "purity", _with(purity=1.5))])

# --- rip ----------------------------------------------------------------------------------------
from superpos_lib import rip as _rip  # noqa: E402

for _name in ("normalize_columns", "mutual_coherence"):
    case(_name, (lambda n: lambda: (getattr(_rip, n), {"A": _randn(3, 6)}))(_name),
         extra=[("shape", "A", _with(A=torch.ones(6))), ("range", "A", _with(A=torch.zeros(3, 6)))])
case("welch_bound", lambda: (_rip.welch_bound, dict(m=3, n=6)), extra=[("range", "n", _with(n=1))])
case("coherence_guarantee", lambda: (_rip.coherence_guarantee, dict(mu=0.5)),
     extra=[("range", "mu", _with(mu=1.5)), ("range", "mu", _with(mu=torch.tensor([0.5, float("nan")])))])
case("rip_exhaustive", lambda: (_rip.rip_exhaustive, dict(A=_randn(4, 6), s=2, max_supports=100, chunk=10)),
     extra=[("shape", "A", _with(A=_randn(2, 4, 6))), ("range", "s", _with(s=5)), ("range", "max_supports", _with(max_supports=2))])
case("scale_optimal_delta", lambda: (_rip.scale_optimal_delta, dict(L=torch.tensor([0.2, 0.5]), U=torch.tensor([0.3, 0.1]))),
     extra=[("shape", "L", _with(L=torch.ones(2, 0))), ("range", "L", _with(L=torch.tensor([1.5, 0.5]))), ("range", "U", _with(U=torch.tensor([-0.1, 0.1]))),
            ("mismatch", "U", _with(U=torch.ones(3)))],
     skip={"L:dtype": "whole numbers are valid", "U:dtype": "whole numbers are valid",
           "L:empty": "an empty grid gives an empty result", "U:empty": "an empty grid gives an empty result"})
case("gershgorin_upper_bound", lambda: (_rip.gershgorin_upper_bound, dict(mu=0.3, s=3)), extra=[("range", "mu", _with(mu=1.5))])
for _name in ("signed_coherence", "rms_coherence", "frame_potential_ratio"):
    case(_name, (lambda n: lambda: (getattr(_rip, n), {"A": _randn(3, 6)}))(_name),
         extra=[("shape", "A", _with(A=_randn(2, 3, 6))), ("range", "A", _with(A=torch.zeros(3, 6)))])
case("etf_possible", lambda: (_rip.etf_possible, dict(m=3, n=6)))
case("rip_lower_bound", lambda: (_rip.rip_lower_bound, dict(A=_randn(4, 8), s=2, n_supports=4, generator=_gen())),
     extra=[("shape", "A", _with(A=torch.ones(8))), ("range", "s", _with(s=5))])
case("extreme_singular_values", lambda: (_rip.extreme_singular_values,
                                         dict(A=_randn(4, 8), s=2, n_supports=4, generator=_gen())),
     extra=[("shape", "A", _with(A=torch.ones(8))), ("range", "s", _with(s=5))])

# --- sensing ------------------------------------------------------------------------------------
from superpos_lib import sensing as _cs  # noqa: E402

case("gaussian_matrix", lambda: (_cs.gaussian_matrix, dict(m=3, n=6, batch=2, generator=_gen())))
case("sparse_signals", lambda: (_cs.sparse_signals, dict(batch=3, n=6, k=2, generator=_gen())),
     extra=[("range", "k", _with(k=7)), ("option", "amplitudes", _with(amplitudes="laplace"))])
case("soft_threshold", lambda: (_cs.soft_threshold, dict(v=_randn(3, 6), t=0.5)),
     extra=[("shape", "v", _with(v=torch.tensor([]))),
            ("range", "t", _with(t=-0.5)),
            ("range", "t", _with(t=torch.tensor([0.5, float("nan"), 0.5, 0.5, 0.5, 0.5]))),
            ("mismatch", "t", _with(t=torch.ones(4)))])
for _name in ("relative_error", "recovery_success"):
    case(_name, (lambda n: lambda: (getattr(_cs, n), {"x_hat": _randn(3, 6), "x": _randn(3, 6, seed=1)}))(_name),
         extra=[("shape", "x", _with(x=torch.ones(6))),
                ("mismatch", "x_hat", _edit("x_hat", lambda t: t[:, :5]))],
         skip={"x_hat:nan": "a diverged solver's NaN counts as a failed recovery"})


def _problem():
    A = _cs.gaussian_matrix(4, 8, generator=_gen(), dtype=torch.float64)
    x = _cs.sparse_signals(3, 8, 1, generator=_gen(1), dtype=torch.float64)
    return A, x @ A.T


case("recover", lambda: (_cs.recover, dict(zip(("A", "y"), _problem()), method="omp", k=1)),
     extra=[("shape", "A", _edit("A", lambda A: A[0])),
            ("mismatch", "y", _edit("y", lambda y: y[:, :3])),
            ("mismatch", "y", _edit("y", lambda y: y.float())),
            ("option", "method", _with(method="cosamp")),
            ("range", "k", _with(k=9))])
case("phase_transition", lambda: (_cs.phase_transition, dict(n=8, deltas=[0.5], rhos=[0.25], trials=2, method="omp",
                                                            generator=_gen(), progress=False)),
     extra=[("range", "deltas", _with(deltas=[1.5])), ("range", "rhos", _with(rhos=[0.0]))])
case("transition_point", lambda: (_cs.transition_point, dict(rhos=[0.1, 0.2, 0.3],
                                                            rates=torch.tensor([[1.0], [0.5], [0.0]]), trials=4)),
     extra=[("shape", "rates", _with(rates=torch.ones(3))),
            ("mismatch", "rates", _with(rates=torch.ones(2, 1))),
            ("range", "rates", _with(rates=torch.full((3, 1), 2.0)))])
case("dt_curve", lambda: (_cs.dt_curve, dict(delta=torch.tensor([0.25, 0.5]))),
     extra=[("shape", "delta", _with(delta=torch.ones(0))), ("range", "delta", _with(delta=torch.tensor([1.5]))), ("option", "signal", _with(signal="complex"))])
case("strong_threshold_asymptotic", lambda: (_cs.strong_threshold_asymptotic, dict(delta=torch.tensor([0.1, 0.2]))),
     extra=[("shape", "delta", _with(delta=torch.ones(0))), ("range", "delta", _with(delta=1.0)), ("range", "delta", _with(delta=torch.tensor([0.0])))])
case("capacity_asymptotic", lambda: (_cs.capacity_asymptotic, dict(delta=torch.tensor([0.25, 0.5]), n=100)),
     extra=[("shape", "delta", _with(delta=torch.ones(0))), ("range", "delta", _with(delta=torch.tensor([0.0])))])

# --- real models --------------------------------------------------------------------------------
from superpos_lib import real_models as _rm  # noqa: E402

case("load_minilm", lambda: (_rm.load_minilm, {"device": None}), run=False)
case("load_corpus", lambda: (_rm.load_corpus, {"max_docs": 3}), run=False)
case("corpus_hash", lambda: (_rm.corpus_hash, {"texts": ["a b", "c"]}))
case("detokenize", lambda: (_rm.detokenize, {"pieces": ["un", "##believ", "##able"]}))
case("record_output", lambda: (_rm.record_output, (lambda m: dict(model=m, module=m.encoder.layer[0], inputs={}))(_FakeBert())),
     extra=[("mismatch", "module", _with(module=nn.Linear(2, 2)))])
case("collect_activations", lambda: (_rm.collect_activations, dict(model=_FakeBert(), tokenizer=_FakeTokenizer(),
                                                                   texts=["a b", "c"], layer=1, progress=False,
                                                                   cache=False)),
     extra=[("range", "layer", _with(layer=2)), ("range", "max_length", _with(max_length=2))], run=False)
case("Activations", lambda: (_rm.Activations, dict(acts=_randn(3, 4), token_ids=torch.tensor([0, 1, 2]),
                                                   doc_index=torch.tensor([0, 0, 1]), position=torch.tensor([0, 1, 0]),
                                                   vocab=["a", "b", "c"], meta={})),
     extra=[("shape", "acts", _with(acts=torch.ones(3))),
            ("mismatch", "token_ids", _with(token_ids=torch.tensor([0, 1]))),
            ("range", "token_ids", _with(token_ids=torch.tensor([0, 1, 3])))],
     skip={"acts:nan": "activations are stored as recorded", "token_ids:empty": "checked by the mismatch case",
           "doc_index:empty": "checked by the mismatch case", "position:empty": "checked by the mismatch case",
           "acts:empty": "an empty stream is a valid (if useless) record"})
case("Activations.tokens", lambda: (_activations().tokens, {"indices": [0, 2]}),
     extra=[("range", "indices", _with(indices=[0, 6])), ("range", "indices", _with(indices=torch.tensor([-7])))])
case("Activations.context", lambda: (_activations().context, dict(index=1, window=2, mark=("[[", "]]"))),
     extra=[("range", "index", _with(index=6)), ("shape", "mark", _with(mark=("[[",)))],
     skip={"mark:bare_string": "checked by the shape case"})
case("top_activating", lambda: (_rm.top_activating, dict(acts=_randn(6, 3), k=2)),
     extra=[("shape", "acts", _with(acts=torch.ones(6))), ("range", "k", _with(k=7))])
case("format_top_examples", lambda: (_rm.format_top_examples, dict(store=_activations(), values=torch.tensor([2.0, 1.0]),
                                                                   indices=torch.tensor([0, 4]), n=2, window=2)),
     extra=[("shape", "values", _with(values=torch.ones(2, 1))),
            ("mismatch", "indices", _with(indices=torch.tensor([0]))),
            ("range", "indices", _with(indices=torch.tensor([0, 6])))])
case("token_mixedness", lambda: (_rm.token_mixedness, dict(values=torch.tensor([[2.0, 1.0]]), indices=torch.tensor([[0, 1]]),
                                                           token_ids=torch.tensor([3, 3, 4]))),
     extra=[("shape", "values", _with(values=torch.ones(2))),
            ("mismatch", "indices", _with(indices=torch.tensor([[0]]))),
            ("range", "indices", _with(indices=torch.tensor([[0, 3]])))],
     skip={"values:nan": "NaN marks a unit with fewer than k positive activations"})
case("pairwise_cosines", lambda: (_rm.pairwise_cosines, dict(x=_randn(4, 3))),
     extra=[("shape", "x", _with(x=torch.ones(3))), ("range", "x", _with(x=torch.zeros(4, 3)))])
case("max_abs_cosine", lambda: (_rm.max_abs_cosine, dict(queries=_randn(2, 3), keys=_randn(4, 3, seed=1),
                                                         query_index=torch.tensor([0, 1]), chunk=1)),
     extra=[("shape", "queries", _with(queries=torch.ones(3))),
            ("mismatch", "keys", _edit("keys", lambda k: k[:, :2])),
            ("mismatch", "keys", _edit("keys", lambda k: k.double())),
            ("range", "query_index", _with(query_index=torch.tensor([0, 4])))])
case("train_sae_cached", lambda: (_rm.train_sae_cached, dict(data=_randn(16, 4), d_sae=6, seed=0, cache=False,
                                                             progress=False, steps=2, batch_size=8)),
     extra=[("shape", "data", _with(data=torch.ones(4)))])
case("ablate_latent", lambda: (_rm.ablate_latent, dict(model=_FakeBert(), tokenizer=_FakeTokenizer(), texts=["a b"],
                                                       sae=_sae(), latent=0, layer=1)),
     extra=[("range", "latent", _with(latent=6)), ("range", "layer", _with(layer=2)),
            ("mismatch", "sae", _with(sae=None))], run=False)

_MODEL_ONLY = "needs the packaged model (tested in test_real_models)"


def _bert_call(fn, **kwargs):
    return lambda: (fn, dict(model=_FakeBert(), tokenizer=_FakeTokenizer(), texts=["a b", "c"], **kwargs))


def _llama_call(fn, **kwargs):
    return lambda: (fn, dict(model=_FakeLlama(), tokenizer=_FakeTokenizer(), texts=["a b", "c"], **kwargs))


case("Activations.select", lambda: (_activations().select, {"keep": torch.tensor([True, False] * 3)}),
     extra=[("shape", "keep", _with(keep=torch.tensor([True])))])
case("vocabulary", lambda: (_rm.vocabulary, dict(tokenizer=_FakeTokenizer(), wordpiece=True)))
case("split_corpus", lambda: (_rm.split_corpus, dict(texts=["a", "b", "c", "d"], held_out=0.25, seed=0)),
     extra=[("range", "held_out", _with(held_out=1.0)), ("range", "texts", _with(texts=["a"]))])
case("cached", lambda: (_rm.cached, dict(name="x", settings={}, compute=lambda: 1, tensors=(torch.ones(2),), cache=False)),
     extra=[("type", "tensors", _with(tensors=("a",)))])
case("random_unit_directions", lambda: (_rm.random_unit_directions, dict(n=3, d=4, seed=0)))
case("pca_directions", lambda: (_rm.pca_directions, dict(acts=_randn(6, 4), n=2)),
     extra=[("shape", "acts", _with(acts=torch.ones(4))), ("range", "n", _with(n=5))])
case("next_token_loss", lambda: (_rm.next_token_loss, dict(logits=_randn(2, 3, 8), input_ids=torch.zeros(2, 3, dtype=torch.long),
                                                           attention_mask=torch.ones(2, 3, dtype=torch.long))),
     extra=[("shape", "logits", _with(logits=_randn(2, 3))),
            ("mismatch", "input_ids", _with(input_ids=torch.zeros(2, 4, dtype=torch.long)))],
     skip={"input_ids:empty": "covered by the mismatch case", "attention_mask:empty": "covered by the mismatch case"})
case("loss_recovered", lambda: (_rm.loss_recovered, dict(clean=1.0, spliced=1.5, ablated=3.0)),
     extra=[("range", "ablated", _with(ablated=1.0))])
case("sae_splice", lambda: (_rm.sae_splice, dict(sae=_sae(), instance=1, scale=0.5)),
     extra=[("range", "instance", _with(instance=2)), ("range", "scale", _with(scale=0.0)),
            ("range", "scale", _with(scale=-2.0))])
case("site_module", lambda: (_rm.site_module, dict(model=_FakeBert(), layer=1, site="resid")),
     extra=[("range", "layer", _with(layer=2))])
case("sentence_embeddings", lambda: (_rm.sentence_embeddings, dict(model=_FakeBert(), inputs={"attention_mask": torch.ones(1, 2)},
                                                                   hook=lambda *a: None, layer=1)),
     extra=[("range", "layer", _with(layer=5))], run=False)
case("logit_effects", lambda: (_rm.logit_effects, dict(model=_FakeLlama(), direction=_randn(4), k=2)),
     extra=[("shape", "direction", _with(direction=_randn(5)))])
case("generate", lambda: (_rm.generate, dict(model=_FakeLlama(), tokenizer=_FakeTokenizer(), prompt="Hi", n_tokens=2,
                                             layer=1, direction=_randn(4))),
     extra=[("shape", "direction", _with(direction=_randn(5))), ("mismatch", "direction", _with(direction=None)),
            ("mismatch", "edit", _with(edit=lambda h: h)), ("type", "edit", _with(direction=None, edit=3))],
     skip={"prompt:option": "any prompt"}, run=False)
case("clamp_latent", lambda: (_rm.clamp_latent, dict(sae=_sae(), latent=5, value=2.0, scale=0.5, instance=1)),
     extra=[("range", "latent", _with(latent=6)), ("range", "instance", _with(instance=2)),
            ("range", "scale", _with(scale=0.0))],
     skip={"value:option": "any finite value"})
case("latent_activations", lambda: (_rm.latent_activations, dict(model=_FakeBert(), tokenizer=_FakeTokenizer(),
                                                                 texts=["a b"], sae=_sae(), layer=1)), run=False)
case("subtract_directions", _bert_call(_rm.subtract_directions, layer=1, directions=_randn(2, 4),
                                       coefficients=torch.ones(2, 3)),
     extra=[("shape", "directions", _with(directions=_randn(2, 5))),
            ("mismatch", "coefficients", _with(coefficients=torch.ones(3, 2, 3)))], run=False)
case("latent_ablation_controls", _bert_call(_rm.latent_ablation_controls, sae=_sae(), latent=0, layer=1, n_controls=2),
     extra=[("range", "latent", _with(latent=6))], run=False)
case("embedding_similarity_recovered", _bert_call(_rm.embedding_similarity_recovered, sae=_sae(), layer=1,
                                                  mean=torch.zeros(4)),
     extra=[("shape", "mean", _with(mean=torch.zeros(5)))], run=False)
case("spliced_losses", _llama_call(_rm.spliced_losses, layer=1, replacements={"zero": "zero"}, mean=torch.zeros(4),
                                   batch_size=2, progress=False),
     extra=[("option", "replacements", _with(replacements={"x": "median"})), ("shape", "mean", _with(mean=torch.zeros(5))),
            ("range", "keep_norm_above", _with(keep_norm_above=0.0)),
            ("type", "keep_norm_above", _with(keep_norm_above="large")),
            ("range", "keep_norm_above", _with(keep_norm_above=float("nan")))],
     run=False)
case("ce_loss_recovered", _llama_call(_rm.ce_loss_recovered, sae=_sae(), layer=1, baseline="mean", mean=torch.zeros(4),
                                      batch_size=2),
     extra=[("shape", "mean", _with(mean=torch.zeros(5))), ("mismatch", "sae", _with(sae=_s_sae_wide()))], run=False)
case("norm_scale", lambda: (_rm.norm_scale, {"acts": _randn(6, 4)}), extra=[("shape", "acts", _with(acts=torch.ones(4))),
                                                                        ("range", "acts", _with(acts=torch.zeros(6, 4)))])
case("ScaledSAE", lambda: (_rm.ScaledSAE, dict(sae=_sae(), scale=2.0)), extra=[("range", "scale", _with(scale=0.0))])
for _method in ("encode", "forward"):
    case(f"ScaledSAE.{_method}", (lambda m: lambda: (getattr(_rm.ScaledSAE(_sae(), 2.0), m), {"x": _randn(5, 4)}))(_method),
         extra=[("shape", "x", _with(x=_randn(5, 3)))])
case("ScaledSAE.decode", lambda: (_rm.ScaledSAE(_sae(), 2.0).decode, {"z": torch.relu(_randn(2, 5, 6))}),
     extra=[("shape", "z", _with(z=_randn(2, 5, 4)))])
case("load_smollm", lambda: (_rm.load_smollm, {"device": None}), run=False)

# --- sparse autoencoders ------------------------------------------------------------------------
from superpos_lib import sae as _s  # noqa: E402


def _sae_call(method, **kwargs):
    return lambda: (getattr(_sae(**kwargs), method), {})


case("SparseAutoencoder", lambda: (_s.SparseAutoencoder, dict(d_in=4, d_sae=6, activation="topk", k=2, n_instances=2)),
     extra=[("range", "k", _with(k=7)), ("mismatch", "k", _with(k=[1, 2, 3])), ("mismatch", "k", _with(activation="relu")),
            ("range", "threshold", _with(activation="jumprelu", k=None, threshold=-0.1))])
for _method in ("encode", "forward", "pre_activations"):
    case(f"SparseAutoencoder.{_method}", (lambda m: lambda: (getattr(_sae(), m), {"x": _randn(5, 4)}))(_method),
         extra=[("shape", "x", _with(x=_randn(5, 3))), ("shape", "x", _with(x=_randn(3, 5, 4))),
                ("shape", "x", _with(x=torch.ones(4)))])
case("SparseAutoencoder.magnitude_pre_activations",
     lambda: (_sae(activation="gated").magnitude_pre_activations, {"x": _randn(5, 4)}),
     extra=[("shape", "x", _with(x=_randn(5, 3)))])
case("SparseAutoencoder.activate", lambda: (_sae(activation="topk", k=2).activate, {"pre": _randn(2, 5, 6)}),
     extra=[("shape", "pre", _with(pre=_randn(5, 6))), ("shape", "pre", _with(pre=_randn(2, 5, 1))),
            ("shape", "pre", _with(pre=_randn(3, 5, 6))), ("empty", "pre", _with(pre=_randn(2, 0, 6))),
            ("mismatch", "x", _with(x=_randn(4, 4)))])
case("SparseAutoencoder.decode", lambda: (_sae().decode, {"z": torch.relu(_randn(2, 5, 6))}),
     extra=[("shape", "z", _with(z=_randn(2, 5, 4))), ("shape", "z", _with(z=_randn(5, 6)))])
case("SparseAutoencoder.normalize_decoder", lambda: (_sae().normalize_decoder, {}))


def _loss_args():
    sae = _sae()
    x = _randn(5, 4)
    x_hat, z = sae(x)
    return dict(x=x, x_hat=x_hat.detach(), z=z.detach(), W_dec=sae.W_dec.detach(), l1_coeff=torch.tensor([0.1, 0.2]))


case("sae_loss", lambda: (_s.sae_loss, _loss_args()),
     extra=[("shape", "x", _edit("x", lambda x: x[:, :3])),
            ("mismatch", "z", _edit("z", lambda z: z[:, :4])),
            ("mismatch", "z", _edit("z", lambda z: z[:1])),
            ("mismatch", "W_dec", _edit("W_dec", lambda W: W[:, :5])),
            ("mismatch", "z", _edit("z", lambda z: z.double())),
            ("mismatch", "l1_coeff", _with(l1_coeff=torch.tensor([0.1, 0.2, 0.3]))),
            ("range", "l1_coeff", _with(l1_coeff=-0.1)), ("type", "l1_coeff", _with(l1_coeff="0.1")),
            ("nan", "l1_coeff", _with(l1_coeff=float("nan"))),
            ("empty", "x_hat", lambda kw: {**kw, "x": kw["x"][:0], "x_hat": kw["x_hat"][:, :0], "z": kw["z"][:, :0]})],
     skip={"l1_coeff:dtype": "whole-number coefficients are valid"})
case("resample_dead_latents", lambda: (_s.resample_dead_latents, dict(sae=_sae(), x=_randn(5, 4),
                                                                     dead=torch.zeros(2, 6, dtype=torch.bool),
                                                                     generator=_gen())),
     extra=[("shape", "x", _with(x=_randn(5, 3))), ("empty", "x", _with(x=_randn(0, 4))),
            ("mismatch", "dead", _with(dead=torch.zeros(2, 5, dtype=torch.bool)))],
)
case("train_sae", lambda: (_s.train_sae, dict(sae=_sae(), data=_randn(16, 4), steps=2, batch_size=8, progress=False)),
     extra=[("shape", "data", _with(data=_randn(16, 3))), ("empty", "data", _with(data=_randn(0, 4))),
            ("mismatch", "l1_coeff", _with(l1_coeff=[0.1, 0.2, 0.3])), ("mismatch", "lr", _with(lr=[1e-3, 1e-2, 1e-1])),
            ("range", "lr", _with(lr=[1e-3, -1e-2]))])
case("synthetic_features", lambda: (_s.synthetic_features, dict(n_features=8, d=4, mean_active=2.0)),
     extra=[("range", "mean_active", _with(mean_active=9.0))])
case("SyntheticFeatures", lambda: (_s.SyntheticFeatures, dict(directions=_randn(8, 4), probabilities=torch.full((8,), 0.25),
                                                             generator=_gen())),
     extra=[("shape", "directions", _with(directions=_randn(8))),
            ("mismatch", "probabilities", _with(probabilities=torch.full((7,), 0.25))),
            ("range", "probabilities", _with(probabilities=torch.full((8,), 1.5))),
            ("type", "generator", _with(generator=None))])
case("SyntheticFeatures.sample_coefficients",
     lambda: (_s.synthetic_features(8, 4, mean_active=2.0).sample_coefficients, {"batch_size": 3}))
case("auxk_loss", lambda: (_s.auxk_loss, dict(e_hat=_randn(2, 5, 4), e=_randn(2, 5, 4, seed=1))),
     extra=[("shape", "e", _with(e=torch.ones(4))), ("mismatch", "e", _edit("e", lambda e: e[:, :, :3]))])
for _name in ("jumprelu", "heaviside_step"):
    case(_name, (lambda n: lambda: (getattr(_s, n), dict(pre=_randn(2, 5, 6), threshold=torch.full((2, 1, 6), 0.1),
                                                           bandwidth=0.05)))(_name),
         extra=[("shape", "pre", _with(pre=torch.tensor(1.0))),
                ("mismatch", "threshold", _with(threshold=torch.full((3, 1, 6), 0.1))),
                ("range", "bandwidth", _with(bandwidth=0.0))])

# --- plots, widgets -----------------------------------------------------------------------------
from superpos_lib import plots as _p  # noqa: E402
from superpos_lib import widgets as _w  # noqa: E402

case("figure_to_png", lambda: (_p.figure_to_png, dict(fig=_figure(), dpi=40)))
case("sparsity_axis", lambda: (_p.sparsity_axis, dict(ax=_figure().axes[0], which="x")))
case("frame_slider", lambda: (_w.frame_slider, dict(frames=[b"png", _figure()], labels=["a", "b"], dpi=40)),
     extra=[("mismatch", "labels", _with(labels=["a"])), ("type", "frames", _with(frames=[b"png", "figure"])),
            ("shape", "frames", _with(frames=[]))],
     skip={"frames:bare_string": "covered by the type case"})
case("live_explorer", lambda: (_w.live_explorer, dict(plot=lambda p: None, p=(0.0, 1.0, 0.5))),
     skip={"p:type": "any control interact accepts", "p:nan": "any control interact accepts"}, run=False)
case("plot_neuron_weights", lambda: (_p.plot_neuron_weights, dict(W=_randn(2, 5))),
     extra=[("shape", "W", _with(W=torch.ones(5)))])
case("plot_weight_heatmap", lambda: (_p.plot_weight_heatmap, dict(W=_randn(2, 5))),
     extra=[("shape", "W", _with(W=torch.ones(5)))])
case("plot_against_probability", lambda: (_p.plot_against_probability,
                                           dict(feature_probability=torch.tensor([0.1, 0.5]),
                                                curves={"a": torch.tensor([1.0, 2.0])}, ylabel="y")),
     extra=[("mismatch", "curves", _with(curves={"a": torch.tensor([1.0])})),
            ("range", "feature_probability", _with(feature_probability=torch.tensor([0.0, 0.5]))),
            ("shape", "feature_probability", _with(feature_probability=torch.ones(0)))])
case("plot_cosine_distributions", lambda: (_p.plot_cosine_distributions,
                                           dict(pairs_real=_randn(8), pairs_random=_randn(8, seed=1),
                                                nearest_real=torch.rand(4), nearest_random=torch.rand(4), welch=0.1)),
     extra=[("range", "welch", _with(welch=1.5)), ("shape", "pairs_real", _with(pairs_real=torch.ones(2, 2)))],
     skip={**{f"{a}:nan": "NaN entries are dropped" for a in ("pairs_real", "pairs_random", "nearest_real", "nearest_random")},
           "*:mismatch": "four independent samples: their sizes need not agree"})
case("plot_mixedness", lambda: (_p.plot_mixedness, dict(neurons=torch.tensor([1.0, 2.0]), latents=torch.tensor([1.0, 1.5]), k=4)),
     extra=[("range", "neurons", _with(neurons=torch.tensor([3.0]))), ("shape", "neurons", _with(neurons=torch.ones(2, 2))), ("range", "latents", _with(latents=torch.tensor([5.0])))],
     skip={"*:mismatch": "two independent sets of units: their sizes need not agree",
           "neurons:nan": "NaN marks units that rarely fire (token_mixedness)",
           "latents:nan": "NaN marks units that rarely fire (token_mixedness)"})
case("plot_activation_density", lambda: (_p.plot_activation_density, dict(firing_fraction=torch.tensor([0.1, 0.001, 0.0]))),
     extra=[("shape", "firing_fraction", _with(firing_fraction=torch.ones(2, 2))),
            ("range", "firing_fraction", _with(firing_fraction=torch.tensor([1.5])))],
     skip={"firing_fraction:nan": "NaN entries are left out, as in the other real-model plots"})
case("plot_mixedness_many", lambda: (_p.plot_mixedness_many, dict(entropies={"a": torch.tensor([0.5, 1.0])}, k=4)),
     extra=[("range", "entropies", _with(entropies={"a": torch.tensor([5.0])})), ("type", "entropies", _with(entropies={"a": "x"}))])
case("plot_ablation_controls", lambda: (_p.plot_ablation_controls,
                                        dict(effects={"pairs": (0.1, torch.rand(5), torch.rand(3))})),
     extra=[("type", "effects", _with(effects={"pairs": (0.1, "x", torch.rand(3))})),
            ("shape", "effects", _with(effects={"pairs": (0.1, torch.rand(5))}))])
case("plot_loss_frontier", lambda: (_p.plot_loss_frontier, dict(points={"relu": [(10.0, 0.9), (20.0, 0.95)]})),
     extra=[("type", "points", _with(points={"relu": [(10.0,)]})), ("nan", "points", _with(points={"relu": [(10.0, float("nan"))]}))],
     skip={"baseline:option": "an axis label", "baseline:type": "an axis label"})
case("plot_latent_histogram", lambda: (_p.plot_latent_histogram, dict(values=torch.rand(20))),
     extra=[("shape", "values", _with(values=torch.rand(4, 5)))],
     skip={"values:nan": "NaN entries are left out, as in the other real-model plots"})
case("plot_norms_by_position", lambda: (_p.plot_norms_by_position, dict(norms=torch.rand(6) + 1, position=torch.tensor([0, 1, 2, 0, 1, 2]),
                                                                        max_position=3)),
     extra=[("shape", "norms", _with(norms=torch.rand(2, 3))), ("mismatch", "position", _with(position=torch.tensor([0, 1])))])
case("plot_frontier", lambda: (_p.plot_frontier, dict(curves={"relu": ([1.0, 2.0], [0.5, 0.2], ["a", "b"])})),
     extra=[("mismatch", "curves", _with(curves={"relu": ([1.0, 2.0], [0.5], ["a", "b"])}))])
case("plot_dead_fraction", lambda: (_p.plot_dead_fraction,
                                    dict(histories={"a": {"step": torch.arange(3), "dead_fraction": torch.zeros(3, 1)}})),
     extra=[("type", "histories", _with(histories={"a": 3}))])
case("plot_best_match", lambda: (_p.plot_best_match, dict(best_cos=torch.rand(5), probabilities=torch.rand(5) * 0.9 + 0.05)),
     extra=[("shape", "best_cos", _with(best_cos=torch.rand(5, 1))),
            ("mismatch", "probabilities", _with(probabilities=torch.rand(4)))])
case("plot_sensing_phase_diagram", lambda: (_p.plot_sensing_phase_diagram,
                                            dict(rates=torch.rand(2, 3), deltas=[0.2, 0.5, 0.8], rhos=[0.2, 0.6])),
     extra=[("shape", "rates", _with(rates=torch.rand(6))), ("mismatch", "rates", _with(rates=torch.rand(3, 2))),
            ("range", "rates", _with(rates=torch.full((2, 3), 2.0))), ("option", "signal", _with(signal="complex"))])
case("plot_recovery", lambda: (_p.plot_recovery, dict(x=_randn(6), x_hat=_randn(6, seed=1))),
     extra=[("shape", "x", _with(x=torch.ones(2, 3), x_hat=torch.ones(2, 3))),
            ("mismatch", "x_hat", _with(x_hat=torch.ones(5)))])
case("plot_dimensions_per_feature", lambda: (_p.plot_dimensions_per_feature,
                                             dict(feature_probability=torch.tensor([0.1, 0.5]),
                                                  dimensions_per_feature=torch.tensor([0.4, 1.0]))),
     extra=[("mismatch", "dimensions_per_feature", _with(dimensions_per_feature=torch.tensor([1.0]))),
            ("shape", "feature_probability", _with(feature_probability=torch.ones(0)))])
case("plot_feature_directions", lambda: (_p.plot_feature_directions, dict(W=_randn(2, 5), groups=[0, 0, 1, 1, 2])),
     extra=[("shape", "W", _with(W=_randn(3, 5))), ("mismatch", "groups", _with(groups=[0, 1]))])
case("plot_features_2d", lambda: (_p.plot_features_2d, dict(W=_randn(2, 2, 5), feature_probability=torch.tensor([0.1, 0.5]),
                                                            importance=torch.ones(5))),
     extra=[("shape", "W", _with(W=_randn(2, 3, 5))),
            ("mismatch", "feature_probability", _with(feature_probability=torch.tensor([0.5]))),
            ("mismatch", "importance", _with(importance=torch.ones(4)))])
case("plot_superposition_bars", lambda: (_p.plot_superposition_bars, dict(W=_randn(2, 2, 5),
                                                                          feature_probability=torch.tensor([0.1, 0.5]))),
     extra=[("shape", "W", _with(W=_randn(2, 5))),
            ("mismatch", "feature_probability", _with(feature_probability=torch.tensor([0.5])))])
case("plot_dimensionality", lambda: (_p.plot_dimensionality, dict(W=_randn(2, 2, 5),
                                                                  feature_probability=torch.tensor([0.1, 0.5]))),
     extra=[("shape", "W", _with(W=_randn(2, 5))),
            ("mismatch", "feature_probability", _with(feature_probability=torch.tensor([0.5])))])
case("plot_phase_diagram", lambda: (_p.plot_phase_diagram, dict(relative_importance=torch.tensor([0.5, 1.0, 2.0]),
                                                                feature_probability=torch.tensor([0.1, 0.5]),
                                                                phase=torch.zeros(2, 3, dtype=torch.long))),
     extra=[("shape", "phase", _with(phase=torch.zeros(6, dtype=torch.long))),
            ("mismatch", "phase", _with(phase=torch.zeros(3, 2, dtype=torch.long))),
            ("range", "phase", _with(phase=torch.full((2, 3), 7)))])
case("importance_colorbar", lambda: (lambda f: (_p.importance_colorbar, dict(fig=f, axes=f.axes[0],
                                                                              importance=torch.arange(5.0))))(_figure()),
     extra=[("shape", "importance", _with(importance=torch.ones(0)))],
     skip={"importance:dtype": "whole-number weights are valid"})
case("plot_dimensionality_dynamics", lambda: (_p.plot_dimensionality_dynamics,
                                              dict(steps=torch.tensor([0, 10, 20]), D=torch.rand(3, 4),
                                                   loss=torch.rand(5), loss_steps=torch.arange(5))),
     extra=[("shape", "D", _with(D=torch.rand(3))), ("mismatch", "D", _with(D=torch.rand(2, 4))),
            ("mismatch", "loss_steps", _with(loss_steps=torch.arange(4)))])
case("plot_loss_terms", lambda: (_p.plot_loss_terms, dict(feature_probability=torch.tensor([0.1, 0.5]),
                                                          terms={"a": torch.tensor([1.0, 2.0])}, total=torch.tensor([1.0, 2.0]))),
     extra=[("shape", "feature_probability", _with(feature_probability=torch.full((2, 2, 2), 0.5))), ("mismatch", "terms", _with(terms={"a": torch.tensor([1.0])})),
            ("mismatch", "total", _with(total=torch.tensor([1.0]))),
            ("range", "feature_probability", _with(feature_probability=torch.tensor([0.0, 0.5])))])
case("plot_nonuniform", lambda: (_p.plot_nonuniform, dict(ratio=torch.tensor([0.5, 1.0, 2.0]), D=torch.rand(3, 4),
                                                          norms=torch.rand(3, 4), xlabel="ratio", snap=1.0)),
     extra=[("shape", "D", _with(D=torch.rand(3))), ("mismatch", "norms", _with(norms=torch.rand(3, 5)))])
case("plot_phase_crossing", lambda: (_p.plot_phase_crossing, dict(feature_probability=torch.tensor([0.1, 0.5]),
                                                                  losses={"a": torch.tensor([1.0, 2.0])},
                                                                  weight=torch.tensor([0.5, 1.0]))),
     extra=[("shape", "feature_probability", _with(feature_probability=torch.full((2, 2, 2), 0.5))), ("mismatch", "losses", _with(losses={"a": torch.tensor([1.0])})),
            ("mismatch", "weight", _with(weight=torch.tensor([1.0]))),
            ("range", "feature_probability", _with(feature_probability=torch.tensor([0.0, 0.5])))])
case("plot_vulnerability", lambda: (_p.plot_vulnerability, dict(feature_probability=torch.tensor([0.1, 0.5]),
                                                                curves={"a": torch.tensor([1.0, 2.0])}, ylabel="y")),
     extra=[("shape", "feature_probability", _with(feature_probability=torch.full((2, 2, 2), 0.5))), ("mismatch", "curves", _with(curves={"a": torch.tensor([1.0])})),
            ("range", "feature_probability", _with(feature_probability=torch.tensor([0.0, 0.5])))])
case("plot_cosine_spectra", lambda: (_p.plot_cosine_spectra, dict(panels={"4 in 3": {"a": torch.linspace(-1, 0, 6),
                                                                                   "b": torch.zeros(6)}})),
     extra=[("mismatch", "panels", _with(panels={"4 in 3": {"a": torch.zeros(6), "b": torch.zeros(5)}})),
            ("range", "panels", _with(panels={"4 in 3": {"a": torch.full((6,), 2.0)}})),
            ("range", "panels", _with(panels={})), ("type", "panels", _with(panels={"4 in 3": 3}))])
case("plot_phase_diagrams", lambda: (_p.plot_phase_diagrams, dict(panels={"l1": (torch.rand(2, 3), torch.rand(2, 3) * 0.5 + 0.1)},
                                                                  deltas=[0.2, 0.5, 0.8], signal="signed", reference="l1")),
     extra=[("mismatch", "panels", _with(panels={"l1": (torch.rand(2, 3), torch.rand(2, 2))})),
            ("range", "panels", _with(panels={"l1": (torch.full((2, 3), 2.0), torch.rand(2, 3))})),
            ("type", "panels", _with(panels={"l1": 3}))])
case("plot_represented_counts", lambda: (_p.plot_represented_counts,
                                         dict(feature_probability=torch.tensor([0.1, 0.5]),
                                              counts={"relu": torch.tensor([3.0, 2.0])}, d_hidden=2, n_features=5)),
     extra=[("shape", "feature_probability", _with(feature_probability=torch.full((2, 2, 2), 0.5))), ("mismatch", "counts", _with(counts={"relu": torch.tensor([3.0])}))])

# --- exercise builder, notebooks, checkers --------------------------------------------------------
from superpos_lib import exercises as _ex  # noqa: E402
from superpos_lib import notebook as _nbk  # noqa: E402
from superpos_lib.checks import check as _check  # noqa: E402

_ROOT = Path(__file__).resolve().parents[1]
case("stub_source", lambda: (_ex.stub_source, {"source": "def f(x):\n    return x\n"}),
     extra=[("range", "source", _with(source="x = 1\n"))], skip={"source:option": "any source text"})
case("student_notebook", lambda: (_ex.student_notebook, dict(chapter=_notebook(), chapter_name="01_x.ipynb")),
     extra=[("type", "chapter", _with(chapter={"cells": 3}))], skip={"chapter_name:option": "a file name"})
case("has_exercises", lambda: (_ex.has_exercises, {"chapter": _notebook()}))
case("render", lambda: (_ex.render, {"root": _ROOT}), run=False)
case("build", lambda: (_ex.build, {"root": _ROOT}), extra=[("range", "out", _with(out=Path("/tmp")))], run=False)
case("stale", lambda: (_ex.stale, {"root": _ROOT}), run=False)
case("setup_notebook", lambda: (_nbk.setup_notebook, dict(seed=0, device="cpu")), run=False)
from superpos_lib.checks import check_or_reference as _check_or_reference  # noqa: E402
from superpos_lib.checks import reference_implementation as _reference_implementation  # noqa: E402
from superpos_lib.checks import labels as _labels  # noqa: E402

case("overlap_sign_label", lambda: (_labels.overlap_sign_label, dict(mu_plus=torch.rand(3), mu_minus=torch.rand(3))),
     extra=[("shape", "mu_plus", _with(mu_plus=torch.rand(3, 1))), ("mismatch", "mu_minus", _with(mu_minus=torch.rand(4)))])
case("least_absorption_label", lambda: (_labels.least_absorption_label,
                                        {"absorption_rates": {16: torch.rand(3), 64: torch.rand(3)}}),
     extra=[("range", "absorption_rates", _with(absorption_rates={})),
            ("nan", "absorption_rates", _with(absorption_rates={16: torch.tensor([float("nan")])}))])
case("amortisation_gap_label", lambda: (_labels.amortisation_gap_label, dict(fvu_encoder=0.2, fvu_solver=0.1)),
     extra=[("range", "fvu_encoder", _with(fvu_encoder=0.0)), ("range", "fvu_solver", _with(fvu_solver=-0.1)),
            ("range", "tolerance", _with(tolerance=1.5))])
case("ablation_effect_label", lambda: (_labels.ablation_effect_label, dict(effects=torch.rand(3), controls=torch.rand(3, 5))),
     extra=[("shape", "effects", _with(effects=torch.rand(3, 1))), ("mismatch", "controls", _with(controls=torch.rand(4, 5))),
            ("range", "controls", _with(controls=torch.rand(3, 1))), ("range", "controls", _with(controls=[]))])

_FRONTIER = [(8.0, 0.79), (16.0, 0.85), (32.0, 0.88)]
case("frontier_gap_label", lambda: (_labels.frontier_gap_label, dict(reference=_FRONTIER, other=[(5.0, 0.3), (35.0, 0.6)],
                                                                      l0=20.0)),
     extra=[("range", "l0", _with(l0=40.0)), ("shape", "other", _with(other=[(5.0, 0.3)])),
            ("range", "reference", _with(reference=[(0.0, 0.3), (8.0, 0.5)])), ("range", "tolerance", _with(tolerance=-0.1)),
            ("nan", "other", _with(other=[(5.0, float("nan")), (35.0, 0.6)]))])

from superpos_lib.exercises import grader as _grader  # noqa: E402

from superpos_lib.checks import three_feature_phase_label as _three_feature_phase_label  # noqa: E402
case("three_feature_phase_label", lambda: (_three_feature_phase_label, dict(W=_randn(2, 3))),
     extra=[("shape", "W", _with(W=_randn(2, 4)))])
case("check_or_reference", lambda: (_check_or_reference, dict(exercise="feature_norms", fn=lambda W: W.norm(dim=-2))),
     skip={"fn:type": "a non-function is reported in plain words (test_checkers_never_raise)"})
case("reference_implementation", lambda: (_reference_implementation, {"exercise": "feature_norms"}))
case("grade_notebook", lambda: (_grader.grade_notebook, dict(path=_ROOT / "exercises" / "missing.ipynb", timeout=10.0,
                                                            student="s")),
     skip={"student:option": "any name", "path:type": "a missing or unreadable notebook is a failed grade, not an error"},
     run=False)
case("grade", lambda: (_grader.grade, dict(paths=[_ROOT / "exercises" / "missing.ipynb"], timeout=10.0, progress=None)),
     extra=[("type", "paths", _with(paths="exercises/01.ipynb")), ("type", "progress", _with(progress="print"))],
     run=False)
case("summary", lambda: (_grader.summary, {"grades": [_grader.NotebookGrade(Path("a.ipynb"), "s", "ok")]}),
     extra=[("type", "grades", _with(grades="a.ipynb")), ("type", "grades", _with(grades=[Path("a.ipynb")]))])
case("write_csv", lambda: (_grader.write_csv, {"grades": [], "csv_path": Path(tempfile.gettempdir()) / "api_grades.csv"}),
     extra=[("type", "grades", _with(grades=[None])), ("type", "csv_path", _with(csv_path=5)),
            ("range", "csv_path", _with(csv_path=Path(tempfile.gettempdir())))],
     skip={"csv_path:type": "any non-empty string is a file name (a bare string is not a mistake here)"})
case("repository_url", lambda: (_nbk.repository_url, {"root": _ROOT}), extra=[("range", "root", _with(root=Path("/")))])
case("setup_cell_source", lambda: (_nbk.setup_cell_source, {"url": "https://github.com/x/y"}))
case("sync_notebook", lambda: (_nbk.sync_notebook, dict(nb=_notebook(), source="import superpos_lib", executed=False)),
     skip={"source:option": "any source"})
case("sync", lambda: (_nbk.sync, dict(root=_ROOT, write=False)), extra=[("type", "write", _with(write="no"))], run=False)
from superpos_lib.checks import _answers  # noqa: E402

def _with_probe_answers(fn):
    """``fn`` with two answer exercises registered for the duration of each call (then removed, so the
    registry the other tests see is unchanged)."""
    import functools

    @functools.wraps(fn)
    def call(**kwargs):
        probes = {"api_probe_choice": _answers.AnswerSpec(None, False, ("a", "b"), ""),
                  "api_probe_number": _answers.AnswerSpec(0.1, False, None, "")}
        _answers._ANSWERS.update(probes)
        try:
            return fn(**kwargs)
        finally:
            for name in probes:
                _answers._ANSWERS.pop(name, None)
    return call


case("check_answer", lambda: (_with_probe_answers(_answers.check_answer), dict(exercise="api_probe_choice", answer="a", truth="a")),
     extra=[("range", "truth", _with(truth="c")), ("type", "truth", _with(exercise="api_probe_number", truth="x"))],
     skip={"answer:option": "a wrong answer is reported as a CheckResult", "answer:type": "a wrong answer is reported as a CheckResult",
           "truth:type": "covered by the explicit cases (a number exercise)"})
case("register_answer", lambda: (_answers.register_answer, dict(name="api_validation_probe", tolerance=0.1, explanation="e")),
     extra=[("range", "tolerance", _with(tolerance=-1.0)), ("mismatch", "choices", _with(choices=["a"])),
            ("type", "choices", _with(tolerance=None, choices="ab"))],
     skip={"name:option": "any new name is valid", "explanation:option": "free text"}, run=False)
case("check", lambda: (_check, dict(exercise="feature_norms", fn=lambda W: W.norm(dim=-2))),
     skip={"fn:type": "a non-function is reported as a CheckResult (test_checkers_never_raise)"})


# --------------------------------------------------------------------------------------------
# Deriving malformed calls
# --------------------------------------------------------------------------------------------

_FREE_TEXT = {"title", "label", "description", "desc", "xlabel", "ylabel", "label_real", "label_random",
              "label_neurons", "label_latents", "cmap", "chapter_name", "what", "source", "weight_label",
              "analytic_title", "colorbar_label"}


def _bad_values(name: str, value: Any):
    """``(kind, malformed value)`` pairs for an argument whose valid value is ``value``."""
    if name == "device":
        yield "device", "tpu"
        yield "device", 3
        return
    if name.endswith("generator"):
        yield "generator", 0
        yield "generator", "seed"
        return
    if name == "dtype":
        yield "dtype", torch.int64
        yield "dtype", "float32"
        return
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, torch.Tensor):
        yield "type", "not a tensor"
        if value.is_floating_point():
            if value.numel():
                yield "nan", _nan(value)
            yield "dtype", value.round().long()
        elif value.dtype != torch.bool:
            yield "dtype", value.float() + 0.5
        if value.numel():
            yield "empty", value.new_empty((0,) * max(value.ndim, 1))
    elif isinstance(value, int):
        yield "type", "3"
        yield "fraction", 2.5
        yield "negative", -1
    elif isinstance(value, float):
        yield "nan", float("nan")
        yield "type", "0.5"
    elif isinstance(value, str):
        if name not in _FREE_TEXT:
            yield "option", "no-such-option"
            yield "type", 3
    elif isinstance(value, (list, tuple)):
        if value and all(isinstance(x, str) for x in value):
            yield "bare_string", "abc"
            yield "type", [3] * len(value)
        elif value and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in value):
            yield "type", "abc"
            yield "nan", [float("nan")] * len(value)
    else:
        yield "type", "not the right object"


def _malformed(entry: Case):
    """Every ``(kind, argument, kwargs)`` malformed call of an entry."""
    target, kwargs = entry.make()
    signature = inspect.signature(target)
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if param.name in kwargs:
            value = kwargs[param.name]
        elif param.name in ("device", "generator", "dtype") or param.default is not param.empty:
            value = param.default  # arguments left at their default are checked too
        else:
            continue
        for kind, bad in _bad_values(param.name, value):
            if kind == "dtype" and isinstance(value, torch.Tensor) and getattr(target, "__name__", "").startswith("plot_"):
                continue  # a plot draws integer values as well as floats
            if f"{param.name}:{kind}" not in entry.skip:
                yield kind, param.name, {**kwargs, param.name: bad}
    for kind, name, change in entry.extra:
        target, kwargs = entry.make()
        yield kind, name, change(kwargs)


def _names(message: str, argument: str) -> bool:
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(argument)}(?![A-Za-z0-9_])", message) is not None


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------


def test_every_public_callable_has_an_entry():
    api = set(public_api())
    missing = sorted(api - set(CASES) - set(EXEMPT))
    assert not missing, ("public functions without an entry in tests/test_api_validation.py (add a valid call "
                         f"to CASES, or to EXEMPT with the reason it takes no data): {missing}")
    stale = sorted((set(CASES) | set(EXEMPT)) - api)
    assert not stale, f"entries for names that are no longer public: {stale}"
    assert not set(CASES) & set(EXEMPT)


def test_entries_cover_shapes_and_mismatches():
    problems = []
    for name, entry in CASES.items():
        _, kwargs = entry.make()
        tensors = [k for k, val in kwargs.items() if isinstance(val, torch.Tensor)]
        kinds = {kind for kind, _, _ in entry.extra}
        if tensors and "shape" not in kinds and not any(s.endswith(":shape") for s in entry.skip):
            problems.append(f"{name}: takes a tensor but has no 'shape' case")
        if len(tensors) >= 2 and "mismatch" not in kinds and "*:mismatch" not in entry.skip:
            problems.append(f"{name}: takes {len(tensors)} tensors but has no 'mismatch' case")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_calls_raise_value_error_naming_the_argument(name):
    entry = CASES[name]
    failures = []
    for kind, argument, kwargs in _malformed(entry):
        target, _ = entry.make()
        try:
            target(**kwargs)
        except ValueError as error:
            if not _names(str(error), argument):
                failures.append(f"{kind} {argument}: message does not name {argument!r}: {error}")
        except Exception as error:  # noqa: BLE001
            failures.append(f"{kind} {argument}: {type(error).__name__} instead of ValueError: {error}")
        else:
            failures.append(f"{kind} {argument}: accepted {_show(kwargs[argument])}")
        finally:
            plt.close("all")
    assert not failures, f"{name}:\n  " + "\n  ".join(failures)


@pytest.mark.parametrize("name", sorted(n for n, e in CASES.items() if e.run))
def test_valid_call_is_accepted(name):
    target, kwargs = CASES[name].make()
    try:
        target(**kwargs)
    finally:
        plt.close("all")


def test_checkers_never_raise():
    from superpos_lib.checks import check, registered_exercises

    for exercise in registered_exercises():
        for wrong in ("not a function", lambda *a, **k: None):
            result = check(exercise, wrong)
            assert not result.passed and result.message, exercise
    with pytest.raises(ValueError, match="exercise"):
        check("no_such_exercise", lambda: None)


def _show(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"tensor(shape={tuple(value.shape)}, dtype={value.dtype})"
    text = repr(value)
    return text if len(text) < 60 else text[:57] + "..."


def test_seed_where_a_generator_belongs_says_how_to_make_one():
    with pytest.raises(ValueError, match=r"generator=torch\.Generator\(\)\.manual_seed\(0\)"):
        _data.sparse_features(2, 1, 3, generator=0)


def test_malformed_calls_do_no_work():
    # a rejected call must not have drawn from the generator
    gen = _gen(3)
    state = gen.get_state()
    with pytest.raises(ValueError, match="feature_probability"):
        _data.sparse_features(4, 2, 3, feature_probability=2.0, generator=gen)
    assert torch.equal(gen.get_state(), state)
    model = _toy()
    before = model.W.detach().clone()
    with pytest.raises(ValueError, match="lr"):
        _tm.train(model, steps=2, batch_size=4, lr=math.nan, progress=False)
    assert torch.equal(model.W.detach(), before)


def test_rejected_calls_leave_models_unchanged():
    sae = _sae()
    before = [p.detach().clone() for p in sae.parameters()]
    with pytest.raises(ValueError, match="l1_coeff"):
        _s.train_sae(sae, _randn(16, 4), steps=2, batch_size=8, l1_coeff=[0.1, 0.2, 0.3], progress=False)
    with pytest.raises(ValueError, match="generator"):
        _s.resample_dead_latents(sae, _randn(5, 4), torch.ones(2, 6, dtype=torch.bool), generator=0)
    assert all(torch.equal(a, b.detach()) for a, b in zip(before, sae.parameters()))


# --- the shared checks themselves -----------------------------------------------------------------
from superpos_lib import _validate as V  # noqa: E402


def test_validate_device_and_generator_messages():
    with pytest.raises(ValueError, match=r"^device must be None, 'cpu', 'cuda'"):
        V.device("device", "gpu")
    with pytest.raises(ValueError, match=r"^generator must be a torch.Generator or None, got the int 3; "
                                         r"to seed it, pass generator=torch.Generator\(\)\.manual_seed\(3\)"):
        V.generator("generator", 3)
    assert V.sampling_device(None, torch.Generator()).type == "cpu"
    with pytest.raises(ValueError, match="dtype must be a floating-point dtype"):
        V.dtype("dtype", torch.int32)
    with pytest.raises(ValueError, match="dtype must be a torch.dtype"):
        V.dtype("dtype", "float32")


def test_validate_values_strings_and_shapes():
    assert V.real_values("p", [0.5, 1]).dtype == torch.float64
    for bad, match in (("0.5", "p must be a number"), ([float("nan")], "finite"), (torch.tensor([True]), "real numbers")):
        with pytest.raises(ValueError, match=match):
            V.real_values("p", bad)
    with pytest.raises(ValueError, match="whole numbers"):
        V.real_values("k", [1.5], integer=True)
    with pytest.raises(ValueError, match=r"texts must be a list of strings, got a single string"):
        V.strings("texts", "hello")
    with pytest.raises(ValueError, match="texts must hold at least one string"):
        V.strings("texts", [])
    with pytest.raises(ValueError, match="x must hold at least one sample along axis 0"):
        V.non_empty("x", torch.ones(0, 3), 0, "sample")
    with pytest.raises(ValueError, match=r"b must have the dtype of a \(torch.float32\)"):
        V.same_dtype("b", torch.ones(2, dtype=torch.float64), "a", torch.ones(2))
    with pytest.raises(ValueError, match=r"b must have 3 entries on axis 0 \(instances\)"):
        V.same_size("b", torch.ones(2, 4), 0, "a", torch.ones(3, 4), what="instances")
    with pytest.raises(ValueError, match=r"x must be a finite number in \(0, 1\)"):
        V.finite_float("x", 1.0, low=0, high=1, low_open=True, high_open=True)
    with pytest.raises(ValueError, match="l1_coeff must be >= 0"):
        V.number_or_tensor("l1_coeff", -1.0, like=torch.ones(1), low=0)
