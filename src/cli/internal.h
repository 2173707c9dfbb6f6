/* Private helpers shared by the CLI verbs (one file per verb, docs/design.md §9).
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

#include <uv.h>

#include "admin/admin.h"
#include "base/buf.h"
#include "config/config.h"

/* Exit codes of every verb (docs/design.md §9). */
typedef enum bg_cli_exit {
    BG_EXIT_OK = 0,
    BG_EXIT_FAILED = 1,      /* the operation failed or the daemon refused it */
    BG_EXIT_USAGE = 2,       /* bad arguments, bad config, or a 400 from the daemon */
    BG_EXIT_REFUSED = 3,     /* refused by the compatibility gate */
    BG_EXIT_UNREACHABLE = 4, /* the daemon could not be reached */
    BG_EXIT_INTERRUPTED = 130, /* Ctrl-C while following (the operation runs on) */
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
    const char *actor;       /* a verb's --actor; NULL = BLUEGREEN_ACTOR or the login name */
} bg_cli_t;

/* Options a verb accepts besides its positionals. The global options (--admin, --token,
 * -c) are accepted before and after the verb. */
enum {
    BG_CLI_OPT_JSON = 1 << 0, /* --json */
    BG_CLI_OPT_ARGS = 1 << 1, /* has options of its own: they reach the verb in argv */
};

typedef int (*bg_cli_run_fn)(bg_cli_t *cli, int argc, char **argv);

typedef struct bg_cli_verb {
    const char *name;
    const char *usage;   /* arguments after the verb, e.g. "[SERVICE] [--json]" */
    const char *summary; /* one line for --help */
    const char *help;    /* paragraph for `help VERB`; NULL = summary only */
    unsigned opts;       /* BG_CLI_OPT_* */
    bg_cli_run_fn run;
} bg_cli_verb_t;

/* cli.c */

/* Prints "bluegreen: <fmt>" and a newline to stderr; returns <code>. With --json the
 * error is one line of JSON on stderr instead (bg_cli_error_json), its `code` the default
 * for the exit code: failed, usage, refused, unreachable, interrupted. */
int bg_cli_fail(bg_cli_t *cli, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* An error with a stable <code> (docs/cli-errors.md; NULL: the exit code's default):
 * as text "bluegreen: <fmt>", or with --json as {"error":{"code","message","exit",...}}
 * on one line of stderr, with the members of <extra> (taken; may be NULL) added.
 * Returns <exit_code>. */
int bg_cli_error_json(bg_cli_t *cli, int exit_code, const char *code, json_t *extra,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Prints the usage error "bluegreen VERB: <fmt>" plus the verb's usage line and returns
 * BG_EXIT_USAGE. */
int bg_cli_usage(bg_cli_t *cli, const char *verb, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Finds the verb table entry by name; NULL if unknown. Borrowed, static. */
const bg_cli_verb_t *bg_cli_verb_find(const char *name);

/* opts.c: the options of one verb (BG_CLI_OPT_ARGS verbs) */

typedef enum bg_cli_opt_kind {
    BG_OPT_FLAG = 0,  /* --wait: dst is a bool * */
    BG_OPT_VALUE = 1, /* --version V / --version=V: dst is a const char ** (last one wins) */
    BG_OPT_LIST = 2,  /* --label k=v, repeatable: dst is a bg_cli_list_t * */
} bg_cli_opt_kind_t;

/* Values of a repeatable option, in command-line order. <v> is owned (free it), the
 * strings are borrowed from argv. */
typedef struct bg_cli_list {
    const char **v;
    size_t n;
} bg_cli_list_t;

typedef struct bg_cli_opt {
    const char *name;  /* "--version" */
    const char *alias; /* "-f", or NULL */
    bg_cli_opt_kind_t kind;
    void *dst;
} bg_cli_opt_t;

/* Splits a verb's <argv> into the options of <opts> (stored through their dst) and the
 * positionals (stored in <pos>, which has room for <argc> entries; count in *<n_pos>).
 * "--" ends the options. Returns BG_EXIT_OK, or BG_EXIT_USAGE after printing an unknown
 * option or a missing value as a usage error of <verb>. */
int bg_cli_parse_opts(bg_cli_t *cli, const char *verb, int argc, char **argv,
                      const bg_cli_opt_t *opts, size_t n_opts, char **pos, int *n_pos);
/* Checks a KEY=VALUE argument of option <opt> (non-empty key, no blank in it). Returns
 * false after printing a usage error of <verb>. */
bool bg_cli_check_kv(bg_cli_t *cli, const char *verb, const char *opt, const char *kv);

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
/* Who is acting, for the audit trail: cli->actor, else $BLUEGREEN_ACTOR, else the login
 * name; NULL if none is known. Sent on every request as X-Bluegreen-Actor. Borrowed. */
const char *bg_cli_actor(const bg_cli_t *cli);
/* "/v1/services/<escaped name><suffix>" (caller frees). */
char *bg_cli_service_path(const char *name, const char *suffix);
/* Appends <s> percent-encoded (RFC 3986 §2.3: all but unreserved characters) to <b>. */
void bg_cli_escape(bg_buf_t *b, const char *s);

/* A session with the admin API for one verb run: the resolved endpoint and token, and
 * one libcurl handle kept between calls so polling reuses its connection. */
typedef struct bg_cli_client {
    bg_cli_t *cli;        /* borrowed */
    bg_cli_endpoint_t ep; /* owned */
    char *token;          /* owned; NULL = none */
    void *curl;           /* CURL *; owned */
    bool curl_global;     /* curl_global_init() succeeded: cleanup owed */
    bool unreachable;     /* the last failed request never connected */
    bool no_timeout;      /* requests may take as long as they take (a release answers when
                             its last deployment ended); default: 2 minutes */
    char error[256];      /* why the last request got no answer */
} bg_cli_client_t;

/* One answer of the admin API. */
typedef struct bg_cli_answer {
    long status;   /* HTTP status */
    json_t *json;  /* the body parsed as JSON, or NULL (not JSON, or empty); owned */
    char *text;    /* the raw body, NUL-terminated; owned */
    size_t len;    /* bytes of text */
    char path[96]; /* method and path (no query) asked, for messages */
} bg_cli_answer_t;

/* Resolves the endpoint (--admin, BLUEGREEN_ADMIN, the config file, the default) and
 * prepares libcurl. Returns an exit code after printing why it failed; on any return
 * bg_cli_client_fini(<c>) is safe. Borrows <cli>. Thread: main. */
int bg_cli_client_init(bg_cli_client_t *c, bg_cli_t *cli);
void bg_cli_client_fini(bg_cli_client_t *c);
/* Sends one request and reads its answer, whatever its status, into <ans> (caller calls
 * bg_cli_answer_fini). Returns 0, or -1 when no answer came (nothing printed; c->error
 * says why, c->unreachable whether a connection was ever made). <body> is borrowed. */
int bg_cli_client_send(bg_cli_client_t *c, const char *method, const char *path, const json_t *body,
                       bg_cli_answer_t *ans);
/* Prints why the last bg_cli_client_send() failed; returns BG_EXIT_UNREACHABLE (no
 * connection) or BG_EXIT_FAILED (the connection broke: the change may have happened). */
int bg_cli_client_report(bg_cli_client_t *c);
/* Like bg_cli_api() on an open session. */
int bg_cli_client_call(bg_cli_client_t *c, const char *method, const char *path, const json_t *body,
                       json_t **out);
/* Prints the error of a non-2xx answer ({"error":{"code","message"}} when the daemon sent
 * one; for a 404 of a route the daemon does not know, that it does not support it yet)
 * and returns its exit code: 2 for 400, 1 otherwise. */
int bg_cli_answer_report(bg_cli_t *cli, const bg_cli_answer_t *ans);
/* True when <ans> is a 404 for a route the daemon does not have (an older daemon), as
 * opposed to a missing service or deployment. */
bool bg_cli_answer_no_route(const bg_cli_answer_t *ans);
/* error.message of an error answer, or NULL. Borrowed from <ans>. */
const char *bg_cli_answer_message(const bg_cli_answer_t *ans);
void bg_cli_answer_fini(bg_cli_answer_t *ans);

/* For sse.c: the request headers (<accept> is a full "Accept: ..." line; caller frees
 * with curl_slist_free_all), the common options of a libcurl handle <curl> for <url>,
 * and recording why a transfer failed in c->error / c->unreachable (returns the latter). */
struct curl_slist *bg_cli_client_headers(const bg_cli_client_t *c, const char *accept,
                                         bool has_body);
void bg_cli_client_setup(const bg_cli_client_t *c, void *curl, const char *url);
bool bg_cli_client_transport(bg_cli_client_t *c, void *curl, int code, const char *errbuf);

/* sse.c: following a Server-Sent Events stream (GET /v1/events/stream) */

typedef struct bg_cli_sse bg_cli_sse_t;
/* One dispatched event: <id> ("" when none), <event> (its kind, "message" by default) and
 * <data> (the data lines joined by "\n"). All borrowed for the call. */
typedef void (*bg_cli_sse_fn)(void *arg, const char *id, const char *event, const char *data);

/* Opens the stream GET <path> on <c>'s endpoint (its own connection), sending
 * Last-Event-ID when <last_id> is not NULL. <fn>(<arg>) gets each event. Never NULL.
 * Thread: main. */
bg_cli_sse_t *bg_cli_sse_open(bg_cli_client_t *c, const char *path, const char *last_id,
                              bg_cli_sse_fn fn, void *arg);
/* Reads the stream for up to <timeout_ms>, calling the event function for each complete
 * event. Returns 1 while the stream is open, 0 when it ended cleanly, -1 when it failed:
 * no connection (c->unreachable set), a broken one, or a non-2xx answer (then
 * bg_cli_sse_answer() holds it). */
int bg_cli_sse_pump(bg_cli_sse_t *s, int timeout_ms);
/* The answer of a stream that was refused (status != 2xx), else NULL. Borrowed. */
const bg_cli_answer_t *bg_cli_sse_answer(const bg_cli_sse_t *s);
/* Why the stream failed (transport), "" otherwise. Borrowed. */
const char *bg_cli_sse_error(const bg_cli_sse_t *s);
/* Last event id seen ("" before any). Borrowed. */
const char *bg_cli_sse_last_id(const bg_cli_sse_t *s);
/* Closes the stream (NULL is a no-op). */
void bg_cli_sse_free(bg_cli_sse_t *s);

/* Feeds <len> bytes of a stream body to the parser of <s> (exposed for unit tests). */
void bg_cli_sse_feed(bg_cli_sse_t *s, const char *p, size_t len);
/* A parser alone, without a connection (unit tests). */
bg_cli_sse_t *bg_cli_sse_parser_new(bg_cli_sse_fn fn, void *arg);

/* forward.c: `bluegreen dashboard` passes the page's API requests to the daemon */

typedef struct bg_cli_forward bg_cli_forward_t;
/* Forwards to the admin Unix socket <socket_path> (copied) on <loop> (borrowed). */
bg_cli_forward_t *bg_cli_forward_new(uv_loop_t *loop, const char *socket_path);
/* Sends <http> (borrowed for the call) to the daemon on a new connection and answers
 * <req> with the daemon's answer (a text/event-stream answer as a stream), or 503 when the
 * daemon cannot be reached. */
void bg_cli_forward(bg_cli_forward_t *f, bg_admin_req_t *req, const bg_admin_http_t *http);
/* Ends every forwarding in flight (their requests answered 503 or their streams ended)
 * and frees <f>; the connections finish closing on the loop. NULL is a no-op. */
void bg_cli_forward_free(bg_cli_forward_t *f);

/* signal.c: SIGINT/SIGTERM while following */

/* Installs handlers that only set a flag (no SA_RESTART), so a follow loop ends cleanly
 * between two reads. Thread: main. */
void bg_cli_signals_catch(void);
/* The signal that arrived since bg_cli_signals_catch(), or 0. */
int bg_cli_signal_caught(void);

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

/* Prints " key=value" to <f>, quoting <value> when a script would otherwise split it. */
void bg_cli_print_kv(FILE *f, const char *key, const char *value);
/* Reads the text file <path> (a revision or release file, under 900 KiB so its JSON fits
 * the admin API's 1 MiB) whole into *<text> (caller frees). Returns BG_EXIT_OK or
 * BG_EXIT_USAGE after printing why. */
int bg_cli_read_file(bg_cli_t *cli, const char *path, char **text);
/* Milliseconds since the epoch of an RFC 3339 UTC time "2026-11-27T13:00:00.000Z" (the
 * fraction optional); false when <s> is not one. */
bool bg_cli_time_parse(const char *s, uint64_t *ms);
/* Formats a duration of <ms> for people: "850ms", "12.3s", "4m05s", "2h03m". */
const char *bg_cli_duration_str(uint64_t ms, char *out, size_t size);

/* deployment.c: the DEPLOYMENT object (docs/admin-api.md) */

/* Exit code for a deployment's result: "" (running) and SUCCEEDED 0, REFUSED 3, the
 * other results 1. */
int bg_cli_result_exit(const char *result);
/* Prints a one-line summary of <d> after <what> ("started", "promoted", ...): on a
 * terminal a sentence, piped `deployment id=.. service=.. ...` with stable keys. */
void bg_cli_print_deployment(bg_cli_t *cli, const char *what, const json_t *d);
/* Prints the result of a finished deployment with its reason (and, for a rollback, the
 * evidence the daemon kept), and returns bg_cli_result_exit(). */
int bg_cli_print_result(bg_cli_t *cli, const json_t *d);
/* Where a revision's API declarations came from, for people, from the daemon's
 * `api_source` object: "inherited from orders#3", "from --provides/--requires",
 * "from FILE", or a mix of the two first. Writes into <out>; NULL when <src> is not an
 * object (an older daemon). */
const char *bg_cli_api_source_text(const json_t *src, char *out, size_t size);
/* Prints a gate refusal's broken edges (strings or {message} objects) indented. */
void bg_cli_print_broken(bg_cli_t *cli, FILE *f, const json_t *broken);

/* plan.c: release files (plan and release) */

/* {"release_file":{"name":<path>,"yaml":<text>,"dir":<its absolute directory>}} in *<body>
 * (caller decrefs). Returns BG_EXIT_OK or BG_EXIT_USAGE after printing why. */
int bg_cli_release_body(bg_cli_t *cli, const char *path, json_t **body);
/* Parses `<verb> RELEASE.yaml [--wait]` (<wait> NULL: no --wait). *<path> is borrowed
 * from <argv>. Returns an exit code (a usage error was printed). */
int bg_cli_release_args(bg_cli_t *cli, const char *verb, int argc, char **argv, bool *wait,
                        const char **path);
/* Prints why no order exists: {"cycle":[{first, then, reason}...] (or names),"message",
 * "hint": {service, api, versions, verified} (or a sentence)}. */
void bg_cli_print_blocked(bg_cli_t *cli, const json_t *blocked);

/* follow.c: following a deployment until it ends (deploy --wait) */

/* Follows deployment <d> (borrowed; its id and service) until it has a result, showing
 * progress: a redrawn line on a terminal, one plain line per change when piped (nothing
 * with cli->json). Stores the final DEPLOYMENT in *<final> (caller decrefs). Returns
 * BG_EXIT_OK, or an exit code after printing why it could not follow (daemon gone,
 * interrupted: then the deployment runs on). */
int bg_cli_follow(bg_cli_client_t *c, const json_t *d, json_t **final);

/* The verbs (one file each; control.c holds promote, pause, resume and abort, which
 * differ only in their route). */
int bg_cli_serve(bg_cli_t *cli, int argc, char **argv);
int bg_cli_reload(bg_cli_t *cli, int argc, char **argv);
int bg_cli_check_config(bg_cli_t *cli, int argc, char **argv);
int bg_cli_status(bg_cli_t *cli, int argc, char **argv);
int bg_cli_deployment(bg_cli_t *cli, int argc, char **argv);
/* watch.c: follows <service>'s running deployment to its result (status --watch); says
 * so when none runs. Returns the exit code. */
int bg_cli_status_watch(bg_cli_t *cli, const char *service);
int bg_cli_traffic(bg_cli_t *cli, int argc, char **argv);
int bg_cli_targets(bg_cli_t *cli, int argc, char **argv);
int bg_cli_deploy(bg_cli_t *cli, int argc, char **argv);
int bg_cli_rollback(bg_cli_t *cli, int argc, char **argv);
int bg_cli_promote(bg_cli_t *cli, int argc, char **argv);
int bg_cli_pause(bg_cli_t *cli, int argc, char **argv);
int bg_cli_resume(bg_cli_t *cli, int argc, char **argv);
int bg_cli_abort(bg_cli_t *cli, int argc, char **argv);
int bg_cli_shutdown(bg_cli_t *cli, int argc, char **argv);
int bg_cli_reopen_logs(bg_cli_t *cli, int argc, char **argv);
int bg_cli_tls(bg_cli_t *cli, int argc, char **argv);
int bg_cli_reload_certs(bg_cli_t *cli, int argc, char **argv);
int bg_cli_history(bg_cli_t *cli, int argc, char **argv);
int bg_cli_events(bg_cli_t *cli, int argc, char **argv);
int bg_cli_logs(bg_cli_t *cli, int argc, char **argv);
int bg_cli_matrix(bg_cli_t *cli, int argc, char **argv);
int bg_cli_plan(bg_cli_t *cli, int argc, char **argv);
int bg_cli_release(bg_cli_t *cli, int argc, char **argv);
int bg_cli_dashboard(bg_cli_t *cli, int argc, char **argv);

#endif
