"""The skip log: every input an adapter cannot use is counted with where it was (file:line), never dropped silently."""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field


@dataclass
class SkipLog:
    """Counts and up to five examples per reason of inputs an adapter could not use."""

    counts: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def add(self, reason: str, where: str) -> None:
        self.counts[reason] += 1
        if len(self.examples[reason]) < 5:
            self.examples[reason].append(where)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        if not self.counts:
            return "nothing skipped"
        return "; ".join(f"{n} {r} (e.g. {', '.join(self.examples[r][:2])})" for r, n in self.counts.most_common())
