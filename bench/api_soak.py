"""Soak test of the API under disconnects: many short requests, some clients leaving mid-reply.

Serves a tiny random Qwen2 (or --model) in this process on loopback, sends --requests
requests (max_tokens <= 32) from --concurrency threads; every tenth client leaves mid-reply
(a stream closed after its first chunk, a whole reply given up after --leave-after s).
Passes when no reply is a 5xx, none hangs or comes back malformed, and the queue is empty
again at the end (every slot released); prints p50/p99 latency of the completed requests.

    .venv/bin/python bench/api_soak.py                       # 1000 requests, concurrency 32
    .venv/bin/python bench/api_soak.py --requests 200 --concurrency 8
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_test import finish, one_request, percentile, tiny_model  # noqa: E402

QUESTION = [{"role": "user", "content": "What is the capital of Hainan?"}]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="preset or model directory (default: a tiny random model)")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--leave-every", type=int, default=10, help="every Nth client disconnects mid-reply")
    parser.add_argument("--leave-after", type=float, default=0.05, help="seconds a leaving whole-reply client waits")
    parser.add_argument("--request-timeout", type=float, default=120.0, help="seconds; longer counts as a hang")
    parser.add_argument("--json", type=Path, help="also write the summary here")
    args = parser.parse_args(argv)
    if not 1 <= args.max_tokens <= 32 or min(args.requests, args.concurrency, args.leave_every) < 1:
        parser.error("--max-tokens must be 1 to 32; --requests, --concurrency, --leave-every positive")
    return args


def leave_mid_reply(base: str, model: str, i: int, args) -> dict:
    """A client that goes away: a stream closed after its first chunk, or a whole reply not waited for."""
    body = {"model": model, "messages": QUESTION, "max_tokens": args.max_tokens, "stream": i % 2 == 0}
    outcome = {"kind": "leaving", "status": None, "problem": None}
    try:
        with httpx.Client(timeout=args.leave_after if not body["stream"] else args.request_timeout) as client:
            with client.stream("POST", f"{base}/v1/chat/completions", json=body) as response:
                outcome["status"] = response.status_code
                if body["stream"]:
                    next(response.iter_lines(), None)  # one chunk, then the connection closes
                else:
                    response.read()
    except httpx.TimeoutException:
        pass  # left as planned
    except httpx.TransportError as err:
        outcome["problem"] = f"transport: {type(err).__name__}"
    return outcome


def soak(args, base: str, model: str) -> tuple[list[dict], float]:
    outcomes: list[dict] = []
    lock = threading.Lock()
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)

    def task(i: int) -> None:
        if i % args.leave_every == args.leave_every - 1:
            outcome = leave_mid_reply(base, model, i, args)
        else:
            outcome = one_request(client, model, i, args.max_tokens)
        with lock:
            outcomes.append(outcome)

    start = time.perf_counter()
    with httpx.Client(base_url=base, timeout=args.request_timeout, limits=limits) as client, \
            ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        list(pool.map(task, range(args.requests)))
    return outcomes, time.perf_counter() - start


def summarise(args, outcomes: list[dict], wall: float, pending_after: int) -> dict:
    ok = [o for o in outcomes if o["kind"] != "leaving" and o["status"] == 200 and o["problem"] is None]
    latencies = [o["latency"] for o in ok]
    by_status = collections.Counter(str(o["status"]) if o["problem"] is None else o["problem"].split(":")[0]
                                    for o in outcomes)
    return {"requests": args.requests, "concurrency": args.concurrency, "max_tokens": args.max_tokens,
            "left_mid_reply": sum(o["kind"] == "leaving" for o in outcomes), "completed_ok": len(ok),
            "wall_s": round(wall, 2), "latency_s": {f"p{q}": _round(percentile(latencies, q)) for q in (50, 99)},
            "by_status": dict(by_status), "queue_depth_after": pending_after,
            "problems": sorted({o["problem"] for o in outcomes if o["problem"]})[:10]}


def _round(value):
    return None if value is None else round(value, 3)


def verdict(summary: dict) -> list[str]:
    failures = [f"{n} x {status}" for status, n in summary["by_status"].items()
                if status.startswith("5") or status in ("timeout", "transport", "malformed reply")]
    if summary["queue_depth_after"]:
        failures.append(f"{summary['queue_depth_after']} queue slots still held at the end")
    return failures


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    from knowtune.serve.api import create_app
    from knowtune.serve.background import serve_in_thread
    from knowtune.serve.engine import Engine
    from knowtune.serve.settings import ServeSettings

    torch.set_num_threads(1)  # a tiny model only loses from intra-op threads
    with tempfile.TemporaryDirectory(prefix="knowtune-soak-") as tmp:
        engine = Engine.from_model(args.model or tiny_model(Path(tmp)))
        app = create_app(engine, ServeSettings(max_queue=args.concurrency, max_tokens=256))
        with serve_in_thread(app) as base:
            print(f"soak: {args.requests} requests, concurrency {args.concurrency}, every "
                  f"{args.leave_every}th client leaving mid-reply", flush=True)
            outcomes, wall = soak(args, base, engine.name)
            deadline = time.monotonic() + 60  # leavers' generations stop at their next token
            while app.state.queue.pending and time.monotonic() < deadline:
                time.sleep(0.05)
            summary = summarise(args, outcomes, wall, app.state.queue.pending)
    print(json.dumps(summary, indent=2))
    return finish(summary, verdict(summary), args.json, "no 5xx, no hangs, every slot released")


if __name__ == "__main__":
    sys.exit(main())
