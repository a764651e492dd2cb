"""`knowtune inspect` and `knowtune params`: a model's structure and exact trainable counts, from its
configuration alone (no weights are loaded)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from ..methods import get_method
from ..methods.accounting import ParamReport, count_method, count_parameters, method_params
from ..models.meta import build_meta_model, load_arch_config, meta_model


def inspect_command(model: str) -> dict:
    meta = meta_model(model)
    print(meta.model)
    _, total = count_parameters(meta.model)
    embedding = meta.model.get_input_embeddings().weight.numel()
    tied = meta.model.get_output_embeddings().weight is meta.model.get_input_embeddings().weight
    print(f"\n{meta.name} ({meta.source})")
    print(f"total params: {total:,d}")
    print(f"embedding params: {embedding:,d} ({'tied to the output head' if tied else 'output head separate'})")
    print(f"non-embedding params: {total - embedding - (0 if tied else embedding):,d}")
    return {"name": meta.name, "total": total, "embedding": embedding, "tied": tied}


def params_report(model: str, method_name: str, *, r: int | None = None, target: str | None = None,
                  sets: dict | None = None) -> tuple[ParamReport, str]:
    method = get_method(method_name)
    params = method_params(method, sets, r=r, target=target)
    config, name, _ = load_arch_config(model)
    return count_method(lambda: build_meta_model(config), method, params), name


def params_table(report: ParamReport, title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column, justify in (("module", "left"), ("kind", "left"), ("in → out / shape", "left"),
                            ("per module", "right"), ("modules", "right"), ("subtotal", "right")):
        table.add_column(column, justify=justify)
    for row in report.rows:
        per = f"{row.formula} = {row.per_module:,d}" if row.formula != f"{row.per_module}" else f"{row.per_module:,d}"
        table.add_row(row.module, row.kind, row.shape, per, f"× {row.count}", f"{row.subtotal:,d}")
    return table


def params_command(model: str, method_name: str, *, r: int | None, target: str | None, sets: dict) -> ParamReport:
    report, name = params_report(model, method_name, r=r, target=target, sets=sets)
    console = Console()
    console.print(params_table(report, f"{method_name} on {name}: trainable parameters"))
    print(f"total trainable: {report.trainable:,d}")
    print(f"all params:      {report.total:,d} (peft counts the adapter's own parameters in 'all')")
    print(report.summary())
    if report.note:
        print(f"note: {report.note}")
    return report
