"""The commands a user types, on a tiny model: exit codes, outputs, one-line errors."""

import json
import re

import pytest
from tiny import knowtune, write_facts


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, tiny_qwen):
    work = tmp_path_factory.mktemp("cli")
    facts = work / "facts.jsonl"
    write_facts(facts)
    built = knowtune("data", "build", facts, "--out", work / "data")
    assert built.returncode == 0, built.stderr
    run = work / "run"
    proc = knowtune("train", "--data", work / "data", "--model", tiny_qwen, "--out", run, "--epochs", 1,
                    "--set", "params.r=2", "--set", "precision=fp32")
    assert proc.returncode == 0, proc.stderr
    return run


def test_train_writes_a_complete_run(trained_run):
    for name in ("adapter/adapter_model.safetensors", "adapter/adapter_config.json", "config.yaml",
                 "run.json", "loss.png", "heldout.jsonl"):
        assert (trained_run / name).is_file(), name
    assert "params:\n  r: 2" in (trained_run / "config.yaml").read_text()


def test_eval_prints_accuracy_line_and_writes_answers(trained_run):
    proc = knowtune("eval", "--run", trained_run, "--base")
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^accuracy: \d+\.\d% \(\d+/4\)$", proc.stdout, re.M)
    rows = [json.loads(line) for line in (trained_run / "eval" / "model_answers.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and {"question", "reply", "correct"} <= set(rows[0])
    assert (trained_run / "eval" / "base_answers.jsonl").is_file()


def test_eval_questions_file_and_its_errors(trained_run, tmp_path):
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"question": "What is the capital of Hainan?", "answers": ["Haikou"]}\n')
    proc = knowtune("eval", "--run", trained_run, "--questions", questions, "--out", tmp_path / "e")
    assert proc.returncode == 0, proc.stderr
    score = re.search(r"^accuracy: (\d+\.\d)% \(([01])/1\)$", proc.stdout, re.M)
    assert score, proc.stdout
    rows = [json.loads(line) for line in (tmp_path / "e" / "model_answers.jsonl").read_text().splitlines()]
    assert [r["question"] for r in rows] == ["What is the capital of Hainan?"]
    assert int(score[2]) == sum(r["correct"] for r in rows) and float(score[1]) == 100.0 * int(score[2])
    questions.write_text('{"question": "What?", "answers": "Haikou"}\n')
    proc = knowtune("eval", "--run", trained_run, "--questions", questions)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {questions}:1: field 'answers': must be a non-empty list of strings"


def test_chat_one_shot_streams_a_reply(trained_run):
    # the one-shot reply is the engine's own, streamed whole, then a newline. A random tiny model
    # answers some prompts with nothing (its first token ends the turn, and which one does depends
    # on the CPU's kernels), so the prompt asked is the first one the engine answers in words
    from knowtune.serve.engine import Engine

    engine = Engine.from_run(trained_run)
    prompts = ["What is the capital of Hainan?", "Hello there", "Tell me about Haikou.", "Where is Sanya?",
               "Hi", "What is Hainan?"]
    asked = ((p, "".join(engine.stream([{"role": "user", "content": p}]))) for p in prompts)
    prompt, reply = next((p, r) for p, r in asked if r.strip())  # asks only until one is answered
    proc = knowtune("chat", "--run", trained_run, "-m", prompt)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == reply + "\n", (proc.stdout, reply)
    # with retrieval from the run's knowledge base (serve.engine's index); a base model has none
    proc = knowtune("chat", "--run", trained_run, "--rag", "-m", "What is the capital of Hainan?")
    assert proc.returncode == 0 and proc.stdout.strip(), proc.stderr
    proc = knowtune("chat", "--model", "smollm2-135m", "--rag", "-m", "hi")
    assert proc.returncode == 2 and proc.stderr.strip() == (
        "error: field '--rag': retrieval needs a run's knowledge base: use --run"), proc.stderr


@pytest.mark.parametrize("args,needle", [
    (["--method", "lorax"], "field 'method': unknown method 'lorax'"),
    (["--set", "params.rank=4"], "field 'params.rank': unknown key"),
    (["--set", "epochs=-1"], "field 'epochs': must be > 0"),
    (["--model", "no-such-model"], "field 'model': unknown model"),
])
def test_train_bad_input_is_one_line_exit_2(tmp_path, facts_file, args, needle):
    out = tmp_path / "run"
    proc = knowtune("train", "--data", facts_file, "--out", out, *args)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and needle in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()


def test_config_file_errors_name_file_and_line(tmp_path, facts_file):
    config = tmp_path / "c.yaml"
    config.write_text("method: lora\nparams:\n  r: 4\n  alpha: big\n")
    proc = knowtune("train", "--data", facts_file, "--out", tmp_path / "r", "--config", config)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {config}:4: field 'params.alpha': must be a number, got 'big'"


def test_methods_lists_params_with_help():
    proc = knowtune("methods")
    assert proc.returncode == 0 and "lora" in proc.stdout and "Rank of the update" in proc.stdout
