"""The maths of the losses and of colour control."""

from __future__ import annotations

import torch

from nst_core.image.color import keep_content_colors, match_histogram, match_mean_cov, rgb_to_yiq
from nst_core.losses import ContentLoss, StyleLoss, gram_matrix, total_variation
from nst_core.optim import Descent


def test_gram_matches_definition_and_is_symmetric_psd():
    features = torch.randn(1, 5, 6, 7)
    gram = gram_matrix(features)[0]
    flat = features[0].reshape(5, -1)
    expected = torch.stack([torch.stack([(flat[i] * flat[j]).mean() for j in range(5)]) for i in range(5)])
    assert torch.allclose(gram, expected, atol=1e-5)
    assert torch.allclose(gram, gram.T)
    assert torch.linalg.eigvalsh(gram).min() > -1e-5


def test_gram_gradient_matches_autograd_of_the_definition():
    features = torch.randn(2, 4, 5, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(gram_matrix, (features,))
    weights = torch.randn(2, 4, 4, dtype=torch.float64)
    (gram_matrix(features) * weights).sum().backward()
    ours = features.grad.clone()
    features.grad = None
    flat = features.reshape(2, 4, 15)
    ((flat @ flat.transpose(1, 2) / 15) * weights).sum().backward()
    assert torch.allclose(ours, features.grad)


def test_gram_is_the_same_for_channels_last_memory():
    features = torch.randn(1, 8, 9, 11)
    assert torch.allclose(gram_matrix(features), gram_matrix(features.contiguous(memory_format=torch.channels_last)),
                          atol=1e-6)


def test_gram_ignores_position_and_size():
    features = torch.randn(1, 4, 8, 8)
    shuffled = features.flatten(2)[..., torch.randperm(64)].reshape(1, 4, 8, 8)
    tiled = features.repeat(1, 1, 2, 3)
    assert torch.allclose(gram_matrix(features), gram_matrix(shuffled), atol=1e-5)
    assert torch.allclose(gram_matrix(features), gram_matrix(tiled), atol=1e-5)


def test_losses_are_zero_at_their_target_and_relative():
    target = torch.randn(1, 4, 8, 8)
    assert ContentLoss(target)(target).item() == 0.0
    assert StyleLoss(gram_matrix(target))(target).item() < 1e-10
    # Scaling both activations and target leaves a relative loss unchanged.
    other = torch.randn(1, 4, 8, 8)
    assert torch.isclose(ContentLoss(target)(other), ContentLoss(10 * target)(10 * other), rtol=1e-4)
    assert torch.isclose(StyleLoss(gram_matrix(target))(other), StyleLoss(gram_matrix(7 * target))(7 * other),
                         rtol=1e-4)


def test_blended_style_target_is_the_weighted_mean_of_grams():
    a, b = torch.randn(1, 3, 5, 5), torch.randn(1, 3, 9, 4)
    loss = StyleLoss.blended([a, b], [3.0, 1.0])
    assert torch.allclose(loss.target, 0.75 * gram_matrix(a) + 0.25 * gram_matrix(b), atol=1e-6)


def test_total_variation():
    assert total_variation(torch.full((1, 3, 8, 8), 0.3)).item() == 0.0
    stripes = torch.zeros(1, 1, 4, 4)
    stripes[..., ::2] = 1.0
    assert total_variation(stripes).item() == 1.0  # every horizontal neighbour differs by 1, vertical by 0


def test_keep_content_colors_takes_luminance_from_result_and_chroma_from_content():
    # Mid-range colours, so that the recombined pixels stay inside the RGB cube (no clamping).
    result, content = torch.rand(1, 3, 16, 16) * 0.2 + 0.4, torch.rand(1, 3, 16, 16) * 0.2 + 0.4
    mixed = keep_content_colors(result, content)
    assert torch.allclose(rgb_to_yiq(mixed)[:, 0], rgb_to_yiq(result)[:, 0], atol=1e-4)
    assert torch.allclose(rgb_to_yiq(mixed)[:, 1:], rgb_to_yiq(content)[:, 1:], atol=1e-4)


def test_mean_cov_matching_gives_the_reference_statistics():
    generator = torch.Generator().manual_seed(0)
    source = torch.rand(1, 3, 32, 32, generator=generator) * 0.3 + 0.1
    reference = torch.rand(1, 3, 32, 32, generator=generator) * 0.2 + torch.tensor([0.6, 0.3, 0.5]).view(1, 3, 1, 1)
    matched = match_mean_cov(source, reference).reshape(3, -1).double()
    ref = reference.reshape(3, -1).double()
    assert torch.allclose(matched.mean(1), ref.mean(1), atol=1e-3)
    assert torch.allclose(torch.cov(matched), torch.cov(ref), atol=1e-3)


def test_histogram_matching_takes_the_reference_values():
    source, reference = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8) ** 3
    matched = match_histogram(source, reference)
    for channel in range(3):
        assert torch.equal(matched[0, channel].flatten().sort().values, reference[0, channel].flatten().sort().values)
        # Order is kept: the brightest source pixel gets the brightest reference value.
        assert matched[0, channel].flatten().argmax() == source[0, channel].flatten().argmax()


def test_a_step_that_overflows_goes_back_to_the_best_point():
    """After a non-finite loss the tensor is back at the best point so far and L-BFGS starts afresh."""
    x = torch.zeros(3, requires_grad=True)
    descent = Descent("lbfgs", x, 1.0)

    def objective(scale: float):
        def evaluate(t):
            loss = scale * (t - 5).pow(2).sum()
            return loss, {"total": float(loss.detach())}
        return evaluate

    first = descent.step(objective(1.0))          # evaluated at 0: the best point
    assert x.abs().sum() > 0 and descent.optimizer.state
    worse = descent.step(objective(1e6))          # a finite but worse point
    assert worse["total"] > first["total"]
    assert descent.step(objective(float("nan"))) == first
    assert torch.equal(x.detach(), torch.zeros(3)) and not descent.optimizer.state


def test_adam_descent_keeps_the_tensor_in_its_range():
    x = torch.full((4,), 0.9, requires_grad=True)
    descent = Descent("adam", x, 0.5, clamp=(0.0, 1.0))
    for _ in range(5):
        descent.step(lambda t: ((t - 3).pow(2).sum(), {"total": 0.0}))
    assert x.max().item() == 1.0
