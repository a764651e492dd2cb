"""Load test of `knowtune serve`, on loopback only, bounded in requests and time.

Starts the server as a subprocess (on a tiny random Qwen2 model built like the test
fixtures, or on --run / --model), sends --requests requests from --concurrency threads
(a mix of whole and streamed chat completions and plain completions), each with a
timeout, and reports latency percentiles, throughput and outcomes by status. Exits 1 if
any request got a 5xx, timed out, failed to connect, came back malformed, or was never
sent because the time limit ran out.

    .venv/bin/python bench/load_test.py                     # 200 requests, concurrency 16
    .venv/bin/python bench/load_test.py --requests 50 --concurrency 4 --model smollm2-135m
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"  # never anything else: this script loads only this machine
QUESTIONS = ["What is the capital of Hainan?", "Tell me the highest peak.", "海南的省会是哪里？",
             "How high is Wuzhishan?", "Which city governs Hainan?"]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--run", help="serve this run directory")
    target.add_argument("--model", help="serve this preset / model directory (default: a tiny random model)")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=32, help="max_tokens of each request")
    parser.add_argument("--max-queue", type=int, default=32, help="the server's --max-queue")
    parser.add_argument("--threads", type=int, help="the server's --threads (default: 1 for the tiny model, "
                                                    "whose layers are too small to split across threads)")
    parser.add_argument("--request-timeout", type=float, default=120.0, help="seconds; longer counts as a hang")
    parser.add_argument("--time-limit", type=float, default=600.0, help="seconds for the whole load phase")
    parser.add_argument("--json", type=Path, help="also write the summary here")
    args = parser.parse_args(argv)
    if min(args.requests, args.concurrency, args.max_tokens) < 1 or args.max_queue < 0:
        parser.error("--requests, --concurrency and --max-tokens must be positive, --max-queue >= 0")
    return args


def server_threads(args) -> int | str:
    return args.threads or (1 if not (args.run or args.model) else "default")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def tiny_model(workdir: Path) -> str:
    sys.path.insert(0, str(ROOT / "tests"))
    from tiny import make_model_dir

    return str(make_model_dir(workdir / "tiny-qwen2", "qwen2"))


def start_server(args, model_args: list[str], port: int, log_path: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "knowtune.cli", "serve", *model_args, "--host", HOST, "--port", str(port),
               "--max-queue", str(args.max_queue), "--max-tokens", str(max(args.max_tokens, 256))]
    if server_threads(args) != "default":
        command += ["--threads", str(server_threads(args))]
    log = open(log_path, "w")
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false")
    env.pop("KNOWTUNE_API_KEY", None)
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)


def wait_ready(proc: subprocess.Popen, base: str, limit: float = 300.0) -> str:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with code {proc.returncode} before answering")
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return httpx.get(f"{base}/v1/models", timeout=10).json()["data"][0]["id"]
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("the server did not become ready in time")


def one_request(client: httpx.Client, model: str, i: int, max_tokens: int) -> dict:
    """Send request i (kind chosen by i) and say how it went; never raises."""
    kind = ("chat", "chat-stream", "completion")[i % 3]
    question = QUESTIONS[i % len(QUESTIONS)]
    path = "/v1/completions" if kind == "completion" else "/v1/chat/completions"
    body = {"model": model, "max_tokens": max_tokens, "temperature": 0.0}
    if kind == "completion":
        body["prompt"] = question
    else:
        body["messages"] = [{"role": "user", "content": question}]
    body["stream"] = kind == "chat-stream"
    if body["stream"]:
        body["stream_options"] = {"include_usage": True}
    start = time.perf_counter()
    outcome = {"kind": kind, "status": None, "latency": None, "ttft": None, "tokens": 0, "problem": None}
    try:
        with client.stream("POST", path, json=body) as response:
            outcome["status"] = response.status_code
            if response.status_code == 200 and body["stream"]:
                read_stream(response, outcome, start)
            else:
                payload = json.loads(response.read())
                if response.status_code == 200:
                    outcome["tokens"] = payload["usage"]["completion_tokens"]
                    assert payload["choices"][0]["finish_reason"] in ("stop", "length")
                else:
                    assert set(payload["error"]) == {"message", "type", "param", "code"}
    except httpx.TimeoutException:
        outcome["problem"] = "timeout"
    except httpx.TransportError as err:
        outcome["problem"] = f"transport: {type(err).__name__}"
    except (AssertionError, KeyError, ValueError, TypeError) as err:
        outcome["problem"] = f"malformed reply: {type(err).__name__} {err}"
    outcome["latency"] = time.perf_counter() - start
    return outcome


def read_stream(response: httpx.Response, outcome: dict, start: float) -> None:
    done = False
    for line in response.iter_lines():
        if not line.startswith("data: "):
            continue
        data = line[len("data: "):]
        if data == "[DONE]":
            done = True
            break
        chunk = json.loads(data)
        assert "error" not in chunk, chunk
        if outcome["ttft"] is None and chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
            outcome["ttft"] = time.perf_counter() - start
        if chunk.get("usage"):
            outcome["tokens"] = chunk["usage"]["completion_tokens"]
    assert done, "stream ended without [DONE]"


def run_load(args, base: str, model: str) -> tuple[list[dict], int, float]:
    """Fire the requests; those not started before the time limit are counted, not sent."""
    deadline = time.monotonic() + args.time_limit
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    outcomes: list[dict] = []
    lock = threading.Lock()
    not_sent = 0

    def task(i: int) -> None:
        nonlocal not_sent
        if time.monotonic() > deadline:
            with lock:
                not_sent += 1
            return
        outcome = one_request(client, model, i, args.max_tokens)
        with lock:
            outcomes.append(outcome)

    start = time.perf_counter()
    with httpx.Client(base_url=base, timeout=args.request_timeout, limits=limits) as client, \
            ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        list(pool.map(task, range(args.requests)))
    return outcomes, not_sent, time.perf_counter() - start


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def summarise(args, outcomes: list[dict], not_sent: int, wall: float) -> dict:
    ok = [o for o in outcomes if o["status"] == 200 and o["problem"] is None]
    latencies = [o["latency"] for o in ok]
    ttfts = [o["ttft"] for o in ok if o["ttft"] is not None]
    by_status = collections.Counter(str(o["status"]) if o["problem"] is None else o["problem"].split(":")[0]
                                    for o in outcomes)
    return {
        "requests": args.requests, "concurrency": args.concurrency, "max_tokens": args.max_tokens,
        "server_threads": server_threads(args),
        "completed_ok": len(ok), "not_sent": not_sent, "wall_s": round(wall, 2),
        "throughput_req_s": round(len(ok) / wall, 2) if wall else None,
        "throughput_tokens_s": round(sum(o["tokens"] for o in ok) / wall, 1) if wall else None,
        "latency_s": {**{f"p{q}": _round(percentile(latencies, q)) for q in (50, 90, 99)},
                      "max": _round(max(latencies, default=None))},
        "stream_ttft_s": {f"p{q}": _round(percentile(ttfts, q)) for q in (50, 99)},
        "by_status": dict(by_status),
        "problems": sorted({o["problem"] for o in outcomes if o["problem"]})[:10],
    }


def _round(value):
    return None if value is None else round(value, 3)


def verdict(summary: dict) -> list[str]:
    failures = []
    server_errors = sum(n for status, n in summary["by_status"].items() if status.startswith("5"))
    if server_errors:
        failures.append(f"{server_errors} responses with 5xx")
    for problem in ("timeout", "transport", "malformed reply"):
        if summary["by_status"].get(problem):
            failures.append(f"{summary['by_status'][problem]} requests: {problem}")
    if summary["not_sent"]:
        failures.append(f"{summary['not_sent']} requests not sent before the time limit")
    return failures


def main(argv=None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="knowtune-load-") as tmp:
        workdir = Path(tmp)
        model_args = ["--run", args.run] if args.run else ["--model", args.model or tiny_model(workdir)]
        port = free_port()
        base = f"http://{HOST}:{port}"
        proc = start_server(args, model_args, port, workdir / "server.log")
        try:
            model = wait_ready(proc, base)
            print(f"server ready: {model} at {base}; sending {args.requests} requests, "
                  f"concurrency {args.concurrency}", flush=True)
            outcomes, not_sent, wall = run_load(args, base, model)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            server_log = (workdir / "server.log").read_text(errors="replace")
    summary = summarise(args, outcomes, not_sent, wall)
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    failures = verdict(summary)
    if "Traceback" in server_log:
        failures.append("the server logged a traceback")
        print(server_log[-3000:], file=sys.stderr)
    return finish(summary, failures, args.json, "no 5xx, no hangs, every reply well-formed")


def finish(summary: dict, failures: list[str], json_path: Path | None, passed: str) -> int:
    """Write the summary where asked, print the verdict; the exit code (1 on any failure)."""
    if json_path:
        json_path.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    if not failures:
        print(f"PASS: {passed}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
