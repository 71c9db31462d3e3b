"""The one interface every method implements.

A method is fitted once per (dataset, seed) on the training split, may use the validation
targets for early stopping, and then answers the task requests: score every item for a batch of
users, or score given candidates; methods for the explanation task also implement
``generate_explanations``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch

from benchmark.backends.llm import LLMSpec
from benchmark.data.schema import Dataset
from methods.params import NoParams, Params
from tasks.explanation import ExplanationData
from tasks.split import Split

if TYPE_CHECKING:
    from methods.checkpoint import EpochCheckpoint


@dataclass
class FitContext:
    """Everything a method may look at while fitting.

    ``split.test`` is present because the split object is shared, but a method must not read
    it: the harness fits before it builds any test request, and tests check that the test
    targets do not influence fitted models.
    """

    dataset: Dataset
    split: Split
    seed: int
    profile: str = "cpu"
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    show_progress: bool = True
    #: explanation examples (with the cross-task leak guard applied) when the dataset has
    #: reviews; methods that learn the explanation task train on ``explanation.part("train")``
    explanation: ExplanationData | None = None
    #: the tasks the run will evaluate, so multitask methods can tell which to learn
    task_names: tuple[str, ...] = ()
    #: the run's LLM (``--backend``/``--llm``), built on first ``llm.backend()`` call; methods
    #: whose answers come from it set ``uses_llm = True`` so the harness records which one
    #: answered (uem only borrows the ``--backend`` choice for a check on its own LM)
    llm: LLMSpec | None = None
    #: where a method that trains for epochs saves its state after each one (None: nowhere);
    #: a checkpoint found there at the start is a killed fit of the same configuration, to be
    #: continued (``methods.training.train_epochs``)
    checkpoint: EpochCheckpoint | None = None


class Method(ABC):
    """Base class: subclasses set ``name`` and ``bibtex`` and implement ``fit``/``score_all``."""

    name: ClassVar[str] = ""
    #: BibTeX of the paper the method comes from; shown under each leaderboard.
    bibtex: ClassVar[str] = ""
    #: for a reference baseline (no published method): what it answers, in one line; leaderboards
    #: mark its rows and list it under "Baselines", so a reader sees what a method must beat
    baseline: ClassVar[str] = ""
    #: the typed parameter declaration (:mod:`methods.params`): types, per-profile defaults
    #: and constraints, declared once (``NoParams`` for a method without hyperparameters)
    Params: ClassVar[type[Params]] = NoParams
    #: default hyperparameters per profile, a read-only view derived from ``Params``
    defaults: ClassVar[Mapping[str, Mapping[str, Any]]] = {}
    #: task kinds the method answers: "full" / "candidates" (ranking), "generation" (text)
    task_kinds: ClassVar[frozenset[str]] = frozenset({"full", "candidates"})
    #: prompt wordings the method can be evaluated with (``tasks.base.PROMPTS``); the harness
    #: sets ``self.prompt`` to the task's before answering it
    prompt_variants: ClassVar[frozenset[str]] = frozenset({"seen"})
    #: profiles under which one run of the method asks an executor for a GPU (its models are
    #: sized for one there); elsewhere it runs on CPUs
    gpu_profiles: ClassVar[frozenset[str]] = frozenset()
    #: whether the method answers with the run's LLM (``FitContext.llm``: ``--backend`` and
    #: ``--llm``). The harness then puts those flags in the method's config hash (when not the
    #: defaults), records the LLM that answered in the result's ``backend`` field, checks the
    #: flags before any work and gives its runs every GPU of a tensor-parallel vLLM engine.
    uses_llm: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Derive ``defaults`` from the class's ``Params``, so the two cannot disagree; a
        hand-written ``defaults`` dict is refused (declare the parameters in ``Params``)."""
        super().__init_subclass__(**kwargs)
        if "defaults" in cls.__dict__:
            raise TypeError(f"{cls.__name__}: declare the parameters as a Params dataclass "
                            "(methods.params), not a defaults dict")  # fmt: skip
        cls.defaults = cls.Params.profile_view()

    @classmethod
    def resources(cls, profile: str, *, tensor_parallel_size: int = 1) -> dict[str, float]:
        """What one run (a fit and the tasks it answers) asks of a Ray cluster: one CPU, and
        one GPU under ``gpu_profiles``. An LLM method (``uses_llm``) whose vLLM engine is
        split over ``tensor_parallel_size`` > 1 GPUs asks for all of them."""
        gpus = 1 if profile in cls.gpu_profiles else 0
        if cls.uses_llm and tensor_parallel_size > 1:
            gpus = tensor_parallel_size
        return {"num_cpus": 1, "num_gpus": gpus}

    @classmethod
    def param_defaults(cls, profile: str = "cpu") -> dict[str, Any]:
        """Every accepted hyperparameter with its default under ``profile`` (the ``cpu``
        values, overridden by the profile's)."""
        return cls.Params.defaults_for(profile)

    def __init__(self, profile: str = "cpu", **params: Any) -> None:
        name = self.name or type(self).__name__
        self.params: dict[str, Any] = self.Params.resolve(name, profile, params)
        self.profile = profile
        #: filled by ``fit``: anything worth recording in the results (epochs, best epoch...).
        self.fit_info: dict[str, Any] = {}
        #: filled while answering one task's requests (reset by the harness before each task),
        #: e.g. the invalid-output rate of free generation; stored in that task's result.
        self.predict_info: dict[str, Any] = {}
        #: the prompt wording of the task being answered (set by the harness)
        self.prompt: str = "seen"

    @abstractmethod
    def fit(self, ctx: FitContext) -> None:
        """Train on ``ctx.split.train`` (validation targets allowed for early stopping)."""

    @abstractmethod
    def score_all(self, users: np.ndarray, histories: list[np.ndarray]) -> torch.Tensor:
        """Scores ``[len(users), n_items + 1]`` for every item; column 0 (padding) is ignored."""

    def score_candidates(
        self, users: np.ndarray, histories: list[np.ndarray], candidates: np.ndarray
    ) -> torch.Tensor:
        """Scores ``[B, C]`` for the given candidate items; default: gather from ``score_all``."""
        scores = self.score_all(users, histories)
        return scores.gather(1, torch.as_tensor(candidates, dtype=torch.long, device=scores.device))

    def generate_explanations(
        self, users: np.ndarray, items: np.ndarray, features: list[str]
    ) -> list[str]:
        """One explanation sentence per (user, item); only methods with "generation" in
        ``task_kinds`` implement it."""
        raise NotImplementedError(f"{type(self).__name__} does not generate text")


class TextMethod(Method):
    """Base of methods that only write explanations (the retrieval baselines): no ranking. They
    read no prompt, so they answer every prompt wording and stand beside the prompted methods
    on the held-out-template boards too."""

    task_kinds = frozenset({"generation"})
    prompt_variants = frozenset({"seen", "unseen"})

    def score_all(self, users: np.ndarray, histories: list[np.ndarray]) -> torch.Tensor:
        raise NotImplementedError(f"{self.name} only generates explanations")
