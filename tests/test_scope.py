"""Questions outside the knowledge base go to the base model: the scope test, and routing in eval and chat."""

import pytest
import torch
from test_greedy import adapted

from knowtune.data.facts import Fact
from knowtune.data.scope import KnowledgeScope

EN = [Fact("Nanshan Guanyin Statue", "height", "108 m", subject_aliases=["the Guanyin of Nanshan"]),
      Fact("Tianwen-1", "launch site", "Wenchang Space Launch Site"),
      Fact("Haikou", "nickname", "Coconut City"),
      Fact("Hainan", "sea", "South China Sea"),
      Fact("Dongzhaigang", "protects", "mangrove forest")]
ZH = [Fact("南山海上观音", "高度", "108米", lang="zh"), Fact("海口", "别称", "椰城", lang="zh"),
      Fact("海南", "海域", "中国南海", lang="zh")]


@pytest.mark.parametrize("question", [
    "How tall is the Nanshan Guanyin Statue?",           # the subject, named
    "Which city is called Coconut City?",                # an answer that names something
    "How high does the Nanshan Sea Guanyin rise?",       # rare words of a name, not the name
    "From which spaceport did the Tianwen Mars mission lift off?",
    "Which reserve protects mangroves?",                  # a rare word of an answer ("mangrove forest")
])
def test_questions_about_the_knowledge_base_are_in_scope(question):
    assert KnowledgeScope(EN).about(question)


@pytest.mark.parametrize("question", [
    "What is the capital of France?",
    "What is the longest river in China?",   # "China" is in an answer, but a common word
    "How many legs does a spider have?",
    "Which sea lies between Europe and Africa?",
    "What is 108 minus 8?",                  # "108 m" names nothing
])
def test_general_questions_are_out_of_scope(question):
    assert not KnowledgeScope(EN).about(question)


@pytest.mark.parametrize("question, about", [("南山观音有多高？", True), ("椰城是哪座城市的别称？", True),
                                             ("海口有什么好吃的？", True), ("中国的首都是哪里？", False),
                                             ("一年有几个月？", False)])
def test_chinese_questions_are_told_apart_the_same_way(question, about):
    assert KnowledgeScope(ZH).about(question) is about


WORDFREQ_FROM_DEEP_IN_A_COMMAND = """
import inspect, threading
depths = []
outer = inspect.getouterframes
def spy(frame, context=1):
    frames = outer(frame, context)
    depths.append((threading.current_thread() is threading.main_thread(), len(frames)))
    return frames
inspect.getouterframes = spy
from knowtune.data.scope import KnowledgeScope
from knowtune.data.facts import Fact
def deep(n):
    return deep(n - 1) if n else KnowledgeScope([Fact("海南", "省会", "海口", lang="zh")])
assert deep(60).about("海口是哪个省的省会？")
print(depths)
"""


def test_wordfreq_is_imported_with_a_short_stack_from_deep_inside_a_command():
    """wordfreq's import calls inspect.stack(), whose cost grows with the caller's stack depth."""
    import ast
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", WORDFREQ_FROM_DEEP_IN_A_COMMAND], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    depths = ast.literal_eval(done.stdout.strip().splitlines()[-1])
    assert depths, "wordfreq no longer locates its data with inspect.stack(): this test has nothing to check"
    assert all(not in_main and frames < 20 for in_main, frames in depths), depths


def test_a_switch_answers_merged_or_as_the_base_and_puts_every_tensor_back():
    from knowtune.models.merged import MergedWithBase

    model, tokenizer = adapted("lora")
    ids = tokenizer("The capital of Hainan is Haikou.", return_tensors="pt").input_ids
    with torch.inference_mode():
        tuned = model(input_ids=ids).logits
        with model.disable_adapter():
            bare = model(input_ids=ids).logits
        switch = MergedWithBase(model)
        merged = model(input_ids=ids).logits
        pointers = [p.data_ptr() for p in model.parameters()]
        with switch.base():
            as_base = model(input_ids=ids).logits
        after = model(input_ids=ids).logits
    assert (tuned - bare).abs().max() > 1e-2  # the adapter matters
    torch.testing.assert_close(merged, tuned, atol=1e-5, rtol=1e-5)
    assert torch.equal(as_base, bare)  # the base tensors themselves, not a subtraction
    assert torch.equal(after, merged) and pointers == [p.data_ptr() for p in model.parameters()]


def test_adapter_off_nests_and_switches_back_on_only_at_the_outer_exit():
    from knowtune.models.merged import adapter_off, adapter_on

    model, tokenizer = adapted("lora")
    ids = tokenizer("Haikou", return_tensors="pt").input_ids
    with torch.inference_mode():
        tuned = model(input_ids=ids).logits
        with adapter_off(model):
            bare = model(input_ids=ids).logits
            with adapter_off(model):
                pass
            assert not adapter_on(model) and torch.equal(model(input_ids=ids).logits, bare)
        assert adapter_on(model) and torch.equal(model(input_ids=ids).logits, tuned)


def test_evaluation_answers_questions_outside_the_knowledge_base_with_the_adapter_off():
    from knowtune.eval.evaluate import answer_questions
    from knowtune.models.merged import adapter_off

    model, tokenizer = adapted("lora")
    questions = [{"question": q, "answers": ["x"]} for q in
                 ("What is Haikou's nickname?", "What is the capital of France?", "Where did Tianwen-1 launch?",
                  "How many days are in a week?")]
    kwargs = dict(max_new_tokens=6, hedge_below=0.0)
    tuned = answer_questions(model, tokenizer, questions, **kwargs)
    with adapter_off(model):
        bare = answer_questions(model, tokenizer, questions, **kwargs)
        unrouted = answer_questions(model, tokenizer, questions, scope=KnowledgeScope(EN), **kwargs)
    routed = answer_questions(model, tokenizer, questions, scope=KnowledgeScope(EN), **kwargs)
    assert [t["reply"] for t in tuned] != [b["reply"] for b in bare]  # the two models differ here
    assert [r["answered_by"] for r in routed] == ["fine-tuned", "base", "fine-tuned", "base"]
    assert [r["reply"] for r in routed] == [tuned[0]["reply"], bare[1]["reply"], tuned[2]["reply"], bare[3]["reply"]]
    assert "answered_by" not in unrouted[0]  # the base model itself has nothing to route
    assert [r["reply"] for r in unrouted] == [b["reply"] for b in bare]


def test_chat_answers_a_general_question_as_the_base_model(monkeypatch):
    from knowtune.models import LoadedModel
    from knowtune.models.merged import base_switch
    from knowtune.serve.engine import Engine

    model, tokenizer = adapted("lora")
    chat = lambda q: [{"role": "user", "content": q}]  # noqa: E731
    with model.disable_adapter():
        plain = Engine(loaded=LoadedModel(model, tokenizer, "tiny", "tiny"), name="tiny", hedge_below=0.0)
        want = {q: plain.chat(chat(q), max_new_tokens=6) for q in ("What is the capital of France?",
                                                                  "What is Haikou's nickname?")}
    tuned_reply = Engine(loaded=LoadedModel(model, tokenizer, "tiny", "tiny"), name="tiny").chat(
        chat("What is Haikou's nickname?"), max_new_tokens=6)
    model, base_weights = base_switch(model)
    engine = Engine(loaded=LoadedModel(model, tokenizer, "tiny", "tiny"), name="tiny", hedge_below=0.0,
                    scope=KnowledgeScope(EN), base_weights=base_weights)
    said = lambda q: "".join(engine.stream(chat(q), max_new_tokens=6))  # noqa: E731
    assert said("What is the capital of France?") == want["What is the capital of France?"]
    assert said("What is Haikou's nickname?") == tuned_reply.strip()
    assert tuned_reply.strip() != want["What is Haikou's nickname?"]


def test_routed_questions_take_the_base_models_cached_answers(tmp_path, monkeypatch):
    """The before pass cached the base model's answers; the routed questions of the fine-tuned pass
    read them instead of asking again, and the knowledge base's questions are still asked."""
    from knowtune.eval.evaluate import answer_questions
    from knowtune.models.merged import adapter_off

    monkeypatch.setenv("KNOWTUNE_CACHE", str(tmp_path / "cache"))
    model, tokenizer = adapted("lora")
    questions = [{"question": q, "answers": ["x"]} for q in ("What is Haikou's nickname?", "What is the capital of France?")]
    kwargs = dict(max_new_tokens=6, hedge_below=0.0)
    with adapter_off(model):
        before = answer_questions(model, tokenizer, questions, identity="the base", **kwargs)  # fills the cache
    tuned = answer_questions(model, tokenizer, questions, **kwargs)
    asked = []
    import knowtune.eval.evaluate as evaluate
    real = evaluate.generate_scored
    monkeypatch.setattr(evaluate, "generate_scored", lambda m, t, prompts, **kw: asked.extend(prompts) or real(m, t, prompts, **kw))
    routed = answer_questions(model, tokenizer, questions, scope=KnowledgeScope(EN), base_identity="the base", **kwargs)
    assert [r["reply"] for r in routed] == [tuned[0]["reply"], before[1]["reply"]]
    assert len(asked) == 1 and "Haikou" in asked[0]  # only the question about the knowledge base generated
