"""Answering faster without answering differently: greedy decoding whose finished rows leave the batch
gives transformers' generate's replies; adapters merged while answering give the same logits and leave
every weight as it was, bit for bit."""

import pytest
import torch
from test_export_gguf import random_model

from knowtune.models.greedy import greedy_decode

PROMPTS = ["The capital of Hainan is", "Haikou", "Sanya is a city on the south coast of the island of",
           "Wuzhishan", "How many people live in Hainan province today?"]


def left_padded(tokenizer, prompts):
    tokenizer.padding_side = "left"
    return tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)


def generate_rows(model, tokenizer, enc, max_new_tokens, stops):
    """transformers' own greedy replies, each cut after its first stop token (the rest is padding)."""
    with torch.inference_mode():
        out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=stops,
                             pad_token_id=tokenizer.pad_token_id)
    rows = []
    for row in out[:, enc["input_ids"].shape[1]:].tolist():
        ends = [i for i, t in enumerate(row) if t in stops]
        rows.append(row[:ends[0] + 1] if ends else row)
    return rows


def stops_that_end_rows_early(model, tokenizer, enc):
    """Tokens that some rows reach early and others later or never: rows then finish at different steps."""
    free = generate_rows(model, tokenizer, enc, 12, [tokenizer.pad_token_id])
    return sorted({free[0][1], free[2][4]} - {tokenizer.pad_token_id})


@pytest.mark.parametrize("arch", ["llama", "qwen2", "gemma3"])
def test_greedy_decode_gives_generates_replies_while_finished_rows_leave(arch):
    model, tokenizer = random_model(arch)
    enc = left_padded(tokenizer, PROMPTS)
    stops = stops_that_end_rows_early(model, tokenizer, enc)
    want = generate_rows(model, tokenizer, enc, 12, stops)
    assert len({len(r) for r in want}) > 1, "the rows must finish at different steps"
    batch_sizes = []
    hook = model.register_forward_pre_hook(lambda _m, _a, kw: batch_sizes.append(kw["input_ids"].shape[0]),
                                           with_kwargs=True)
    with torch.inference_mode():
        got = greedy_decode(model, enc["input_ids"], enc["attention_mask"], max_new_tokens=12, stops=stops)
    hook.remove()
    assert [r.tokens for r in got] == want
    # a forward pass per step, each over the rows still answering only
    assert batch_sizes[0] == len(PROMPTS) and batch_sizes == sorted(batch_sizes, reverse=True)
    assert sum(batch_sizes[1:]) == sum(len(r) - 1 for r in want)


def test_greedy_decode_scores_each_token_it_chose():
    model, tokenizer = random_model("qwen2")
    enc = left_padded(tokenizer, PROMPTS[:2])
    with torch.inference_mode():
        (got, _) = greedy_decode(model, enc["input_ids"], enc["attention_mask"], max_new_tokens=4, stops=[-1])
        out = model.generate(**enc, max_new_tokens=4, do_sample=False, output_scores=True,
                             return_dict_in_generate=True, eos_token_id=None, pad_token_id=tokenizer.pad_token_id)
    chosen = model.compute_transition_scores(out.sequences, out.scores, normalize_logits=True)[0]
    assert got.mean_logprob == pytest.approx(float(chosen.mean()), rel=1e-5)


def adapted(kind: str):
    """A tiny Qwen2 with an adapter whose weights are not at their initial values (a no-op adapter would
    merge to the same weights and prove nothing)."""
    from peft import IA3Config, LoraConfig, PromptTuningConfig, get_peft_model

    model, tokenizer = random_model("qwen2")
    config = {"lora": LoraConfig(r=4, target_modules="all-linear"),
              "dora": LoraConfig(r=4, target_modules="all-linear", use_dora=True),
              "ia3": IA3Config(target_modules=["q_proj", "v_proj", "down_proj"], feedforward_modules=["down_proj"]),
              "prompt": PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=2)}[kind]
    model = get_peft_model(model, config)
    torch.manual_seed(1)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.requires_grad:
                param.add_(torch.randn_like(param) * 0.3)
    return model.eval(), tokenizer


@pytest.mark.parametrize("kind", ["lora", "dora", "ia3"])
def test_adapters_merged_while_answering_change_no_weight(kind):
    from knowtune.models.merged import adapters_merged, can_merge

    model, tokenizer = adapted(kind)
    ids = tokenizer("The capital of Hainan is Haikou.", return_tensors="pt").input_ids
    before = {name: param.detach().clone() for name, param in model.named_parameters()}
    with torch.inference_mode():
        unmerged = model(input_ids=ids).logits
        with model.disable_adapter():
            bare = model(input_ids=ids).logits
        assert can_merge(model)
        with adapters_merged(model):
            merged = model(input_ids=ids).logits
            weights_inside = [param.data.data_ptr() for param in model.parameters()]
        after = model(input_ids=ids).logits
    assert (unmerged - bare).abs().max() > 1e-2  # the adapter matters
    torch.testing.assert_close(merged, unmerged, atol=1e-5, rtol=1e-5)
    assert weights_inside != [param.data.data_ptr() for param in model.parameters()]  # merged into copies
    assert all(torch.equal(param, before[name]) for name, param in model.named_parameters())
    assert torch.equal(after, unmerged)
    assert not any(getattr(m, "merged_adapters", None) for m in model.modules())


def test_a_model_that_only_answers_is_merged_once_for_good():
    from knowtune.models.merged import merged_for_good

    model, tokenizer = adapted("lora")
    ids = tokenizer("The capital of Hainan is Haikou.", return_tensors="pt").input_ids
    with torch.inference_mode():
        unmerged = model(input_ids=ids).logits
        merged = merged_for_good(model)
        torch.testing.assert_close(merged(input_ids=ids).logits, unmerged, atol=1e-5, rtol=1e-5)
    assert not hasattr(merged, "peft_config")
    prompt, _ = adapted("prompt")
    assert merged_for_good(prompt) is prompt  # virtual tokens cannot be merged: kept as it is


def test_what_cannot_merge_answers_unmerged():
    from knowtune.models.merged import adapters_merged, can_merge

    model, _ = adapted("prompt")
    plain, _ = random_model("qwen2")
    assert not can_merge(model) and not can_merge(plain)
    with adapters_merged(model):
        pass  # nothing to do, nothing raised


def test_generate_scored_answers_an_adapter_model_as_unmerged_generate_does():
    """The whole answering path (merged adapters, finished rows leaving) against generate on the unmerged
    model, row by row."""
    from knowtune.models import generate_scored, stop_token_ids

    model, tokenizer = adapted("lora")
    enc = left_padded(tokenizer, PROMPTS)
    tokenizer.eos_token = tokenizer.convert_ids_to_tokens(stops_that_end_rows_early(model, tokenizer, enc)[0])
    stops = stop_token_ids(tokenizer)
    want = [tokenizer.decode(r, skip_special_tokens=True).strip()
            for r in generate_rows(model, tokenizer, left_padded(tokenizer, PROMPTS), 10, stops)]
    got = generate_scored(model, tokenizer, PROMPTS, max_new_tokens=10, batch_size=3)
    assert [r.text for r in got] == want


@pytest.mark.parametrize("arch", ["qwen2", "gemma3"])
def test_bf16_weight_copies_compute_what_autocast_computes_and_put_every_weight_back(arch):
    """Autocast casts a frozen fp32 weight anew at every call; bf16_compute casts it once. The logits
    must be autocast's to the bit, the tied head untouched in fp32 afterwards, every tensor the same."""
    from knowtune.models.generate import bf16_compute

    model, tokenizer = random_model(arch)
    ids = tokenizer(PROMPTS, return_tensors="pt", padding=True).input_ids
    before = {name: (param, param.detach().clone()) for name, param in model.named_parameters()}
    with torch.inference_mode():
        with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
            want = model(input_ids=ids).logits
        with bf16_compute(model, True):
            head = model.get_output_embeddings().weight
            got = model(input_ids=ids).logits
            assert head.dtype == torch.bfloat16 and model.get_input_embeddings().weight.dtype == torch.float32
        fp32 = model(input_ids=ids).logits
    assert torch.equal(got, want)
    assert fp32.dtype == torch.float32 and not torch.equal(fp32, want.float())
    for name, param in model.named_parameters():
        assert param is before[name][0] and torch.equal(param, before[name][1])
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight  # still tied
