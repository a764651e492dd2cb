"""Two data-parallel processes (torchrun, gloo, CPU) match one process with the same global batch."""

import json
import os
import subprocess
import sys
from pathlib import Path

ENV = {**os.environ, "KNOWTUNE_NO_REEXEC": "1", "OMP_NUM_THREADS": "1"}


def train(cmd_prefix, facts, model, out, batch_size):
    return subprocess.run([*cmd_prefix, "-m", "knowtune.cli", "train", "--data", str(facts), "--model", str(model),
                           "--out", str(out), "--epochs", "2", "--set", f"batch_size={batch_size}",
                           "--set", "precision=fp32", "--set", "log_every=1", "--set", "threads=1"],
                          env=ENV, capture_output=True, text=True, timeout=600)


def test_two_processes_match_one_and_only_rank0_writes(tiny_qwen, facts_file, tmp_path):
    single = train([sys.executable], facts_file, tiny_qwen, tmp_path / "one", 4)
    assert single.returncode == 0, single.stderr
    torchrun = str(Path(sys.executable).with_name("torchrun"))
    double = train([torchrun, "--standalone", "--nproc_per_node", "2"], facts_file, tiny_qwen,
                   tmp_path / "two", 2)
    assert double.returncode == 0, double.stderr[-3000:]
    assert double.stdout.count("run written to") == 1  # only rank 0 reports and writes
    one = json.loads((tmp_path / "one" / "run.json").read_text())["train"]
    two = json.loads((tmp_path / "two" / "run.json").read_text())["train"]
    assert one["steps"] == two["steps"] and one["tokens"] == two["tokens"]
    for (s1, l1), (s2, l2) in zip(one["losses"], two["losses"]):
        assert s1 == s2 and abs(l1 - l2) < 1e-3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["facts.jsonl", "one", "two"]
