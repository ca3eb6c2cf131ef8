/* oot_executor.h - an executor written outside libpydron, against pydron.h
 * alone (no internal header, no pdi_* symbol): the proof that the executor
 * contract in pydron.h is enough. The executor conformance suite
 * (tests/c/test_exec_suite.c) runs it beside the shipped ones. */
#ifndef OOT_EXECUTOR_H
#define OOT_EXECUTOR_H

#include <pydron.h>

/* Register it under `name` in the executor registry (once per process).
 * Its exec_options: NULL, or a const unsigned * with the number of pool
 * threads (default: opts->workers, else 2). */
int oot_executor_register(const char *name);

#endif
