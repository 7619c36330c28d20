"""The checkpointed training loop and the run directory (see :mod:`pnnlib.train`)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from pnnlib import data as data_mod
from pnnlib.io import atomic_path, torch_save_atomic, write_json_atomic
from pnnlib.nn import networks
from pnnlib.train.config import RESUMABLE_KEYS, TrainConfig, load_yaml
from pnnlib.train.evaluation import eval_batch, eval_rng, evaluate, spike_histograms
from pnnlib.train.losses import cost, predict
from pnnlib.train.models import build_model, flat_input, resolve_device
from pnnlib.train.rng import RunGenerators

__all__ = ["git_revision", "load_model", "train"]

log = logging.getLogger("pnnlib.train")


def git_revision() -> str:
    """``git describe``-style revision of the project checkout (``-dirty`` if modified)."""
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=12"], cwd=data_mod.PROJECT_ROOT,
            capture_output=True, text=True, timeout=10, check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _check_same_config(out_dir: Path, cfg: TrainConfig) -> None:
    path = out_dir / "config.yaml"
    if not path.is_file():
        return
    old = load_yaml(path.read_text())
    new = cfg.to_dict()
    diff = sorted(k for k in set(old) | set(new) if k not in RESUMABLE_KEYS and old.get(k) != new.get(k))
    if diff:
        details = ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in diff)
        raise ValueError(
            f"{out_dir} holds a run with a different config ({details}); use another out_dir or "
            "delete the old run"
        )


class _NoBar:
    """What the loop uses of a tqdm bar, without tqdm."""

    def __init__(self, iterable: Any) -> None:
        self.iterable = iterable

    def __iter__(self) -> Any:
        return iter(self.iterable)

    def set_postfix(self, **_: Any) -> None:
        """No bar, no postfix."""

    def close(self) -> None:
        """Nothing to close."""


def _progress_bar(iterable: Any, **kwargs: Any) -> Any:
    """A tqdm bar over ``iterable``; without tqdm installed (a bare GPU node), no bar."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _NoBar(iterable)
    return tqdm(iterable, **kwargs)


def _open_run_dir(cfg: TrainConfig, out: Path) -> dict[str, Any] | None:
    """Create the run directory (a different config there is an error), write ``config.yaml``;
    the metrics of a finished run, else ``None``."""
    out.mkdir(parents=True, exist_ok=True)
    _check_same_config(out, cfg)
    with atomic_path(out / "config.yaml") as tmp:
        tmp.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    metrics_path = out / "metrics.json"
    if metrics_path.is_file():
        done = json.loads(metrics_path.read_text())
        if done.get("status") == "done" and len(done["history"]) == cfg.epochs:
            log.info("%s: finished run found, not recomputed", out)
            return done
    return None


def _resume(out: Path, cfg: TrainConfig, model: torch.nn.Module, opt: Any, gens: RunGenerators) -> list[dict[str, Any]]:
    """Load ``out/checkpoint.pt`` (if any) into the model, the optimizer (anything with
    ``load_state_dict``) and the run's generators; the history of the epochs done."""
    history: list[dict[str, Any]] = []
    ckpt_path = out / "checkpoint.pt"
    if ckpt_path.is_file():
        # CPU first: RNG states must stay CPU tensors; load_state_dict moves the rest to the device.
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        gens.load_state(ck["rng"])
        history = ck["history"]
        if len(history) > cfg.epochs:
            raise ValueError(f"TrainConfig.epochs: {out} already holds {len(history)} epochs, more than "
                             f"epochs={cfg.epochs}; use another out_dir")
        log.info("resumed from %s after epoch %d", ckpt_path, ck["epoch"])
    return history


def _base_metrics(cfg: TrainConfig, device: torch.device, data: data_mod.SpikeData) -> dict[str, Any]:
    """The entries of ``metrics.json`` that do not change during a run."""
    return {
        "config": cfg.to_dict(), "seed": cfg.seed, "git_revision": git_revision(), "device": str(device),
        "torch_version": torch.__version__, "n_train": len(data.train_y), "n_test": len(data.test_y),
        "input_shape": list(data.input_shape), "n_classes": data.n_classes,
    }


def _end_epoch(out: Path, cfg: TrainConfig, model: torch.nn.Module, opt: Any, gens: RunGenerators,
               history: list[dict[str, Any]], base: dict[str, Any]) -> None:
    """Write the checkpoint and the running ``metrics.json`` after the last epoch of ``history``."""
    row = history[-1]
    torch_save_atomic(out / "checkpoint.pt", {"model": model.state_dict(), "optimizer": opt.state_dict(),
                                              "epoch": row["epoch"], "rng": gens.state(), "history": history,
                                              "config": cfg.to_dict()})
    write_json_atomic(out / "metrics.json", {**base, "status": "running", "history": history})
    log.info("epoch %d/%d: train loss %.4f acc %.4f, test acc %s, %.1f s", row["epoch"], cfg.epochs,
             row["train_loss"], row["train_acc"],
             "-" if row["test_acc"] is None else f"{row['test_acc']:.4f}", row["wall_s"])


def train(config: TrainConfig | dict[str, Any], out_dir: str | Path) -> dict[str, Any]:
    """Train one network and write the run directory (see the module docstring).

    Returns the metrics dict also written to ``metrics.json``: ``config``, ``seed``,
    ``git_revision``, ``device``, ``history`` (per epoch: ``train_loss``, ``train_acc``,
    ``test_loss``, ``test_acc`` (one evaluation; ``None`` when skipped by ``eval_every``),
    ``wall_s``), ``final`` (``n_eval`` evaluations: ``acc``, ``acc_std``, ``accs``, ``loss``,
    ``loss_std``, ``eval_steps``, ``eval_offset``) and ``status`` (``"done"``). A finished run
    is not recomputed.
    """
    cfg = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config)
    out = Path(out_dir)
    done = _open_run_dir(cfg, out)
    if done is not None:
        return done

    if cfg.num_threads is not None:
        torch.set_num_threads(cfg.num_threads)
    device = resolve_device(cfg.device)
    log.info("training %s on %s (device %s), out_dir %s", cfg.model, cfg.dataset, device, out)

    data = data_mod.load_dataset(
        cfg.dataset, train_subset=cfg.train_subset, test_subset=cfg.test_subset, seed=cfg.seed,
        root=cfg.data_dir, download=cfg.download,
    )
    train_t, train_y = data.train_t.to(device), data.train_y.to(device)
    test_t, test_y = data.test_t.to(device), data.test_y.to(device)
    n_classes = data.n_classes

    gens = RunGenerators.seeded(cfg.seed, device)
    gen = gens.shuffle
    model = build_model(cfg, data.input_shape, n_classes, gens.init).to(device)
    model.set_generator(gens.draws)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    history = _resume(out, cfg, model, opt, gens)
    base = _base_metrics(cfg, device, data)
    n = len(train_y)
    for epoch in range(len(history) + 1, cfg.epochs + 1):
        start = time.perf_counter()
        model.train()
        perm = torch.randperm(n, generator=gen).to(device)
        # Running sums stay on the device (no host sync per step), in float64.
        loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        correct = torch.zeros((), dtype=torch.int64, device=device)
        bar = _progress_bar(range(0, n, cfg.batch), desc=f"epoch {epoch}/{cfg.epochs}", disable=not cfg.progress,
                   mininterval=5.0, leave=False, file=sys.stderr)
        for step, i in enumerate(bar):
            idx = perm[i : i + cfg.batch]
            xb, yb = train_t[idx], train_y[idx]
            if data.augment is not None:
                xb = data.augment(xb, gen)
            c, t_out, _ = cost(model, xb.flatten(1) if flat_input(cfg) else xb, yb, cfg, n_classes)
            opt.zero_grad(set_to_none=True)
            c.backward()
            opt.step()
            loss_sum += c.detach().double() * len(yb)
            correct += (predict(t_out.detach(), n_classes) == yb).sum()
            if cfg.progress and step % 50 == 49:
                bar.set_postfix(loss=f"{float(loss_sum) / min(i + cfg.batch, n):.3f}", refresh=False)
        bar.close()
        row: dict[str, Any] = {"epoch": epoch, "train_loss": float(loss_sum) / n, "train_acc": int(correct) / n,
                               "test_loss": None, "test_acc": None}
        if cfg.eval_every and (epoch % cfg.eval_every == 0 or epoch == cfg.epochs):
            ev = evaluate(model, test_t, test_y, cfg, n_classes, key=f"epoch{epoch}")
            row.update(test_loss=ev["loss"], test_acc=ev["acc"])
        row["wall_s"] = time.perf_counter() - start
        history.append(row)
        _end_epoch(out, cfg, model, opt, gens, history, base)

    final = evaluate(model, test_t, test_y, cfg, n_classes, n_eval=cfg.n_eval, key="final")
    final.update(eval_steps=cfg.eval_steps, eval_offset=cfg.eval_offset)
    with eval_rng(model, cfg.seed, "spike_hist"):
        hist = spike_histograms(model, test_t[: cfg.hist_samples].flatten(1) if flat_input(cfg)
                                else test_t[: cfg.hist_samples], eval_batch(cfg, device))
    with atomic_path(out / "spike_hist.npz") as tmp, tmp.open("wb") as fh:
        np.savez(fh, **hist)
    torch_save_atomic(out / "weights.pt", model.state_dict())
    metrics = {**base, "status": "done", "history": history, "final": final}
    write_json_atomic(out / "metrics.json", metrics)
    log.info("final test accuracy %.4f ± %.4f (%d evaluations, M=%d, %s offset)", final["acc"],
             final["acc_std"], cfg.n_eval, cfg.eval_steps, cfg.eval_offset)
    return metrics


def load_model(run_dir: str | Path, device: str | torch.device = "cpu") -> tuple[networks.SpikeNetwork, TrainConfig]:
    """Rebuild a finished run's network with its final weights (``weights.pt``)."""
    run = Path(run_dir)
    cfg = TrainConfig.from_yaml(run / "config.yaml")
    meta = json.loads((run / "metrics.json").read_text())
    shape, n_classes = meta["input_shape"], meta["n_classes"]
    model = build_model(cfg, shape, n_classes)
    model.load_state_dict(torch.load(run / "weights.pt", map_location=device, weights_only=True))
    return model.to(device), cfg

