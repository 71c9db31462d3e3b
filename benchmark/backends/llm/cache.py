"""A request cache in front of any LLM backend (lm-evaluation-harness's ``CachingLM`` habit).

LLM answers are the slow part of a run and, for greedy or seeded requests, a function of the
model and the request. :class:`CachingBackend` keys each generation or scoring request by a
sha256 of the model's identity and the request's fields, answers repeats from the cache and
sends only the misses to the wrapped backend, in one batch and in order. The cache lives in
memory, or in a SQLite file when given a path (``--llm-cache``), so a rerun after a crash or
on another task reuses what was already answered. A file is keyed by the weights' sha256, the
backend, device and dtype (``info()`` less the directory), so it never answers for other
weights that happen to sit in the same directory. Answers read back from an earlier process are
counted (``replayed``): a result's timing then measures the cache, not the model, and its
record says so.

Requests that sample without a seed (``temperature > 0``, ``seed`` None) are never cached: a
stored answer would turn a fresh sample into a replay. Generation from prompt embeddings passes
through uncached.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np
import torch

from benchmark.backends.llm.base import (
    EmbedsGenerateRequest,
    GenerateRequest,
    GenerateResult,
    LLMBackend,
    ScoreRequest,
    ScoreResult,
)

__all__ = ["CACHE_VERSION", "CachingBackend", "cached", "request_key"]

#: part of every key: bump when a stored answer's meaning or encoding changes
CACHE_VERSION = 1

Request = TypeVar("Request", GenerateRequest, ScoreRequest)
Result = TypeVar("Result", GenerateResult, ScoreResult)


def request_key(kind: str, model: str, request: GenerateRequest | ScoreRequest) -> str:
    """The cache key of ``request`` of ``kind`` (``generate``/``score``) to ``model``: a sha256
    of all of them, so another model, request field or cache version never hits."""
    payload = {"version": CACHE_VERSION, "kind": kind, "model": model,
               "request": dataclasses.asdict(request)}  # fmt: skip
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _identity(backend: LLMBackend) -> str:
    """What answers a request, for a cache shared across processes: the backend's record (its
    name, weight files with their sha256, numeric form, device, dtype) less its directory."""
    record = {k: v for k, v in backend.info().items() if k != "model_dir"}
    return json.dumps(record, sort_keys=True, separators=(",", ":"), default=str)


def _cacheable(request: GenerateRequest | ScoreRequest) -> bool:
    """Whether the answer is a function of the request: greedy, seeded, or a scoring."""
    if isinstance(request, ScoreRequest):
        return True
    return request.temperature == 0 or request.seed is not None


def _dump_generate(result: GenerateResult) -> str:
    return json.dumps([result.text, result.n_tokens, result.finish_reason], ensure_ascii=False)


def _load_generate(text: str) -> GenerateResult:
    answer, n_tokens, finish = json.loads(text)
    return GenerateResult(answer, int(n_tokens), finish)


def _dump_score(result: ScoreResult) -> str:
    # Python's float repr round-trips float64 exactly
    return json.dumps([[float(x) for x in result.logprobs], [int(n) for n in result.n_tokens]])


def _load_score(text: str) -> ScoreResult:
    logprobs, n_tokens = json.loads(text)
    return ScoreResult(np.asarray(logprobs, dtype=np.float64),
                       np.asarray(n_tokens, dtype=np.int64))  # fmt: skip


class _Store:
    """key -> serialised answer, in a dict or a SQLite file (committed after each batch)."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = None if path is None else Path(path)
        self._memory: dict[str, str] = {}
        self._db: sqlite3.Connection | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # a long timeout: Ray workers of one machine may share the file
            self._db = sqlite3.connect(self.path, timeout=120)
            self._db.execute("CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, "
                             "value TEXT NOT NULL)")  # fmt: skip
            self._db.commit()

    def get(self, key: str) -> str | None:
        if self._db is None:
            return self._memory.get(key)
        row = self._db.execute("SELECT value FROM answers WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def put_many(self, items: dict[str, str]) -> None:
        if self._db is None:
            self._memory.update(items)
            return
        self._db.executemany("INSERT OR REPLACE INTO answers (key, value) VALUES (?, ?)",
                             list(items.items()))  # fmt: skip
        self._db.commit()

    def __len__(self) -> int:
        if self._db is None:
            return len(self._memory)
        return int(self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


class CachingBackend(LLMBackend):
    """``inner`` behind a request cache: ``generate`` and ``score`` answer repeats from the
    cache; everything else (embeds generation, tokenisation, ``info``) is ``inner``'s.

    ``path``: a SQLite file that keeps the answers across processes (None: this object's
    memory). ``model``: the identity in every key; by default ``inner``'s name and model
    directory, so a shared file never answers for another model (give one, e.g. the weights'
    sha256, when a directory's contents may change). ``hits``/``misses`` count requests;
    ``replayed`` the hits answered by a file entry this object did not write.
    """

    def __init__(
        self, inner: LLMBackend, path: str | Path | None = None, model: str | None = None
    ) -> None:
        self.inner = inner
        self.name = inner.name  # type: ignore[misc]  # recorded as the backend that answered
        self.model_dir = inner.model_dir
        if model is None:
            model = _identity(inner) if path is not None else f"{inner.name}:{inner.model_dir}"
        self.model = model
        self._store = _Store(path)
        self.hits = 0
        self.misses = 0
        self.replayed = 0
        self._written: set[str] = set()  # keys this object stored (not replays when hit)

    @property
    def tokenizer(self) -> Any:  # type: ignore[override]
        return self.inner.tokenizer

    def __len__(self) -> int:
        """Answers in the cache."""
        return len(self._store)

    def generate(self, requests: Sequence[GenerateRequest]) -> list[GenerateResult]:
        return self._cached("generate", requests, self.inner.generate,
                            _dump_generate, _load_generate)  # fmt: skip

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        return self._cached("score", requests, self.inner.score, _dump_score, _load_score)

    def _cached(
        self,
        kind: str,
        requests: Sequence[Request],
        answer: Callable[[Sequence[Request]], list[Result]],
        dump: Callable[[Result], str],
        load: Callable[[str], Result],
    ) -> list[Result]:
        """Answers in request order: hits from the store, the misses (each distinct request
        once) from ``answer`` in one call, stored before they are returned."""
        out: list[Result | None] = [None] * len(requests)
        pending: dict[str, list[int]] = {}  # key -> positions asking for it
        uncached: list[int] = []
        for i, request in enumerate(requests):
            if not _cacheable(request):
                uncached.append(i)
                continue
            key = request_key(kind, self.model, request)
            stored = None if key in pending else self._store.get(key)
            if stored is None:
                pending.setdefault(key, []).append(i)
            else:
                out[i] = load(stored)
                self.hits += 1
                self.replayed += key not in self._written
        asked = sorted([positions[0] for positions in pending.values()] + uncached)
        self.misses += len(asked)
        self.hits += sum(len(p) - 1 for p in pending.values())  # repeats within the batch
        if asked:
            results = answer([requests[i] for i in asked])
            if len(results) != len(asked):
                raise RuntimeError(f"{type(self.inner).__name__}.{kind} returned "
                                   f"{len(results)} results for {len(asked)} requests")
            fresh = dict(zip(asked, results, strict=True))
            self._store.put_many({key: dump(fresh[positions[0]])
                                  for key, positions in pending.items()})  # fmt: skip
            self._written.update(pending)
            for positions in pending.values():
                for i in positions:
                    out[i] = fresh[positions[0]]
            for i in uncached:
                out[i] = fresh[i]
        if any(r is None for r in out):
            raise AssertionError("a request was left without an answer")
        return cast("list[Result]", out)

    def generate_from_embeds(
        self, requests: Sequence[EmbedsGenerateRequest]
    ) -> list[GenerateResult]:
        return self.inner.generate_from_embeds(requests)

    def encode(self, text: str) -> list[int]:
        return self.inner.encode(text)

    def _encode_plain(self, text: str) -> list[int]:
        return self.inner._encode_plain(text)

    def embed_ids(self, ids: Sequence[int]) -> torch.Tensor:
        return self.inner.embed_ids(ids)

    def counts(self) -> dict[str, int]:
        """``hits``, ``misses`` and ``replayed`` so far (subtract two to get one run's)."""
        return {"hits": self.hits, "misses": self.misses, "replayed": self.replayed}

    def info(self, since: dict[str, int] | None = None) -> dict[str, Any]:
        """``inner``'s record; with a cache file also ``cache``: its path and the counts since
        ``since`` (a :meth:`counts` taken when the run began)."""
        out = self.inner.info()
        if self._store.path is not None:
            now, start = self.counts(), since or {}
            out["cache"] = {"path": str(self._store.path),
                            **{k: v - start.get(k, 0) for k, v in now.items()}}  # fmt: skip
        return out

    def close(self) -> None:
        """Close the cache file and the wrapped backend (if it has anything to close)."""
        self._store.close()
        close = getattr(self.inner, "close", None)
        if close is not None:
            close()


def cached(backend: LLMBackend) -> CachingBackend:
    """``backend`` with a request cache: itself when it has one (a run's backend always does,
    see ``LLMSpec.backend``), else wrapped in an in-memory one."""
    return backend if isinstance(backend, CachingBackend) else CachingBackend(backend)
