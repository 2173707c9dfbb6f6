/* Ctrl-C while following (deploy --wait, events --follow, logs --follow): the handler only
 * records the signal; the follow loops wake at least every few hundred milliseconds, see
 * it, and end cleanly (restoring the terminal line, printing what continues on the
 * daemon). Without SA_RESTART a blocked poll returns early with EINTR.
 */
#include "cli/internal.h"

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t caught;

static void on_signal(int sig)
{
    caught = sig;
}

void bg_cli_signals_catch(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* SIGPIPE keeps its default: `bluegreen events --follow | head` ends when head does. */
}

int bg_cli_signal_caught(void)
{
    return caught;
}
