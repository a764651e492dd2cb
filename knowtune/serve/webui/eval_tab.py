"""The Evaluate tab: run `knowtune eval --run ...` in a subprocess, then show its report."""

from __future__ import annotations

import json
from pathlib import Path

from .jobs import JobSlot
from .workspace import Workspace


def eval_args(run: str, *, rag: bool, probes: bool, hallucination: bool) -> list[str]:
    args = ["eval", "--run", run]
    for flag, on in (("rag", rag), ("probes", probes), ("hallucination", hallucination)):
        if not on:
            args.append(f"--no-{flag}")
    return args


def report_of(run: Path) -> tuple[str, list[list[str]]]:
    """(Markdown report, before/after rows) of an evaluated run."""
    folder = run / "eval"
    markdown = (folder / "report.md").read_text(encoding="utf-8") if (folder / "report.md").is_file() else ""
    rows = []
    metrics_file = folder / "metrics.json"
    if metrics_file.is_file():
        metrics = json.loads(metrics_file.read_text(encoding="utf-8"))
        for system, values in (metrics.get("systems") or {}).items():
            if isinstance(values, dict) and "accuracy" in values:
                rows.append([system, f"{100 * values['accuracy']:.1f}%", str(values.get("n", ""))])
    return markdown, rows


def build_eval_tab(gr, workspace: Workspace, slot: JobSlot):
    with gr.Row():
        run = gr.Dropdown(label="run", choices=workspace.runs(), allow_custom_value=True, elem_id="eval-run")
        refresh = gr.Button("Refresh runs")
    with gr.Row():
        rag = gr.Checkbox(label="RAG rows (BM25 retrieval)", value=True)
        probes = gr.Checkbox(label="forgetting probe", value=True)
        hallucination = gr.Checkbox(label="hallucination questions", value=True)
    start = gr.Button("Evaluate", variant="primary")
    command = gr.Textbox(label="command", interactive=False)
    status = gr.Textbox(label="status", interactive=False, elem_id="eval-status")
    table = gr.Dataframe(headers=["system", "accuracy", "questions"], label="before / after", interactive=False)
    report = gr.Markdown()
    log = gr.Textbox(label="log", lines=8, interactive=False)
    timer = gr.Timer(2.0)

    refresh.click(lambda: gr.update(choices=workspace.runs()), None, run)

    def start_eval(run_value, rag_value, probes_value, hallucination_value):
        if not run_value:
            raise gr.Error("choose a run")
        args = eval_args(run_value, rag=rag_value, probes=probes_value, hallucination=hallucination_value)
        return slot.launch(gr, args, workspace.logs_root / f"eval-{Path(run_value).name}.log", workspace.root)

    start.click(start_eval, [run, rag, probes, hallucination], [command, status])

    def poll(run_value):
        job = slot.job
        if job is None:
            return gr.update(), gr.update(), gr.update(), gr.update()
        if job.running or not run_value:
            return job.status(), gr.update(), gr.update(), job.log_tail()
        markdown, rows = report_of(Path(run_value))
        return job.status(), rows, markdown, job.log_tail()

    timer.tick(poll, run, [status, table, report, log])
    return run
