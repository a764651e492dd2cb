"""GGUF for Qwen2 and Gemma 3, and `--format ollama`: files read back with transformers' GGUF loader
(which undoes llama.cpp's layout) and, where llama-cpp-python is installed, with llama.cpp itself."""

import json

import pytest
import torch
from tiny import make_tokenizer, write_facts


def random_model(arch: str):
    """A tiny model whose norms and biases are not at their initial values, so a layout slip shows."""
    from transformers import AutoModelForCausalLM, Gemma3TextConfig, LlamaConfig, Qwen2Config

    tokenizer = make_tokenizer()
    common = dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                  num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512,
                  eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True)
    # head_dim 256: transformers' GGUF loader assumes Gemma 3's query_pre_attn_scalar of 256 (llama.cpp: head_dim)
    config = {"gemma3": lambda: Gemma3TextConfig(**common, head_dim=256, query_pre_attn_scalar=256, bos_token_id=None),
              "qwen2": lambda: Qwen2Config(**common), "llama": lambda: LlamaConfig(**common)}[arch]()
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config).eval()
    model.config.architectures = [type(model).__name__]
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "norm" in name or name.endswith("bias"):
                param.add_(torch.randn_like(param) * 0.2)
    return model, tokenizer


def logits(model, ids):
    with torch.no_grad():
        return model(input_ids=ids).logits.float()


def stored_as(model, dtype: str):
    """A copy of `model` with its weights rounded as a GGUF of `dtype` stores them (the exporter's rule):
    2-D weights in that type, q8_0 and q4_0 through gguf's own quantizer (a row that is no whole number of
    32-value blocks in float16; with q4_0 the token embeddings and the head in q8_0), 1-D ones exact."""
    import copy

    import gguf

    model = copy.deepcopy(model)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.ndim != 2 or dtype == "float32":
                continue
            kind = "q8_0" if dtype == "q4_0" and ("embed_tokens" in name or name.startswith("lm_head")) else dtype
            if kind in ("q8_0", "q4_0") and param.shape[-1] % 32 == 0:
                qtype = getattr(gguf.GGMLQuantizationType, kind.upper())
                stored = torch.from_numpy(gguf.quants.dequantize(gguf.quants.quantize(param.detach().numpy(), qtype),
                                                                 qtype))
            else:
                stored = param.to(torch.bfloat16 if kind == "bfloat16" else torch.float16)
            param.copy_(stored.reshape(param.shape))
    return model


@pytest.mark.parametrize("arch", ["llama", "qwen2", "gemma3"])
def test_q4_0_gguf_holds_4_bit_layers_and_an_8_bit_head(tmp_path, arch):
    """q4_0: every block weight in 4 bits, the token embeddings (the tied head) in q8_0, norms in f32; the file
    reloads in transformers as exactly those roundings of the model (and differs from the q8_0 rounding)."""
    import gguf
    from transformers import AutoModelForCausalLM

    from knowtune.export import write_gguf

    model, tokenizer = random_model(arch)
    path = tmp_path / "m.gguf"
    write_gguf(model, tokenizer, path, dtype="q4_0", name="tiny", chat_template=tokenizer.chat_template)
    types = {t.name: t.tensor_type.name for t in gguf.GGUFReader(path).tensors}
    assert types["token_embd.weight"] == "Q8_0" and types["blk.0.attn_q.weight"] == "Q4_0"
    assert types["blk.0.ffn_down.weight"] == "Q4_0" and types["blk.0.attn_norm.weight"] == "F32"
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file=path.name, dtype=torch.float32)
    ids = tokenizer("The capital of Hainan is Haikou.", return_tensors="pt").input_ids
    got = logits(reloaded, ids)
    torch.testing.assert_close(got, logits(stored_as(model, "q4_0"), ids), atol=1e-4, rtol=1e-4)
    assert (got - logits(stored_as(model, "q8_0"), ids)).abs().max() > 1e-3


@pytest.mark.parametrize("arch", ["qwen2", "gemma3"])
@pytest.mark.parametrize("dtype,atol", [("float32", 1e-5), ("q8_0", 0.05)])
def test_gguf_of_qwen2_and_gemma3_reloads_with_the_same_logits(tmp_path, arch, dtype, atol):
    import gguf
    from transformers import AutoModelForCausalLM

    from knowtune.export import write_gguf

    model, tokenizer = random_model(arch)
    path = tmp_path / "m.gguf"
    write_gguf(model, tokenizer, path, dtype=dtype, name="tiny", chat_template=tokenizer.chat_template)
    fields = gguf.GGUFReader(path).fields
    assert fields["general.architecture"].contents() == arch
    assert fields["tokenizer.ggml.eos_token_id"].contents() == tokenizer.eos_token_id
    assert fields["tokenizer.chat_template"].contents() == tokenizer.chat_template
    if arch == "gemma3":
        assert fields["gemma3.attention.sliding_window"].contents() == model.config.sliding_window
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file=path.name, dtype=torch.float32)
    ids = tokenizer("The capital of Hainan is Haikou.", return_tensors="pt").input_ids
    want, got = logits(model, ids), logits(reloaded, ids)
    assert (got - want).abs().max() < atol
    assert torch.equal(got.argmax(-1), want.argmax(-1))


def test_gguf_refuses_what_llama_cpp_would_compute_differently():
    from transformers import Gemma3TextConfig, GPT2Config, LlamaConfig

    from knowtune.config import KnowtuneError
    from knowtune.export.gguf_writer import check_gguf_supported

    gpt2 = GPT2Config(architectures=["GPT2LMHeadModel"])
    scaled = LlamaConfig(architectures=["LlamaForCausalLM"], rope_parameters={"rope_type": "linear", "factor": 2.0,
                                                                                "rope_theta": 10000.0})
    soft = Gemma3TextConfig(architectures=["Gemma3ForCausalLM"], final_logit_softcapping=30.0)
    every_other = Gemma3TextConfig(architectures=["Gemma3ForCausalLM"], num_hidden_layers=4,
                                   layer_types=["sliding_attention", "full_attention"] * 2)
    for config, why in ((gpt2, "GPT2LMHeadModel"), (scaled, "rope scaling"), (soft, "soft-capping"),
                        (every_other, "every 6th layer")):
        with pytest.raises(KnowtuneError, match=why):
            check_gguf_supported(config)
    assert check_gguf_supported(Gemma3TextConfig(architectures=["Gemma3ForCausalLM"])).norm_offset == 1.0


GEMMA_PRESET_TEMPLATE = (  # the gemma3-270m preset's template (a base model: plain User/Assistant turns)
    "{{ bos_token if bos_token else '' }}{% for message in messages %}{% if message['role'] == 'system' %}"
    "{{ message['content'] }}\n\n{% elif message['role'] == 'user' %}User: {{ message['content'] }}\n"
    "{% else %}Assistant: {{ message['content'] }}{{ eos_token }}\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}")
FOLDED = ("{% for m in messages %}{% if m['role'] == 'system' %}{% set s = m['content'] %}{% else %}"
          "<turn>{{ s ~ m['content'] if loop.index == 2 else m['content'] }}</turn>{% endif %}{% endfor %}"
          "{% if add_generation_prompt %}<turn>{% endif %}")


@pytest.mark.parametrize("template", ["chatml", GEMMA_PRESET_TEMPLATE])
def test_modelfile_turns_render_every_chat_as_the_jinja_template(template):
    from knowtune.export.modelfile import go_template, modelfile, turn_text

    tokenizer = make_tokenizer()
    template = tokenizer.chat_template if template == "chatml" else template
    turns = turn_text(tokenizer, template)
    chats = [[{"role": "user", "content": "q"}],
             [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital?"},
              {"role": "assistant", "content": "Haikou."}, {"role": "user", "content": "Peak?"}]]
    for chat in chats:
        want = tokenizer.apply_chat_template(chat, chat_template=template, tokenize=False, add_generation_prompt=True)
        assert turns.render(chat) == want
    text = modelfile("run-q8_0.gguf", tokenizer, template, "Answer briefly.", ["<|im_end|>"])
    assert text.startswith("FROM ./run-q8_0.gguf\n") and 'PARAMETER stop """<|im_end|>"""' in text
    assert f'TEMPLATE """{go_template(turns)}"""' in text and 'SYSTEM """Answer briefly."""' in text
    assert '{{ if eq .Role "user" }}' + turns.user_prefix + "{{ .Content }}" + turns.user_suffix in text


def test_modelfile_refuses_a_template_it_cannot_cut():
    from knowtune.config import KnowtuneError
    from knowtune.export.modelfile import turn_text

    with pytest.raises(KnowtuneError, match="Ollama TEMPLATE"):
        turn_text(make_tokenizer(), FOLDED)


@pytest.fixture(scope="module")
def qwen_run(tmp_path_factory, tiny_qwen):
    work = tmp_path_factory.mktemp("qwen-gguf")
    facts = work / "facts.jsonl"
    write_facts(facts)
    run = work / "run"
    from knowtune.commands.train import train_command  # in-process: the CLI is covered by test_export.py

    overrides = {"model": str(tiny_qwen), "epochs": 1, "learning_rate": 0.01, "precision": "fp32", "replay": 0,
                 "min_steps": 4, "params.r": 2, "system_prompt": "Answer briefly.", "compile": False}
    train_command(str(facts), run, None, overrides, model_named=True)
    return run


def test_ollama_export_of_a_qwen2_run_writes_gguf_and_modelfile(qwen_run, tmp_path):
    from transformers import AutoModelForCausalLM

    from knowtune.train.trained import load_trained

    from knowtune.commands.export import export_command

    out = export_command(qwen_run, tmp_path / "ollama", "ollama", "float32")
    assert sorted(p.name for p in out.iterdir()) == [".knowtune-output.json", "Modelfile", "knowtune_export.json", "run-f32.gguf"]
    text = (out / "Modelfile").read_text()
    assert text.startswith("FROM ./run-f32.gguf") and 'SYSTEM """Answer briefly."""' in text
    assert 'PARAMETER stop """<|im_end|>"""' in text
    loaded, _ = load_trained(qwen_run / "adapter")
    reloaded = AutoModelForCausalLM.from_pretrained(out, gguf_file="run-f32.gguf", dtype=torch.float32)
    ids = loaded.tokenizer("What is the capital of Hainan?", return_tensors="pt").input_ids
    assert (logits(reloaded, ids) - logits(loaded.model, ids)).abs().max() < 1e-4


def test_metadata_reader_reads_every_field_as_gguf_reads_it(tmp_path):
    """knowtune's one-pass metadata reader against gguf's GGUFReader, field by field, on a file with
    string, number and bool scalars and string, float and int arrays (a tokenizer's); strings in
    arrays as the bytes written. Not a GGUF file, or another version: a ValueError."""
    import gguf

    from knowtune.export import write_gguf
    from knowtune.export.gguf_meta import read_metadata

    model, tokenizer = random_model("llama")
    path = tmp_path / "m.gguf"
    write_gguf(model, tokenizer, path, dtype="q8_0", name="tiny", chat_template=tokenizer.chat_template)
    theirs, ours = gguf.GGUFReader(path).fields, read_metadata(path)
    kinds = {field.types[0] for field in theirs.values()} | {field.types[-1] for field in theirs.values()}
    assert {gguf.GGUFValueType.STRING, gguf.GGUFValueType.ARRAY, gguf.GGUFValueType.UINT32,
            gguf.GGUFValueType.FLOAT32, gguf.GGUFValueType.BOOL, gguf.GGUFValueType.INT32} <= kinds
    assert list(ours) == [name for name in theirs if not name.startswith("GGUF.")]
    for name, field in ours.items():
        want = theirs[name]
        assert field.vtype == want.types[0], name
        if field.vtype == gguf.GGUFValueType.ARRAY:
            assert field.sub_type == want.types[-1], name
            parts = [want.parts[i] for i in want.data]
            if field.sub_type == gguf.GGUFValueType.STRING:
                assert field.value == [p.tobytes() for p in parts], name
            else:
                assert field.value == want.contents(), name
        else:
            assert field.sub_type is None and field.value == want.contents(), name
    (tmp_path / "no.gguf").write_bytes(b"GGML" + bytes(60))
    with pytest.raises(ValueError, match="not a GGUF file"):
        read_metadata(tmp_path / "no.gguf")
    (tmp_path / "v9.gguf").write_bytes(b"GGUF" + (9).to_bytes(4, "little") + bytes(56))
    with pytest.raises(ValueError, match="version 9"):
        read_metadata(tmp_path / "v9.gguf")
