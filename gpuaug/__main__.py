"""Command line: ``python -m gpuaug demo``."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m gpuaug", description="gpuaug command line")
    parser.add_argument("command", choices=["demo"], help="demo: the classic mask bugs next to gpuaug")
    args, rest = parser.parse_known_args(argv[:1])
    if args.command == "demo":
        from gpuaug.demo import main as demo

        return demo(argv[1:])
    return 2


if __name__ == "__main__":
    sys.exit(main())
