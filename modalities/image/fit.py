"""Training the image tokenizer's VQ-GAN (what ``uio fit-tokenizer`` runs for images).

L1 reconstruction + commitment + a hinge patch-adversarial term that starts at
``fit_adversarial_start`` (taming-transformers' ``disc_start``, Esser et al. 2021,
arXiv 2012.09841), with one Adam optimiser for the autoencoder and one for the
discriminator. A tenth of the images is held out to report PSNR and codebook
usage, and a picture of held-out originals above their reconstructions is saved.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from uio.modalities.image.config import ImageConfig
from uio.modalities.image.pixels import to_uint8
from uio.plugins.blocks.vqgan import VQGAN, PatchDiscriminator, VQGANLoss, psnr

#: Seed of the split, the batches and the discriminator's initialisation: the
#: same images and config give the same tokenizer.
FIT_SEED = 0
HELDOUT_SHARE = 0.1
RECONSTRUCTIONS_FILE = "reconstructions.png"
#: Held-out images shown in the reconstructions picture.
PICTURE_COUNT = 8
#: Smallest tile side in the picture (small images are enlarged, pixel for pixel).
PICTURE_TILE = 96
#: Adam betas of taming-transformers' VQGAN training (arXiv 2012.09841).
ADAM_BETAS = (0.5, 0.9)


def fit_device(config: ImageConfig) -> torch.device:
    """The device ``config.fit_device`` names (``"auto"``: CUDA when available)."""
    if config.fit_device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if config.fit_device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("image.fit_device is 'cuda' but no CUDA device is available")
    return torch.device(config.fit_device)


def split_heldout(count: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``(train indices, held-out indices)``: a random tenth (at least one) held out."""
    if count < 2:
        raise ValueError(
            f"fitting the image tokenizer needs at least 2 images (one is held out), got {count}"
        )
    order = torch.randperm(count, generator=generator)
    held = max(1, round(HELDOUT_SHARE * count))
    return order[held:], order[:held]


def comparison_sheet(originals: np.ndarray, reconstructions: np.ndarray) -> Image.Image:
    """Originals in the top row, their reconstructions below (``uint8 [n, S, S, 3]`` each)."""
    count, side = originals.shape[0], originals.shape[1]
    scale = max(1, -(-PICTURE_TILE // side))
    tile, gap = side * scale, 2
    sheet = Image.new("RGB", (count * (tile + gap) - gap, 2 * tile + gap), "white")
    for row, arrays in enumerate((originals, reconstructions)):
        for i, array in enumerate(arrays):
            image = Image.fromarray(array, "RGB").resize((tile, tile), Image.Resampling.NEAREST)
            sheet.paste(image, (i * (tile + gap), row * (tile + gap)))
    return sheet


def _progress() -> Progress:
    # On stderr so stdout stays clean for piped output; without a terminal rich
    # skips the live redraws and prints the final state once.
    return Progress(
        TextColumn("image tokenizer"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    )


@torch.no_grad()
def _reconstruct(model: VQGAN, images: torch.Tensor, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(reconstructions, codes)`` of images through the tokenizer's encode and decode."""
    device = next(model.parameters()).device
    recon, codes = [], []
    for chunk in images.split(batch_size):
        c = model.encode(chunk.to(device))
        recon.append(model.decode(c).float().cpu())
        codes.append(c.cpu())
    return torch.cat(recon), torch.cat(codes)


def train_vqgan(model: VQGAN, images: torch.Tensor, config: ImageConfig, out_dir: Path) -> dict[str, float]:
    """Train ``model`` on ``images`` (``[N, 3, S, S]`` in ``[-1, 1]``) as ``config`` says.

    The model ends in eval mode on the CPU. Draws from the torch RNG inside a
    forked RNG state, so the caller's random state is left as it was.

    Returns:
        ``heldout_psnr`` (dB, on the held-out images through encode and decode),
        ``codebook_usage`` (share of the codes used by the held-out images) and
        ``steps``.
    """
    device = fit_device(config)
    cuda = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(FIT_SEED)
        generator = torch.Generator().manual_seed(FIT_SEED)
        train_idx, held_idx = split_heldout(images.shape[0], generator)
        train, held = images[train_idx], images[held_idx]
        discriminator = PatchDiscriminator(
            base_channels=config.vq_base_channels,
            # taming's discriminator for 256 px images has 3 stride-2 layers; small ones fit 2
            num_layers=3 if config.target_size >= 128 else 2,
        )
        loss_fn = VQGANLoss(discriminator, config.fit_adversarial_weight, config.adversarial_start).to(device)
        model.to(device).train()
        opt_model = torch.optim.Adam(model.parameters(), lr=config.fit_lr, betas=ADAM_BETAS)
        opt_disc = torch.optim.Adam(discriminator.parameters(), lr=config.fit_lr, betas=ADAM_BETAS)
        steps = config.fit_steps
        report_every = max(1, steps // 100)  # .item() syncs with the device: not every step
        with _progress() as progress:
            task = progress.add_task("", total=steps)
            for step in range(steps):
                pick = torch.randint(train.shape[0], (config.fit_batch_size,), generator=generator)
                batch = train[pick].to(device, non_blocking=True)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                    out = model(batch)
                    loss, _ = loss_fn.generator_loss(batch, out, step)
                opt_model.zero_grad(set_to_none=True)
                loss.backward()
                opt_model.step()
                if config.fit_adversarial_weight > 0 and step >= config.adversarial_start:
                    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                        disc_loss = loss_fn.discriminator_loss(batch, out.reconstruction)
                    opt_disc.zero_grad(set_to_none=True)
                    disc_loss.backward()
                    opt_disc.step()
                if step % report_every == 0 or step == steps - 1:
                    quality = psnr(out.reconstruction.float(), batch)
                    progress.update(task, description=f"loss {loss.item():.4f}  psnr {quality:.2f} dB")
                progress.advance(task)
        model.eval()
        reconstructions, codes = _reconstruct(model, held, config.fit_batch_size)
    model.cpu()

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    shown = slice(0, PICTURE_COUNT)
    comparison_sheet(to_uint8(held[shown]), to_uint8(reconstructions[shown])).save(
        out_dir / RECONSTRUCTIONS_FILE
    )
    return {
        "heldout_psnr": psnr(reconstructions, held),
        "codebook_usage": codes.unique().numel() / config.codebook_size,
        "steps": steps,
    }
