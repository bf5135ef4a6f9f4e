import math

import pytest
import torch

from superpos_lib.metrics import (dimensions_per_feature, feature_angles, feature_dimensionality, feature_interference,
                                  feature_norms, represented_features)


def polygon(k, d=2, scale=1.0):
    a = torch.arange(k) * 2 * math.pi / k
    W = torch.zeros(d, k, dtype=torch.float64)
    W[0], W[1] = torch.cos(a) * scale, torch.sin(a) * scale
    return W


def test_reexported_from_metrics_package():
    import superpos_lib.metrics as metrics
    assert "feature_dimensionality" in metrics.__all__ and "dimensions_per_feature" in metrics.__all__


def test_dimensionality_of_known_geometries():
    assert torch.allclose(feature_dimensionality(polygon(5)), torch.full((5,), 0.4, dtype=torch.float64))
    assert torch.allclose(feature_dimensionality(polygon(2)), torch.full((2,), 0.5, dtype=torch.float64))
    assert torch.allclose(feature_dimensionality(polygon(3)), torch.full((3,), 2 / 3, dtype=torch.float64))
    assert torch.allclose(feature_dimensionality(torch.eye(3)), torch.ones(3))
    # a tetrahedron in 3 dimensions: 3/4
    tet = torch.tensor([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=torch.float64).T / math.sqrt(3)
    assert torch.allclose(feature_dimensionality(tet), torch.full((4,), 0.75, dtype=torch.float64))


def test_dimensionality_is_scale_invariant_per_feature_and_zero_for_dead_features():
    W = polygon(2, d=3, scale=0.7)
    W = torch.cat([W, torch.zeros(3, 1, dtype=W.dtype)], dim=1)  # a third feature, not represented
    D = feature_dimensionality(W)
    assert torch.allclose(D, torch.tensor([0.5, 0.5, 0.0], dtype=W.dtype))
    assert not torch.isnan(D).any()


def test_batched_shapes_match_per_instance_results():
    W = torch.randn(4, 3, 2, 7, generator=torch.Generator().manual_seed(0))
    D = feature_dimensionality(W)
    assert D.shape == (4, 3, 7)
    assert torch.allclose(D[2, 1], feature_dimensionality(W[2, 1]))
    assert dimensions_per_feature(W).shape == (4, 3)
    assert feature_norms(W).shape == (4, 3, 7)
    assert feature_interference(W).shape == (4, 3, 7)
    assert feature_angles(W).shape == (4, 3, 7, 7)
    assert represented_features(W).shape == (4, 3)


def test_dimensions_per_feature():
    assert torch.allclose(dimensions_per_feature(polygon(5)), torch.tensor(0.4, dtype=torch.float64))
    assert torch.allclose(dimensions_per_feature(torch.eye(4)), torch.tensor(1.0))
    W = torch.zeros(2, 5)
    W[0, 0] = 1.0  # one unit feature in 2 dimensions: 2 dims per feature
    assert dimensions_per_feature(W).item() == pytest.approx(2.0)


def test_angles_norms_interference():
    W = polygon(5)
    A = feature_angles(W)
    assert A[0, 1].item() == pytest.approx(72.0)
    assert A[0, 2].item() == pytest.approx(144.0)
    assert torch.allclose(feature_norms(W), torch.ones(5, dtype=W.dtype))
    assert torch.allclose(feature_interference(torch.eye(3)), torch.zeros(3))
    assert torch.allclose(feature_interference(polygon(2)), torch.ones(2, dtype=torch.float64))
    assert torch.equal(represented_features(torch.tensor([[1.0, 0.2, 0.0], [0.0, 0.1, 0.9]])), torch.tensor(2))


@pytest.mark.parametrize("fn", [feature_dimensionality, dimensions_per_feature, feature_norms, feature_angles,
                                feature_interference, represented_features])
def test_bad_inputs(fn):
    with pytest.raises(ValueError, match="W"):
        fn(torch.ones(5))
    with pytest.raises(ValueError, match="W"):
        fn([[1.0, 0.0]])
    with pytest.raises(ValueError, match="W"):
        fn(torch.ones(2, 2, dtype=torch.int64))
    with pytest.raises(ValueError, match="W"):
        fn(torch.full((2, 2), float("nan")))


def test_represented_threshold_must_be_positive():
    with pytest.raises(ValueError, match="threshold"):
        represented_features(torch.eye(2), threshold=0.0)


def test_feature_groups_finds_orthogonal_polytopes():
    from superpos_lib.metrics import feature_groups

    W = torch.zeros(5, 9, dtype=torch.float64)
    W[:2, :5] = polygon(5)  # a pentagon in dims 0-1
    W[2, 5], W[2, 6] = 1.0, -1.0  # an antipodal pair in dim 2
    W[3, 7] = 1.0  # a dedicated dimension
    W[4, 8] = 0.1  # not represented
    assert feature_groups(W) == [([0, 1, 2, 3, 4], 2), ([5, 6], 1), ([7], 1)]
    assert feature_groups(torch.zeros(2, 3)) == []
    with pytest.raises(ValueError, match="one instance"):
        feature_groups(torch.ones(2, 2, 3))
    with pytest.raises(ValueError, match="overlap"):
        feature_groups(torch.eye(2), overlap=0.0)


def test_thomson_points_and_polytope_names():
    from superpos_lib.metrics import cosine_spectrum, polytope_name, thomson_points

    X = thomson_points(8, 3)
    assert polytope_name(X) == "square antiprism"
    assert cosine_spectrum(X).min() > -0.95  # no antipodal pair, unlike a cube
    assert polytope_name(thomson_points(5, 2)) == "pentagon"
    cube = torch.tensor([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=torch.float64).T
    assert polytope_name(cube) == "cube"
    assert torch.allclose(feature_dimensionality(cube / 3 ** 0.5), torch.full((8,), 3 / 8, dtype=torch.float64))
    assert torch.allclose(feature_dimensionality(X), torch.full((8,), 3 / 8, dtype=torch.float64), atol=1e-3)
    assert polytope_name(polygon(2)) == "digon" and polytope_name(polygon(3)) == "triangle"
    assert polytope_name(torch.randn(3, 7, generator=torch.Generator().manual_seed(0))).endswith("(unnamed)")
    with pytest.raises(ValueError, match="k and m"):
        thomson_points(1, 3)
    with pytest.raises(ValueError, match="W"):
        cosine_spectrum(torch.ones(3, 1))


def test_thomson_points_works_inside_no_grad():
    from superpos_lib.metrics import thomson_points

    with torch.no_grad():
        X = thomson_points(4, 3, steps=50, restarts=1)
    assert X.shape == (3, 4) and torch.allclose(X.norm(dim=0), torch.ones(4, dtype=torch.float64))
    assert torch.equal(X, thomson_points(4, 3, steps=50, restarts=1))  # same result as outside no_grad
