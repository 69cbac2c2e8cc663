/* gate_stats: the statistics of the benchmark regression gate (bench/gate.sh).
 *
 * Input (a file or stdin): one line per metric and round,
 *     METRIC <tab> ROUND <tab> A <tab> B
 * where A is the baseline's and B the candidate's speed (tok/s, higher is
 * better) measured in the same round, interleaved. Lines starting with '#'
 * are ignored.
 *
 * For each metric: the paired ratios r_i = B_i / A_i, their geometric mean,
 * and a confidence interval of it: a percentile bootstrap over the pairs
 * (fixed seed: the same input always gives the same answer), widened to the
 * Student-t interval of the mean log ratio where that is wider (few rounds). A metric FAILS
 * when even the upper end of the interval is below 1 - threshold, i.e. B is
 * slower than A by more than the threshold with that confidence.
 *
 * One more row, "all metrics", judges the same way the per-round
 * interquartile mean of every metric's log ratio: a slowdown that touches every
 * configuration a little (a slower token loop) shows there with far less noise
 * than in any single metric, and the trimming ignores the one or two metrics
 * that a neighbour's burst hit in that round.
 *
 * Exit status: 0 no metric failed, 1 at least one failed, 2 bad input/usage.
 * `gate_stats --selftest` checks the logic on synthetic series (ctest). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_METRICS 256
#define MAX_ROUNDS 1024

typedef struct metric {
    char name[128];
    int n;
    int round[MAX_ROUNDS];
    double a[MAX_ROUNDS], b[MAX_ROUNDS];
} metric;

typedef struct params {
    double threshold;  /* fraction, 0.05 */
    double confidence; /* two-sided, 0.95 */
    int resamples;
    int min_rounds;
    int quiet;
} params;

typedef struct verdict {
    double ratio, lo, hi, a_med, b_med;
    int fail, slower_unsure, faster;
} verdict;

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t next(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static double median(const double *v, int n) {
    double *c = malloc((size_t)n * sizeof *c);
    if (!c) return NAN;
    memcpy(c, v, (size_t)n * sizeof *c);
    qsort(c, (size_t)n, sizeof *c, cmp_double);
    double m = n % 2 ? c[n / 2] : 0.5 * (c[n / 2 - 1] + c[n / 2]);
    free(c);
    return m;
}

/* The percentile at q in [0, 1] of sorted v[n] (linear interpolation). */
static double percentile(const double *v, int n, double q) {
    double x = q * (n - 1);
    int i = (int)floor(x);
    if (i >= n - 1) return v[n - 1];
    return v[i] + (x - i) * (v[i + 1] - v[i]);
}

/* The standard normal quantile at q in (0.5, 1) (Abramowitz-Stegun 26.2.23,
 * |error| < 4.5e-4) and Student's t quantile with nu degrees of freedom from
 * it (Cornish-Fisher expansion: 4.17 for the exact 4.30 at nu = 2, 0.975). */
static double z_quantile(double q) {
    double t = sqrt(-2 * log(1 - q));
    return t - (2.515517 + 0.802853 * t + 0.010328 * t * t) /
                   (1 + 1.432788 * t + 0.189269 * t * t + 0.001308 * t * t * t);
}

static double t_quantile(double q, int nu) {
    double z = z_quantile(q), z3 = z * z * z, z5 = z3 * z * z, z7 = z5 * z * z;
    return z + (z3 + z) / (4.0 * nu) + (5 * z5 + 16 * z3 + 3 * z) / (96.0 * nu * nu) +
           (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384.0 * nu * nu * nu);
}

static verdict judge(const metric *m, const params *p) {
    verdict v = {0};
    double lr[MAX_ROUNDS], mean = 0;
    for (int i = 0; i < m->n; i++) {
        lr[i] = log(m->b[i] / m->a[i]);
        mean += lr[i] / m->n;
    }
    v.ratio = exp(mean);
    v.a_med = median(m->a, m->n);
    v.b_med = median(m->b, m->n);
    double *boot = malloc((size_t)p->resamples * sizeof *boot);
    if (!boot) {
        v.lo = v.hi = v.ratio;
        return v;
    }
    rng = 0x9E3779B97F4A7C15ull; /* every metric gets the same resampling stream */
    for (int k = 0; k < p->resamples; k++) {
        double s = 0;
        for (int i = 0; i < m->n; i++) s += lr[next() % (uint64_t)m->n];
        boot[k] = s / m->n;
    }
    qsort(boot, (size_t)p->resamples, sizeof *boot, cmp_double);
    double tail = (1 - p->confidence) / 2;
    double lo = percentile(boot, p->resamples, tail), hi = percentile(boot, p->resamples, 1 - tail);
    free(boot);
    /* With a handful of rounds the percentile bootstrap is too narrow (it
     * ignores that the spread itself is estimated), so the interval is the
     * union of it and the Student-t interval of the mean log ratio. */
    double var = 0;
    for (int i = 0; i < m->n; i++) var += (lr[i] - mean) * (lr[i] - mean);
    double half = t_quantile(1 - tail, m->n - 1) * sqrt(var / (m->n - 1) / m->n);
    if (mean - half < lo) lo = mean - half;
    if (mean + half > hi) hi = mean + half;
    v.lo = exp(lo);
    v.hi = exp(hi);
    v.fail = v.hi < 1 - p->threshold;
    v.slower_unsure = !v.fail && v.ratio < 1 - p->threshold;
    v.faster = v.lo > 1 + p->threshold;
    return v;
}

/* Reads the TSV; returns the number of metrics or -1 with a message. */
static int read_tsv(FILE *f, metric *ms, char *err, size_t errlen) {
    char line[512];
    int n = 0, lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (line[0] == '#' || line[0] == '\n' || line[0] == '\0') continue;
        char name[128];
        int round;
        double a, b;
        if (sscanf(line, "%127[^\t]\t%d\t%lf\t%lf", name, &round, &a, &b) != 4) {
            snprintf(err, errlen, "line %d: expected METRIC<tab>ROUND<tab>A<tab>B", lineno);
            return -1;
        }
        if (!(a > 0) || !(b > 0) || !isfinite(a) || !isfinite(b)) {
            snprintf(err, errlen, "line %d: %s: speeds must be positive (got %g, %g)", lineno, name,
                     a, b);
            return -1;
        }
        int k = 0;
        while (k < n && strcmp(ms[k].name, name) != 0) k++;
        if (k == n) {
            if (n == MAX_METRICS) {
                snprintf(err, errlen, "more than %d metrics", MAX_METRICS);
                return -1;
            }
            memset(&ms[n], 0, sizeof ms[n]);
            snprintf(ms[n].name, sizeof ms[n].name, "%s", name);
            n++;
        }
        if (ms[k].n == MAX_ROUNDS) {
            snprintf(err, errlen, "%s: more than %d rounds", name, MAX_ROUNDS);
            return -1;
        }
        ms[k].round[ms[k].n] = round;
        ms[k].a[ms[k].n] = a;
        ms[k].b[ms[k].n++] = b;
    }
    return n;
}

/* The mean of sorted v[n] without its lowest and highest quarters. */
static double interquartile_mean(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    int cut = n / 4;
    double s = 0;
    for (int i = cut; i < n - cut; i++) s += v[i];
    return s / (n - 2 * cut);
}

/* The "all metrics" series: per round, A = 1 and B = exp of the interquartile
 * mean of the log ratios of the metrics measured in that round. */
static void pool(const metric *ms, int n, metric *all) {
    memset(all, 0, sizeof *all);
    snprintf(all->name, sizeof all->name, "all metrics (IQ mean)");
    double ratios[MAX_METRICS];
    for (int j = 0; j < ms[0].n && all->n < MAX_ROUNDS; j++) {
        int r = ms[0].round[j], k = 0;
        for (int i = 0; i < n; i++) /* metric i's pair of round r, if any */
            for (int l = 0; l < ms[i].n; l++)
                if (ms[i].round[l] == r) {
                    ratios[k++] = log(ms[i].b[l] / ms[i].a[l]);
                    break;
                }
        all->round[all->n] = r;
        all->a[all->n] = 1;
        all->b[all->n++] = exp(interquartile_mean(ratios, k));
    }
}

/* Prints one metric's row (or why it has none); returns 1 if it fails, -1 if
 * it has too few rounds. */
static int report_metric(const metric *m, const params *p, FILE *out) {
    if (m->n < p->min_rounds) {
        if (!p->quiet)
            fprintf(out, "%-28s %3d  too few rounds (need %d)\n", m->name, m->n, p->min_rounds);
        return -1;
    }
    verdict v = judge(m, p);
    if (p->quiet) return v.fail;
    char ci[64];
    snprintf(ci, sizeof ci, "[%.3f, %.3f]", v.lo, v.hi);
    const char *what = v.fail            ? "FAIL: slower, confidently"
                       : v.slower_unsure ? "warn: slower, not confident"
                       : v.faster        ? "faster"
                                         : "ok";
    fprintf(out, "%-28s %3d %11.2f %11.2f %7.3f  %-17s %s\n", m->name, m->n, v.a_med, v.b_med,
            v.ratio, ci, what);
    return v.fail;
}

/* Prints the table; returns the exit status. */
static int report(const metric *ms, int n, const params *p, FILE *out) {
    int failed = 0, bad = 0;
    if (!p->quiet)
        fprintf(out, "%-28s %3s %11s %11s %7s  %-17s %s\n", "metric (tok/s)", "n", "A median",
                "B median", "B/A", "CI", "verdict");
    for (int i = 0; i < n; i++) {
        int r = report_metric(&ms[i], p, out);
        bad |= r < 0;
        failed |= r > 0;
    }
    if (n > 1 && !bad) {
        static metric all;
        pool(ms, n, &all);
        failed |= report_metric(&all, p, out) > 0;
    }
    if (!p->quiet)
        fprintf(out,
                "B/A: geometric mean of the paired ratios (all metrics: of the per-round "
                "interquartile means);\nCI: %.0f%% bootstrap (%d resamples) or Student-t, the "
                "wider; FAIL when "
                "the CI lies below %.3f\n",
                100 * p->confidence, p->resamples, 1 - p->threshold);
    if (bad) return 2;
    return failed ? 1 : 0;
}

/* ---- self-test on synthetic data ------------------------------------------ */

static double noise(double amp) { /* uniform in [-amp, amp) */
    return amp * ((double)(next() >> 11) / (double)(1ull << 53) * 2 - 1);
}

/* Writes a synthetic TSV: `metrics` metrics, `rounds` rounds, B = A * factor,
 * each side with independent relative noise `amp`; `outlier`: one round's B is
 * 40% slow (a neighbour's burst). Returns the gate's verdict via read_tsv. */
static int synthetic(double factor, double amp, int outlier, int rounds, const params *p) {
    FILE *f = tmpfile();
    if (!f) return -1;
    uint64_t saved = rng;
    rng = 0x1234567ull + (uint64_t)(factor * 1000) + (uint64_t)(amp * 1e5) + (uint64_t)outlier;
    for (int m = 0; m < 8; m++)
        for (int r = 0; r < rounds; r++) {
            double base = 100.0 * (m + 1);
            double a = base * (1 + noise(amp));
            double b = amp == 0 ? a * factor : base * factor * (1 + noise(amp));
            if (outlier && r == rounds / 2) b *= 0.6;
            fprintf(f, "metric%d\t%d\t%.6f\t%.6f\n", m, r, a, b);
        }
    rng = saved;
    rewind(f);
    static metric ms[MAX_METRICS];
    char err[256];
    int n = read_tsv(f, ms, err, sizeof err);
    fclose(f);
    if (n < 0) {
        fprintf(stderr, "selftest: %s\n", err);
        return -1;
    }
    return report(ms, n, p, stdout);
}

static int selftest(params p) {
    struct {
        const char *what;
        double factor, amp;
        int outlier, rounds, want;
    } cases[] = {
        {"identical series", 1.00, 0.00, 0, 5, 0},
        {"identical distributions, 2% noise", 1.00, 0.02, 0, 6, 0},
        {"identical distributions, one 40% outlier", 1.00, 0.02, 1, 6, 0},
        {"3% slower (under the threshold)", 0.97, 0.01, 0, 6, 0},
        {"10% slower, no noise", 0.90, 0.00, 0, 5, 1},
        {"10% slower, 2% noise", 0.90, 0.02, 0, 6, 1},
        {"10% faster", 1.10, 0.02, 0, 6, 0},
        {"identical distributions, 15% noise", 1.00, 0.15, 0, 12, 0},
        {"10% slower, 15% noise", 0.90, 0.15, 0, 12, 1},
    };
    int bad = 0;
    p.quiet = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        printf("== %s (want %s)\n", cases[i].what, cases[i].want ? "FAIL" : "PASS");
        int got = synthetic(cases[i].factor, cases[i].amp, cases[i].outlier, cases[i].rounds, &p);
        int ok = got == cases[i].want;
        printf("-> %s: %s\n\n",
               got == 1   ? "FAIL"
               : got == 0 ? "PASS"
                          : "ERROR",
               ok ? "as expected" : "WRONG");
        bad |= !ok;
    }
    /* Bad input is an error, never a pass. */
    FILE *f = tmpfile();
    static metric ms[MAX_METRICS];
    char err[256];
    if (f) {
        fputs("decode/15M\t0\tnot-a-number\t1\n", f);
        rewind(f);
        if (read_tsv(f, ms, err, sizeof err) >= 0) bad = 1, puts("malformed line accepted: WRONG");
        fclose(f);
    }
    puts(bad ? "selftest: FAILED" : "selftest: all cases as expected");
    return bad ? 1 : 0;
}

int main(int argc, char **argv) {
    params p = {.threshold = 0.05, .confidence = 0.95, .resamples = 10000, .min_rounds = 3};
    const char *path = NULL;
    int self = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--selftest") == 0)
            self = 1;
        else if (strcmp(a, "--threshold") == 0 && v)
            p.threshold = atof(v) / 100, i++;
        else if (strcmp(a, "--confidence") == 0 && v)
            p.confidence = atof(v) / 100, i++;
        else if (strcmp(a, "--resamples") == 0 && v)
            p.resamples = atoi(v), i++;
        else if (strcmp(a, "--min-rounds") == 0 && v)
            p.min_rounds = atoi(v), i++;
        else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            puts("usage: gate_stats [--threshold PCT(5)] [--confidence PCT(95)] [--resamples "
                 "N(10000)]\n"
                 "                  [--min-rounds N(3)] [FILE|-]   or   gate_stats --selftest\n"
                 "FILE: METRIC<tab>ROUND<tab>A<tab>B lines (tok/s; A = baseline, B = candidate).\n"
                 "Exit 0: no metric slower by more than the threshold with confidence; 1: some\n"
                 "metric is; 2: bad input.");
            return 0;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "gate_stats: unknown or incomplete option '%s'\n", a);
            return 2;
        } else
            path = a;
    }
    if (!(p.threshold > 0 && p.threshold < 1) || !(p.confidence > 0 && p.confidence < 1) ||
        p.resamples < 100 || p.min_rounds < 2) {
        fputs("gate_stats: bad --threshold, --confidence, --resamples or --min-rounds\n", stderr);
        return 2;
    }
    if (self) return selftest(p);
    FILE *f = !path || strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!f) {
        fprintf(stderr, "gate_stats: cannot open %s\n", path);
        return 2;
    }
    static metric ms[MAX_METRICS];
    char err[256];
    int n = read_tsv(f, ms, err, sizeof err);
    if (f != stdin) fclose(f);
    if (n < 0) {
        fprintf(stderr, "gate_stats: %s\n", err);
        return 2;
    }
    if (n == 0) {
        fputs("gate_stats: no data\n", stderr);
        return 2;
    }
    return report(ms, n, &p, stdout);
}
