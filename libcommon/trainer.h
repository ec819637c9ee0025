/* trainer.h: the training loop of avsl-train (avsl-method.md §5): epochs of shuffled, augmented batches, AdamW per
 * group with StepLR after the warm-up, the official one-time gradient clipping, evaluation on the test split every
 * --interval epochs with early stopping, checkpoints every epoch (and at SIGINT/SIGTERM), a JSON-lines log.
 *
 * Run directory: last.safetensors (model + optimiser + state: --resume continues from it bit for bit),
 * model.safetensors (the model to embed with: best test Recall@1 when evaluated, as the official protocol selects,
 * else the last epoch), train.jsonl (the log).
 */
#ifndef AVSL_TRAINER_H
#define AVSL_TRAINER_H

#include "train_config.h"

/* Exit status of the run: 0 done (or early-stopped), 128 + signal after an interrupt (checkpoint saved). Dies on
 * errors (exit 1), including a NaN/Inf loss (the last good checkpoint is kept). argc/argv are re-applied over a
 * resumed configuration so flags given again (e.g. --epochs) override the stored ones. */
int trainer_run(train_config *c, int argc, char **argv);

#endif
