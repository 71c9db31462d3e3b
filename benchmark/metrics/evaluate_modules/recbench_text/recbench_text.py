"""recbench explanation metrics (P5-compatible BLEU and ROUGE, and the standard variants) as an
``evaluate`` module.

The numbers come from ``benchmark.metrics.text.text_metrics``, the function that scores the
suite's explanation task: ``bleu-1``/``bleu-4`` (corpus, whitespace tokens, no smoothing, as P5
and POD reported), ``rouge-1``/``rouge-2``/``rouge-l`` (P5's set-based ROUGE, mean per pair), and
``sacrebleu``/``rouge-score-*`` (the library defaults, not comparable with P5's). All x100.
"""

import datasets
import evaluate

# Indented so that evaluate's import scan does not ask pip for a package named "benchmark".
try:
    from benchmark.metrics.text import TEXT_METRICS, text_metrics
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "recbench_text calls recbench's own metrics: install recbench (pip install recbench) "
        "or put its checkout on PYTHONPATH"
    ) from exc

_DESCRIPTION = __doc__

_KWARGS_DESCRIPTION = """
Args:
    predictions: generated explanations, one string per example.
    references: the reference explanation of each example.
    metrics: names to return (default: all of bleu-1, bleu-4, sacrebleu, rouge-1, rouge-2,
        rouge-l, rouge-score-1, rouge-score-2, rouge-score-l).
Returns:
    Each metric on a 0-100 scale: corpus BLEU, ROUGE F averaged over pairs.
Examples:
    >>> text = evaluate.load("benchmark/metrics/evaluate_modules/recbench_text")
    >>> text.compute(predictions=["soft cream"], references=["soft cream"], metrics=["rouge-1"])
    {'rouge-1': 100.0}
"""

_CITATION = """\
@software{recbench,
  title = {recbench: an open benchmark and evaluation suite for LLM-based recommenders}
}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class RecbenchText(evaluate.Metric):
    """P5-compatible and standard BLEU/ROUGE, computed by recbench."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({
                "predictions": datasets.Value("string"),
                "references": datasets.Value("string"),
            }),
        )

    def _compute(self, predictions, references, metrics=None):
        names = list(TEXT_METRICS) if metrics is None else (
            [metrics] if isinstance(metrics, str) else list(metrics))
        unknown = [m for m in names if m not in TEXT_METRICS]
        if unknown:
            raise ValueError(f"unknown text metric(s) {unknown}; expected some of "
                             f"{', '.join(TEXT_METRICS)}")
        corpus, _ = text_metrics(predictions, references)
        return {m: corpus[m] for m in names}
