/* signals.c: see signals.h. The handler only stores to volatile sig_atomic_t and calls async-signal-safe
 * functions (sigaction, raise,
 * unlink through out_unlink_pending). */
#define _GNU_SOURCE
#include "signals.h"
#include "cli.h"

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t stop_signal; /* first signal number, 0 when none */

static void on_signal(int sig)
{
	if (stop_signal) {
		/* Second signal: give up on a clean stop; no temporary output survives (cli.h). */
		out_unlink_pending();
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = SIG_DFL;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		raise(sig);
		return;
	}
	stop_signal = sig;
}

void signals_install(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	stop_signal = 0;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

int signals_stop_requested(void) { return stop_signal != 0; }
int signals_received(void) { return stop_signal; }
int signals_exit_status(void) { return stop_signal ? 128 + stop_signal : 0; }

void signals_restore(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}
