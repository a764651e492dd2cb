"""Generation lets glibc map large blocks again when the CLI started with mmap off."""

from knowtune.models import allocator


class FakeLibc:
    def __init__(self):
        self.calls = []

    def mallopt(self, param, value):
        self.calls.append((param, value))
        return 1


def test_mapping_is_allowed_inside_and_switched_off_again(monkeypatch):
    libc = FakeLibc()
    monkeypatch.setattr(allocator, "_libc", lambda: libc)
    monkeypatch.setenv("MALLOC_MMAP_MAX_", "0")
    with allocator.mapping_allowed(threshold=4096):
        assert libc.calls == [(allocator.M_MMAP_THRESHOLD, 4096), (allocator.M_MMAP_MAX, allocator.GLIBC_MMAP_MAX)]
    assert libc.calls[-1] == (allocator.M_MMAP_MAX, 0)


def test_nothing_changes_under_the_default_allocator(monkeypatch):
    libc = FakeLibc()
    monkeypatch.setattr(allocator, "_libc", lambda: libc)
    monkeypatch.delenv("MALLOC_MMAP_MAX_", raising=False)
    with allocator.mapping_allowed():
        pass
    assert libc.calls == []


def test_the_real_libc_is_found_here():
    assert allocator._libc() is not None  # glibc on Linux: the switch is not silently a no-op
