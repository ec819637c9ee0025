/* npy_import.h: numpy arrays into avsl (embeddings computed elsewhere, labels, neighbour indices from faiss or
 * PyTorch). Every function dies with "FILE: what is wrong" on bad input (the tools' convention). */
#ifndef AVSL_NPY_IMPORT_H
#define AVSL_NPY_IMPORT_H

#include <stdint.h>
#include <stdio.h>

#include "emb.h"
#include "npy.h"

/* A whole .npy file (path "-": standard input). */
void npy_import_load(const char *path, npy_array *a);

/* Labels: a .npy integer array of shape (N) or (N, 1), or a text file of one integer per line (blank lines and
 * lines starting with '#' skipped). Values must fit int32. Returns (n) labels, *n set. */
int32_t *npy_import_labels(const char *path, uint64_t *n);

/* An embeddings set from L float arrays (N, dim_l) (emb_paths[l]), optional certainties (cert_paths NULL, or L
 * arrays of the same shapes), labels (npy_import_labels) and optional ids (.npy integers (N); default 0..N-1).
 * Dies on a shape mismatch, naming the file. */
void npy_import_set(int L, const char *const *emb_paths, const char *const *cert_paths, const char *labels_path,
		    const char *ids_path, ave_set *s);

/* Write a set as an .ave stream. */
int ave_write_set(FILE *fp, const char *name, const ave_set *s, fmt_error *err);

#endif
