"""Circuit validation (paper §1.8, §6; Figs. 6, 7, 15, 17c-d; Table 2).

notebooks/run_circuit_validation.ipynb trains the 5-5-5 Iris RC-Spike network top-down (ideal,
|E| = 100) and bottom-up (E± and E_dis of the sky130 synapse as wired, from the devices stage),
maps both to gate biases, searches the current scales (response surface over a small design of
ngspice runs, 1 % grid) and compares model and ngspice spike times on the Iris test samples; the
ngspice processes run in a pool of the rule's threads and are cached by netlist hash under
<results>/circuit/spice. notebooks/fig7_circuit.ipynb draws the figures and Table 2 from its
results.
"""

CIRCUIT = f"{RESULTS}/circuit"
CIRCUIT_P = P["circuit"]
# paper item -> figure made (PDF + PNG)
CIRCUIT_FIGS = {"fig6": "fig6", "fig7": "fig7", "fig15": "fig15", "fig17": "fig17cd_network_currents"}
CIRCUIT_FIG_FILES = {item: [f"{FIGURES}/{name}.{ext}" for ext in ("pdf", "png")] for item, name in CIRCUIT_FIGS.items()}
CIRCUIT_TABLES = [f"{TABLES}/table2.csv", f"{TABLES}/table2.md"]

STAGES["circuit"] = {
    "title": "Circuit validation: ANN-to-IMC vs PNN-to-IMC against ngspice (sky130)",
    "items": {**CIRCUIT_FIG_FILES, "table2": CIRCUIT_TABLES},
    "values": [f"{CIRCUIT}/record.json"],
    "outputs": [f"{CIRCUIT}/validation.json", f"{CIRCUIT}/validation.npz", f"{CIRCUIT}/record.json"]
    + [f for files in CIRCUIT_FIG_FILES.values() for f in files]
    + CIRCUIT_TABLES,
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
