"""The Train tab: method + the form generated from its params, start/stop, live loss plot.

Start runs `knowtune train ...` in a subprocess and shows that command; a timer polls the
run's progress log (progress.jsonl) for the loss plot and the job's log for the text.
"""

from __future__ import annotations

from pathlib import Path

from ...config import DEFAULT_MODEL, TrainConfig
from ...methods import get_method, method_names
from .forms import FormField, form_fields, param_overrides, shown_value
from .jobs import JobSlot
from .workspace import Workspace, check_name, training_log


def train_args(data: str, model: str, method: str, run: Path, epochs: float | None, lr: float | None,
               batch_size: int, overrides: list[str], overwrite: bool = False) -> list[str]:
    """The `knowtune train` arguments of a filled form; empty epochs or rate are left to the recipe."""
    args = ["train", "--data", data, "--out", str(run), "--model", model, "--method", method,
            "--set", f"batch_size={int(batch_size)}"]
    if epochs is not None:
        args += ["--epochs", f"{epochs:g}"]
    if lr is not None:
        args += ["--lr", f"{lr:g}"]
    for option in overrides:
        args += ["--set", option]
    if overwrite:
        args.append("--overwrite")
    return args


def loss_frame(run: Path):
    import pandas as pd

    rows = training_log(run)
    return pd.DataFrame({"step": [r["step"] for r in rows], "loss": [r["loss"] for r in rows]})


def progress_text(run: Path) -> str:
    rows = training_log(run)
    if not rows:
        return "no steps yet"
    last = rows[-1]
    return (f"step {last['step']}/{last['total_steps']} · loss {last['loss']:.4f} · "
            f"{last['tokens_per_second']:,.0f} tok/s · {last['elapsed_s']:.0f} s")


def _component(gr, field: FormField):
    label, info, value = field.name, field.help or None, shown_value(field)
    if field.kind == "bool":
        return gr.Checkbox(label=label, info=info, value=bool(value))
    if field.kind == "choice":
        return gr.Dropdown(label=label, info=info, choices=list(field.choices), value=value)
    if field.kind in ("int", "float"):
        return gr.Number(label=label, info=info, value=value, precision=0 if field.kind == "int" else None)
    return gr.Textbox(label=label, info=info, value=str(value))


def build_train_tab(gr, workspace: Workspace, slot: JobSlot):
    defaults = TrainConfig()
    forms: dict[str, tuple[object, list[FormField], list]] = {}
    with gr.Row():
        data = gr.Dropdown(label="data set", choices=workspace.datasets(), allow_custom_value=True, elem_id="train-data",
                           info="A built data set folder (Data tab) or a facts JSONL file.")
        model = gr.Textbox(label="model", value=DEFAULT_MODEL, elem_id="train-model",
                           info="Preset (smollm2-135m, gemma3-270m), model folder or .gguf file.")
        run_name = gr.Textbox(label="run name", value="webui-run", elem_id="train-run", info="Written to runs/NAME.")
    with gr.Row():
        method = gr.Dropdown(label="method", choices=method_names(), value=defaults.method)
        epochs = gr.Number(label="epochs", value=defaults.epochs, elem_id="train-epochs",
                           info="Empty: the model's recipe for the method (1.5 unless it says otherwise).")
        lr = gr.Number(label="learning rate", value=defaults.learning_rate, elem_id="train-lr",
                       info="Empty: the rate measured for the method on this model.")
        batch_size = gr.Number(label="batch size", value=defaults.batch_size, precision=0)
        replace = gr.Checkbox(label="replace an existing run of this name", value=False, elem_id="train-replace")
    for name in method_names():
        spec = get_method(name)
        fields = form_fields(spec.params_cls)
        with gr.Group(visible=name == defaults.method) as group:
            gr.Markdown(f"**{name}**: {spec.summary}")
            components = [_component(gr, f) for f in fields]
        forms[name] = (group, fields, components)
    with gr.Row():
        start = gr.Button("Start training", variant="primary", elem_id="train-start")
        stop = gr.Button("Stop", elem_id="train-stop")
        refresh = gr.Button("Refresh data sets")
    command = gr.Textbox(label="command", interactive=False, elem_id="train-command")
    status = gr.Textbox(label="status", interactive=False, elem_id="train-status")
    progress = gr.Textbox(label="progress", interactive=False, elem_id="train-progress")
    plot = gr.LinePlot(x="step", y="loss", title="training loss", elem_id="loss-plot", height=280)
    log = gr.Textbox(label="log", lines=10, max_lines=20, interactive=False, autoscroll=True, elem_id="train-log")
    timer = gr.Timer(1.0)

    groups = [forms[n][0] for n in method_names()]
    method.change(lambda m: [gr.update(visible=n == m) for n in method_names()], method, groups)
    refresh.click(lambda: gr.update(choices=workspace.datasets()), None, data)

    all_components = [c for n in method_names() for c in forms[n][2]]

    def start_training(data_value, model_value, run_value, method_value, epochs_value, lr_value, batch_value,
                       replace_value, *param_values):
        if not data_value:
            raise gr.Error("choose a data set (build one in the Data tab) or give a facts file")
        try:
            check_name(run_value, "run")
        except ValueError as err:
            raise gr.Error(str(err)) from None
        offset = 0
        for name in method_names():
            fields = forms[name][1]
            if name == method_value:
                overrides = param_overrides(fields, list(param_values[offset:offset + len(fields)]))
            offset += len(fields)
        run = workspace.runs_root / run_value
        args = train_args(data_value, model_value, method_value, run, epochs_value, lr_value, batch_value,
                          overrides, overwrite=bool(replace_value))
        return slot.launch(gr, args, workspace.logs_root / f"train-{run_value}.log", workspace.root)

    start.click(start_training, [data, model, run_name, method, epochs, lr, batch_size, replace, *all_components],
                [command, status])

    def stop_training():
        if slot.job is not None:
            slot.job.stop()
        return "stopping..."

    stop.click(stop_training, None, status)

    def poll(run_value):
        job = slot.job
        if job is None:
            return gr.update(), gr.update(), gr.update(), gr.update()
        run = workspace.runs_root / (run_value or "")
        return job.status(), progress_text(run), loss_frame(run), job.log_tail()

    timer.tick(poll, run_name, [status, progress, plot, log])
    return data
