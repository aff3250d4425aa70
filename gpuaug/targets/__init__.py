"""Several targets: label maps, dense maps and points warped with the images (docs/design.md).

``targets`` is a dict name → value, passed to :class:`gpuaug.Compose` calls, ``apply`` and
:func:`gpuaug.reference.apply`; each value is

- an integer tensor B×H×W, B×1×H×W or B×K×H×W: a label map, gathered by nearest like the
  masks (dtype and layout kept), ``ignore_index`` outside (following ``mask_padding``);
- a floating tensor B×K×H×W: a dense map (depth, loss weights, heatmaps, logits), sampled
  bilinearly like the images but in its own float dtype, 0.0 outside (following
  ``padding_mode``), never touched by the pixel ops;
- a :class:`Target`, which overrides either default;
- a :class:`Points`, B×N×2 pixel coordinates mapped source → output.

With samples of different sizes, a map is a list of B per-sample tensors (Hᵢ×Wᵢ or
K×Hᵢ×Wᵢ, matching the images of a list), or a padded tensor like the images with ``sizes=``;
each is read within its sample's own extent, and comes back stacked.

Targets are data, not params: :class:`gpuaug.Params` is the same with or without them.
Each kind is a class of :mod:`gpuaug.targets.base`'s interface: per-pixel maps in
:mod:`gpuaug.targets.maps`, points in :mod:`gpuaug.targets.points`.
"""

from gpuaug.targets.maps import INTERPOLATIONS, Target
from gpuaug.targets.points import Points

__all__ = ["Target", "Points", "INTERPOLATIONS"]
