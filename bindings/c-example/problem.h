/*
 * problem.h - the linear system the C example solves, shared with the test
 * that checks it by a direct solve. A is strictly diagonally dominant, so
 * the Jacobi iteration converges.
 */
#ifndef JACOBI_PROBLEM_H
#define JACOBI_PROBLEM_H

static double problem_a(int n, int i, int j)
{
    if (i == j)
        return 4.0 + (double)(i % 3);
    if (j == i - 1 || j == i + 1)
        return -1.0;
    if (j == i - 7 || j == i + 7)
        return -0.5;
    (void)n;
    return 0.0;
}

static double problem_b(int i) { return 1.0 + 0.25 * (double)(i % 7); }

#endif
