r"""The ANN baselines of paper §4 ("Ablations"), Figs. 4f, 5d, 10e and 14.

:func:`ann_curve` tests a network trained at |E| = 100 (the "ANN") at smaller |E|
(``set_reversal``); :func:`scaled_ann_curve` additionally scales its positive and negative
weights by (α⁺, α⁻) (:func:`scale_weights`), chosen by :func:`grid_search_scaling` on training
samples and reported on the test set.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pnnlib import data as data_mod
from pnnlib.nn import SpikeNetwork, SpikingLayer
from pnnlib.train import TrainConfig, evaluate, load_model, resolve_device

__all__ = ["ann_baselines", "ann_curve", "ann_point", "grid_search_scaling", "scale_weights", "scaled_ann_curve"]


@contextlib.contextmanager
def scale_weights(model: torch.nn.Module, alpha_pos: float, alpha_neg: float) -> Iterator[torch.nn.Module]:
    r"""Temporarily scale every spiking layer's weights: :math:`w\to\alpha^+w` for w ≥ 0 and
    :math:`w\to\alpha^-w` for w < 0 (paper Fig. 14 / Fig. 15 test-time scaling). The original
    weights are restored on exit, also after an exception."""
    layers = [m for m in model.modules() if isinstance(m, SpikingLayer)]
    saved = [layer.weight.detach().clone() for layer in layers]
    try:
        with torch.no_grad():
            for layer in layers:
                w = layer.weight
                w.copy_(torch.where(w >= 0, w * alpha_pos, w * alpha_neg))
        yield model
    finally:
        with torch.no_grad():
            for layer, w0 in zip(layers, saved):
                layer.weight.copy_(w0)


def grid_search_scaling(
    objective: Callable[[float, float], float],
    alphas_pos: Sequence[float],
    alphas_neg: Sequence[float] | None = None,
    mode: str = "max",
) -> tuple[tuple[float, float, float], np.ndarray]:
    r"""Exhaustive search of the weight scaling (α⁺, α⁻) (paper Fig. 14, Fig. 15).

    Args:
        objective: ``(alpha_pos, alpha_neg) -> value`` (e.g. accuracy, or the model-versus-SPICE
            spike-time RMSE of the circuit mapping).
        alphas_pos: grid of α⁺.
        alphas_neg: grid of α⁻ for the 2-D search (ANN-to-IMC); ``None`` = 1-D search with
            α⁺ = α⁻ = α over ``alphas_pos`` (PNN-to-IMC, a single current scale).
        mode: ``"max"`` or ``"min"`` (ties: the first point in grid order).

    Returns:
        ``((best_alpha_pos, best_alpha_neg, best_value), landscape)``, the landscape with shape
        ``[len(alphas_pos), len(alphas_neg)]`` (``landscape[i, j] = objective(pos[i], neg[j])``)
        or ``[len(alphas_pos)]`` in 1-D.
    """
    if mode not in ("max", "min"):
        raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
    pos = [float(a) for a in alphas_pos]
    if alphas_neg is None:
        points = [(a, a) for a in pos]
        shape: tuple[int, ...] = (len(pos),)
    else:
        neg = [float(a) for a in alphas_neg]
        points = [(a, b) for a in pos for b in neg]
        shape = (len(pos), len(neg))
    if not points:
        raise ValueError("empty scaling grid")
    values = np.array([float(objective(a, b)) for a, b in points])
    best = int(np.argmax(values) if mode == "max" else np.argmin(values))
    return (points[best][0], points[best][1], float(values[best])), values.reshape(shape)


def _eval_at(
    model: SpikeNetwork,
    cfg: TrainConfig,
    t: torch.Tensor,
    y: torch.Tensor,
    n_classes: int,
    e: float,
    n_eval: int,
    key: str,
) -> dict[str, Any]:
    model.set_reversal(e)
    return evaluate(model, t, y, cfg, n_classes, n_eval=n_eval, key=key)


def _data_for(cfg: TrainConfig, search_samples: int, device: torch.device):
    d = data_mod.load_dataset(cfg.dataset, test_subset=cfg.test_subset, seed=cfg.seed, root=cfg.data_dir)
    search = data_mod.stratified_subset(d.train_y, min(search_samples, len(d.train_y)), cfg.seed + 2)
    flat = cfg.model in ("mlp", "iris_net")

    def prep(t: torch.Tensor) -> torch.Tensor:
        return (t.flatten(1) if flat else t).to(device)

    return (prep(d.test_t), d.test_y.to(device), prep(d.train_t[search]), d.train_y[search].to(device), d.n_classes)


def ann_curve(
    run_dir: str | Path, e_values: Sequence[float], n_eval: int = 5, device: str = "auto"
) -> list[dict[str, Any]]:
    """Test accuracy of a trained network (the "ANN": trained at |E| = 100) at each test |E|.

    Returns ``[{"e": |E|, "acc": mean, "acc_std": std, "accs": [...]}, …]`` on the run's test set,
    with the run's evaluation settings (``eval_steps``, ``eval_offset``, ``sigma``); the offsets and
    noise of each evaluation are seeded by the run's seed and the test |E|, so a rerun gives the
    same numbers. ``device``: ``"auto"`` = CUDA when available.
    """
    dev = resolve_device(device)
    model, cfg = load_model(run_dir, dev)
    test_t, test_y, _, _, n_classes = _data_for(cfg, 1, dev)
    out = []
    for e in e_values:
        ev = _eval_at(model, cfg, test_t, test_y, n_classes, float(e), n_eval, f"ann/e={float(e):g}")
        out.append({"e": float(e), "acc": ev["acc"], "acc_std": ev["acc_std"], "accs": ev["accs"]})
    return out


def scaled_ann_curve(
    run_dir: str | Path,
    e_values: Sequence[float],
    alphas_pos: Sequence[float],
    alphas_neg: Sequence[float] | None = None,
    search_samples: int = 2000,
    n_eval: int = 5,
    device: str = "auto",
) -> list[dict[str, Any]]:
    """The "scaled ANN" (paper Fig. 4f dashed, Fig. 14): at each test |E|, choose (α⁺, α⁻) by
    :func:`grid_search_scaling` maximising the accuracy on ``search_samples`` stratified
    **training** images (one evaluation per grid point), then report the test accuracy with it.

    Every grid point is evaluated with the same seeded draws (the search compares weights, not
    noise). Returns ``[{"e", "acc", "acc_std", "accs", "alpha_pos", "alpha_neg", "search_acc",
    "landscape"}, …]``
    (``landscape``: nested lists of search accuracies, as in :func:`grid_search_scaling`).
    [inferred] The paper does not say on which data the scaling was chosen; choosing it on
    training data keeps the test set unseen.
    """
    dev = resolve_device(device)
    model, cfg = load_model(run_dir, dev)
    test_t, test_y, s_t, s_y, n_classes = _data_for(cfg, search_samples, dev)
    out = []
    for e in e_values:
        e = float(e)

        def objective(a_pos: float, a_neg: float, e: float = e) -> float:
            with scale_weights(model, a_pos, a_neg):
                return _eval_at(model, cfg, s_t, s_y, n_classes, e, 1, f"scaled-search/e={e:g}")["acc"]

        (a_pos, a_neg, s_acc), land = grid_search_scaling(objective, alphas_pos, alphas_neg)
        with scale_weights(model, a_pos, a_neg):
            ev = _eval_at(model, cfg, test_t, test_y, n_classes, e, n_eval, f"scaled/e={e:g}")
        out.append(
            {
                "e": e,
                "acc": ev["acc"],
                "acc_std": ev["acc_std"],
                "accs": ev["accs"],
                "alpha_pos": a_pos,
                "alpha_neg": a_neg,
                "search_acc": s_acc,
                "landscape": land.tolist(),
            }
        )
    return out


def ann_point(
    run_dir: str | Path, e: float, alphas: Sequence[float], search_samples: int, n_eval: int, device: str = "auto"
) -> dict[str, Any]:
    """One point of both baselines: the ANN run ``run_dir`` tested at |E| = ``e`` as it is
    (:func:`ann_curve`) and with its weights scaled (:func:`scaled_ann_curve` over ``alphas``²).
    Its evaluations are seeded by the run's seed and ``e``, so a point computed alone equals the
    same point of a whole curve."""
    return {
        "ann": ann_curve(run_dir, [e], n_eval, device)[0],
        "scaled": scaled_ann_curve(run_dir, [e], alphas, alphas, search_samples, n_eval, device)[0],
    }


def ann_baselines(
    run_dirs: Sequence[str | Path],
    e_values: Sequence[float],
    alphas: Sequence[float],
    search_samples: int,
    n_eval: int,
    device: str = "auto",
    point: Callable[..., dict[str, Any]] = ann_point,
) -> dict[str, Any]:
    """The ANN baselines of an accuracy-vs-|E| panel (paper Figs. 4f, 5d, 10e, 14): each ANN run
    (trained at |E| = 100, or 31.6 for TTFS) tested at every |E| of ``e_values`` as it is and
    with the weight scaling chosen on ``search_samples`` training images over the (α⁺, α⁻)
    grid ``alphas``², point by point (``point``: :func:`ann_point`, or a caching wrapper of it).

    Returns ``{"per_seed": {seed: {"ann": curve, "scaled": curve}}, "ann": mean curve, "scaled":
    mean curve}``; the mean curves carry the std over seeds (or, with one seed, over its
    evaluations) as ``acc_std`` and the number of seeds as ``n``.
    """
    per_seed: dict[int, dict[str, Any]] = {}
    for run in run_dirs:
        seed = int(TrainConfig.from_yaml(Path(run) / "config.yaml").seed)
        pts = [point(run, float(e), alphas, search_samples, n_eval, device) for e in e_values]
        per_seed[seed] = {"run": str(run), "ann": [q["ann"] for q in pts], "scaled": [q["scaled"] for q in pts]}

    def mean(kind: str) -> list[dict[str, Any]]:
        out = []
        for points in zip(*(v[kind] for v in per_seed.values())):
            accs = [q["acc"] for q in points]
            std = float(np.std(accs)) if len(accs) > 1 else points[0]["acc_std"]
            out.append({"e": points[0]["e"], "acc": float(np.mean(accs)), "acc_std": std, "n": len(accs)})
        return out

    return {"per_seed": per_seed, "ann": mean("ann"), "scaled": mean("scaled")}


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pnnlib.experiments.baselines``: the ANN baselines of trained runs as a JSON file
    (a derived-data rule of the pipeline). With ``--archive PROFILE STAGE`` every (run, |E|) point
    is taken from ``archive/<any profile>/STAGE/derived/ann/<run>/e<|E|>.json``, or computed and
    stored under PROFILE (keyed by
    the run's config and weights and the search settings), so runs added later cost only their own
    points."""
    import argparse
    import logging

    from pnnlib.io import sha256_file, write_json_atomic
    from pnnlib.pipeline.archive import config_hash, inputs_hash, restore_or_compute

    p = argparse.ArgumentParser(prog="python -m pnnlib.experiments.baselines", description=main.__doc__.split("\n")[0])
    p.add_argument("--runs", nargs="+", required=True, type=Path, help="ANN run directories (one per seed)")
    p.add_argument("--e", nargs="+", required=True, type=float, help="test |E| values")
    p.add_argument("--alphas", nargs="+", required=True, type=float, help="(α⁺, α⁻) grid")
    p.add_argument("--search-samples", type=int, required=True)
    p.add_argument("--n-eval", type=int, required=True)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument(
        "--archive",
        nargs=2,
        metavar=("PROFILE", "STAGE"),
        default=None,
        help="take each point from archive/*/STAGE/derived/ann/ (computed ones go under PROFILE)",
    )
    p.add_argument("--recompute", action="store_true", help="ignore archived points")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    runs = sorted(args.runs)
    ids = {
        r: {
            "id": r.name,
            "config_hash": config_hash(TrainConfig.from_yaml(r / "config.yaml")),
            "weights_sha256": sha256_file(r / "weights.pt"),
        }
        for r in runs
    }
    settings = {"alphas": args.alphas, "search_samples": args.search_samples, "n_eval": args.n_eval}
    point = ann_point
    if args.archive:

        def point(run, e, alphas, search_samples, n_eval, device):
            return restore_or_compute(
                args.out.parent / "points" / run.name / f"e{e:g}.json",
                {**ids[run], "e": e, **settings},
                lambda: ann_point(run, e, alphas, search_samples, n_eval, device),
                stage=args.archive[1],
                name=f"ann/{run.name}/e{e:g}",
                recompute=args.recompute,
                archive_as=args.archive[0],
            )

    result = ann_baselines(runs, args.e, args.alphas, args.search_samples, args.n_eval, args.device, point)
    inputs = {"runs": list(ids.values()), "e": args.e, **settings}
    write_json_atomic(args.out, {"inputs_hash": inputs_hash(inputs), "inputs": inputs, "result": result})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
