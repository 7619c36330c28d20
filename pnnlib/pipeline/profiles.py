"""Profiles and run grids of the reproduction pipeline.

* :func:`load_profile` — read ``config/config.yaml`` + the profile file
  (``config/profiles/{smoke,quick,paper}.yaml``), apply ``--config`` overrides, validate against
  ``config/schema.yaml`` and raise :class:`ProfileError` naming the offending key
  (``mlp.train.epochs: 0 is less than the minimum of 1``);
* :func:`run_id` / :func:`expand_grid` — deterministic, readable run ids for grids of runs
  (``e4-m3-off_random-sig0.01-seed0``).
"""

from __future__ import annotations

import copy
import itertools
import math
import os
import re
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pnnlib.io import YamlAliasError, yaml_load_strict

__all__ = [
    "PROFILE_KEYS_FROM_CONFIG",
    "REPO_ROOT",
    "ProfileError",
    "expand_grid",
    "load_profile",
    "profile_banner",
    "run_id",
]

REPO_ROOT = Path(__file__).resolve().parents[2]

#: Top-level keys of ``config/config.yaml`` (run settings, not experiment settings).
PROFILE_KEYS_FROM_CONFIG = ("profile", "results_dir", "figures_dir", "kernel", "start_timeout", "recompute")


class ProfileError(ValueError):
    """A profile or config value is missing, unknown or out of range (message names the key)."""


# ---------------------------------------------------------------------------------------------
# profiles
# ---------------------------------------------------------------------------------------------


def _deep_merge(base: dict, override: Mapping) -> dict:
    """Return ``base`` updated recursively by ``override`` (mappings merge, other values replace)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(dict(out[key]), value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _key_path(path: Iterable[Any]) -> str:
    parts = [f"[{p}]" if isinstance(p, int) else str(p) for p in path]
    return ".".join(parts).replace(".[", "[") or "<top level>"


def _format_validation_error(err: Exception) -> str:
    """One line naming the offending key, from a jsonschema error (possibly wrapped by Snakemake)."""
    import jsonschema

    inner: BaseException | None = err
    while inner is not None and not isinstance(inner, jsonschema.ValidationError):
        inner = inner.__cause__ or inner.__context__  # snakemake raises WorkflowError from it
    if not isinstance(inner, jsonschema.ValidationError):
        return str(err)
    # descend to the most specific error (anyOf/oneOf wrap the useful one)
    best = jsonschema.exceptions.best_match([inner]) or inner
    where = _key_path(best.absolute_path)
    if best.validator == "additionalProperties":
        allowed = sorted(best.schema.get("properties", {}))
        unknown = sorted(set(best.instance) - set(allowed)) if isinstance(best.instance, Mapping) else []
        names = ", ".join(f"{where}.{k}" if where != "<top level>" else k for k in unknown)
        return f"unknown key {names} (allowed here: {', '.join(allowed)})"
    return f"{where}: {best.message}"


def _parse_cli_leaves(config: Mapping[str, Any]) -> dict[str, Any]:
    """Stage sections given with ``--config 'demo={steps: 5}'`` arrive with string leaves; parse them as YAML
    (anchors and aliases refused)."""
    import yaml

    def parse(value: Any, nested: bool, where: str) -> Any:
        if isinstance(value, Mapping):
            return {k: parse(v, True, f"{where}.{k}") for k, v in value.items()}
        if nested and isinstance(value, str):
            try:
                return yaml_load_strict(value, source=f"--config {where}")
            except YamlAliasError as err:
                raise ProfileError(str(err)) from None
            except yaml.YAMLError:
                return value
        return value

    return {k: parse(v, False, str(k)) for k, v in config.items()}


def _refuse_shared_values(config: Mapping[str, Any]) -> None:
    """Raise :class:`ProfileError` if one list or mapping appears twice in ``config``.

    Snakemake parses ``--config`` values as YAML with aliases allowed, which share one object
    between places; a "billion laughs" value shares them exponentially, and validating or
    printing it expands them (minutes and gigabytes). Settings never need that.
    """
    seen: set[int] = set()
    stack: list[tuple[str, Any]] = [(str(k), v) for k, v in config.items()]
    while stack:
        where, value = stack.pop()
        if not isinstance(value, Mapping | list):
            continue
        if id(value) in seen:
            raise ProfileError(
                f"{where}: the same value appears in two places (a YAML alias, *name); aliases and "
                "anchors are not allowed in settings: write the values out"
            )
        seen.add(id(value))
        items = value.items() if isinstance(value, Mapping) else enumerate(value)
        stack += [(f"{where}[{k}]" if isinstance(k, int) else f"{where}.{k}", v) for k, v in items]


def _expand_profile_name(key: str, value: str, profile: str) -> str:
    """``results_dir`` / ``figures_dir`` with ``{profile}`` replaced; other braces are refused
    (Snakemake would read them as wildcards of every rule's paths)."""
    rest = value.replace("{profile}", "")
    if "{" in rest or "}" in rest:
        raise ProfileError(
            f"{key}: {value!r} may contain '{{profile}}' but no other braces; rename the folder or give it without them"
        )
    return value.replace("{profile}", profile)


def _validate(settings: dict[str, Any], schema_path: Path) -> None:
    """Validate ``settings`` against the schema: with :func:`snakemake.utils.validate` (the
    pipeline's check), else with ``jsonschema`` alone (the same draft; it fills no defaults, which
    only the pipeline's run settings have, and the schema refers only to its own ``$defs``), else
    not at all, with a warning (a machine with neither
    package, e.g. a GPU node running only ``python -m pnnlib.bench paper-cost``)."""
    try:
        from snakemake.utils import validate
    except ImportError:
        pass
    else:
        validate(settings, str(schema_path))
        return
    try:
        import jsonschema
    except ImportError:
        warnings.warn(
            f"neither snakemake nor jsonschema is installed: the settings are not validated against {schema_path.name}",
            RuntimeWarning,
            stacklevel=3,
        )
        return
    import yaml

    schema = yaml.safe_load(schema_path.read_text())
    jsonschema.validators.validator_for(schema)(schema).validate(settings)


def load_profile(config: Mapping[str, Any], root: str | os.PathLike | None = None) -> dict[str, Any]:
    """Resolve, merge and validate the active profile; return the full settings dict.

    ``config`` is Snakemake's ``config`` (``config/config.yaml`` plus ``--config`` overrides).
    The profile file ``config/profiles/<profile>.yaml`` (or ``profile`` given as a path to a
    ``.yaml`` file, whose stem then names the profile) holds per-stage sections; a stage
    section given with ``--config`` (e.g. ``--config 'demo={steps: 5}'``) is merged over it.
    ``results_dir`` and ``figures_dir`` may contain ``{profile}`` and no other braces. The merged
    dict is validated against ``config/schema.yaml`` with :func:`snakemake.utils.validate` (which
    also fills defaults; without snakemake: with ``jsonschema``, or unvalidated with a warning when
    that is missing too; see :func:`_validate`). YAML anchors and aliases are refused, in the
    profile file and in ``config`` (see :func:`_refuse_shared_values`).

    Raises :class:`ProfileError` whose message names the offending key.
    """
    _refuse_shared_values(config)
    root = Path(root) if root is not None else REPO_ROOT
    profile = config.get("profile")
    if isinstance(profile, str) and profile.endswith((".yaml", ".yml")):
        path = Path(profile) if Path(profile).is_absolute() else root / profile  # a profile file of one's own
        if not path.is_file():
            raise ProfileError(f"profile: no such profile file {path}")
        profile = path.stem
    elif isinstance(profile, str) and re.fullmatch(r"[A-Za-z0-9_-]+", profile):
        path = root / "config" / "profiles" / f"{profile}.yaml"
        if not path.is_file():
            available = sorted(p.stem for p in (root / "config" / "profiles").glob("*.yaml"))
            raise ProfileError(f"profile: no profile file {path} (available: {', '.join(available)})")
    else:
        raise ProfileError(
            f"profile: expected smoke|quick|paper (a file in config/profiles/) or a path "
            f"to a .yaml profile, got {profile!r}"
        )
    try:
        sections = yaml_load_strict(path.read_text(), source=str(path)) or {}
    except YamlAliasError as err:
        raise ProfileError(str(err)) from None
    if not isinstance(sections, Mapping):
        raise ProfileError(f"{path}: a profile must be a mapping of stage sections")
    clash = sorted(set(sections) & set(PROFILE_KEYS_FROM_CONFIG))
    if clash:
        raise ProfileError(f"{path}: run settings {clash} belong in config/config.yaml, not in a profile")
    merged = _deep_merge(dict(sections), _parse_cli_leaves(config))
    merged["profile"] = profile
    merged["profile_file"] = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)

    try:
        _validate(merged, root / "config" / "schema.yaml")
    except Exception as err:  # WorkflowError wrapping a jsonschema.ValidationError
        raise ProfileError(
            f"invalid settings for profile '{profile}' ({path.name}): {_format_validation_error(err)}"
        ) from None
    for key in ("results_dir", "figures_dir"):
        merged[key] = _expand_profile_name(key, merged[key], profile)
    return merged


def profile_banner(
    settings: Mapping[str, Any], stages: Iterable[str], missing: Mapping[str, list[str]] | None = None
) -> str:
    """The lines the pipeline logs at start: which profile, where outputs go, how to switch.

    ``missing`` maps stages that are not wired to the notebooks they still lack.
    """
    waiting = {s: nbs for s, nbs in (missing or {}).items() if nbs}
    not_wired = "".join(f"\n  stage '{s}' not wired yet (missing {', '.join(nbs)})" for s, nbs in waiting.items())
    return (
        f"pnn-imc pipeline: profile '{settings['profile']}' ({settings['profile_file']}); "
        f"results -> {settings['results_dir']}/, figures -> {settings['figures_dir']}/; "
        f"stages wired: {', '.join(stages) or 'none'}.{not_wired}\n"
        "  switch with --config profile=smoke|quick|paper (smoke: minutes, quick: ~1 h on 2 CPU "
        "cores, paper: the paper's settings); outputs elsewhere with --config results_dir=... figures_dir=..."
    )


# ---------------------------------------------------------------------------------------------
# run ids and grids
# ---------------------------------------------------------------------------------------------

#: Short names used in run ids for the common grid parameters (others keep their own name).
_ID_ABBREV = {"e_pos": "e", "steps": "m", "offset": "off", "sigma": "sig", "seed": "seed", "width": "w"}


def _fmt_value(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        if value.is_integer() and abs(value) < 1e6:
            return str(int(value))
        return f"{value:g}"
    if value is None:
        return "none"
    return str(value)


def run_id(params: Mapping[str, Any], keys: Iterable[str] | None = None) -> str:
    """A deterministic, readable, filesystem-safe id for one run, e.g. ``e4-m3-off_random-seed0``.

    ``keys`` selects and orders the parameters that vary between runs (default: all, sorted).
    Numbers print compactly (``4.0`` → ``4``, ``0.005`` → ``0.005``); strings get a ``_`` after
    their short name so ``off_random`` stays readable.
    """
    keys = list(keys) if keys is not None else sorted(params)
    parts = []
    for key in keys:
        value = params[key]
        short = _ID_ABBREV.get(key, key)
        sep = "_" if isinstance(value, str) or value is None else ""
        parts.append(f"{short}{sep}{_fmt_value(value)}")
    rid = "-".join(parts) or "default"
    return re.sub(r"[^A-Za-z0-9._-]", "_", rid)


def expand_grid(
    grids: Mapping[str, Mapping[str, Any]], fixed: Mapping[str, Any] | None = None, id_keys: Iterable[str] | None = None
) -> dict[str, dict[str, Any]]:
    """Union of Cartesian products: ``{run_id: params}`` for every named grid.

    Each grid maps parameter names to a list of values (a scalar counts as a one-element list).
    ``fixed`` parameters are added to every run and do not enter the id. Runs that two grids
    share (same id) appear once, so Table 3's σ sweep and Fig. 4's |E| sweep can overlap freely.
    ``id_keys`` orders the id (default: the union of the grids' keys, in first-seen order).
    """
    fixed = dict(fixed or {})
    if id_keys is None:
        seen: dict[str, None] = {}
        for grid in grids.values():
            for key in grid:
                seen.setdefault(key, None)
        id_keys = list(seen)
    id_keys = list(id_keys)
    runs: dict[str, dict[str, Any]] = {}
    for name, grid in grids.items():
        missing = [k for k in id_keys if k not in grid]
        if missing:
            raise ProfileError(f"grid '{name}' does not set {missing} (every grid must set {id_keys})")
        axes = [(k, v if isinstance(v, list | tuple) else [v]) for k, v in grid.items()]
        for combo in itertools.product(*(values for _, values in axes)):
            params = {**fixed, **dict(zip((k for k, _ in axes), combo))}
            rid = run_id(params, id_keys)
            if rid in runs and runs[rid] != params:
                raise ProfileError(f"run id {rid} names two different runs: {runs[rid]} and {params}")
            runs[rid] = params
    return runs
