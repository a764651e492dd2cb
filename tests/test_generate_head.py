"""Generation hands the output layer contiguous hidden states (adapter runs included).

transformers slices the last prompt position out of the hidden states at the first
decoding step; with a frozen output weight a strided input made torch copy the weight
once per sequence (Gemma-3: 10.7 GB and ~20 s per batch of 32).
"""

from knowtune.methods import get_method
from knowtune.models import load_model
from knowtune.data.prompt import render_prompt
from knowtune.models.generate import generate_batch


def _watch_head(model):
    seen = []
    head = model.get_output_embeddings()
    handle = head.register_forward_hook(lambda _m, args, _out: seen.append(args[0].is_contiguous()))
    return seen, handle


def _lora_model(tiny_qwen):
    loaded = load_model(str(tiny_qwen))
    method = get_method("lora")
    loaded.model = method.apply(loaded.model, method.parse_params({}))
    loaded.model.eval()
    return loaded


def test_batched_generation_feeds_the_head_contiguous_states(tiny_qwen):
    loaded = _lora_model(tiny_qwen)
    prompts = [render_prompt(loaded.tokenizer, [{"role": "user", "content": q}])
               for q in ("What is the capital of Hainan?", "Highest peak?")]
    seen, handle = _watch_head(loaded.model)
    try:
        generate_batch(loaded.model, loaded.tokenizer, prompts, max_new_tokens=3, batch_size=2)
    finally:
        handle.remove()
    assert seen and all(seen)
    assert len(loaded.model.get_output_embeddings()._forward_pre_hooks) == 0  # removed after use

