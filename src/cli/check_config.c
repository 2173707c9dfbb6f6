/* `bluegreen check-config [-c FILE]`: loads and validates the config file without starting
 * anything, then prints `ok` and a one-line summary per service (what `serve` would run),
 * or the loader's error as file:line:column: key: message. Exit 0 valid, 2 invalid.
 *
 * Beyond the loader: a `driver:` this build lacks is an error (driver/registry.c), and an
 * `api.requires` naming an API that no service of the config provides (nor is named so)
 * is a warning on stderr (a typo, or a provider outside this config). Both point at the
 * key in the file: the text is read again with config's YAML reader for positions.
 *
 * Then, for each service with driver: ecs (unless --no-aws), bg_aws_check on a loop of
 * its own: the caller's identity, the cluster, the listener rules and the target groups,
 * a line each; something missing or refused exits 1.
 */
#include "cli/internal.h"

#include "aws/aws.h"
#include "base/base.h"
#include "base/file.h"
#include "compat/compat.h"
#include "config/node.h"
#include "driver/driver.h"
#include "tls/tls.h"

static void format_strategy(const bg_strategy_t *s, bg_buf_t *b)
{
    char d[32];

    switch (s->kind) {
    case BG_STRATEGY_ALL_AT_ONCE:
        bg_buf_puts(b, "all-at-once");
        break;
    case BG_STRATEGY_CANARY:
        bg_buf_printf(b, "canary:%u%%:%s", s->percent,
                      bg_duration_format(s->wait_ms, d, sizeof(d)));
        break;
    case BG_STRATEGY_LINEAR:
        bg_buf_printf(b, "linear:%u%%:%s", s->percent,
                      bg_duration_format(s->every_ms, d, sizeof(d)));
        break;
    case BG_STRATEGY_STEPS:
        bg_buf_puts(b, "steps:");
        for (size_t i = 0; i < s->n_steps; i++) {
            if (i > 0)
                bg_buf_puts(b, ",");
            if (s->steps[i].pause)
                bg_buf_puts(b, "pause");
            else
                bg_buf_printf(b, "%u", s->steps[i].percent);
        }
        break;
    }
    if (s->sticky)
        bg_buf_puts(b, " sticky");
}

static void format_artifact(const bg_service_config_t *svc, bg_buf_t *b)
{
    if (svc->rev.image == NULL && svc->rev.command == NULL) {
        /* targets something else runs (listed, or registered through the admin API) */
        bg_buf_printf(b, "  targets blue:%zu green:%zu  traffic blue=%u green=%u",
                      svc->n_targets[BG_SLOT_BLUE], svc->n_targets[BG_SLOT_GREEN],
                      svc->traffic[BG_SLOT_BLUE], svc->traffic[BG_SLOT_GREEN]);
        return;
    }
    bg_buf_printf(b, "  %u x %s", svc->rev.count, svc->rev.version ? svc->rev.version : "0.0.0");
    if (svc->rev.image != NULL)
        bg_buf_printf(b, " image %s", svc->rev.image);
    else if (svc->rev.command != NULL && svc->rev.command[0] != NULL)
        bg_buf_printf(b, " command %s", svc->rev.command[0]);
}

static void print_service(bg_cli_t *cli, const bg_service_config_t *svc)
{
    const bg_health_config_t *h = &svc->health;
    char d[32];
    bg_buf_t b;

    bg_buf_init(&b);
    bg_buf_printf(&b, "  %s  route %s%s  driver %s", svc->name, svc->host ? svc->host : "*",
                  svc->path_prefix ? svc->path_prefix : "/", bg_driver_kind_str(svc->driver));
    format_artifact(svc, &b);
    bg_buf_puts(&b, "  strategy ");
    format_strategy(&svc->strategy, &b);
    bg_buf_printf(&b, "  health %s", bg_health_type_str(h->type));
    if (h->type == BG_HEALTH_HTTP)
        bg_buf_printf(&b, " %s%s", h->path ? h->path : "(auto)",
                      h->format == BG_HEALTH_FORMAT_ACTUATOR ? " actuator" : "");
    bg_buf_printf(&b, " every %s", bg_duration_format(h->interval_ms, d, sizeof(d)));
    fprintf(cli->out, "%s\n", b.data);
    bg_buf_fini(&b);
}

/* The explicit compatibility rules of `matrix:` load as `serve` would load them. */
static bool matrix_ok(bg_cli_t *cli, const bg_config_t *cfg)
{
    char line[BG_ERR_MSG_MAX + 2 * BG_ERR_PATH_MAX + 64];
    bg_compat_rules_t *rules;
    bg_err_t err;

    if (cfg->matrix == NULL)
        return true;
    bg_err_clear(&err);
    rules = bg_compat_rules_load(cfg->matrix, &err);
    if (rules == NULL) {
        fprintf(cli->err, "%s\n", bg_err_format(&err, line, sizeof(line)));
        return false;
    }
    bg_compat_rules_free(rules);
    return true;
}

/* The value node at <keys> (NULL-terminated) from the root of <c>'s document, or NULL. */
static yaml_node_t *node_at(cfg_ctx_t *c, const char *const *keys)
{
    yaml_node_t *n = cfg_root(c);

    for (size_t i = 0; n != NULL && keys[i] != NULL; i++)
        n = cfg_find(c, n, keys[i]);
    return n;
}

/* Prints "FILE:LINE:COLUMN: KEY: <kind>: MESSAGE" (the loader's shape) for <node> of <c>. */
static void report(bg_cli_t *cli, cfg_ctx_t *c, const yaml_node_t *node, const char *key,
                   const char *kind, const char *msg)
{
    char line[BG_ERR_MSG_MAX + 2 * BG_ERR_PATH_MAX + 64];
    bg_err_t err;

    bg_err_clear(&err);
    snprintf(c->path, sizeof(c->path), "%s", key);
    c->path_len = strlen(c->path);
    c->err = &err;
    cfg_fail(c, node, "%s%s", kind, msg);
    c->err = NULL;
    fprintf(cli->err, "%s\n", bg_err_format(&err, line, sizeof(line)));
}

/* A service whose driver is not compiled in: an error at its `driver:` (or the top-level
 * one it inherits). Returns false when any was found. */
static bool drivers_ok(bg_cli_t *cli, cfg_ctx_t *c, const bg_config_t *cfg)
{
    char have[128], key[160], msg[256];
    bool ok = true;

    for (size_t i = 0; i < cfg->n_services; i++) {
        const bg_service_config_t *svc = &cfg->services[i];
        const char *own[] = {"services", svc->name, "driver", NULL};
        const char *top[] = {"driver", NULL};
        yaml_node_t *n = node_at(c, own);
        bool inherited = n == NULL;

        if (bg_driver_in_build(svc->driver))
            continue;
        if (inherited)
            n = node_at(c, top);
        snprintf(key, sizeof(key), inherited ? "driver" : "services.%s.driver", svc->name);
        snprintf(msg, sizeof(msg), "service %s uses driver %s, which this build lacks (it has: %s)",
                 svc->name, bg_driver_kind_str(svc->driver),
                 bg_driver_in_build_list(have, sizeof(have)));
        report(cli, c, n, key, "", msg);
        ok = false;
    }
    return ok;
}

static bool provided_or_named(const bg_config_t *cfg, const char *api)
{
    for (size_t i = 0; i < cfg->n_services; i++) {
        const bg_api_config_t *a = &cfg->services[i].rev.api;
        if (strcmp(cfg->services[i].name, api) == 0)
            return true;
        for (size_t k = 0; k < a->n_provides; k++)
            if (strcmp(a->provides[k].api, api) == 0)
                return true;
    }
    return false;
}

/* Warnings for requirements nobody here provides; returns how many. */
static size_t requires_warnings(bg_cli_t *cli, cfg_ctx_t *c, const bg_config_t *cfg)
{
    char key[256], msg[256];
    size_t n = 0;

    for (size_t i = 0; i < cfg->n_services; i++) {
        const bg_service_config_t *svc = &cfg->services[i];
        for (size_t r = 0; r < svc->rev.api.n_requires; r++) {
            const char *api = svc->rev.api.requires[r].api;
            const char *keys[] = {"services", svc->name, "api", "requires", NULL};
            yaml_node_t *req = node_at(c, keys);
            yaml_node_t *at = req;

            if (provided_or_named(cfg, api))
                continue;
            /* point at the key itself: the pair whose key is <api> */
            for (yaml_node_pair_t *p = req != NULL && req->type == YAML_MAPPING_NODE
                                           ? req->data.mapping.pairs.start
                                           : NULL;
                 p != NULL && p < req->data.mapping.pairs.top; p++) {
                yaml_node_t *k = cfg_node(c, p->key);
                if (k->type == YAML_SCALAR_NODE && strcmp((char *)k->data.scalar.value, api) == 0)
                    at = k;
            }
            snprintf(key, sizeof(key), "services.%s.api.requires.%s", svc->name, api);
            snprintf(msg, sizeof(msg),
                     "no service in this config provides API \"%s\" or is named so (a typo, or "
                     "a provider outside this config?)",
                     api);
            report(cli, c, at, key, "warning: ", msg);
            n++;
        }
    }
    return n;
}

/* The checks that need the file's positions: drivers (errors) and requirements
 * (warnings). False when there was an error. */
static bool semantic_ok(bg_cli_t *cli, const bg_config_t *cfg)
{
    cfg_ctx_t c;
    char *text = NULL;
    size_t len = 0;
    bg_err_t err;
    bool ok;

    bg_err_clear(&err);
    memset(&c, 0, sizeof(c));
    if (bg_file_read(bg_cli_config_path(cli), &text, &len, &err) != 0 ||
        cfg_doc_open(&c, text, len, bg_cli_config_path(cli), &err) != 0) {
        free(text);
        return bg_cli_fail(cli, BG_EXIT_USAGE, "%s: %s", bg_cli_config_path(cli), err.msg), false;
    }
    ok = drivers_ok(cli, &c, cfg);
    if (ok)
        requires_warnings(cli, &c, cfg);
    cfg_doc_close(&c);
    free(text);
    return ok;
}

/* The certificate and key files of every TLS block load and match (docs/tls.md). */
static bool tls_ok(bg_cli_t *cli, const bg_config_t *cfg)
{
    char line[BG_ERR_MSG_MAX + 2 * BG_ERR_PATH_MAX + 32];
    bg_err_t err;

    bg_err_clear(&err);
    if (bg_tls_check_config(cfg, &err) == 0)
        return true;
    bg_cli_fail(cli, BG_EXIT_USAGE, "%s", bg_err_format(&err, line, sizeof(line)));
    return false;
}

typedef struct aws_check_res {
    bool done;
    int status;
    char *report;
    char msg[512];
} aws_check_res_t;

static void on_aws_check(void *arg, int status, const char *report, const bg_err_t *err)
{
    aws_check_res_t *r = arg;

    r->done = true;
    r->status = status;
    r->report = bg_strdup(report != NULL ? report : "");
    snprintf(r->msg, sizeof(r->msg), "%s", err != NULL ? err->msg : "");
}

static void on_aws_closed(void *arg)
{
    *(bool *)arg = true;
}

/* One service's AWS side; 0, or BG_EXIT_FAILED after printing why. */
static int aws_check_service(bg_cli_t *cli, const bg_service_config_t *svc)
{
    static const char *const ids[] = {"ecs", "elasticloadbalancing", "monitoring", "sts"};
    const bg_ecs_config_t *e = &svc->ecs;
    const char *rules[2] = {e->listener_rule_arn, e->test_listener_rule_arn};
    bg_aws_check_spec_t spec = {.cluster = e->cluster,
                                .rule_arns = rules,
                                .n_rules = e->test_listener_rule_arn ? 2 : 1,
                                .target_group_arns = (const char *const *)e->target_groups,
                                .n_target_groups = 2};
    bg_aws_options_t opts = {.region = e->region};
    aws_check_res_t res = {0};
    uv_loop_t loop;
    bg_aws_t *aws;
    bg_err_t err;
    bool closed = false;
    int rc = BG_EXIT_OK;

    bg_err_clear(&err);
    uv_loop_init(&loop);
    aws = bg_aws_new(&loop, &opts, &err);
    for (size_t i = 0; aws != NULL && i < BG_ARRAY_LEN(ids) && err.code == 0; i++)
        bg_aws_set_endpoint(aws, ids[i], e->endpoint_url, NULL, &err);
    if (aws == NULL || err.code != 0) {
        rc = bg_cli_fail(cli, BG_EXIT_FAILED, "service %s: AWS: %s", svc->name, err.msg);
    } else if (bg_aws_check(aws, &spec, on_aws_check, &res) != 0) {
        rc = bg_cli_fail(cli, BG_EXIT_FAILED, "service %s: AWS check could not start", svc->name);
    } else {
        while (!res.done && uv_run(&loop, UV_RUN_ONCE) != 0)
            ;
        const char *line = res.report ? res.report : "";
        while (*line) {
            const char *nl = strchr(line, '\n');
            size_t n = nl ? (size_t)(nl - line) : strlen(line);
            if (n > 0)
                fprintf(cli->out, "    aws %s: %.*s\n", svc->name, (int)n, line);
            line += n + (nl ? 1 : 0);
        }
        if (res.status == BG_ENOTFOUND)
            rc = bg_cli_fail(cli, BG_EXIT_FAILED,
                             "service %s: something its ecs: block names is missing on AWS "
                             "(see above)",
                             svc->name);
        else if (res.status != 0)
            rc = bg_cli_fail(cli, BG_EXIT_FAILED, "service %s: AWS: %s", svc->name, res.msg);
    }
    free(res.report);
    if (aws != NULL) {
        bg_aws_close(aws, on_aws_closed, &closed);
        while (!closed && uv_run(&loop, UV_RUN_ONCE) != 0)
            ;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return rc;
}

int bg_cli_check_config(bg_cli_t *cli, int argc, char **argv)
{
    bg_config_t *cfg;
    bool aws = true;
    int rc = BG_EXIT_OK;

    if (argc > 0 && strcmp(argv[0], "--no-aws") == 0) {
        aws = false;
        argc--;
        argv++;
    }
    if (argc > 0)
        return bg_cli_usage(cli, "check-config", "unexpected argument '%s'", argv[0]);
    cfg = bg_cli_config_load(cli);
    if (cfg == NULL)
        return BG_EXIT_USAGE;
    if (!matrix_ok(cli, cfg) || !semantic_ok(cli, cfg) || !tls_ok(cli, cfg)) {
        bg_config_free(cfg);
        return BG_EXIT_USAGE;
    }
    fprintf(cli->out, "ok: %s: %zu service%s, listen %s, admin %s\n", bg_cli_config_path(cli),
            cfg->n_services, cfg->n_services == 1 ? "" : "s", cfg->listen ? cfg->listen : "-",
            cfg->admin ? cfg->admin : "-");
    for (size_t i = 0; i < cfg->n_services; i++) {
        print_service(cli, &cfg->services[i]);
        if (aws && cfg->services[i].driver == BG_DRIVER_ECS &&
            aws_check_service(cli, &cfg->services[i]) != BG_EXIT_OK)
            rc = BG_EXIT_FAILED;
    }
    bg_config_free(cfg);
    return rc;
}
