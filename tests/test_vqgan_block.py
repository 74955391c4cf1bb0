"""The VQ-GAN block: shapes, encode/decode agreement, errors, and that it learns."""

from __future__ import annotations

import pytest
import torch

from uio.plugins.blocks.vqgan import VQGAN, PatchDiscriminator, VQGANLoss, psnr


def _tiny(**kw) -> VQGAN:
    return VQGAN(base_channels=8, num_down=2, latent_dim=8, codebook_size=32, **kw)


def test_shapes_and_encode_decode_agree_with_forward():
    torch.manual_seed(0)
    model = _tiny().eval()
    images = torch.rand(2, 3, 16, 24) * 2 - 1
    out = model(images)
    assert out.reconstruction.shape == images.shape
    codes = model.encode(images)
    assert codes.shape == (2, 4, 6) and model.downsample == 4
    assert torch.equal(codes, out.quantized.indices)
    torch.testing.assert_close(model.decode(codes), out.reconstruction)


def test_bad_shapes_are_named():
    model = _tiny()
    with pytest.raises(ValueError, match="multiples of 4, got 10x16"):
        model(torch.zeros(1, 3, 10, 16))
    with pytest.raises(ValueError, match=r"\[batch, channels, height, width\]"):
        model.encode(torch.zeros(3, 16, 16))
    with pytest.raises(ValueError, match=r"\[batch, rows, columns\]"):
        model.decode(torch.zeros(4, 4, dtype=torch.long))


def test_psnr_matches_its_definition():
    images = torch.zeros(1, 3, 4, 4)
    noisy = images + 0.1
    # data range 2 ([-1, 1]); MSE 0.01 -> 10 log10(4 / 0.01)
    assert psnr(noisy, images) == pytest.approx(10 * torch.log10(torch.tensor(400.0)).item(), rel=1e-5)


def test_discriminator_loss_is_hinge():
    disc = PatchDiscriminator(base_channels=8, num_layers=2)
    loss = VQGANLoss(disc, adversarial_weight=0.5)
    images = torch.rand(2, 3, 16, 16)
    torch.nn.init.zeros_(disc.net[-1].weight)
    torch.nn.init.zeros_(disc.net[-1].bias)  # logits 0 -> relu(1)+relu(1) = 2
    assert loss.discriminator_loss(images, images).item() == pytest.approx(2.0)


def test_learns_to_reconstruct_a_few_images():
    torch.manual_seed(0)
    # Four flat-coloured 16x16 images with a square of another colour.
    images = torch.full((4, 3, 16, 16), -0.8)
    for i in range(4):
        images[i, i % 3] = 0.6
        images[i, :, 4 * i // 2 : 4 * i // 2 + 6, 3:9] = torch.tensor([0.9, -0.5, 0.2])[:, None, None]
    model = _tiny()
    loss_fn = VQGANLoss(PatchDiscriminator(base_channels=8), adversarial_weight=0.0)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    before = psnr(model.eval()(images).reconstruction, images)
    model.train()
    for step in range(200):
        loss, _ = loss_fn.generator_loss(images, model(images), step)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = psnr(model.eval()(images).reconstruction, images)
    assert after > before + 8 and after > 17, (before, after)
