"""Triton kernels of gpuaug, installed as ``gpuaug.kernels``.

One kernel per module, each with its launch helper beside it:

- ``gather_nearest``: nearest-neighbour label gather for masks (any integer dtype);
- ``warp_bilinear``: bilinear warp for images (uint8 or float in, float32 out);
- ``fused_image``: the warp plus ColorJitter or PhotoMetricDistortion, RandomGrayscale,
  GaussianNoise and Normalize in one pass, for RGB images (float32, bfloat16 or float16 out).

``common`` holds the shared ``@triton.jit`` helpers (the coordinate contract, the inside
test, the bilinear taps, the noise hash), the tile and the launch helper; ``aot`` compiles
every launch the public API makes ahead of time, without a GPU (``tests/test_compile.py``,
``bench/kernels.py``). The design they follow is ``docs/design.md``.

Importing this package imports Triton. Set ``TRITON_INTERPRET=1`` *before* the import to
run the kernels on CPU tensors through Triton's interpreter.
"""
