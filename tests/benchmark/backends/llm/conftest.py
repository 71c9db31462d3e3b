"""Fixtures for the LLM backend tests: tiny saved models, never a hub download."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402
from llm_tiny import save_tiny_llm  # noqa: E402


@pytest.fixture(scope="session")
def tiny_llm_dir(tmp_path_factory):
    return save_tiny_llm(tmp_path_factory.mktemp("tiny-llm"))


@pytest.fixture(scope="session")
def tiny_llm_bos_dir(tmp_path_factory):
    """The same kind of model with a tokenizer that adds BOS to every text (Llama-2 style)."""
    return save_tiny_llm(tmp_path_factory.mktemp("tiny-llm-bos"), seed=1, add_bos=True)


@pytest.fixture(scope="session")
def tiny_backend(tiny_llm_dir):
    from benchmark.backends.llm.hf import HFBackend

    return HFBackend(tiny_llm_dir, batch_size=4)
