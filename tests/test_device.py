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


@pytest.mark.parametrize("bad", ["tpu", "gpu", 3, "", 1.0, ["cpu"]])
def test_resolve_device_errors_name_device(bad):
    # every library function passes its ``device`` argument here: the message must name it
    with pytest.raises(ValueError, match=r"^device must be"):
        resolve_device(bad)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("bad", ["cuda", "cuda:0", torch.device("cuda")])
def test_resolve_device_cuda_without_gpu_names_device(bad):
    with pytest.raises(ValueError, match=r"^device=.*none is available"):
        resolve_device(bad)


def test_resolve_device_accepts_cpu_forms():
    for ok in ("cpu", "cpu:0", torch.device("cpu"), torch.device("cpu", 0)):
        assert resolve_device(ok).type == "cpu"
    with pytest.raises(ValueError, match="device="):
        resolve_device("cpu:1")


@pytest.mark.parametrize("bad", [True, None])
def test_seed_rejects_bool_and_none(bad):
    with pytest.raises(ValueError, match="seed"):
        seed_everything(bad)
