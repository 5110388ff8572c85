#include "src/job/report_html.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/scores_h5.h"

#define FIG_W 720 /* the width of every figure, in SVG units */
#define FIG_ML 170 /* left margin (labels) */
#define FIG_MR 30 /* right margin */
#define CHOSEN_COLOR "#2b6cb0"
#define REJECTED_COLOR "#dd6b20"

static void put_escaped(FILE *f, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* v with decimals digits into buf (32 bytes), or "-" where it is undefined (nothing scored): never "nan". */
static const char *figure(char *buf, int decimals, double v) {
    if (isfinite(v)) snprintf(buf, 32, "%.*f", decimals, v);
    else snprintf(buf, 32, "-");
    return buf;
}

/* A "nice" tick step for a range: 1, 2 or 5 times a power of ten, giving about n ticks. */
static double nice_step(double span, int n) {
    const double raw = span / n, mag = pow(10.0, floor(log10(raw))), r = raw / mag;
    return (r < 1.5 ? 1.0 : r < 3.5 ? 2.0 : r < 7.5 ? 5.0 : 10.0) * mag;
}

/* x ticks and labels of [lo, hi] mapped to [x0, x1] at baseline y. */
static void x_axis(FILE *f, double lo, double hi, double x0, double x1, double y) {
    fprintf(f, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", x0, y, x1, y);
    const double step = nice_step(hi - lo, 6);
    for (double t = ceil(lo / step - 1e-9) * step; t <= hi + 1e-9 * step; t += step) {
        const double x = x0 + (t - lo) / (hi - lo) * (x1 - x0);
        fprintf(f, "<line class=\"tick\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
                   "<text class=\"tl\" x=\"%.1f\" y=\"%.1f\">%g</text>\n", x, y, x, y + 4, x, y + 16,
                fabs(t) < 1e-12 * step ? 0.0 : t);
    }
}

/* y ticks and labels of [lo, hi] mapped to [y1 (lo), y0 (hi)] at x. */
static void y_axis(FILE *f, double lo, double hi, double x, double y0, double y1) {
    const double step = nice_step(hi - lo, 6);
    for (double t = ceil(lo / step - 1e-9) * step; t <= hi + 1e-9 * step; t += step) {
        const double y = y1 - (t - lo) / (hi - lo) * (y1 - y0);
        fprintf(f, "<line class=\"tick\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
                   "<text class=\"yl\" x=\"%.1f\" y=\"%.1f\">%g</text>\n", x - 4, y, x, y, x - 6, y + 4,
                fabs(t) < 1e-12 * step ? 0.0 : t);
    }
}

/* A count axis at x for counts 0..max drawn over [y0 + h (0), y0 (max)]: integer ticks about n apart. */
static void count_axis(FILE *f, int64_t max, double x, double y0, double h, int n) {
    fprintf(f, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", x, y0, x, y0 + h);
    if (max <= 0) return;
    double step = nice_step((double)max, n);
    if (step < 1.0) step = 1.0;
    for (double t = 0; t <= (double)max + 1e-9; t += step) {
        const double y = y0 + h - h * t / (double)max;
        fprintf(f, "<line class=\"tick\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
                   "<text class=\"yl\" x=\"%.1f\" y=\"%.1f\">%.0f</text>\n", x - 4, y, x, y, x - 6, y + 4, t);
    }
}

/* The scored rows' value of one kind: 0 chosen, 1 rejected, 2 margin. */
static double value_of(int kind, const float *c, const float *r, int64_t i) {
    return kind == 0 ? (double)c[i] : kind == 1 ? (double)r[i] : (double)c[i] - (double)r[i];
}

static int used(const float *c, const float *r, const int8_t *s, int64_t i) {
    return s[i] == RMS_SCORE_SCORED && isfinite(c[i]) && isfinite(r[i]);
}

/* [lo, hi] of the values of the kinds kinds[0..nk) over the source's scored rows; 0 when there are none. */
static int range_of(const int *kinds, int nk, const float *c, const float *r, const int8_t *s, const int64_t *rows,
                    int64_t n, double *lo, double *hi) {
    int any = 0;
    for (int64_t j = 0; j < n; j++) {
        const int64_t i = rows ? rows[j] : j;
        if (!used(c, r, s, i)) continue;
        for (int k = 0; k < nk; k++) {
            const double v = value_of(kinds[k], c, r, i);
            if (!any || v < *lo) *lo = v;
            if (!any || v > *hi) *hi = v;
            any = 1;
        }
    }
    if (any && *hi - *lo < 1e-9) {
        *lo -= 0.5;
        *hi += 0.5;
    }
    return any;
}

static void histogram(int kind, const float *c, const float *r, const int8_t *s, const int64_t *rows, int64_t n,
                      double lo, double hi, int64_t *count) {
    memset(count, 0, RMS_HTML_BINS * sizeof *count);
    for (int64_t j = 0; j < n; j++) {
        const int64_t i = rows ? rows[j] : j;
        if (!used(c, r, s, i)) continue;
        int b = (int)((value_of(kind, c, r, i) - lo) / (hi - lo) * RMS_HTML_BINS);
        if (b >= RMS_HTML_BINS) b = RMS_HTML_BINS - 1; // the last bin is closed
        if (b < 0) b = 0;
        count[b]++;
    }
}

static void bars(FILE *f, const char *cls, const int64_t *count, int64_t max, double lo, double hi, double x0,
                 double x1, double y0, double h) {
    const double bw = (x1 - x0) / RMS_HTML_BINS;
    for (int b = 0; b < RMS_HTML_BINS; b++) {
        const double bh = max ? h * (double)count[b] / (double)max : 0.0;
        fprintf(f, "<rect class=\"%s\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" data-lo=\"%.9g\" "
                   "data-hi=\"%.9g\" data-count=\"%lld\"/>\n", cls, x0 + b * bw, y0 + h - bh, bw, bh,
                lo + (hi - lo) * b / RMS_HTML_BINS, lo + (hi - lo) * (b + 1) / RMS_HTML_BINS, (long long)count[b]);
    }
}

static void fig_accuracy(FILE *f, const rms_html_source *src, int64_t ns) {
    const double row = 22, top = 30, h = top + row * (double)ns + 40, x0 = FIG_ML, x1 = FIG_W - FIG_MR;
    fprintf(f, "<h2>Accuracy per source, with its 95%% Wilson interval</h2>\n<svg id=\"fig-accuracy\" "
               "xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %.0f\" width=\"%d\" height=\"%.0f\">\n",
            FIG_W, h, FIG_W, h);
    for (int k = 0; k <= 10; k += 2) { // gridlines at 0, 0.2, .. 1
        const double x = x0 + (x1 - x0) * k / 10.0;
        fprintf(f, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", x, top - 10, x,
                top + row * (double)ns);
    }
    const double xh = x0 + (x1 - x0) * 0.5;
    fprintf(f, "<line class=\"half\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", xh, top - 10, xh,
            top + row * (double)ns);
    for (int64_t g = 0; g < ns; g++) {
        const rms_stats *s = src[g].stats;
        const double y = top + row * (double)g + row / 2;
        fprintf(f, "<text class=\"label\" x=\"%d\" y=\"%.1f\">", FIG_ML - 8, y + 4);
        put_escaped(f, src[g].name);
        fprintf(f, "</text>\n");
        if (!isfinite(s->accuracy)) continue;
        const double xa = x0 + (x1 - x0) * s->accuracy, xl = x0 + (x1 - x0) * s->accuracy_lo,
                     xr = x0 + (x1 - x0) * s->accuracy_hi;
        fprintf(f, "<g class=\"acc\" data-source=\"");
        put_escaped(f, src[g].name);
        fprintf(f, "\" data-accuracy=\"%.9g\" data-lo=\"%.9g\" data-hi=\"%.9g\" data-n=\"%lld\">"
                   "<line class=\"ci\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
                   "<circle class=\"dot\" cx=\"%.1f\" cy=\"%.1f\" r=\"4.5\"/>"
                   "<text class=\"val\" x=\"%.1f\" y=\"%.1f\">%.3f (n=%lld)</text></g>\n",
                s->accuracy, s->accuracy_lo, s->accuracy_hi, (long long)s->n_scored, xl, y, xr, y, xa, y,
                xr + 6 > x1 - 90 ? xl - 100 : xr + 6, y + 4, s->accuracy, (long long)s->n_scored);
    }
    x_axis(f, 0.0, 1.0, x0, x1, top + row * (double)ns);
    fprintf(f, "<text class=\"xl\" x=\"%.1f\" y=\"%.1f\">accuracy (chosen &gt; rejected)</text>\n</svg>\n",
            (x0 + x1) / 2, h - 4);
}

static void fig_scores(FILE *f, const float *c, const float *r, const int8_t *s, const rms_html_source *all) {
    const double top = 34, ph = 180, x0 = FIG_ML, x1 = FIG_W - FIG_MR, h = top + ph + 60;
    fprintf(f, "<h2>Scores of chosen and rejected responses</h2>\n<svg id=\"fig-scores\" "
               "xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %.0f\" width=\"%d\" height=\"%.0f\">\n",
            FIG_W, h, FIG_W, h);
    const int kinds[2] = {0, 1};
    double lo = 0, hi = 1;
    if (range_of(kinds, 2, c, r, s, all->rows, all->n, &lo, &hi)) {
        int64_t hc[RMS_HTML_BINS], hr[RMS_HTML_BINS], max = 0;
        histogram(0, c, r, s, all->rows, all->n, lo, hi, hc);
        histogram(1, c, r, s, all->rows, all->n, lo, hi, hr);
        for (int b = 0; b < RMS_HTML_BINS; b++) max = hc[b] > max ? hc[b] : hr[b] > max ? hr[b] : max;
        fprintf(f, "<g class=\"hist-chosen\">\n");
        bars(f, "chosen", hc, max, lo, hi, x0, x1, top, ph);
        fprintf(f, "</g>\n<g class=\"hist-rejected\">\n");
        bars(f, "rejected", hr, max, lo, hi, x0, x1, top, ph);
        fprintf(f, "</g>\n");
        x_axis(f, lo, hi, x0, x1, top + ph);
        count_axis(f, max, x0, top, ph, 4);
        fprintf(f, "<text class=\"yl\" x=\"%.1f\" y=\"%.1f\">pairs</text>\n", x0 - 6, top - 6);
    }
    // the legend above the plot
    char mc[32], mr[32];
    fprintf(f, "<rect class=\"chosen\" x=\"%.0f\" y=\"4\" width=\"12\" height=\"12\"/><text x=\"%.0f\" y=\"14\">"
               "chosen (mean %s)</text>\n<rect class=\"rejected\" x=\"%.0f\" y=\"4\" width=\"12\" height=\"12\"/>"
               "<text x=\"%.0f\" y=\"14\">rejected (mean %s)</text>\n", x0, x0 + 18,
            figure(mc, 3, all->stats->chosen_mean), x0 + 200, x0 + 218, figure(mr, 3, all->stats->rejected_mean));
    fprintf(f, "<text class=\"xl\" x=\"%.1f\" y=\"%.1f\">score</text>\n</svg>\n", (x0 + x1) / 2, h - 8);
}

static void fig_calibration(FILE *f, const rms_stats *s) {
    const double top = 20, ph = 260, x0 = FIG_ML, x1 = FIG_ML + 340, h = top + ph + 50;
    char ece[32];
    fprintf(f, "<h2>Calibration: accuracy against confidence sigmoid(|margin|), ECE %s</h2>\n<svg "
               "id=\"fig-calibration\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %.0f\" width=\"%d\" "
               "height=\"%.0f\"", figure(ece, 4, s->ece), FIG_W, h, FIG_W, h);
    if (isfinite(s->ece)) fprintf(f, " data-ece=\"%.9g\"", s->ece); // absent when nothing is scored
    fputs(">\n", f);
    // x: confidence [0.5, 1]; y: accuracy [0, 1]
#define CX(v) (x0 + ((v) - 0.5) / 0.5 * (x1 - x0))
#define CY(v) (top + ph - (v) * ph)
    for (int k = 0; k <= 4; k++)
        fprintf(f, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/><text class=\"yl\" "
                   "x=\"%.1f\" y=\"%.1f\">%.2f</text>\n", x0, CY(k / 4.0), x1, CY(k / 4.0), x0 - 6, CY(k / 4.0) + 4,
                k / 4.0);
    fprintf(f, "<line class=\"diag\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", CX(0.5), CY(0.5), CX(1.0),
            CY(1.0));
    int64_t maxn = 1;
    for (int b = 0; b < RMS_CALIB_BINS; b++) maxn = s->calib[b].n > maxn ? s->calib[b].n : maxn;
    fprintf(f, "<polyline class=\"curve\" points=\"");
    for (int b = 0; b < RMS_CALIB_BINS; b++)
        if (s->calib[b].n) fprintf(f, "%.1f,%.1f ", CX(s->calib[b].confidence), CY(s->calib[b].accuracy));
    fprintf(f, "\"/>\n");
    for (int b = 0; b < RMS_CALIB_BINS; b++) {
        const rms_calib_bin *cb = &s->calib[b];
        if (!cb->n) continue;
        fprintf(f, "<circle class=\"bin\" cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" data-bin=\"%d\" data-count=\"%lld\" "
                   "data-confidence=\"%.9g\" data-accuracy=\"%.9g\"/>\n", CX(cb->confidence), CY(cb->accuracy),
                3.0 + 6.0 * sqrt((double)cb->n / (double)maxn), b, (long long)cb->n, cb->confidence, cb->accuracy);
    }
    x_axis(f, 0.5, 1.0, x0, x1, top + ph);
    fprintf(f, "<text class=\"xl\" x=\"%.1f\" y=\"%.1f\">confidence (mean per bin; dot area ~ pairs)</text>\n"
               "<text class=\"note\" x=\"%.1f\" y=\"%.1f\">on the diagonal: calibrated</text>\n</svg>\n",
            (x0 + x1) / 2, h - 8, x1 + 20, CY(0.9));
#undef CX
#undef CY
}

static void fig_margins(FILE *f, const float *c, const float *r, const int8_t *s, const rms_html_source *src,
                        int64_t ns) {
    const int kinds[1] = {2};
    double lo = 0, hi = 1;
    range_of(kinds, 1, c, r, s, src[0].rows, src[0].n, &lo, &hi); // ALL's range: every source within it
    const double ph = 70, gap = 26, top = 10, x0 = FIG_ML, x1 = FIG_W - FIG_MR, h = top + (ph + gap) * (double)ns + 40;
    fprintf(f, "<h2>Margins (chosen - rejected) per source</h2>\n<svg id=\"fig-margins\" "
               "xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %.0f\" width=\"%d\" height=\"%.0f\">\n",
            FIG_W, h, FIG_W, h);
    for (int64_t g = 0; g < ns; g++) {
        const double y0 = top + (ph + gap) * (double)g;
        int64_t hm[RMS_HTML_BINS], max = 0;
        histogram(2, c, r, s, src[g].rows, src[g].n, lo, hi, hm);
        for (int b = 0; b < RMS_HTML_BINS; b++) max = hm[b] > max ? hm[b] : max;
        fprintf(f, "<g class=\"hist-margin\" data-source=\"");
        put_escaped(f, src[g].name);
        fprintf(f, "\">\n<text class=\"label\" x=\"%d\" y=\"%.1f\">", FIG_ML - 40, y0 + ph / 2); // left of the counts
        put_escaped(f, src[g].name);
        fprintf(f, "</text>\n<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", x0, y0 + ph,
                x1, y0 + ph);
        bars(f, "margin", hm, max, lo, hi, x0, x1, y0, ph);
        count_axis(f, max, x0, y0, ph, 2);
        fprintf(f, "</g>\n");
    }
    if (lo < 0 && hi > 0) {
        const double xz = x0 + (0 - lo) / (hi - lo) * (x1 - x0);
        fprintf(f, "<line class=\"zero\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", xz, top, xz,
                top + (ph + gap) * (double)ns - gap);
    }
    x_axis(f, lo, hi, x0, x1, top + (ph + gap) * (double)ns - gap + 4);
    fprintf(f, "<text class=\"xl\" x=\"%.1f\" y=\"%.1f\">margin (right of 0: the model prefers the chosen "
               "response)</text>\n</svg>\n", (x0 + x1) / 2, h - 6);
}

static void page_head(FILE *f, const char *title, const char *subtitle) {
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>", f);
    put_escaped(f, title);
    fputs("</title>\n<style>\n"
          "body{font-family:DejaVu Sans,Helvetica,Arial,sans-serif;margin:24px;color:#1a202c;max-width:780px}\n"
          "h1{font-size:20px}h2{font-size:15px;margin:28px 0 6px}p.sub{color:#4a5568;font-size:13px}\n"
          "svg text{font-size:11px;fill:#2d3748}text.label{text-anchor:end}text.tl,text.xl{text-anchor:middle}\n"
          "text.yl{text-anchor:end}line.axis{stroke:#4a5568}line.tick{stroke:#4a5568}line.grid{stroke:#e2e8f0}\n"
          "line.half,line.zero{stroke:#a0aec0;stroke-dasharray:4 3}line.ci{stroke:#2b6cb0;stroke-width:2}\n"
          "circle.dot{fill:#2b6cb0}rect.chosen{fill:" CHOSEN_COLOR ";fill-opacity:.55}\n"
          "rect.rejected{fill:" REJECTED_COLOR ";fill-opacity:.55}rect.margin{fill:#4a5568}\n"
          "line.diag{stroke:#a0aec0;stroke-dasharray:4 3}polyline.curve{fill:none;stroke:#2b6cb0;stroke-width:1.5}\n"
          "circle.bin{fill:#2b6cb0;fill-opacity:.7}line.ci-a{stroke:" CHOSEN_COLOR ";stroke-width:2}\n"
          "line.ci-b{stroke:" REJECTED_COLOR ";stroke-width:2}circle.dot-a{fill:" CHOSEN_COLOR "}\n"
          "circle.dot-b{fill:" REJECTED_COLOR "}circle.pt{fill:#4a5568;fill-opacity:.6}\n"
          "circle.pt-flip-a{fill:" CHOSEN_COLOR "}circle.pt-flip-b{fill:" REJECTED_COLOR "}\n"
          "rect.cell{fill:#4a5568}rect.cell-flip-a{fill:" CHOSEN_COLOR "}rect.cell-flip-b{fill:" REJECTED_COLOR "}\n"
          "rect.up{fill:" REJECTED_COLOR "}rect.down{fill:" CHOSEN_COLOR "}\n</style>\n</head>\n<body>\n<h1>", f);
    put_escaped(f, title);
    fputs("</h1>\n<p class=\"sub\">", f);
    put_escaped(f, subtitle);
    fputs("</p>\n", f);
}

rms_status rms_report_html_write(FILE *f, const char *title, const char *subtitle, const float *chosen,
                                 const float *rejected, const int8_t *status, const rms_html_source *sources,
                                 int64_t n_sources, rms_err *err) {
    (void)err;
    page_head(f, title, subtitle);
    fig_accuracy(f, sources, n_sources);
    fig_scores(f, chosen, rejected, status, &sources[0]);
    fig_calibration(f, sources[0].stats);
    fig_margins(f, chosen, rejected, status, sources, n_sources);
    fputs("</body>\n</html>\n", f);
    return RMS_OK;
}

/* ---------------------------------------------------------------- compare --html */

static void fig_accuracy_ab(FILE *f, const rms_html_pair_group *g, int64_t ng) {
    const double row = 30, top = 30, h = top + row * (double)ng + 40, x0 = FIG_ML, x1 = FIG_W - FIG_MR;
    fprintf(f, "<h2>Accuracy of A (blue) and B (orange) per source, with 95%% Wilson intervals</h2>\n<svg "
               "id=\"fig-accuracy-ab\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %.0f\" width=\"%d\" "
               "height=\"%.0f\">\n", FIG_W, h, FIG_W, h);
    for (int k = 0; k <= 10; k += 2) {
        const double x = x0 + (x1 - x0) * k / 10.0;
        fprintf(f, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", x, top - 10, x,
                top + row * (double)ng);
    }
    for (int64_t k = 0; k < ng; k++) {
        const double y = top + row * (double)k + row / 2;
        fprintf(f, "<text class=\"label\" x=\"%d\" y=\"%.1f\">", FIG_ML - 8, y + 4);
        put_escaped(f, g[k].name);
        fprintf(f, "</text>\n");
        if (!isfinite(g[k].accuracy_a)) continue;
        const double acc[2] = {g[k].accuracy_a, g[k].accuracy_b}, lo[2] = {g[k].accuracy_a_lo, g[k].accuracy_b_lo},
                     hi[2] = {g[k].accuracy_a_hi, g[k].accuracy_b_hi};
        for (int m = 0; m < 2; m++) {
            const double yy = y + (m ? 5 : -5);
            fprintf(f, "<g class=\"acc\" data-source=\"");
            put_escaped(f, g[k].name);
            fprintf(f, "\" data-model=\"%c\" data-accuracy=\"%.9g\" data-lo=\"%.9g\" data-hi=\"%.9g\">"
                       "<line class=\"ci-%c\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/><circle class=\"dot-%c\" "
                       "cx=\"%.1f\" cy=\"%.1f\" r=\"4\"/></g>\n", m ? 'B' : 'A', acc[m], lo[m], hi[m], m ? 'b' : 'a',
                    x0 + (x1 - x0) * lo[m], yy, x0 + (x1 - x0) * hi[m], yy, m ? 'b' : 'a', x0 + (x1 - x0) * acc[m], yy);
        }
    }
    x_axis(f, 0.0, 1.0, x0, x1, top + row * (double)ng);
    fprintf(f, "<text class=\"xl\" x=\"%.1f\" y=\"%.1f\">accuracy</text>\n</svg>\n", (x0 + x1) / 2, h - 4);
}

/* The kind of a pair in the scatter: 0 both agree, 1 only A right, 2 only B right. */
static int pair_kind(double a, double b) { return (a > 0) == (b > 0) ? 0 : a > 0 ? 1 : 2; }

static const char *const POINT_CLASS[3] = {"pt", "pt-flip-a", "pt-flip-b"};
static const char *const CELL_CLASS[3] = {"cell", "cell-flip-a", "cell-flip-b"};

static void fig_scatter(FILE *f, const float *ca, const float *ra, const int8_t *sa, const float *cb, const float *rb,
                        const int8_t *sb, int64_t n, int64_t n_both, int64_t max_points, rms_status *st,
                        rms_err *err) {
    double lo = 0, hi = 0;
    int any = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!(used(ca, ra, sa, i) && used(cb, rb, sb, i))) continue;
        const double a = (double)ca[i] - (double)ra[i], b = (double)cb[i] - (double)rb[i];
        const double mn = a < b ? a : b, mx = a > b ? a : b;
        if (!any || mn < lo) lo = mn;
        if (!any || mx > hi) hi = mx;
        any = 1;
    }
    if (!any || hi - lo < 1e-9) {
        lo -= 0.5;
        hi += 0.5;
    }
    const int dense = n_both > max_points;
    const double side = 380, top = 20, x0 = FIG_ML, x1 = FIG_ML + side, h = top + side + 50;
    fprintf(f, "<h2>Margins of B against margins of A (blue: only A right, orange: only B right)</h2>\n");
    if (dense)
        fprintf(f, "<p class=\"sub\">%lld pairs, more than %lld: drawn as a %dx%d grid of cells shaded by their "
                   "count of pairs (log scale), one colour per kind of pair</p>\n", (long long)n_both,
                (long long)max_points, RMS_HTML_GRID, RMS_HTML_GRID);
    fprintf(f, "<svg id=\"fig-scatter\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %.0f\" width=\"%d\" "
               "height=\"%.0f\" data-mode=\"%s\">\n", FIG_W, h, FIG_W, h, dense ? "grid" : "points");
#define SX(v) (x0 + ((v) - lo) / (hi - lo) * side)
#define SY(v) (top + side - ((v) - lo) / (hi - lo) * side)
    if (lo < 0 && hi > 0)
        fprintf(f, "<line class=\"zero\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/><line class=\"zero\" "
                   "x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", SX(0.0), top, SX(0.0), top + side, x0,
                SY(0.0), x1, SY(0.0));
    fprintf(f, "<rect class=\"frame\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
               "stroke=\"#a0aec0\"/>\n", x0, top, side, side);
    if (!dense) {
        for (int64_t i = 0; i < n; i++) {
            if (!(used(ca, ra, sa, i) && used(cb, rb, sb, i))) continue;
            const double a = (double)ca[i] - (double)ra[i], b = (double)cb[i] - (double)rb[i];
            fprintf(f, "<circle class=\"%s\" cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" data-row=\"%lld\" data-count=\"1\" "
                       "data-a=\"%.9g\" data-b=\"%.9g\"/>\n", POINT_CLASS[pair_kind(a, b)], SX(a), SY(b), (long long)i,
                    a, b);
        }
    } else {
        // (3, RMS_HTML_GRID, RMS_HTML_GRID): pairs per kind, cell (column of A's margin, row of B's margin)
        const int64_t cells = (int64_t)RMS_HTML_GRID * RMS_HTML_GRID;
        int64_t *count = calloc((size_t)(3 * cells), sizeof *count);
        if (!count) {
            *st = rms_fail(err, RMS_ERR_NOMEM, "out of memory");
            return;
        }
        int64_t max = 1;
        for (int64_t i = 0; i < n; i++) {
            if (!(used(ca, ra, sa, i) && used(cb, rb, sb, i))) continue;
            const double a = (double)ca[i] - (double)ra[i], b = (double)cb[i] - (double)rb[i];
            int gx = (int)((a - lo) / (hi - lo) * RMS_HTML_GRID), gy = (int)((b - lo) / (hi - lo) * RMS_HTML_GRID);
            gx = gx < 0 ? 0 : gx >= RMS_HTML_GRID ? RMS_HTML_GRID - 1 : gx; // the last cell is closed
            gy = gy < 0 ? 0 : gy >= RMS_HTML_GRID ? RMS_HTML_GRID - 1 : gy;
            int64_t *c = &count[pair_kind(a, b) * cells + (int64_t)gy * RMS_HTML_GRID + gx];
            if (++*c > max) max = *c;
        }
        const double cw = side / RMS_HTML_GRID, step = (hi - lo) / RMS_HTML_GRID;
        for (int k = 0; k < 3; k++)
            for (int64_t c = 0; c < cells; c++) {
                const int64_t m = count[k * cells + c];
                if (!m) continue;
                const int gx = (int)(c % RMS_HTML_GRID), gy = (int)(c / RMS_HTML_GRID);
                fprintf(f, "<rect class=\"%s\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" "
                           "fill-opacity=\"%.3f\" data-count=\"%lld\" data-a-lo=\"%.9g\" data-b-lo=\"%.9g\"/>\n",
                        CELL_CLASS[k], x0 + gx * cw, top + side - (gy + 1) * cw, cw, cw,
                        0.15 + 0.85 * log1p((double)m) / log1p((double)max), (long long)m, lo + gx * step,
                        lo + gy * step);
            }
        free(count);
    }
    x_axis(f, lo, hi, x0, x1, top + side);
    y_axis(f, lo, hi, x0, top, top + side);
    fprintf(f, "<text class=\"xl\" x=\"%.1f\" y=\"%.1f\">margin of A</text>\n<text class=\"yl\" x=\"%.1f\" "
               "y=\"%.1f\">margin of B</text>\n</svg>\n", (x0 + x1) / 2, h - 6, x0 - 30, top + side / 2);
#undef SX
#undef SY
}

static void fig_delta(FILE *f, const rms_html_pair_group *g, int64_t ng) {
    double span = 0.05;
    for (int64_t k = 0; k < ng; k++)
        if (isfinite(g[k].delta) && fabs(g[k].delta) > span) span = fabs(g[k].delta);
    const double row = 22, top = 20, h = top + row * (double)ng + 40, x0 = FIG_ML, x1 = FIG_W - FIG_MR - 120;
    fprintf(f, "<h2>Accuracy B - A per source (McNemar's exact p on the right)</h2>\n<svg id=\"fig-delta\" "
               "xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %.0f\" width=\"%d\" height=\"%.0f\">\n",
            FIG_W, h, FIG_W, h);
    const double xz = (x0 + x1) / 2;
    for (int64_t k = 0; k < ng; k++) {
        const double y = top + row * (double)k;
        fprintf(f, "<text class=\"label\" x=\"%d\" y=\"%.1f\">", FIG_ML - 8, y + row / 2 + 4);
        put_escaped(f, g[k].name);
        fprintf(f, "</text>\n");
        if (!isfinite(g[k].delta)) continue;
        const double w = fabs(g[k].delta) / span * (x1 - x0) / 2;
        fprintf(f, "<rect class=\"%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" data-source=\"",
                g[k].delta >= 0 ? "up" : "down", g[k].delta >= 0 ? xz : xz - w, y + 4, w, row - 8);
        put_escaped(f, g[k].name);
        fprintf(f, "\" data-delta=\"%.9g\" data-count=\"%lld\" data-p=\"%.9g\"/><text x=\"%.1f\" y=\"%.1f\">%+.3f"
                   "  p=%.3g</text>\n", g[k].delta, (long long)g[k].n_both, g[k].mcnemar_p, x1 + 10, y + row / 2 + 4,
                g[k].delta, g[k].mcnemar_p);
    }
    fprintf(f, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", xz, top, xz,
            top + row * (double)ng);
    x_axis(f, -span, span, x0, x1, top + row * (double)ng + 2);
    fprintf(f, "</svg>\n");
}

rms_status rms_compare_html_write(FILE *f, const char *title, const char *subtitle, const float *ca, const float *ra,
                                  const int8_t *sa, const float *cb, const float *rb, const int8_t *sb,
                                  const rms_html_pair_group *groups, int64_t n_groups, int64_t max_points,
                                  rms_err *err) {
    rms_status st = RMS_OK;
    page_head(f, title, subtitle);
    fig_accuracy_ab(f, groups, n_groups);
    fig_scatter(f, ca, ra, sa, cb, rb, sb, groups[0].n, groups[0].n_both, max_points, &st, err);
    if (st != RMS_OK) return st;
    fig_delta(f, groups, n_groups);
    fputs("</body>\n</html>\n", f);
    return RMS_OK;
}
