"""Runs survive faults: SIGKILL mid-run, resume, and the result equals an uninterrupted run."""

import os
import signal
import subprocess
import sys
import time

import torch
from safetensors.torch import load_file


def train_cmd(facts, model, out, *extra):
    return [sys.executable, "-m", "knowtune.cli", "train", "--data", str(facts), "--model", str(model),
            "--out", str(out), "--epochs", "40", "--set", "save_every=3", "--set", "precision=fp32",
            "--set", "params.r=2", "--set", "params.dropout=0.1", *extra]


ENV = {**os.environ, "KNOWTUNE_NO_REEXEC": "1"}


def test_sigkill_then_resume_equals_uninterrupted(tiny_qwen, facts_file, tmp_path):
    reference = tmp_path / "reference"
    done = subprocess.run(train_cmd(facts_file, tiny_qwen, reference), env=ENV, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr

    run = tmp_path / "run"
    partial = tmp_path / ".run.partial" / "checkpoints"
    proc = subprocess.Popen(train_cmd(facts_file, tiny_qwen, run), env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if len([p for p in partial.glob("step-*") if (p / "step.json").is_file()]) >= 2:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "training finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not run.exists(), "a killed run must not appear under its final name"

    resumed = subprocess.run(train_cmd(facts_file, tiny_qwen, run, "--resume"), env=ENV, capture_output=True,
                             text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from the checkpoint of step" in resumed.stdout
    expected = load_file(str(reference / "adapter" / "adapter_model.safetensors"))
    got = load_file(str(run / "adapter" / "adapter_model.safetensors"))
    assert expected.keys() == got.keys()
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=0, atol=1e-6)
    assert not (run / "checkpoints").exists() and not partial.parent.exists()


def test_bad_input_leaves_no_partial_directory(tiny_qwen, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"subject": "x"}\n')
    proc = subprocess.run(train_cmd(bad, tiny_qwen, tmp_path / "run"), env=ENV, capture_output=True, text=True)
    assert proc.returncode == 2
    assert [p.name for p in tmp_path.iterdir()] == ["bad.jsonl"]


def test_ctrl_c_saves_a_checkpoint_and_resume_finishes(tiny_qwen, facts_file, tmp_path):
    run = tmp_path / "run"
    partial = tmp_path / ".run.partial" / "checkpoints"
    proc = subprocess.Popen(train_cmd(facts_file, tiny_qwen, run), env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not list(partial.glob("step-*")):
        time.sleep(0.02)  # wait until training is under way
    assert proc.poll() is None, "training finished before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert "checkpoint saved" in err and "Traceback" not in err
    assert [p for p in partial.glob("step-*") if (p / "step.json").is_file()] and not run.exists()
    resumed = subprocess.run(train_cmd(facts_file, tiny_qwen, run, "--resume"), env=ENV, capture_output=True,
                             text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert (run / "adapter" / "adapter_model.safetensors").is_file()


def test_pickle_weights_refused_unless_allowed(tiny_qwen, facts_file, tmp_path):
    import shutil

    import torch
    from safetensors.torch import load_file

    pickled = tmp_path / "pickled"
    shutil.copytree(tiny_qwen, pickled)
    weights = pickled / "model.safetensors"
    torch.save(load_file(str(weights)), pickled / "pytorch_model.bin")
    weights.unlink()
    proc = subprocess.run([sys.executable, "-m", "knowtune.cli", "train", "--data", str(facts_file), "--model",
                           str(pickled), "--out", str(tmp_path / "run"), "--epochs", "1"], env=ENV,
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "--allow-pickle" in proc.stderr and proc.stderr.count("\n") == 1


def test_badam_resumes_on_the_block_it_was_training(tiny_qwen, facts_file, tmp_path):
    """BAdam trains one layer at a time: a resumed run continues on the saved block, with its Adam state."""
    from knowtune.config import TrainConfig
    from knowtune.data import build_samples, load_facts
    from knowtune.train import load_for_training, run_training

    samples = build_samples(load_facts([facts_file])).train[:8]
    # 2 samples a step, 4 steps an epoch, 3 epochs: steps 1-2 train layer 0, 3-4 layer 1, 5-6 layer 0, ...
    cfg = TrainConfig(model=str(tiny_qwen), method="badam", epochs=3, min_steps=0, batch_size=2, precision="fp32",
                      learning_rate=1e-2, save_every=5, replay=0, params={"switch_every": 2})

    def train(checkpoints=None, resume=False):
        loaded, method, params = load_for_training(cfg)
        model, stats = run_training(loaded.model, loaded.tokenizer, samples, cfg, method, params, quiet=True,
                                    checkpoint_dir=checkpoints, resume=resume)
        return {n: p.detach().clone() for n, p in model.named_parameters()}, stats

    reference, _ = train()
    train(tmp_path)  # writes checkpoints at steps 5 and 10 of 12
    resumed, stats = train(tmp_path, resume=True)
    assert stats.resumed_from == 10  # step 11 trains layer 1, the block a fresh optimizer would not pick
    for name, tensor in reference.items():
        torch.testing.assert_close(resumed[name], tensor, rtol=0, atol=0, msg=name)
