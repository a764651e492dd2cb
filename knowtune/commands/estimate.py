"""`knowtune estimate`: peak training memory of a method on any architecture, and LLaMA-Factory's table
beside ours."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from ..config import KnowtuneError
from ..methods import get_method, method_names
from ..methods.accounting import method_params
from ..models.meta import build_meta_model, load_arch_config
from ..train.estimate import MemoryEstimate, estimate_memory


def human(n: float) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20)):
        if abs(n) >= size or unit == "MiB":
            return f"{n / size:,.2f} {unit}" if unit == "GiB" else f"{n / size:,.0f} MiB"
    return f"{n:,.0f} B"


def _storage_line(est: MemoryEstimate) -> str:
    plan = est.plan
    frozen = {32: "fp32", 16: "bf16", 8: "int8 (Linear layers)", 4: "NF4 (Linear layers)"}[plan.bits]
    compute = "bf16 autocast" if plan.precision == "bf16" else "fp32"
    return (f"storage: frozen weights {frozen}, trainable {'fp32' if plan.trainable_bytes == 4 else 'bf16'}; "
            f"compute {compute}; batch {est.batch.batch} × {est.batch.seq} tokens"
            + (f" + {est.batch.prompt_tokens} virtual" if est.batch.prompt_tokens else "")
            + (f" (+ {est.batch.prefix_tokens} prefix keys/values)" if est.batch.prefix_tokens else "")
            + f", {est.answer_tokens:,d} answer tokens in the loss")


def print_estimate(est: MemoryEstimate, console: Console) -> None:
    table = Table(title=f"{est.method} on {est.model}: estimated peak training memory", title_justify="left")
    table.add_column("part")
    table.add_column("bytes", justify="right")
    for label, value in est.parts():
        table.add_row(label, human(value))
    table.add_row("[bold]peak[/bold]", f"[bold]{human(est.peak)}[/bold]")
    console.print(table)
    print(_storage_line(est))
    print(f"trainable params: {est.trainable:,d} of {est.total_params:,d}")
    print("peak = weights + optimizer states + max(autocast copies + activations + logits, "
          "gradients + max(autocast copies, step scratch))")
    for note in est.notes:
        print(f"note: {note}")


def estimate_command(model: str, method_name: str, *, r: int | None, target: str | None, sets: dict,
                     bits: int | None, batch: int, seq: int, answer_tokens: int | None, precision: str,
                     checkpointing: bool) -> MemoryEstimate:
    method = get_method(method_name)
    params = method_params(method, sets, r=r, target=target)
    config, name, _ = load_arch_config(model)
    est = estimate_memory(lambda: build_meta_model(config), config, name, method, params, batch=batch, seq=seq,
                          answer_tokens=answer_tokens, bits=bits, precision=precision, checkpointing=checkpointing)
    print_estimate(est, Console())
    return est


def llamafactory_command() -> list:
    from ..train import llamafactory as lf

    rows = lf.comparison(method_names())
    table = Table(title="LLaMA-Factory's hardware table (GB) beside knowtune's estimate (GiB)", title_justify="left")
    for column in ("LLaMA-Factory method", "bits", "ours"):
        table.add_column(column)
    for size in lf.SIZES:
        table.add_column(f"{size} ({lf.ARCH_FOR_SIZE[size]})\ntheirs / ours", justify="right")
    for row in rows:
        cells = [f"{c.theirs:g} / " + (f"{c.ours:,.1f}" if c.ours is not None else "-") for c in row.cells]
        table.add_row(row.label, str(row.bits), row.method + (f" ({row.why})" if row.why else ""), *cells)
    Console().print(table)
    print(f"source: {lf.SOURCE}")
    print(f"ours: batch {lf.BATCH} × {lf.SEQ} tokens, bf16 compute, gradient checkpointing, AdamW; "
          f"bits 32 = fp32 master weights under bf16 autocast, 16 = bf16 storage")
    return rows


def check_estimate_args(model: str | None, table: bool) -> None:
    if table == (model is not None):
        raise KnowtuneError("give a MODEL, or --llamafactory-table alone", field="MODEL")
