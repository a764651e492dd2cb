"""`knowtune export`: merged HF and GGUF exports of a tiny LoRA run reload without knowtune and
answer as the run does."""

import json

import pytest
from test_export_gguf import stored_as
from tiny import knowtune, write_facts
import torch


def make_run(work, model_dir, method="lora", *sets):
    facts = work / "facts.jsonl"
    write_facts(facts)
    run = work / f"run-{method}"
    proc = knowtune("train", "--data", facts, "--model", model_dir, "--out", run, "--epochs", 1, "--lr", 0.01, "--method", method,
                    "--set", "precision=fp32", "--set", "system_prompt=Answer briefly.", *sets)
    assert proc.returncode == 0, proc.stderr
    return run


@pytest.fixture(scope="module")
def llama_run(tmp_path_factory, tiny_llama):
    # lr 0.01 is already large for a 2-layer model: plain LoRA (no LoRA+ boost of B), as the q8_0 bound assumes
    return make_run(tmp_path_factory.mktemp("export"), tiny_llama, "lora", "--set", "params.r=4",
                    "--set", "params.loraplus_lr_ratio=0")


@pytest.fixture(scope="module")
def adapter_model(llama_run):
    from knowtune.train.trained import load_trained

    loaded, _ = load_trained(llama_run / "adapter")
    return loaded


def prompt_ids(tokenizer, system="Answer briefly."):
    from knowtune.data import with_system

    chat = with_system([{"role": "user", "content": "What is the capital of Hainan?"}], system)
    text = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    return tokenizer(text, return_tensors="pt", add_special_tokens=False).input_ids


def logits(model, ids):
    with torch.no_grad():
        return model(input_ids=ids).logits.float()


def test_adapter_really_changed_the_model(adapter_model):
    """Otherwise the equality checks below would pass on a merge that drops the adapter."""
    ids = prompt_ids(adapter_model.tokenizer)
    with adapter_model.model.disable_adapter():
        base = logits(adapter_model.model, ids)
    assert (logits(adapter_model.model, ids) - base).abs().max() > 1e-3


def test_hf_export_reloads_with_plain_transformers(llama_run, adapter_model, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from knowtune.eval import answer_questions, load_questions

    out = tmp_path / "hf"
    proc = knowtune("export", "--run", llama_run, "--out", out)
    assert proc.returncode == 0, proc.stderr
    model = AutoModelForCausalLM.from_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    info = json.loads((out / "knowtune_export.json").read_text())
    assert info["system_prompt"] == "Answer briefly." and info["method"] == "lora"
    assert (out / "generation_config.json").is_file()
    # the exported template adds the run's system prompt by itself: a bare chat renders as the run's
    bare = tokenizer.apply_chat_template([{"role": "user", "content": "What is the capital of Hainan?"}],
                                         tokenize=False, add_generation_prompt=True)
    assert bare.startswith("Answer briefly.\n\n")
    ids = prompt_ids(adapter_model.tokenizer)
    assert torch.equal(prompt_ids(tokenizer, system=None), ids)
    torch.testing.assert_close(logits(model, ids), logits(adapter_model.model, ids), atol=1e-4, rtol=1e-4)
    questions = load_questions(llama_run / "heldout.jsonl")
    merged = answer_questions(model, tokenizer, questions, system="", max_new_tokens=8)
    adapter = answer_questions(adapter_model.model, adapter_model.tokenizer, questions, system="Answer briefly.",
                               max_new_tokens=8)
    assert [r["reply"] for r in merged] == [r["reply"] for r in adapter]


def q8_0_round_trip(model):
    """The merged model as q8_0 stores it."""
    import copy

    return stored_as(copy.deepcopy(model).merge_and_unload(), "q8_0")


@pytest.mark.parametrize("dtype", ["float32", "q8_0"])
def test_gguf_export_reads_back_and_reloads_in_transformers(llama_run, adapter_model, tmp_path, dtype):
    import gguf
    from transformers import AutoModelForCausalLM

    out = tmp_path / "gguf"
    proc = knowtune("export", "--run", llama_run, "--out", out, "--format", "gguf", "--dtype", dtype)
    assert proc.returncode == 0, proc.stderr
    (path,) = out.glob("*.gguf")
    reader = gguf.GGUFReader(path)
    fields = reader.fields
    assert bytes(fields["general.architecture"].parts[-1]).decode() == "llama"
    assert bytes(fields["tokenizer.ggml.model"].parts[-1]).decode() == "gpt2"
    assert "Answer briefly." in bytes(fields["tokenizer.chat_template"].parts[-1]).decode()
    assert int(fields["llama.block_count"].parts[-1][0]) == 2
    norm = next(t for t in reader.tensors if t.name == "blk.0.attn_norm.weight")
    expected = adapter_model.model.get_base_model().model.layers[0].input_layernorm.weight.detach().numpy()
    assert norm.data.shape == expected.shape and (norm.data == expected).all()
    reloaded = AutoModelForCausalLM.from_pretrained(out, gguf_file=path.name, dtype=torch.float32)
    ids = prompt_ids(adapter_model.tokenizer)
    # float32: the model itself; q8_0: the model with its weights rounded as q8_0 rounds them (how
    # far that is from the float model depends on the weights; whether the file holds it does not)
    want = logits(adapter_model.model if dtype == "float32" else q8_0_round_trip(adapter_model.model), ids)
    got = logits(reloaded, ids)
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def test_non_mergeable_method_is_one_line_exit_2(tmp_path, tiny_llama):
    run = make_run(tmp_path, tiny_llama, "prompt")
    out = tmp_path / "out"
    proc = knowtune("export", "--run", run, "--out", out)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error:") and len(proc.stderr.strip().splitlines()) == 1
    assert "serve it with its adapter" in proc.stderr
    assert not out.exists() and not list(tmp_path.glob(".out*"))


def test_interrupted_export_leaves_nothing(llama_run, tmp_path, monkeypatch):
    from knowtune.commands import export as export_cmd

    def fail(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(export_cmd, "save_hf", fail)
    with pytest.raises(KeyboardInterrupt):
        export_cmd.export_command(llama_run, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_bad_dtype_is_refused_before_loading(llama_run, tmp_path):
    proc = knowtune("export", "--run", llama_run, "--out", tmp_path / "o", "--dtype", "q8_0")
    assert proc.returncode == 2 and "--dtype" in proc.stderr


@pytest.mark.slow
def test_gguf_of_smollm2_reloads_with_its_tokenizer(tmp_path):
    """The real preset: 30 layers, 9 query / 3 key-value heads, tied embeddings, SmolLM2's BPE."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from knowtune.export.gguf_writer import source_pre_tokenizer, write_gguf
    from knowtune.models import load_model

    loaded = load_model("smollm2-135m")
    assert source_pre_tokenizer(loaded.source) == "smollm"
    path = tmp_path / "smol.gguf"
    write_gguf(loaded.model, loaded.tokenizer, path, dtype="float16", name="smol",
               chat_template=loaded.tokenizer.chat_template, pre_tokenizer="smollm")
    text = "The capital of Hainan is Haikou; Wuzhishan is 1,867 m high."
    tokenizer = AutoTokenizer.from_pretrained(tmp_path, gguf_file=path.name)
    ids = loaded.tokenizer(text, return_tensors="pt").input_ids
    assert tokenizer(text).input_ids == ids[0].tolist()
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file=path.name, dtype=torch.float32)
    want, got = logits(loaded.model, ids), logits(reloaded, ids)
    assert (got - want).abs().max() < 0.15
    assert torch.equal(got.argmax(-1), want.argmax(-1))


@pytest.mark.parametrize("system", ['Say "hi"\n\\ it\'s 你好 {{ x }} 😀 \\n', "a {% raw %} b %} c", ""])
def test_system_prompt_in_template_renders_as_with_system(system):
    from tiny import make_tokenizer

    from knowtune.data import with_system
    from knowtune.export import template_with_system

    tokenizer = make_tokenizer()
    original = tokenizer.chat_template
    tokenizer.chat_template = template_with_system(original, system)
    for chat in ([{"role": "user", "content": "q"}],
                 [{"role": "system", "content": "own"}, {"role": "user", "content": "q"}]):
        want = tokenizer.apply_chat_template(with_system(chat, system), chat_template=original, tokenize=False)
        assert tokenizer.apply_chat_template(chat, tokenize=False) == want
    bare = tokenizer.apply_chat_template([{"role": "user", "content": "q"}], tokenize=False)
    assert (system in bare) and (bool(system) == ("system" in bare))
