"""Early rumour detection metrics (rumour = positive class).

Every method is evaluated from a list of :class:`Decision` records, one per test event:

* accuracy, precision, recall, F1 of the answers (an event never answered counts as wrong);
* early rate ER (HEARD, Zeng & Gao 2022): mean over events of posts read at the decision
  divided by the posts of the stream; lower is earlier;
* mean time to answer: hours from the first post to the last post read;
* flip rate: mean over events of the share of consecutive predictions, from the decision to the
  end of the stream, that change (the method keeps reading after it has answered; an event
  answered on its last chunk has no flip);
* SEA (HEARD) = [accuracy + (1 - ER) + (1 - flip rate)] / 3.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Decision:
    """One method's decision on one event.

    Attributes:
        label: the true label (1 = rumour).
        answer: the answer (1 = rumour, 0 = non-rumour), or ``None`` when none was given.
        chunk: 0-based index of the chunk at which the method answered.
        posts_read: posts read when answering.
        n_posts: posts of the whole stream.
        time_to_answer: seconds from the first post to the last post read.
        later_predictions: the method's predictions from the decision chunk to the last chunk
            (the first one is the answer when there is one).
    """

    label: int
    answer: int | None
    chunk: int
    posts_read: int
    n_posts: int
    time_to_answer: float
    later_predictions: tuple[int, ...] = ()


def flip_rate(predictions: Sequence[int]) -> float:
    """Share of consecutive pairs of ``predictions`` that differ (0 for fewer than 2)."""
    p = np.asarray(predictions)
    return float(np.mean(p[1:] != p[:-1])) if p.size > 1 else 0.0


def compute_metrics(decisions: Sequence[Decision]) -> dict[str, float]:
    """Accuracy, precision, recall, F1, ER, time to answer (hours), flip rate, SEA, n."""
    if not decisions:
        raise ValueError("compute_metrics needs at least one decision")
    labels = np.array([d.label for d in decisions])
    answers = np.array([-1 if d.answer is None else d.answer for d in decisions])
    tp = float(np.sum((answers == 1) & (labels == 1)))
    precision = tp / max(float(np.sum(answers == 1)), 1.0)
    recall = tp / max(float(np.sum(labels == 1)), 1.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    accuracy = float(np.mean(answers == labels))
    er = float(np.mean([d.posts_read / d.n_posts for d in decisions]))
    flips = float(np.mean([flip_rate(d.later_predictions) for d in decisions]))
    return {
        "accuracy": accuracy,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "early_rate": er,
        "hours_to_answer": float(np.mean([d.time_to_answer for d in decisions])) / 3600.0,
        "flip_rate": flips,
        "sea": (accuracy + (1.0 - er) + (1.0 - flips)) / 3.0,
        "n": float(len(decisions)),
    }


def accuracy_by_deadline(
    decisions: Sequence[Decision], deadlines_seconds: Sequence[float]
) -> np.ndarray:
    """Share of events answered correctly no later than each deadline: ``(len(deadlines),)``.

    An event answered after the deadline (or never) counts as not answered correctly, so each
    curve rises to the method's accuracy once every answer is in.
    """
    t = np.array([d.time_to_answer for d in decisions])
    ok = np.array([d.answer is not None and d.answer == d.label for d in decisions])
    return np.array([float(np.mean(ok & (t <= dl))) for dl in deadlines_seconds])


_COLUMNS = ("accuracy", "precision", "recall", "f1", "early_rate", "hours_to_answer",
            "flip_rate", "sea")  # fmt: skip


def format_table(rows: Mapping[str, Mapping[str, float]]) -> str:
    """A fixed-width text table of metric dictionaries, one row per method."""
    width = max(12, *(len(name) for name in rows))
    head = f"{'method':<{width}} " + " ".join(f"{c[:9]:>9}" for c in _COLUMNS)
    lines = [head, "-" * len(head)]
    for name, m in rows.items():
        lines.append(f"{name:<{width}} " + " ".join(f"{m[c]:>9.3f}" for c in _COLUMNS))
    return "\n".join(lines)
