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

/* ---- writer ------------------------------------------------------------------------------------------------ */

/* One record compressed and ready to append: shard_record_encode can run in many threads, shard_writer_put
 * appends in the caller's order, so the bytes of a shard do not depend on the thread count. */
typedef struct {
	unsigned char *data;     /* zstd frame, owned */
	size_t size;             /* stored bytes */
	size_t raw_size;         /* decompressed payload bytes */
	int32_t label, super_label;
	uint32_t crc;            /* CRC-32 of data[0..size) */
	char *class_name;        /* owned copy, for the class table */
} shard_encoded;

/* Compress rec (its index field is ignored) at zstd level `level` (1..19) with zctx, a ZSTD_CCtx* created on first
 * use and kept by the caller per thread (free with shard_zctx_free). */
int shard_record_encode(const shard_record *rec, int level, void **zctx, shard_encoded *enc, fmt_error *err);
void shard_encoded_free(shard_encoded *enc);
void shard_zctx_free(void *zctx);

typedef struct shard_writer shard_writer;

/* Start a shard on fp (any stream: it is written sequentially, never seeks); name is used in messages. */
int shard_writer_open(shard_writer **w, FILE *fp, const char *name, int level, fmt_error *err);
/* Append a record already encoded (takes nothing from enc: the caller still frees it). */
int shard_writer_put(shard_writer *w, const shard_encoded *enc, fmt_error *err);
/* Encode and append in one call. */
int shard_writer_add(shard_writer *w, const shard_record *rec, fmt_error *err);
uint64_t shard_writer_count(const shard_writer *w);
/* Bytes written so far (header and records; the class table, index and footer come with finish). */
uint64_t shard_writer_bytes(const shard_writer *w);
/* Write class table, index and footer and free w (also on error). *total (may be NULL) gets the file size. The
 * caller flushes/closes fp. */
int shard_writer_finish(shard_writer *w, uint64_t *total, fmt_error *err);
/* Free w without finishing (error paths). */
void shard_writer_abort(shard_writer *w);

/* Write a manifest listing n shards (names relative to the manifest's folder, no '/') and their record counts. */
int shard_manifest_write(FILE *fp, const char *name, char *const *shard_names, const uint64_t *counts, int n,
			 fmt_error *err);

/* ---- inspection ------------------------------------------------------------------------------------------ */

/* Number of shard files behind r (1 for a plain shard), and the path of shard s. */
int shard_reader_nshards(const shard_reader *r);
const char *shard_reader_shard_path(const shard_reader *r, int s);
/* Name of class `label` from the class tables, NULL when no record has that label. */
const char *shard_reader_class_name(const shard_reader *r, int32_t label);
/* Number of distinct labels in the class tables. */
uint32_t shard_reader_class_count(const shard_reader *r);
/* Super label of record i from the index. */
int32_t shard_reader_super_label(const shard_reader *r, uint64_t i);
/* Read every record and check its checksum and fields; returns the number of bad records (first in err), or 0. */
uint64_t shard_reader_verify(shard_reader *r, fmt_error *err);


#endif
