/* `bluegreen check-config [-c FILE]`: loads and validates the config file without starting
 * anything, then prints `ok` and a one-line summary per service (what `serve` would run),
 * or the loader's error as file:line:column: key: message. Exit 0 valid, 2 invalid.
 */
#include "cli/internal.h"

#include "base/base.h"
#include "compat/compat.h"

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
    if (svc->driver == BG_DRIVER_STATIC) {
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

int bg_cli_check_config(bg_cli_t *cli, int argc, char **argv)
{
    bg_config_t *cfg;

    if (argc > 0)
        return bg_cli_usage(cli, "check-config", "unexpected argument '%s'", argv[0]);
    cfg = bg_cli_config_load(cli);
    if (cfg == NULL)
        return BG_EXIT_USAGE;
    if (!matrix_ok(cli, cfg)) {
        bg_config_free(cfg);
        return BG_EXIT_USAGE;
    }
    fprintf(cli->out, "ok: %s: %zu service%s, listen %s, admin %s\n", bg_cli_config_path(cli),
            cfg->n_services, cfg->n_services == 1 ? "" : "s", cfg->listen ? cfg->listen : "-",
            cfg->admin ? cfg->admin : "-");
    for (size_t i = 0; i < cfg->n_services; i++)
        print_service(cli, &cfg->services[i]);
    bg_config_free(cfg);
    return BG_EXIT_OK;
}
