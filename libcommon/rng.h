/* rng.h: a counter-based random number generator (Philox4x32-10, Salmon et al. 2011).
 *
 * The numbers for (seed, stream, counter) are a pure function of those three values, so the random crop of
 * sample i in epoch e is the same whatever the thread count or scheduling: derive the stream from (e, i) with
 * rng_stream_id() and draw from it in the worker that handles the sample. The same function is trivial to run in
 * a CUDA kernel, so a GPU twin can produce identical numbers.
 */
#ifndef AVSL_RNG_H
#define AVSL_RNG_H

#include <stdint.h>

/* One Philox4x32-10 block: 4 independent 32-bit outputs for a 128-bit counter and a 64-bit key. */
void philox4x32(uint64_t key, uint64_t ctr_hi, uint64_t ctr_lo, uint32_t out[4]);

/* A stream: key = seed, counter high word = stream id, low word advances. */
typedef struct {
	uint64_t seed, stream, ctr;
	uint32_t buf[4];
	int left;
} rng;

void rng_init(rng *r, uint64_t seed, uint64_t stream);
/* Mix several integers (epoch, sample index, purpose tag) into one stream id. */
uint64_t rng_stream_id(uint64_t a, uint64_t b, uint64_t c);

uint32_t rng_u32(rng *r);
/* Uniform in [0, 1) with 24 random bits (exactly representable as float). */
float rng_uniform(rng *r);
/* Uniform double in [0, 1) with 53 random bits. */
double rng_uniform_double(rng *r);
/* Uniform integer in [0, n) without modulo bias; n >= 1. */
uint32_t rng_below(rng *r, uint32_t n);
/* Standard normal (Box-Muller on two doubles). */
double rng_normal(rng *r);
/* The state a checkpoint needs to continue a stream exactly: (seed, stream, ctr, left) fully define it. */

#endif
