/* signals.h: SIGINT/SIGTERM turn into a flag that avsl-train checks at step boundaries, so an interrupted run can
 * write a checkpoint and leave cleanly; a second signal restores the default action and re-raises it, so a stuck
 * run still dies on the second Ctrl-C.
 *
 *   signals_install();
 *   for (...) { step(); if (signals_stop_requested()) { save(); break; } }
 *   exit(signals_exit_status());   // 128 + signal number, as a shell reports it, or 0 when none arrived
 */
#ifndef AVSL_SIGNALS_H
#define AVSL_SIGNALS_H

/* Install the handlers for SIGINT and SIGTERM (sigaction, SA_RESTART). Idempotent; clears a previous request. */
void signals_install(void);
/* Nonzero once SIGINT or SIGTERM has arrived. */
int signals_stop_requested(void);
/* The signal number that arrived first, or 0. */
int signals_received(void);
/* 128 + signals_received(), or 0. */
int signals_exit_status(void);
/* Restore the default actions (e.g. before a long blocking section that must die on the first signal). */
void signals_restore(void);

#endif
