"""Turn an LLM's free-text ranking of a numbered candidate list into an order of candidates.

Pure string handling (no model, no torch), so every rule is unit-tested on its own. Small
instruction-tuned models rarely follow an output format exactly: they number their lines, repeat
the brackets of the prompt, write titles instead of numbers, repeat items or invent numbers. The
rules, applied in this order:

1. **Bracketed numbers.** If the answer contains ``[n]`` markers (the prompt's own notation,
   e.g. ``"[3] > [1]"`` or ``"1. [3] Heat (1995)"``), those numbers, in order, are the ranking and
   nothing else is read.
2. **Lines.** Otherwise the answer is read line by line. When the lines that start with ``1.``,
   ``2.``, ``3.`` ... (at least two) number them in order from 1, the list is an enumeration:
   those markers are rank positions and are dropped (a last line cut by the token budget may
   lack one). Bullets (``-``, ``*``) are always dropped. Then each line is, first match wins:
   - a candidate's title, exactly or after normalisation (case, accents, punctuation, articles
     such as the trailing ", The" of MovieLens titles; then without the year);
   - a list of numbers (digits and separators only, after an optional ``"Ranking:"`` or
     ``"The ranking is"`` lead-in): each number is a candidate number, ``"3, 1, 2"``,
     ``"3 > 1 > 2"``;
   - every candidate title found inside the line (several on one line, by position), then the
     closest title by ``difflib`` above ``fuzzy_cutoff``;
   - a number that names a candidate outright: at the start of the line (``"3. Star Wars"``,
     ``"(3) ..."``) or after "candidate", "number", "no." or "#" (``"Candidate 3 is best"``).
     Other numbers in text (years, numbers in titles) are never read as candidates.
3. Numbers outside ``1..n`` are counted as out of range and skipped; an item named again is
   counted as a duplicate and skipped (its first mention wins).

:func:`complete_order` puts the candidates the answer did not rank after the ranked ones, in
candidate order, so every candidate gets a distinct rank.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["ParsedRanking", "complete_order", "normalise_title", "parse_ranking"]

_BRACKET = re.compile(r"\[\s*(\d+)\s*\]")
_ENUM = re.compile(r"^\s*(\d+)\s*[.)]\s*")
_BULLET = re.compile(r"^\s*[-*\u2022]+\s*")
_LEAD_IN = re.compile(r"^[^\d:]{0,60}:\s*")
_NUMBER_LIST = re.compile(r"^[\s\d,;>|/&.#()-]*$")
#: words then two or more separated numbers: "The ranking is 3, 1, 2"
_WORDY_LIST = re.compile(r"^[A-Za-z][A-Za-z' ]{0,59}?\s(\d+(?:\s*[,;>|/]\s*\d+)+)[\s,;.]*$")
_LEADING_NUMBER = re.compile(r"^\s*[(\[#]?\s*(\d+)\s*[.):\]-]")
_NAMED_NUMBER = re.compile(r"(?:\b(?:candidate|number|no\.)|#)\s*(\d+)", re.IGNORECASE)
_INT = re.compile(r"\d+")
_YEAR = re.compile(r"\(\s*\d{4}\s*\)")
_ARTICLES = {"the", "a", "an"}


@dataclass
class ParsedRanking:
    """What could be read from one answer.

    ``order`` holds 0-based candidate positions, best first, without repeats; ``n_duplicates``
    and ``n_out_of_range`` count what was skipped; ``n_unread`` counts answer lines that named
    no candidate; ``how`` says which rules matched (``"index"``, ``"title"``, ``"fuzzy"``).
    """

    order: list[int] = field(default_factory=list)
    n_duplicates: int = 0
    n_out_of_range: int = 0
    n_unread: int = 0
    how: set[str] = field(default_factory=set)

    @property
    def valid(self) -> bool:
        """Whether anything at all was parsed (an empty order is an invalid output)."""
        return bool(self.order)

    def _add(self, position: int, n: int) -> None:
        if not 0 <= position < n:
            self.n_out_of_range += 1
        elif position in self.order:
            self.n_duplicates += 1
        else:
            self.order.append(position)


def normalise_title(text: str) -> str:
    """Lower case, accents and punctuation removed, articles dropped, spaces collapsed: the
    form in which ``"The Usual Suspects (1995)"`` equals MovieLens's ``"Usual Suspects, The
    (1995)"``."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    words = re.sub(r"[^0-9a-z]+", " ", text).split()
    return " ".join(w for w in words if w not in _ARTICLES)


def parse_ranking(
    text: str, titles: Sequence[str], *, fuzzy_cutoff: float = 0.8
) -> ParsedRanking:
    """Read a ranking of the ``len(titles)`` candidates, numbered from 1 in the prompt, from an
    answer (rules in the module docstring)."""
    n = len(titles)
    out = ParsedRanking()
    if not text or not text.strip():
        return out
    brackets = _BRACKET.findall(text)
    if brackets:
        out.how.add("index")
        for number in brackets:
            out._add(int(number) - 1, n)
        return out
    matcher = _TitleMatcher(titles, fuzzy_cutoff)
    for line in _list_lines(text):
        found, how = matcher.exact(line)
        if not found:
            numbers = _number_list(line)
            if numbers is not None:
                found, how = [x - 1 for x in numbers], "index"
        if not found:
            found, how = matcher.approximate(line)
        if not found:
            leading = _LEADING_NUMBER.match(line)
            named = [leading.group(1)] if leading else _NAMED_NUMBER.findall(line)
            found, how = [int(x) - 1 for x in named], "index"
        if not found:
            out.n_unread += 1
            continue
        out.how.add(how)
        for position in found:
            out._add(position, n)
    return out


def complete_order(order: Sequence[int], n: int) -> list[int]:
    """``order`` followed by the candidates it leaves out, in candidate order: a permutation of
    ``range(n)``, so ranks never tie."""
    ranked = [p for p in dict.fromkeys(order) if 0 <= p < n]
    taken = set(ranked)
    return ranked + [p for p in range(n) if p not in taken]


def _list_lines(text: str) -> list[str]:
    """Non-empty lines, with bullets and (for an enumerated list) rank numbers removed."""
    lines = [_BULLET.sub("", line).strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    enums = [_ENUM.match(line) for line in lines]
    numbers = [int(m.group(1)) for m in enums if m]
    if len(numbers) >= 2 and numbers == list(range(1, len(numbers) + 1)):
        lines = [line[m.end():].strip() if m else line for line, m in zip(lines, enums)]
    return [line for line in lines if line]


def _number_list(line: str) -> list[int] | None:
    """The numbers of a line made of numbers and separators only (after an optional lead-in
    such as ``"Ranking:"``), or None for any other line."""
    for candidate in (line, _LEAD_IN.sub("", line, count=1)):
        if _NUMBER_LIST.match(candidate) and _INT.search(candidate):
            return [int(x) for x in _INT.findall(candidate)]
    wordy = _WORDY_LIST.match(line)
    if wordy:
        return [int(x) for x in _INT.findall(wordy.group(1))]
    return None


class _TitleMatcher:
    """Finds candidate titles in an answer line, from exact to fuzzy (module docstring)."""

    def __init__(self, titles: Sequence[str], cutoff: float) -> None:
        self.titles = [str(t) for t in titles]
        self.cutoff = cutoff
        self.by_norm: dict[str, int] = {}
        bare: dict[str, list[int]] = {}
        for i, title in enumerate(self.titles):
            norm = normalise_title(title)
            if norm:
                self.by_norm.setdefault(norm, i)  # the first of equal titles wins
            plain = normalise_title(_YEAR.sub(" ", title))
            if plain:
                bare.setdefault(plain, []).append(i)
        #: titles without their year, where that still names one candidate
        self.by_bare = {k: v[0] for k, v in bare.items() if len(v) == 1}
        self.choices = {**self.by_bare, **self.by_norm}

    def exact(self, line: str) -> tuple[list[int], str]:
        """The candidate ``line`` names in full: exact, normalised, or without the year. A
        leading "3." may be a candidate number or a rank, so it is tried without it too (after
        the line as it is: "12 Angry Men (1957)" is a title)."""
        text = line.strip().strip("\"'`*_").strip()
        for variant in dict.fromkeys((text, _ENUM.sub("", text).strip("\"'`*_ "))):
            if variant in self.titles:
                return [self.titles.index(variant)], "title"
            norm = normalise_title(variant)
            if norm in self.by_norm:
                return [self.by_norm[norm]], "title"
            if norm in self.by_bare:
                return [self.by_bare[norm]], "title"
        return [], ""

    def approximate(self, line: str) -> tuple[list[int], str]:
        """Titles inside the line, by position; else the closest title above the cutoff."""
        text = line.strip().strip("\"'`*_").strip()
        norm = normalise_title(text)
        if not norm:
            return [], ""
        inside = self._inside(norm)
        if inside:
            return inside, "title"
        variant = normalise_title(_ENUM.sub("", text))
        close = difflib.get_close_matches(variant, list(self.choices), n=1, cutoff=self.cutoff)
        if close:
            return [self.choices[close[0]]], "fuzzy"
        return [], ""

    def _inside(self, norm: str) -> list[int]:
        """Candidates whose normalised title occurs as whole words in ``norm``, by position;
        longer titles win where two overlap ("die hard 2" over "die hard")."""
        padded = f" {norm} "
        hits: list[tuple[int, int, int]] = []  # (start, -length, candidate)
        for title_norm, i in self.by_norm.items():
            start = padded.find(f" {title_norm} ")
            while start >= 0:
                hits.append((start, -len(title_norm), i))
                start = padded.find(f" {title_norm} ", start + 1)
        found: list[int] = []
        end = -1
        for start, neg_len, i in sorted(hits):
            if start >= end:
                found.append(i)
                end = start + 1 - neg_len
        return found
