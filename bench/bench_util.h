/* Benchmark helpers: run an operation in batches until a time budget is spent, repeat, and
 * report the median rate. Figures are printed beside the machine's primitive rates measured in
 * the same run, so each reads as a ratio (M = one ristretto255 variable-base scalar
 * multiplication). Never used by tests: timings are not assertions. */
#ifndef KQ_BENCH_UTIL_H
#define KQ_BENCH_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_REPEATS 5

typedef void (*bench_fn)(void *ctx);

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Runs fn for about budget_s seconds, in batches; returns operations per second. */
static inline double bench_burst(bench_fn fn, void *ctx, size_t batch, double budget_s)
{
    size_t ops = 0;
    double t0 = bench_now(), dt;
    do {
        for (size_t i = 0; i < batch; i++)
            fn(ctx);
        ops += batch;
        dt = bench_now() - t0;
    } while (dt < budget_s);
    return (double)ops / dt;
}

/* Median operations per second of fn over BENCH_REPEATS runs of about budget_s seconds each. */
static inline double bench_rate(bench_fn fn, void *ctx, double budget_s)
{
    double rates[BENCH_REPEATS];
    size_t batch = 1;
    /* calibrate: grow the batch until one batch takes a tenth of the budget */
    for (;;) {
        double t0 = bench_now();
        for (size_t i = 0; i < batch; i++)
            fn(ctx);
        double dt = bench_now() - t0;
        if (dt >= budget_s / 10 || batch >= ((size_t)1 << 30))
            break;
        batch *= 2;
    }
    for (int r = 0; r < BENCH_REPEATS; r++)
        rates[r] = bench_burst(fn, ctx, batch, budget_s);
    qsort(rates, BENCH_REPEATS, sizeof rates[0], bench_cmp_double);
    return rates[BENCH_REPEATS / 2];
}

/* Alternates BENCH_PAIRS short bursts of fn and of the reference ref (the unit, M), so both see
 * the same machine state; *rate is the median rate of fn and *cost the median of the per-pair
 * ratios (time of one fn) / (time of one ref). Robust to the drift of a shared machine. */
#define BENCH_PAIRS 9
static inline void bench_pair(bench_fn fn, bench_fn ref, double budget_s, double *rate,
                              double *cost)
{
    double rates[BENCH_PAIRS], ratios[BENCH_PAIRS];
    size_t batch = 1, rbatch = 1;
    double slice = budget_s / BENCH_PAIRS;
    while (bench_burst(fn, NULL, batch, 0) * slice / 4 > (double)batch && batch < ((size_t)1 << 30))
        batch *= 2;
    while (bench_burst(ref, NULL, rbatch, 0) * slice / 4 > (double)rbatch &&
           rbatch < ((size_t)1 << 30))
        rbatch *= 2;
    for (int i = 0; i < BENCH_PAIRS; i++) {
        double r_ref = bench_burst(ref, NULL, rbatch, slice);
        double r_fn = bench_burst(fn, NULL, batch, slice);
        rates[i] = r_fn;
        ratios[i] = r_ref / r_fn;
    }
    qsort(rates, BENCH_PAIRS, sizeof rates[0], bench_cmp_double);
    qsort(ratios, BENCH_PAIRS, sizeof ratios[0], bench_cmp_double);
    *rate = rates[BENCH_PAIRS / 2];
    *cost = ratios[BENCH_PAIRS / 2];
}

#endif
