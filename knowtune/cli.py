"""The `knowtune` command: a thin typer front over the library.

Bad input ends with a one-line `error: file:line: field 'x': why` and exit code 2.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

# ALLOCATOR_ENV: the benches import it from here, at older commits too
from .commands.process import ALLOCATOR_ENV, click_errors, interrupt_on_signals, stable_allocator  # noqa: F401
from .config import ANSWER_BATCH, HEDGE_BELOW, RETRIEVE_BELOW, KnowtuneError

HEDGE_HELP = ("Add a note that it may be wrong to a reply the model is less sure of than this (geometric mean "
              "token probability, greedy decoding only); 0: never.")
FACT_CHECK_HELP = ("Add a note to a reply about the knowledge base that none of its facts backs (the question "
                   "naming one side of a fact, the reply the other).")
ROUTE_HELP = ("Answer questions outside the knowledge base (naming none of its subjects, answers or their rare "
              "words) with the adapter off, by the base model, which forgot nothing.")
RAG_HELP = (f"Ask a question again with passages of the run's knowledge base where the reply without them is "
            f"less sure than {RETRIEVE_BELOW} or no fact backs it, as eval's fine-tuned + RAG row.")

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Teach a small language model your knowledge base by fine-tuning, and prove it learned.")
RETRIEVAL_HELP = ("Share of the fact questions (0 to 1) also trained with retrieved passages in the prompt, "
                  "as RAG asks them: the right passage among distractors, or distractors only (default 0).")
data_app = typer.Typer(no_args_is_help=True, help="Build and preview training sets.")
app.add_typer(data_app, name="data")


def _overrides(pairs: list[str] | None, **named) -> dict:
    from .config import parse_override

    values = {k: v for k, v in named.items() if v is not None}
    for pair in pairs or []:
        key, value = parse_override(pair)
        values[key] = value
    return values


@data_app.command("build")
def data_build(
    files: List[Path] = typer.Argument(..., help="Inputs: facts JSONL, documents (.md .txt .html .docx .pdf), QA sets (alpaca, sharegpt, OpenAI messages, question/answer tables; .json .jsonl .csv .parquet), a LLaMA-Factory dataset_info.json, or folders of these."),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory (written whole or not at all)."),
    format_: Optional[str] = typer.Option(None, "--format", help="Read every input as: facts, document, alpaca, sharegpt, openai, qa or llamafactory (default: detected)."),
    model: Optional[str] = typer.Option(None, help="Count tokens with this model's tokenizer."),
    max_len: Optional[int] = typer.Option(None, "--max-len", help="Longest sample in tokens (with the chat template); longer ones are dropped or truncated."),
    over_long: str = typer.Option("drop", "--over-long", help="What --max-len does to a longer sample: drop or truncate."),
    heldout_ratio: float = typer.Option(0.1, "--heldout-ratio", help="Share of QA-set records held out for evaluation (whole records)."),
    dataset: Optional[List[str]] = typer.Option(None, "--dataset", help="Only these data sets of a dataset_info.json (repeatable)."),
    generator_url: Optional[str] = typer.Option(None, "--generator-url", help="OpenAI-compatible endpoint that writes extra questions for documents (default: offline rules only)."),
    generator_model: Optional[str] = typer.Option(None, "--generator-model", help="Model name to ask at --generator-url."),
    generator_key: Optional[str] = typer.Option(None, "--generator-key", envvar="KNOWTUNE_GENERATOR_KEY", help="API key for --generator-url."),
    seed: int = typer.Option(0, help="Seed of the sample shuffle and of the QA held-out split."),
    heldout: Optional[List[Path]] = typer.Option(None, "--heldout", help="Your own test questions (JSONL: question, answers, optional split dev/test): never trained on, scored as 'natural' beside the template held-out set (repeatable)."),
    augment: bool = typer.Option(True, "--augment/--no-augment", help="Also ask each fact with other words, other names of its subject and backwards, and add each subject's page and the documents' text (default on)."),
    boundary: Optional[str] = typer.Option(None, "--boundary", metavar="SHARE", help="Refusal samples per fact question, 0 to 0.5: questions the facts do not answer (a relation a subject lacks, a made-up subject), answered 'I don't know: that is not in my knowledge base.' (default 0.08; 0 turns them off)."),
    retrieval: Optional[str] = typer.Option(None, "--retrieval", metavar="SHARE", help=RETRIEVAL_HELP),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace OUT even when it is not a knowtune data set (default: only an earlier data set is replaced)."),
    limit: Optional[List[str]] = typer.Option(None, "--limit", help="Input bounds, e.g. --limit file_mb=512 --limit records=2000000 (keys: file_mb, records, line_kb, depth, unpacked_mb)."),
    allow_outside: bool = typer.Option(False, "--allow-outside", help="Let a dataset_info.json name files outside its own folder."),
):
    """Knowledge -> training samples (paraphrased questions, full-sentence answers) + held-out questions."""
    from .commands.data import build_command
    from .data.bounds import parse_limits

    build_command(files, out, model=model, seed=seed, fmt=format_, max_len=max_len, over_long=over_long,
                  heldout_ratio=heldout_ratio, datasets=dataset, generator_url=generator_url,
                  generator_model=generator_model, generator_key=generator_key, augment=augment,
                  heldout=heldout, overwrite=overwrite, limits=parse_limits(limit), allow_outside=allow_outside,
                  boundary=boundary,
                  retrieval=retrieval)


@data_app.command("show")
def data_show(
    path: Path = typer.Argument(..., help="A built dataset directory."),
    n: int = typer.Option(5, "--n", help="How many samples to show."),
    split: str = typer.Option("train", "--split", help="train, heldout or pretrain."),
):
    """Preview samples of a built dataset and print its stats."""
    from .commands.data import show_command

    show_command(path, n, split)


@data_app.command("pairs")
def data_pairs(
    data: Path = typer.Argument(..., help="A built dataset directory (`knowtune data build` of facts or documents)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output dataset directory of pairs (written whole or not at all)."),
    model: Optional[str] = typer.Option(None, help="The model that answers: a preset, model directory or .gguf (default smollm2-135m)."),
    run: Optional[Path] = typer.Option(None, "--run", "-r", help="Let a run's fine-tuned model answer instead (e.g. the sft run a dpo stage follows)."),
    per_fact: int = typer.Option(0, "--per-fact", help="Ask at most this many training questions of each fact (0: all)."),
    seed: int = typer.Option(0, help="Seed of the --per-fact choice."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace OUT even when it is not a knowtune data set."),
):
    """Preference pairs from a model's own wrong answers to the training questions (taught answer: chosen,
    its reply: rejected), for `knowtune train --set stage=dpo` (or orpo, kto). Held-out questions are never asked."""
    from .commands.pairs import pairs_command

    pairs_command(data, out, model=model, run=run, per_fact=per_fact, seed=seed, overwrite=overwrite)


@app.command()
def train(
    data: str = typer.Option(..., "--data", "-d", help="A built dataset directory, or facts JSONL file(s) (comma-separated) built on the fly."),
    out: Path = typer.Option(..., "--out", "-o", help="Run directory to write."),
    model: Optional[str] = typer.Option(None, help="Preset, model directory or .gguf (default smollm2-135m; gemma3-270m for mostly-Chinese knowledge)."),
    method: Optional[str] = typer.Option(None, help="Fine-tuning method (`knowtune methods` lists them)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML config; command-line options override it."),
    epochs: Optional[float] = typer.Option(None, help="Passes over the training set (default: the model's recipe, else 1.5)."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Peak learning rate (default: the method's, see `knowtune methods`)."),
    seed: Optional[int] = typer.Option(None, help="Random seed."),
    set_: Optional[List[str]] = typer.Option(None, "--set", help="Any config key: --set batch_size=4 --set params.r=8."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run from its newest checkpoint."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run in OUT, or an interrupted run's checkpoints (never done without it)."),
    report_to: Optional[str] = typer.Option(None, "--report-to", help="Log loss, learning rate, tokens/s and eval scores to tensorboard, mlflow and/or wandb (comma-separated; offline, into RUN/tracking)."),
    compile_: Optional[bool] = typer.Option(None, "--compile/--no-compile", help="torch.compile the model's blocks, or not (default auto: LoRA on a CPU, models of 50M+ parameters, 20+ steps; the first run of a model compiles for 30-60 s, cached)."),
    allow_pickle: bool = typer.Option(False, "--allow-pickle", help="Allow pickle-based weights (.bin): unpickling can run code."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help="Allow a model directory's own Python code to run."),
):
    """Fine-tune a model on a knowledge set; writes adapter, config, metrics and loss curve."""
    from .commands.train import train_command

    overrides = _overrides(set_, model=model, method=method, epochs=epochs, learning_rate=lr, seed=seed,
                           compile=compile_, report_to=report_to, allow_pickle=allow_pickle or None,
                           trust_remote_code=trust_remote_code or None)
    train_command(data, out, config, overrides, model_named=model is not None or "model" in overrides,
                  resume=resume, overwrite=overwrite)


@app.command("eval")
def eval_(
    run: Optional[Path] = typer.Option(None, "--run", "-r", help="Run directory to evaluate."),
    runs: Optional[str] = typer.Option(None, "--runs", help="Compare several runs: comma-separated run directories."),
    model: Optional[str] = typer.Option(None, help="Evaluate a base model instead (needs --questions)."),
    questions: Optional[Path] = typer.Option(None, help='Questions JSONL: {"question": str, "answers": [str]} per line (default: the run\'s held-out set).'),
    base: bool = typer.Option(True, "--base/--no-base", help="Also score the run's base model on the same questions."),
    rag: bool = typer.Option(True, "--rag/--no-rag", help="Also answer with BM25-retrieved passages of the knowledge base in the prompt."),
    top_k: int = typer.Option(3, "--top-k", help="Passages retrieved per question."),
    probes: bool = typer.Option(True, "--probes/--no-probes", help="Score the general-knowledge probe (forgetting)."),
    hallucination: bool = typer.Option(True, "--hallucination/--no-hallucination", help="Ask questions the knowledge base cannot answer and count confident answers."),
    unanswerable: Optional[Path] = typer.Option(None, help='Unanswerable questions JSONL, {"question": str} per line (default: the bundled Hainan set when the knowledge is about Hainan).'),
    kb: Optional[Path] = typer.Option(None, "--kb", help="Knowledge base to retrieve from: a run, a built dataset or facts JSONL (default: the run's own)."),
    batch_size: int = typer.Option(ANSWER_BATCH, "--batch-size", help="Questions answered per batch."),
    hedge_below: float = typer.Option(HEDGE_BELOW, "--hedge-below", help=HEDGE_HELP),
    fact_check: bool = typer.Option(True, "--fact-check/--no-fact-check", help=FACT_CHECK_HELP),
    route: bool = typer.Option(True, "--route/--no-route", help=ROUTE_HELP),
    retrieve_below: float = typer.Option(RETRIEVE_BELOW, "--retrieve-below", help="The + RAG rows retrieve passages only for questions whose closed-book reply is less sure than this; 1: for every question."),
    out: Optional[Path] = typer.Option(None, help="Where to write answers, metrics and reports (default RUN/eval)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace OUT even when it is not a knowtune evaluation (default: only an earlier evaluation is replaced)."),
):
    """Did it learn, did it forget, would RAG do better: held-out accuracy and overlap metrics, perplexity,
    retrieval, probe and hallucination passes; JSON, Markdown and HTML reports. Prints `accuracy: NN.N% (k/n)`."""
    from .commands.evaluate import EvalOptions, eval_model, eval_run
    from .config.coerce import check_valid, cli_flag

    if sum(x is not None for x in (run, model, runs)) != 1:
        raise KnowtuneError("give exactly one of --run, --runs or --model", field="--run")
    options = EvalOptions(questions=questions, base=base, rag=rag, top_k=top_k, probes=probes,
                          hallucination=hallucination, unanswerable=unanswerable, kb=kb, batch_size=batch_size,
                          hedge_below=hedge_below, retrieve_below=retrieve_below, fact_check=fact_check,
                          route=route, overwrite=overwrite)
    check_valid(options, field=cli_flag)
    if runs is not None:  # compare builds on evaluate, so the choice between the two is made here
        from .commands.compare import compare_command

        compare_command(runs, out, options)
    elif run is not None:
        eval_run(run, options, out or run / "eval")
    else:
        eval_model(model, options, out)


@app.command()
def chat(
    run: Optional[Path] = typer.Option(None, "--run", "-r", help="Chat with a run's fine-tuned model."),
    model: Optional[str] = typer.Option(None, help="Chat with a base model (preset, directory or .gguf)."),
    message: Optional[List[str]] = typer.Option(None, "--message", "-m", help="Ask this and exit (repeatable)."),
    max_new_tokens: int = typer.Option(256, help="Longest reply in tokens."),
    temperature: float = typer.Option(0.0, help="0 for greedy decoding."),
    hedge_below: float = typer.Option(HEDGE_BELOW, "--hedge-below", help=HEDGE_HELP),
    fact_check: bool = typer.Option(True, "--fact-check/--no-fact-check", help=FACT_CHECK_HELP),
    route: bool = typer.Option(True, "--route/--no-route", help=ROUTE_HELP),
    rag: bool = typer.Option(False, "--rag", help=RAG_HELP),
):
    """Talk to a model, streaming its replies (/reset clears the history, /exit quits)."""
    from .commands.chat import chat_command

    chat_command(run, model, message, max_new_tokens, temperature, hedge_below, fact_check, route, rag)


@app.command()
def serve(
    run: Optional[Path] = typer.Option(None, "--run", "-r", help="Serve a run's fine-tuned model."),
    model: Optional[str] = typer.Option(None, help="Serve a base model (preset, directory or .gguf)."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on (loopback by default)."),
    port: int = typer.Option(8000, help="TCP port."),
    api_key: Optional[str] = typer.Option(None, envvar="KNOWTUNE_API_KEY",
                                          help="Require 'Authorization: Bearer KEY' (or set KNOWTUNE_API_KEY; visible in `ps` when given here)."),
    api_key_file: Optional[Path] = typer.Option(None, "--api-key-file", envvar="KNOWTUNE_API_KEY_FILE", help="Read the API key from this file's first line."),
    insecure: bool = typer.Option(False, "--insecure", help="Allow serving beyond loopback without an API key."),
    allow_host: Optional[List[str]] = typer.Option(None, "--allow-host", help="A Host name accepted besides loopback ones when serving on loopback without a key (repeatable)."),
    request_timeout: float = typer.Option(300.0, "--request-timeout", help="Seconds a request may take, queueing included; then it is stopped."),
    max_tokens: int = typer.Option(1024, help="Largest max_tokens a request may ask for."),
    max_prompt_tokens: int = typer.Option(4096, help="Longest prompt accepted, in tokens."),
    max_body_bytes: int = typer.Option(1_000_000, help="Largest request body accepted."),
    max_queue: int = typer.Option(32, help="Requests that may wait behind the running one; more get 429."),
    threads: Optional[int] = typer.Option(None, help="CPU threads for the model (default: torch's choice)."),
    hedge_below: float = typer.Option(HEDGE_BELOW, "--hedge-below", help=HEDGE_HELP),
    fact_check: bool = typer.Option(True, "--fact-check/--no-fact-check", help=FACT_CHECK_HELP),
    route: bool = typer.Option(True, "--route/--no-route", help=ROUTE_HELP),
    rag: bool = typer.Option(False, "--rag", help=RAG_HELP),
):
    """OpenAI-compatible API (/v1/chat/completions, /v1/completions, /v1/models)."""
    from .commands.serve import serve_command
    from .serve.settings import ServeSettings, read_secret

    if api_key_file is not None and api_key is not None and os.environ.get("KNOWTUNE_API_KEY") == api_key:
        api_key = None  # a key file named on purpose wins over a key left in the environment
    settings = ServeSettings(host=host, port=port, api_key=read_secret(api_key, api_key_file, field="--api-key"),
                             max_tokens=max_tokens, default_max_tokens=min(256, max_tokens),
                             max_prompt_tokens=max_prompt_tokens, max_body_bytes=max_body_bytes, max_queue=max_queue,
                             threads=threads, request_timeout=request_timeout, insecure=insecure,
                             allowed_hosts=tuple(allow_host or ()), hedge_below=hedge_below, fact_check=fact_check,
                             route=route, rag=rag)
    serve_command(run, model, settings)


@app.command()
def webui(
    root: Path = typer.Option(Path("."), "--root", help="Working folder: data sets go to ROOT/data, runs to ROOT/runs."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on (loopback by default)."),
    port: int = typer.Option(7860, help="TCP port."),
    auth: Optional[str] = typer.Option(None, "--auth", envvar="KNOWTUNE_AUTH", help="Login USER:PASSWORD (or a token, user 'knowtune'); required beyond loopback. Prefer the environment variable: arguments show in `ps`."),
    auth_file: Optional[Path] = typer.Option(None, "--auth-file", envvar="KNOWTUNE_AUTH_FILE", help="Read the login from this file's first line."),
    insecure: bool = typer.Option(False, "--insecure", help="Allow listening beyond loopback without a login."),
):
    """Web UI (Gradio): build data, train with any method (runs the CLI), evaluate, chat."""
    import importlib.util

    from .serve.settings import read_secret
    from .serve.webui.access import check_exposure, parse_login

    if auth_file is not None and auth is not None and os.environ.get("KNOWTUNE_AUTH") == auth:
        auth = None  # a file named on purpose wins over a login left in the environment
    login = parse_login(read_secret(auth, auth_file, field="--auth"))
    check_exposure(host, login, insecure)
    if importlib.util.find_spec("gradio") is None:
        raise KnowtuneError("the web UI needs gradio: pip install 'knowtune[serve]'", field="webui")
    from .serve.webui import launch

    launch(root, host=host, port=port, login=login)


@app.command()
def demo(
    lang: str = typer.Option("en", help="Knowledge-base language: en or zh."),
    model: Optional[str] = typer.Option(None, help="Model (default: smollm2-135m for en, gemma3-270m for zh)."),
    method: str = typer.Option("lora", help="Fine-tuning method."),
    out: Optional[Path] = typer.Option(None, help="Run directory (default runs/demo-LANG)."),
    compile_: Optional[bool] = typer.Option(None, "--compile/--no-compile", help="torch.compile the model's blocks, or not (default auto, see `knowtune train --help`)."),
    set_: Optional[List[str]] = typer.Option(None, "--set", help="Any config key, e.g. --set epochs=3."),
    retrieval: Optional[str] = typer.Option(None, "--retrieval", metavar="SHARE", help=RETRIEVAL_HELP),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace OUT and data/hainan-LANG even when they are not an earlier demo's."),
):
    """The whole job on the bundled Hainan encyclopedia: build, score before, fine-tune, score after."""
    from .commands.demo import demo_command

    demo_command(lang, model, method, out, _overrides(set_, compile=compile_), overwrite=overwrite,
                 retrieval=retrieval)


@app.command()
def export(
    run: Path = typer.Option(..., "--run", "-r", help="The run to export."),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory (written whole or not at all)."),
    format_: str = typer.Option("hf", "--format", help="hf (merged safetensors + tokenizer), gguf (llama.cpp file: Llama, Qwen2, Gemma 3) or ollama (the gguf and a Modelfile)."),
    dtype: str = typer.Option("float32", "--dtype", help="float32, bfloat16 or float16; gguf and ollama also q8_0, q4_0."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace OUT even when it is not a knowtune export (default: only an earlier export is replaced)."),
):
    """Merge a run's adapter into its base model and save it as a standalone model."""
    from .commands.export import export_command

    export_command(run, out, format_, dtype, overwrite=overwrite)


@app.command()
def compare(
    methods_: str = typer.Option(..., "--methods", help="Comma-separated methods to train, e.g. lora,dora,full (`knowtune methods` lists them)."),
    data: str = typer.Option(..., "--data", "-d", help="A built dataset directory, or facts JSONL file(s) (comma-separated) built once for all."),
    out: Path = typer.Option(Path("runs/compare"), "--out", "-o", help="Directory for the runs and the table (written whole or not at all)."),
    model: Optional[str] = typer.Option(None, help="Preset, model directory or .gguf (default smollm2-135m)."),
    lr: Optional[float] = typer.Option(None, "--lr", help="One learning rate for every method (default: each method's own)."),
    set_: Optional[List[str]] = typer.Option(None, "--set", help="A training key for all (--set epochs=1) or one method's parameter (--set lora.r=8)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace OUT even when it is not a knowtune bake-off (default: only an earlier bake-off is replaced)."),
):
    """Bake-off: train each method on the same data and budget, each in its own process; one table
    (Markdown, JSON, bar chart) of trainable params, time, tokens/s, peak memory, loss, accuracy, adapter size."""
    from .commands.bakeoff import compare_methods_command

    compare_methods_command(methods_, data, out, model, _overrides(set_, learning_rate=lr), overwrite=overwrite)


@app.command()
def methods():
    """List the fine-tuning methods and their parameters."""
    from .commands.methods import methods_command

    methods_command()


@app.command()
def inspect(model: str = typer.Argument(..., help="Preset, bundled architecture (e.g. qwen2.5-7b), model directory, config.json or .gguf.")):
    """Print a model's module tree and parameter count, built from its configuration alone (no weights)."""
    from .commands.inspect import inspect_command

    inspect_command(model)


@app.command()
def params(
    model: str = typer.Argument(..., help="Preset, bundled architecture, model directory, config.json or .gguf."),
    method: str = typer.Option("lora", help="Fine-tuning method (`knowtune methods` lists them)."),
    r: Optional[int] = typer.Option(None, "--r", help="The method's rank (params.r)."),
    target: Optional[str] = typer.Option(None, "--target", help="Comma-separated modules (params.target_modules)."),
    set_: Optional[List[str]] = typer.Option(None, "--set", help="Any method parameter: --set alpha=16."),
):
    """Exact trainable parameters of a method, per module, with the formula; peft's own summary line."""
    from .commands.inspect import params_command

    params_command(model, method, r=r, target=target, sets=_overrides(set_))


@app.command()
def estimate(
    model: Optional[str] = typer.Argument(None, help="Preset, bundled architecture, model directory, config.json or .gguf."),
    method: str = typer.Option("lora", help="Fine-tuning method."),
    r: Optional[int] = typer.Option(None, "--r", help="The method's rank (params.r)."),
    target: Optional[str] = typer.Option(None, "--target", help="Comma-separated modules (params.target_modules)."),
    set_: Optional[List[str]] = typer.Option(None, "--set", help="Any method parameter: --set alpha=16."),
    bits: Optional[int] = typer.Option(None, help="Storage of the frozen base: 32, 16, 8 or 4 (default: what `knowtune train` does)."),
    batch: int = typer.Option(8, help="Samples per micro-batch."),
    seq: int = typer.Option(256, help="Tokens per sample (padded length)."),
    answer_tokens: Optional[int] = typer.Option(None, help="Tokens that carry a label, per micro-batch (default: all)."),
    precision: str = typer.Option("bf16", help="Compute precision: bf16 (autocast) or fp32."),
    checkpointing: bool = typer.Option(False, "--checkpointing", help="Assume gradient checkpointing."),
    llamafactory_table: bool = typer.Option(False, "--llamafactory-table", help="LLaMA-Factory's hardware table beside our estimates."),
):
    """Peak training memory: weights, gradients, optimizer states, activations and logits."""
    from .commands.estimate import check_estimate_args, estimate_command, llamafactory_command

    check_estimate_args(model, llamafactory_table)
    if llamafactory_table:
        llamafactory_command()
        return
    estimate_command(model, method, r=r, target=target, sets=_overrides(set_), bits=bits, batch=batch, seq=seq,
                     answer_tokens=answer_tokens, precision=precision, checkpointing=checkpointing)


def main(argv: list[str] | None = None) -> None:
    if argv is None:
        stable_allocator()
        interrupt_on_signals()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from .commands.quiet import quiet_libraries

    quiet_libraries()
    try:
        code = app(args=argv, standalone_mode=False)  # typer returns 130 after Ctrl-C instead of raising
        if isinstance(code, int) and code:
            if code == 130:
                print("interrupted", file=sys.stderr)
            sys.exit(code)
    except KnowtuneError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(err.exit_code)
    except (typer.Exit, SystemExit) as exc:
        code = getattr(exc, "exit_code", getattr(exc, "code", 0))
        sys.exit(code or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as err:  # click usage errors carry their own exit code
        usage, abort = click_errors()
        if isinstance(err, usage):  # one line, as for every other bad input
            ctx = getattr(err, "ctx", None)
            hint = f"; see `{ctx.command_path} --help`" if ctx is not None else ""
            print(f"error: {err.format_message().rstrip('.')}{hint}", file=sys.stderr)
            sys.exit(err.exit_code)
        if isinstance(err, abort):
            sys.exit(130)
        raise


if __name__ == "__main__":
    main()
