"""Triton kernels of gpuaug, installed as ``gpuaug.kernels``.

One kernel per module, each with its launch helper beside it:

- ``gather_nearest``: nearest-neighbour label gather for masks (any integer dtype);
- ``warp_bilinear``: bilinear warp for images (uint8 or float in, float32 out).

Importing this package imports Triton. Set ``TRITON_INTERPRET=1`` *before* the import to
run the kernels on CPU tensors through Triton's interpreter.
"""
