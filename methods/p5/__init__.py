"""The P5 family: T5 recommenders trained on prompt templates, ids spelled as text.

- ``p5.py``: P5 (Geng et al., RecSys 2022), the trainer and ranker the others build on.
- ``pod.py``: POD, P5 plus continuous per-family task prompts and short inference inputs.
- ``peapod.py``: PeaPOD, POD plus a personalised user prompt (pool, kNN, no-user ablation).
- ``templates.py``: the prompt templates (seen, held-out and POD's short inputs).
- ``samples.py``: training and evaluation samples rendered from a split, with the leak rules.

Nothing is re-exported here: the method registry (``methods/__init__.py``) names each class by
its module, e.g. ``methods.p5.pod:POD``, and imports it on first use.
"""
