/* ffi.h - the built-in "pydron.ffi" runner: C functions from shared objects,
 * loaded with dlopen and called through libffi. */
#ifndef PDI_FFI_H
#define PDI_FFI_H

#include "pydron.h"

/* The runner ops; self is unused (NULL). dlopen/dlsym results are cached
 * process-wide; run() is thread-safe. */
extern const pydron_runner_ops pdi_ffi_runner_ops;

/* Parse a payload made by pydron_ffi_payload (pointers into data). */
int pdi_ffi_parse(const void *data, size_t len, const char **library, const char **symbol,
                  const char **signature);

#endif
