/*
 * check_direct.c - checks the output of pydron-jacobi against a direct
 * solve (Gaussian elimination with partial pivoting) of the same system.
 *
 * usage: check_direct OUTPUT_FILE   (exit 0 if every x[i] matches)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "problem.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: check_direct OUTPUT_FILE\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "r");
    if (!f) {
        perror(argv[1]);
        return 2;
    }
    long long n = -1, iters = -1, idx;
    int converged = 0, nx = 0, blocks;
    double tol, v, *x = NULL;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "jacobi: n=%lld blocks=%d tol=%lg", &n, &blocks, &tol) == 3) {
            x = calloc((size_t)n, sizeof *x);
        } else if (!strcmp(line, "converged: yes\n")) {
            converged = 1;
        } else if (sscanf(line, "iterations: %lld", &iters) == 1) {
        } else if (sscanf(line, "x[%lld] = %lg", &idx, &v) == 2 && x && idx >= 0 && idx < n) {
            x[idx] = v;
            nx++;
        }
    }
    fclose(f);
    if (n < 1 || !x || !converged || nx != n || iters < 2) {
        fprintf(stderr, "check_direct: output incomplete (n=%lld converged=%d x-lines=%d "
                        "iterations=%lld)\n", n, converged, nx, iters);
        return 1;
    }
    /* the augmented matrix [A | b] */
    size_t m = (size_t)n;
    double *a = malloc(m * (m + 1) * sizeof *a);
    for (size_t i = 0; i < m; i++) {
        for (size_t j = 0; j < m; j++)
            a[i * (m + 1) + j] = problem_a((int)n, (int)i, (int)j);
        a[i * (m + 1) + m] = problem_b((int)i);
    }
    for (size_t c = 0; c < m; c++) {
        size_t p = c;
        for (size_t r = c + 1; r < m; r++)
            if (fabs(a[r * (m + 1) + c]) > fabs(a[p * (m + 1) + c]))
                p = r;
        if (p != c)
            for (size_t j = 0; j <= m; j++) {
                double t = a[c * (m + 1) + j];
                a[c * (m + 1) + j] = a[p * (m + 1) + j];
                a[p * (m + 1) + j] = t;
            }
        for (size_t r = c + 1; r < m; r++) {
            double fct = a[r * (m + 1) + c] / a[c * (m + 1) + c];
            for (size_t j = c; j <= m; j++)
                a[r * (m + 1) + j] -= fct * a[c * (m + 1) + j];
        }
    }
    double *xd = malloc(m * sizeof *xd), err = 0;
    for (size_t i = m; i-- > 0;) {
        double s = a[i * (m + 1) + m];
        for (size_t j = i + 1; j < m; j++)
            s -= a[i * (m + 1) + j] * xd[j];
        xd[i] = s / a[i * (m + 1) + i];
    }
    for (size_t i = 0; i < m; i++)
        if (fabs(xd[i] - x[i]) > err)
            err = fabs(xd[i] - x[i]);
    printf("check_direct: n=%lld iterations=%lld max |x - x_direct| = %.3e\n", n, iters, err);
    free(a);
    free(xd);
    free(x);
    /* Jacobi stops at ||b - A x|| < tol; with diagonal dominance margin >= 1
     * the error is of the same order */
    return err < 1e3 * tol + 1e-12 ? 0 : 1;
}
