"""The loop's speed settings change the speed, never the numbers: compiled blocks."""

import torch

from knowtune.data import build_samples, load_facts
from knowtune.methods.layers import decoder_layers
from knowtune.train import load_for_training, run_training

from test_train import tiny_cfg


def test_compiled_training_matches_and_leaves_the_model_uncompiled(tiny_qwen, facts_file):
    samples = build_samples(load_facts([facts_file])).train[:16]

    def train(compile_blocks):
        cfg = tiny_cfg(tiny_qwen, epochs=2, compile=compile_blocks)
        loaded, method, params = load_for_training(cfg)
        return run_training(loaded.model, loaded.tokenizer, samples, cfg, method, params, quiet=True)

    eager_model, eager = train(False)
    compiled_model, compiled = train(True)
    assert [s for s, _ in compiled.losses] == [s for s, _ in eager.losses]
    # same seed, same batches: only the fused kernels' rounding differs
    torch.testing.assert_close(torch.tensor([x for _, x in compiled.losses]),
                               torch.tensor([x for _, x in eager.losses]), rtol=1e-3, atol=1e-4)
    assert compiled.losses[-1][1] < compiled.losses[0][1]
    _, layers = decoder_layers(compiled_model)
    assert all(layer._compiled_call_impl is None for layer in layers)  # generation runs uncompiled
