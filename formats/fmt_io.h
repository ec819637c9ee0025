/* fmt_io.h: little-endian encoding helpers and exact reads for the binary formats in formats/ (internal). */
#ifndef AVSL_FMT_IO_H
#define AVSL_FMT_IO_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static inline void fmt_put16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8);
}
static inline void fmt_put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}
static inline void fmt_put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}
static inline uint16_t fmt_get16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}
static inline uint32_t fmt_get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t fmt_get64(const unsigned char *p)
{
	return (uint64_t)fmt_get32(p) | (uint64_t)fmt_get32(p + 4) << 32;
}
static inline void fmt_putf32(unsigned char *p, float f)
{
	uint32_t b;
	memcpy(&b, &f, 4);
	fmt_put32(p, b);
}
static inline float fmt_getf32(const unsigned char *p)
{
	uint32_t b = fmt_get32(p);
	float f;
	memcpy(&f, &b, 4);
	return f;
}
static inline int fmt_host_le(void)
{
	const uint16_t one = 1;
	return *(const unsigned char *)&one == 1;
}

/* fread that reports how many bytes arrived (works on pipes: stdio retries short reads until EOF or error). */
static inline size_t fmt_read(FILE *fp, void *buf, size_t n)
{
	return n ? fread(buf, 1, n, fp) : 0;
}

/* Message tail for a failed read: the stream's error, or end of file. */
static inline const char *fmt_read_why(FILE *fp)
{
	return ferror(fp) ? (errno ? strerror(errno) : "read error") : "end of file";
}

#endif
