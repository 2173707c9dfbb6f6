/* Running the real bluegreen binary from e2e tests: one command line to completion, with
 * its exit code, stdout and stderr captured separately (bgt_spawn merges them, and is
 * meant for long-running daemons). Test code only; blocking.
 */
#ifndef BG_TESTS_E2E_CLI_RUN_H
#define BG_TESTS_E2E_CLI_RUN_H

#include <stdbool.h>

typedef struct cli_res {
    int code;  /* exit code; -1 if it was killed or did not exit within the deadline */
    char *out; /* stdout, NUL-terminated; owned */
    char *err; /* stderr, NUL-terminated; owned */
} cli_res_t;

/* Runs `$BG_BUILD_DIR/bluegreen <args...>` (NULL-terminated) in directory <cwd> (NULL: the
 * current one) with "K=V" entries of <env> (NULL-terminated, may be NULL) added to the
 * environment, after clearing BLUEGREEN_ADMIN and BLUEGREEN_TOKEN so the caller's shell
 * cannot leak in. stdin is /dev/null. Waits up to <timeout_ms>, then kills it. */
void cli_run_in(cli_res_t *r, const char *cwd, const char *const env[], int timeout_ms,
                const char *const args[]);
#define CLI_RUN(r, ...) cli_run_in((r), NULL, NULL, 30000, (const char *const[]){__VA_ARGS__, NULL})
void cli_res_fini(cli_res_t *r);

/* Like cli_run_in() but on a pseudo-terminal, as a user at a shell runs it: stdout and
 * stderr both go to r->out (with "\r\n" turned back into "\n"); r->err is "". */
void cli_run_tty(cli_res_t *r, const char *const env[], int timeout_ms, const char *const args[]);

/* A run in the background, for what runs until told to stop (events --follow) or must be
 * watched while it runs. */
typedef struct cli_proc {
    int pid;
    int out, err; /* capture files */
} cli_proc_t;
void cli_start(cli_proc_t *p, const char *const env[], const char *const args[]);
/* True once its stdout contains <text>, false after <timeout_ms>. */
bool cli_wait_out(cli_proc_t *p, const char *text, int timeout_ms);
/* Sends <sig> (0: none), waits up to <timeout_ms> for the exit and collects it into <r>
 * (killed and code -1 if it did not exit). */
void cli_finish(cli_proc_t *p, int sig, int timeout_ms, cli_res_t *r);

/* Writes <text> to <dir>/<name>; returns the path (caller frees). Aborts on failure. */
char *cli_write_file(const char *dir, const char *name, const char *text);

#endif
