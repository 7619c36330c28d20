"""``python -m pnnlib.train.reevaluate``: the final evaluation of finished runs, again, with what
:func:`pnnlib.train.evaluate` reports today (per-class accuracy, mean output times, silent
outputs) - for runs, e.g. archived ones, whose ``metrics.json`` predates a field."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from pnnlib.data import load_dataset
from pnnlib.train.evaluation import evaluate
from pnnlib.train.loop import load_model
from pnnlib.train.models import build_model, flat_input
from pnnlib.train.rng import RunGenerators


def main(argv: list[str] | None = None) -> int:
    """``python -m pnnlib.train.reevaluate RUN_DIR ... [--n-eval N]``: evaluate finished runs
    again on their test set (final weights, the run's own evaluation generator under the key
    ``"reevaluate"``) and print one JSON line per run: accuracy, per-class accuracy, mean output
    times and silent outputs (:func:`pnnlib.train.evaluate`); ``--initial``: the same of the
    network the run started from (an output silent from the start has never had a gradient)."""
    p = argparse.ArgumentParser(prog="python -m pnnlib.train.reevaluate", description=main.__doc__.split("\n")[0])
    p.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR")
    p.add_argument("--n-eval", type=int, default=1)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument(
        "--initial", action="store_true", help="the network as initialised (the run's seed), not its final weights"
    )
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    for run in args.run_dirs:
        model, cfg = load_model(run)
        d = load_dataset(cfg.dataset, test_subset=cfg.test_subset, seed=cfg.seed, root=cfg.data_dir)
        if args.initial:  # the weights train() starts from: same seed, same init stream
            model = build_model(
                cfg, d.input_shape, d.n_classes, RunGenerators.seeded(cfg.seed, torch.device("cpu")).init
            )
        t = d.test_t.flatten(1) if flat_input(cfg) else d.test_t
        ev = evaluate(model, t, d.test_y, cfg, d.n_classes, n_eval=args.n_eval, key="reevaluate")
        keep = ("acc", "acc_std", "class_acc", "mean_t_out", "silent_outputs")
        print(
            json.dumps({"run": run.name, "weights": "initial" if args.initial else "final", **{k: ev[k] for k in keep}})
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
