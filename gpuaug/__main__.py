"""Command line: ``python -m gpuaug demo`` and ``python -m gpuaug audit``."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m gpuaug", description="gpuaug command line")
    parser.add_argument(
        "command",
        choices=["demo", "audit"],
        help="demo: the classic mask bugs next to gpuaug on synthetic scenes; audit: probe pipelines side by side "
        "(yours with audit --pipeline module:function)",
    )
    args = parser.parse_args(argv[:1])
    if args.command == "demo":
        from gpuaug.demo import main as command
    else:
        from gpuaug.audit import main as command
    return command(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
