"""Model backends: the T5 core of the P5 family (``benchmark.backends.t5``) and, later, the
text-generation backends (transformers, vLLM) for decoder-only LLMs."""
