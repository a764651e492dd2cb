"""Method parameters and the rules each method enforces: refusals, layer-wise GaLore, meta devices."""

import dataclasses

import pytest
import torch

from knowtune.config import KnowtuneError, TrainConfig
from knowtune.data import build_samples, encode_chat, load_facts, pad_batch
from knowtune.methods import get_method, method_names
from knowtune.models import load_model
from knowtune.train import count_parameters, load_for_training, run_training

def with_params() -> list[str]:
    return [n for n in method_names() if dataclasses.fields(get_method(n).params_cls)]


@pytest.mark.parametrize("name", method_names())
def test_a_method_with_params_gives_a_bad_value(name):
    method = get_method(name)
    has_params = bool(dataclasses.fields(method.params_cls))
    assert (method.test_settings.bad_value is not None) == has_params, \
        f"{method.module.__name__}: TEST_SETTINGS.bad_value must be set exactly when Params has fields"


@pytest.mark.parametrize("name", method_names())
def test_unknown_param_refused_with_allowed_list(name):
    method = get_method(name)
    with pytest.raises(KnowtuneError) as info:
        method.parse_params({"no_such_param": 1}, file="cfg.yaml", lines={"params.no_such_param": 7})
    assert info.value.field == "params.no_such_param" and info.value.line == 7
    allowed = [f.name for f in dataclasses.fields(method.params_cls)] or ["none"]
    assert all(a in info.value.message for a in allowed)


@pytest.mark.parametrize("name", with_params())
def test_bad_value_refused_naming_the_field(name):
    (key, value), = get_method(name).test_settings.bad_value.items()
    with pytest.raises(KnowtuneError) as info:
        get_method(name).parse_params({key: value})
    assert info.value.field == f"params.{key}"
    assert "Traceback" not in str(info.value) and "\n" not in str(info.value)


def test_params_have_docs_for_help():
    from knowtune.config import describe_fields

    for name in method_names():
        for field, _type, _default, doc in describe_fields(get_method(name).params_cls):
            assert doc, f"{name}.{field} has no docstring"


def tiny_run(model_dir, method_name, params, **kw):
    base = dict(model=str(model_dir), method=method_name, params=params, epochs=2, batch_size=8,
                learning_rate=1e-2, lr_scheduler="cosine", warmup_ratio=0.2, precision="fp32", threads=1,
                system_prompt="")
    base.update(kw)
    return TrainConfig(**base)


@pytest.mark.skipif(torch.cuda.is_available(), reason="the 8-bit variant runs where CUDA is present")
def test_galore_8bit_refused_on_cpu(tiny_qwen):
    cfg = tiny_run(tiny_qwen, "galore", {"optimizer": "adamw8bit"})
    loaded, method, params = load_for_training(cfg)
    with pytest.raises(KnowtuneError, match="CUDA") as info:
        method.make_optimizer(loaded.model, params, 1e-3, 0.0)
    assert info.value.field == "params.optimizer"


def test_galore_layerwise_equals_galore_adamw_and_refuses_accumulation(tiny_qwen, facts_file):
    """Per-weight steps in backward hooks, scheduled per weight, give the same weights as the
    grouped optimizer (without clipping, which layer-wise updates cannot do)."""
    samples = build_samples(load_facts([facts_file])).train

    def trained(optimizer, **kw):
        kw.setdefault("max_grad_norm", 0.0)
        cfg = tiny_run(tiny_qwen, "galore", {"rank": 4, "optimizer": optimizer}, **kw)
        loaded, method, params = load_for_training(cfg)
        model, stats = run_training(loaded.model, loaded.tokenizer, samples, cfg, method, params, quiet=True)
        return {n: p.detach().clone() for n, p in model.named_parameters()}, stats

    grouped, _ = trained("adamw")
    layerwise, stats = trained("adamw_layerwise")
    assert stats.steps >= 4
    for name, value in grouped.items():
        torch.testing.assert_close(layerwise[name], value, rtol=1e-5, atol=1e-6)
    _, clipped = trained("adamw_layerwise", max_grad_norm=1.0)  # the loop's clipping finds no gradient left
    assert clipped.steps == stats.steps
    with pytest.raises(KnowtuneError, match="grad_accum: 1") as info:
        trained("adamw_layerwise", grad_accum=2, batch_size=4)
    assert info.value.field == "grad_accum"


def test_galore_adafactor_trains(tiny_llama, facts_file):
    samples = build_samples(load_facts([facts_file])).train
    cfg = tiny_run(tiny_llama, "galore", {"rank": 4, "optimizer": "adafactor"}, epochs=4)
    loaded, method, params = load_for_training(cfg)
    _, stats = run_training(loaded.model, loaded.tokenizer, samples, cfg, method, params, quiet=True)
    losses = [loss for _, loss in stats.losses]
    assert losses[-1] < 0.9 * losses[0]


def test_freeze_refusals(tiny_qwen):
    method = get_method("freeze")
    model = load_model(str(tiny_qwen)).model
    with pytest.raises(KnowtuneError, match="has 2 decoder layers") as info:
        method.apply(model, method.parse_params({"layers": 3}))
    assert info.value.field == "params.layers"
    with pytest.raises(KnowtuneError, match="lm_head") as info:  # the message lists what exists
        method.apply(model, method.parse_params({"layers": 1, "extra_modules": ["output_head"]}))
    assert info.value.field == "params.extra_modules"


@pytest.mark.parametrize("name", ["lora", "dora", "ia3", "galore"])
def test_unknown_target_module_is_a_one_line_error(name, tiny_llama):
    method = get_method(name)
    fields = {"target_modules": ["q_prj"]} | ({"feedforward_modules": []} if name == "ia3" else {})
    params = method.parse_params(fields)
    with pytest.raises(KnowtuneError, match="q_prj") as info:
        model = method.apply(load_model(str(tiny_llama)).model, params)
        method.make_optimizer(model, params, 1e-3, 0.0)  # galore matches its targets here
    assert info.value.field == "params.target_modules"


def test_qlora_refuses_a_full_precision_base_and_pissa(tiny_qwen):
    method = get_method("qlora")
    with pytest.raises(KnowtuneError, match="full-precision") as info:
        method.parse_params({"init": "pissa"})
    assert info.value.field == "params.init"
    with pytest.raises(KnowtuneError, match="quantized"):
        method.apply(load_model(str(tiny_qwen)).model, method.parse_params({}))


def test_untrained_adapter_is_the_identity(tiny_llama):
    method = get_method("adapter")
    ids = torch.tensor([[3, 17, 42, 99, 5]])
    base = load_model(str(tiny_llama)).model.eval()
    with torch.no_grad():
        expected = base(input_ids=ids).logits
        adapted = method.apply(base, method.parse_params({"bottleneck": 8}))
        got = adapted(input_ids=ids).logits
    assert torch.equal(got, expected)
    assert count_parameters(adapted)[0] == 2 * 2 * (2 * 32 * 8 + 8 + 32)


@pytest.mark.parametrize("name", method_names())
def test_apply_on_meta_device_counts_like_real_weights(name, tiny_qwen):
    """`knowtune params/estimate` apply methods to shape-only models: same count as real weights."""
    from transformers import AutoConfig, AutoModelForCausalLM

    method = get_method(name)
    params = method.parse_params({})
    with torch.device("meta"):
        meta = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(tiny_qwen))
    on_meta = count_parameters(method.apply(meta, params))
    extra = method.load_kwargs(params) if method.load_kwargs else {}
    real = count_parameters(method.apply(load_model(str(tiny_qwen), **extra).model, params))
    assert on_meta == real


@pytest.mark.parametrize("name", ["prefix", "prompt", "ptuning"])
def test_virtual_token_loss_matches_peft_label_loss(name, tiny_model, facts_file):
    """The loop's slow path slices the logits after the virtual tokens; peft's own loss (labels
    padded for the virtual tokens, shifted inside transformers) must agree."""
    from knowtune.train.loss import CausalLMLoss

    method = get_method(name)
    loaded = load_model(str(tiny_model))
    model = method.apply(loaded.model, method.parse_params({"num_virtual_tokens": 5}))
    samples = build_samples(load_facts([facts_file])).train[:6]
    batch = pad_batch([encode_chat(loaded.tokenizer, s["messages"], 256) for s in samples],
                      loaded.tokenizer.pad_token_id)
    with torch.no_grad():
        loss_sum, n = CausalLMLoss(model, fast=False)(**batch)
        reference = model(**batch).loss
    torch.testing.assert_close(loss_sum / n, reference, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("optimizer", ["adamw", "adafactor", "adamw_layerwise"])
def test_galore_state_resumes_from_a_tensors_only_checkpoint(optimizer, tiny_qwen, facts_file, tmp_path):
    """Checkpoints are loaded with weights_only=True: the GaLore projection must come back as tensors."""
    from knowtune.train.loss import CausalLMLoss

    samples = build_samples(load_facts([facts_file])).train
    cfg = tiny_run(tiny_qwen, "galore", {"rank": 4, "optimizer": optimizer})
    tokenizer = load_model(str(tiny_qwen)).tokenizer
    batch = pad_batch([encode_chat(tokenizer, s["messages"], 256) for s in samples[:8]], tokenizer.pad_token_id)

    def fresh():
        loaded, method, params = load_for_training(cfg)
        return loaded.model, method.make_optimizer(loaded.model, params, 1e-2, 0.0)

    def step(model, opt):
        loss_sum, n = CausalLMLoss(model)(**batch)
        (loss_sum / n).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    model, opt = fresh()
    step(model, opt)
    step(model, opt)
    torch.save(opt.state_dict(), tmp_path / "opt.pt")
    resumed, resumed_opt = fresh()
    resumed.load_state_dict(model.state_dict())
    resumed_opt.load_state_dict(torch.load(tmp_path / "opt.pt", weights_only=True))
    step(model, opt)
    step(resumed, resumed_opt)
    for (name, a), b in zip(model.named_parameters(), resumed.parameters()):
        assert torch.equal(a, b), name


def test_loraplus_gives_the_b_matrices_ratio_times_the_learning_rate(tiny_qwen):
    from knowtune.config import TrainConfig
    from knowtune.methods import get_method
    from knowtune.train import load_for_training

    for ratio in (16.0, 0.0):
        cfg = TrainConfig(model=str(tiny_qwen), params={"loraplus_lr_ratio": ratio})
        loaded, method, params = load_for_training(cfg)
        optimizer = get_method("lora").make_optimizer(loaded.model, params, 1e-3, 0.0)
        names = {id(p): n for n, p in loaded.model.named_parameters()}
        rates = {("lora_B" in names[id(p)]): g["lr"] for g in optimizer.param_groups for p in g["params"]}
        assert rates[False] == 1e-3
        assert rates[True] == (1e-3 * ratio if ratio else 1e-3)
        trained = sum(len(g["params"]) for g in optimizer.param_groups)
        assert trained == sum(p.requires_grad for p in loaded.model.parameters())
