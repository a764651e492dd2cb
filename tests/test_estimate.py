"""`knowtune estimate`: the activation rules against what PyTorch really saves, and the memory parts."""

import os
import subprocess
import sys

import pytest
import torch

from knowtune.config import KnowtuneError
from knowtune.methods import get_method
from knowtune.methods.layers import base_model
from knowtune.models.meta import build_meta_model, load_arch_config
from knowtune.train.activations import ArchDims, Batch, layer_bytes
from knowtune.train.estimate import QUANT_BYTES, estimate_memory

B, S, VIRTUAL = 3, 40, 10


def tiny_model(arch: str, base_bf16: bool):
    from transformers import AutoModelForCausalLM, Gemma3TextConfig, LlamaConfig, Qwen2Config

    common = dict(vocab_size=512, hidden_size=64, intermediate_size=160, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, tie_word_embeddings=True)
    config = {"llama": lambda: LlamaConfig(**common), "qwen2": lambda: Qwen2Config(**common),
              "gemma3": lambda: Gemma3TextConfig(**common, head_dim=32)}[arch]()
    config._attn_implementation = "sdpa"
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    return (model.to(torch.bfloat16) if base_bf16 else model), config


def saved_bytes_of_last_layer(model, amp: bool) -> int:
    """Bytes autograd keeps saved inside the last decoder layer at the end of the forward
    (parameters themselves excluded; a storage saved by several ops counts once, where first saved)."""
    import weakref

    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    decoder = base_model(model).get_decoder()
    where, saved = ["before"], []
    decoder.layers[-1].register_forward_pre_hook(lambda *_: where.__setitem__(0, "last"))
    decoder.norm.register_forward_pre_hook(lambda *_: where.__setitem__(0, "after"))

    def pack(t):
        saved.append((where[0], weakref.ref(t)))
        return t

    ids = torch.randint(0, 512, (B, S))
    mask = torch.ones(B, S, dtype=torch.long)
    mask[0, :5] = 0  # padding: the attention mask is materialised, as in training
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), autocast:
        output = model(input_ids=ids, attention_mask=mask, use_cache=False)
    first_seen = {}
    for place, ref in saved:  # only what is still alive: graphs cut by .detach() were freed already
        t = ref()
        if t is not None and t.untyped_storage().data_ptr() not in params:
            first_seen.setdefault(t.untyped_storage().data_ptr(), (place, t.untyped_storage().nbytes()))
    del output
    return sum(nbytes for place, nbytes in first_seen.values() if place == "last")


def adapter_upcast(model, *, on: bool):
    """peft's upcast of adapter inputs, off as knowtune's loop has it (IA3 layers have no switch)."""
    from peft.helpers import disable_input_dtype_casting
    from peft.tuners.tuners_utils import BaseTunerLayer

    switchable = all(hasattr(m, "cast_input_dtype_enabled") for m in model.modules() if isinstance(m, BaseTunerLayer))
    return disable_input_dtype_casting(model, active=not on and switchable)


def fp32_weight_copies(layer) -> int:
    """What bf16 autocast keeps of the layer's fp32 Linear weights: one bf16 copy each."""
    return sum(2 * m.weight.numel() for m in layer.modules()
               if isinstance(m, torch.nn.Linear) and m.weight.dtype == torch.float32)


CASES = [  # (method, params, amp, bf16 base, peft's adapter-input upcast on, tolerance)
    ("full", {}, True, False, False, 0.005), ("full", {}, False, False, False, 0.005),
    ("full", {}, True, True, False, 0.005),
    ("lora", {"r": 8}, True, True, False, 0.005), ("lora", {"r": 8}, True, True, True, 0.005),
    ("lora", {"r": 8}, False, False, False, 0.005),
    ("lora", {"r": 4, "target_modules": ["q_proj", "v_proj"]}, True, True, False, 0.005),
    ("lora", {"r": 4, "target_modules": ["q_proj", "v_proj"]}, True, True, True, 0.005),
    ("dora", {"r": 8, "target_modules": ["q_proj", "v_proj", "down_proj"]}, True, True, False, 0.005),
    ("dora", {"r": 8, "target_modules": ["q_proj", "v_proj", "down_proj"]}, True, True, True, 0.005),
    ("dora", {"r": 8, "target_modules": ["q_proj", "v_proj", "down_proj"]}, False, False, False, 0.005),
    ("ia3", {}, True, True, False, 0.02), ("ia3", {}, False, False, False, 0.02),
    ("prompt", {"num_virtual_tokens": VIRTUAL, "init": "random"}, True, True, False, 0.005),
    ("prompt", {"num_virtual_tokens": VIRTUAL, "init": "random"}, False, False, False, 0.005),
    ("prefix", {"num_virtual_tokens": VIRTUAL}, True, True, False, 0.02),
    ("adapter", {"bottleneck": 8}, True, True, False, 0.02), ("adapter", {"bottleneck": 8}, False, False, False, 0.02),
    ("freeze", {"layers": 1}, True, False, False, 0.06),  # the first trained layer's input needs no gradient
]


@pytest.mark.parametrize("arch", ["llama", "qwen2", "gemma3"])
@pytest.mark.parametrize("method_name, params, amp, base_bf16, peft_casts, tolerance", CASES)
def test_activation_rules_match_what_autograd_saves(arch, method_name, params, amp, base_bf16, peft_casts, tolerance):
    model, config = tiny_model(arch, base_bf16)
    method = get_method(method_name)
    model = method.apply(model, method.parse_params(params))
    with adapter_upcast(model, on=peft_casts):
        measured = saved_bytes_of_last_layer(model, amp)
    prompt = VIRTUAL if method_name == "prompt" else 0
    prefix = VIRTUAL if method_name == "prefix" else 0
    layer = base_model(model).get_decoder().layers[-1]
    c, residual = (2 if amp else 4), (2 if base_bf16 else 4)
    expected = layer_bytes(layer, Batch(B, S, prompt, prefix), c, residual, ArchDims.from_config(config),
                           adapter_casts=peft_casts)
    if amp:
        expected += fp32_weight_copies(layer)
    assert expected == pytest.approx(measured, rel=tolerance)


def estimate(arch: str, method_name: str, params=None, **kwargs):
    config, name, _ = load_arch_config(arch)
    method = get_method(method_name)
    kwargs = {"batch": 4, "seq": 64, **kwargs}
    return estimate_memory(lambda: build_meta_model(config), config, name, method,
                           method.parse_params(params or {}), **kwargs)


def test_full_finetuning_parts_follow_adamw_and_autocast():
    est = estimate("smollm2-135m", "full")
    n = 134_515_008
    assert (est.plan.bits, est.plan.trainable_bytes) == (32, 4)
    assert (est.weights, est.gradients, est.optimizer) == (4 * n, 4 * n, 8 * n)
    linear = sum(m.weight.numel() for m in build_meta_model(load_arch_config("smollm2-135m")[0]).modules()
                 if isinstance(m, torch.nn.Linear))  # the tied head counted once, as the embedding
    assert est.autocast_copies == 2 * linear
    pure = estimate("smollm2-135m", "full", bits=16)
    assert (pure.weights, pure.gradients, pure.optimizer, pure.autocast_copies) == (2 * n, 2 * n, 4 * n, 0)


def test_lora_keeps_a_bf16_base_and_fp32_adapters():
    est = estimate("qwen2.5-0.5b", "lora", {"r": 8, "target_modules": ["q_proj", "k_proj", "v_proj"]})
    assert est.trainable == 737_280
    assert est.weights == 2 * 494_032_768 + 4 * 737_280
    assert (est.gradients, est.optimizer) == (4 * 737_280, 8 * 737_280)
    fp32 = estimate("qwen2.5-0.5b", "lora", {"r": 8}, precision="fp32")
    assert fp32.plan.bits == 32 and fp32.autocast_copies == 0 and fp32.activations > est.activations


def test_routed_serving_notes_the_adapted_weights_held_twice():
    est = estimate("qwen2.5-0.5b", "lora", {"r": 8, "target_modules": ["q_proj", "v_proj"]})
    layers = build_meta_model(load_arch_config("qwen2.5-0.5b")[0]).model.layers
    adapted = sum(layer.self_attn.q_proj.weight.numel() + layer.self_attn.v_proj.weight.numel() for layer in layers)
    note = next(n for n in est.notes if "twice" in n)
    assert f"about {2 * adapted / 2**20:,.0f} MiB" in note  # bf16 storage: 2 bytes each
    for method, params in (("qlora", {}), ("prompt", {}), ("full", {})):  # nothing merged beside a base
        assert not any("twice" in n for n in estimate("qwen2.5-0.5b", method, params).notes), method


def test_quantized_base_shrinks_only_the_decoder_linears():
    config = load_arch_config("qwen2.5-0.5b")[0]
    model = build_meta_model(config)
    linear = sum(m.weight.numel() for layer in model.model.layers for m in layer.modules()
                 if isinstance(m, torch.nn.Linear))
    lora, q8, q4 = (estimate("qwen2.5-0.5b", "qlora", {"bits": 8}, bits=b) for b in (16, 8, 4))
    assert lora.weights - q8.weights == pytest.approx(linear * (2 - QUANT_BYTES[8]), abs=1)
    assert q8.weights - q4.weights == pytest.approx(linear * (QUANT_BYTES[8] - QUANT_BYTES[4]), abs=1)
    assert estimate("qwen2.5-0.5b", "qlora").plan.bits == 4  # qlora's own default


def test_galore_badam_and_checkpointing_cut_what_they_claim():
    full = estimate("smollm2-135m", "full")
    galore = estimate("smollm2-135m", "galore")
    assert galore.gradients == full.gradients and galore.optimizer < full.optimizer / 3
    assert estimate("smollm2-135m", "galore", {"rank": 64}).optimizer > galore.optimizer
    badam = estimate("smollm2-135m", "badam")
    one_layer = sum(p.numel() for p in build_meta_model(load_arch_config("smollm2-135m")[0]).model.layers[0].parameters())
    assert (badam.gradients, badam.optimizer) == (4 * one_layer, 8 * one_layer)
    assert estimate("smollm2-135m", "lora", checkpointing=True).activations < estimate("smollm2-135m", "lora").activations


def test_virtual_token_methods_pay_for_logits_at_every_position():
    from peft import PrefixTuningConfig, PromptTuningConfig, TaskType, get_peft_model

    lora = estimate("smollm2-135m", "lora", answer_tokens=16)
    assert lora.logits == 12 * 16 * 49152  # fp32 log-softmax and its two gradients, answer tokens only
    batch, seq, answers = 4, 64, 16

    def estimated(name: str) -> int:
        _, config = tiny_model("llama", base_bf16=False)
        method = get_method(name)
        return estimate_memory(lambda: build_meta_model(config), config, "tiny", method, method.parse_params({}),
                               batch=batch, seq=seq, answer_tokens=answers).logits

    def positions_and_vocab(peft_config) -> tuple[int, int]:
        """What the model's own forward gives logits for, counted by peft and torch on the CPU."""
        model, _ = tiny_model("llama", base_bf16=False)
        ids = torch.ones(batch, seq, dtype=torch.long)
        with torch.no_grad():
            logits = get_peft_model(model, peft_config)(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
        return logits.shape[:-1].numel(), logits.shape[-1]

    # the methods' defaults; bf16 logits at every position, their fp32 copy, the fp32 loss at the answers
    for name, config in (("prompt", PromptTuningConfig), ("prefix", PrefixTuningConfig)):
        virtual = get_method(name).parse_params({}).num_virtual_tokens
        every, vocab = positions_and_vocab(config(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=virtual))
        assert estimated(name) == (2 + 4) * every * vocab + 4 * answers * vocab, name


def test_bad_estimate_input_is_refused():
    with pytest.raises(KnowtuneError) as err:
        estimate("smollm2-135m", "full", bits=4)
    assert err.value.field == "--bits"
    with pytest.raises(KnowtuneError):
        estimate("smollm2-135m", "lora", precision="fp16")
    with pytest.raises(KnowtuneError):
        estimate("smollm2-135m", "lora", batch=0)


@pytest.mark.parametrize("label, bits, size, method", [
    ("Full (`bf16` or `fp16`)", 32, "7B", "full"), ("Full (`pure_bf16`)", 16, "7B", "full"),
    ("Freeze/LoRA/GaLore/APOLLO/BAdam/OFT", 16, "7B", "lora"), ("Freeze/LoRA/GaLore/APOLLO/BAdam/OFT", 16, "70B", "lora"),
    ("Freeze/LoRA/GaLore/APOLLO/BAdam/OFT", 16, "7B", "freeze"), ("Freeze/LoRA/GaLore/APOLLO/BAdam/OFT", 16, "7B", "badam"),
    ("QLoRA / QOFT", 4, "7B", "qlora"), ("QLoRA / QOFT", 4, "70B", "qlora")])
def test_llamafactory_figures_are_within_reach_of_ours(label, bits, size, method):
    from knowtune.train import llamafactory as lf

    _, _, their_gb, _, our_bits = next(row for row in lf.TABLE if row[:2] == (label, bits))
    theirs = their_gb[lf.SIZES.index(size)]
    ours = lf._our_gib(size, method, our_bits)
    assert 0.7 < ours / theirs < 1.4, (ours, theirs)


def test_cli_estimate_prints_the_parts_and_the_peak():
    proc = subprocess.run([sys.executable, "-m", "knowtune.cli", "estimate", "smollm2-135m", "--method", "qlora",
                           "--batch", "2", "--seq", "32"], capture_output=True, text=True,
                          env={**os.environ, "KNOWTUNE_NO_REEXEC": "1", "COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr
    for part in ("weights", "gradients", "optimizer states", "activations", "logits and loss", "peak"):
        assert part in proc.stdout
    assert "frozen weights NF4" in proc.stdout
