"""Sparse multinomial logistic regression in plain numpy.

Why not scikit-learn: the model is a weight matrix and a bias, and training it on a few
thousand emails takes seconds with full-batch gradient descent over a CSR matrix. Keeping
it here means no heavyweight dependency, a file format we control (no pickle), and
bit-for-bit reproducible training (no randomness at all).

Documents are sets of token ids. Each document's features are scaled by 1/sqrt(n_tokens),
so a 2,000-word newsletter and a one-line request live on the same scale; inference must
apply the same scaling (`doc_scale`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]


def doc_scale(n_tokens: int) -> float:
    return 1.0 / float(np.sqrt(max(n_tokens, 1)))


@dataclass(frozen=True)
class SparseDocs:
    """CSR-style: the token ids of document i are indices[indptr[i]:indptr[i+1]]."""

    indptr: I64
    indices: I64
    n_features: int

    @classmethod
    def from_id_lists(cls, docs: Sequence[Sequence[int]], n_features: int) -> SparseDocs:
        lengths = np.fromiter((len(d) for d in docs), dtype=np.int64, count=len(docs))
        indptr = np.zeros(len(docs) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        flat = [i for d in docs for i in d]
        return cls(indptr, np.asarray(flat, dtype=np.int64), n_features)

    @property
    def n_docs(self) -> int:
        return len(self.indptr) - 1

    def lengths(self) -> I64:
        return np.diff(self.indptr)

    def take(self, rows: I64) -> SparseDocs:
        docs = [self.indices[self.indptr[r] : self.indptr[r + 1]] for r in rows]
        return SparseDocs.from_id_lists([d.tolist() for d in docs], self.n_features)


@dataclass(frozen=True)
class LinearModel:
    weights: F32  # (n_features, n_classes)
    bias: F32  # (n_classes,)

    def logits(self, docs: SparseDocs) -> npt.NDArray[np.float64]:
        return _logits(docs, self.weights.astype(np.float64), self.bias.astype(np.float64))


def _logits(
    docs: SparseDocs, w: npt.NDArray[np.float64], b: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    lengths = docs.lengths()
    scale = 1.0 / np.sqrt(np.maximum(lengths, 1))
    out = np.zeros((docs.n_docs, w.shape[1]))
    nonempty = lengths > 0
    if docs.indices.size:
        sums = np.add.reduceat(w[docs.indices], docs.indptr[:-1][nonempty], axis=0)
        out[nonempty] = sums
    return out * scale[:, None] + b


def softmax(z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)  # type: ignore[no-any-return]


def fit(
    docs: SparseDocs,
    labels: I64,
    n_classes: int,
    *,
    l2: float = 1e-4,
    epochs: int = 300,
    learning_rate: float = 0.5,
    class_weight: npt.NDArray[np.float64] | None = None,
    sample_weight: npt.NDArray[np.float64] | None = None,
) -> LinearModel:
    """Full-batch Adam on the (class-weighted) cross-entropy with an L2 penalty.

    Deterministic: zero initialisation, fixed epochs, no sampling.
    """
    n, v, k = docs.n_docs, docs.n_features, n_classes
    w = np.zeros((v, k))
    b = np.zeros(k)
    y = np.zeros((n, k))
    y[np.arange(n), labels] = 1.0
    sw = np.ones(n) if class_weight is None else class_weight[labels]
    if sample_weight is not None:
        sw = sw * sample_weight
    sw = sw / sw.sum()
    lengths = docs.lengths()
    scale = 1.0 / np.sqrt(np.maximum(lengths, 1))
    row_of = np.repeat(np.arange(n), lengths)
    m_w, v_w = np.zeros_like(w), np.zeros_like(w)
    m_b, v_b = np.zeros_like(b), np.zeros_like(b)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for t in range(1, epochs + 1):
        p = softmax(_logits(docs, w, b))
        g = (p - y) * sw[:, None]  # (n, k)
        gs = g * scale[:, None]
        contrib = gs[row_of]  # (nnz, k)
        grad_w = np.zeros((v, k))
        for j in range(k):
            grad_w[:, j] = np.bincount(docs.indices, weights=contrib[:, j], minlength=v)
        grad_w += l2 * w
        grad_b = g.sum(axis=0)
        m_w = beta1 * m_w + (1 - beta1) * grad_w
        v_w = beta2 * v_w + (1 - beta2) * grad_w**2
        m_b = beta1 * m_b + (1 - beta1) * grad_b
        v_b = beta2 * v_b + (1 - beta2) * grad_b**2
        lr_t = learning_rate * np.sqrt(1 - beta2**t) / (1 - beta1**t)
        w -= lr_t * m_w / (np.sqrt(v_w) + eps)
        b -= lr_t * m_b / (np.sqrt(v_b) + eps)
    return LinearModel(w.astype(np.float32), b.astype(np.float32))
