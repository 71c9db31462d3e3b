"""Copy baseline for explanation generation: answer with the user's own latest explanation.

For each user it returns that user's most recent training explanation (latest ``timestamp``,
then latest review row); a user without one gets the item's typical explanation (``item-expl``).
Beside ``item-expl`` it shows how much of an explanation score a method could earn by recalling
what the user already wrote, which is what a generative method must add to.
"""

from __future__ import annotations

import numpy as np

from benchmark.errors import ConfigError
from methods.base import FitContext, TextMethod
from methods.item_explanation import ItemExplanation
from methods.params import NoParams


class UserCopy(TextMethod):
    """Explanation baseline: the user's latest training explanation (retrieval)."""

    name = "user-copy"
    bibtex = ""
    baseline = ("the user's most recent training explanation (item-expl's answer for a user "
                "without one)")
    Params = NoParams

    def fit(self, ctx: FitContext) -> None:
        if ctx.explanation is None:
            raise ConfigError(f"{self.name} needs review data for the explanation task")
        train = ctx.explanation.part("train")
        latest = train.assign(_row=np.arange(len(train))).sort_values(
            ["timestamp", "_row"], kind="stable"
        ).groupby("user", sort=True).tail(1)
        self.by_user = {int(u): str(e) for u, e in zip(latest["user"], latest["explanation"])}
        self.fallback = ItemExplanation(profile=self.profile)
        self.fallback.fit(ctx)
        self.fit_info = {"users_with_explanations": len(self.by_user)}

    def generate_explanations(
        self, users: np.ndarray, items: np.ndarray, features: list[str]
    ) -> list[str]:
        backup = self.fallback.generate_explanations(users, items, features)
        answers = [self.by_user.get(int(u)) for u in users]
        self.predict_info = {"fallback_answers": int(sum(a is None for a in answers))}
        return [a if a is not None else b for a, b in zip(answers, backup)]
