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
