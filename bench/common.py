"""Pieces the benchmark scripts share: the timer and the op chain."""
import statistics
import time


def timed(step, n, reps, clock=time.perf_counter):
    """Median seconds per call of step() over reps blocks of n calls, after
    two warm-up calls (which fill pools and caches, or record a compiled
    step); clock: time.thread_time measures the calling thread's CPU
    time instead of wall time."""
    step()
    step()
    out = []
    for _ in range(reps):
        t0 = clock()
        for _ in range(n):
            step()
        out.append((clock() - t0) / n)
    return statistics.median(out)


def chain(mod, x, n_ops=60):
    """n_ops elementwise ops cycling mul, add, sigmoid, tanh, relu, summed;
    mod is autodiff, torch or anything with those three functions."""
    h = x
    for i in range(n_ops):
        k = i % 5
        if k == 0:
            h = h * 0.9
        elif k == 1:
            h = h + 0.1
        elif k == 2:
            h = mod.sigmoid(h)
        elif k == 3:
            h = mod.tanh(h)
        else:
            h = mod.relu(h)
    return h.sum()
