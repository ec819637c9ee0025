/* fuzz.h: the entry point every harness defines (libFuzzer's, also called by replay.c in `make check`). */
#ifndef AVSL_FUZZ_H
#define AVSL_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
