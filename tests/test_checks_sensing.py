"""The chapter 4 and 5 checkers pass the reference and catch the typical mistakes."""

import torch

from superpos_lib.checks import check
from superpos_lib.checks.sensing import ista_step_reference
from superpos_lib.rip import mutual_coherence, normalize_columns, welch_bound
from superpos_lib.sensing import recovery_success, soft_threshold
from tests.conftest import as_student


def sampled_rip(A, supports):
    cols = normalize_columns(A).T[supports]
    eig = torch.linalg.eigvalsh(cols @ cols.transpose(1, 2))
    return torch.maximum(1 - eig[:, 0], eig[:, -1] - 1).max()


def stub(*args):
    raise NotImplementedError


def test_references_pass():
    assert check("soft_threshold", as_student(soft_threshold))
    assert check("ista_step", lambda *args: ista_step_reference(*args))
    assert check("omp_select", lambda A, r, t: (r @ A).abs().masked_fill(t, -1).argmax(1))
    assert check("recovery_success", as_student(recovery_success))
    assert check("coherence", as_student(mutual_coherence))
    assert check("welch_bound", as_student(welch_bound))
    assert check("sampled_rip", as_student(sampled_rip))


def test_stubs_fail_with_not_implemented():
    for name in ("soft_threshold", "ista_step", "omp_select", "recovery_success", "coherence", "welch_bound",
                 "sampled_rip"):
        result = check(name, stub)
        assert not result and "not implemented" in result.message


def test_typical_mistakes_are_named():
    assert "hard thresholding" in check("soft_threshold", lambda v, t: v * (v.abs() > t)).message
    assert "sign" in check("soft_threshold", lambda v, t: (v.abs() - t).clamp_min(0)).message
    wrong_ista = lambda A, y, x, lam, step: soft_threshold(x - step * ((x @ A.T - y) @ A), lam)
    assert "step * lam" in check("ista_step", wrong_ista).message
    assert "already taken" in check("omp_select", lambda A, r, t: (r @ A).abs().argmax(1)).message
    assert "absolute value" in check("omp_select", lambda A, r, t: (r @ A).masked_fill(t, -1e9).argmax(1)).message
    assert "relative" in check("recovery_success", lambda a, b, tol: (a - b).norm(dim=1) < tol).message
    assert "normalise" in check("coherence", lambda A: (A.T @ A).abs().fill_diagonal_(0).max()).message
    assert "diagonal" in check("coherence", lambda A: (normalize_columns(A).T @ normalize_columns(A)).abs().max()).message
    assert "square root" in check("welch_bound", lambda m, n: (n - m) / (m * (n - 1))).message

    def upper_only(A, supports):
        cols = normalize_columns(A).T[supports]
        return (torch.linalg.eigvalsh(cols @ cols.transpose(1, 2))[:, -1] - 1).max()

    assert "largest eigenvalue" in check("sampled_rip", upper_only).message


def test_nonneg_basis_pursuit_case_separates_signed_from_nonnegative():
    """The checker's problems: non-negative basis pursuit recovers all 4 signals, signed basis pursuit
    only the first, with negative entries on the others (so dropping the sign constraint is caught)."""
    import numpy as np
    from scipy.optimize import linprog

    from superpos_lib.checks.sensing import _nnbp_case, nonneg_basis_pursuit_reference

    A, y, x = _nnbp_case()
    assert torch.allclose(nonneg_basis_pursuit_reference(A, y), x, atol=1e-9)
    n = A.shape[1]
    for row in range(4):
        r = linprog(np.ones(2 * n), A_eq=np.hstack([A.numpy(), -A.numpy()]), b_eq=y[row].numpy(), bounds=(0, None))
        signed = torch.tensor(r.x[:n] - r.x[n:])
        if row == 0:
            assert torch.allclose(signed, x[0], atol=1e-9)
        else:
            assert signed.min() < -0.05
