/* The command line's front door: global options, the verb table, help and dispatch.
 *
 * Global options (--admin, --token, -c, --json) are accepted before and after the verb.
 * A verb with options of its own (BG_CLI_OPT_ARGS: deploy --version V, logs --follow)
 * gets them in its argv, in order, and parses them with opts.c; the other verbs get only
 * their positionals and an unknown option is a usage error here. This file never talks
 * to the daemon or reads the config file.
 */
#include "cli/cli.h"

#include <stdarg.h>
#include <unistd.h>

#include "base/base.h"
#include "cli/internal.h"

static const bg_cli_verb_t verbs[] = {
    {"serve", "[-c FILE] [--takeover]", "run the load balancer, controller and admin API",
     "Loads the config file (default ./bluegreen.yaml) and runs in the foreground until\n"
     "SIGTERM, SIGINT or `bluegreen shutdown`. On SIGTERM/SIGINT the targets it runs keep\n"
     "running and the next `serve` re-adopts them (same processes, no restart); use\n"
     "`bluegreen shutdown --stop-targets` to stop them too. SIGHUP reloads the config\n"
     "(as `bluegreen reload`). A config error is printed as file:line:column: key: message\n"
     "and exits 2 before anything starts.\n"
     "\n"
     "--takeover replaces the daemon running on the same admin socket (unix: only) without\n"
     "dropping a request: a restart, or an upgrade when run from a new binary. The new\n"
     "process takes over the listening sockets (passed over the admin socket), re-adopts\n"
     "the targets and serves; the old one stops accepting, finishes its in-flight requests\n"
     "(answering `Connection: close`), closes idle keep-alive connections and exits.\n"
     "Refused while a deployment runs; without a running daemon it fails and binds nothing.\n"
     "\n"
     "HTTP/2: `http2: {alpn: true}` offers h2 by ALPN on TLS listeners, `http2: {h2c:\n"
     "true}` serves HTTP/2 with prior knowledge on plain ones (curl --http2-prior-knowledge,\n"
     "h2load); stop and idle timeout end those connections with GOAWAY (docs/http2.md).",
     BG_CLI_OPT_ARGS, bg_cli_serve},
    {"reload", "[--json]", "apply the config file again without dropping a request",
     "The daemon re-reads its config file (the one it was started with) and applies all of\n"
     "it: services added, changed or removed, routes, health checks, limits. A config that\n"
     "does not load is refused whole with its file:line:column error and the running one\n"
     "stays (exit 2). A reload while a deployment or release runs is refused (exit 1): run\n"
     "it when the deployment ended. Keys of a service's revision (run, image, env, count,\n"
     "version, api) apply at its next deployment. SIGHUP to the daemon does the same.\n"
     "Waits until the new daemon process answers, then prints what changed.",
     BG_CLI_OPT_JSON, bg_cli_reload},
    {"shutdown", "[--stop-targets] [--json]",
     "stop the daemon (and, with --stop-targets, its targets)",
     "Without --stop-targets it is SIGTERM: the daemon stops its listeners and exits, the\n"
     "targets it runs keep running and the next `bluegreen serve` re-adopts them (a\n"
     "restart or upgrade of bluegreen without downtime for retrying clients).\n"
     "--stop-targets drains the proxy, stops every target (SIGTERM, stop_timeout, SIGKILL),\n"
     "records that in the state store and answers once they are gone; the next `serve`\n"
     "starts the live revisions again.",
     BG_CLI_OPT_JSON | BG_CLI_OPT_ARGS, bg_cli_shutdown},
    {"reopen-logs", "[--json]", "reopen the access log file (after logrotate moved it)",
     "Asks the daemon to reopen its access_log file, as SIGUSR1 does: lines written after\n"
     "it go to a new file at the configured path (POST /v1/logs/reopen). Prints whether an\n"
     "access log is configured.",
     BG_CLI_OPT_JSON, bg_cli_reopen_logs},
    {"reload-certs", "[--json]", "read the TLS certificate and key files again",
     "The daemon reads every TLS listener's certificate chain and key files again (the\n"
     "paths of its config) and serves new connections with them; running connections keep\n"
     "theirs, none is dropped. A missing, unreadable or mismatched file keeps the old\n"
     "certificates of that listener and is reported with its config position (exit 2).\n"
     "SIGHUP and `bluegreen reload` load them too, with the whole config (docs/tls.md).",
     BG_CLI_OPT_JSON, bg_cli_reload_certs},
    {"tls", "[renew] [--json]", "show the TLS listeners: certificates, names, expiry, reloads",
     "For each TLS listener: its policy, session tickets, certificates (file, SAN names,\n"
     "expiry, which is the default), the last certificate reload and its error if it failed,\n"
     "the ACME state (directory, hosts, account, last and next renewal, error) and, with\n"
     "--json, the handshake counters (GET /v1/tls).\n"
     "`bluegreen tls renew` orders new ACME certificates for every listener with tls.acme\n"
     "now and returns once they are in use (POST /v1/tls/renew); a failed order keeps the\n"
     "old certificate and exits non-zero with the ACME error (docs/tls.md).",
     BG_CLI_OPT_JSON, bg_cli_tls},
    {"check-config", "[-c FILE] [--no-aws]", "validate a config file and summarise its services",
     "Loads and validates the config file (default ./bluegreen.yaml) without starting\n"
     "anything. Prints `ok` and one line per service, or the error as\n"
     "file:line:column: key: message. An empty file and a driver this build lacks are\n"
     "errors; a requires naming an API no service here provides is a warning (stderr).\n"
     "For each service with driver: ecs it then asks AWS (sts:GetCallerIdentity, then\n"
     "describes the cluster, the listener rules and the target groups) and prints a line\n"
     "per item; --no-aws skips that. Exits 0 when valid (warnings included), 2 when the\n"
     "file is not, 1 when something the ecs: block names is missing on AWS or AWS\n"
     "refused the credentials.",
     BG_CLI_OPT_ARGS, bg_cli_check_config},
    {"status", "[SERVICE] [--json] [--watch]",
     "show services: route, traffic split, versions, slots and targets",
     "For every service (or only SERVICE): its route, traffic split, live slot, a table of\n"
     "the slots' revisions and versions (weight, healthy targets, live/preview) and, per\n"
     "slot, each target with its health, the reason of the last check and its request\n"
     "counts. A table on a terminal, stable key=value lines when piped; --json prints the\n"
     "admin API's JSON. --watch (with SERVICE) then follows the service's running\n"
     "deployment to its result, as deploy --wait does, and exits with its code (0 when\n"
     "none runs).",
     BG_CLI_OPT_JSON | BG_CLI_OPT_ARGS, bg_cli_status},
    {"deployment", "ID [--json]", "show one deployment; follow it while it runs",
     "Prints deployment ID (GET /v1/deployments/ID). While it runs it is followed to its\n"
     "result, as deploy --wait does (a progress line on a terminal, one line per change\n"
     "when piped). Exits 0 succeeded, 1 rolled back/failed/aborted, 3 refused, 130 when\n"
     "interrupted (the deployment runs on).\n"
     "\n"
     "Example:\n"
     "  bluegreen deployment 42",
     BG_CLI_OPT_JSON, bg_cli_deployment},
    {"traffic", "SERVICE blue=N green=M [--json]", "set the traffic split by hand (atomic)",
     "Moves production traffic between the slots in one atomic routing change. N and M are\n"
     "integers from 0 to 100 that add up to 100. Prints the new split and how long the\n"
     "verified switch took (every worker serves the new routing when it returns).",
     BG_CLI_OPT_JSON, bg_cli_traffic},
    {"targets", "SERVICE [list] | SERVICE add SLOT ADDRESS | SERVICE remove ID [--json]",
     "list, register or deregister the targets of a service",
     "As in an ALB target group: `list` (the default) prints the targets of both slots;\n"
     "`add` registers ADDRESS (HOST:PORT) in SLOT (blue or\n"
     "green); it gets traffic once it passes its health checks. `remove` deregisters the\n"
     "target with id ID (see `bluegreen status`): it drains, then is dropped.",
     BG_CLI_OPT_JSON, bg_cli_targets},
    {"deploy",
     "SERVICE --version V (--cmd 'CMD ARGS' | --image IMAGE | -f REVISION.yaml)\n"
     "                 [--strategy all-at-once|canary:10%:5m|linear:10%:1m] [--label k=v]...\n"
     "                 [--count N] [--env K=V]... [--provides API=VER[,VER]]...\n"
     "                 [--requires API=RANGE]... [--dry-run] [--wait] [--json] [--actor NAME]",
     "deploy a new revision into the slot that is not live",
     "Starts the new revision beside the live one, waits until it is healthy, checks the\n"
     "API compatibility gate, then shifts traffic by the strategy (the service's unless\n"
     "--strategy is given). -f sends a revision file (version, run or image, env, count,\n"
     "api, strategy) to the daemon, which names FILE:LINE:COLUMN on an error; the version\n"
     "is the file's (--version may repeat it). --label git.sha=... is kept with the deployment.\n"
     "A revision given by --cmd or --image inherits the live revision's api.provides and\n"
     "api.requires, so the gate judges it as what it is; --provides / --requires (repeatable;\n"
     "'none' for no declaration) replace that kind. When the live revision provides the\n"
     "service's own API at exactly its own version, that version follows --version. The\n"
     "output says which it used (api: inherited from orders#3 | from --provides/--requires).\n"
     "--image (docker services) must be [REGISTRY/]NAME[:TAG][@sha256:DIGEST]: anything else\n"
     "is a usage error (exit 2); the daemon pulls it and pins the tag to its digest first\n"
     "(--wait shows the pull's layers and bytes on a terminal).\n"
     "Without --wait it prints the deployment id, slot and phase and exits 0. --wait\n"
     "follows it to its result (a progress line on a terminal, one line per change when\n"
     "piped) and exits 0 succeeded, 1 rolled back/failed/aborted (with the reason), 3\n"
     "refused by the gate (with the broken edge). --dry-run prints the gate verdict,\n"
     "phases, steps and slot and changes nothing (exit 3 if the gate would refuse).\n"
     "\n"
     "Examples:\n"
     "  bluegreen deploy orders --version 2.3.0 --cmd './orders --port $PORT' --wait\n"
     "  bluegreen deploy orders -f orders-3.yaml --strategy canary:10%:5m --label git.sha=abc123\n"
     "  bluegreen deploy orders --version 2.3.0 --image ghcr.io/acme/orders:2.3.0 --dry-run\n"
     "  bluegreen deploy orders --version 3.0.0 --cmd './orders' --requires payments=^2.0 --dry-run",
     BG_CLI_OPT_JSON | BG_CLI_OPT_ARGS, bg_cli_deploy},
    {"rollback", "SERVICE [--force] [--json]", "switch traffic back to the previous revision",
     "Within the termination wait the old slot still runs: traffic goes back to it in one\n"
     "atomic, verified routing change; prints the new split and how long the switch took.\n"
     "After it, a rollback is a new deployment of the previous revision and the daemon\n"
     "says how. A rollback that would break a consumer which already depends on the new\n"
     "API is refused by the compatibility gate (exit 3); --force overrides.\n"
     "\n"
     "Example: bluegreen rollback orders",
     BG_CLI_OPT_JSON | BG_CLI_OPT_ARGS, bg_cli_rollback},
    {"promote", "SERVICE [--json]", "skip the remaining traffic steps of a deployment",
     "Moves the running deployment to 100% on the new slot now, skipping the remaining\n"
     "steps, waits and a pause.",
     BG_CLI_OPT_JSON, bg_cli_promote},
    {"pause", "SERVICE [--json]", "pause a running deployment",
     "Holds the running deployment at its current step until `resume` or `promote`.",
     BG_CLI_OPT_JSON, bg_cli_pause},
    {"resume", "SERVICE [--json]", "resume a paused deployment", NULL, BG_CLI_OPT_JSON,
     bg_cli_resume},
    {"abort", "SERVICE [--json]", "abort a running deployment and roll back",
     "Ends the running deployment as ABORTED: the old slot gets 100% of the traffic in one\n"
     "routing change and the new targets stop.",
     BG_CLI_OPT_JSON, bg_cli_abort},
    {"history", "SERVICE [--limit N] [--json]", "list a service's deployments",
     "Newest first (the last 20 unless --limit N): id, version, revisions, strategy, result\n"
     "and reason, start time, duration, who started it and the git.sha label.\n"
     "\n"
     "Example: bluegreen history orders --limit 5",
     BG_CLI_OPT_JSON | BG_CLI_OPT_ARGS, bg_cli_history},
    {"events", "[--service S] [--limit N] [--follow] [--json]", "print (or follow) the audit trail",
     "Prints the audit trail, oldest first (every phase, weight change, health transition\n"
     "and who did what). --follow streams new events as they happen until Ctrl-C (exit 0);\n"
     "--json prints one JSON object per line while following.\n"
     "\n"
     "Example: bluegreen events --service orders --follow",
     BG_CLI_OPT_JSON | BG_CLI_OPT_ARGS, bg_cli_events},
    {"matrix", "[--json]", "print the API compatibility matrix",
     "Services x services: for each consumer (row) and provider (column) the required\n"
     "range, the provider's live versions (slot and weight) and ok or BROKEN; the broken\n"
     "edges are explained below the grid. Piped: one `edge key=value...` line per edge.\n"
     "Exit 0 when every edge holds, 3 when one is broken (any output form): a CI check.",
     BG_CLI_OPT_JSON, bg_cli_matrix},
    {"plan", "RELEASE.yaml [--json]", "order a multi-service release so every step is compatible",
     "Prints the order in which the release's services can be deployed so that every\n"
     "intermediate state (split traffic included) is compatible, with the reason for each\n"
     "place; or why no order exists and which expand/contract version would unblock it\n"
     "(exit 3).\n"
     "\n"
     "Example: bluegreen plan release.yaml",
     BG_CLI_OPT_JSON | BG_CLI_OPT_ARGS, bg_cli_plan},
    {"release", "RELEASE.yaml [--wait] [--label k=v]... [--actor NAME] [--json]",
     "run a planned multi-service release",
     "Plans the release (see `plan`) and deploys its services in that order, each one\n"
     "after the previous succeeded. Prints each step's result, stops at the first failure\n"
     "and prints what is live then (exit 1; 3 when no order exists). --wait follows a\n"
     "release the daemon runs in the background until it ends. Each deployment of the\n"
     "release is recorded with --actor (default: $BLUEGREEN_ACTOR or the login name) and\n"
     "the --label values (e.g. --label git.sha=abc123).\n"
     "\n"
     "Example: bluegreen release release.yaml --wait",
     BG_CLI_OPT_JSON | BG_CLI_OPT_ARGS, bg_cli_release},
    {"dashboard", "[--listen HOST:PORT] [--no-browser] [--json]",
     "open the web dashboard (served locally, as Jupyter does)",
     "Serves the web dashboard on 127.0.0.1 (an ephemeral port, or --listen, which must be\n"
     "a loopback address) and forwards its API calls, live event stream included, to the\n"
     "daemon's admin Unix socket. Prints a login URL with a one-time token (valid 5\n"
     "minutes) and opens it in a browser when there is one ($BROWSER, else xdg-open with a\n"
     "display; --no-browser: never). Runs until Ctrl-C (exit 0). When the daemon's admin\n"
     "listener is TCP it serves the dashboard itself: the command prints (and opens) a\n"
     "one-time login URL for it and exits. --json prints the URLs as one JSON line.\n"
     "\n"
     "Example: bluegreen dashboard --no-browser",
     BG_CLI_OPT_JSON | BG_CLI_OPT_ARGS, bg_cli_dashboard},
    {"logs", "SERVICE [--slot live|preview] [--bytes N] [--follow]",
     "print a service's target logs",
     "Prints the end of each target's log (live slot by default), each part headed\n"
     "`==> target ADDRESS (slot, rev N) <==`. --follow keeps printing what the targets\n"
     "write (polling every 500 ms) until Ctrl-C.\n"
     "\n"
     "Example: bluegreen logs orders --slot preview --follow",
     BG_CLI_OPT_ARGS, bg_cli_logs},
};

static const char examples[] =
    "\nExamples:\n"
    "  bluegreen serve -c bluegreen.yaml\n"
    "  bluegreen deploy orders --version 2.3.0 --cmd './orders --port $PORT' --wait\n"
    "  bluegreen deploy orders -f orders-3.yaml --strategy canary:10%:5m --wait\n"
    "  bluegreen rollback orders\n"
    "  bluegreen traffic orders blue=90 green=10\n"
    "  bluegreen matrix\n"
    "  bluegreen plan release.yaml && bluegreen release release.yaml\n"
    "  bluegreen logs orders --slot preview --follow\n"
    "  bluegreen dashboard\n"
    "\n";

static const char global_help[] =
    "Global options (before or after the command):\n"
    "  --admin unix:PATH|http://HOST:PORT\n"
    "                     admin API of the daemon (env BLUEGREEN_ADMIN; default: `admin` of\n"
    "                     the config file, else unix:./state/bluegreen.sock)\n"
    "  --token T          bearer token for an http admin endpoint (env BLUEGREEN_TOKEN;\n"
    "                     default: `admin_token` of the config file)\n"
    "  -c, --config FILE  config file (default ./bluegreen.yaml)\n"
    "  -h, --help         this help; `bluegreen help COMMAND` for one command\n"
    "  --version          print the version\n"
    "\n"
    "Exit codes: 0 ok, 1 failed (a deployment rolled back, failed or was aborted), 2 usage\n"
    "or config error, 3 refused by the compatibility gate, 4 daemon unreachable, 130\n"
    "interrupted while following (what was followed runs on in the daemon). With --json an\n"
    "error is one line of JSON on stderr with a stable code (docs/cli-errors.md).\n";

const bg_cli_verb_t *bg_cli_verb_find(const char *name)
{
    for (size_t i = 0; i < BG_ARRAY_LEN(verbs); i++)
        if (strcmp(verbs[i].name, name) == 0)
            return &verbs[i];
    return NULL;
}

/* The stable `code` of an error by exit code, when the caller has nothing more precise. */
static const char *default_code(int exit_code)
{
    switch (exit_code) {
    case BG_EXIT_USAGE: return "usage";
    case BG_EXIT_REFUSED: return "refused";
    case BG_EXIT_UNREACHABLE: return "unreachable";
    case BG_EXIT_INTERRUPTED: return "interrupted";
    default: return "failed";
    }
}

int bg_cli_error_json(bg_cli_t *cli, int exit_code, const char *code, json_t *extra,
                      const char *fmt, ...)
{
    char msg[2048];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!cli->json) {
        fprintf(cli->err, "bluegreen: %s\n", msg);
    } else {
        json_t *e = json_pack("{s:s,s:s,s:i}", "code", code != NULL ? code : default_code(exit_code),
                              "message", msg, "exit", exit_code);
        json_t *doc;
        char *text;
        if (json_is_object(extra))
            json_object_update_missing(e, extra);
        doc = json_pack("{s:o}", "error", e);
        text = json_dumps(doc, JSON_COMPACT);
        fprintf(cli->err, "%s\n", text);
        free(text);
        json_decref(doc);
    }
    json_decref(extra);
    return exit_code;
}

int bg_cli_fail(bg_cli_t *cli, int code, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return bg_cli_error_json(cli, code, NULL, NULL, "%s", msg);
}

int bg_cli_usage(bg_cli_t *cli, const char *verb, const char *fmt, ...)
{
    const bg_cli_verb_t *v = bg_cli_verb_find(verb);
    char msg[2048];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (cli->json) {
        char *usage = v != NULL ? bg_asprintf("bluegreen %s %s", v->name, v->usage) : NULL;
        bg_cli_error_json(cli, BG_EXIT_USAGE, "usage",
                          json_pack("{s:s,s:s?}", "command", verb, "usage", usage), "%s", msg);
        free(usage);
        return BG_EXIT_USAGE;
    }
    fprintf(cli->err, "bluegreen %s: %s\n", verb, msg);
    if (v != NULL)
        fprintf(cli->err, "usage: bluegreen %s %s\n", v->name, v->usage);
    return BG_EXIT_USAGE;
}

static void print_main_help(FILE *f)
{
    fputs("Usage: bluegreen [--admin ENDPOINT] [--token T] [-c FILE] COMMAND [ARGS...]\n\n"
          "Zero-downtime blue/green deployments with a built-in load balancer.\n\n"
          "Commands:\n",
          f);
    for (size_t i = 0; i < BG_ARRAY_LEN(verbs); i++)
        fprintf(f, "  %-13s %s\n", verbs[i].name, verbs[i].summary);
    fputs(examples, f);
    fputs(global_help, f);
}

static void print_verb_help(FILE *f, const bg_cli_verb_t *v)
{
    fprintf(f, "Usage: bluegreen %s %s\n\n%s.\n", v->name, v->usage, v->summary);
    if (v->help != NULL)
        fprintf(f, "\n%s\n", v->help);
    fputc('\n', f);
    fputs(global_help, f);
}

/* `help [VERB]`: the main help or one verb's. */
static int run_help(bg_cli_t *cli, int argc, char **argv)
{
    const bg_cli_verb_t *v;

    if (argc == 0) {
        print_main_help(cli->out);
        return BG_EXIT_OK;
    }
    v = bg_cli_verb_find(argv[0]);
    if (v == NULL)
        return bg_cli_fail(cli, BG_EXIT_USAGE, "unknown command '%s' (see bluegreen --help)",
                           argv[0]);
    print_verb_help(cli->out, v);
    return BG_EXIT_OK;
}

/* Value of option <name> at argv[*i]: "--name=V" or "--name V" (advancing *i). NULL when
 * argv[*i] is not that option; <missing> is set when the value is missing. */
static const char *opt_value(const char *name, int argc, char **argv, int *i, bool *missing)
{
    size_t n = strlen(name);
    const char *a = argv[*i];

    if (a == NULL || strncmp(a, name, n) != 0)
        return NULL;
    if (a[n] == '=')
        return a + n + 1;
    if (a[n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        *missing = true;
        return NULL;
    }
    return argv[++*i];
}

/* Consumes a global option at argv[*i]. Returns 1 if consumed, 0 if argv[*i] is not a
 * global option, -1 (after printing why) if its value is missing. */
static int take_global(bg_cli_t *cli, int argc, char **argv, int *i)
{
    static const char *const names[] = {"--admin", "--token", "--config", "-c"};
    const char *start = argv[*i];
    bool missing = false;

    for (size_t k = 0; k < BG_ARRAY_LEN(names); k++) {
        const char *v = opt_value(names[k], argc, argv, i, &missing);
        if (missing) {
            bg_cli_fail(cli, BG_EXIT_USAGE, "option %s needs a value", start);
            return -1;
        }
        if (v == NULL)
            continue;
        if (k == 0)
            cli->admin = v;
        else if (k == 1)
            cli->token = v;
        else
            cli->config_path = v;
        return 1;
    }
    return 0;
}

static void cli_init(bg_cli_t *cli)
{
    const char *admin = getenv("BLUEGREEN_ADMIN");
    const char *token = getenv("BLUEGREEN_TOKEN");
    const char *no_color = getenv("NO_COLOR");

    memset(cli, 0, sizeof(*cli));
    cli->admin = admin != NULL && *admin != '\0' ? admin : NULL;
    cli->token = token != NULL && *token != '\0' ? token : NULL;
    cli->out = stdout;
    cli->err = stderr;
    cli->tty = isatty(STDOUT_FILENO) == 1;
    /* no-color.org: NO_COLOR present and not empty turns colour off. */
    cli->color = cli->tty && (no_color == NULL || *no_color == '\0');
}

/* What the command line asked for, before the verb runs. */
typedef struct cli_args {
    const char *verb; /* NULL: none given */
    char **pos;       /* positionals after the verb; owned array, borrowed strings */
    int n_pos;
    bool help, version;
    const char *bad_option;  /* first unknown option before the verb */
    const char *verb_option; /* first option after the verb that is not global */
} cli_args_t;

static int parse_args(bg_cli_t *cli, int argc, char **argv, cli_args_t *a)
{
    bool opts_done = false;

    a->pos = bg_xcalloc((size_t)argc + 1, sizeof(*a->pos));
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (!opts_done && s[0] == '-' && s[1] != '\0') {
            int r = take_global(cli, argc, argv, &i);
            if (r < 0)
                return BG_EXIT_USAGE;
            if (r > 0)
                continue;
            if (strcmp(s, "--") == 0) {
                opts_done = true;
                if (a->verb != NULL)
                    a->pos[a->n_pos++] = argv[i]; /* a verb's options end here too */
            } else if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0) {
                a->help = true;
            } else if (strcmp(s, "--version") == 0 && a->verb == NULL) {
                a->version = true;
            } else if (strcmp(s, "--json") == 0) {
                cli->json = true;
            } else if (a->verb != NULL) {
                /* The verb's own option (deploy --version V): it parses it, in order. */
                if (a->verb_option == NULL)
                    a->verb_option = s;
                a->pos[a->n_pos++] = argv[i];
            } else if (a->bad_option == NULL) {
                a->bad_option = s;
            }
            continue;
        }
        if (a->verb == NULL)
            a->verb = s;
        else
            a->pos[a->n_pos++] = argv[i];
    }
    return BG_EXIT_OK;
}

static int dispatch(bg_cli_t *cli, cli_args_t *a)
{
    const bg_cli_verb_t *v;

    if (a->verb == NULL) {
        if (a->version) {
            fprintf(cli->out, "bluegreen %s\n", BG_VERSION);
            return BG_EXIT_OK;
        }
        if (a->help && a->bad_option == NULL) {
            print_main_help(cli->out);
            return BG_EXIT_OK;
        }
        if (a->bad_option != NULL)
            return bg_cli_fail(cli, BG_EXIT_USAGE, "unknown option '%s' (see bluegreen --help)",
                               a->bad_option);
        return bg_cli_fail(cli, BG_EXIT_USAGE,
                           "no command given\nusage: bluegreen [--admin ENDPOINT] [--token T] "
                           "[-c FILE] COMMAND [ARGS...] (see bluegreen --help)");
    }
    if (strcmp(a->verb, "help") == 0)
        return run_help(cli, a->n_pos, a->pos);
    v = bg_cli_verb_find(a->verb);
    if (v == NULL)
        return bg_cli_fail(cli, BG_EXIT_USAGE, "unknown command '%s' (see bluegreen --help)",
                           a->verb);
    if (a->help) {
        print_verb_help(cli->out, v);
        return BG_EXIT_OK;
    }
    if (a->bad_option != NULL)
        return bg_cli_usage(cli, v->name, "unknown option '%s'", a->bad_option);
    if (a->verb_option != NULL && !(v->opts & BG_CLI_OPT_ARGS))
        return bg_cli_usage(cli, v->name, "unknown option '%s'", a->verb_option);
    if (!(v->opts & BG_CLI_OPT_ARGS)) {
        /* "--" was passed through for verbs with options; the others never see it. */
        int k = 0;
        for (int i = 0; i < a->n_pos; i++)
            if (strcmp(a->pos[i], "--") != 0)
                a->pos[k++] = a->pos[i];
        a->n_pos = k;
    }
    if (cli->json && !(v->opts & BG_CLI_OPT_JSON))
        return bg_cli_usage(cli, v->name, "--json is not supported by this command");
    return v->run(cli, a->n_pos, a->pos);
}

int bg_cli_main(int argc, char **argv)
{
    bg_cli_t cli;
    cli_args_t args = {0};
    int rc;

    bg_log_init();
    cli_init(&cli);
    /* --json anywhere (before "--") makes every error JSON, even one found before it */
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--json") == 0)
            cli.json = true;
    rc = parse_args(&cli, argc, argv, &args);
    if (rc == BG_EXIT_OK)
        rc = dispatch(&cli, &args);
    free(args.pos);
    fflush(cli.out);
    return rc;
}
