#include "src/job/compare.h"

#include <math.h>
#include <stdlib.h>

#include "io/scores_h5.h"
#include "src/job/report.h"

int rms_compare_row_used(const float *ca, const float *ra, const int8_t *sa, const float *cb, const float *rb,
                         const int8_t *sb, int64_t i) {
    return sa[i] == RMS_SCORE_SCORED && sb[i] == RMS_SCORE_SCORED && isfinite(ca[i]) && isfinite(ra[i]) &&
           isfinite(cb[i]) && isfinite(rb[i]);
}

double rms_mcnemar_exact(int64_t b, int64_t c) {
    const int64_t m = b + c, k = b < c ? b : c;
    if (m == 0) return 1.0;
    // log P(X = i) for X ~ Binomial(m, 1/2), summed for i = 0..k with the largest term factored out (log-sum-exp)
    const double lm = lgamma((double)m + 1.0), half = (double)m * log(0.5);
    const double top = lm - lgamma((double)k + 1.0) - lgamma((double)(m - k) + 1.0) + half; // the largest: i = k <= m/2
    double sum = 0.0;
    for (int64_t i = k; i >= 0; i--) {
        const double t = lm - lgamma((double)i + 1.0) - lgamma((double)(m - i) + 1.0) + half - top;
        if (t < -745.0) break; // exp underflows: the rest adds nothing
        sum += exp(t);
    }
    const double p = 2.0 * exp(top) * sum;
    return p < 1.0 ? p : 1.0;
}

double rms_pearson(const double *x, const double *y, int64_t n) {
    if (n < 2) return NAN;
    double mx = 0.0, my = 0.0;
    for (int64_t i = 0; i < n; i++) {
        mx += x[i];
        my += y[i];
    }
    mx /= (double)n;
    my /= (double)n;
    double sxy = 0.0, sxx = 0.0, syy = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const double dx = x[i] - mx, dy = y[i] - my;
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if (sxx == 0.0 || syy == 0.0) return NAN;
    return sxy / sqrt(sxx * syy);
}

typedef struct ranked {
    double v;
    int64_t i;
} ranked;

static int cmp_ranked(const void *a, const void *b) {
    const double x = ((const ranked *)a)->v, y = ((const ranked *)b)->v;
    return (x > y) - (x < y);
}

/* rank[i] of x[i] (1-based), equal values sharing their mean rank. tmp: n entries. */
static void ranks_of(const double *x, int64_t n, ranked *tmp, double *rank) {
    for (int64_t i = 0; i < n; i++) tmp[i] = (ranked){x[i], i};
    qsort(tmp, (size_t)n, sizeof *tmp, cmp_ranked);
    for (int64_t a = 0; a < n;) {
        int64_t b = a + 1;
        while (b < n && tmp[b].v == tmp[a].v) b++;
        const double r = 0.5 * (double)(a + 1 + b); // the mean of ranks a+1 .. b
        for (int64_t j = a; j < b; j++) rank[tmp[j].i] = r;
        a = b;
    }
}

rms_status rms_spearman(const double *x, const double *y, int64_t n, double *rho, rms_err *err) {
    *rho = NAN;
    if (n < 2) return RMS_OK;
    ranked *tmp = malloc((size_t)n * sizeof *tmp);          // (n)
    double *rx = malloc((size_t)n * sizeof *rx);            // (n)
    double *ry = malloc((size_t)n * sizeof *ry);            // (n)
    rms_status st = RMS_OK;
    if (!tmp || !rx || !ry) {
        st = rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    } else {
        ranks_of(x, n, tmp, rx);
        ranks_of(y, n, tmp, ry);
        *rho = rms_pearson(rx, ry, n);
    }
    free(tmp);
    free(rx);
    free(ry);
    return st;
}

rms_status rms_compare_compute(const float *ca, const float *ra, const int8_t *sa, const float *cb, const float *rb,
                               const int8_t *sb, const int64_t *rows, int64_t n, rms_compare *out, rms_err *err) {
    *out = (rms_compare){0};
    out->n_rows = n;
    double *ma = malloc((size_t)(n ? n : 1) * sizeof *ma); // (n_both) margins of A
    double *mb = malloc((size_t)(n ? n : 1) * sizeof *mb); // (n_both) margins of B
    if (!ma || !mb) {
        free(ma);
        free(mb);
        return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    }
    int64_t agree = 0;
    for (int64_t j = 0; j < n; j++) {
        const int64_t i = rows ? rows[j] : j;
        if (!rms_compare_row_used(ca, ra, sa, cb, rb, sb, i)) continue;
        const double a = (double)ca[i] - (double)ra[i], b = (double)cb[i] - (double)rb[i];
        ma[out->n_both] = a;
        mb[out->n_both] = b;
        out->n_both++;
        out->correct_a += a > 0.0;
        out->correct_b += b > 0.0;
        out->only_a += a > 0.0 && !(b > 0.0);
        out->only_b += b > 0.0 && !(a > 0.0);
        agree += (a > 0.0) == (b > 0.0);
    }
    rms_status st = RMS_OK;
    if (out->n_both == 0) {
        out->accuracy_a = out->accuracy_a_lo = out->accuracy_a_hi = NAN;
        out->accuracy_b = out->accuracy_b_lo = out->accuracy_b_hi = NAN;
        out->delta = out->agreement = out->pearson = out->spearman = NAN;
        out->mcnemar_p = 1.0;
    } else {
        const double nb = (double)out->n_both;
        out->accuracy_a = (double)out->correct_a / nb;
        out->accuracy_b = (double)out->correct_b / nb;
        rms_wilson_interval(out->correct_a, out->n_both, &out->accuracy_a_lo, &out->accuracy_a_hi);
        rms_wilson_interval(out->correct_b, out->n_both, &out->accuracy_b_lo, &out->accuracy_b_hi);
        out->delta = out->accuracy_b - out->accuracy_a;
        out->mcnemar_p = rms_mcnemar_exact(out->only_a, out->only_b);
        out->agreement = (double)agree / nb;
        out->pearson = rms_pearson(ma, mb, out->n_both);
        st = rms_spearman(ma, mb, out->n_both, &out->spearman, err);
    }
    free(ma);
    free(mb);
    return st;
}
