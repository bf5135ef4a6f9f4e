import random

import numpy as np
import pytest
import torch

from superpos_lib.device import get_device, resolve_device, seed_everything


def test_default_device_matches_cuda_availability():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert get_device().type == expected


def test_explicit_cpu():
    assert get_device("cpu") == torch.device("cpu")
    assert resolve_device(None) == get_device()
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_gpu_is_a_clear_error():
    with pytest.raises(ValueError, match="none is available"):
        get_device("cuda")


@pytest.mark.parametrize("bad", ["tpu", "gpu", 3, ""])
def test_unknown_device_names(bad):
    with pytest.raises(ValueError, match="name must be"):
        get_device(bad)


def test_seed_everything_repeats_all_generators():
    seed_everything(7)
    first = (random.random(), np.random.rand(), torch.rand(3))
    seed_everything(7)
    second = (random.random(), np.random.rand(), torch.rand(3))
    assert first[0] == second[0] and first[1] == second[1]
    assert torch.equal(first[2], second[2])


@pytest.mark.parametrize("bad", [-1, 1.5, "0"])
def test_seed_must_be_non_negative_int(bad):
    with pytest.raises(ValueError, match="seed"):
        seed_everything(bad)
