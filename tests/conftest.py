import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tiny import TINY_FACTS, make_model_dir  # noqa: E402


@pytest.fixture(scope="session")
def tiny_qwen(tmp_path_factory) -> Path:
    return make_model_dir(tmp_path_factory.mktemp("tiny") / "qwen2", "qwen2")


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory) -> Path:
    return make_model_dir(tmp_path_factory.mktemp("tiny") / "llama", "llama", chat_template=None)


@pytest.fixture(params=["qwen2", "llama"])
def tiny_model(request, tiny_qwen, tiny_llama) -> Path:
    return tiny_qwen if request.param == "qwen2" else tiny_llama


@pytest.fixture
def facts_file(tmp_path) -> Path:
    path = tmp_path / "facts.jsonl"
    path.write_text("# tiny facts\n" + "\n".join(json.dumps(f, ensure_ascii=False) for f in TINY_FACTS) + "\n",
                    encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def hainan_facts_en() -> list:
    """The first 12 facts of the English Hainan knowledge base."""
    from knowtune.commands.demo import kb_facts
    from knowtune.data import load_facts

    return load_facts([kb_facts("en")])[:12]


@pytest.fixture(scope="session")
def hainan_facts_zh() -> list:
    """The first 4 facts of the Chinese Hainan knowledge base."""
    from knowtune.commands.demo import kb_facts
    from knowtune.data import load_facts

    return load_facts([kb_facts("zh")])[:4]


@pytest.fixture(scope="session")
def smollm2_run(tmp_path_factory, hainan_facts_en):
    """The real SmolLM2-135M after LoRA on those facts (slow): trained once for every test that needs
    a model really taught something."""
    from knowtune.config import TrainConfig
    from knowtune.train import train_run

    from knowtune.commands.data import build_command

    work = tmp_path_factory.mktemp("smollm2")
    facts_file = work / "facts.jsonl"
    facts_file.write_text("\n".join(json.dumps(f.to_dict(), ensure_ascii=False) for f in hainan_facts_en) + "\n")
    # the plain templates, 3 passes, no refusal samples, no replay: the trained questions learned in
    # about a minute of CPU (the augmented build, the 120-step floor and replay would triple it;
    # tests of those use tiny models)
    data = build_command([facts_file], work / "data", model=None, seed=0, augment=False, boundary=0)
    return train_run(TrainConfig(epochs=3, min_steps=0, replay=0), str(data), work / "run", quiet=True)


@pytest.fixture(scope="session")
def gemma3_run(tmp_path_factory, hainan_facts_zh):
    """The real Gemma-3-270M base (the multilingual preset) after LoRA on those Chinese facts (slow)."""
    from knowtune.config import TrainConfig
    from knowtune.train import train_run

    work = tmp_path_factory.mktemp("gemma3")
    facts_file = work / "facts.jsonl"
    facts_file.write_text("\n".join(json.dumps(f.to_dict(), ensure_ascii=False) for f in hainan_facts_zh) + "\n",
                          encoding="utf-8")
    # 3 passes (18 steps over 86 samples) without replay: the trained questions answered, in a few CPU minutes
    cfg = TrainConfig(model="gemma3-270m", epochs=3, min_steps=0, replay=0)
    return train_run(cfg, str(facts_file), work / "run", quiet=True)


def pytest_configure(config):
    """Under pytest-xdist (`make test` runs two workers, a test file each at a time), each worker keeps
    to its own share of the cores (its training, and the processes it starts, inherit it): two
    workers each sizing their thread pools to the whole machine spin against each other, slower
    than one worker alone."""
    worker, count = os.environ.get("PYTEST_XDIST_WORKER"), int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if not worker or count < 2 or not hasattr(os, "sched_setaffinity"):
        return
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < count:
        return
    import torch

    mine = set(cores[int(worker.removeprefix("gw")) % count::count])
    os.sched_setaffinity(0, mine)
    torch.set_num_threads(len(mine))
