/* Running the real bluegreen binary from e2e tests: one command line to completion, with
 * its exit code, stdout and stderr captured separately (bgt_spawn merges them, and is
 * meant for long-running daemons). Test code only; blocking.
 */
#ifndef BG_TESTS_E2E_CLI_RUN_H
#define BG_TESTS_E2E_CLI_RUN_H

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

/* Writes <text> to <dir>/<name>; returns the path (caller frees). Aborts on failure. */
char *cli_write_file(const char *dir, const char *name, const char *text);

#endif
