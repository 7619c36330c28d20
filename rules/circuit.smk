"""Circuit validation (paper §1.8, §6; Figs. 6, 7, 15, 17c-d; Table 2).

notebooks/run_circuit_validation.ipynb trains the 5-5-5 Iris RC-Spike network top-down (ideal,
|E| = 100) and bottom-up (E± and E_dis of the sky130 synapse as wired, from the devices stage),
maps both to gate biases, searches the current scales (response surface over a small design of
ngspice runs, 1 % grid) and compares model and ngspice spike times on the Iris test samples; the
ngspice processes run in a pool of the rule's threads and are cached by netlist hash under
<results>/circuit/spice. notebooks/fig7_circuit.ipynb draws the figures and Table 2 from its
results.

Our extension (not in the paper): notebooks/run_circuit_conditions.ipynb simulates both networks
at the corners and temperatures of circuit.conditions (calibrated, uncalibrated, bottom-up
retrained) and on Monte Carlo instances of device mismatch (circuit.mismatch) ->
<results>/circuit/conditions/conditions.json; notebooks/fig_circuit_conditions.ipynb draws
ext_circuit_conditions, ext_circuit_mismatch and the table ext_circuit_conditions.
"""

CIRCUIT = f"{RESULTS}/circuit"
CIRCUIT_P = P["circuit"]
# paper item -> figure made (PDF + PNG)
CIRCUIT_FIGS = {"fig6": "fig6", "fig7": "fig7", "fig15": "fig15", "fig17": "fig17cd_network_currents"}
CIRCUIT_FIG_FILES = {item: [f"{FIGURES}/{name}.{ext}" for ext in ("pdf", "png")] for item, name in CIRCUIT_FIGS.items()}
CIRCUIT_TABLES = [f"{TABLES}/table2.csv", f"{TABLES}/table2.md"]
CONDITIONS = f"{CIRCUIT}/conditions"
CONDITIONS_P = CIRCUIT_P["conditions"]
CONDITIONS_EXT = {
    "ext_circuit_conditions": [f"{FIGURES}/ext_circuit_conditions.{ext}" for ext in ("pdf", "png")]
    + [f"{TABLES}/ext_circuit_conditions.{ext}" for ext in ("csv", "md")],
    "ext_circuit_mismatch": [f"{FIGURES}/ext_circuit_mismatch.{ext}" for ext in ("pdf", "png")],
}
CONDITIONS_FILES = [f for files in CONDITIONS_EXT.values() for f in files]
# every condition of the study must have been characterised by the devices stage
for key in ("corners", "temperatures"):
    missing = sorted(set(CONDITIONS_P[key]) - set(P["devices"]["conditions"][key]) - {P["devices"]["corner"], 27})
    if missing:
        raise pipeline.ProfileError(f"circuit.conditions.{key}: {missing} are not characterised by "
                                    f"devices.conditions.{key} ({P['devices']['conditions'][key]})")

STAGES["circuit"] = {
    "title": "Circuit validation: ANN-to-IMC vs PNN-to-IMC against ngspice (sky130)",
    "items": {**CIRCUIT_FIG_FILES, "table2": CIRCUIT_TABLES},
    # beyond the paper: figure/table -> files (listed by the report apart from the paper's items)
    "extensions": CONDITIONS_EXT,
    "values": [f"{CIRCUIT}/record.json", f"{CONDITIONS}/record.json"],
    "outputs": [f"{CIRCUIT}/validation.json", f"{CIRCUIT}/validation.npz", f"{CIRCUIT}/record.json",
                f"{CONDITIONS}/conditions.json", f"{CONDITIONS}/record.json"]
    + [f for files in CIRCUIT_FIG_FILES.values() for f in files]
    + CIRCUIT_TABLES
    + CONDITIONS_FILES,
}


rule circuit_validation:
    """Train both mappings, search the current scales, simulate the test samples in ngspice."""
    input:
        notebook="notebooks/run_circuit_validation.ipynb",
        characterisation=f"{DEVICES}/characterisation.json",
    output:
        notebook=f"{CIRCUIT}/notebook.ipynb",
        numbers=f"{CIRCUIT}/validation.json",
        arrays=f"{CIRCUIT}/validation.npz",
    params:
        nb=pipeline.nb_params_json(
            "notebooks/run_circuit_validation.ipynb",
            CIRCUIT_P["validation"],
            characterisation=f"{DEVICES}/characterisation.json",
            out_dir=CIRCUIT,
            workers=CIRCUIT_P["threads"],
        ),
    threads: CIRCUIT_P["threads"]
    log:
        f"{LOGS}/circuit/validation.log",
    conda:
        "../environment.yml"
    shell:
        NOTEBOOK_JOB


rule circuit_figures:
    """Figs. 6, 7, 15, 17c-d and Table 2 from the validation results."""
    input:
        notebook="notebooks/fig7_circuit.ipynb",
        numbers=f"{CIRCUIT}/validation.json",
        arrays=f"{CIRCUIT}/validation.npz",
        characterisation=f"{DEVICES}/characterisation.json",
    output:
        notebook=f"{CIRCUIT}/figures.ipynb",
        record=f"{CIRCUIT}/record.json",
        figures=[f for files in CIRCUIT_FIG_FILES.values() for f in files],
        tables=CIRCUIT_TABLES,
    params:
        nb=pipeline.nb_params_json(
            "notebooks/fig7_circuit.ipynb",
            {},
            validation_dir=CIRCUIT,
            characterisation=f"{DEVICES}/characterisation.json",
            fig_dir=FIGURES,
            table_dir=TABLES,
        ),
    threads: 1
    log:
        f"{LOGS}/circuit/figures.log",
    conda:
        "../environment.yml"
    shell:
        NOTEBOOK_JOB


rule circuit_conditions:
    """Our extension: both networks across corners, temperatures and device mismatch."""
    input:
        notebook="notebooks/run_circuit_conditions.ipynb",
        numbers=f"{CIRCUIT}/validation.json",
        arrays=f"{CIRCUIT}/validation.npz",
        device_conditions=f"{DEVICE_CONDITIONS}/device_conditions.json",
    output:
        notebook=f"{CONDITIONS}/notebook.ipynb",
        numbers=f"{CONDITIONS}/conditions.json",
    params:
        nb=pipeline.nb_params_json(
            "notebooks/run_circuit_conditions.ipynb",
            {**CONDITIONS_P, **{f"mc_{k}": v for k, v in CIRCUIT_P["mismatch"].items()}},
            validation_dir=CIRCUIT,
            device_conditions=f"{DEVICE_CONDITIONS}/device_conditions.json",
            out_dir=CONDITIONS,
            workers=CIRCUIT_P["threads"],
        ),
    threads: CIRCUIT_P["threads"]
    log:
        f"{LOGS}/circuit/conditions.log",
    conda:
        "../environment.yml"
    shell:
        NOTEBOOK_JOB


rule circuit_conditions_figures:
    """Figures and table of the corners / temperature / mismatch study."""
    input:
        notebook="notebooks/fig_circuit_conditions.ipynb",
        numbers=f"{CONDITIONS}/conditions.json",
    output:
        notebook=f"{CONDITIONS}/figures.ipynb",
        files=CONDITIONS_FILES,
        record=f"{CONDITIONS}/record.json",
    params:
        nb=pipeline.nb_params_json(
            "notebooks/fig_circuit_conditions.ipynb",
            {},
            conditions_json=f"{CONDITIONS}/conditions.json",
            fig_dir=FIGURES,
            table_dir=TABLES,
        ),
    threads: 1
    log:
        f"{LOGS}/circuit/conditions_figures.log",
    conda:
        "../environment.yml"
    shell:
        NOTEBOOK_JOB
