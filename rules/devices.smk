"""Device characterisation (notebooks/fig_devices.ipynb): sky130 transistor, sensing-inverter
and discharger sweeps with ngspice -> Figs. 17, 19, 20 and the λ / E± values of Table 2."""

DEVICES = f"{RESULTS}/devices"
DEVICE_FIGS = {
    "fig17": "fig17_weight_transistors",
    "fig19": "fig19_sensing_inverter",
    "fig20": "fig20_discharger",
}

STAGES["devices"] = {
    "title": "sky130 device characterisation (ngspice)",
    "items": {
        **{item: [f"{FIGURES}/{name}.pdf", f"{FIGURES}/{name}.png"] for item, name in DEVICE_FIGS.items()},
        "table2": [f"{DEVICES}/characterisation.json"],
    },
    "values": [f"{DEVICES}/record.json"],
    "outputs": [f"{FIGURES}/{name}.{ext}" for name in DEVICE_FIGS.values() for ext in ("pdf", "png")]
    + [f"{DEVICES}/characterisation.json", f"{DEVICES}/id_vg_v0.csv", f"{DEVICES}/record.json"],
}


rule devices:
    input:
        notebook="notebooks/fig_devices.ipynb",
    output:
        notebook=f"{DEVICES}/notebook.ipynb",
        characterisation=f"{DEVICES}/characterisation.json",
        id_vg=f"{DEVICES}/id_vg_v0.csv",
        record=f"{DEVICES}/record.json",
        figures=[f"{FIGURES}/{name}.{ext}" for name in DEVICE_FIGS.values() for ext in ("pdf", "png")],
    params:
        nb=pipeline.nb_params_json("notebooks/fig_devices.ipynb", P["devices"], out_dir=DEVICES, fig_dir=FIGURES),
    threads: P["devices"]["threads"]
    log:
        f"{LOGS}/devices.log",
    conda:
        "../environment.yml"
    shell:
        NOTEBOOK_JOB
