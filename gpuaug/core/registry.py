"""The one op registry: every op class by its class name, the name records and configs carry.

Op classes register themselves when they are defined (``gpuaug.transforms.base``: every
subclass of the op bases but those declared ``abstract=True``), and each declares its
``kind``: ``"geometric"`` (folds into the matrix), ``"pixel"`` (changes image values after
the warp), ``"canvas"`` (changes where output pixels read, on the final canvas) or
``"composite"`` (chooses among child ops per sample). Records and replay ask the registry,
never a module's own table.
"""

from __future__ import annotations

__all__ = ["KINDS", "register", "op_class"]

#: The kinds an op class declares.
KINDS = ("geometric", "pixel", "canvas", "composite")

_OPS: dict[str, type] = {}


def register(cls: type) -> None:
    """Add an op class under its name (a later class of the same name replaces it)."""
    if getattr(cls, "kind", None) not in KINDS:
        raise TypeError(f"{cls.__name__}.kind: expected one of {KINDS}, got {getattr(cls, 'kind', None)!r}")
    _OPS[cls.__name__] = cls


def op_class(name: str, key: str = "name", kind: str | None = None) -> type:
    """The op class called ``name``; ValueError naming ``key`` for an unknown name, or for an
    op of another kind than ``kind`` (when given)."""
    cls = _OPS.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"{key}: unknown op {name!r}; known: {sorted(_OPS)}")
    if kind is not None and cls.kind != kind:
        raise ValueError(f"{key}: {name!r} is a {cls.kind} op, expected a {kind} op")
    return cls
