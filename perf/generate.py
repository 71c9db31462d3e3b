"""Batched greedy generation of re-ranking answers: the transformers backend vs the vLLM backend.

The workload is LLMRank's (``methods/llmrank.py``): per ML-100K user, one chat prompt listing
the titles of the user's ``--history`` most recent movies and ``--candidates`` candidates (the
next movie plus random others, shuffled, seed 0), asking for a ranking; greedy, ``--new-tokens``
new tokens, all users' requests in one ``generate`` call, on the embedded SmolLM2-135M-Instruct
(or ``--llm DIR``), float32.

Per backend it reports:

- load: seconds to build the backend (vLLM: engine start, incl. compilation unless eager);
- first result: load plus the wall time of a call with the first request alone, i.e. how long
  a user waits for one answer from a cold start;
- batch: the wall time of one call with all requests, generated tokens per second (EOS
  counted) and prompt tokens; then the ratio vLLM / transformers and how many answers agree.

On CPU vLLM is not expected to win (the point there is parity); on a GPU it should. The machine
line gives cores, GPU (or none) and versions, so numbers from different machines are not
mixed up. Results go to ``perf/results/generate.txt``.

    python perf/generate.py [--users 32] [--new-tokens 64] [--history 10] [--candidates 20]
        [--llm DIR] [--device cpu|cuda] [--batch 32] [--threads T] [--eager] [--skip-vllm]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoTokenizer

from benchmark.backends.llm import GenerateRequest, GenerateResult, LLMBackend, resolve_llm
from benchmark.data import load_dataset
from methods.llmrank import LLMRank

RESULTS = Path(__file__).resolve().parent / "results" / "generate.txt"


def build_prompts(tokenizer: Any, users: int, history: int, candidates: int) -> list[str]:
    """LLMRank's chat prompts for the first ``users`` ML-100K users with enough history."""
    from benchmark.backends.llm import apply_chat

    data = load_dataset("ml-100k")
    method = LLMRank(history_len=history)
    titles = np.empty(data.n_items + 1, dtype=object)
    titles[:] = ""
    titles[data.items["item"].to_numpy()] = data.items["title"].fillna("").astype(str).to_numpy()
    method.titles, method.noun = titles, "movie"
    rng = np.random.default_rng(0)
    inter = data.interactions.sort_values(["user", "timestamp"], kind="stable")
    prompts = []
    for _, seq in inter.groupby("user", sort=True)["item"]:
        items = seq.to_numpy()
        if len(items) < history + 1:
            continue
        past, target = items[:-1], int(items[-1])
        others = rng.choice(
            np.setdiff1d(np.arange(1, data.n_items + 1), items), candidates - 1, replace=False
        )
        row = rng.permutation(np.concatenate([[target], others]))
        prompts.append(apply_chat(tokenizer, method.user_message(past, row)))
        if len(prompts) == users:
            break
    return prompts


def measure(
    make: Any, requests: list[GenerateRequest]
) -> tuple[LLMBackend, list[GenerateResult], dict[str, float]]:
    """Build a backend, answer the first request alone, then all of them in one call."""
    start = time.perf_counter()
    backend = make()
    load = time.perf_counter() - start
    backend.generate(requests[:1])
    first = time.perf_counter() - start
    start = time.perf_counter()
    results = backend.generate(requests)
    seconds = time.perf_counter() - start
    tokens = sum(r.n_tokens for r in results)
    stats = {"load": load, "first": first, "batch": seconds, "tokens": tokens,
             "tok_s": tokens / seconds}  # fmt: skip
    return backend, results, stats


def line(label: str, s: dict[str, float]) -> str:
    return (
        f"{label:<13} load {s['load']:7.2f} s | first result {s['first']:7.2f} s | batch "
        f"{s['batch']:7.2f} s, {int(s['tokens']):5d} new tokens, {s['tok_s']:8.1f} tok/s"
    )


def machine(device: str) -> str:
    import transformers

    try:
        from benchmark.backends.llm.vllm import vllm_version

        vllm = vllm_version()
    except ImportError:
        vllm = "not installed"
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return (
        f"machine: {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, GPU {gpu}, "
        f"device {device}; torch {torch.__version__}, transformers {transformers.__version__}, "
        f"vllm {vllm}; load average {os.getloadavg()[0]:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--history", type=int, default=10)
    parser.add_argument("--candidates", type=int, default=20)
    parser.add_argument("--llm", default=None, help="model directory (default: embedded)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=32, help="transformers rows per forward")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    parser.add_argument("--eager", action="store_true", help="vLLM without torch.compile")
    parser.add_argument("--skip-vllm", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from benchmark.backends.llm.hf import HFBackend

    model_dir = resolve_llm(args.llm)
    out = [machine(args.device)]

    def hf_make() -> HFBackend:
        return HFBackend(model_dir, device=args.device, batch_size=args.batch)

    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    prompts = build_prompts(tokenizer, args.users, args.history, args.candidates)
    requests = [GenerateRequest(p, args.new_tokens) for p in prompts]
    prompt_tokens = sum(len(tokenizer(p)["input_ids"]) for p in prompts)
    out.append(
        f"workload: {len(requests)} ML-100K re-ranking prompts ({args.history} history titles, "
        f"{args.candidates} candidates; {prompt_tokens} prompt tokens, mean "
        f"{prompt_tokens / len(requests):.0f}), greedy, {args.new_tokens} new tokens; model "
        f"{model_dir.name}, float32"
    )
    print("\n".join(out), flush=True)

    _, hf_results, hf_stats = measure(hf_make, requests)
    out.append(line("transformers", hf_stats))
    print(out[-1], flush=True)
    if not args.skip_vllm:
        from benchmark.backends.llm.vllm import VLLMBackend

        def vllm_make() -> VLLMBackend:
            return VLLMBackend(model_dir, device=args.device, enforce_eager=args.eager)

        backend, vllm_results, vllm_stats = measure(vllm_make, requests)
        out.append(line("vllm" + (" (eager)" if args.eager else ""), vllm_stats))
        print(out[-1], flush=True)
        if backend.device.type == "cpu":
            bind = os.environ.get("VLLM_CPU_OMP_THREADS_BIND", "auto")
            out.append(
                f"  (vllm's CPU worker binds its own OpenMP threads, VLLM_CPU_OMP_THREADS_BIND="
                f"{bind}; auto: the NUMA node's cores but one kept for the front end)"
            )
        same = sum(a.text == b.text for a, b in zip(hf_results, vllm_results))
        out.append(
            f"vllm / transformers: {vllm_stats['tok_s'] / hf_stats['tok_s']:.2f}x tokens/s, "
            f"first result {vllm_stats['first'] / hf_stats['first']:.2f}x as long; "
            f"identical answers {same}/{len(requests)}"
        )
        print(out[-1], flush=True)
        backend.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(out) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
