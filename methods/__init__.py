"""The method registry: names map to ``"module:Class"`` strings, imported on first use.

The key here is read without importing the method's module; each class repeats it as its
``name`` (used when the class is built directly), and ``METHODS.get`` refuses a mismatch.
"""

from benchmark.registry import LazyRegistry
from methods.base import FitContext, Method

METHODS: LazyRegistry[type[Method]] = LazyRegistry("method", name_attr="name")
METHODS.add("pop", "methods.pop:Popularity")
METHODS.add("random", "methods.random_baseline:RandomScores")
METHODS.add("idplus1", "methods.idplus1:IdPlusOne")
METHODS.add("last-item", "methods.last_item:LastItemTransitions")
METHODS.add("sasrec", "methods.sasrec:SASRec")
METHODS.add("item-expl", "methods.item_explanation:ItemExplanation")
METHODS.add("global-expl", "methods.item_explanation:GlobalExplanation")
METHODS.add("user-copy", "methods.user_copy:UserCopy")
METHODS.add("p5", "methods.p5.p5:P5")
METHODS.add("pod", "methods.p5.pod:POD")
METHODS.add("peapod", "methods.p5.peapod:PeaPODPool")
METHODS.add("peapod-knn", "methods.p5.peapod:PeaPODKNN")
METHODS.add("peapod-no-user", "methods.p5.peapod:PeaPODNoUser")
METHODS.add("llmrank", "methods.llmrank:LLMRank")
METHODS.add("llmrank-ll", "methods.llmrank:LLMRankLL")
METHODS.add("rpp", "methods.rpp:RPP")
METHODS.add("rpp-ll", "methods.rpp:RPPLL")
METHODS.add("uem", "methods.uem:UEM")
METHODS.add("p2rec", "methods.p2rec:P2Rec")
METHODS.add("p2rec-untuned", "methods.p2rec:P2RecUntuned")
METHODS.add("p2rec-self-init", "methods.p2rec:P2RecSelfInit")

__all__ = ["METHODS", "FitContext", "Method"]
