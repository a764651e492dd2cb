"""knowtune never reaches a model hub, and importing it with peft prints nothing."""

import os
import subprocess
import sys


def test_import_sets_hub_offline_and_is_quiet():
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    code = "import knowtune, os, peft; print(os.environ['HF_HUB_OFFLINE'])"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"
    assert "kernels-community" not in done.stderr and "publisher trust" not in done.stderr, done.stderr


def test_a_user_may_turn_the_hub_back_on():
    env = {**os.environ, "HF_HUB_OFFLINE": "0"}
    code = "import knowtune, os; print(os.environ['HF_HUB_OFFLINE'])"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "0"
