"""``cxrvlp`` command line: one module per subcommand, each with ``register(subparsers)``."""
from __future__ import annotations

import argparse
import logging
import os
import sys

from cxrvlp import __version__


def build_parser() -> argparse.ArgumentParser:
    from cxrvlp.cli import data, demo, embed, evaluate, explain, export, phantom, pretrain, report, zeroshot

    parser = argparse.ArgumentParser(
        prog="cxrvlp", description="Chest X-ray vision-language pre-training: generate a phantom, pre-train a "
        "recipe, evaluate a checkpoint.", formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"cxrvlp {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (phantom, data, pretrain, evaluate, report, explain, export, embed, zeroshot, demo):
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # weights come from local paths; never from a hub at run time
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (FileNotFoundError, ValueError, KeyError, ModuleNotFoundError) as e:  # a missing optional extra too
        print(f"cxrvlp {args.command}: error: {e}", file=sys.stderr)
        return 2
