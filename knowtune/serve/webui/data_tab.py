"""The Data tab: pick a knowledge file (bundled or uploaded), build it with `knowtune data build`,
preview the samples and stats."""

from __future__ import annotations

import shutil
from pathlib import Path

from .jobs import run_to_end, shown_command
from .workspace import Workspace, bundled_knowledge, check_name, dataset_preview


def build_args(files: list[str], out: Path) -> list[str]:
    return ["data", "build", *files, "--out", str(out)]


def build_data_tab(gr, workspace: Workspace):
    with gr.Row():
        knowledge = gr.Dropdown(label="knowledge file", choices=bundled_knowledge(), allow_custom_value=True,
                                value=(bundled_knowledge() or [None])[0], elem_id="knowledge-file",
                                info="Facts JSONL, documents (.md .txt .html .docx .pdf), QA sets, or a "
                                     "LLaMA-Factory dataset_info.json: a path on this machine.")
        upload = gr.File(label="or upload one", file_count="single")
        name = gr.Textbox(label="data set name", value="my-knowledge", elem_id="dataset-name",
                          info="Written to data/NAME.")
    build = gr.Button("Build data set", variant="primary", elem_id="build-button")
    command = gr.Textbox(label="command", interactive=False)
    result = gr.Textbox(label="result", interactive=False, lines=3, elem_id="build-result")
    stats = gr.Dataframe(headers=["stat", "value"], label="stats", interactive=False)
    samples = gr.Dataframe(headers=["question", "answer"], label="samples", interactive=False, wrap=True)

    def build_dataset(knowledge_value, upload_value, name_value):
        try:
            check_name(name_value, "data set")
        except ValueError as err:
            raise gr.Error(str(err)) from None
        source = upload_value or knowledge_value
        if not source:
            raise gr.Error("choose a knowledge file or upload one")
        if upload_value:  # keep the upload beside the data sets, under its own name
            kept = workspace.logs_root / "uploads" / Path(upload_value).name
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(upload_value, kept)
            source = str(kept)
        out = workspace.data_root / name_value
        args = build_args([source], out)
        code, output = run_to_end(args, workspace.root)
        if code != 0:  # the CLI's one-line error, as a terminal would show it
            lines = [line for line in output.splitlines() if line.strip()]
            return shown_command(args), f"failed: {lines[-1] if lines else 'exit ' + str(code)}", None, None
        stat_rows, sample_rows = dataset_preview(out)
        return shown_command(args), f"built {out}", stat_rows, sample_rows

    build.click(build_dataset, [knowledge, upload, name], [command, result, stats, samples])
