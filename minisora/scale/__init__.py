"""Scaling studies: `minisora scale CONFIG` trains a grid of DiT sizes at several compute budgets,
evaluates every run (held-out loss, the judge, sampling time), fits L(C) and N_opt(C) with bootstrap
intervals, and draws the loss/judge plots and the same-seed 1x / 4x / 32x figure."""
