"""``python -m pnnlib.train``: train one run from a YAML config (see :mod:`pnnlib.train`)."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pnnlib.train.config import TrainConfig, load_yaml
from pnnlib.train.loop import train


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """``python -m pnnlib.train --config run.yaml --out results/run [--set key=value ...]``."""
    p = argparse.ArgumentParser(prog="python -m pnnlib.train", description="Train one network (pnnlib.train)")
    p.add_argument("--config", type=Path, help="YAML file of TrainConfig keys (defaults: the paper's MLP)")
    p.add_argument("--out", type=Path, required=True, help="run directory (resumed if it exists)")
    p.add_argument(
        "--set", nargs="*", default=[], metavar="KEY=VALUE", help="override config keys (values parsed as YAML)"
    )
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    d = load_yaml(args.config.read_text(), source=str(args.config)) if args.config else {}
    if not isinstance(d, dict):
        p.error(f"{args.config} must hold a mapping of TrainConfig keys, got {type(d).__name__}")
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            p.error(f"--set expects KEY=VALUE, got {item!r}")
        d[key] = load_yaml(value, source=f"--set {key}")
    return train(TrainConfig.from_dict(d or {}), args.out)


if __name__ == "__main__":
    main()
