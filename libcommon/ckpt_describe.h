/* ckpt_describe.h: what a checkpoint holds and which tool reads what (avsl-graph --print-checkpoint). */
#ifndef AVSL_CKPT_DESCRIBE_H
#define AVSL_CKPT_DESCRIBE_H

#include <stdio.h>

#include "safetensors.h"

/* Print every metadata key and tensor of ck with its role (formats/checkpoint.md, "What each tool reads"), then
 * whether avsl-graph's avsl metric can use it. Returns 0 when the collector loads, 1 when it does not. */
int ckpt_describe(FILE *fp, const st_file *ck);

#endif
