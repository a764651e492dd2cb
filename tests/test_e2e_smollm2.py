"""End to end with the real embedded SmolLM2-135M on a handful of Hainan facts (slow): trained once,
asked before and after, exported as GGUF and asked again in llama.cpp. The tests of that one run
stay in this file, which a test worker runs whole."""

import pytest
from test_gguf_llama_cpp import assert_answers_as_knowtune, gguf_chat, llama_cpp, trained_questions  # noqa: F401

from knowtune.data import build_samples
from knowtune.eval import answer_questions, summarise

pytestmark = pytest.mark.slow


def test_after_score_rises_above_before(smollm2_run, hainan_facts_en):
    heldout = build_samples(hainan_facts_en).heldout
    model, system = smollm2_run.loaded.model, smollm2_run.config.system_prompt
    with model.disable_adapter():
        before = summarise(answer_questions(model, smollm2_run.loaded.tokenizer, heldout, system=system))
    after = summarise(answer_questions(model, smollm2_run.loaded.tokenizer, heldout, system=system))
    assert after["correct"] > before["correct"]
    assert after["accuracy"] >= 0.5


@pytest.mark.slow
def test_fine_tuned_smollm2_answers_in_llama_cpp_as_in_knowtune(llama_cpp, smollm2_run, hainan_facts_en, tmp_path):
    """The exported file alone (the run's system prompt is in its chat template): llama.cpp gives each trained
    question knowtune's own greedy reply, which holds the answer, and ends the turn there."""
    from knowtune.commands.export import export_command

    out = export_command(smollm2_run.path, tmp_path / "gguf", "gguf", "float16")
    assert_answers_as_knowtune(llama_cpp, smollm2_run, hainan_facts_en, out)


@pytest.mark.slow
def test_fine_tuned_smollm2_as_q4_0_still_answers_in_llama_cpp(llama_cpp, smollm2_run, hainan_facts_en, tmp_path):
    """4 bits per weight (the head in 8): the file a laptop user would pull into Ollama still gives every trained
    question its answer, and ends the turn."""
    from knowtune.commands.export import export_command
    from knowtune.eval.normalize import contains_answer

    out = export_command(smollm2_run.path, tmp_path / "gguf", "gguf", "q4_0")
    llm = gguf_chat(llama_cpp, out)
    for question in trained_questions(hainan_facts_en):
        reply = llm.create_chat_completion([{"role": "user", "content": question["question"]}], max_tokens=48,
                                           temperature=0)["choices"][0]
        assert contains_answer(reply["message"]["content"], question["answers"]), (question, reply)
        assert reply["finish_reason"] == "stop", reply
