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


def test_exercise_topk_and_jumprelu_references_are_the_librarys_rules():
    """Exercises 6.3 and 6.6: the references give the TopK SAE's codes and jumprelu's straight-through gradients
    (chapter 6 compares the student's versions with these)."""
    from superpos_lib.checks import reference_implementation
    from superpos_lib.sae import jumprelu
    from superpos_lib.sae.topk import activate

    gen = torch.Generator().manual_seed(0)
    pre = torch.randn(64, 12, generator=gen)
    assert torch.equal(reference_implementation("topk_activation")(pre, 3), activate(pre[None], torch.tensor([3]))[0])
    theta = torch.rand(12, generator=gen) + 0.5
    grad_out = torch.randn(64, 12, generator=gen)
    p, t = pre.clone().requires_grad_(True), theta.clone().requires_grad_(True)
    jumprelu(p, t, 0.3).backward(grad_out)
    grad_pre, grad_theta = reference_implementation("jumprelu_backward")(pre, theta, 0.3, grad_out)
    assert torch.allclose(grad_pre, p.grad) and torch.allclose(grad_theta, t.grad, atol=1e-6)
