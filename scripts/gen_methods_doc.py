"""Regenerate the parameter tables of docs/methods.md from `knowtune params` code.

    .venv/bin/python scripts/gen_methods_doc.py          # rewrite docs/methods.md
    .venv/bin/python scripts/gen_methods_doc.py --check  # exit 1 if it is stale

Loops over the method registry: a registered method with no section yet gets one (its
summary line and a table) at the end of the page, so methods that land later appear on
the next run. Counts come from meta-device models built from the bundled configs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DOC = ROOT / "docs" / "methods.md"
MODELS = (("qwen2.5-0.5b", "Qwen2.5-0.5B"), ("smollm2-135m", "SmolLM2-135M"))
SETTINGS: dict[str, list[dict]] = {
    "lora": [{"r": 8, "target_modules": ["q_proj", "k_proj", "v_proj"]},
             {"r": 8, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]},
             {}],
    "dora": [{"r": 8, "target_modules": ["q_proj", "v_proj"]}, {}],
    "qlora": [{}, {"bits": 8}],
    "prefix": [{}, {"num_virtual_tokens": 64}],
    "prompt": [{}, {"num_virtual_tokens": 64}],
    "adapter": [{}, {"bottleneck": 16}],
    "freeze": [{}, {"layers": 4, "extra_modules": ["norm"]}],
    "galore": [{}],
    "badam": [{}],
}
"""Typical settings per method; {} is the method's defaults. Methods not listed show their defaults."""


def _setting_label(method, setting: dict) -> str:
    import dataclasses

    defaults = {f.name: getattr(method.params_cls(), f.name) for f in dataclasses.fields(method.params_cls)}
    shown = setting or {k: v for k, v in defaults.items() if k in ("r", "target_modules", "num_virtual_tokens",
                                                                   "bottleneck", "layers", "bits", "rank")}
    text = ", ".join(f"{k} {','.join(v) if isinstance(v, list) else v}" for k, v in shown.items())
    return ("defaults: " if not setting else "") + (text or "no parameters")


def _counts(method, setting: dict) -> list[tuple[int, float]]:
    from knowtune.methods.accounting import count_method
    from knowtune.models.meta import build_meta_model, load_arch_config

    out = []
    for arch, _ in MODELS:
        config, _, _ = load_arch_config(arch)
        report = count_method(lambda: build_meta_model(config), method, method.parse_params(setting))
        out.append((report.trainable, report.percent))
    return out


def method_table(name: str) -> str:
    from knowtune.methods import get_method

    method = get_method(name)
    head = "| setting | " + " | ".join(f"{label} trainable | %" for _, label in MODELS) + " |"
    rows = [head, "| --- |" + " ---: | ---: |" * len(MODELS)]
    for setting in SETTINGS.get(name, [{}]):
        cells = " | ".join(f"{n:,d} | {pct:.4f}" for n, pct in _counts(method, setting))
        rows.append(f"| {_setting_label(method, setting)} | {cells} |")
    return "\n".join(rows)


def summary_table(names: list[str]) -> str:
    from knowtune.methods import get_method

    rows = ["| method | what it trains | " + " | ".join(f"{label} (defaults) | %" for _, label in MODELS) + " |",
            "| --- | --- |" + " ---: | ---: |" * len(MODELS)]
    for name in names:
        method = get_method(name)
        cells = " | ".join(f"{n:,d} | {pct:.4f}" for n, pct in _counts(method, {}))
        rows.append(f"| [{name}](#{name}) | {method.summary} | {cells} |")
    return "\n".join(rows)


def _replace(doc: str, key: str, body: str) -> str:
    begin, end = f"<!-- {key}:BEGIN -->", f"<!-- {key}:END -->"
    before, rest = doc.split(begin, 1)
    after = rest.split(end, 1)[1]
    return f"{before}{begin}\n{body}\n{end}{after}"


def render(doc: str) -> str:
    """The page with every generated table brought up to date (and sections for new methods)."""
    from knowtune.methods import get_method, method_names

    names = method_names()
    doc = _replace(doc, "METHODS:SUMMARY", summary_table(names))
    for name in names:
        key = f"PARAMS:{name}"
        if f"<!-- {key}:BEGIN -->" not in doc:
            doc = doc.rstrip("\n") + (f"\n\n## {name}\n\n{get_method(name).summary}.\n\n"
                                      f"<!-- {key}:BEGIN -->\n<!-- {key}:END -->\n")
        doc = _replace(doc, key, method_table(name))
    return doc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="Exit 1 when docs/methods.md is stale.")
    args = parser.parse_args()
    doc = DOC.read_text(encoding="utf-8")
    new = render(doc)
    if args.check:
        sys.exit(0 if new == doc else 1)
    DOC.write_text(new, encoding="utf-8")
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
