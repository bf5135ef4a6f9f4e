import math

import pytest
import torch

from superpos_lib.metrics import effective_dimension, gini, l0_sparsity


def test_l0_sparsity_hand_computed():
    a = torch.tensor([[0.0, 1.0, 0.0, -2.0], [0.0, 0.0, 0.0, 0.0], [1.0, 2.0, 3.0, 4.0]])
    assert torch.allclose(l0_sparsity(a), torch.tensor([0.5, 1.0, 0.0]))


def test_l0_sparsity_eps_treats_small_values_as_zero():
    a = torch.tensor([1e-4, -1e-4, 1.0, 0.0])
    assert l0_sparsity(a).item() == pytest.approx(0.25)
    assert l0_sparsity(a, eps=1e-3).item() == pytest.approx(0.75)


@pytest.mark.parametrize("n", [2, 5, 10])
def test_gini_one_hot_and_uniform(n):
    one_hot = torch.zeros(n)
    one_hot[n // 2] = 3.0
    assert gini(one_hot).item() == pytest.approx(1 - 1 / n)
    assert gini(torch.full((n,), 0.7)).item() == pytest.approx(0.0, abs=1e-6)


def test_gini_uses_absolute_values_and_batches():
    a = torch.tensor([[-1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 2.0, 3.0]])
    # [1, 2, 3]: sum_k (2k - 4) c_k = -2*1 + 0*2 + 2*3 = 4, over d * sum = 3 * 6 -> 2/9
    assert torch.allclose(gini(a), torch.tensor([2 / 3, 2 / 3, 2 / 9]))


def test_gini_order_invariant_and_zero_row_nan():
    a = torch.tensor([3.0, 1.0, 2.0])
    assert gini(a).item() == pytest.approx(gini(a.flip(0)).item())
    assert math.isnan(gini(torch.zeros(4)).item())


@pytest.mark.parametrize("n", [1, 4, 9])
def test_effective_dimension_one_hot_uniform(n):
    one_hot = torch.zeros(n)
    one_hot[0] = -5.0
    assert effective_dimension(one_hot).item() == pytest.approx(1.0)
    assert effective_dimension(torch.full((n,), -2.0)).item() == pytest.approx(n, rel=1e-5)


def test_effective_dimension_k_equal_entries_and_base_two():
    a = torch.tensor([[1.0, 1.0, 0.0, 0.0, 1.0], [1.0, 3.0, 0.0, 0.0, 0.0]])
    out = effective_dimension(a)
    assert out[0].item() == pytest.approx(3.0, rel=1e-5)
    q = torch.tensor([0.25, 0.75])
    h_bits = -(q * torch.log2(q)).sum()
    assert out[1].item() == pytest.approx((2**h_bits).item(), rel=1e-5)
    assert math.isnan(effective_dimension(torch.zeros(2, 3))[0].item())


def test_shapes_over_last_axis():
    a = torch.rand(2, 3, 7)
    for fn in (l0_sparsity, gini, effective_dimension):
        assert fn(a).shape == (2, 3)


@pytest.mark.parametrize("fn", [l0_sparsity, gini, effective_dimension])
def test_bad_inputs(fn):
    with pytest.raises(ValueError, match="a must"):
        fn([1.0, 2.0])
    with pytest.raises(ValueError, match="a must"):
        fn(torch.tensor(1.0))
    with pytest.raises(ValueError, match="a must"):
        fn(torch.zeros(3, 0))
    with pytest.raises(ValueError, match="a must"):
        fn(torch.tensor([1.0, float("nan")]))


def test_l0_negative_eps():
    with pytest.raises(ValueError, match="eps"):
        l0_sparsity(torch.ones(3), eps=-1.0)
