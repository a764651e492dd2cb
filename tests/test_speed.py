"""The loop's speed settings change the speed, never the numbers: attention, compile."""

import torch

from knowtune.data import build_samples, encode_chat, load_facts, pad_batch
from knowtune.methods.layers import decoder_layers
from knowtune.models import load_model
from knowtune.train import load_for_training, run_training
from knowtune.train.loss import CausalLMLoss
from knowtune.train.speed import EAGER_ATTENTION_MAX_WIDTH, attention_for, training_attention

from test_train import tiny_cfg


def test_plain_attention_only_for_short_batches_on_a_cpu():
    cpu = torch.device("cpu")
    assert attention_for([48, 56, 64], cpu) == "eager"
    assert attention_for([48, EAGER_ATTENTION_MAX_WIDTH + 8, EAGER_ATTENTION_MAX_WIDTH + 64], cpu) is None
    assert attention_for([48, 56], torch.device("cuda")) is None  # a GPU keeps its flash kernels
    assert attention_for([], cpu) is None


def test_training_attention_gives_the_same_loss_and_is_put_back(tiny_qwen, facts_file):
    samples = build_samples(load_facts([facts_file])).train[:6]
    loaded = load_model(str(tiny_qwen))
    batch = pad_batch([encode_chat(loaded.tokenizer, s["messages"], 256) for s in samples],
                      loaded.tokenizer.pad_token_id, multiple=8)
    before = loaded.model.config._attn_implementation
    assert before == "sdpa"
    flash, _ = CausalLMLoss(loaded.model)(**batch)
    with training_attention(loaded.model, "eager"):
        assert loaded.model.config._attn_implementation == "eager"
        plain, _ = CausalLMLoss(loaded.model)(**batch)
    assert loaded.model.config._attn_implementation == before
    torch.testing.assert_close(plain, flash, rtol=1e-5, atol=1e-5)


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
