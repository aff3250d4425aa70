"""Input validation shared by the functional warps, Compose and the reference.

Every check raises TypeError (wrong type or dtype) or ValueError (wrong shape, size,
value or device) with a message that names the argument, what was expected and what
was received. Nothing here copies or modifies a tensor.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence

import torch

IMAGE_DTYPES = (torch.uint8, torch.float16, torch.bfloat16, torch.float32, torch.float64)
MASK_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)
#: Volume intensities: CT's int16 and microscopy's uint8 beside the floats, all read unscaled.
VOLUME_DTYPES = (torch.uint8, torch.int16, torch.float16, torch.bfloat16, torch.float32, torch.float64)
#: Where points outside the image read; a kernel's PADDING constexpr is the index here.
PADDING_MODES = ("constant", "replicate", "reflect")
#: What masks read outside the image: ``ignore_index``, or the image's padded point.
MASK_PADDINGS = ("ignore", "same")


#: Channel counts a channels-last image has in its last dimension (grey, RGB, RGBA).
CHANNELS_LAST_SIZES = (1, 3, 4)


def check_images(
    images: object, name: str = "images", *, guess_layout: bool = True, sample: bool = False
) -> tuple[int, int, int, int]:
    """Check a B×C×H×W image batch and return (B, C, H, W).

    ``sample``: ``images`` is one C×H×W sample of a list with a batch axis added, and the
    messages speak of the sample's own shape.

    With ``guess_layout``, a batch that looks channels-last (B×H×W×C passed as B×C×H×W) is
    rejected with a hint to permute it. The rule: C > 4, H > 4 and W in {1, 3, 4}. Every
    channels-last batch of grey, RGB or RGBA images larger than 4×4 matches it; a real
    B×C×H×W batch matches only with 5 or more channels, a width of 1, 3 or 4 px and a
    height above 4 px (never grey, RGB or RGBA, never an image of 5 px or wider).
    """
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(images).__name__}")
    if images.dim() != 4:
        raise ValueError(f"{name}: expected a 4-D tensor B×C×H×W, got shape {tuple(images.shape)}")
    if images.dtype not in IMAGE_DTYPES:
        raise TypeError(f"{name}: expected dtype uint8, float16, bfloat16, float32 or float64, got {images.dtype}")
    b, c, h, w = images.shape
    if h == 0 or w == 0:
        raise ValueError(f"{name}: height and width must be positive, got shape {tuple(images.shape)}")
    if c == 0:
        raise ValueError(f"{name}: expected at least one channel, got shape {tuple(images.shape)}")
    if guess_layout and c > 4 and h > 4 and w in CHANNELS_LAST_SIZES:
        shape, given, wanted, order = (
            (images.shape[1:], "H×W×C", "C×H×W", "2, 0, 1")
            if sample
            else (images.shape, "B×H×W×C", "B×C×H×W", "0, 3, 1, 2")
        )
        raise ValueError(
            f"{name}: shape {tuple(shape)} looks like channels-last {given} (an image {c}×{h} with {w} "
            f"channels); gpuaug expects {wanted}: pass {name}.permute({order})"
        )
    return b, c, h, w


def check_masks(masks: object, name: str = "masks") -> tuple[int, int, int]:
    """Check a B×H×W or B×1×H×W integer label batch and return (B, H, W)."""
    if not isinstance(masks, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(masks).__name__}")
    if masks.dtype not in MASK_DTYPES:
        raise TypeError(
            f"{name}: expected an integer label dtype (uint8, int8, int16, int32, int64), got {masks.dtype}; "
            "masks are labels and are never interpolated or cast"
        )
    if masks.dim() == 4 and masks.shape[1] != 1:
        raise ValueError(f"{name}: a 4-D mask must be B×1×H×W, got shape {tuple(masks.shape)}")
    if masks.dim() not in (3, 4):
        raise ValueError(f"{name}: expected B×H×W or B×1×H×W, got shape {tuple(masks.shape)}")
    b, h, w = masks.shape[0], masks.shape[-2], masks.shape[-1]
    if h == 0 or w == 0:
        raise ValueError(f"{name}: height and width must be positive, got shape {tuple(masks.shape)}")
    return b, h, w


def check_volumes(volumes: object, name: str = "images") -> tuple[int, ...]:
    """Check a B×C×D×H×W volume batch and return (B, C, D, H, W)."""
    if not isinstance(volumes, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(volumes).__name__}")
    if volumes.dim() != 5:
        raise ValueError(f"{name}: expected a 5-D tensor B×C×D×H×W for volume ops, got shape {tuple(volumes.shape)}")
    if volumes.dtype not in VOLUME_DTYPES:
        raise TypeError(
            f"{name}: expected dtype uint8, int16, float16, bfloat16, float32 or float64 for volumes, "
            f"got {volumes.dtype}"
        )
    if volumes.shape[1] == 0 or 0 in volumes.shape[2:]:
        raise ValueError(f"{name}: channels, depth, height and width must be positive, got {tuple(volumes.shape)}")
    return tuple(volumes.shape)


def check_volume_masks(masks: object, name: str = "masks") -> tuple[int, int, int, int]:
    """Check a B×D×H×W or B×1×D×H×W integer label batch and return (B, D, H, W)."""
    if not isinstance(masks, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(masks).__name__}")
    if masks.dtype not in MASK_DTYPES:
        raise TypeError(
            f"{name}: expected an integer label dtype (uint8, int8, int16, int32, int64), got {masks.dtype}; "
            "masks are labels and are never interpolated or cast"
        )
    if masks.dim() not in (4, 5) or masks.dim() == 5 and masks.shape[1] != 1:
        raise ValueError(f"{name}: expected B×D×H×W or B×1×D×H×W label volumes, got shape {tuple(masks.shape)}")
    b, d, h, w = masks.shape[0], *masks.shape[-3:]
    if 0 in (d, h, w):
        raise ValueError(f"{name}: depth, height and width must be positive, got shape {tuple(masks.shape)}")
    return b, d, h, w


def check_pair(images: torch.Tensor, masks: torch.Tensor) -> None:
    """Check that images and masks describe the same batch on the same device."""
    b, _, h, w = images.shape
    mb, mh, mw = check_masks(masks)
    if mb != b:
        raise ValueError(f"masks: batch size {mb} does not match images batch size {b}")
    if (mh, mw) != (h, w):
        raise ValueError(f"masks: spatial size {mh}×{mw} does not match images spatial size {h}×{w}")
    if masks.device != images.device:
        raise ValueError(f"masks: expected the images' device {images.device}, got {masks.device}")


def check_int(value: object, name: str) -> int:
    """Return ``value`` as an int: a Python int, an integer numpy scalar or a 0-d integer tensor.

    Bools and floats (of any kind) raise TypeError. A 0-d tensor is read once (a host sync
    when it lives on a GPU).
    """
    if isinstance(value, torch.Tensor):
        if value.dim() != 0 or value.is_floating_point() or value.is_complex() or value.dtype == torch.bool:
            raise TypeError(f"{name}: expected an int, got a {value.dtype} tensor of shape {tuple(value.shape)}")
        return int(value)
    if not isinstance(value, bool):
        try:
            return operator.index(value)
        except TypeError:
            pass
    raise TypeError(f"{name}: expected an int, got {type(value).__name__}")


def check_ignore_index(value: object, dtype: torch.dtype, name: str = "ignore_index") -> int:
    """Check that an ignore value is an int the mask dtype can hold, and return it."""
    value = check_int(value, name)
    info = torch.iinfo(dtype)
    if not info.min <= value <= info.max:
        raise ValueError(
            f"{name}: {value} cannot be stored in mask dtype {dtype} (range [{info.min}, {info.max}]); "
            "choose an ignore value the dtype can hold or widen the mask dtype"
        )
    return value


def check_matrix(matrix: object, batch: int, device: torch.device) -> torch.Tensor:
    """Check a B×3×3 output→source matrix and return it as float32 (a no-op when it already is)."""
    if not isinstance(matrix, torch.Tensor):
        raise TypeError(f"matrix: expected a torch.Tensor, got {type(matrix).__name__}")
    if matrix.shape != (batch, 3, 3):
        raise ValueError(f"matrix: expected shape ({batch}, 3, 3), got {tuple(matrix.shape)}")
    if not matrix.is_floating_point():
        raise TypeError(f"matrix: expected a floating-point tensor, got {matrix.dtype}")
    if matrix.device != device:
        raise ValueError(f"matrix: expected the data's device {device}, got {matrix.device}")
    return matrix.to(torch.float32)


def check_size(size: object, name: str, dims: int = 2) -> tuple[int, ...]:
    """Normalise an int or (h, w) size to a pair of positive ints; with ``dims`` 3 an int (a
    cube) or (d, h, w) to three."""
    what = "a (height, width) pair" if dims == 2 else "a (depth, height, width) triple"
    if isinstance(size, int) and not isinstance(size, bool):
        values: Sequence[object] = (size,) * dims
    elif isinstance(size, Sequence) and not isinstance(size, str) and len(size) == dims:
        values = size
    else:
        raise TypeError(f"{name}: expected an int or {what}, got {size!r}")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise TypeError(f"{name}: expected ints, got {size!r}")
    if not all(v > 0 for v in values):
        raise ValueError(f"{name}: expected positive ints, got {size!r}")
    return tuple(int(v) for v in values)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_fill(fill: object, channels: int | None = None) -> tuple[float, ...]:
    """Normalise a float or per-channel sequence fill to a tuple of finite floats (output scale)."""
    if _is_number(fill):
        values: tuple[float, ...] = (float(fill),)
    elif isinstance(fill, Sequence) and not isinstance(fill, str) and len(fill) > 0:
        if not all(_is_number(v) for v in fill):
            raise TypeError(f"fill: expected numbers, got {fill!r}")
        values = tuple(float(v) for v in fill)
    else:
        raise TypeError(f"fill: expected a float or a non-empty sequence of floats, got {fill!r}")
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"fill: expected finite values, got {fill!r}")
    if channels is not None and len(values) not in (1, channels):
        raise ValueError(f"fill: expected 1 or {channels} values (one per channel), got {len(values)}")
    return values


def check_probability(p: object, name: str = "p") -> float:
    """Check a probability in [0, 1]."""
    if not _is_number(p):
        raise TypeError(f"{name}: expected a probability (a number in [0, 1]), got {p!r}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name}: expected a probability in [0, 1], got {p!r}")
    return float(p)


def check_number(value: object, name: str, low: float, high: float, above: str = "") -> float:
    """Check a number in [low, high]; ``above`` is appended to the message of a value above ``high``."""
    if not _is_number(value):
        raise TypeError(f"{name}: expected a number in [{low}, {high}], got {value!r}")
    if not low <= value <= high:  # False for NaN too
        hint = above if value > high else ""
        raise ValueError(f"{name}: expected a number in [{low}, {high}], got {value!r}{hint}")
    return float(value)


def check_range(
    value: object, name: str, *, symmetric: bool = False, low: float | None = None, positive: bool = False
) -> tuple[float, float]:
    """Normalise a (min, max) range; a single number means (-v, v) when ``symmetric``.

    ``low`` bounds the values from below (inclusive); ``positive`` requires them to be > 0.
    """
    if symmetric and _is_number(value):
        if value < 0:
            raise ValueError(f"{name}: a single number must be non-negative, got {value}")
        pair: tuple[float, float] = (-float(value), float(value))
    elif isinstance(value, Sequence) and len(value) == 2 and all(_is_number(v) for v in value):
        pair = (float(value[0]), float(value[1]))
    else:
        expected = "a number or a (min, max) pair" if symmetric else "a (min, max) pair"
        raise TypeError(f"{name}: expected {expected}, got {value!r}")
    if not all(math.isfinite(v) for v in pair):
        raise ValueError(f"{name}: expected finite values, got {value!r}")
    if pair[0] > pair[1]:
        raise ValueError(f"{name}: expected min <= max, got {value!r}")
    if low is not None and pair[0] < low:
        raise ValueError(f"{name}: values must be >= {low}, got {value!r}")
    if positive and pair[0] <= 0:
        raise ValueError(f"{name}: expected positive values, got {value!r}")
    return pair


def check_bool(value: object, name: str) -> bool:
    """Check that ``value`` is True or False (not a number, not a tensor) and return it."""
    if not isinstance(value, bool):
        raise TypeError(f"{name}: expected True or False, got {value!r}")
    return value


def check_choice(value: object, choices: tuple[str, ...], name: str) -> str:
    """Check that ``value`` is one of the strings ``choices`` and return it."""
    if not isinstance(value, str):
        raise TypeError(f"{name}: expected one of {choices}, got {type(value).__name__}")
    if value not in choices:
        raise ValueError(f"{name}: expected one of {choices}, got {value!r}")
    return value


def check_num_classes(num_classes: object) -> int:
    """Check a class count (a positive int) and return it."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int):
        raise TypeError(f"num_classes: expected a positive int, got {type(num_classes).__name__}")
    if num_classes < 1:
        raise ValueError(f"num_classes: expected a positive int, got {num_classes!r}")
    return num_classes
