"""Reading a GGUF file's metadata: gguf's GGUFReader against knowtune's one-pass reader, side by side.

    python bench/gguf_read.py [--model gemma3-270m] [--run RUN_DIR]

Times, on the GGUF a preset was converted from (Gemma-3's: 262,144 tokens), gguf's GGUFReader with
the `contents()` of the tokenizer fields (what a GGUF export used to read, twice) and
`knowtune.export.gguf_meta.read_metadata`, checks that both read the same vocabulary, and with
`--run` times one float16 GGUF export of that run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="gemma3-270m", help="a preset converted from a GGUF file")
    parser.add_argument("--run", type=Path, help="a run to export as float16 GGUF, timed")
    args = parser.parse_args()

    import gguf

    from knowtune.config.hardware import cpu_name
    from knowtune.export.gguf_meta import read_metadata
    from knowtune.export.gguf_vocab import source_gguf
    from knowtune.models.load import resolve_model_dir

    source = source_gguf(resolve_model_dir(args.model)[0])
    print(f"{cpu_name()}; {source}")
    tic = time.perf_counter()
    fields = gguf.GGUFReader(source).fields
    theirs = {name: field.contents() for name, field in fields.items() if name.startswith("tokenizer.ggml.")}
    print(f"gguf.GGUFReader + contents(): {time.perf_counter() - tic:.2f} s")
    tic = time.perf_counter()
    ours = read_metadata(source)
    print(f"read_metadata: {time.perf_counter() - tic:.2f} s")
    tokens = ours["tokenizer.ggml.tokens"].value
    assert [t.decode("utf-8") for t in tokens] == theirs["tokenizer.ggml.tokens"], "the readers disagree"
    assert ours["tokenizer.ggml.scores"].value == theirs["tokenizer.ggml.scores"], "the readers disagree"
    print(f"the same {len(tokens):,} tokens and scores")
    if args.run:
        from knowtune.commands.export import export_command

        with tempfile.TemporaryDirectory() as out:
            tic = time.perf_counter()
            export_command(args.run, Path(out) / "gguf", "gguf", "float16")
            print(f"GGUF float16 export of {args.run}: {time.perf_counter() - tic:.1f} s")


if __name__ == "__main__":
    main()
