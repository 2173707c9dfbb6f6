/* Config file: the docs/design.md §10 example, defaults, top-level keys and their errors, files,
 * and truncated inputs that must never crash the loader. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

#define EXAMPLE "tests/unit/config/data/example.yaml"

Test(config, design_example_loads_every_field)
{
    bg_err_t err;
    char buf[512];
    bg_config_t *cfg = bg_config_load(EXAMPLE, &err);

    cr_assert_not_null(cfg, "%s", bg_err_format(&err, buf, sizeof(buf)));
    cr_assert_str_eq(cfg->path, EXAMPLE);
    cr_assert_str_eq(cfg->listen, "127.0.0.1:8080");
    cr_assert_str_eq(cfg->test_listen, "127.0.0.1:8081");
    cr_assert_str_eq(cfg->admin, "unix:./state/bluegreen.sock");
    cr_assert_null(cfg->admin_token);
    cr_assert_str_eq(cfg->state_dir, "./state");
    cr_assert_eq(cfg->driver, BG_DRIVER_PROCESS);
    cr_assert_eq(cfg->n_services, 2);

    const bg_service_config_t *o = bg_config_service(cfg, "orders");
    cr_assert_not_null(o);
    cr_assert_eq(o, &cfg->services[0]);
    cr_assert_str_eq(o->name, "orders");
    cr_assert_str_eq(o->host, "orders.local");
    cr_assert_str_eq(o->path_prefix, "/");
    cr_assert_eq(o->driver, BG_DRIVER_PROCESS);
    cr_assert_eq(o->rev.count, 2);
    cr_assert_str_eq(o->rev.version, "0.0.0");
    cr_assert_str_eq(o->rev.command[0], "./build/sample-app");
    cr_assert_str_eq(o->rev.command[1], "--service");
    cr_assert_str_eq(o->rev.command[2], "orders");
    cr_assert_null(o->rev.command[3]);
    cr_assert_null(o->rev.image);
    cr_assert_eq(o->health.type, BG_HEALTH_HTTP);
    cr_assert_eq(o->health.format, BG_HEALTH_FORMAT_ACTUATOR);
    cr_assert_str_eq(o->health.path, "/actuator/health");
    cr_assert_eq(o->health.interval_ms, 1000);
    cr_assert_eq(o->health.timeout_ms, 2000);
    cr_assert_eq(o->strategy.kind, BG_STRATEGY_CANARY);
    cr_assert_eq(o->strategy.percent, 10);
    cr_assert_eq(o->strategy.wait_ms, 30000);
    cr_assert_eq(o->strategy.sticky, false);
    cr_assert_eq(o->bake_ms, 60000);
    cr_assert_eq(o->termination_wait_ms, 600000);
    cr_assert(o->rollback_on.has_error_rate);
    cr_assert_float_eq(o->rollback_on.error_rate, 0.01, 1e-9);
    cr_assert_eq(o->rollback_on.p99_ms, 500);
    cr_assert_eq(o->rollback_on.min_requests, 50);
    cr_assert_eq(o->rollback_on.unhealthy_targets, -1);
    cr_assert_eq(o->rollback_on.window_ms, 30000);
    cr_assert_eq(o->rev.api.n_provides, 1);
    cr_assert_str_eq(o->rev.api.provides[0].api, "orders");
    cr_assert_eq(o->rev.api.provides[0].n_versions, 1);
    cr_assert_str_eq(o->rev.api.provides[0].versions[0], "2.3.0");
    cr_assert_eq(o->rev.api.n_requires, 1);
    cr_assert_str_eq(o->rev.api.requires[0].api, "payments");
    cr_assert_str_eq(o->rev.api.requires[0].range, "^1.4");
    cr_assert_eq(o->n_hooks_test, 1);
    cr_assert_str_eq(o->hooks_test[0], "./it/orders.sh");
    cr_assert_eq(o->n_hooks_check, 0);
    cr_assert_eq(o->n_targets[BG_SLOT_BLUE] + o->n_targets[BG_SLOT_GREEN], 0);
    cr_assert_not(o->has_traffic);

    const bg_service_config_t *l = bg_config_service(cfg, "legacy");
    cr_assert_not_null(l);
    cr_assert_str_eq(l->host, "legacy.local");
    cr_assert_str_eq(l->path_prefix, "/");
    cr_assert_eq(l->driver, BG_DRIVER_STATIC);
    cr_assert_null(l->rev.command);
    cr_assert_eq(l->n_targets[BG_SLOT_BLUE], 1);
    cr_assert_str_eq(l->targets[BG_SLOT_BLUE][0], "127.0.0.1:9001");
    cr_assert_eq(l->n_targets[BG_SLOT_GREEN], 1);
    cr_assert_str_eq(l->targets[BG_SLOT_GREEN][0], "127.0.0.1:9002");
    cr_assert(l->has_traffic);
    cr_assert_eq(l->traffic[BG_SLOT_BLUE], 100);
    cr_assert_eq(l->traffic[BG_SLOT_GREEN], 0);

    cr_assert_null(bg_config_service(cfg, "payments"));
    bg_config_free(cfg);
}

Test(config, empty_file_is_an_error)
{
    const char *const empty[] = {"", "# nothing but a comment\n", "~\n"};

    for (size_t i = 0; i < sizeof(empty) / sizeof(empty[0]); i++)
        assert_err(empty[i], "t.yaml:1:1: the config is empty: expected a mapping of settings "
                             "with services (see docs/design.md §10)");
}

Test(config, minimal_file_gives_all_defaults)
{
    bg_config_t *cfg = parse_ok("services: {}\n");
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);

    cr_assert_str_eq(cfg->path, "t.yaml");
    cr_assert_str_eq(cfg->listen, "127.0.0.1:8080");
    cr_assert_null(cfg->test_listen);
    cr_assert_str_eq(cfg->state_dir, "./state");
    cr_assert_str_eq(cfg->admin, "unix:./state/bluegreen.sock");
    cr_assert_eq(cfg->driver, BG_DRIVER_PROCESS);
    cr_assert_eq(cfg->n_services, 0);
    cr_assert_eq(cfg->proxy.workers, (uint32_t)(cpus < 1 ? 1 : cpus));
    cr_assert_eq(cfg->proxy.header_timeout_ms, 10000);
    cr_assert_eq(cfg->proxy.idle_timeout_ms, 60000);
    cr_assert_eq(cfg->proxy.connect_timeout_ms, 3000);
    cr_assert_eq(cfg->proxy.response_timeout_ms, 60000);
    cr_assert_eq(cfg->proxy.max_header_bytes, 16384);
    cr_assert_eq(cfg->proxy.max_body_bytes, 100ull << 20);
    cr_assert_eq(cfg->proxy.retries, 2);
    cr_assert_eq(cfg->proxy.pool_idle_per_target, 256);
    cr_assert_eq(cfg->proxy.pool_idle_timeout_ms, 30000);
    cr_assert_eq(cfg->proxy.max_connections, 100000);
    bg_config_free(cfg);
}

Test(config, admin_default_follows_state_dir)
{
    bg_config_t *cfg = parse_ok("state_dir: /var/lib/bg\n");

    cr_assert_str_eq(cfg->admin, "unix:/var/lib/bg/bluegreen.sock");
    bg_config_free(cfg);
}

Test(config, http2_keys)
{
    bg_config_t *cfg = parse_ok("http2: {h2c: true, max_concurrent_streams: 32}\n");
    cr_assert(cfg->proxy.h2c);
    cr_assert_eq(cfg->proxy.h2_max_streams, 32);
    bg_config_free(cfg);
    cfg = parse_ok("listen: 127.0.0.1:8080\n");
    cr_assert_not(cfg->proxy.h2c, "h2c is off unless asked for");
    cr_assert_eq(cfg->proxy.h2_max_streams, 100);
    bg_config_free(cfg);
    assert_err("http2: {h2c: maybe}\n", "t.yaml:1:14: http2.h2c: expected true or false, got "
                                        "\"maybe\"");
    assert_err("http2: {max_concurrent_streams: 0}\n",
               "t.yaml:1:33: http2.max_concurrent_streams: expected a whole number from 1 to "
               "10000, got 0");
    assert_err("http2: {tls: true}\n", "t.yaml:1:9: http2.tls: unknown key \"tls\"; valid "
                                       "keys: h2c, alpn, max_concurrent_streams");
    cfg = parse_ok("http2: {alpn: true}\n");
    cr_assert(cfg->proxy.h2_alpn);
    cr_assert_not(cfg->proxy.h2c);
    bg_config_free(cfg);
}

Test(config, proxy_keys)
{
    bg_config_t *cfg = parse_ok("proxy:\n"
                                "  workers: 3\n"
                                "  header_timeout: 5s\n"
                                "  idle_timeout: 2m\n"
                                "  connect_timeout: 250ms\n"
                                "  response_timeout: 1m\n"
                                "  max_header_size: 32k\n"
                                "  max_body_size: 1MiB\n"
                                "  retries: 0\n"
                                "  pool_idle: 8\n"
                                "  pool_idle_timeout: 10s\n"
                                "  max_connections: 500\n");

    cr_assert_eq(cfg->proxy.workers, 3);
    cr_assert_eq(cfg->proxy.header_timeout_ms, 5000);
    cr_assert_eq(cfg->proxy.idle_timeout_ms, 120000);
    cr_assert_eq(cfg->proxy.connect_timeout_ms, 250);
    cr_assert_eq(cfg->proxy.response_timeout_ms, 60000);
    cr_assert_eq(cfg->proxy.max_header_bytes, 32768);
    cr_assert_eq(cfg->proxy.max_body_bytes, 1048576);
    cr_assert_eq(cfg->proxy.retries, 0);
    cr_assert_eq(cfg->proxy.pool_idle_per_target, 8);
    cr_assert_eq(cfg->proxy.pool_idle_timeout_ms, 10000);
    cr_assert_eq(cfg->proxy.max_connections, 500);
    bg_config_free(cfg);
}

Test(config, workers_alias)
{
    bg_config_t *cfg = parse_ok("workers: 4\n");

    cr_assert_eq(cfg->proxy.workers, 4);
    bg_config_free(cfg);
    assert_err("workers: 4\nproxy: {workers: 2}\n",
               "t.yaml:1:10: workers: workers is set twice (here and in proxy.workers); keep "
               "one");
    assert_err("workers: 0\n", "t.yaml:1:10: workers: expected a whole number from 1 to 1024, "
                               "got 0");
}

Test(config, http_admin_needs_token)
{
    bg_config_t *cfg;

    assert_err("admin: http://127.0.0.1:9000\n",
               "t.yaml:1:8: admin: an http admin listener needs admin_token (e.g. admin_token: "
               "${BLUEGREEN_TOKEN})");
    setenv("BG_TEST_TOKEN", "s3cret", 1);
    cfg = parse_ok("admin: http://127.0.0.1:9000\nadmin_token: ${BG_TEST_TOKEN}\n");
    cr_assert_str_eq(cfg->admin, "http://127.0.0.1:9000");
    cr_assert_str_eq(cfg->admin_token, "s3cret");
    bg_config_free(cfg);
}

Test(config, admin_forms)
{
    assert_err("admin: tcp://x:1\n",
               "t.yaml:1:8: admin: expected unix:PATH or http://HOST:PORT, got \"tcp://x:1\"");
    assert_err("admin: \"unix:\"\n",
               "t.yaml:1:8: admin: expected unix:PATH or http://HOST:PORT, got \"unix:\"");
    assert_err("admin: http://127.0.0.1\nadmin_token: x\n",
               "t.yaml:1:8: admin: expected unix:PATH or http://HOST:PORT, got "
               "\"http://127.0.0.1\"");
}

Test(config, admin_socket_path_too_long)
{
    char text[400];

    snprintf(text, sizeof(text), "state_dir: /%0200d\n", 0);
    cr_assert(strstr(parse_err(text), "t.yaml:1:12: state_dir: unix socket path /000") ==
              parse_err(text));
}

Test(config, listen_addresses)
{
    bg_config_t *cfg = parse_ok("listen: \"[::1]:8080\"\ntest_listen: localhost:0\n");

    cr_assert_str_eq(cfg->listen, "[::1]:8080");
    cr_assert_str_eq(cfg->test_listen, "localhost:0");
    bg_config_free(cfg);
    assert_err("listen: 8080\n", "t.yaml:1:9: listen: expected an address host:port like "
                                 "127.0.0.1:8080, got \"8080\"");
    assert_err("listen: 127.0.0.1:99999\n", "t.yaml:1:9: listen: expected an address "
                                            "host:port like 127.0.0.1:8080, got "
                                            "\"127.0.0.1:99999\"");
    assert_err("test_listen: 300.1.1.1:80\n",
               "t.yaml:1:14: test_listen: expected an address host:port like 127.0.0.1:8080, "
               "got \"300.1.1.1:80\"");
}

Test(config, listeners_must_differ)
{
    assert_err("listen: 127.0.0.1:8080\ntest_listen: 127.0.0.1:8080\n",
               "t.yaml:2:14: test_listen: test_listen uses the same address as another listener "
               "(listen 127.0.0.1:8080, test_listen 127.0.0.1:8080)");
    assert_err("test_listen: 127.0.0.1:9\nadmin: http://127.0.0.1:9\nadmin_token: t\n",
               "t.yaml:2:8: admin: admin uses the same address as another listener (listen "
               "127.0.0.1:8080, test_listen 127.0.0.1:9)");
    assert_err("metrics_listen: 127.0.0.1:8080\n",
               "t.yaml:1:17: metrics_listen: metrics_listen uses the same address as another "
               "listener (listen 127.0.0.1:8080)");
    assert_err("access_log_format: apache\n",
               "t.yaml:1:20: access_log_format: expected json or combined, got \"apache\"");
    assert_err("metrics_listen: 9464\n", "t.yaml:1:17: metrics_listen: expected an address "
                                         "host:port like 127.0.0.1:8080, got \"9464\"");
}

Test(config, top_level_errors)
{
    assert_err("listen: 127.0.0.1:8080\nlisten_addr: x\n",
               "t.yaml:2:1: listen_addr: unknown key \"listen_addr\"; valid keys: listen, "
               "test_listen, metrics_listen, access_log, access_log_format, admin, admin_token, "
               "state_dir, driver, workers, proxy, http2, services, matrix");
    assert_err("driver: podman\n", "t.yaml:1:9: driver: expected one of process, docker, "
                                   "static, ecs, got \"podman\"");
    assert_err("- a\n- b\n", "t.yaml:1:1: expected a mapping of settings (listen, services, "
                             "...), got a list");
    assert_err("services: [a]\n",
               "t.yaml:1:11: services: expected a mapping of service names, got a list");
    assert_err("proxy: {header_timeout: 0}\n",
               "t.yaml:1:25: proxy.header_timeout: expected a duration above 0");
    assert_err("proxy: {max_body_size: lots}\n",
               "t.yaml:1:24: proxy.max_body_size: expected a size like 512, 16k, 1MiB, got "
               "\"lots\"");
    assert_err("state_dir: \"\"\n",
               "t.yaml:1:12: state_dir: expected a non-empty string, got an empty string");
    assert_err("listen: [1]\n", "t.yaml:1:9: listen: expected an address host:port like "
                                "127.0.0.1:8080, got a list");
}

Test(config, yaml_syntax_error_has_position)
{
    assert_err("listen: 127.0.0.1:8080\nservices:\n  orders: {route: [\n",
               "t.yaml:4:1: invalid YAML: did not find expected node content while parsing a "
               "flow node");
    assert_err("a: 1\n---\nb: 2\n", "t.yaml:2:1: expected one YAML document, found a second one");
}

Test(config, load_errors_use_the_file_name)
{
    bg_err_t err;
    char buf[512];

    cr_assert_null(bg_config_load("tests/unit/config/data/bad-interval.yaml", &err));
    cr_assert_str_eq(bg_err_format(&err, buf, sizeof(buf)),
                     "tests/unit/config/data/bad-interval.yaml:5:17: "
                     "services.orders.health.interval: expected a duration like 500ms, 30s, "
                     "5m, got \"fast\"");
    cr_assert_null(bg_config_load("tests/unit/config/data/missing.yaml", &err));
    cr_assert_eq(err.code, BG_EIO);
    cr_assert_str_eq(bg_err_format(&err, buf, sizeof(buf)),
                     "tests/unit/config/data/missing.yaml: cannot open: No such file or "
                     "directory");
}

Test(config, env_substitution)
{
    bg_config_t *cfg;

    setenv("BG_TEST_HOST", "127.0.0.1", 1);
    setenv("BG_TEST_PORT", "18080", 1);
    setenv("BG_TEST_COUNT_3", "3", 1);
    cfg = parse_ok("listen: ${BG_TEST_HOST}:${BG_TEST_PORT}\n"
                   "state_dir: /tmp/$${HOME}/x$y\n"
                   "services:\n"
                   "  a:\n"
                   "    count: ${BG_TEST_COUNT_3}\n"
                   "    run: {command: [\"./app\", \"${BG_TEST_HOST}\"]}\n"
                   "    env: {DB: \"postgres://${BG_TEST_HOST}/db\"}\n");
    cr_assert_str_eq(cfg->listen, "127.0.0.1:18080");
    cr_assert_str_eq(cfg->state_dir, "/tmp/${HOME}/x$y");
    cr_assert_eq(cfg->services[0].rev.count, 3);
    cr_assert_str_eq(cfg->services[0].rev.command[1], "127.0.0.1");
    cr_assert_str_eq(cfg->services[0].rev.env[0].key, "DB");
    cr_assert_str_eq(cfg->services[0].rev.env[0].value, "postgres://127.0.0.1/db");
    bg_config_free(cfg);
}

Test(config, env_substitution_errors)
{
    unsetenv("BG_TEST_UNSET");
    assert_err("services:\n  a:\n" SVC_RUN "    env: {X: \"a${BG_TEST_UNSET}b\"}\n",
               "t.yaml:4:14: services.a.env.X: environment variable BG_TEST_UNSET is not set "
               "(used as ${BG_TEST_UNSET})");
    assert_err("state_dir: ${1X}\n",
               "t.yaml:1:12: state_dir: bad variable reference in \"${1X}\": expected ${NAME} "
               "with NAME of letters, digits and _ (write $${ for a literal ${)");
    assert_err("state_dir: ab${X\n",
               "t.yaml:1:12: state_dir: bad variable reference in \"ab${X\": expected ${NAME} "
               "with NAME of letters, digits and _ (write $${ for a literal ${)");
}

/* Every prefix of a valid file either loads or fails with a positioned error; under ASan
 * any out-of-bounds read or leak on an error path fails the test. */
Test(config, truncated_inputs_never_crash)
{
    FILE *f = fopen(EXAMPLE, "rb");
    char text[4096];
    size_t len;
    int loaded = 0, failed = 0;

    cr_assert_not_null(f);
    len = fread(text, 1, sizeof(text), f);
    fclose(f);
    cr_assert_gt(len, 100);
    for (size_t n = 0; n <= len; n++) {
        bg_err_t err;
        char *copy = malloc(n ? n : 1);
        bg_config_t *cfg;

        memcpy(copy, text, n);
        cfg = bg_config_parse(copy, n, "trunc.yaml", &err);
        if (cfg != NULL) {
            loaded++;
            bg_config_free(cfg);
        } else {
            failed++;
            cr_assert_eq(err.code, BG_EINVAL, "prefix %zu", n);
            cr_assert_gt(err.line, 0, "prefix %zu has no position", n);
            cr_assert_gt(err.column, 0);
        }
        free(copy);
    }
    cr_assert_gt(loaded, 0);
    cr_assert_gt(failed, 0);
}

/* Flipping bytes of a valid file: same rule, never a crash. */
Test(config, mutated_inputs_never_crash)
{
    static const char subst[] = "{}[],:-#&*!|>'\"%@` \n\t0a$";
    FILE *f = fopen(EXAMPLE, "rb");
    char text[4096];
    size_t len;

    cr_assert_not_null(f);
    len = fread(text, 1, sizeof(text), f);
    fclose(f);
    for (size_t i = 0; i < len; i += 3) {
        for (size_t k = 0; k < sizeof(subst) - 1; k += 2) {
            char *copy = malloc(len);
            bg_err_t err;
            bg_config_t *cfg;

            memcpy(copy, text, len);
            copy[i] = subst[k];
            cfg = bg_config_parse(copy, len, "mut.yaml", &err);
            if (cfg == NULL)
                cr_assert_neq(err.code, 0);
            bg_config_free(cfg);
            free(copy);
        }
    }
}

/* Aliases are resolved by libyaml to the same node; the walker follows the schema, so a
 * self-referencing or fan-out alias can neither loop nor blow up. */
Test(config, aliases)
{
    bg_config_t *cfg = parse_ok("services:\n"
                                "  a: &svc\n"
                                "    route: {host: a.local}\n"
                                "    run: {command: &cmd [./app, --flag]}\n"
                                "  b:\n"
                                "    route: {host: b.local}\n"
                                "    run: {command: *cmd}\n");
    cr_assert_str_eq(cfg->services[1].rev.command[1], "--flag");
    bg_config_free(cfg);
    assert_err("services: &s\n  a: *s\n",
               "t.yaml:2:3: services.a.a: unknown key \"a\"; valid keys: route, driver, "
               "version, count, run, image, env, port, resources, health, strategy, bake, "
               "termination_wait, drain, stop_timeout, startup_timeout, rollback_on, api, "
               "hooks, targets, traffic, keep_failed, labels, ecs");
    /* an alias reports the position of the node it names (libyaml's document API keeps
     * no mark for the alias itself) */
    assert_err("services:\n  a:\n" SVC_RUN "    hooks: {test: &h [*h]}\n",
               "t.yaml:4:19: services.a.hooks.test[0]: expected a non-empty string, got a list");
}

/* Deep nesting is refused early: libyaml's scanner is quadratic in depth, so a file of
 * 100k '[' would otherwise take a minute (measured 72s under ASan). */
Test(config, deep_nesting, .timeout = 10)
{
    size_t depth = 100000;
    char *text = malloc(depth * 2 + 16);
    size_t n = 0;
    bg_err_t err;
    char buf[256];

    n += (size_t)snprintf(text, 16, "services: ");
    for (size_t i = 0; i < depth; i++)
        text[n++] = '[';
    for (size_t i = 0; i < depth; i++)
        text[n++] = ']';
    cr_assert_null(bg_config_parse(text, n, "deep.yaml", &err));
    cr_assert_str_eq(bg_err_format(&err, buf, sizeof(buf)),
                     "deep.yaml:1:74: nesting deeper than 64 levels");
    free(text);
}

Test(config, unknown_alias)
{
    assert_err("services:\n  a:\n    run: {command: *nope}\n", "t.yaml:3:20: unknown alias *nope");
}
