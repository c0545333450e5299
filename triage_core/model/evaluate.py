"""`triage model eval`: the quality figures the README quotes, computed the same way each time.

Two honest tests, neither ever trained on:
- SpamAssassin time-ordered: trained on the `*-1` sets, tested on `easy-ham-2` + `spam-2`.
- The business set's held-out split (`data/business/heldout/`): per-category precision,
  recall and F1, macro-F1, the confusion matrix, and priority accuracy through the whole
  pipeline (priority depends on category, so it is measured end to end).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from triage_core.classify.base import Classifier
from triage_core.model.corpus import CorpusMessage
from triage_core.model.dataset import LabeledEmail
from triage_core.parsing import parse_email
from triage_core.pipeline import Pipeline
from triage_core.result import OTHER


@dataclass(frozen=True)
class SpamReport:
    ham: int
    spam: int
    spam_caught: int
    ham_called_spam: int

    @property
    def recall(self) -> float:
        return self.spam_caught / self.spam if self.spam else 0.0

    @property
    def ham_fp_rate(self) -> float:
        return self.ham_called_spam / self.ham if self.ham else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "ham": self.ham,
            "spam": self.spam,
            "spam_caught": self.spam_caught,
            "ham_called_spam": self.ham_called_spam,
            "spam_recall": round(self.recall, 4),
            "ham_false_positive_rate": round(self.ham_fp_rate, 4),
        }


def evaluate_spam(classifier: Classifier, messages: Iterable[CorpusMessage]) -> SpamReport:
    ham = spam = caught = fp = 0
    for m in messages:
        is_spam_pred = classifier.predict(parse_email(m.raw)).category == "spam"
        if m.is_spam:
            spam += 1
            caught += is_spam_pred
        else:
            ham += 1
            fp += is_spam_pred
    return SpamReport(ham, spam, caught, fp)


@dataclass(frozen=True)
class ClassScores:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class CategoryReport:
    labels: tuple[str, ...]  # gold labels, plus `other` if it was predicted
    scores: dict[str, ClassScores]
    confusion: list[list[int]]  # rows: gold, columns: predicted, both in `labels` order
    accuracy: float
    macro_f1: float
    priority_accuracy: float | None
    priority_within_one: float | None
    n: int
    mistakes: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "accuracy": round(self.accuracy, 4),
            "macro_f1": round(self.macro_f1, 4),
            "priority_accuracy": None
            if self.priority_accuracy is None
            else round(self.priority_accuracy, 4),
            "priority_within_one_level": None
            if self.priority_within_one is None
            else round(self.priority_within_one, 4),
            "per_category": {
                lab: {
                    "precision": round(s.precision, 4),
                    "recall": round(s.recall, 4),
                    "f1": round(s.f1, 4),
                    "support": s.support,
                }
                for lab, s in self.scores.items()
            },
            "labels": list(self.labels),
            "confusion": self.confusion,
        }


def evaluate_categories(pipeline: Pipeline, labeled: Sequence[LabeledEmail]) -> CategoryReport:
    gold: list[str] = []
    pred: list[str] = []
    prio_hits = prio_near = prio_n = 0
    mistakes: list[dict[str, str]] = []
    for item in labeled:
        record = {k: v for k, v in item.record.items() if k not in ("category", "priority")}
        result = pipeline.triage(record, source=item.origin)
        gold.append(item.category)
        pred.append(result.category)
        if result.category != item.category:
            mistakes.append(
                {"origin": item.origin, "gold": item.category, "predicted": result.category}
            )
        if item.priority:
            prio_n += 1
            prio_hits += result.priority == item.priority
            prio_near += abs(int(result.priority[1]) - int(item.priority[1])) <= 1
    labels = tuple(sorted(set(gold))) + ((OTHER,) if OTHER in pred and OTHER not in gold else ())
    extra = sorted(set(pred) - set(labels))
    labels = labels + tuple(extra)
    idx = {lab: i for i, lab in enumerate(labels)}
    confusion = [[0] * len(labels) for _ in labels]
    for g, p in zip(gold, pred, strict=True):
        confusion[idx[g]][idx[p]] += 1
    scores: dict[str, ClassScores] = {}
    for lab in sorted(set(gold)):
        i = idx[lab]
        tp = confusion[i][i]
        predicted = sum(row[i] for row in confusion)
        support = sum(confusion[i])
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        scores[lab] = ClassScores(precision, recall, f1, support)
    n = len(gold)
    accuracy = sum(g == p for g, p in zip(gold, pred, strict=True)) / n if n else 0.0
    macro = sum(s.f1 for s in scores.values()) / len(scores) if scores else 0.0
    return CategoryReport(
        labels=labels,
        scores=scores,
        confusion=confusion,
        accuracy=accuracy,
        macro_f1=macro,
        priority_accuracy=prio_hits / prio_n if prio_n else None,
        priority_within_one=prio_near / prio_n if prio_n else None,
        n=n,
        mistakes=mistakes,
    )


def format_category_report(report: CategoryReport) -> str:
    lines = [f"{'category':<14}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}"]
    for lab, s in report.scores.items():
        lines.append(f"{lab:<14}{s.precision:>10.3f}{s.recall:>10.3f}{s.f1:>10.3f}{s.support:>9d}")
    lines.append(f"{'macro-F1':<14}{report.macro_f1:>30.3f}")
    lines.append(f"{'accuracy':<14}{report.accuracy:>30.3f}")
    if report.priority_accuracy is not None and report.priority_within_one is not None:
        lines.append(f"{'priority acc.':<14}{report.priority_accuracy:>30.3f}")
        lines.append(f"{'priority ±1':<14}{report.priority_within_one:>30.3f}")
    lines.append("")
    lines.append("confusion matrix (rows: true, columns: predicted)")
    short = [lab[:5] for lab in report.labels]
    lines.append(" " * 14 + "".join(f"{s:>6}" for s in short))
    for lab, row in zip(report.labels, report.confusion, strict=True):
        if lab in report.scores:
            lines.append(f"{lab:<14}" + "".join(f"{v:>6d}" for v in row))
    return "\n".join(lines)
