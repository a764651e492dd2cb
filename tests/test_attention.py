"""The CPU training attention (float32 scores) gives the numbers of the model's own attention."""

import pytest
import torch

from knowtune.data import build_samples, encode_chat, load_facts, pad_batch
from knowtune.models import load_model
from knowtune.train.attention import MAX_WIDTH, NAME, attention_for, fp32_score_attention, training_attention
from knowtune.train.loss import CausalLMLoss


def test_plain_attention_only_for_short_batches_on_a_cpu():
    cpu = torch.device("cpu")
    assert attention_for([48, 56, 64], cpu) == NAME
    assert attention_for([48, MAX_WIDTH + 8, MAX_WIDTH + 64], cpu) is None
    assert attention_for([48, 56], torch.device("cuda")) is None  # a GPU keeps its flash kernels
    assert attention_for([], cpu) is None


def _batch(model_dir, facts_file, n=6):
    samples = build_samples(load_facts([facts_file])).train[:n]
    loaded = load_model(str(model_dir))
    batch = pad_batch([encode_chat(loaded.tokenizer, s["messages"], 256) for s in samples],
                      loaded.tokenizer.pad_token_id, multiple=8)
    assert (batch["attention_mask"] == 0).any()  # padding is part of what is checked
    return loaded.model, batch


def _loss_and_grads(model, batch):
    model.zero_grad()
    loss, _ = CausalLMLoss(model)(**batch)
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]


def _gemma3_with_sliding_window(vocab_size: int):
    """Gemma 3's attention: local layers see 16 tokens back, query/key norms, a head size of its own."""
    from transformers import AutoModelForCausalLM, Gemma3TextConfig

    config = Gemma3TextConfig(vocab_size=vocab_size, hidden_size=64, intermediate_size=160, num_hidden_layers=2,
                              num_attention_heads=4, num_key_value_heads=2, head_dim=32, sliding_window=16,
                              layer_types=["sliding_attention", "full_attention"], tie_word_embeddings=True)
    config._attn_implementation = "sdpa"
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(config)


@pytest.mark.parametrize("arch", ["qwen2", "llama", "gemma3"])
def test_same_loss_and_gradients_as_sdpa_and_put_back(arch, tiny_qwen, tiny_llama, facts_file):
    model, batch = _batch(tiny_llama if arch == "llama" else tiny_qwen, facts_file)
    if arch == "gemma3":
        model = _gemma3_with_sliding_window(model.config.vocab_size)
        assert batch["input_ids"].shape[1] > 16  # the window cuts some rows short
    model.double()  # float64: the two attentions agree to rounding, so any real difference shows
    before = model.config._attn_implementation
    assert before == "sdpa"
    flash_loss, flash_grads = _loss_and_grads(model, batch)
    with training_attention(model, attention_for([64], torch.device("cpu"))):
        assert model.config._attn_implementation == NAME
        plain_loss, plain_grads = _loss_and_grads(model, batch)
    assert model.config._attn_implementation == before
    torch.testing.assert_close(plain_loss, flash_loss, rtol=1e-10, atol=1e-12)
    for plain, flash in zip(plain_grads, flash_grads, strict=True):
        torch.testing.assert_close(plain, flash, rtol=1e-8, atol=1e-12)


def _reference(query, key, value, mask, softcap=None):
    groups = query.shape[1] // key.shape[1]
    key, value = key.repeat_interleave(groups, 1), value.repeat_interleave(groups, 1)
    scores = query @ key.transpose(2, 3) * query.shape[-1] ** -0.5
    if softcap is not None:
        scores = torch.tanh(scores / softcap) * softcap
    return (torch.softmax(scores + mask, -1) @ value).transpose(1, 2)


@pytest.mark.parametrize("softcap", [None, 20.0])
def test_grouped_heads_softcap_and_mask_match_a_float64_reference(softcap):
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 6, 10, 8), torch.randn(2, 2, 10, 8), torch.randn(2, 2, 10, 8)
    q = q * 4  # large scores: where rounding them would show
    mask = torch.zeros(2, 1, 10, 10).masked_fill(torch.ones(10, 10, dtype=torch.bool).triu(1), float("-inf"))
    mask[1, :, :, 7:] = float("-inf")  # the second row is padded after 7 tokens
    module = torch.nn.Module().eval()
    out, _ = fp32_score_attention(module, q.bfloat16(), k.bfloat16(), v.bfloat16(), mask.bfloat16(), softcap=softcap)
    want = _reference(*(x.bfloat16().double() for x in (q, k, v)), mask.double(), softcap)
    assert out.dtype == torch.bfloat16 and out.shape == (2, 10, 6, 8)
    # bf16 inputs, one rounding of the output: within bf16's half-ulp of the exact result
    torch.testing.assert_close(out.double(), want, rtol=2 ** -8, atol=1e-6)


@pytest.mark.parametrize("softcap", [0.0, 5.0])
@pytest.mark.parametrize("dropout", [False, True])
def test_attention_op_backward_and_registration(softcap, dropout):
    """The op's hand-written backward against finite differences; its fake kernel, autocast and schema by opcheck."""
    from knowtune.train.attention_op import grouped_attention_op

    torch.manual_seed(0)
    b, kv, g, length, d = 2, 2, 3, 5, 4
    q = torch.randn(b, kv, g, length, d, dtype=torch.float64, requires_grad=True)
    k, v = (torch.randn(b, kv, length, d, dtype=torch.float64, requires_grad=True) for _ in range(2))
    i = torch.arange(length)
    mask = torch.zeros(length, length, dtype=torch.float64).masked_fill(i[None] > i[:, None], float("-inf"))
    mask = mask[None, None, None].expand(b, 1, 1, length, length)
    keep = (torch.rand(b, kv, g, length, length) > 0.3).double() / 0.7 if dropout else None

    def out(q, k, v):
        return grouped_attention_op(q, k, v, mask, keep, 0.5, softcap)[0]

    assert torch.autograd.gradcheck(out, (q, k, v))
    torch.library.opcheck(grouped_attention_op, (q, k, v, mask, keep, 0.5, softcap))
