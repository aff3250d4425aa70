"""Counter-based random numbers from integer hashing, identical in torch and in the kernels.

``normal(seed, index)`` is a pure function of a per-sample seed (drawn once from the
caller's generator) and a per-element counter, so noise is replayable from the seeds kept
in :class:`gpuaug.Params`, needs no host sync, and the Triton kernels reproduce it with the
same integer arithmetic (``kernels/common.py``, :func:`hash_normal`). All integer work is
done in int64 on values below 2**32 with multipliers below 2**31, so nothing overflows.

Spec: ``mix(x)``: x ^= x >> 16; x = (x · 0x7FEB352D) mod 2**32; x ^= x >> 15;
x = (x · 0x2C1B3C6D) mod 2**32; x ^= x >> 16. ``uniform(seed, n)`` = (mix((seed mod 2**32 ·
0x632BE5AB + n) mod 2**32) >> 8 + 0.5) / 2**24, in (0, 1). ``normal(seed, n)`` = Box-Muller
of ``uniform(seed, 2n)`` and ``uniform(seed, 2n + 1)``: sqrt(−2 ln u1) · cos(2π u2).
"""

from __future__ import annotations

import math

import torch

MASK32 = 0xFFFFFFFF
SEED_MULTIPLIER = 0x632BE5AB
MIX_1 = 0x7FEB352D
MIX_2 = 0x2C1B3C6D


def _mix(x: torch.Tensor) -> torch.Tensor:
    x = x ^ (x >> 16)
    x = (x * MIX_1) & MASK32
    x = x ^ (x >> 15)
    x = (x * MIX_2) & MASK32
    return x ^ (x >> 16)


def bits(seed: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """32 hashed bits (as int64 in [0, 2**32)) for int64 ``seed`` and ``index`` (broadcast together)."""
    return _mix(((seed & MASK32) * SEED_MULTIPLIER + index) & MASK32)


def uniform(seed: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """float32 uniforms in (0, 1) for int64 ``seed`` and ``index`` (broadcast together)."""
    return ((bits(seed, index) >> 8).to(torch.float32) + 0.5) * (1.0 / 16777216.0)


def sample_keys(seed: int, sample_ids: torch.Tensor) -> torch.Tensor:
    """Per-sample int64 keys from an epoch ``seed`` and int64 ``sample_ids`` (on their device).

    ``bits(seed, id)`` of the seed and the id, so a sample's key depends on nothing else.
    """
    return bits(torch.full_like(sample_ids, seed & MASK32), sample_ids & MASK32)


def normal(seed: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """float32 standard normals for int64 ``seed`` and ``index`` (broadcast together)."""
    u1 = uniform(seed, 2 * index)
    u2 = uniform(seed, 2 * index + 1)
    return torch.sqrt(-2.0 * torch.log(u1)) * torch.cos((2.0 * math.pi) * u2)
