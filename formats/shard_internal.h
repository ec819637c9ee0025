/* shard_internal.h: what the shard writer (shard_write.c) and reader (shard.c) share: constants of shard.md,
 * little-endian helpers, CRC-32 and the pixel filter. Not installed; include only from formats/shard*.c. */
#ifndef AVSL_SHARD_INTERNAL_H
#define AVSL_SHARD_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <zlib.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define HEADER_SIZE 32
#define FOOTER_SIZE 64
#define INDEX_ENTRY 32
#define PAYLOAD_HEAD 24
#define MAX_NAME 4095 /* class names and paths */
#define MANIFEST_MAX (16u << 20)

static const unsigned char shard_magic[8] = {0x89, 'A', 'V', 'S', '\r', '\n', 0x1a, '\n'};
static const unsigned char footer_magic[8] = {'A', 'V', 'S', 'F', 'O', 'O', 'T', 'R'};
static const char manifest_magic[] = "AVSM 1.0\n";

enum { SHARD_MAJOR = 1, SHARD_MINOR = 0 };

typedef struct {
	uint64_t off;
	uint32_t size, raw_size, crc;
	int32_t label, super_label;
} index_entry;

typedef struct {
	int32_t label;
	char *name;
} class_entry;

/* ---- little-endian helpers -------------------------------------------------------------------------------- */

static inline void put16(unsigned char *p, uint32_t v) { p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); }
static inline void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}
static inline void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}
static inline uint32_t get16(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static inline uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t get64(const unsigned char *p) { return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32; }

static inline uint32_t crc(const void *p, size_t n) { return (uint32_t)crc32_z(0, (const Bytef *)p, n); }

static inline int all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

/* ---- pixel filter ---------------------------------------------------------------------------------------- */

static inline int clamp255(int v) { return v < 0 ? 0 : v > 255 ? 255 : v; }

/* The gradient predictor (shard.md, "filter"): pred = clamp(left + up - upleft, 0, 255) per channel, with samples
 * outside the image taken as 0; the stored byte is (pixel - pred) mod 256. Natural images leave small residuals
 * that zstd's entropy stage codes in about half the bytes of the raw pixels. */
static inline void filter_forward(const uint8_t *p, uint8_t *o, uint32_t h, uint32_t w, uint32_t c)
{
	size_t row = (size_t)w * c;
	for (size_t i = 0; i < row; i++) /* first row: pred = left */
		o[i] = (uint8_t)(p[i] - (i >= c ? p[i - c] : 0));
	for (uint32_t y = 1; y < h; y++) {
		const uint8_t *a = p + y * row, *u = a - row;
		uint8_t *d = o + y * row;
		for (uint32_t k = 0; k < c; k++) /* first column: pred = up */
			d[k] = (uint8_t)(a[k] - u[k]);
		size_t i = c;
#ifdef __SSE2__
		/* 16 samples at a time: widen to 16 bits, L + U - UL, packus clamps to 0..255 exactly as clamp255 */
		const __m128i z = _mm_setzero_si128();
		for (; i + 16 <= row; i += 16) {
			__m128i l = _mm_loadu_si128((const __m128i *)(a + i - c)), up = _mm_loadu_si128((const __m128i *)(u + i));
			__m128i ul = _mm_loadu_si128((const __m128i *)(u + i - c)), x = _mm_loadu_si128((const __m128i *)(a + i));
			__m128i lo = _mm_sub_epi16(_mm_add_epi16(_mm_unpacklo_epi8(l, z), _mm_unpacklo_epi8(up, z)),
						   _mm_unpacklo_epi8(ul, z));
			__m128i hi = _mm_sub_epi16(_mm_add_epi16(_mm_unpackhi_epi8(l, z), _mm_unpackhi_epi8(up, z)),
						   _mm_unpackhi_epi8(ul, z));
			_mm_storeu_si128((__m128i *)(d + i), _mm_sub_epi8(x, _mm_packus_epi16(lo, hi)));
		}
#endif
		for (; i < row; i++)
			d[i] = (uint8_t)(a[i] - clamp255(a[i - c] + u[i] - u[i - c]));
	}
}

/* Undo filter_forward in place: every prediction reads samples already restored. */
static inline void filter_inverse(uint8_t *p, uint32_t h, uint32_t w, uint32_t c)
{
	size_t row = (size_t)w * c;
	for (size_t i = c; i < row; i++)
		p[i] = (uint8_t)(p[i] + p[i - c]);
	for (uint32_t y = 1; y < h; y++) {
		uint8_t *a = p + y * row;
		const uint8_t *u = a - row;
		for (uint32_t k = 0; k < c; k++)
			a[k] = (uint8_t)(a[k] + u[k]);
		for (size_t i = c; i < row; i++)
			a[i] = (uint8_t)(a[i] + clamp255(a[i - c] + u[i] - u[i - c]));
	}
}

#endif
