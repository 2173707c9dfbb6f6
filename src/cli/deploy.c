/* `bluegreen deploy SERVICE --version V (--cmd 'CMD ARGS' | --image IMAGE | -f FILE) ...`:
 * starts a deployment (POST /v1/services/NAME/deployments, docs/design.md §3) and, with --wait,
 * follows it to its result (follow.c).
 *
 * What can be checked here is, before any connection: exactly one artifact, a version
 * (a revision file carries its own; a --version beside it must agree), the strategy's syntax (the
 * config module's own parser), KEY=VALUE labels and env, a positive count. A revision file is sent
 * as text so the daemon parses it against the service and its errors name FILE:LINE:COLUMN. Exit
 * codes: 0 started/succeeded, 1 rolled back/failed/aborted, 2 usage or a bad spec, 3 refused by the
 * compatibility gate, 4 daemon unreachable.
 */
#include "cli/internal.h"

#include <unistd.h>

#include "base/base.h"
#include "compat/semver.h"

#define MAX_COUNT 1000

typedef struct deploy_args {
    const char *service, *version, *cmd, *image, *file, *strategy, *count, *actor;
    bg_cli_list_t labels, env, provides, requires;
    bool dry_run, wait;
} deploy_args_t;

static int parse(bg_cli_t *cli, int argc, char **argv, deploy_args_t *a)
{
    const bg_cli_opt_t opts[] = {
        {"--version", NULL, BG_OPT_VALUE, &a->version},
        {"--cmd", NULL, BG_OPT_VALUE, &a->cmd},
        {"--image", NULL, BG_OPT_VALUE, &a->image},
        {"--file", "-f", BG_OPT_VALUE, &a->file},
        {"--strategy", NULL, BG_OPT_VALUE, &a->strategy},
        {"--count", NULL, BG_OPT_VALUE, &a->count},
        {"--actor", NULL, BG_OPT_VALUE, &a->actor},
        {"--label", NULL, BG_OPT_LIST, &a->labels},
        {"--env", NULL, BG_OPT_LIST, &a->env},
        {"--provides", NULL, BG_OPT_LIST, &a->provides},
        {"--requires", NULL, BG_OPT_LIST, &a->requires},
        {"--dry-run", NULL, BG_OPT_FLAG, &a->dry_run},
        {"--wait", NULL, BG_OPT_FLAG, &a->wait},
    };
    char **pos = bg_xcalloc((size_t)argc + 1, sizeof(*pos));
    int n_pos = 0, rc;

    rc = bg_cli_parse_opts(cli, "deploy", argc, argv, opts, BG_ARRAY_LEN(opts), pos, &n_pos);
    if (rc == BG_EXIT_OK && n_pos == 0)
        rc = bg_cli_usage(cli, "deploy", "missing SERVICE");
    else if (rc == BG_EXIT_OK && n_pos > 1)
        rc = bg_cli_usage(cli, "deploy", "unexpected argument '%s'", pos[1]);
    if (rc == BG_EXIT_OK)
        a->service = pos[0];
    free(pos);
    return rc;
}

/* --provides API=VER[,VER] (exact versions) or --requires API=RANGE; "none" alone says the
 * revision declares none of that kind. */
static bool check_api_arg(bg_cli_t *cli, const char *opt, const char *arg)
{
    const char *eq = strchr(arg, '=');
    bg_err_t err;

    if (strcmp(arg, "none") == 0)
        return true;
    if (!bg_cli_check_kv(cli, "deploy", opt, arg))
        return false;
    bg_err_clear(&err);
    if (strcmp(opt, "--requires") == 0) {
        bg_range_t *r = bg_range_parse(eq + 1, &err);
        bg_range_free(r);
        if (r == NULL)
            return bg_cli_usage(cli, "deploy", "%s %s: %s", opt, arg, err.msg), false;
        return true;
    }
    for (const char *v = eq + 1;; v++) {
        size_t n = strcspn(v, ",");
        char *one = bg_strndup(v, n);
        bg_semver_t sv;
        int rc = bg_semver_parse(one, &sv, &err);

        free(one);
        if (rc != 0)
            return bg_cli_usage(cli, "deploy", "%s %s: %s", opt, arg, err.msg), false;
        bg_semver_fini(&sv);
        v += n;
        if (*v == '\0')
            return true;
    }
}

static bool check_api_args(bg_cli_t *cli, const deploy_args_t *a)
{
    if ((a->provides.n > 0 || a->requires.n > 0) && a->file != NULL) {
        bg_cli_usage(cli, "deploy",
                     "--provides/--requires go with --cmd or --image; a revision file "
                     "declares its api itself");
        return false;
    }
    for (size_t i = 0; i < a->provides.n; i++)
        if (!check_api_arg(cli, "--provides", a->provides.v[i]))
            return false;
    for (size_t i = 0; i < a->requires.n; i++)
        if (!check_api_arg(cli, "--requires", a->requires.v[i]))
            return false;
    return true;
}

/* The checks that need no daemon. */
static int validate(bg_cli_t *cli, const deploy_args_t *a)
{
    int artifacts = (a->cmd != NULL) + (a->image != NULL) + (a->file != NULL);
    uint64_t count;

    if (artifacts == 0)
        return bg_cli_usage(cli, "deploy",
                            "give the artifact: --cmd 'CMD ARGS', --image IMAGE "
                            "or -f REVISION.yaml");
    if (artifacts > 1)
        return bg_cli_usage(cli, "deploy", "give only one of --cmd, --image and -f");
    if (a->file == NULL && (a->version == NULL || a->version[0] == '\0'))
        return bg_cli_usage(cli, "deploy",
                            "missing --version V (the version label of the "
                            "new revision, e.g. 2.3.0)");
    if (a->version != NULL && strpbrk(a->version, " \t\n") != NULL)
        return bg_cli_usage(cli, "deploy", "version '%s' must not contain blanks", a->version);
    if (a->cmd != NULL && a->cmd[strspn(a->cmd, " \t")] == '\0')
        return bg_cli_usage(cli, "deploy", "--cmd is empty");
    if (a->image != NULL) {
        bg_image_ref_t ref;
        const char *why = NULL;
        if (!bg_image_ref_parse(a->image, &ref, &why))
            return bg_cli_usage(cli, "deploy",
                                "--image '%s' is not an image reference "
                                "([REGISTRY/]NAME[:TAG][@sha256:DIGEST]): %s",
                                a->image, why);
    }
    if (a->count != NULL && (!bg_str_to_u64(bg_str(a->count), MAX_COUNT, &count) || count == 0))
        return bg_cli_usage(cli, "deploy", "--count '%s' must be an integer from 1 to %d", a->count,
                            MAX_COUNT);
    for (size_t i = 0; i < a->labels.n; i++)
        if (!bg_cli_check_kv(cli, "deploy", "--label", a->labels.v[i]))
            return BG_EXIT_USAGE;
    for (size_t i = 0; i < a->env.n; i++)
        if (!bg_cli_check_kv(cli, "deploy", "--env", a->env.v[i]))
            return BG_EXIT_USAGE;
    if (!check_api_args(cli, a))
        return BG_EXIT_USAGE;
    if (a->strategy != NULL) {
        bg_strategy_t s;
        bg_err_t err;
        bg_err_clear(&err);
        memset(&s, 0, sizeof(s));
        if (bg_strategy_parse_cli(a->strategy, &s, &err) != 0)
            return bg_cli_usage(cli, "deploy", "--strategy: %s", err.msg);
        bg_strategy_fini(&s);
    }
    return BG_EXIT_OK;
}

/* The top-level `version:` of a revision file's text, copied into <out> (quotes and a
 * trailing comment dropped); false when the file has none at column 0. Good enough to
 * catch a --version that contradicts the file: the daemon parses the file for real. */
static bool file_version(const char *text, char *out, size_t size)
{
    const char *p = text;

    while (p != NULL && strncmp(p, "version:", 8) != 0) {
        p = strchr(p, '\n');
        p = p != NULL ? p + 1 : NULL;
    }
    if (p == NULL)
        return false;
    p += 8 + strspn(p + 8, " \t");
    if (*p == '"' || *p == '\'') {
        const char *end = strchr(p + 1, *p);
        size_t n = end != NULL ? (size_t)(end - p - 1) : 0;
        snprintf(out, size, "%.*s", (int)n, p + 1);
        return n > 0;
    }
    snprintf(out, size, "%.*s", (int)strcspn(p, " \t#\r\n"), p);
    return out[0] != '\0';
}

/* {"K":"V",...} from KEY=VALUE arguments (checked by validate()). */
static json_t *kv_object(const bg_cli_list_t *l)
{
    json_t *o = json_object();

    for (size_t i = 0; i < l->n; i++) {
        const char *eq = strchr(l->v[i], '=');
        char *key = bg_strndup(l->v[i], (size_t)(eq - l->v[i]));
        json_object_set_new(o, key, json_string(eq + 1));
        free(key);
    }
    return o;
}

/* {"provides": {API: [VER...]}} / {"requires": {API: RANGE}} members of the request's api
 * for the kinds given on the command line; the daemon inherits the others from the live
 * revision (docs/design.md §6). */
static json_t *api_object(const deploy_args_t *a)
{
    json_t *api = json_object();

    if (a->provides.n > 0) {
        json_t *p = json_object();
        for (size_t i = 0; i < a->provides.n; i++) {
            const char *eq = strchr(a->provides.v[i], '=');
            json_t *vers = json_array();
            char *name;
            if (eq == NULL) /* "none" */
                continue;
            name = bg_strndup(a->provides.v[i], (size_t)(eq - a->provides.v[i]));
            for (const char *v = eq + 1; *v != '\0';) {
                size_t n = strcspn(v, ",");
                char *one = bg_strndup(v, n);
                json_array_append_new(vers, json_string(one));
                free(one);
                v += n + (v[n] == ',');
            }
            json_object_set_new(p, name, vers);
            free(name);
        }
        json_object_set_new(api, "provides", p);
    }
    if (a->requires.n > 0) {
        json_t *r = json_object();
        for (size_t i = 0; i < a->requires.n; i++) {
            const char *eq = strchr(a->requires.v[i], '=');
            char *name;
            if (eq == NULL)
                continue;
            name = bg_strndup(a->requires.v[i], (size_t)(eq - a->requires.v[i]));
            json_object_set_new(r, name, json_string(eq + 1));
            free(name);
        }
        json_object_set_new(api, "requires", r);
    }
    return api;
}

/* Who deploys: --actor, else BLUEGREEN_ACTOR or the login name (the daemon adds where
 * from). */
static const char *actor(const deploy_args_t *a)
{
    return a->actor != NULL ? a->actor : bg_cli_actor(NULL);
}

static json_t *request_body(const deploy_args_t *a, const char *file_text)
{
    json_t *b = json_object();

    if (a->version != NULL)
        json_object_set_new(b, "version", json_string(a->version));
    if (a->cmd != NULL)
        json_object_set_new(b, "cmd", json_string(a->cmd));
    if (a->image != NULL)
        json_object_set_new(b, "image", json_string(a->image));
    if (a->file != NULL)
        json_object_set_new(b, "revision_file",
                            json_pack("{s:s, s:s}", "name", a->file, "yaml", file_text));
    if (a->strategy != NULL)
        json_object_set_new(b, "strategy", json_string(a->strategy));
    if (a->count != NULL)
        json_object_set_new(b, "count", json_integer(strtoll(a->count, NULL, 10)));
    if (a->env.n > 0)
        json_object_set_new(b, "env", kv_object(&a->env));
    if (a->labels.n > 0)
        json_object_set_new(b, "labels", kv_object(&a->labels));
    if (a->provides.n > 0 || a->requires.n > 0)
        json_object_set_new(b, "api", api_object(a));
    if (a->dry_run)
        json_object_set_new(b, "dry_run", json_true());
    if (actor(a) != NULL)
        json_object_set_new(b, "actor", json_string(actor(a)));
    return b;
}

/* "10% for 5m" per step of a dry run. */
static void print_steps(bg_cli_t *cli, const json_t *steps)
{
    char d[32];

    for (size_t i = 0; i < json_array_size(steps); i++) {
        const json_t *s = json_array_get(steps, i);
        long long pct = (long long)bg_cli_jint(s, "percent", 0);
        json_int_t wait_ms = bg_cli_jint(s, "wait_ms", 0);
        bool pause = json_is_true(json_object_get(s, "pause"));

        if (!cli->tty) {
            fprintf(cli->out, "step n=%zu percent=%lld wait_ms=%lld pause=%s\n", i + 1, pct,
                    (long long)wait_ms, pause ? "true" : "false");
            continue;
        }
        fprintf(cli->out, "%s", i == 0 ? "  steps:  " : ", ");
        if (pause)
            fputs("pause (until promote)", cli->out);
        else
            fprintf(cli->out, "%lld%%", pct);
        if (wait_ms > 0)
            fprintf(cli->out, " for %s", bg_cli_duration_str((uint64_t)wait_ms, d, sizeof(d)));
    }
    if (cli->tty && json_array_size(steps) > 0)
        fputc('\n', cli->out);
}

static void print_phases(bg_cli_t *cli, const json_t *phases)
{
    for (size_t i = 0; i < json_array_size(phases); i++) {
        const json_t *p = json_array_get(phases, i);
        const char *name = json_is_string(p) ? json_string_value(p) : bg_cli_jstr(p, "phase", "?");
        if (cli->tty)
            fprintf(cli->out, "%s%s", i == 0 ? "  phases: " : " -> ", name);
        else
            fprintf(cli->out, "phase n=%zu name=%s\n", i + 1, name);
    }
    if (cli->tty && json_array_size(phases) > 0)
        fputc('\n', cli->out);
}

/* The dry run's answer: gate verdict, phases, steps, slot. Exit 0, or 3 if refused. */
static int print_dry_run(bg_cli_t *cli, const deploy_args_t *a, const json_t *doc)
{
    const json_t *gate = json_object_get(doc, "gate");
    bool ok = json_is_true(json_object_get(gate, "ok"));
    const char *version = bg_cli_jstr(json_object_get(doc, "revision"), "version", a->version);
    const char *slot = bg_cli_jstr(doc, "slot", "?");
    char api[256];
    const char *api_text =
        bg_cli_api_source_text(json_object_get(doc, "api_source"), api, sizeof(api));

    if (cli->tty) {
        fprintf(cli->out, "%s: dry run (nothing was changed): %s would go into %s\n", a->service,
                version ? version : "?", slot);
        fprintf(cli->out, "  gate:   %s%s%s\n", bg_cli_sgr(cli, ok ? BG_SGR_GREEN : BG_SGR_RED),
                ok ? "ok" : "REFUSED", bg_cli_sgr(cli, BG_SGR_RESET));
        if (api_text != NULL)
            fprintf(cli->out, "  api:    %s\n", api_text);
    } else {
        fputs("dry_run", cli->out);
        bg_cli_print_kv(cli->out, "service", a->service);
        bg_cli_print_kv(cli->out, "version", version ? version : "");
        bg_cli_print_kv(cli->out, "slot", slot);
        fprintf(cli->out, " gate=%s", ok ? "ok" : "refused");
        if (api_text != NULL)
            bg_cli_print_kv(cli->out, "api", api_text);
        fputc('\n', cli->out);
    }
    bg_cli_print_broken(cli, cli->out, json_object_get(gate, "broken"));
    print_phases(cli, json_object_get(doc, "phases"));
    print_steps(cli, json_object_get(doc, "steps"));
    return ok ? BG_EXIT_OK : BG_EXIT_REFUSED;
}

/* After the daemon accepted the deployment: follow it (--wait) or say where it is. */
static int report(bg_cli_client_t *c, const deploy_args_t *a, json_t *d)
{
    bg_cli_t *cli = c->cli;
    json_t *final = NULL;
    int rc = BG_EXIT_OK;

    if (bg_cli_jstr(d, "result", "")[0] == '\0' && a->wait) {
        if (!cli->json)
            bg_cli_print_deployment(cli, "started", d);
        rc = bg_cli_follow(c, d, &final);
        if (rc != BG_EXIT_OK)
            return rc;
        d = final;
    } else if (bg_cli_jstr(d, "result", "")[0] == '\0') {
        if (cli->json)
            bg_cli_print_json(cli, d);
        else
            bg_cli_print_deployment(cli, "started", d);
        return BG_EXIT_OK;
    }
    if (cli->json) {
        bg_cli_print_json(cli, d);
        rc = bg_cli_result_exit(bg_cli_jstr(d, "result", ""));
    } else {
        rc = bg_cli_print_result(cli, d);
    }
    json_decref(final);
    return rc;
}

static int run(bg_cli_t *cli, const deploy_args_t *a)
{
    bg_cli_client_t c;
    bg_cli_answer_t ans = {0};
    char *text = NULL, *path = NULL, fv[64];
    json_t *body = NULL;
    int rc;

    if (a->file != NULL && (rc = bg_cli_read_file(cli, a->file, &text)) != BG_EXIT_OK)
        return rc;
    if (text != NULL && a->version != NULL && file_version(text, fv, sizeof(fv)) &&
        strcmp(fv, a->version) != 0) {
        free(text);
        return bg_cli_usage(cli, "deploy", "--version %s contradicts %s, which says version %s",
                            a->version, a->file, fv);
    }
    rc = bg_cli_client_init(&c, cli);
    if (rc != BG_EXIT_OK)
        goto out;
    body = request_body(a, text);
    path = bg_cli_service_path(a->service, "/deployments");
    if (bg_cli_client_send(&c, "POST", path, body, &ans) != 0) {
        rc = bg_cli_client_report(&c);
        goto out;
    }
    if (ans.status < 200 || ans.status > 299) {
        rc = bg_cli_answer_report(cli, &ans);
        goto out;
    }
    if (!json_is_object(ans.json)) {
        rc = bg_cli_fail(cli, BG_EXIT_FAILED, "the daemon answered with invalid JSON");
        goto out;
    }
    if (a->dry_run || json_is_true(json_object_get(ans.json, "dry_run"))) {
        if (cli->json) {
            bg_cli_print_json(cli, ans.json);
            rc = json_is_true(json_object_get(json_object_get(ans.json, "gate"), "ok"))
                     ? BG_EXIT_OK
                     : BG_EXIT_REFUSED;
        } else {
            rc = print_dry_run(cli, a, ans.json);
        }
        goto out;
    }
    rc = report(&c, a, ans.json);
out:
    bg_cli_answer_fini(&ans);
    bg_cli_client_fini(&c);
    json_decref(body);
    free(path);
    free(text);
    return rc;
}

int bg_cli_deploy(bg_cli_t *cli, int argc, char **argv)
{
    deploy_args_t a;
    int rc;

    memset(&a, 0, sizeof(a));
    rc = parse(cli, argc, argv, &a);
    if (rc == BG_EXIT_OK)
        rc = validate(cli, &a);
    if (rc == BG_EXIT_OK && a.actor != NULL)
        cli->actor = a.actor; /* the header too, for every call of this run */
    if (rc == BG_EXIT_OK)
        rc = run(cli, &a);
    free(a.labels.v);
    free(a.env.v);
    free(a.provides.v);
    free(a.requires.v);
    return rc;
}
