/* Private helpers shared by the CLI verbs (one file per verb, DESIGN §9).
 *
 * A verb gets the parsed global options in a bg_cli_t and its own arguments; it returns the
 * process exit code (bg_cli_exit_t) after printing what the user must read. Errors are
 * printed once, where they are detected: helpers that return an exit code have already
 * said why. Nothing here keeps global state; everything runs on the main thread.
 */
#ifndef BG_CLI_INTERNAL_H
#define BG_CLI_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "config/config.h"

#ifndef BG_VERSION
#define BG_VERSION "0.1.0"
#endif

/* Exit codes of every verb (DESIGN §9). */
typedef enum bg_cli_exit {
    BG_EXIT_OK = 0,
    BG_EXIT_FAILED = 1,      /* the operation failed or the daemon refused it */
    BG_EXIT_USAGE = 2,       /* bad arguments, bad config, or a 400 from the daemon */
    BG_EXIT_REFUSED = 3,     /* refused by the compatibility gate */
    BG_EXIT_UNREACHABLE = 4, /* the daemon could not be reached */
} bg_cli_exit_t;

/* Global options, filled from argv and the environment before the verb runs. The strings
 * are borrowed from argv/environ and outlive the verb. */
typedef struct bg_cli {
    const char *admin;       /* --admin / BLUEGREEN_ADMIN; NULL = from the config file */
    const char *token;       /* --token / BLUEGREEN_TOKEN; NULL = none */
    const char *config_path; /* -c FILE; NULL = ./bluegreen.yaml */
    bool json;               /* --json */
    bool tty;                /* stdout is a terminal: human layout, colour */
    bool color;              /* tty and NO_COLOR unset */
    FILE *out;               /* stdout */
    FILE *err;               /* stderr */
} bg_cli_t;

/* Options a verb accepts besides its positionals. The global options (--admin, --token,
 * -c) are accepted before and after the verb. */
enum {
    BG_CLI_OPT_JSON = 1 << 0, /* --json */
};

typedef int (*bg_cli_run_fn)(bg_cli_t *cli, int argc, char **argv);

typedef struct bg_cli_verb {
    const char *name;
    const char *usage;   /* arguments after the verb, e.g. "[SERVICE] [--json]" */
    const char *summary; /* one line for --help */
    const char *help;    /* paragraph for `help VERB`; NULL = summary only */
    unsigned opts;       /* BG_CLI_OPT_* */
    bg_cli_run_fn run;   /* NULL: listed as coming in a later release */
} bg_cli_verb_t;

/* cli.c */

/* Prints "bluegreen: <fmt>" and a newline to stderr; returns <code>. */
int bg_cli_fail(bg_cli_t *cli, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prints the usage error "bluegreen VERB: <fmt>" plus the verb's usage line and returns
 * BG_EXIT_USAGE. */
int bg_cli_usage(bg_cli_t *cli, const char *verb, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Finds the verb table entry by name; NULL if unknown. Borrowed, static. */
const bg_cli_verb_t *bg_cli_verb_find(const char *name);

/* config.c: reading the config file */

/* Path of the config file to use: -c, else "bluegreen.yaml" (borrowed). */
const char *bg_cli_config_path(const bg_cli_t *cli);
/* Loads the config file. Returns it (caller frees with bg_config_free) or NULL after
 * printing "file:line:column: key: message" to stderr. */
bg_config_t *bg_cli_config_load(bg_cli_t *cli);

/* api.c: the admin API client (libcurl; docs/admin-api.md) */

/* An admin endpoint: "unix:PATH" or "http://HOST:PORT" (https too). */
typedef struct bg_cli_endpoint {
    char *spec;      /* as given, for messages; owned */
    char *unix_path; /* owned; NULL for http */
    char *base_url;  /* "http://HOST:PORT" without trailing '/', or "http://localhost" for
                        unix sockets; owned */
} bg_cli_endpoint_t;

/* Parses <spec> into <ep> (caller calls bg_cli_endpoint_fini). Returns 0 or BG_EINVAL with
 * <why> (of <why_size> bytes) filled. */
int bg_cli_endpoint_parse(const char *spec, bg_cli_endpoint_t *ep, char *why, size_t why_size);
void bg_cli_endpoint_fini(bg_cli_endpoint_t *ep);

/* Calls the admin API: <method> <path> (path already escaped) with optional JSON <body>
 * (borrowed). On a 2xx answer stores the parsed JSON body in *<out> (caller decrefs; NULL
 * for an empty body) and returns BG_EXIT_OK. Otherwise prints why and returns the exit
 * code: BG_EXIT_UNREACHABLE when no connection could be made, BG_EXIT_USAGE for a
 * configuration problem or a 400 answer, BG_EXIT_FAILED for any other error answer. */
int bg_cli_api(bg_cli_t *cli, const char *method, const char *path, json_t *body, json_t **out);
/* "/v1/services/<escaped name><suffix>" (caller frees). */
char *bg_cli_service_path(const char *name, const char *suffix);

/* out.c: output helpers */

/* Prints <doc> as indented JSON on stdout followed by a newline. */
void bg_cli_print_json(bg_cli_t *cli, const json_t *doc);
/* Borrowed string member <key> of <obj>, or <dflt> when absent or not a string. */
const char *bg_cli_jstr(const json_t *obj, const char *key, const char *dflt);
/* Integer member <key> of <obj>, or <dflt>. */
json_int_t bg_cli_jint(const json_t *obj, const char *key, json_int_t dflt);
/* ANSI SGR sequences for bg_cli_sgr(). */
#define BG_SGR_RESET "\033[0m"
#define BG_SGR_BOLD "\033[1m"
#define BG_SGR_RED "\033[31m"
#define BG_SGR_GREEN "\033[32m"
#define BG_SGR_YELLOW "\033[33m"
#define BG_SGR_BLUE "\033[34m"
/* <seq> (one of BG_SGR_*) when cli->color, else "". */
const char *bg_cli_sgr(const bg_cli_t *cli, const char *seq);
/* Prints one TARGET object (docs/admin-api.md) as a table row (tty) or a key=value line
 * prefixed with `target service=<service>`. */
void bg_cli_print_target(bg_cli_t *cli, const char *service, const json_t *t);
/* Prints the table header matching bg_cli_print_target's rows (tty only). */
void bg_cli_print_target_header(bg_cli_t *cli);

/* Parses a weight "N" (digits only, 0..100). */
bool bg_cli_parse_weight(const char *s, uint32_t *out);
/* Parses blue=N green=M arguments (in any order) into <weights> indexed by bg_slot_t.
 * Returns 0 or BG_EINVAL with <why> filled. */
int bg_cli_parse_traffic(int argc, char **argv, uint32_t weights[BG_SLOT_COUNT], char *why,
                         size_t why_size);
/* Checks "HOST:PORT" (port 1..65535, host non-empty; [v6]:port accepted). */
bool bg_cli_address_is_valid(const char *addr);

/* The verbs (one file each). */
int bg_cli_serve(bg_cli_t *cli, int argc, char **argv);
int bg_cli_check_config(bg_cli_t *cli, int argc, char **argv);
int bg_cli_status(bg_cli_t *cli, int argc, char **argv);
int bg_cli_traffic(bg_cli_t *cli, int argc, char **argv);
int bg_cli_targets(bg_cli_t *cli, int argc, char **argv);

#endif
