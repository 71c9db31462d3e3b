"""recbench: a benchmark and evaluation suite for LLM-based recommenders.

The architecture follows the data flow:
data (benchmark.data) -> task (tasks) -> method (methods) -> metrics (benchmark.metrics)
-> stats (benchmark.stats) -> results (benchmark.results) -> leaderboard (benchmark.leaderboard).
"""

__version__ = "0.1.0"
