/* prep.h: the avsl-prep pipeline: decode, resize and compress a split's items in parallel, write them in order into
 * one shard or a numbered series of shards plus a manifest. The bytes written depend only on the inputs and the
 * options, never on the thread count.
 */
#ifndef AVSL_PREP_H
#define AVSL_PREP_H

#include <stdint.h>

#include "cli.h"
#include "datasets.h"

typedef struct {
	int level;              /* zstd level */
	int resize;             /* shorter side, 0 = keep the decoded size */
	int threads;            /* >= 1 */
	int strict;             /* a corrupt image is an error, not a warning */
	int verbosity;          /* CLI_QUIET, CLI_NORMAL, CLI_VERBOSE */
	uint64_t shard_records; /* records per shard, 0 = no limit */
	uint64_t shard_bytes;   /* bytes per shard, 0 = no limit */
} prep_opts;

typedef struct {
	uint64_t images, skipped, bytes_in, bytes_out, shards;
	size_t classes;
	double seconds;
} prep_stats;

/* Write split s. out: a file name ending in .avs (exactly one shard) or, when multi is set, a prefix: shards
 * PREFIX-00000.avs, PREFIX-00001.avs, ... and the manifest PREFIX.avsm. Dies on errors. */
void prep_split(const ds_split *s, const char *out, int multi, const prep_opts *o, prep_stats *st);
/* The same, leaving the files under temporary names in set (the manifest last); the caller renames them all with
 * out_set_commit, so a run over several splits appears all together or not at all. */
void prep_split_into(const ds_split *s, const char *out, int multi, const prep_opts *o, prep_stats *st, out_set *set);

#endif
