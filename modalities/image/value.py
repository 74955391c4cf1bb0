"""The raw value of the image modality: loading, checking and resizing it.

An image value is one of:

- a ``PIL.Image.Image`` (any mode Pillow can convert to RGB);
- a path (``str`` or ``pathlib.Path``) to an image file; relative paths are
  resolved against the example's ``base_dir`` (``ProcessContext.base_dir``), or
  the working directory without one;
- a numpy array or torch tensor, either ``H x W x 3`` ``uint8`` (numpy's and
  Pillow's layout) or ``3 x H x W`` floats in ``[0, 1]`` (torchvision's layout).

A **history** (video frames, past observations) is a list of image values.

Every image comes out as an RGB ``uint8`` array of shape ``[side, side, 3]``.
Not strict (the default), any mode is converted to RGB (an alpha channel is
dropped, as Pillow's ``convert("RGB")`` does) and any size is resized to the
square, *stretching* a non-square image rather than cropping it (cropping could
cut off what a caption or a box talks about). Strict, a non-RGB image or one of
another size is an error. EXIF orientation is applied first, so a photo comes out
the way up a viewer shows it. A multi-frame file (GIF) gives its first frame.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from uio.plugins import ProcessContext

#: What opening or decoding a damaged file raises in Pillow (broken PNG chunks
#: raise SyntaxError, bad zlib streams zlib.error, truncated data OSError).
_UNREADABLE = (
    UnidentifiedImageError,
    OSError,
    SyntaxError,
    EOFError,
    zlib.error,
    Image.DecompressionBombError,
)

_ORIENTATION = 0x0112  # the EXIF orientation tag

ARRAY_LAYOUTS = "H x W x 3 uint8 (RGB) or 3 x H x W floats in [0, 1]"


def where(ctx: ProcessContext) -> str:
    """``"example 'id'"`` for error messages (``"an example"`` without an id)."""
    return f"example {ctx.example_id!r}" if ctx.example_id else "an example"


def is_history(value: Any) -> bool:
    """Whether a raw value is a history (a list of images) rather than one image."""
    return isinstance(value, list | tuple)


def resolve_path(value: str | os.PathLike, ctx: ProcessContext) -> Path:
    """An image path resolved against the example's ``base_dir`` (or the working directory)."""
    path = Path(value).expanduser()
    if path.is_absolute():
        return path
    return (ctx.base_dir or Path.cwd()) / path


# --------------------------------------------------------------------------- sources


def _array_image(array: np.ndarray) -> Image.Image:
    """An RGB image from an array in one of :data:`ARRAY_LAYOUTS`."""
    shape = " x ".join(str(n) for n in array.shape) or "()"
    if array.size == 0:
        raise ValueError(f"the array is empty (shape {shape}); expected {ARRAY_LAYOUTS}")
    if array.dtype == np.uint8:
        if array.ndim == 3 and array.shape[2] == 3:
            return Image.fromarray(np.ascontiguousarray(array), "RGB")
        hint = (
            "; a 2D array looks like grayscale: stack it to 3 channels, np.stack([a] * 3, -1)"
            if array.ndim == 2
            else ""
        )
        raise ValueError(f"a uint8 array of shape {shape}; expected H x W x 3{hint}")
    if np.issubdtype(array.dtype, np.floating):
        if not (array.ndim == 3 and array.shape[0] == 3):
            raise ValueError(
                f"a float array of shape {shape}; expected 3 x H x W with values in [0, 1] "
                f"(or H x W x 3 as uint8)"
            )
        if not np.isfinite(array).all():
            raise ValueError("the array holds NaN or infinite values; expected floats in [0, 1]")
        low, high = float(array.min()), float(array.max())
        if low < 0.0 or high > 1.0:
            raise ValueError(
                f"the array's values span [{low:g}, {high:g}]; expected floats in [0, 1]"
            )
        hwc = np.rint(array.transpose(1, 2, 0).astype(np.float64) * 255.0).astype(np.uint8)
        return Image.fromarray(hwc, "RGB")
    raise TypeError(f"an array of dtype {array.dtype}; expected {ARRAY_LAYOUTS}")


def _tensor_array(tensor: torch.Tensor) -> np.ndarray:
    tensor = tensor.detach().cpu()
    if tensor.dtype in (torch.bfloat16, torch.float16):
        tensor = tensor.float()
    return tensor.numpy()


@contextmanager
def _opened(path: Path, ctx: ProcessContext, role: str) -> Iterator[Image.Image]:
    """The decoded image in a file; errors name the example and the resolved path."""
    if not path.is_file():
        base = " (relative paths are resolved against the example's base_dir)" if ctx.base_dir else ""
        raise ValueError(f"{where(ctx)}: image {role} file {path} does not exist{base}")
    image = None
    try:
        image = Image.open(path)
        image.load()
    except _UNREADABLE as exc:
        if image is not None:
            image.close()
        raise ValueError(
            f"{where(ctx)}: image {role} file {path} cannot be read as an image "
            f"({type(exc).__name__}: {exc})"
        ) from exc
    with image:
        yield image


@contextmanager
def _source(value: Any, ctx: ProcessContext, role: str) -> Iterator[tuple[Image.Image, str]]:
    """The PIL image of one image value, and how to name it in errors."""
    if isinstance(value, Image.Image):
        yield value, "(PIL image)"
    elif isinstance(value, str | os.PathLike):
        path = resolve_path(value, ctx)
        with _opened(path, ctx, role) as image:
            yield image, f"file {path}"
    elif isinstance(value, np.ndarray | torch.Tensor):
        array = _tensor_array(value) if isinstance(value, torch.Tensor) else value
        try:
            image = _array_image(array)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{where(ctx)}: image {role}: {exc}") from None
        yield image, "(array)"
    else:
        raise TypeError(
            f"{where(ctx)}: image {role} is a {type(value).__name__}; expected a PIL image, a "
            f"file path, an array ({ARRAY_LAYOUTS}) or a list of those (a history)"
        )


# --------------------------------------------------------------------------- fitting to size


def _resize(image: Image.Image, side: int) -> Image.Image:
    if image.size == (side, side):
        return image
    # BOX (the mean of the covered pixels) when shrinking: exact for integer factors
    # and free of the ringing LANCZOS and BICUBIC add at the sharp edges of flat-coloured
    # renders, which would give the VQ codes halo colours to learn. Enlarging with BOX
    # would be blocky, so BICUBIC there.
    shrinking = image.width >= side and image.height >= side
    resample = Image.Resampling.BOX if shrinking else Image.Resampling.BICUBIC
    return image.resize((side, side), resample=resample)


def _fit(
    image: Image.Image,
    *,
    side: int,
    strict: bool,
    strict_sides: Sequence[int],
    source: str,
    ctx: ProcessContext,
    role: str,
) -> np.ndarray:
    prefix = f"{where(ctx)}: image {role} {source}"
    if image.getexif().get(_ORIENTATION, 1) != 1:  # what a viewer shows, strict or not
        image = ImageOps.exif_transpose(image)
    if image.width == 0 or image.height == 0:
        raise ValueError(f"{prefix} is empty ({image.width}x{image.height} pixels)")
    if strict:
        if image.mode != "RGB":
            raise ValueError(
                f"{prefix} has mode {image.mode!r}; expected 'RGB' (image.strict is true, which "
                f"refuses conversions; set image.strict=false to convert any mode to RGB)"
            )
        sides = sorted(set(strict_sides) | {side})
        if image.width != image.height or image.width not in sides:
            expected = " or ".join(f"{s}x{s}" for s in sides)
            raise ValueError(
                f"{prefix} is {image.width}x{image.height} pixels; expected {expected} (image.strict "
                f"is true, which refuses other sizes; set image.strict=false to resize)"
            )
    elif image.mode != "RGB":
        image = image.convert("RGB")
    return np.asarray(_resize(image, side), dtype=np.uint8).copy()


# --------------------------------------------------------------------------- public


def load_image(
    value: Any,
    ctx: ProcessContext,
    *,
    side: int,
    role: str,
    strict: bool = False,
    strict_sides: Sequence[int] = (),
) -> np.ndarray:
    """One image value as an RGB ``uint8`` array ``[side, side, 3]``.

    Args:
        value: a PIL image, a path, or an array/tensor (see the module docstring).
        ctx: names the example in errors and resolves relative paths.
        side: the square side to resize to.
        role: ``"input"`` or ``"target"``, named in errors.
        strict: refuse non-RGB images and sizes other than ``side`` or one of
            ``strict_sides`` instead of converting them.
        strict_sides: other square sides accepted when strict (e.g. the input
            side when loading a target), since resizing between configured
            sides is part of the model.

    Raises:
        ValueError: a missing or unreadable file (naming the resolved path), an
            array of the wrong shape or with NaN/inf or out-of-range values, an
            empty image, or (strict) a wrong mode or size.
        TypeError: a value of another type, or an array of another dtype.
    """
    with _source(value, ctx, role) as (image, source):
        return _fit(
            image, side=side, strict=strict, strict_sides=strict_sides, source=source, ctx=ctx, role=role
        )


def read_image(value: Any, ctx: ProcessContext, *, role: str) -> Image.Image:
    """One image value as a PIL RGB image at its own size (upright, not resized).

    Raises the errors of :func:`load_image` that are not about size or mode.
    """
    with _source(value, ctx, role) as (image, _):
        if image.getexif().get(_ORIENTATION, 1) != 1:
            image = ImageOps.exif_transpose(image)
        return image.convert("RGB") if image.mode != "RGB" else image.copy()


def load_frames(
    value: Any,
    ctx: ProcessContext,
    *,
    side: int,
    role: str,
    strict: bool = False,
    strict_sides: Sequence[int] = (),
) -> list[np.ndarray]:
    """The frames of an image value: one for an image, several for a history (a list).

    Same arguments and errors as :func:`load_image`; an empty history or a
    frame that is itself a list is an error too.
    """
    if not is_history(value):
        return [load_image(value, ctx, side=side, role=role, strict=strict, strict_sides=strict_sides)]
    if not value:
        raise ValueError(f"{where(ctx)}: image {role} is an empty history (a list with no images)")
    frames = []
    for i, frame in enumerate(value):
        if is_history(frame):
            raise TypeError(
                f"{where(ctx)}: image {role} frame {i} is a {type(frame).__name__}; a history is "
                f"a flat list of images"
            )
        frames.append(
            load_image(
                frame, ctx, side=side, role=f"{role} frame {i}", strict=strict, strict_sides=strict_sides
            )
        )
    return frames
