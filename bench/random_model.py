"""A model directory with a real architecture's shapes and random weights, for speed runs.

Where real weights cannot travel (the device machine takes 64 MiB, the smallest preset
is 93 MB), train_speed.py still measures tokens/s, memory and FLOP utilisation
honestly on a randomly initialised model of the same shape: the arithmetic per token
does not depend on the weights' values. Held-out accuracy means nothing on such a model.

    python bench/random_model.py --config bench/configs/qwen2.5-0.5b.json \
        --tokenizer ~/.cache/knowtune/models/smollm2-135m /tmp/qwen2.5-0.5b-random

The tokenizer directory gives the tokenizer files and chat template (a tokenizer smaller
than the config's vocabulary only leaves embedding rows unused; the output head still
spans the whole vocabulary, which is what costs).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja",
                   "special_tokens_map.json", "tokenizer.model")


def build(config_path: Path, tokenizer_dir: Path, out: Path, seed: int = 0) -> Path:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    settings = json.loads(config_path.read_text())
    if len(tokenizer) > settings["vocab_size"]:  # added special tokens count: their ids must fit too
        raise SystemExit(f"{tokenizer_dir}: tokenizer has {len(tokenizer)} tokens, "
                         f"more than {config_path}'s vocab_size {settings['vocab_size']}")
    # the special tokens must be the tokenizer's, or generation never stops
    for name in ("bos_token_id", "eos_token_id", "pad_token_id"):
        value = getattr(tokenizer, name)
        if value is not None:
            settings[name] = value
    config = AutoConfig.for_model(settings.pop("model_type"), **settings)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    for name in TOKENIZER_FILES:
        if (tokenizer_dir / name).is_file():
            shutil.copy(tokenizer_dir / name, out / name)
    (out / "knowtune_source.json").write_text(json.dumps(
        {"random_weights": True, "config": config_path.name, "tokenizer": tokenizer_dir.name}) + "\n")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--config", type=Path, required=True, help="a config.json (bench/configs/)")
    parser.add_argument("--tokenizer", type=Path, required=True, help="a directory with tokenizer files")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(build(args.config, args.tokenizer.expanduser(), args.out, args.seed))


if __name__ == "__main__":
    main(sys.argv[1:])
