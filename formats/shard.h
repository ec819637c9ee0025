/* shard.h: image shards (.avs) and shard manifests; see formats/shard.md (normative).
 *
 * A shard holds records (label, super label, class name, source path, height, width, channels, pixels), each
 * compressed on its own with zstd, an index for random access, and checksums so a truncated or corrupted shard is
 * detected and named. A manifest (a small text file, .avsm) lists the shards of one split; the reader opens either
 * and exposes one global record index 0..count-1 across all listed shards, in manifest order.
 */
#ifndef AVSL_SHARD_H
#define AVSL_SHARD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "fmt_error.h"

typedef struct {
	uint64_t index;          /* global record index */
	int32_t label;           /* class index, 0-based within the split's class table */
	int32_t super_label;     /* SOP super class, -1 when none */
	const char *class_name;  /* borrowed: valid until the next shard_reader_get with the same shard_buf */
	const char *path;        /* source path as given to avsl-prep (relative to the dataset root) */
	uint32_t height, width;
	uint32_t channels;       /* 1 (gray) or 3 (RGB) */
	const uint8_t *pixels;   /* (height, width, channels), row-major, interleaved */
} shard_record;

typedef struct shard_reader shard_reader;

/* Per-thread scratch for decompression: a reader is shared by threads, each with its own buffer. Zero-init it. */
typedef struct {
	void *zctx;
	unsigned char *comp, *raw;
	size_t comp_cap, raw_cap;
} shard_buf;

/* Open a .avs shard or a manifest of shards. Validates headers and indexes (not record checksums: see verify). */
int shard_reader_open(shard_reader **r, const char *path, fmt_error *err);
void shard_reader_close(shard_reader *r);
uint64_t shard_reader_count(const shard_reader *r);
/* Highest label + 1 over all records (from the shard headers, without reading records). */
int32_t shard_reader_num_classes(const shard_reader *r);
/* Read record i (decompress and verify its checksum). Thread-safe with one shard_buf per thread. */
int shard_reader_get(shard_reader *r, uint64_t i, shard_buf *buf, shard_record *rec, fmt_error *err);
/* Label of record i without decompressing it (from the index). */
int32_t shard_reader_label(const shard_reader *r, uint64_t i);
void shard_buf_free(shard_buf *buf);

#endif
