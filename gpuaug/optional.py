"""Optional dependencies: import one or say which extra installs it."""

from __future__ import annotations

import importlib
from types import ModuleType


def require(module: str, extra: str, user: str, package: str | None = None) -> ModuleType:
    """Import ``module``; when it is missing, raise ImportError naming the gpuaug ``extra`` that brings it.

    ``user`` names what needs it, for the message (e.g. "gpuaug.viz"); ``package`` is the name
    to pip install when it is not the module's top-level name (e.g. "pillow" for "PIL.Image").
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        package = package or top
        raise ImportError(f"{user} needs {top}: pip install 'gpuaug[{extra}]' (or pip install {package})") from exc
