/* emb.h: the embeddings stream (.ave): a header, then fixed-size records; see formats/emb.md.
 *
 * Written by avsl-embed, read by avsl-graph and avsl-eval. Works through a pipe (count may be "until end") and as
 * a file. One record = id, label, then for each level l the embedding (dim[l] floats), then, if certainties are
 * present, for each level the certainty (dim[l] floats). All little-endian float32.
 */
#ifndef AVSL_EMB_H
#define AVSL_EMB_H

#include <stdint.h>
#include <stdio.h>

#include "fmt_error.h"

enum { AVE_MAX_LEVELS = 8 };
#define AVE_COUNT_UNKNOWN UINT64_MAX

typedef enum { AVE_KIND_AVSL = 1, AVE_KIND_BASELINE = 2, AVE_KIND_PLAIN = 3 } ave_kind;

typedef struct {
	uint32_t levels;               /* 1..AVE_MAX_LEVELS */
	uint32_t dim[AVE_MAX_LEVELS];  /* 1..65536 each */
	int has_cert;                  /* certainties follow the embeddings in every record */
	ave_kind kind;
	uint64_t count;                /* records, or AVE_COUNT_UNKNOWN (stream until end of file) */
} ave_header;

/* Floats per record: sum(dim) * (1 + has_cert). */
uint64_t ave_record_floats(const ave_header *h);

/* Check kind, levels (1..8) and dim[0..levels) (1..65536 each); the writer and the reader both call it. */
int ave_check_header(const ave_header *h, const char *name, fmt_error *err);

int ave_write_header(FILE *fp, const char *name, const ave_header *h, fmt_error *err);
/* vals: (ave_record_floats) floats in record order: emb[0], ..., emb[L-1], cert[0], ..., cert[L-1]. */
int ave_write_record(FILE *fp, const char *name, const ave_header *h, int64_t id, int32_t label, const float *vals,
		     fmt_error *err);

int ave_read_header(FILE *fp, const char *name, ave_header *h, fmt_error *err);
/* Returns 1 for a record, 0 at a clean end (only when count is unknown or all count records were read: the caller
 * passes how many it has read so far), -1 on error (truncated record, NaN/Inf value, ...). */
int ave_read_record(FILE *fp, const char *name, const ave_header *h, uint64_t index, int64_t *id, int32_t *label,
		    float *vals, fmt_error *err);

/* A whole embeddings file in memory, per level contiguous, ready for tiled distance computation. */
typedef struct {
	ave_header h;
	uint64_t n;
	int64_t *id;                   /* (n) */
	int32_t *label;                /* (n) */
	float *emb[AVE_MAX_LEVELS];    /* (n, dim[l]) */
	float *cert[AVE_MAX_LEVELS];   /* (n, dim[l]) or NULL */
} ave_set;

/* Read a header and every record from fp (a file or a pipe); name is for messages. */
int ave_load(FILE *fp, const char *name, ave_set *s, fmt_error *err);
/* Streaming: with s->h already read (ave_read_header), replace s's records by the next at most max records
 * (record indices first, first + 1, ...; for messages and the count check). Returns the number read (0 at the
 * end of the stream) or -1. A query stream is served block by block this way (avsl-graph -g). */
int64_t ave_load_block(FILE *fp, const char *name, ave_set *s, uint64_t first, uint64_t max, fmt_error *err);
void ave_free(ave_set *s);

#endif
