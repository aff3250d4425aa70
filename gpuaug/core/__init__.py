"""The core layer: what every other layer of gpuaug builds on, importing only torch.

- :mod:`gpuaug.core.ragged`: variable-size batches as one buffer and an extent table;
- :mod:`gpuaug.core.views`: per-pixel source samples of the canvas ops;
- :mod:`gpuaug.core.device`: moving small tensors to the device without a host sync;
- :mod:`gpuaug.core.constants`: constants that ops and kernels share;
- :mod:`gpuaug.core.types`: type aliases shared across layers.

The kernels (``gpuaug.kernels``) import the core only; the ops, targets and the engine
import it too. docs/design.md shows the layers.
"""
