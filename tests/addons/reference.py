"""Straightforward float64 numpy references of tensorflow-addons 0.23's
metric-learning losses (loops over pairs, written from tfa's definitions and
the numpy references in tfa's tests), including tfa's fallbacks."""

import numpy as np


def l2(x):
    x = np.asarray(x, np.float64)
    return np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))


def squared_l2(x):
    return l2(x) ** 2


def angular(x):
    x = np.asarray(x, np.float64)
    norm = np.sqrt(np.maximum((x ** 2).sum(-1, keepdims=True), 1e-12))
    xn = x / norm
    return np.maximum(1.0 - xn @ xn.T, 0.0)


DISTANCES = {"L2": l2, "squared-L2": squared_l2, "angular": angular}


def _labels(labels):
    return np.asarray(labels).reshape(-1)


def triplet_semihard(labels, x, margin=1.0, metric="L2"):
    labels = _labels(labels)
    d = DISTANCES[metric](x)
    n = len(labels)
    total, count = 0.0, 0
    for a in range(n):
        negatives = sorted(d[a, k] for k in range(n) if labels[k] != labels[a])
        for p in range(n):
            if p == a or labels[p] != labels[a]:
                continue
            count += 1
            farther = [dn for dn in negatives if dn > d[a, p]]
            if farther:  # semi-hard: closest negative farther than p
                neg = farther[0]
            elif negatives:  # none: the farthest negative
                neg = negatives[-1]
            else:  # no negative at all: tfa's masked max gives the row min
                neg = d[a].min()
            total += max(margin + d[a, p] - neg, 0.0)
    return total / count if count else 0.0  # tfa: NaN when count == 0


def triplet_hard(labels, x, margin=1.0, soft=False, metric="L2"):
    labels = _labels(labels)
    d = DISTANCES[metric](x)
    n = len(labels)
    total = 0.0
    for a in range(n):
        pos = [d[a, j] for j in range(n) if j != a and labels[j] == labels[a]]
        neg = [d[a, j] for j in range(n) if labels[j] != labels[a]]
        hardest_pos = max(pos) if pos else d[a].min()  # tfa's fallbacks
        hardest_neg = min(neg) if neg else d[a].max()
        gap = hardest_pos - hardest_neg
        total += np.log1p(np.exp(gap)) if soft else max(gap + margin, 0.0)
    return total / n if n else 0.0


def lifted_struct(labels, x, margin=1.0):
    labels = _labels(labels)
    d = l2(x)
    n = len(labels)
    total, count = 0.0, 0
    for i in range(n):
        for j in range(n):
            if i == j or labels[i] != labels[j]:
                continue
            count += 1
            terms = [margin - d[i, k] for k in range(n) if labels[k] != labels[i]]
            terms += [margin - d[j, k] for k in range(n) if labels[k] != labels[j]]
            if not terms:
                continue  # one class; tfa: NaN
            top = max(terms)
            soft_max = top + np.log(np.sum(np.exp(np.array(terms) - top)))
            total += max(soft_max + d[i, j], 0.0) ** 2
    return total / count / 2.0 if count else 0.0


def _soft_cross_entropy(targets, logits):
    logits = np.asarray(logits, np.float64)
    top = logits.max(1, keepdims=True)
    log_probs = logits - top - np.log(np.exp(logits - top).sum(1, keepdims=True))
    return float(np.mean(-(targets * log_probs).sum(1)))


def npairs(labels, logits):
    labels = _labels(labels)
    same = (labels[:, None] == labels[None, :]).astype(np.float64)
    return _soft_cross_entropy(same / same.sum(1, keepdims=True), logits)


def npairs_multilabel(indicators, logits):
    y = np.asarray(indicators, np.float64)
    overlap = y @ y.T
    sums = overlap.sum(1, keepdims=True)
    targets = np.divide(overlap, sums, out=np.zeros_like(overlap), where=sums > 0)
    return _soft_cross_entropy(targets, logits)


def contrastive(y, dist, margin=1.0):
    y = np.asarray(y, np.float64)
    dist = np.asarray(dist, np.float64)
    return y * dist ** 2 + (1 - y) * np.maximum(margin - dist, 0.0) ** 2
