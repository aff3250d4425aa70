"""Constants that more than one layer reads (the ops, the engine, the reference, the kernels)."""

import torch

__all__ = ["GRAY_WEIGHTS", "OUT_DTYPES"]

#: Rec. 601 luma weights for (R, G, B): grayscale, ColorJitter's contrast and saturation, in
#: the torch path and the fused kernel alike.
GRAY_WEIGHTS = (0.299, 0.587, 0.114)

#: The image dtypes Compose can return (``out_dtype``).
OUT_DTYPES = (torch.float32, torch.bfloat16, torch.float16)
