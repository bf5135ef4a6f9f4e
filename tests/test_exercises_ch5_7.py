"""References of the exercises added to chapters 5-7 against the library code the chapters compare them with."""

import torch


def test_exercise_type_entropy_reference_is_the_chapters_token_mixedness():
    """Exercise 7.4's reference gives the entropy rm.token_mixedness computes (chapter 7 prints the agreement)."""
    from superpos_lib import real_models as rm
    from superpos_lib.checks import reference_implementation

    gen = torch.Generator().manual_seed(0)
    token_ids = torch.randint(0, 12, (300,), generator=gen)
    values, indices = rm.top_activating(torch.rand(300, 40, generator=gen) + 0.1, 20)
    _, entropy = rm.token_mixedness(values, indices, token_ids)
    mine = reference_implementation("type_entropy")(token_ids[indices])
    assert torch.allclose(mine, entropy.double(), atol=1e-6)

