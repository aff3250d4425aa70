"""The target kind interface and the check that turns a call's ``targets`` dict into kinds.

A target kind is a class with three parts:

- ``claims(value, context)`` / ``check(value, key, context)`` (classmethods of a *family*,
  a class declared with ``family=True``): whether a value given in ``targets`` is this
  family's, and the checked target (an instance of the family or of one of its subclasses);
- ``sources``: the :class:`gpuaug.core.planes.Planes` the warp moves for it (none for
  points);
- ``finish(warped, frame)``: its output from its warped sources, in the order of
  ``sources``, and a :class:`Frame`.

The engine and :func:`gpuaug.reference.apply` read only this interface, so a new kind is one
new file imported by :mod:`gpuaug.targets`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar

import torch

from gpuaug.core.batch import Batch
from gpuaug.core.planes import Planes

__all__ = ["Context", "Frame", "TargetKind", "check_targets", "check_follow_canvas"]

#: The families that claim values of a ``targets`` dict, in the order they are asked.
FAMILIES: list[type[TargetKind]] = []


@dataclass(frozen=True)
class Context:
    """What a target is checked against: the batch (:func:`gpuaug.core.batch.read_batch`)
    and the params' label and padding rules."""

    batch: Batch
    ignore_index: int
    padding_mode: str
    mask_padding: str

    @property
    def listed(self) -> bool:
        """The images came as a list, so per-pixel targets come as lists too."""
        return self.batch.in_size is None


@dataclass(frozen=True)
class Frame:
    """What a target's ``finish`` reads: the output batch size B, the output (h, w) and the
    map of B×N×2 source points to ``(output points, visible)`` through each sample's matrix."""

    batch: int
    out_size: tuple[int, int]
    map_points: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


class TargetKind:
    """One kind of target; see the module docstring."""

    #: The values a family takes, as an error message names them.
    takes: ClassVar[tuple[str, ...]] = ()
    #: Whether the target can follow canvas ops (a pixel of theirs may come from another sample).
    follows_canvas: ClassVar[bool] = True
    #: The kind as error messages name it.
    title: ClassVar[str] = "target"

    sources: tuple[Planes, ...] = ()

    def __init_subclass__(cls, *, family: bool = False, **kwargs):
        super().__init_subclass__(**kwargs)
        if family:
            FAMILIES.append(cls)

    @classmethod
    def claims(cls, value: object, context: Context) -> bool:
        raise NotImplementedError

    @classmethod
    def check(cls, value: object, key: str, context: Context) -> TargetKind:
        raise NotImplementedError

    def finish(self, warped: tuple[torch.Tensor, ...], frame: Frame) -> object:
        raise NotImplementedError


def check_targets(
    targets: object, batch: Batch, ignore_index: int, padding_mode: str, mask_padding: str
) -> list[tuple[object, TargetKind]]:
    """Check ``targets`` against the batch (:func:`gpuaug.core.batch.read_batch`) and return
    (name, checked target) pairs in the dict's order."""
    takes = [t for family in FAMILIES for t in family.takes]
    accepted = f"{', '.join(takes[:-1])} or {takes[-1]}"
    if not isinstance(targets, Mapping):
        raise TypeError(f"targets: expected a dict name → {accepted}, got {type(targets).__name__}")
    context = Context(batch, ignore_index, padding_mode, mask_padding)
    checked = []
    for name, value in targets.items():
        key = f"targets[{name!r}]"
        family = next((f for f in FAMILIES if f.claims(value, context)), None)
        if family is None:
            raise TypeError(f"{key}: expected a {accepted}, got {type(value).__name__}")
        checked.append((name, family.check(value, key, context)))
    return checked


def check_follow_canvas(checked: list[tuple[object, TargetKind]] | None, names: list[str]) -> None:
    """Raise if a checked target cannot follow the canvas ops ``names`` of the params."""
    for _, target in checked or ():
        if names and not target.follows_canvas:
            raise ValueError(
                f"targets: {target.title} cannot follow {names}: a pixel may come from another sample or be displaced"
            )
