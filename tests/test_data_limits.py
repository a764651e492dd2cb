"""--max-len (drop or truncate over-long samples, say how many) and token stats with the chat template."""

import json
import subprocess
import sys

import pytest

from knowtune.data.build import build_dataset
from knowtune.data.formats.conversations import Conversation
from knowtune.data.limits import add_token_stats, apply_max_len, sample_tokens


def _convs(n_long):
    short = [Conversation([{"role": "user", "content": f"Q{i}?"}, {"role": "assistant", "content": "Yes."}], "f", i)
             for i in range(6)]
    long = [Conversation([{"role": "user", "content": f"Long {i}?"},
                          {"role": "assistant", "content": "The capital of Hainan is Haikou. " * 20}], "f", 100 + i)
            for i in range(n_long)]
    return short + long


@pytest.fixture
def tokenizer(tiny_qwen):
    from knowtune.models import load_tokenizer

    return load_tokenizer(tiny_qwen)


@pytest.mark.parametrize("mode", ["drop", "truncate"])
def test_max_len_drops_or_truncates_and_counts(tokenizer, mode):
    built = build_dataset([], _convs(3), heldout_ratio=0, pretrain=[{"text": "word " * 500, "source": "x"}],
                          augment=False)  # the pretrain text stays out of train.jsonl
    lengths = sorted(sample_tokens(tokenizer, s["messages"]) for s in built.train)
    limit = lengths[5] + 5  # above every short sample, below every long one
    assert lengths[6] > limit
    done = apply_max_len(built, tokenizer, limit, mode)
    assert all(sample_tokens(tokenizer, s["messages"]) <= limit for s in built.train)
    if mode == "drop":
        assert done == {"max_len": limit, "over_long_dropped": 4, "over_long_truncated": 0}
        assert len(built.train) == 6 and not built.pretrain
    else:
        assert done["over_long_truncated"] == 4 and done["over_long_dropped"] == 0
        assert len(built.train) == 9 and len(built.pretrain) == 1
        cut = [s for s in built.train if s["messages"][0]["content"].startswith("Long")]
        assert all(s["messages"][-1]["content"].startswith("The capital of Hainan") for s in cut)
    assert built.stats["train_samples"] == len(built.train)


def test_token_stats(tokenizer):
    built = build_dataset([], _convs(1), heldout_ratio=0)
    add_token_stats(built, tokenizer)
    lengths = [sample_tokens(tokenizer, s["messages"]) for s in built.train]
    assert built.stats["train_tokens"] == sum(lengths) and built.stats["longest_sample_tokens"] == max(lengths)


def test_cli_max_len_says_how_many(tmp_path, tiny_qwen):
    rows = [{"instruction": f"Q{i}?", "output": "Yes."} for i in range(5)]
    rows.append({"instruction": "Long?", "output": "The capital of Hainan is Haikou. " * 30})
    path = tmp_path / "qa.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "knowtune.cli", "data", "build", str(path), "-o", str(out),
                           "--model", str(tiny_qwen), "--max-len", "60", "--heldout-ratio", "0"],
                          capture_output=True, text=True, env={"KNOWTUNE_NO_REEXEC": "1", "PATH": "/usr/bin:/bin",
                                                               "COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr
    assert "1 over-long samples dropped" in proc.stdout
    stats = json.loads((out / "stats.json").read_text())
    assert stats["over_long_dropped"] == 1 and stats["train_samples"] == 5 and stats["longest_sample_tokens"] <= 60
