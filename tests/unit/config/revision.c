/* Revision files (docs/design.md §10, bottom): keys, inheritance from the service, errors,
 * copies. */
#include <criterion/criterion.h>
#include <string.h>

#include "helpers.h"

static bg_config_t *base_config(void)
{
    return parse_ok("services:\n"
                    "  orders:\n"
                    "    count: 2\n"
                    "    port: 9000\n"
                    "    version: 2.3.0\n"
                    "    env: {DB: pg}\n"
                    "    run: {command: [./old]}\n"
                    "    api: {provides: {orders: 2.3.0}}\n"
                    "  web:\n"
                    "    route: {host: web.local}\n"
                    "    driver: docker\n"
                    "    image: web:1\n");
}

static const char *rev_err(const char *text, const bg_service_config_t *svc)
{
    static char buf[1024];
    bg_revision_config_t rev;
    bg_err_t err;

    cr_assert_eq(bg_revision_parse(text, strlen(text), "r.yaml", svc, &rev, &err), BG_EINVAL,
                 "revision loaded but an error was expected:\n%s", text);
    cr_assert_null(rev.version, "out is left empty on error");
    return bg_err_format(&err, buf, sizeof(buf));
}

Test(revision, design_example_file)
{
    bg_config_t *cfg = base_config();
    const bg_service_config_t *svc = bg_config_service(cfg, "orders");
    bg_revision_config_t rev;
    bg_err_t err;
    char buf[512];

    cr_assert_eq(bg_revision_load("tests/unit/config/data/revision.yaml", svc, &rev, &err), 0, "%s",
                 bg_err_format(&err, buf, sizeof(buf)));
    cr_assert_str_eq(rev.version, "3.0.0");
    cr_assert_str_eq(rev.command[0], "./build/sample-app");
    cr_assert_str_eq(rev.command[4], "3.0.0");
    cr_assert_null(rev.command[5]);
    cr_assert_null(rev.image);
    cr_assert_eq(rev.api.n_provides, 1);
    cr_assert_str_eq(rev.api.provides[0].versions[0], "3.0.0");
    cr_assert_eq(rev.api.n_requires, 1);
    cr_assert_str_eq(rev.api.requires[0].api, "payments");
    cr_assert_str_eq(rev.api.requires[0].range, "^2.0");
    /* inherited from the service */
    cr_assert_eq(rev.count, 2);
    cr_assert_eq(rev.port, 9000);
    cr_assert_eq(rev.n_env, 1);
    cr_assert_str_eq(rev.env[0].value, "pg");
    cr_assert_null(rev.strategy);
    bg_revision_config_fini(&rev);
    cr_assert_null(rev.version);
    bg_config_free(cfg);
}

Test(revision, own_values_win_and_version_defaults)
{
    bg_config_t *cfg = base_config();
    const bg_service_config_t *svc = bg_config_service(cfg, "orders");
    const char *text = "run: {command: \"./new --fast\"}\ncount: 5\nport: 9100\nenv: {X: y}\n"
                       "strategy: {canary: {percent: 10, wait: 1m}}\nlabels: {git.sha: abc}\n";
    bg_revision_config_t rev;
    bg_err_t err;

    cr_assert_eq(bg_revision_parse(text, strlen(text), "r.yaml", svc, &rev, &err), 0);
    cr_assert_str_eq(rev.version, "0.0.0");
    cr_assert_str_eq(rev.command[1], "--fast");
    cr_assert_eq(rev.count, 5);
    cr_assert_eq(rev.port, 9100);
    cr_assert_eq(rev.n_env, 1);
    cr_assert_str_eq(rev.env[0].key, "X");
    cr_assert_eq(rev.api.n_provides, 0, "api is not inherited");
    cr_assert_not_null(rev.strategy);
    cr_assert_eq(rev.strategy->kind, BG_STRATEGY_CANARY);
    cr_assert_eq(rev.n_labels, 1);
    cr_assert_str_eq(rev.labels[0].key, "git.sha");
    bg_revision_config_fini(&rev);
    bg_config_free(cfg);
}

Test(revision, without_a_service)
{
    const char *text = "version: 1.0.0\nimage: app:1\n";
    bg_revision_config_t rev;
    bg_err_t err;

    cr_assert_eq(bg_revision_parse(text, strlen(text), "r.yaml", NULL, &rev, &err), 0);
    cr_assert_eq(rev.count, 1);
    cr_assert_str_eq(rev.image, "app:1");
    bg_revision_config_fini(&rev);
    cr_assert_str_eq(rev_err("version: 1.0.0\n", NULL),
                     "r.yaml:1:1: a revision needs run.command or image");
}

Test(revision, errors)
{
    bg_config_t *cfg = base_config();
    const bg_service_config_t *orders = bg_config_service(cfg, "orders");
    const bg_service_config_t *web = bg_config_service(cfg, "web");

    cr_assert_str_eq(rev_err("version: 3.0\nrun: {command: [./a]}\n", orders),
                     "r.yaml:1:10: version: expected a semantic version like 1.2.3 "
                     "(MAJOR.MINOR.PATCH[-pre][+build]), got \"3.0\"");
    cr_assert_str_eq(rev_err("version: 3.0.0\nroute: {host: x}\n", orders),
                     "r.yaml:2:1: route: unknown key \"route\"; valid keys: version, run, "
                     "image, env, count, port, api, strategy, labels, resources");
    cr_assert_str_eq(rev_err("version: 3.0.0\n", orders),
                     "r.yaml:1:1: the process driver needs run.command");
    cr_assert_str_eq(rev_err("version: 3.0.0\nrun: {command: [./a]}\n", web),
                     "r.yaml:1:1: the docker driver needs image");
    cr_assert_str_eq(rev_err("image: web:2\nimage: web:3\n", web),
                     "r.yaml:2:1: image: duplicate key \"image\" (first at line 1, column 1)");
    cr_assert_str_eq(rev_err("image: web:2\napi: {provides: {web: [\"2.0.0\", 3]}}\n", web),
                     "r.yaml:2:33: api.provides.web[1]: expected a semantic version like 1.2.3 "
                     "(MAJOR.MINOR.PATCH[-pre][+build]), got \"3\"");
    cr_assert_str_eq(rev_err("- image\n", web),
                     "r.yaml:1:1: expected a revision mapping (version, run or image, ...), got "
                     "a list");
    cr_assert_str_eq(rev_err("", web),
                     "r.yaml:1:1: expected a revision mapping (version, run or image, ...), got "
                     "nothing");
    cr_assert_str_eq(rev_err("image: [web\n", web),
                     "r.yaml:2:1: invalid YAML: did not find expected ',' or ']' while parsing a "
                     "flow sequence");
    bg_config_free(cfg);
}

Test(revision, load_missing_file)
{
    bg_revision_config_t rev;
    bg_err_t err;

    cr_assert_eq(bg_revision_load("tests/unit/config/data/nope.yaml", NULL, &rev, &err), BG_EIO);
    cr_assert_null(rev.version);
}

Test(revision, deep_copy)
{
    bg_config_t *cfg = parse_ok("services:\n  a:\n"
                                "    version: 1.2.3\n"
                                "    run: {command: [./a, b]}\n"
                                "    env: {K: v}\n"
                                "    labels: {L: w}\n"
                                "    api: {provides: {a: [1.2.3, 2.0.0]}, requires: {b: ^1}}\n");
    const char *text = "run: {command: [./x]}\nstrategy: {steps: [10, {pause: true}, 100]}\n";
    bg_revision_config_t copy, with_strategy, copy2;
    bg_err_t err;

    bg_revision_config_copy(&copy, &cfg->services[0].rev);
    bg_config_free(cfg);
    cr_assert_str_eq(copy.version, "1.2.3");
    cr_assert_str_eq(copy.command[1], "b");
    cr_assert_null(copy.command[2]);
    cr_assert_str_eq(copy.env[0].value, "v");
    cr_assert_str_eq(copy.labels[0].key, "L");
    cr_assert_str_eq(copy.api.provides[0].versions[1], "2.0.0");
    cr_assert_str_eq(copy.api.requires[0].range, "^1");

    cr_assert_eq(bg_revision_parse(text, strlen(text), "r.yaml", NULL, &with_strategy, &err), 0);
    bg_revision_config_copy(&copy2, &with_strategy);
    bg_revision_config_fini(&with_strategy);
    cr_assert_eq(copy2.strategy->n_steps, 3);
    cr_assert(copy2.strategy->steps[1].pause);
    cr_assert_eq(copy2.strategy->steps[2].percent, 100);
    bg_revision_config_fini(&copy2);
    bg_revision_config_fini(&copy);
}
