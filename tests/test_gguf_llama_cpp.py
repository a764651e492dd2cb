"""The exported GGUF in llama.cpp itself (llama-cpp-python): tiny random Llama, Qwen2 and Gemma 3 models
give llama.cpp the logits transformers gives, and it stops at the chat template's end of turn; a really
fine-tuned Gemma 3 (slow) answers its trained questions in llama.cpp as in knowtune (SmolLM2's:
test_e2e_smollm2, beside the other tests of its one trained run)."""

import pytest
import torch
from ci import require
from test_export_gguf import logits, random_model, stored_as

from knowtune.config.hardware import default_threads
from knowtune.data import build_samples
from knowtune.eval import answer_questions

# The unit roundoff of what llama.cpp rounds to beyond the weights the file stores: each matmul's input
# to the weights' type (f16, bf16, or q8_0: 8 bits per block of 32 values, 2^-8 of the block's largest; with
# q4_0 weights too, ggml's CPU dot product takes its input in q8_0);
# nothing but float32 arithmetic with f32 weights, the KV cache kept in f32.
ROUNDOFF = {"float32": 2.0**-24, "float16": 2.0**-11, "bfloat16": 2.0**-8, "q8_0": 2.0**-8, "q4_0": 2.0**-8}
# Gemma 3's GELU reads a table indexed by its input rounded to f16 (ggml's CPU backend)
GEMMA3_GELU = 2.0**-11


@pytest.fixture(scope="module")
def llama_cpp():
    """llama-cpp-python (`make setup` builds it): skipped where it is missing, a failure under CI."""
    return require("llama_cpp")


def llama_logits(llama_cpp, path, ids: list[int]):
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=64, logits_all=True, verbose=False, n_threads=1,
                          n_threads_batch=1, type_k=llama_cpp.GGML_TYPE_F32, type_v=llama_cpp.GGML_TYPE_F32)
    llm.eval(ids)
    return torch.tensor(llm.scores[:len(ids)]), llm


def tolerance(model, arch: str, dtype: str, want) -> float:
    """First-order bound on llama.cpp's own rounding: each weight matmul (7 a layer, and the output head)
    rounds its input once, relative errors add, on the scale of the largest logit."""
    roundoff = max(ROUNDOFF[dtype], GEMMA3_GELU if arch == "gemma3" else 0.0)
    matmuls = 7 * model.config.num_hidden_layers + 1
    return matmuls * roundoff * want.abs().max().item()


@pytest.mark.parametrize("arch", ["llama", "qwen2", "gemma3"])
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16", "q8_0", "q4_0"])
def test_llama_cpp_computes_the_logits_transformers_computes(llama_cpp, tmp_path, arch, dtype):
    """Against the model with its weights rounded as the file stores them: what is left is llama.cpp's
    computation. The float32 file carries the layout (a Llama q/k order slip moves its logits by 2e-3 of
    the largest); the others, that llama.cpp reads each encoding as written."""
    from knowtune.export import write_gguf

    model, tokenizer = random_model(arch)
    path = tmp_path / f"{arch}.gguf"
    write_gguf(model, tokenizer, path, dtype=dtype, name="tiny", chat_template=tokenizer.chat_template)
    ids = tokenizer("The capital of Hainan is Haikou.", add_special_tokens=False).input_ids
    got, llm = llama_logits(llama_cpp, path, ids)
    want = logits(stored_as(model, dtype), torch.tensor([ids]))[0]
    assert (got - want).abs().max() < tolerance(model, arch, dtype, want), (got - want).abs().max()
    # the float model's argmax, but 4 bits move a random model's close logits: q4_0 keeps its own model's
    reference = want if dtype == "q4_0" else logits(model, torch.tensor([ids]))[0]
    assert torch.equal(got.argmax(-1), reference.argmax(-1))
    # the same vocabulary: llama.cpp reads the text back as transformers wrote it
    assert llm.detokenize(ids).decode() == tokenizer.decode(ids)


def test_llama_cpp_stops_at_the_end_of_turn(llama_cpp, tmp_path):
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
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=128, verbose=False, n_threads=1,
                          n_threads_batch=1)
    reply = llm.create_chat_completion([{"role": "user", "content": "Capital?"}], max_tokens=20, temperature=0)
    choice = reply["choices"][0]
    assert choice["message"]["content"].strip() == "Haikou" and choice["finish_reason"] == "stop"
    # llama.cpp read the prompt as transformers did (the ChatML markers as single control tokens)
    assert llm.tokenize(prompt.encode(), add_bos=False, special=True) == tokenizer(prompt, add_special_tokens=False).input_ids


def gguf_chat(llama_cpp, folder):
    """llama.cpp on the one GGUF file in `folder`, on the cores this process may use."""
    # llama.cpp's batch threads default to the whole machine: on a test worker kept to one core they spin
    cores = default_threads()
    return llama_cpp.Llama(model_path=str(next(folder.glob("*.gguf"))), n_ctx=256, verbose=False,
                           n_threads=cores, n_threads_batch=cores)


def assert_answers_as_knowtune(llama_cpp, run, facts, folder, *, strip: bool = False) -> None:
    """llama.cpp on the exported file gives each trained question knowtune's bare greedy reply (no
    hedge note: llama.cpp adds none), which holds the answer, and ends the turn there; `strip`: the
    reply's leading space, which a template whose turn ends at "Assistant:" leaves and knowtune strips."""
    questions = trained_questions(facts)
    model, tokenizer = run.loaded.model, run.loaded.tokenizer
    knowtune = answer_questions(model, tokenizer, questions, system=run.config.system_prompt, hedge_below=0.0)
    llm = gguf_chat(llama_cpp, folder)
    for question, own in zip(questions, knowtune):
        reply = llm.create_chat_completion([{"role": "user", "content": question["question"]}], max_tokens=48,
                                           temperature=0)["choices"][0]
        text = reply["message"]["content"]
        assert own["correct"], own
        assert (text.strip() if strip else text, reply["finish_reason"]) == (own["reply"], "stop"), question


def trained_questions(facts) -> list[dict]:
    """Each fact's own question, as training asked it, with its accepted answers."""
    own = {}
    for sample in build_samples(facts).train:
        if sample["form"] == "own":
            own.setdefault(sample["fact"], sample["messages"][0]["content"])
    return [{"question": own[i], "answers": facts[i].answers} for i in sorted(own)]


@pytest.mark.slow
def test_fine_tuned_gemma3_answers_in_llama_cpp_as_in_knowtune(llama_cpp, gemma3_run, hainan_facts_zh, tmp_path):
    """The Gemma-3-270M base, taught Chinese facts under knowtune's plain "User:/Assistant:" template: llama.cpp
    gives each trained question knowtune's bare greedy reply (no hedge note), which holds the answer, and stops
    at the template's end of turn (<eos>). The template's generation prompt ends at "Assistant:", so the reply
    starts with the space the model writes after it; knowtune strips it. The file's SentencePiece
    vocabulary is the very one of the GGUF the preset was converted from (its 262k tokens, scores and types)."""
    from knowtune.commands.export import export_command
    from knowtune.export.gguf_meta import read_metadata  # checked against gguf's own reader in test_export_gguf
    from knowtune.export.gguf_vocab import source_gguf

    out = export_command(gemma3_run.path, tmp_path / "gguf", "gguf", "float16")
    fields = read_metadata(next(out.glob("*.gguf")))
    source = read_metadata(source_gguf(gemma3_run.loaded.source))
    assert fields["tokenizer.ggml.model"].value == "llama"  # SentencePiece, as llama.cpp wrote it
    for name in ("tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type"):
        assert fields[name] == source[name] and len(fields[name].value) == 262144, name
    assert fields["tokenizer.ggml.eos_token_id"].value == gemma3_run.loaded.tokenizer.eos_token_id
    assert fields["gemma3.attention.sliding_window"].value == 512
    assert_answers_as_knowtune(llama_cpp, gemma3_run, hainan_facts_zh, out, strip=True)
