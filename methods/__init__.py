"""The method registry: names map to ``"module:Class"`` strings, imported on first use."""

from benchmark.registry import LazyRegistry
from methods.base import FitContext, Method

METHODS: LazyRegistry[type[Method]] = LazyRegistry("method")
METHODS.add("pop", "methods.pop:Popularity")
METHODS.add("random", "methods.random_baseline:RandomScores")
METHODS.add("idplus1", "methods.idplus1:IdPlusOne")
METHODS.add("sasrec", "methods.sasrec:SASRec")
METHODS.add("item-expl", "methods.item_explanation:ItemExplanation")
METHODS.add("p5", "methods.p5:P5")
METHODS.add("pod", "methods.pod:POD")

__all__ = ["METHODS", "FitContext", "Method"]
