"""The exported GGUF in llama.cpp itself (llama-cpp-python): tiny random Llama, Qwen2 and Gemma 3 models
give llama.cpp the logits transformers gives, and it stops at the chat template's end of turn."""

import pytest
import torch
from test_export_gguf import logits, random_model

# not part of the set-up (a source build of llama.cpp): skipped where it is not installed, CI included
llama_cpp = pytest.importorskip("llama_cpp")


def llama_logits(path, ids: list[int]):
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=64, logits_all=True, verbose=False, n_threads=1)
    llm.eval(ids)
    return torch.tensor(llm.scores[:len(ids)]), llm


@pytest.mark.parametrize("arch", ["llama", "qwen2", "gemma3"])
@pytest.mark.parametrize("dtype,atol", [("float32", 2e-3), ("q8_0", 0.1)])
def test_llama_cpp_computes_the_logits_transformers_computes(tmp_path, arch, dtype, atol):
    from knowtune.export import write_gguf

    model, tokenizer = random_model(arch)
    path = tmp_path / f"{arch}.gguf"
    write_gguf(model, tokenizer, path, dtype=dtype, name="tiny", chat_template=tokenizer.chat_template)
    ids = tokenizer("The capital of Hainan is Haikou.", add_special_tokens=False).input_ids
    got, llm = llama_logits(path, ids)
    want = logits(model, torch.tensor([ids]))[0]
    assert (got - want).abs().max() < atol, (got - want).abs().max()
    assert torch.equal(got.argmax(-1), want.argmax(-1))
    # the same vocabulary: llama.cpp reads the text back as transformers wrote it
    assert llm.detokenize(ids).decode() == tokenizer.decode(ids)


def test_llama_cpp_stops_at_the_end_of_turn(tmp_path):
    """A model made to answer "Haikou<|im_end|>": llama.cpp's chat completion ends there, not later."""
    from knowtune.export import write_gguf

    model, tokenizer = random_model("qwen2")
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "Capital?"}], add_generation_prompt=True,
                                           tokenize=False)
    ids = tokenizer(prompt + "Haikou<|im_end|>", add_special_tokens=False).input_ids
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(60):  # memorise the one answer, end of turn included
        loss = model(input_ids=torch.tensor([ids]), labels=torch.tensor([ids])).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    path = tmp_path / "stop.gguf"
    write_gguf(model, tokenizer, path, dtype="float32", name="tiny", chat_template=tokenizer.chat_template)
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=128, verbose=False, n_threads=1)
    reply = llm.create_chat_completion([{"role": "user", "content": "Capital?"}], max_tokens=20, temperature=0)
    choice = reply["choices"][0]
    assert choice["message"]["content"].strip() == "Haikou" and choice["finish_reason"] == "stop"
    # llama.cpp read the prompt as transformers did (the ChatML markers as single control tokens)
    assert llm.tokenize(prompt.encode(), add_bos=False, special=True) == tokenizer(prompt, add_special_tokens=False).input_ids
