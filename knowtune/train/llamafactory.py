"""LLaMA-Factory's published hardware table, and our estimate for each of its cells.

Source: hiyouga/LLaMA-Factory, README.md, "Hardware Requirement" (marked "*estimated*"),
commit 0bbe481e6e621527284d37f1e13a6b9556c303ec (2026-08-10). Figures copied exactly, in GB.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import KnowtuneError

SOURCE = ("LLaMA-Factory README.md, Hardware Requirement, commit 0bbe481e6e621527284d37f1e13a6b9556c303ec "
          "(https://github.com/hiyouga/LLaMA-Factory#hardware-requirement)")
SIZES = ("7B", "14B", "30B", "70B")
ARCH_FOR_SIZE = {"7B": "qwen2.5-7b", "14B": "qwen2.5-14b", "30B": "qwen2.5-32b", "70B": "llama-3-70b"}
"""The bundled architecture standing for each size column (no dense 30B is current; Qwen2.5-32B is nearest)."""

# (their method label, their bits, their GB per size, our methods to put beside it, our --bits)
TABLE = [
    ("Full (`bf16` or `fp16`)", 32, (120, 240, 600, 1200), ("full",), 32),
    ("Full (`pure_bf16`)", 16, (60, 120, 300, 600), ("full",), 16),
    ("Freeze/LoRA/GaLore/APOLLO/BAdam/OFT", 16, (16, 32, 64, 160), ("freeze", "lora", "galore", "badam"), 16),
    ("QLoRA / QOFT", 8, (10, 20, 40, 80), ("qlora", "lora"), 8),
    ("QLoRA / QOFT", 4, (6, 12, 24, 48), ("qlora", "lora"), 4),
    ("QLoRA / QOFT", 2, (4, 8, 16, 24), (), 2),
]
BATCH, SEQ = 1, 1024
"""Our settings for the comparison: LLaMA-Factory's examples train batch 1 with gradient checkpointing on
(its default); the table does not state a sequence length, we take 1,024 tokens, all of them in the loss."""


@dataclass
class Cell:
    size: str
    theirs: float
    ours: float | None
    """Our peak estimate in GiB; None where we have no such method or precision."""


@dataclass
class ComparisonRow:
    label: str
    bits: int
    method: str
    cells: list[Cell]
    why: str = ""


# Their figures are for their defaults where ours differ: freeze trains their
# freeze_trainable_layers=2 last layers (ours: 8, measured to learn facts in one epoch).
THEIR_PARAMS = {"freeze": {"layers": 2}}


def _our_gib(size: str, method_name: str, bits: int | None) -> float:
    from ..methods import get_method
    from ..models.meta import build_meta_model, load_arch_config
    from .estimate import estimate_memory

    config, name, _ = load_arch_config(ARCH_FOR_SIZE[size])
    method = get_method(method_name)
    params = method.parse_params(THEIR_PARAMS.get(method_name, {}))
    est = estimate_memory(lambda: build_meta_model(config), config, name, method, params,
                          batch=BATCH, seq=SEQ, bits=bits, precision="bf16", checkpointing=True)
    return est.peak / 2**30


def comparison(registered: list[str]) -> list[ComparisonRow]:
    rows = []
    for label, bits, theirs, ours, our_bits in TABLE:
        candidates = [m for m in ours if m in registered]
        if bits in (8, 4) and candidates:
            candidates = candidates[:1]  # qlora when it exists, else LoRA on an 8/4-bit base
        if not candidates:
            why = "bitsandbytes has no 2-bit storage" if bits == 2 else f"{'/'.join(ours)} not registered yet"
            rows.append(ComparisonRow(label, bits, "-", [Cell(s, t, None) for s, t in zip(SIZES, theirs)], why))
            continue
        for method in candidates:
            cells, why = [], ""
            for size, their in zip(SIZES, theirs):
                try:
                    cells.append(Cell(size, their, _our_gib(size, method, our_bits)))
                except KnowtuneError as err:
                    cells.append(Cell(size, their, None))
                    why = err.message
            rows.append(ComparisonRow(label, bits, method, cells, why))
    return rows


def to_markdown(rows: list[ComparisonRow]) -> str:
    head = "| LLaMA-Factory method | bits | ours | " + " | ".join(
        f"{size} ({ARCH_FOR_SIZE[size]}) theirs GB / ours GiB" for size in SIZES) + " |"
    lines = [head, "| --- | ---: | --- |" + " ---: |" * len(SIZES)]
    for row in rows:
        cells = " | ".join(f"{c.theirs:g} / " + (f"{c.ours:,.1f}" if c.ours is not None else "-") for c in row.cells)
        ours = row.method + (f" ({row.why})" if row.why else "")
        lines.append(f"| {row.label} | {row.bits} | {ours} | {cells} |")
    return "\n".join(lines)
