"""``uio export``: safetensors weights, config.json and a model card from a checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import save_file

from uio.core.checkpoint import UIO_KEY, atomic_torch_save, load_checkpoint_file


def export_checkpoint(checkpoint_path: str | Path, out_dir: str | Path) -> Path:
    """Write ``model.safetensors``, ``config.json``, ``tokenizers.pt`` and ``README.md``."""
    checkpoint = load_checkpoint_file(checkpoint_path)
    section = checkpoint[UIO_KEY]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    weights = {
        k.removeprefix("model."): v.contiguous()
        for k, v in checkpoint["state_dict"].items()
        if k.startswith("model.")
    }
    save_file(weights, str(out / "model.safetensors"))
    meta = {"uio_version": section["version"], "config": section["config"], "manifest": section["manifest"]}
    with open(out / "config.json", "w") as f:
        json.dump(meta, f, indent=2)
    atomic_torch_save(section["tokenizers"], out / "tokenizers.pt")
    n_params = sum(v.numel() for v in weights.values())
    ranges = "\n".join(
        f"| {m['name']} | {m['start']} | {m['size']} | {m.get('plugin_version', '')} |"
        for m in section["manifest"]["modalities"]
    )
    card = (
        f"# {section['config']['name']}\n\n"
        f"A uio {section['version']} model with {n_params:,} parameters, trained for "
        f"{checkpoint.get('global_step', '?')} steps.\n\n"
        f"Unified vocabulary: {section['manifest']['size']:,} ids.\n\n"
        "| modality | first id | ids | plugin version |\n|---|---|---|---|\n"
        f"{ranges}\n\n"
        "Files: `model.safetensors` (weights), `config.json` (resolved config and vocabulary "
        "manifest), `tokenizers.pt` (tokenizer states; `torch.load(..., weights_only=True)`).\n"
    )
    with open(out / "README.md", "w") as f:
        f.write(card)
    return out
