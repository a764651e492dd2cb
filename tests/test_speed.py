"""The loop's speed settings change the speed, never the numbers: compiled blocks."""

import torch
import torch._dynamo
from torch._dynamo.utils import counters

from knowtune.data import build_samples, load_facts
from knowtune.methods.layers import decoder_layers
from knowtune.train import load_for_training, run_training

from test_train import tiny_cfg


def test_compiled_training_matches_and_leaves_the_model_uncompiled(tiny_qwen, facts_file):
    samples = build_samples(load_facts([facts_file])).train[:16]

    def train(compile_blocks):
        """(model, stats, graphs dynamo compiled while training)."""
        # 1e-2: at tiny_cfg's 3e-2 the second pass over these 16 samples overshoots (its loss rises)
        cfg = tiny_cfg(tiny_qwen, epochs=2, compile=compile_blocks, learning_rate=1e-2)
        loaded, method, params = load_for_training(cfg)
        torch._dynamo.reset()  # no graph cached by an earlier test: what runs compiled is compiled here
        before = counters["stats"]["unique_graphs"]
        model, stats = run_training(loaded.model, loaded.tokenizer, samples, cfg, method, params, quiet=True)
        return model, stats, counters["stats"]["unique_graphs"] - before

    eager_model, eager, eager_graphs = train(False)
    compiled_model, compiled, compiled_graphs = train(True)
    # compilation happened, and only where asked: torch's own count of the graphs dynamo captured
    assert eager_graphs == 0 and compiled_graphs > 0
    assert compiled.compiled and not eager.compiled
    assert [s for s, _ in compiled.losses] == [s for s, _ in eager.losses]
    # same seed, same batches: only the fused kernels' rounding differs
    torch.testing.assert_close(torch.tensor([x for _, x in compiled.losses]),
                               torch.tensor([x for _, x in eager.losses]), rtol=1e-3, atol=1e-4)
    # it learned: the second pass over the same 16 samples costs less than the first (one step's
    # loss against another's compares different batches)
    per_pass = len(compiled.losses) // 2
    first, second = ([x for _, x in compiled.losses[k * per_pass:(k + 1) * per_pass]] for k in (0, 1))
    assert sum(second) < sum(first), compiled.losses
    _, layers = decoder_layers(compiled_model)
    assert all(layer._compiled_call_impl is None for layer in layers)  # generation runs uncompiled


def test_compile_auto_only_where_it_was_measured_to_pay():
    from transformers import LlamaConfig, LlamaForCausalLM

    from knowtune.methods import get_method
    from knowtune.train.speed import _cpp_compiler, compile_wanted

    with torch.device("meta"):  # SmolLM2-135M's shape, no weights
        big = LlamaForCausalLM(LlamaConfig(hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                                           num_attention_heads=9, num_key_value_heads=3, vocab_size=49152))
        small = LlamaForCausalLM(LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                             num_attention_heads=4, num_key_value_heads=2, vocab_size=1000))
    lora, dora = get_method("lora"), get_method("dora")
    cpu, gpu = torch.device("cpu"), torch.device("cuda")

    def wanted(setting="auto", model=big, method=lora, device=cpu, sharded=False, steps=50):
        return compile_wanted(setting, model, method, device=device, sharded=sharded, total_steps=steps)

    assert wanted() == _cpp_compiler()
    assert not wanted(model=small)  # steps too short to repay the re-trace
    assert not wanted(method=dora)  # not measured
    assert not wanted(steps=10)
    assert not wanted(device=gpu)
    assert not wanted(sharded=True)
    assert wanted(True, model=small, method=dora, steps=1) and not wanted(False)
