/* avsl_csc.h: internal to kernels/cpu: the p-norm of the AVSL ops, and S_hat in compressed sparse column form (the
 * top-k mask keeps ~k of D rows per column), shared by the eval distance and the training collector. */
#ifndef AVSL_CSC_H
#define AVSL_CSC_H

typedef struct {
	int *ptr;   /* (D+1) column starts */
	int *row;   /* (nnz) kept lower-level dims */
	float *val; /* (nnz) S_hat values (exact zeros dropped) */
} csc;

/* From a dense (D, D) S_hat, rows = lower-level dims: the number of nonzeros, then the arrays filled into the
 * caller's memory (ptr: D+1 ints, row and val: avsl_csc_nnz entries each; kernels carve them from cpu_scratch). */
int avsl_csc_nnz(const float *S, int D);
void avsl_csc_fill(const float *S, int D, csc *o);

/* ||x||_p of one D-vector (accumulated in double). */
float avsl_pnorm(const float *x, int D, float p);

#endif
