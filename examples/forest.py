"""Random-forest training with the trees trained in parallel (numpy only).

Each tree is grown on a bootstrap sample with random feature subsets, as in
Breiman's random forests; trees are independent, so pydron trains them on
all cores. The forest then classifies a held-out test set.

    python examples/forest.py [--trees 32]
"""

import argparse
import time

import numpy as np

from pydron import functional, schedule


def make_data(n=6000, features=12, seed=0):
    """Two interleaved noisy classes; only some features are informative."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, features))
    score = np.sin(2 * X[:, 0]) + X[:, 1] * X[:, 2] - 0.5 * X[:, 3] ** 2 + 0.3 * rng.normal(size=n)
    y = (score > np.median(score)).astype(np.int64)
    return X, y


def gini_split(x, y):
    """Best threshold on one feature by Gini impurity (sorted prefix sums)."""
    order = np.argsort(x, kind="stable")
    xs, ys = x[order], y[order]
    n = len(ys)
    left_pos = np.cumsum(ys)[:-1]
    left_n = np.arange(1, n)
    right_pos = ys.sum() - left_pos
    right_n = n - left_n
    gini = (left_n * (1 - (left_pos / left_n) ** 2 - (1 - left_pos / left_n) ** 2)
            + right_n * (1 - (right_pos / right_n) ** 2 - (1 - right_pos / right_n) ** 2))
    valid = xs[1:] > xs[:-1]
    if not valid.any():
        return None, np.inf
    gini = np.where(valid, gini, np.inf)
    i = int(np.argmin(gini))
    return 0.5 * (xs[i] + xs[i + 1]), gini[i] / n


@functional
def train_tree(X, y, seed, max_depth=10, min_leaf=5):
    """One tree as flat arrays (feature, threshold, left, right, value)."""
    rng = np.random.default_rng(seed)
    boot = rng.integers(0, len(y), len(y))
    X, y = X[boot], y[boot]
    mtry = max(1, int(np.sqrt(X.shape[1])))
    feature, threshold, left, right, value = [], [], [], [], []

    def grow(idx, depth):
        node = len(feature)
        feature.append(-1), threshold.append(0.0), left.append(-1), right.append(-1)
        value.append(float(y[idx].mean()))
        if depth >= max_depth or len(idx) < 2 * min_leaf or value[node] in (0.0, 1.0):
            return node
        best = (np.inf, None, None)
        for f in rng.choice(X.shape[1], mtry, replace=False):
            thr, score = gini_split(X[idx, f], y[idx])
            if score < best[0]:
                best = (score, f, thr)
        if best[1] is None:
            return node
        mask = X[idx, best[1]] <= best[2]
        if mask.sum() < min_leaf or (~mask).sum() < min_leaf:
            return node
        feature[node], threshold[node] = int(best[1]), float(best[2])
        left[node] = grow(idx[mask], depth + 1)
        right[node] = grow(idx[~mask], depth + 1)
        return node

    grow(np.arange(len(y)), 0)
    return (np.array(feature), np.array(threshold), np.array(left), np.array(right), np.array(value))


def predict_tree(tree, X):
    feature, threshold, left, right, value = tree
    node = np.zeros(len(X), dtype=np.int64)
    while True:
        f = feature[node]
        inner = f >= 0
        if not inner.any():
            return value[node]
        go_left = X[np.arange(len(X)), np.where(inner, f, 0)] <= threshold[node]
        node = np.where(inner, np.where(go_left, left[node], right[node]), node)


@schedule
def train_forest(X, y, ntrees):
    trees = [train_tree(X, y, seed) for seed in range(ntrees)]
    return trees


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trees", type=int, default=32)
    args = ap.parse_args()
    X, y = make_data()
    Xtr, ytr, Xte, yte = X[:5000], y[:5000], X[5000:], y[5000:]

    t0 = time.perf_counter()
    forest = train_forest(Xtr, ytr, args.trees)
    t_par = time.perf_counter() - t0
    votes = np.mean([predict_tree(t, Xte) for t in forest], axis=0)
    acc = float(((votes > 0.5) == yte).mean())
    single = float(((predict_tree(forest[0], Xte) > 0.5) == yte).mean())
    print(f"{len(forest)} trees, {sum(len(t[0]) for t in forest)} nodes; "
          f"test accuracy: forest {acc:.3f}, single tree {single:.3f}")

    t0 = time.perf_counter()
    seq = getattr(train_forest, "__wrapped__", train_forest)(Xtr, ytr, args.trees)
    t_seq = time.perf_counter() - t0
    same = all(np.array_equal(a[1], b[1]) for a, b in zip(seq, forest))
    print(f"sequential {t_seq:.2f} s, parallel {t_par:.2f} s (includes starting workers), "
          f"speedup {t_seq / t_par:.2f}x, same trees: {same}")


if __name__ == "__main__":
    main()
