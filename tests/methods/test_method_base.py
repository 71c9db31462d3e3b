"""What a run of each method asks of an executor (``Method.resources``)."""

import pytest

from methods import METHODS

GPU_UNDER_PAPER = {"sasrec", "p5", "pod", "peapod", "peapod-knn", "peapod-no-user", "llmrank",
                   "rpp", "uem"}


@pytest.mark.parametrize(
    "name", ["pop", "random", "idplus1", "item-expl", *sorted(GPU_UNDER_PAPER)]
)
def test_gpu_methods_ask_for_one_gpu_under_the_paper_profile_only(name):
    cls = METHODS.get(name)
    assert cls.resources("cpu") == {"num_cpus": 1, "num_gpus": 0}
    want = 1 if name in GPU_UNDER_PAPER else 0
    assert cls.resources("paper") == {"num_cpus": 1, "num_gpus": want}


def test_an_llm_run_asks_for_every_gpu_of_its_tensor_parallel_engine():
    for name in ("llmrank", "rpp"):
        cls = METHODS.get(name)
        assert cls.resources("paper", tensor_parallel_size=4)["num_gpus"] == 4
        assert cls.resources("cpu", tensor_parallel_size=2)["num_gpus"] == 2
    # methods without an LLM ignore it
    assert METHODS.get("sasrec").resources("paper", tensor_parallel_size=4)["num_gpus"] == 1


def test_uses_llm_is_declared_on_every_method():
    from methods.base import Method

    assert Method.uses_llm is False
    assert {n for n in METHODS if METHODS.get(n).uses_llm} >= {"llmrank", "rpp"}
    # uem serves its own trained LM the way --backend asks, not the run's --llm
    assert METHODS.get("uem").uses_llm is False
