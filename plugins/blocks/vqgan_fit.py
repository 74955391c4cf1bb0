"""Training a :class:`~uio.plugins.blocks.vqgan.VQGAN` on a tensor of grids (what
``uio fit-tokenizer`` runs for a VQ-GAN tokenizer: images, spectrograms).

L1 reconstruction + commitment + a hinge patch-adversarial term that starts at
``adversarial_start`` (taming-transformers' ``disc_start``, Esser et al. 2021,
arXiv 2012.09841), with one Adam optimiser for the autoencoder and one for the
discriminator. A tenth of the grids is held out; the caller turns the held-out
grids and their reconstructions into its own figures (PSNR, log-mel L1).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from uio.plugins.blocks.progress import progress_bar
from uio.plugins.blocks.vqgan import VQGAN, PatchDiscriminator, VQGANLoss

#: Seed of the split, the batches and the discriminator's initialisation: the
#: same data and options give the same tokenizer.
FIT_SEED = 0
HELDOUT_SHARE = 0.1
#: Adam betas of taming-transformers' VQGAN training (arXiv 2012.09841).
ADAM_BETAS = (0.5, 0.9)


@dataclass(frozen=True)
class VQGANFitOptions:
    """How to train a VQ-GAN.

    Attributes:
        steps, batch_size, lr: the optimisation.
        adversarial_weight: weight of the hinge patch-adversarial term (0: none).
        adversarial_start: step at which the adversarial term starts.
        discriminator_channels, discriminator_layers: the PatchGAN's width and
            stride-2 layers.
        device: where to train.
        label: names the tokenizer in the progress bar and errors (``"image tokenizer"``).
        items: what one grid is, in errors (``"images"``).
        describe: ``(reconstruction, batch) -> str`` shown in the progress bar
            beside the loss (e.g. the batch PSNR); ``None``: the loss only.
    """

    steps: int
    batch_size: int
    lr: float
    adversarial_weight: float
    adversarial_start: int
    discriminator_channels: int
    discriminator_layers: int
    device: torch.device
    label: str = "tokenizer"
    items: str = "grids"
    describe: Callable[[torch.Tensor, torch.Tensor], str] | None = None

    @classmethod
    def from_config(
        cls, config: Any, smallest_side: int, modality: str, items: str,
        describe: Callable[[torch.Tensor, torch.Tensor], str] | None = None,
    ) -> VQGANFitOptions:
        """Options from a modality config's ``fit_*`` fields, ``adversarial_start`` and
        ``vq_base_channels`` (the image and audio configs share them); errors name
        ``<modality>.fit_device``. ``smallest_side`` is the shorter side of the grids."""
        return cls(
            steps=config.fit_steps,
            batch_size=config.fit_batch_size,
            lr=config.fit_lr,
            adversarial_weight=config.fit_adversarial_weight,
            adversarial_start=config.adversarial_start,
            discriminator_channels=config.vq_base_channels,
            # taming's discriminator for 256 px images has 3 stride-2 layers; smaller grids fit 2
            discriminator_layers=3 if smallest_side >= 128 else 2,
            device=fit_device(config.fit_device, f"{modality}.fit_device"),
            label=f"{modality} tokenizer",
            items=items,
            describe=describe,
        )


@dataclass
class VQGANFitResult:
    """The held-out grids (and their indices in the data), their reconstructions and codes
    (CPU tensors)."""

    heldout_index: torch.Tensor
    heldout: torch.Tensor
    reconstructions: torch.Tensor
    codes: torch.Tensor
    steps: int


def fit_device(name: str, field: str) -> torch.device:
    """The device ``name`` says (``"auto"``: CUDA when available); ``field`` is named in errors."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"{field} is 'cuda' but no CUDA device is available")
    return torch.device(name)


def split_heldout(
    count: int, generator: torch.Generator, label: str = "tokenizer", items: str = "grids"
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(train indices, held-out indices)``: a random tenth (at least one) held out."""
    if count < 2:
        raise ValueError(f"fitting the {label} needs at least 2 {items} (one is held out), got {count}")
    order = torch.randperm(count, generator=generator)
    held = max(1, round(HELDOUT_SHARE * count))
    return order[held:], order[:held]


@torch.no_grad()
def reconstruct(model: VQGAN, grids: torch.Tensor, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(reconstructions, codes)`` of grids through the model's encode and decode, on the CPU."""
    device = next(model.parameters()).device
    recon, codes = [], []
    for chunk in grids.split(batch_size):
        c = model.encode(chunk.to(device))
        recon.append(model.decode(c).float().cpu())
        codes.append(c.cpu())
    return torch.cat(recon), torch.cat(codes)


def train_vqgan(model: VQGAN, grids: torch.Tensor, options: VQGANFitOptions) -> VQGANFitResult:
    """Train ``model`` on ``grids`` (``[N, C, H, W]``, about ``[-1, 1]``) as ``options`` say.

    The model ends in eval mode on the CPU. Draws from the torch RNG inside a
    forked RNG state, so the caller's random state is left as it was.
    """
    device = options.device
    cuda = [device.index or 0] if device.type == "cuda" else []
    autocast = device.type == "cuda"
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(FIT_SEED)
        generator = torch.Generator().manual_seed(FIT_SEED)
        train_idx, held_idx = split_heldout(grids.shape[0], generator, options.label, options.items)
        train, held = grids[train_idx], grids[held_idx]
        discriminator = PatchDiscriminator(
            in_channels=grids.shape[1],
            base_channels=options.discriminator_channels,
            num_layers=options.discriminator_layers,
        )
        loss_fn = VQGANLoss(discriminator, options.adversarial_weight, options.adversarial_start).to(device)
        model.to(device).train()
        opt_model = torch.optim.Adam(model.parameters(), lr=options.lr, betas=ADAM_BETAS)
        opt_disc = torch.optim.Adam(discriminator.parameters(), lr=options.lr, betas=ADAM_BETAS)
        steps = options.steps
        report_every = max(1, steps // 100)  # .item() syncs with the device: not every step
        with progress_bar(options.label) as progress:
            task = progress.add_task("", total=steps)
            for step in range(steps):
                pick = torch.randint(train.shape[0], (options.batch_size,), generator=generator)
                batch = train[pick].to(device, non_blocking=True)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                    out = model(batch)
                    loss, _ = loss_fn.generator_loss(batch, out, step)
                opt_model.zero_grad(set_to_none=True)
                loss.backward()
                opt_model.step()
                if options.adversarial_weight > 0 and step >= options.adversarial_start:
                    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                        disc_loss = loss_fn.discriminator_loss(batch, out.reconstruction)
                    opt_disc.zero_grad(set_to_none=True)
                    disc_loss.backward()
                    opt_disc.step()
                if step % report_every == 0 or step == steps - 1:
                    extra = options.describe(out.reconstruction.float(), batch) if options.describe else ""
                    progress.update(task, description=f"loss {loss.item():.4f}  {extra}".rstrip())
                progress.advance(task)
        model.eval()
        reconstructions, codes = reconstruct(model, held, options.batch_size)
    model.cpu()
    return VQGANFitResult(heldout_index=held_idx, heldout=held, reconstructions=reconstructions, codes=codes, steps=steps)
