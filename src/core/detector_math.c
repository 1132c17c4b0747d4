/* Tail probabilities for the detector: Poisson through the regularized
 * incomplete gamma, binomial through the regularized incomplete beta (both
 * continued to real-valued counts, for the quasi-likelihood scaling by the
 * over-dispersion), and the Benjamini-Hochberg threshold. */
#include "detector_int.h"

#include <math.h>
#include <stdlib.h>

#define TINY 1e-300

/* Lentz's method keeps its denominators away from zero. */
static double nz(double v) { return fabs(v) < TINY ? TINY : v; }

/* P(a, x) = gamma(a, x) / Gamma(a): series for x < a + 1, else 1 - the
 * continued fraction of Q (Lentz's method). */
static double gamma_p(double a, double x)
{
    if (x <= 0)
        return 0;
    double gln = lgamma(a);
    if (x < a + 1) {
        double ap = a, sum = 1.0 / a, del = sum;
        for (int n = 0; n < 1000; n++) {
            ap += 1;
            del *= x / ap;
            sum += del;
            if (fabs(del) < fabs(sum) * 1e-15)
                break;
        }
        return sum * exp(-x + a * log(x) - gln);
    }
    double b = x + 1 - a, c = 1.0 / TINY, d = 1.0 / b, h = d;
    for (int i = 1; i < 1000; i++) {
        double an = -i * (i - a);
        b += 2;
        d = nz(an * d + b);
        c = nz(b + an / c);
        d = 1 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < 1e-15)
            break;
    }
    return 1 - exp(-x + a * log(x) - gln) * h;
}

static double clamp01(double p) { return p < 0 ? 0 : p > 1 ? 1 : p; }

double detector_poisson_upper(double x, double lambda)
{
    if (x <= 0)
        return 1;
    if (lambda <= 0)
        return 0;
    /* P(X >= k) = P(k, lambda), continued to real k. */
    return clamp01(gamma_p(x, lambda));
}

double detector_poisson_lower(double x, double lambda)
{
    if (x < 0)
        return 0;
    if (lambda <= 0)
        return 1;
    return clamp01(1 - gamma_p(x + 1, lambda));
}

/* The continued fraction of the incomplete beta (modified Lentz); it needs
 * about sqrt(max(a, b)) terms. */
static double betacf(double a, double b, double x)
{
    double qab = a + b, qap = a + 1, qam = a - 1, c = 1, d = 1 / nz(1 - qab * x / qap);
    double h = d;
    for (int m = 1; m <= 5000; m++) {
        int m2 = 2 * m;
        double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = nz(1 + aa * d);
        c = nz(1 + aa / c);
        d = 1 / d;
        h *= d * c;
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = nz(1 + aa * d);
        c = nz(1 + aa / c);
        d = 1 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < 1e-14)
            break;
    }
    return h;
}

/* I_x(a, b) */
static double beta_reg(double a, double b, double x)
{
    if (x <= 0)
        return 0;
    if (x >= 1)
        return 1;
    double bt = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x));
    if (x < (a + 1) / (a + b + 2))
        return clamp01(bt * betacf(a, b, x) / a);
    return clamp01(1 - bt * betacf(b, a, 1 - x) / b);
}

double detector_binom_upper(double x, double n, double p)
{
    if (x <= 0)
        return 1;
    if (x > n || p <= 0)
        return 0;
    if (p >= 1)
        return 1;
    /* P(X >= k) = I_p(k, n - k + 1), continued to real k and n. */
    return beta_reg(x, n - x + 1, p);
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

double detector_bh_threshold(double *p, size_t m, double q)
{
    qsort(p, m, sizeof *p, cmp_double);
    double thr = 0;
    for (size_t i = 0; i < m; i++)
        if (p[i] <= (double)(i + 1) * q / (double)m)
            thr = p[i];
    return thr;
}
