"""The checkpointed training loop and the run directory (see :mod:`pnnlib.train`)."""

from __future__ import annotations

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
from pnnlib.io import (
    UnreadableFileError,
    atomic_path,
    json_ready,
    read_json,
    torch_load_safe,
    torch_save_atomic,
    write_json_atomic,
)
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
            ["git", "describe", "--always", "--dirty", "--abbrev=12"],
            cwd=data_mod.PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _check_same_config(recorded: Any, new: dict[str, Any], what: str) -> None:
    """Raise unless ``recorded`` (a saved run's config) equals ``new`` outside :data:`RESUMABLE_KEYS`;
    the message starts with ``what`` (which file holds the other run)."""
    if not isinstance(recorded, dict):
        raise ValueError(f"{what}: its recorded config is not a mapping; delete the old run or use another out_dir")
    diff = sorted(k for k in set(recorded) | set(new) if k not in RESUMABLE_KEYS and recorded.get(k) != new.get(k))
    if diff:
        details = ", ".join(f"{k}: {recorded.get(k)!r} -> {new.get(k)!r}" for k in diff)
        raise ValueError(f"{what} ({details}); use another out_dir or delete the old run")


_CHECKPOINT_KEYS = ("model", "optimizer", "epoch", "rng", "history", "config")


def _load_checkpoint(path: Path, cfg: TrainConfig) -> dict[str, Any]:
    """The run's checkpoint, loaded without running code and checked against ``cfg``.

    Raises:
        UnreadableFileError: a corrupt file, one of another program, or one that holds code.
        ValueError: written with another config (keys outside :data:`RESUMABLE_KEYS`), or holding
            more epochs than ``cfg.epochs``.
    """
    fix = f"Delete {path.name} and rerun (the run then starts again from epoch 1), or use another out_dir."
    # CPU first: RNG states must stay CPU tensors; load_state_dict moves the rest to the device.
    ck = torch_load_safe(path, map_location="cpu", fix=fix)
    missing = [k for k in _CHECKPOINT_KEYS if not isinstance(ck, dict) or k not in ck]
    if missing:
        raise UnreadableFileError(
            f"cannot load {path}: it is not a checkpoint of pnnlib.train (missing {missing}). {fix}"
        )
    _check_same_config(ck["config"], cfg.to_dict(), f"{path} was written by a run with a different config")
    if len(ck["history"]) > cfg.epochs:
        raise ValueError(
            f"TrainConfig.epochs: {path.parent} already holds {len(ck['history'])} epochs, more than "
            f"epochs={cfg.epochs}; use another out_dir"
        )
    return ck


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
    """Create the run directory and check what it holds: a run of another config (in
    ``config.yaml`` or ``metrics.json``; keys in :data:`RESUMABLE_KEYS` may differ) is an error.
    Returns the metrics of a finished run, else ``None``. ``config.yaml`` is written later, by
    :func:`_claim_run_dir`, once the start has succeeded."""
    out.mkdir(parents=True, exist_ok=True)
    config_path, metrics_path = out / "config.yaml", out / "metrics.json"
    if config_path.is_file():
        _check_same_config(
            load_yaml(config_path.read_text(), source=str(config_path)),
            cfg.to_dict(),
            f"{out} holds a run with a different config",
        )
    if metrics_path.is_file():
        done = read_json(metrics_path)
        # metrics.json holds the config as strict JSON (inf as null): compare it in that form
        _check_same_config(
            done.get("config"), json_ready(cfg.to_dict()), f"{metrics_path} records a run with a different config"
        )
        if done.get("status") == "done" and len(done["history"]) == cfg.epochs:
            log.info("%s: finished run found, not recomputed", out)
            return done
    return None


def _claim_run_dir(cfg: TrainConfig, out: Path) -> None:
    """Write ``config.yaml``: only once the data, the device, the model and the checkpoint were
    found good, so a start that failed leaves nothing that would block the corrected rerun."""
    with atomic_path(out / "config.yaml") as tmp:
        tmp.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))


def _resume(out: Path, cfg: TrainConfig, model: torch.nn.Module, opt: Any, gens: RunGenerators) -> list[dict[str, Any]]:
    """Load ``out/checkpoint.pt`` (if any; safely and checked against ``cfg``, see
    :func:`_load_checkpoint`) into the model, the optimizer (anything with ``load_state_dict``) and
    the run's generators; the history of the epochs done."""
    ckpt_path = out / "checkpoint.pt"
    if not ckpt_path.is_file():
        return []
    ck = _load_checkpoint(ckpt_path, cfg)
    model.load_state_dict(ck["model"])
    opt.load_state_dict(ck["optimizer"])
    gens.load_state(ck["rng"])
    log.info("resumed from %s after epoch %d", ckpt_path, ck["epoch"])
    return ck["history"]


def _base_metrics(cfg: TrainConfig, device: torch.device, data: data_mod.SpikeData) -> dict[str, Any]:
    """The entries of ``metrics.json`` that do not change during a run."""
    return {
        "config": cfg.to_dict(),
        "seed": cfg.seed,
        "git_revision": git_revision(),
        "device": str(device),
        "torch_version": torch.__version__,
        "n_train": len(data.train_y),
        "n_test": len(data.test_y),
        "input_shape": list(data.input_shape),
        "n_classes": data.n_classes,
    }


def _end_epoch(
    out: Path,
    cfg: TrainConfig,
    model: torch.nn.Module,
    opt: Any,
    gens: RunGenerators,
    history: list[dict[str, Any]],
    base: dict[str, Any],
) -> None:
    """Write the checkpoint and the running ``metrics.json`` after the last epoch of ``history``."""
    row = history[-1]
    torch_save_atomic(
        out / "checkpoint.pt",
        {
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "epoch": row["epoch"],
            "rng": gens.state(),
            "history": history,
            "config": cfg.to_dict(),
        },
    )
    write_json_atomic(out / "metrics.json", {**base, "status": "running", "history": history})
    log.info(
        "epoch %d/%d: train loss %.4f acc %.4f, test acc %s, %.1f s",
        row["epoch"],
        cfg.epochs,
        row["train_loss"],
        row["train_acc"],
        "-" if row["test_acc"] is None else f"{row['test_acc']:.4f}",
        row["wall_s"],
    )


def train(config: TrainConfig | dict[str, Any], out_dir: str | Path) -> dict[str, Any]:
    """Train one network and write the run directory (see the module docstring).

    Returns the metrics dict also written to ``metrics.json``: ``config``, ``seed``,
    ``git_revision``, ``device``, ``history`` (per epoch: ``train_loss``, ``train_acc``,
    ``test_loss``, ``test_acc`` (one evaluation; ``None`` when skipped by ``eval_every``),
    ``wall_s``), ``final`` (``n_eval`` evaluations: ``acc``, ``acc_std``, ``accs``, ``loss``,
    ``loss_std``, ``class_acc``, ``mean_t_out``, ``silent_outputs`` (:func:`pnnlib.train.evaluate`),
    ``eval_steps``, ``eval_offset``) and ``status`` (``"done"``). A finished run
    is not recomputed.

    A directory that holds a run of another config (in ``config.yaml``, ``metrics.json`` or
    ``checkpoint.pt``; keys in :data:`RESUMABLE_KEYS` may differ) is refused, and so is a
    checkpoint that cannot be loaded safely (:func:`pnnlib.io.torch_load_safe`). ``config.yaml``
    is written once the data, the device and the checkpoint have been found good, so a failed
    start does not block its corrected rerun.
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
        cfg.dataset,
        train_subset=cfg.train_subset,
        test_subset=cfg.test_subset,
        seed=cfg.seed,
        root=cfg.data_dir,
        download=cfg.download,
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
    _claim_run_dir(cfg, out)
    base = _base_metrics(cfg, device, data)
    n = len(train_y)
    for epoch in range(len(history) + 1, cfg.epochs + 1):
        start = time.perf_counter()
        model.train()
        perm = torch.randperm(n, generator=gen).to(device)
        # Running sums stay on the device (no host sync per step), in float64.
        loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        correct = torch.zeros((), dtype=torch.int64, device=device)
        bar = _progress_bar(
            range(0, n, cfg.batch),
            desc=f"epoch {epoch}/{cfg.epochs}",
            disable=not cfg.progress,
            mininterval=5.0,
            leave=False,
            file=sys.stderr,
        )
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
        row: dict[str, Any] = {
            "epoch": epoch,
            "train_loss": float(loss_sum) / n,
            "train_acc": int(correct) / n,
            "test_loss": None,
            "test_acc": None,
        }
        if cfg.eval_every and (epoch % cfg.eval_every == 0 or epoch == cfg.epochs):
            ev = evaluate(model, test_t, test_y, cfg, n_classes, key=f"epoch{epoch}")
            row.update(test_loss=ev["loss"], test_acc=ev["acc"])
        row["wall_s"] = time.perf_counter() - start
        history.append(row)
        _end_epoch(out, cfg, model, opt, gens, history, base)

    final = evaluate(model, test_t, test_y, cfg, n_classes, n_eval=cfg.n_eval, key="final")
    final.update(eval_steps=cfg.eval_steps, eval_offset=cfg.eval_offset)
    with eval_rng(model, cfg.seed, "spike_hist"):
        hist = spike_histograms(
            model,
            test_t[: cfg.hist_samples].flatten(1) if flat_input(cfg) else test_t[: cfg.hist_samples],
            eval_batch(cfg, device),
        )
    with atomic_path(out / "spike_hist.npz") as tmp, tmp.open("wb") as fh:
        np.savez(fh, **hist)
    torch_save_atomic(out / "weights.pt", model.state_dict())
    metrics = {**base, "status": "done", "history": history, "final": final}
    write_json_atomic(out / "metrics.json", metrics)
    log.info(
        "final test accuracy %.4f ± %.4f (%d evaluations, M=%d, %s offset)",
        final["acc"],
        final["acc_std"],
        cfg.n_eval,
        cfg.eval_steps,
        cfg.eval_offset,
    )
    return metrics


def load_model(run_dir: str | Path, device: str | torch.device = "cpu") -> tuple[networks.SpikeNetwork, TrainConfig]:
    """Rebuild a finished run's network with its final weights (``weights.pt``)."""
    run = Path(run_dir)
    cfg = TrainConfig.from_yaml(run / "config.yaml")
    meta = read_json(run / "metrics.json")
    shape, n_classes = meta["input_shape"], meta["n_classes"]
    model = build_model(cfg, shape, n_classes)
    fix = f"Rerun the training of {run} (delete the directory first) to write it again."
    model.load_state_dict(torch_load_safe(run / "weights.pt", map_location=device, fix=fix))
    return model.to(device), cfg
