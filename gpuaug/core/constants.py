"""Constants that more than one layer reads (the ops, the reference, the kernels)."""

__all__ = ["GRAY_WEIGHTS"]

#: Rec. 601 luma weights for (R, G, B): grayscale, ColorJitter's contrast and saturation, in
#: the torch path and the fused kernel alike.
GRAY_WEIGHTS = (0.299, 0.587, 0.114)
