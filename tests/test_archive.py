"""The committed results archive (pnnlib.pipeline.archive): runs and derived results restored
by config hash, recomputed when the config differs, refused when a file was edited."""

import json
from pathlib import Path

import pytest

from pnnlib.pipeline import archive
from pnnlib.train import TrainConfig, train

CFG = TrainConfig(
    model="iris_net",
    dataset="iris",
    n_outputs=5,
    epochs=1,
    batch=50,
    lr=1e-3,
    e_pos=3.0,
    steps=4,
    eval_steps=4,
    n_eval=2,
    hist_samples=10,
    device="cpu",
    progress=False,
    t_ref=0.5,
)


@pytest.fixture(scope="module")
def archived(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("archive")
    run = tmp_path_factory.mktemp("results") / "iris-run"
    metrics = train(CFG, run)
    archive.add_run(run, "paper", "circuit", root=root)
    return root, metrics


@pytest.mark.slow
def test_an_archived_run_is_restored_when_its_config_hash_matches(archived, tmp_path) -> None:
    root, metrics = archived
    cfg = CFG.replace(num_threads=1, progress=True, device="auto")  # not part of the hash
    out = archive.restore_or_train(cfg, tmp_path / "iris-run", stage="circuit", root=root)
    assert (tmp_path / "iris-run" / "restored_from.json").is_file()
    assert out["final"] == metrics["final"] and (tmp_path / "iris-run" / "weights.pt").is_file()


@pytest.mark.slow
def test_a_run_with_another_config_is_trained_not_restored(archived, tmp_path) -> None:
    root, metrics = archived
    out = archive.restore_or_train(CFG.replace(lr=2e-3), tmp_path / "iris-run", stage="circuit", root=root)
    assert not (tmp_path / "iris-run" / "restored_from.json").exists() and out["config"]["lr"] == 2e-3


@pytest.mark.slow
def test_the_config_hash_not_the_profile_name_finds_a_run(archived) -> None:
    root, _ = archived
    assert archive.find_run(CFG, "circuit", "iris-run", root=root) is not None
    assert archive.find_run(CFG, "circuit", "iris-run", profile="paper", root=root) is not None
    assert archive.find_run(CFG, "circuit", "iris-run", profile="quick", root=root) is None
    assert archive.find_run(CFG.replace(seed=7), "circuit", "iris-run", root=root) is None


@pytest.mark.slow
def test_recompute_trains_even_when_the_archive_holds_the_run(archived, tmp_path) -> None:
    root, _ = archived
    archive.restore_or_train(CFG, tmp_path / "iris-run", stage="circuit", root=root, recompute=True)
    assert not (tmp_path / "iris-run" / "restored_from.json").exists()


@pytest.mark.slow
def test_an_edited_archive_file_is_refused_naming_it(archived, tmp_path) -> None:
    root, _ = archived
    entry = root / "paper" / "circuit" / "runs" / "iris-run"
    metrics = entry / "metrics.json"
    original = metrics.read_text()
    try:
        metrics.write_text(original.replace('"status": "done"', '"status": "done" '))
        with pytest.raises(archive.ArchiveError, match="metrics.json"):
            archive.restore_or_train(CFG, tmp_path / "iris-run", stage="circuit", root=root)
    finally:
        metrics.write_text(original)


@pytest.mark.slow
def test_provenance_records_device_revision_wall_time_and_hashes(archived) -> None:
    root, _ = archived
    prov = json.loads((root / "paper" / "circuit" / "runs" / "iris-run" / "provenance.json").read_text())
    assert prov["config_hash"] == archive.config_hash(CFG) and prov["device"] == "cpu" and prov["epochs"] == 1
    assert {"config.yaml", "metrics.json", "spike_hist.npz", "weights.pt"} <= set(prov["files"])
    assert prov["wall_s"] >= 0 and prov["git_revision"]


def test_an_unfinished_run_is_not_archived(tmp_path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.json").write_text(json.dumps({"status": "running", "history": []}))
    with pytest.raises(archive.ArchiveError, match="not finished"):
        archive.add_run(tmp_path / "run", "paper", "mlp", root=tmp_path / "a")


def test_a_derived_result_is_restored_for_the_same_inputs_and_recomputed_for_others(tmp_path) -> None:
    calls = []

    def compute(x):
        def f():
            calls.append(x)
            return {"x": x}

        return f

    kw = dict(stage="mlp", root=tmp_path / "a", archive_as="paper")
    assert archive.restore_or_compute(tmp_path / "r" / "d.json", {"in": 1}, compute(1), **kw) == {"x": 1}
    assert archive.restore_or_compute(tmp_path / "r" / "d.json", {"in": 1}, compute(2), **kw) == {"x": 1}
    assert archive.restore_or_compute(tmp_path / "r" / "d.json", {"in": 2}, compute(3), **kw) == {"x": 3}
    assert calls == [1, 3]
    assert (tmp_path / "a" / "paper" / "mlp" / "derived" / "d.json").is_file()


def test_a_derived_result_archived_under_one_profile_is_found_from_any_profile(tmp_path) -> None:
    kw = dict(stage="mlp", root=tmp_path / "a")
    archive.restore_or_compute(tmp_path / "r" / "d.json", {"in": 1}, lambda: {"x": 1}, archive_as="paper", **kw)
    found = archive.restore_or_compute(tmp_path / "s" / "d.json", {"in": 1}, lambda: {"x": 2}, **kw)
    assert found == {"x": 1}


@pytest.mark.slow
def test_a_group_job_restores_archived_members_and_trains_the_others_together(archived, tmp_path) -> None:
    root, metrics = archived
    other = CFG.replace(seed=1)
    out = archive.restore_or_train_group(
        [CFG, other], [tmp_path / "iris-run", tmp_path / "iris-seed1"], stage="circuit", root=root
    )
    assert (tmp_path / "iris-run" / "restored_from.json").is_file() and out[0]["final"] == metrics["final"]
    assert not (tmp_path / "iris-seed1" / "restored_from.json").exists() and out[1]["config"]["seed"] == 1
    assert out[1]["final"] == train(other, tmp_path / "alone")["final"]  # a group run equals the run alone


@pytest.mark.slow
def test_plans_train_trains_a_profiles_runs_and_archives_each_once(tmp_path, capsys) -> None:
    """`python -m pnnlib.experiments.plans train --archive`: how the paper runs reach the archive."""
    from pnnlib.experiments import plans

    where = ["--profile", "smoke", "--stage", "mlp", "--archive-root", str(tmp_path / "arch")]
    plans.main(["list", *where, "--match", "e100"])
    ids = [line.split()[-1] for line in capsys.readouterr().out.splitlines()]
    assert ids and all("e100" in r for r in ids)
    train_args = ["train", *where, "--threads", "1", "--archive", "--out-root", str(tmp_path / "runs"), ids[0]]
    plans.main(train_args)
    provenance = tmp_path / "arch" / "smoke" / "mlp" / "runs" / ids[0] / "provenance.json"
    stamp = provenance.stat().st_mtime_ns
    plans.main(train_args)  # finished and archived: neither retrained nor added again
    assert provenance.stat().st_mtime_ns == stamp
    plans.main(["list", *where, "--match", ids[0]])
    assert capsys.readouterr().out.startswith(f"* {ids[0]}")
    with pytest.raises(SystemExit):
        plans.main(["train", *where, "no-such-run", ids[0]])
    assert "no-such-run" in capsys.readouterr().err
