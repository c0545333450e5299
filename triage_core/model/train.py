"""`triage model train`: build the embedded model from labeled data, reproducibly.

Inputs: labeled JSONL (our business set, or a user's own with their own taxonomy) and,
optionally, the SpamAssassin `*-1` sets for the spam head. When the labeled data has a
`spam` category or the corpus is used, a separate spam head is trained on spam vs
everything else, and its decision threshold is chosen by 5-fold cross-validation on the
training data alone so that at most `max_ham_fp` of ham is called spam; the category head
then only learns the non-spam categories. Training is deterministic: same data, same
bytes out.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from triage_core.classify.features import category_tokens, spam_tokens
from triage_core.errors import InputError
from triage_core.message import Email
from triage_core.model import corpus, linear
from triage_core.model.artifact import ModelArtifact
from triage_core.model.dataset import LabeledEmail
from triage_core.parsing import parse_email

SPAM = "spam"


@dataclass(frozen=True)
class TrainOptions:
    min_df: int = 3
    max_ham_fp: float = 0.005
    folds: int = 5
    # Category head: a few hundred short emails; more L2 keeps it from memorising names.
    epochs: int = 200
    learning_rate: float = 0.1
    l2: float = 1e-5
    # Spam head: thousands of emails, so it can fit longer with less regularisation.
    spam_epochs: int = 400
    spam_learning_rate: float = 0.1
    spam_l2: float = 1e-6
    # In the spam head, one labeled email weighs as much as this many corpus emails: the
    # labeled set is today's mail, the corpus is from 2002.
    labeled_weight: float = 4.0
    # Ham sets whose false positives set the threshold. SpamAssassin's hard-ham set
    # (legitimate bulk mail built to look like spam) is trained on but does not set it:
    # the threshold is meant for ordinary mail, where a false positive costs most.
    calibrate_on_hard_ham: bool = False


@dataclass(frozen=True)
class _Doc:
    ctoks: frozenset[str]
    stoks: frozenset[str]


def _doc(email: Email) -> _Doc:
    c = category_tokens(email)
    return _Doc(frozenset(c), frozenset(spam_tokens(email, c)))


def train(
    labeled: Sequence[LabeledEmail],
    *,
    spam_corpus: Sequence[corpus.CorpusMessage] = (),
    options: TrainOptions = TrainOptions(),
    log: Callable[[str], None] = lambda _msg: None,
) -> ModelArtifact:
    if not labeled:
        raise InputError("no labeled emails to train on")
    labeled_docs = [_doc(parse_email(_strip_labels(item.record))) for item in labeled]
    corpus_docs = [_doc(parse_email(m.raw)) for m in spam_corpus]
    categories = sorted({item.category for item in labeled})
    has_spam_head = SPAM in categories or bool(spam_corpus)
    cat_labels = tuple(c for c in categories if c != SPAM) if has_spam_head else tuple(categories)
    if len(cat_labels) < 2:
        raise InputError(f"need at least two non-spam categories, got {list(cat_labels)}")

    df: Counter[str] = Counter()
    for d in labeled_docs:
        df.update(d.stoks)
    for d in corpus_docs:
        df.update(d.stoks)
    vocab = tuple(sorted(t for t, n in df.items() if n >= options.min_df))
    index = {t: i for i, t in enumerate(vocab)}
    log(f"vocabulary: {len(vocab)} tokens (min_df={options.min_df})")

    def ids(tokens: frozenset[str]) -> list[int]:
        return sorted(index[t] for t in tokens if t in index)

    # Category head.
    cat_rows = [
        (ids(d.ctoks), cat_labels.index(item.category))
        for d, item in zip(labeled_docs, labeled, strict=True)
        if item.category in cat_labels
    ]
    cat_docs = linear.SparseDocs.from_id_lists([r[0] for r in cat_rows], len(vocab))
    y = np.asarray([r[1] for r in cat_rows], dtype=np.int64)
    counts = np.bincount(y, minlength=len(cat_labels)).astype(np.float64)
    weight = counts.sum() / (len(cat_labels) * np.maximum(counts, 1))
    log(f"category head: {len(cat_rows)} emails, {len(cat_labels)} categories")
    cat_model = linear.fit(
        cat_docs,
        y,
        len(cat_labels),
        l2=options.l2,
        epochs=options.epochs,
        learning_rate=options.learning_rate,
        class_weight=weight,
    )

    spam_w: np.ndarray[Any, np.dtype[np.float32]] | None = None
    spam_b = 0.0
    threshold = 0.0
    if has_spam_head:
        s_ids = [ids(d.stoks) for d in corpus_docs] + [ids(d.stoks) for d in labeled_docs]
        s_y = np.asarray(
            [int(m.is_spam) for m in spam_corpus]
            + [int(item.category == SPAM) for item in labeled],
            dtype=np.int64,
        )
        if s_y.sum() == 0 or s_y.sum() == len(s_y):
            raise InputError("the spam head needs both spam and non-spam examples")
        s_w = np.asarray([1.0] * len(corpus_docs) + [options.labeled_weight] * len(labeled_docs))
        s_docs = linear.SparseDocs.from_id_lists(s_ids, len(vocab))
        calibrate = np.asarray(
            [
                options.calibrate_on_hard_ham or not m.group.startswith("hard-ham")
                for m in spam_corpus
            ]
            + [True] * len(labeled_docs)
        )
        threshold = _cv_threshold(s_docs, s_y, s_w, calibrate, options, log)
        model = _fit_binary(s_docs, s_y, s_w, options)
        spam_w = (model.weights[:, 1] - model.weights[:, 0]).astype(np.float32)
        spam_b = float(model.bias[1] - model.bias[0]) - threshold
        log(f"spam head: {len(s_y)} emails ({int(s_y.sum())} spam), threshold {threshold:.3f}")

    info = {
        "categories": list(cat_labels),
        "labeled_emails": len(labeled),
        "spam_corpus": f"{corpus.PACKAGE}@{corpus.VERSION} {','.join(corpus.TRAIN_SETS)}"
        if spam_corpus
        else None,
        "spam_corpus_emails": len(spam_corpus),
        "spam_threshold_logit": round(threshold, 6),
        "max_ham_fp": options.max_ham_fp,
        "options": options.__dict__,
        "data_sha256": data_digest(labeled, spam_corpus),
    }
    return ModelArtifact(
        vocab=vocab,
        category_labels=cat_labels,
        cat_w=cat_model.weights,
        cat_b=cat_model.bias,
        spam_w=spam_w,
        spam_b=spam_b,
        info=info,
    )


def data_digest(
    labeled: Sequence[LabeledEmail], spam_corpus: Sequence[corpus.CorpusMessage]
) -> str:
    """Identifies the training data, so a test can tell when the shipped model is stale."""
    digest = hashlib.sha256()
    for item in labeled:
        digest.update(repr(sorted(item.record.items())).encode())
    for m in spam_corpus:
        digest.update(m.raw)
    return digest.hexdigest()


def _fit_binary(
    docs: linear.SparseDocs, y: np.ndarray[Any, Any], w: np.ndarray[Any, Any], o: TrainOptions
) -> linear.LinearModel:
    counts = np.bincount(y, minlength=2).astype(np.float64)
    weight = counts.sum() / (2 * np.maximum(counts, 1))
    return linear.fit(
        docs,
        y,
        2,
        l2=o.spam_l2,
        epochs=o.spam_epochs,
        learning_rate=o.spam_learning_rate,
        class_weight=weight,
        sample_weight=w,
    )


def _cv_threshold(
    docs: linear.SparseDocs,
    y: np.ndarray[Any, Any],
    w: np.ndarray[Any, Any],
    calibrate: np.ndarray[Any, Any],
    o: TrainOptions,
    log: Callable[[str], None],
) -> float:
    """The smallest logit threshold (>= 0) that keeps out-of-fold ham false positives at or
    under `max_ham_fp`. Folds are assigned round-robin: deterministic, and stratified
    enough because the sets are concatenated in a fixed order."""
    n = len(y)
    oof = np.zeros(n)
    fold_of = np.arange(n) % o.folds
    for k in range(o.folds):
        tr = np.flatnonzero(fold_of != k)
        te = np.flatnonzero(fold_of == k)
        m = _fit_binary(docs.take(tr), y[tr], w[tr], o)
        z = m.logits(docs.take(te))
        oof[te] = z[:, 1] - z[:, 0]
    ham = np.sort(oof[(y == 0) & calibrate])
    allowed = int(np.floor(o.max_ham_fp * len(ham)))
    # Threshold just above the (allowed+1)-th highest ham score.
    cut = ham[-(allowed + 1)] + 1e-6 if len(ham) > allowed else 0.0
    threshold = max(0.0, float(cut))
    recall = float((oof[y == 1] >= threshold).mean())
    log(f"cross-validated spam recall at that threshold: {recall:.4f}")
    return threshold


def _strip_labels(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in ("category", "priority")}


def default_training_data() -> list[Path]:
    return [Path("data") / "business" / "train"]
