/* The bluegreen command line (docs/design.md §9): global options, one verb per file, talking to
 * the daemon through the admin API (docs/admin-api.md). main.c only calls bg_cli_main().
 */
#ifndef BG_CLI_CLI_H
#define BG_CLI_CLI_H

/* Runs the command line <argv> (argv[0] is the program name) and returns the process exit
 * code: 0 ok, 1 failed, 2 usage or config error, 3 refused by the compatibility gate,
 * 4 daemon unreachable, 130 interrupted while following (deploy --wait, release). Prints to stdout/stderr. Borrows <argv>.
 * Thread: main (sets no signal handlers itself; `serve` hands over to the server). */
int bg_cli_main(int argc, char **argv);

#endif
