"""`knowtune eval` on a tiny run: the full report (JSON, Markdown, self-contained HTML), `--runs`,
`--model --kb`, perplexity against the model's own loss, and one-line CLI errors."""

import base64
import json
import math
import re
import shutil

import pytest
from tiny import knowtune, write_facts

from knowtune.eval.sources import probe_file

PNG = b"\x89PNG\r\n\x1a\n"


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny_qwen):
    work = tmp_path_factory.mktemp("evalrun")
    facts = work / "facts.jsonl"
    write_facts(facts)
    run = work / "run"
    proc = knowtune("train", "--data", facts, "--model", tiny_qwen, "--out", run, "--epochs", 1,
                    "--set", "params.r=2", "--set", "precision=fp32")
    assert proc.returncode == 0, proc.stderr
    return run


@pytest.fixture(scope="module")
def full_eval(tiny_run, tmp_path_factory):
    work = tmp_path_factory.mktemp("evalout")
    unanswerable = work / "unanswerable.jsonl"
    unanswerable.write_text("# not in the knowledge base\n"
                            '{"question": "What is the phone number of the governor of Hainan?"}\n'
                            '{"question": "How many coconuts fell in Haikou yesterday?"}\n'
                            '{"question": "海口昨天下了几滴雨？"}\n', encoding="utf-8")
    out = work / "eval"
    proc = knowtune("eval", "--run", tiny_run, "--top-k", 2, "--unanswerable", unanswerable, "--out", out)
    assert proc.returncode == 0, proc.stderr
    return proc, out


def test_eval_prints_both_accuracy_lines_and_keeps_old_files(full_eval):
    proc, out = full_eval
    assert re.search(r"^base  accuracy: \d+\.\d% \(\d+/4\)$", proc.stdout, re.M)
    assert proc.stdout.rstrip().splitlines()[-1].startswith("accuracy: ")
    for name in ("model_answers.jsonl", "model_metrics.json", "base_answers.jsonl", "base_metrics.json"):
        assert (out / name).is_file(), name


def test_metrics_json_holds_every_system_and_pass(full_eval):
    _, out = full_eval
    results = json.loads((out / "metrics.json").read_text())
    assert list(results["knowledge"]) == ["base", "base_rag", "model", "model_rag"]
    assert results["labels"]["model_rag"] == "fine-tuned + RAG"
    for name, summary in results["knowledge"].items():
        rows = read_jsonl(out / f"{name}_answers.jsonl")
        assert summary["total"] == len(rows) == 4
        assert summary["correct"] == sum(r["correct"] for r in rows)
        for metric in ("exact_match", "f1", "rouge1", "rouge2", "rougeL", "bleu4"):
            assert 0.0 <= summary[metric] <= 1.0
            if metric != "bleu4":  # the summary is the mean of the per-answer scores written beside them
                assert summary[metric] == pytest.approx(sum(r[metric] for r in rows) / 4, abs=1e-3)
    assert results["base"] == results["knowledge"]["base"] and results["model"] == results["knowledge"]["model"]
    assert results["knowledge"]["model"]["perplexity"] > 1 and results["knowledge"]["base"]["perplexity"] > 1
    forgetting = results["forgetting"]
    probe = [json.loads(line) for line in probe_file("en").read_text(encoding="utf-8").splitlines()
             if line.startswith("{")]
    assert forgetting["base"]["total"] == forgetting["model"]["total"] == len(probe)
    for who in ("base", "model"):
        s = forgetting[who]
        assert s["ci95_low"] <= s["accuracy"] <= s["ci95_high"]
        assert sum(h["total"] for h in s["by_split"].values()) == len(probe)
    assert forgetting["drop_points"] == pytest.approx(
        round(100 * (forgetting["base"]["accuracy"] - forgetting["model"]["accuracy"]), 1))
    choice = results["forgetting_choice"]  # the probe as a choice by likelihood, every question
    for who in ("base", "model"):
        rows = read_jsonl(out / f"{who}_probe_choice_answers.jsonl")
        assert choice[who]["total"] == len(rows) == len(probe) and choice[who]["chance"] == 0.25
        assert choice[who]["correct"] == sum(r["correct"] for r in rows)
        for row in rows:  # right means the accepted answer (the first option) is the likeliest
            assert len(row["options"]) == len(row["scores"]) == 4
            assert row["correct"] == (row["scores"].index(max(row["scores"])) == 0)
    assert choice["drop_points"] == pytest.approx(
        round(100 * (choice["base"]["accuracy"] - choice["model"]["accuracy"]), 1))
    # as a choice too the served model routes the probe to the base model; the weights' own choice is *_alone
    base_choice = read_jsonl(out / "base_probe_choice_answers.jsonl")
    routed_choice = read_jsonl(out / "model_probe_choice_answers.jsonl")
    assert {r["answered_by"] for r in routed_choice} == {"base"} and choice["model"]["answered_by_base"] == len(probe)
    flat = lambda rows: [score for r in rows for score in r["scores"]]  # noqa: E731
    assert flat(routed_choice) == pytest.approx(flat(base_choice), abs=1e-4)
    alone_choice = read_jsonl(out / "model_probe_choice_alone_answers.jsonl")
    assert choice["model_alone"]["total"] == len(alone_choice) == len(probe) and "answered_by" not in alone_choice[0]
    assert flat(alone_choice) != pytest.approx(flat(base_choice), abs=1e-4)
    assert choice["alone_drop_points"] == pytest.approx(
        round(100 * (choice["base"]["accuracy"] - choice["model_alone"]["accuracy"]), 1))
    # routing: the probe's questions name nothing of the knowledge base, so the base model answers them;
    # the adapter's own answers are the probe_alone pass
    routed, base = read_jsonl(out / "model_probe_answers.jsonl"), read_jsonl(out / "base_probe_answers.jsonl")
    assert {r["answered_by"] for r in routed} == {"base"} and forgetting["model"]["answered_by_base"] == len(probe)
    assert [r["reply"] for r in routed] == [r["reply"] for r in base]
    alone = read_jsonl(out / "model_probe_alone_answers.jsonl")
    assert forgetting["model_alone"]["total"] == len(alone) == len(probe) and "answered_by" not in alone[0]
    assert [r["reply"] for r in alone] != [r["reply"] for r in base]
    assert forgetting["alone_drop_points"] == pytest.approx(
        round(100 * (forgetting["base"]["accuracy"] - forgetting["model_alone"]["accuracy"]), 1))
    assert results["labels"]["model_alone"] == "fine-tuned, adapter on for every question"
    assert {r["answered_by"] for r in read_jsonl(out / "model_answers.jsonl")} == {"fine-tuned"}
    for who in ("base", "model"):
        h = results["hallucination"][who]
        assert h["total"] == 3 and h["declines"] + h["hedges"] + h["asserts"] == 3
        # the fact check ran on every reply (the run's facts); each reply it noted is a hedge
        rows = read_jsonl(out / f"{who}_unanswerable_answers.jsonl")
        assert all(isinstance(r["ungrounded"], bool) for r in rows)
        assert h["ungrounded"] == sum(r["ungrounded"] for r in rows) <= h["hedges"]
        assert all(r["kind"] == "hedges" for r in rows if r["ungrounded"])


def test_gold_is_the_taught_sentence_and_rag_prompts_hold_top_k_passages(full_eval):
    _, out = full_eval
    rows = {r["question"]: r for r in read_jsonl(out / "model_answers.jsonl")}
    assert rows["Could you tell me what the capital of Hainan is?"]["gold"] == "The capital of Hainan is Haikou."
    assert rows["能告诉我海南的省会是什么吗？"]["gold"] == "海南的省会是海口。"
    rag = read_jsonl(out / "base_rag_answers.jsonl")
    assert all(len(r["passages"]) == 2 for r in rag)
    capital = next(r for r in rag if r["question"] == "Could you tell me what the capital of Hainan is?")
    assert capital["passages"][0] == "The capital of Hainan is Haikou." and capital["gold_retrieved"] is True
    kinds = {r["kind"] for r in read_jsonl(out / "model_unanswerable_answers.jsonl")}
    assert kinds <= {"declines", "hedges", "asserts"}


def test_markdown_and_html_reports_with_embedded_images(full_eval):
    _, out = full_eval
    markdown = (out / "report.md").read_text(encoding="utf-8")
    for heading in ("## Knowledge: held-out questions", "## Hallucination", "## Forgetting",
                    "## Training loss", "## Example answers"):
        assert heading in markdown
    assert "| fine-tuned + RAG |" in markdown
    assert "| model | choice accuracy | 95 % interval | dev | test |" in markdown and "(chance 25.0%)" in markdown
    choice_table = markdown.split("| model | choice accuracy |")[1].split("\n\n")[0]
    assert "| fine-tuned, adapter on for every question |" in choice_table
    assert "| drop, adapter on for every question (points) |" in choice_table
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)
    assert {"scorecard.png", "systems.png", "categories.png", "loss.png"} <= set(images)
    html = (out / "report.html").read_text(encoding="utf-8")
    embedded = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(embedded) == len(images) and not re.search(r'src="(?!data:)', html)
    for name, data in zip(images, embedded):
        png = base64.b64decode(data)
        assert png.startswith(PNG) and png == (out / name).read_bytes()
    assert "<table>" in html and "fine-tuned + RAG" in html


def test_runs_comparison(tiny_run, tmp_path):
    other = tmp_path / "run-b"
    shutil.copytree(tiny_run, other)
    out = tmp_path / "compare"
    proc = knowtune("eval", "--runs", f"{tiny_run},{other}", "--no-probes", "--no-hallucination", "--out", out)
    assert proc.returncode == 0, proc.stderr
    results = json.loads((out / "metrics.json").read_text())
    assert list(results["runs"]) == [tiny_run.name, "run-b"]
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert f"| {tiny_run.name} | lora |" in markdown and "| run-b | lora |" in markdown
    assert "comparison.png" in markdown and (out / "comparison.png").read_bytes().startswith(PNG)
    assert "data:image/png;base64," in (out / "report.html").read_text(encoding="utf-8")
    assert (other / "eval" / "report.html").is_file()
    # the same weights on the same questions: the same answers
    a, b = (json.loads((r / "eval" / "metrics.json").read_text())["knowledge"] for r in (tiny_run, other))
    assert a["model"]["correct"] == b["model"]["correct"] and a["model"]["f1"] == b["model"]["f1"]


def test_base_model_with_a_knowledge_base(tiny_qwen, facts_file, tmp_path):
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"question": "Which city governs Hainan?", "answers": ["Haikou"]}\n', encoding="utf-8")
    out = tmp_path / "e"
    proc = knowtune("eval", "--model", tiny_qwen, "--questions", questions, "--kb", facts_file, "--no-probes",
                    "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^accuracy: \d+\.\d% \(\d/1\)$", proc.stdout, re.M)
    results = json.loads((out / "metrics.json").read_text())
    assert list(results["knowledge"]) == ["model", "model_rag"] and "base" not in results
    rag = read_jsonl(out / "model_rag_answers.jsonl")[0]
    assert rag["passages"][0] == "The capital of Hainan is Haikou."


@pytest.mark.parametrize("args,needle", [
    (["--runs", "RUN,RUN2", "--run", "RUN"], "field '--run': give exactly one of --run, --runs or --model"),
    (["--run", "RUN", "--top-k", "0"], "field '--top-k': must be >= 1, got 0"),
    (["--runs", "RUN"], "field '--runs': give at least two comma-separated run directories"),
    (["--runs", "RUN,NOWHERE"], "NOWHERE: field '--runs': not a run directory (no adapter/)"),
    (["--run", "RUN", "--unanswerable", "BAD"], "BAD:1: field 'question': missing or empty"),
    (["--run", "RUN", "--kb", "NOWHERE.jsonl"], "NOWHERE.jsonl: file not found"),
    (["--model", "x"], "field '--questions': a base model needs --questions"),
])
def test_eval_bad_input_is_one_line_exit_2(tiny_run, tmp_path, args, needle):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"subject": "Hainan"}\n')
    other = tmp_path / "run2"
    shutil.copytree(tiny_run, other)
    names = {"RUN": str(tiny_run), "RUN2": str(other), "BAD": str(bad), "NOWHERE": str(tmp_path / "nowhere")}
    args = [re.sub("|".join(names), lambda m: names[m.group(0)], a) for a in args]
    needle = re.sub("|".join(names), lambda m: names[m.group(0)], needle)
    out = tmp_path / "out"
    proc = knowtune("eval", *args, "--out", out)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and needle in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()


def test_perplexity_matches_the_models_own_loss(tiny_qwen):
    import torch

    from knowtune.data import encode_chat, with_system
    from knowtune.eval.likelihood import answer_logprobs, mean_probability, perplexity
    from knowtune.models import load_model

    loaded = load_model(str(tiny_qwen))
    chats = [("What is the capital of Hainan?", "The capital of Hainan is Haikou."), ("海南的省会是？", "海口。")]
    logprobs = answer_logprobs(loaded.model, loaded.tokenizer, chats, system="Be brief.", batch_size=2)
    losses, counts = [], []
    for question, answer in chats:  # transformers' own shifted cross-entropy, one chat at a time
        messages = with_system([{"role": "user", "content": question}, {"role": "assistant", "content": answer}],
                               "Be brief.")
        enc = encode_chat(loaded.tokenizer, messages, 1024)
        with torch.no_grad():
            out = loaded.model(input_ids=torch.tensor([enc["input_ids"]]), labels=torch.tensor([enc["labels"]]))
        counts.append(sum(label != -100 for label in enc["labels"][1:]))
        losses.append(out.loss.item())
        assert len(logprobs[len(losses) - 1]) == counts[-1]
        assert math.exp(-sum(logprobs[len(losses) - 1]) / counts[-1]) == pytest.approx(math.exp(losses[-1]), rel=1e-4)
    pooled = math.exp(sum(loss * n for loss, n in zip(losses, counts)) / sum(counts))
    assert perplexity(logprobs) == pytest.approx(pooled, rel=1e-4)
    assert mean_probability([math.log(0.5), math.log(0.25)]) == pytest.approx(0.375)
    assert perplexity([[]]) is None


def test_natural_questions_are_scored_beside_the_template_ones_by_half(tiny_run, tmp_path):
    from tiny import TINY_FACTS

    rows = [{"question": f"Tell me, {f['subject']}: {f['relation']}?", "answers": [f["answer"]]} for f in TINY_FACTS[:2]]
    rows += [{"question": f"So what about {f['subject']} and its {f['relation']}?", "answers": [f["answer"]],
              "set": "natural", "split": split, "form": "synonym"}
             for f, split in zip(TINY_FACTS, ["dev", "test", "test"])]
    questions = tmp_path / "q.jsonl"
    questions.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    proc = knowtune("eval", "--run", tiny_run, "--questions", questions, "--out", tmp_path / "eval",
                    "--no-probes", "--no-hallucination")
    assert proc.returncode == 0, proc.stderr
    results = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert results["knowledge"]["model"]["total"] == 2  # the template questions alone
    natural = results["natural"]
    assert list(natural) == ["base", "base_rag", "model", "model_rag"]
    for summary in natural.values():
        assert summary["total"] == 3
        assert {h: s["total"] for h, s in summary["by_split"].items()} == {"dev": 1, "test": 2}
        assert summary["correct"] == sum(s["correct"] for s in summary["by_split"].values())
    report = (tmp_path / "eval" / "report.md").read_text(encoding="utf-8")
    assert "## Knowledge: natural questions" in report and "| natural dev | natural test |" in report
    for who in ("base_rag", "model_rag"):  # passages only where unsure, and what always retrieving scored
        assert natural[who]["retrieve_below"] == 0.8 and 0 <= natural[who]["retrieved_share"] <= 1
        assert natural[who]["always_retrieved_by_split"]["test"]["total"] == 2
    assert "with passages for every question: dev" in report
    # the command that writes this report again, with the options that changed it
    assert (f"command: knowtune eval --run {tiny_run} --questions {questions} --no-probes --no-hallucination "
            f"--out {tmp_path / 'eval'}") in report
