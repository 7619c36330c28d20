"""Device characterisation (notebooks/fig_devices.ipynb): sky130 transistor, sensing-inverter
and discharger sweeps with ngspice -> Figs. 17, 19, 20 and the λ / E± values of Table 2.

notebooks/fig_device_conditions.ipynb (our extension, not in the paper) characterises the devices
again at the profile's other corners and temperatures (discharger bias trimmed per condition) ->
the extension figure and table ext_device_conditions and <results>/devices/conditions/."""

DEVICES = f"{RESULTS}/devices"
DEVICE_FIGS = {
    "fig17": "fig17_weight_transistors",
    "fig19": "fig19_sensing_inverter",
    "fig20": "fig20_discharger",
}
DEVICES_P = {k: v for k, v in P["devices"].items() if k != "conditions"}
DEVICE_CONDITIONS = f"{DEVICES}/conditions"
DEVICE_CONDITIONS_FILES = [f"{FIGURES}/ext_device_conditions.{ext}" for ext in ("pdf", "png")] + [
    f"{TABLES}/ext_device_conditions.{ext}" for ext in ("csv", "md")
]

STAGES["devices"] = {
    "title": "sky130 device characterisation (ngspice)",
    "items": {
        **{item: [f"{FIGURES}/{name}.pdf", f"{FIGURES}/{name}.png"] for item, name in DEVICE_FIGS.items()},
        "table2": [f"{DEVICES}/characterisation.json"],
    },
    # beyond the paper: figure/table -> files (listed by the report apart from the paper's items)
    "extensions": {"ext_device_conditions": DEVICE_CONDITIONS_FILES},
    "values": [f"{DEVICES}/record.json", f"{DEVICE_CONDITIONS}/record.json"],
    "outputs": [f"{FIGURES}/{name}.{ext}" for name in DEVICE_FIGS.values() for ext in ("pdf", "png")]
    + [f"{DEVICES}/characterisation.json", f"{DEVICES}/id_vg_v0.csv", f"{DEVICES}/record.json",
       f"{DEVICE_CONDITIONS}/device_conditions.json", f"{DEVICE_CONDITIONS}/record.json"]
    + DEVICE_CONDITIONS_FILES,
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
        nb=pipeline.nb_params_json("notebooks/fig_devices.ipynb", DEVICES_P, out_dir=DEVICES, fig_dir=FIGURES),
    threads: P["devices"]["threads"]
    log:
        f"{LOGS}/devices.log",
    conda:
        "../environment.yml"
    shell:
        NOTEBOOK_JOB


rule device_conditions:
    """Our extension: λ, E±, E_dis (and the weight mapping's tables) at other corners and temperatures."""
    input:
        notebook="notebooks/fig_device_conditions.ipynb",
        characterisation=f"{DEVICES}/characterisation.json",
    output:
        notebook=f"{DEVICE_CONDITIONS}/notebook.ipynb",
        summary=f"{DEVICE_CONDITIONS}/device_conditions.json",
        record=f"{DEVICE_CONDITIONS}/record.json",
        files=DEVICE_CONDITIONS_FILES,
    params:
        nb=pipeline.nb_params_json(
            "notebooks/fig_device_conditions.ipynb",
            P["devices"]["conditions"],
            characterisation=f"{DEVICES}/characterisation.json",
            out_dir=DEVICE_CONDITIONS,
            fig_dir=FIGURES,
            table_dir=TABLES,
            workers=P["devices"]["threads"],
        ),
    threads: P["devices"]["threads"]
    log:
        f"{LOGS}/device_conditions.log",
    conda:
        "../environment.yml"
    shell:
        NOTEBOOK_JOB
