#!/usr/bin/env python3
"""Independent reference for tests/experiment_statistics_test.cc: the bootstrap scheme of
core/experiment/statistics.h written again in plain Python (no numpy), run once; the test hard-codes
what it prints. Run: python3 tests/data/bootstrap_reference.py"""
import math

MASK = (1 << 64) - 1


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def below(self, bound):
        threshold = ((1 << 64) - bound) % bound
        while True:
            x = self.next()
            if x >= threshold:
                return x % bound


def quantile(sample, q):  # numpy's default ("linear", type 7)
    s = sorted(sample)
    position = q * (len(s) - 1)
    lower = math.floor(position)
    if lower + 1 >= len(s):
        return s[-1]
    return s[lower] + (position - lower) * (s[lower + 1] - s[lower])


def mean_metric(column, indices):
    total = 0.0
    for i in indices:
        total += column[i]
    return total / len(indices)


def bleu_metric(column, indices):  # sacrebleu's compute_bleu, smooth_method='exp'
    matches = [0] * 4
    totals = [0] * 4
    hyp = ref = 0
    for i in indices:
        m, t, h, r = column[i]
        matches = [a + b for a, b in zip(matches, m)]
        totals = [a + b for a, b in zip(totals, t)]
        hyp += h
        ref += r
    if hyp == 0:
        return 0.0
    precisions = [0.0] * 4
    smooth = 1.0
    for n in range(4):
        if totals[n] == 0:
            break
        if matches[n] == 0:
            smooth *= 2
            precisions[n] = 100.0 / (smooth * totals[n])
        else:
            precisions[n] = 100.0 * matches[n] / totals[n]
    if any(p == 0 for p in precisions):
        return 0.0
    bp = 1.0 if hyp >= ref else math.exp(1 - ref / hyp)
    return bp * math.exp(sum(math.log(p) for p in precisions) / 4)


def resampled_mean(seeds, metric, indices, rng):
    draws = [0] * len(seeds)
    for _ in range(len(seeds)):
        draws[rng.below(len(seeds))] += 1
    total = 0.0
    for s, column in enumerate(seeds):
        if draws[s] > 0:
            total += draws[s] * metric(column, indices)
    return total / len(seeds)


def estimate(seeds, metric, resamples, seed, confidence=0.95):
    rng = SplitMix64(seed)
    n = len(seeds[0])
    replicates = []
    for _ in range(resamples):
        indices = [rng.below(n) for _ in range(n)]
        replicates.append(resampled_mean(seeds, metric, indices, rng))
    tail = (1 - confidence) / 2
    return quantile(replicates, tail), quantile(replicates, 1 - tail)


def compare(a, b, metric, resamples, seed, confidence=0.95):
    rng = SplitMix64(seed)
    n = len(a[0])
    differences = []
    for _ in range(resamples):
        indices = [rng.below(n) for _ in range(n)]
        x = resampled_mean(a, metric, indices, rng)
        differences.append(x - resampled_mean(b, metric, indices, rng))
    tail = (1 - confidence) / 2
    le = sum(1 for d in differences if d <= 0)
    ge = sum(1 for d in differences if d >= 0)
    p = min(1.0, 2 * (min(le, ge) + 1) / (resamples + 1))
    return quantile(differences, tail), quantile(differences, 1 - tail), p


SAMPLE = [0.2, 0.9, 0.4, 0.7, 0.1, 0.5, 0.8, 0.3]
print("one seed, B=1000, seed 42: low %.17g high %.17g" % estimate([SAMPLE], mean_metric, 1000, 42))
SEED_A = [1.0, 0.0, 1.0, 1.0, 0.0, 1.0]
SEED_B = [0.5, 0.25, 1.0, 0.75, 0.0, 0.5]
print("two seeds, B=500, seed 7: low %.17g high %.17g" % estimate([SEED_A, SEED_B], mean_metric, 500, 7))
METHOD = [[0.6, 0.2, 0.9, 0.4, 0.7], [0.5, 0.3, 0.8, 0.6, 0.6]]
BASELINE = [[0.5, 0.1, 0.7, 0.5, 0.4], [0.4, 0.3, 0.9, 0.2, 0.5], [0.6, 0.2, 0.6, 0.3, 0.5]]
print("paired, B=400, seed 3: low %.17g high %.17g p %.17g" % compare(METHOD, BASELINE, mean_metric, 400, 3))
# BLEU statistics per example: (matches[4], totals[4], hyp_len, ref_len).
BLEU = [
    ([3, 2, 1, 0], [4, 3, 2, 1], 4, 5),
    ([5, 4, 3, 2], [5, 4, 3, 2], 5, 5),
    ([1, 0, 0, 0], [3, 2, 1, 0], 3, 2),
    ([6, 3, 2, 1], [7, 6, 5, 4], 7, 8),
    ([2, 1, 0, 0], [2, 1, 0, 0], 2, 4),
]
print("BLEU all: %.17g" % bleu_metric(BLEU, range(len(BLEU))))
print("BLEU one seed, B=300, seed 11: low %.17g high %.17g" % estimate([BLEU], bleu_metric, 300, 11))
