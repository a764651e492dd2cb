"""bf16 is chosen on a CPU when its matrix multiply is measured to pay, not from the CPU flags alone."""

from __future__ import annotations

import json

import pytest
import torch

from knowtune.config import hardware


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    monkeypatch.setenv("KNOWTUNE_CACHE", str(tmp_path))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    hardware.bf16_speedup.cache_clear()
    yield tmp_path
    hardware.bf16_speedup.cache_clear()


def _flags(monkeypatch, flags: set[str]) -> None:
    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset(flags))


@pytest.mark.parametrize("speedup, expected", [(1.0, False), (1.29, False), (1.31, True), (4.0, True)])
def test_bf16_only_where_its_gemm_is_clearly_faster(fresh, monkeypatch, speedup, expected):
    _flags(monkeypatch, {"avx512_bf16"})
    monkeypatch.setattr(hardware, "_measured_speedup", lambda: speedup)
    assert hardware.fast_bf16_available() is expected
    assert hardware.resolve_precision("auto") == ("bf16" if expected else "fp32")
    assert hardware.resolve_precision("bf16") == "bf16"  # the user's choice stands


def test_no_bf16_instructions_means_fp32_without_measuring(fresh, monkeypatch):
    _flags(monkeypatch, {"avx2", "fma"})
    monkeypatch.setattr(hardware, "_measured_speedup", lambda: pytest.fail("measured on a CPU without bf16"))
    assert hardware.fast_bf16_available() is False


def test_the_measurement_is_kept_per_machine_and_read_back(fresh, monkeypatch):
    _flags(monkeypatch, {"amx_bf16"})
    monkeypatch.setattr(hardware, "_measured_speedup", lambda: 3.25)
    assert hardware.bf16_speedup() == 3.25
    saved = json.loads((fresh / "bf16-speedup.json").read_text())
    assert list(saved.values()) == [3.25] and torch.__version__ in next(iter(saved))
    hardware.bf16_speedup.cache_clear()
    monkeypatch.setattr(hardware, "_measured_speedup", lambda: pytest.fail("measured again"))
    assert hardware.bf16_speedup() == 3.25


def test_a_damaged_record_is_measured_again(fresh, monkeypatch):
    (fresh / "bf16-speedup.json").write_text("{not json")
    monkeypatch.setattr(hardware, "_measured_speedup", lambda: 0.9)
    assert hardware.bf16_speedup() == 0.9
    assert list(json.loads((fresh / "bf16-speedup.json").read_text()).values()) == [0.9]


def test_the_real_measurement_is_a_positive_ratio():
    ratio = hardware._measured_speedup(repeats=1)
    assert ratio > 0 and ratio == ratio  # not NaN
