"""Preference pairs: LLaMA-Factory ranking sets read, pairs from a model's wrong answers (never a held-out
question), and the command line from facts to a dpo run on a tiny random model."""

import json

import pytest
import yaml
from tiny import knowtune, write_facts

from knowtune.commands.data import build_command
from knowtune.config import KnowtuneError
from knowtune.data import load_dataset_dir
from knowtune.data.formats import load_inputs
from knowtune.eval import pairs as pairs_mod
from knowtune.eval.pairs import bare, pair_questions, wrong_answer_pairs


def write_json(path, data):
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    return path


ALPACA = [{"instruction": "Capital of Freedonia?", "input": "", "chosen": "Sylvania City.", "rejected": "Paris."},
          {"instruction": "Highest peak?", "input": "Of Freedonia", "chosen": "Mount Gogol.", "rejected": "I forget.",
           "system": "Be brief."}]
SHAREGPT = [{"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"},
                               {"from": "human", "value": "Capital of Freedonia?"}],
             "chosen": {"from": "gpt", "value": "Sylvania City."}, "rejected": {"from": "gpt", "value": "Rome."}}]


def ranking_folder(tmp_path, alpaca=ALPACA, sharegpt=SHAREGPT):
    write_json(tmp_path / "a.json", alpaca)
    write_json(tmp_path / "s.json", sharegpt)
    write_json(tmp_path / "dataset_info.json", {
        "prefs": {"file_name": "a.json", "ranking": True,
                  "columns": {"prompt": "instruction", "query": "input", "chosen": "chosen", "rejected": "rejected",
                              "system": "system"}},
        "chats": {"file_name": "s.json", "ranking": True, "formatting": "sharegpt",
                  "columns": {"messages": "conversations", "chosen": "chosen", "rejected": "rejected"}}})
    return tmp_path / "dataset_info.json"


def test_llamafactory_ranking_alpaca_and_sharegpt(tmp_path):
    inputs = load_inputs([ranking_folder(tmp_path)])
    alpaca, brief, chat = inputs.conversations
    assert alpaca.messages == [{"role": "user", "content": "Capital of Freedonia?"},
                               {"role": "assistant", "content": "Sylvania City."}] and alpaca.rejected == "Paris."
    assert brief.messages[0] == {"role": "system", "content": "Be brief."}
    assert brief.messages[1]["content"] == "Highest peak?\nOf Freedonia" and brief.rejected == "I forget."
    assert [m["content"] for m in chat.messages] == ["Hi", "Hello", "Capital of Freedonia?", "Sylvania City."]
    assert chat.rejected == "Rome."
    assert [s["format"] for s in inputs.sources] == ["llamafactory/alpaca-ranking", "llamafactory/sharegpt-ranking"]
    # built into a data set: each trained record keeps its rejected reply
    built = build_command([tmp_path / "dataset_info.json"], tmp_path / "built", model=None, seed=0, heldout_ratio=0)
    train, _ = load_dataset_dir(built)
    assert sorted(s["rejected"] for s in train) == ["I forget.", "Paris.", "Rome."]


@pytest.mark.parametrize("alpaca,sharegpt,where,why", [
    ([{"instruction": "Q?", "chosen": "A.", "rejected": ""}], SHAREGPT, "a.json:2: field 'rejected'", "non-empty"),
    ([{"instruction": "Q?", "chosen": "A.", "rejected": 3}], SHAREGPT, "a.json:2: field 'rejected'", "non-empty"),
    (ALPACA, [dict(SHAREGPT[0], chosen={"from": "human", "value": "x"})], "s.json:2: field 'chosen.from'", "'gpt'"),
    (ALPACA, [dict(SHAREGPT[0], rejected="Rome.")], "s.json:2: field 'rejected'", "turn object"),
])
def test_bad_ranking_rows_give_one_line_errors(tmp_path, alpaca, sharegpt, where, why):
    info = ranking_folder(tmp_path, alpaca, sharegpt)
    with pytest.raises(KnowtuneError) as err:
        load_inputs([info])
    assert why in str(err.value)
    done = knowtune("data", "build", info, "--out", tmp_path / "out")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and where in lines[0] and why in lines[0], done.stderr


def test_a_ranking_entry_naming_a_missing_column_is_refused(tmp_path):
    info = ranking_folder(tmp_path)
    data = json.loads(info.read_text())
    data["prefs"]["columns"]["rejected"] = "worse"
    write_json(info, data)
    with pytest.raises(KnowtuneError, match="missing column 'worse'"):
        load_inputs([info])


def test_pairs_keep_only_wrong_replies_and_never_a_heldout_question(tmp_path, monkeypatch):
    facts = write_facts(tmp_path / "facts.jsonl")
    data = build_command([facts], tmp_path / "data", model=None, seed=0)
    train, heldout = load_dataset_dir(data)
    # a held-out question slipped into the training set is still never asked
    leaked = dict(train[0], messages=[{"role": "user", "content": heldout[0]["question"].upper() + "!"},
                                      train[0]["messages"][1]], fact=heldout[0]["fact"], form="template")
    from knowtune.commands.pairs import _facts

    kb = _facts(data)
    asked = pair_questions(train + [leaked], kb, heldout)
    held = {bare(q["question"]) for q in heldout}
    assert asked and not any(bare(s["messages"][0]["content"]) in held for s in asked)
    assert all(isinstance(s["fact"], int) and s.get("form") not in ("boundary", "retrieval", "passage") for s in asked)

    def replies(model, tokenizer, questions, **kw):  # right for every other question
        return [{"question": q["question"], "reply": q["answers"][0] if i % 2 else "No idea.",
                 "correct": bool(i % 2)} for i, q in enumerate(questions)]

    monkeypatch.setattr(pairs_mod, "answer_questions", replies)
    pairs, counts = wrong_answer_pairs(None, None, asked, kb, system="")
    assert counts == {"asked": len(asked), "right": len(asked) // 2, "pairs": len(asked) - len(asked) // 2}
    assert all(p["rejected"] == "No idea." for p in pairs)
    assert [p["messages"] for p in pairs] == [s["messages"] for s in asked[::2]]  # chosen: the taught answer


def test_per_fact_limits_the_questions(tmp_path):
    data = build_command([write_facts(tmp_path / "facts.jsonl")], tmp_path / "data", model=None, seed=0)
    train, heldout = load_dataset_dir(data)
    from knowtune.commands.pairs import _facts

    asked = pair_questions(train, _facts(data), heldout, per_fact=2, seed=1)
    assert max(list(map(lambda s: s["fact"], asked)).count(f) for f in {s["fact"] for s in asked}) == 2


def test_cli_pairs_then_dpo_on_a_tiny_model(tmp_path, tiny_qwen):
    facts = write_facts(tmp_path / "facts.jsonl")
    assert knowtune("data", "build", facts, "--out", tmp_path / "data").returncode == 0
    done = knowtune("data", "pairs", tmp_path / "data", "--model", tiny_qwen, "--per-fact", "3",
                    "--out", tmp_path / "pairs")
    assert done.returncode == 0, done.stderr
    train, heldout = load_dataset_dir(tmp_path / "pairs")
    assert train and all(s["rejected"] for s in train) and heldout
    done = knowtune("train", "--data", tmp_path / "pairs", "--model", tiny_qwen, "--out", tmp_path / "run",
                    "--set", "stage=dpo", "--set", "beta=0.2", "--set", "precision=fp32", "--set", "epochs=1",
                    "--no-compile")
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert config["stage"] == "dpo" and config["beta"] == 0.2 and config["learning_rate"] == pytest.approx(1e-4)
    assert not (tmp_path / "run" / "replay.jsonl").exists()  # the preference stage mixes no replay in
    # a stage without pairs: one line naming the field, exit code 2
    done = knowtune("train", "--data", tmp_path / "data", "--model", tiny_qwen, "--out", tmp_path / "run2",
                    "--set", "stage=orpo", "--set", "epochs=1", "--set", "replay=0", "--no-compile")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1 and "stage" in done.stderr, done.stderr
    # bad values of the new fields are refused the same way
    done = knowtune("train", "--data", tmp_path / "pairs", "--model", tiny_qwen, "--out", tmp_path / "run3",
                    "--set", "stage=ppo")
    assert done.returncode == 2 and "stage" in done.stderr.strip().splitlines()[-1]
