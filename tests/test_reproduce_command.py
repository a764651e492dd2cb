"""Every report says the command that writes it again: the options that differ from the defaults,
as flags the command line reads back to the same options."""

import dataclasses
import shlex
from pathlib import Path

import typer

from knowtune.cli import app
from knowtune.commands.demo import demo_command_line
from knowtune.commands.evaluate import EvalOptions, eval_command_line


def parsed(words: list[str]) -> dict:
    """What the CLI reads from `knowtune NAME ARGS`: its parameters, nothing run."""
    group = typer.main.get_command(app)
    command = group.commands[words[1]]
    return command.make_context(words[1], words[2:]).params


def test_the_eval_command_line_reads_back_as_the_same_options():
    options = EvalOptions(questions=Path("q.jsonl"), base=False, top_k=5, probes=False, kb=Path("facts.jsonl"),
                          hedge_below=0.7, retrieve_below=1.0, fact_check=False, route=False, overwrite=True)
    words = shlex.split(eval_command_line(Path("runs/x"), options, Path("elsewhere")))
    params = parsed(words)
    assert params["run"] == Path("runs/x") and params["out"] == Path("elsewhere")
    for field in dataclasses.fields(EvalOptions):
        if field.name != "overwrite":  # where to write, not what is measured
            assert params[field.name] == getattr(options, field.name), field.name
    assert "--overwrite" not in words


def test_the_default_eval_command_line_is_the_bare_command():
    assert eval_command_line(Path("runs/x"), EvalOptions(), Path("runs/x/eval")) == "knowtune eval --run runs/x"


def test_the_demo_command_line_reads_back():
    words = shlex.split(demo_command_line("zh", "gemma3-270m", "dora", Path("runs/d"), {"epochs": 2, "seed": 7}, 0.2))
    params = parsed(words)
    assert (params["lang"], params["model"], params["method"], params["out"]) == ("zh", "gemma3-270m", "dora",
                                                                                  Path("runs/d"))
    assert params["set_"] == ["epochs=2", "seed=7"]
    assert params["retrieval"] == "0.2"
    assert demo_command_line("en", None, "lora", None, {}, None) == "knowtune demo --lang en"
