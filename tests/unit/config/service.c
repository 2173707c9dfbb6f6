/* services.<name>: every key, defaults, and each class of validation error with its exact
 * position and key path. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

Test(service, defaults)
{
    bg_config_t *cfg = parse_ok("services:\n  orders:\n" SVC_RUN);
    const bg_service_config_t *s = &cfg->services[0];

    cr_assert_str_eq(s->name, "orders");
    cr_assert_null(s->host);
    cr_assert_str_eq(s->path_prefix, "/");
    cr_assert_eq(s->driver, BG_DRIVER_PROCESS);
    cr_assert_str_eq(s->rev.version, "0.0.0");
    cr_assert_str_eq(s->rev.command[0], "./app");
    cr_assert_null(s->rev.command[1]);
    cr_assert_eq(s->rev.count, 1);
    cr_assert_eq(s->rev.port, 0);
    cr_assert_eq(s->rev.n_env, 0);
    cr_assert_null(s->rev.strategy);
    cr_assert_eq(s->health.type, BG_HEALTH_HTTP);
    cr_assert_eq(s->health.format, BG_HEALTH_FORMAT_STATUS);
    cr_assert_null(s->health.path);
    cr_assert_eq(s->health.interval_ms, 5000);
    cr_assert_eq(s->health.timeout_ms, 2000);
    cr_assert_eq(s->health.healthy_threshold, 2);
    cr_assert_eq(s->health.unhealthy_threshold, 2);
    cr_assert_eq(s->health.n_matcher, 1);
    cr_assert_eq(s->health.matcher[0].lo, 200);
    cr_assert_eq(s->health.matcher[0].hi, 399);
    cr_assert_eq(s->health.passive_failures, 5);
    cr_assert_eq(s->strategy.kind, BG_STRATEGY_ALL_AT_ONCE);
    cr_assert_eq(s->bake_ms, 0);
    cr_assert_eq(s->termination_wait_ms, 300000);
    cr_assert_eq(s->drain_ms, 30000);
    cr_assert_eq(s->stop_timeout_ms, 10000);
    cr_assert_eq(s->startup_timeout_ms, 30000);
    cr_assert_not(s->rollback_on.has_error_rate);
    cr_assert_eq(s->rollback_on.p99_ms, 0);
    cr_assert_eq(s->rollback_on.min_requests, 20);
    cr_assert_eq(s->rollback_on.unhealthy_targets, -1);
    cr_assert_eq(s->rollback_on.window_ms, 30000);
    cr_assert_not(s->has_traffic);
    cr_assert_eq(s->traffic[BG_SLOT_BLUE], 100);
    cr_assert_eq(s->traffic[BG_SLOT_GREEN], 0);
    cr_assert_not(s->keep_failed);
    cr_assert_eq(s->n_hooks_test + s->n_hooks_check, 0);
    cr_assert_eq(s->hooks_timeout_ms, 300000);
    bg_config_free(cfg);
}

Test(service, every_key)
{
    bg_config_t *cfg = parse_ok(
        "driver: docker\n"
        "services:\n"
        "  pay_ments-2:\n"
        "    route: {host: Pay.Local, path_prefix: /api}\n"
        "    count: 3\n"
        "    version: 1.10.0-rc.1+build.5\n"
        "    image: registry.local/payments:1.10.0\n"
        "    env: {A: \"1\", B: two}\n"
        "    port: 8080\n"
        "    health:\n"
        "      type: http\n"
        "      path: /healthz\n"
        "      format: status\n"
        "      interval: 500ms\n"
        "      timeout: 1s\n"
        "      healthy_threshold: 3\n"
        "      unhealthy_threshold: 1\n"
        "      matcher: [200, \"204-206\", \"301,302\"]\n"
        "      passive: {consecutive_failures: 0}\n"
        "    strategy: {linear: {percent: 20%, every: 1m}, sticky: true}\n"
        "    bake: 2m\n"
        "    termination_wait: 1h\n"
        "    drain: 5s\n"
        "    stop_timeout: 3s\n"
        "    startup_timeout: 45s\n"
        "    rollback_on: {error_rate: 0.5%, p99: 1s, min_requests: 10, unhealthy_targets: 1, "
        "window: 1m}\n"
        "    api:\n"
        "      provides: {payments: [1.10.0, 2.0.0], refunds: 1.0.0}\n"
        "      requires: {ledger: \">=3.1 <4\", fx: \"~2.2\"}\n"
        "    hooks: {test: [\"./it/a.sh\", \"./it/b.sh\"], check: ./check.sh, timeout: 30s}\n"
        "    keep_failed: true\n"
        "    labels: {git.sha: abc123, team: pay}\n");
    const bg_service_config_t *s = bg_config_service(cfg, "pay_ments-2");

    cr_assert_not_null(s);
    cr_assert_str_eq(s->host, "Pay.Local");
    cr_assert_str_eq(s->path_prefix, "/api");
    cr_assert_eq(s->driver, BG_DRIVER_DOCKER);
    cr_assert_eq(s->rev.count, 3);
    cr_assert_str_eq(s->rev.version, "1.10.0-rc.1+build.5");
    cr_assert_str_eq(s->rev.image, "registry.local/payments:1.10.0");
    cr_assert_null(s->rev.command);
    cr_assert_eq(s->rev.n_env, 2);
    cr_assert_str_eq(s->rev.env[0].key, "A");
    cr_assert_str_eq(s->rev.env[0].value, "1");
    cr_assert_str_eq(s->rev.env[1].key, "B");
    cr_assert_str_eq(s->rev.env[1].value, "two");
    cr_assert_eq(s->rev.port, 8080);
    cr_assert_str_eq(s->health.path, "/healthz");
    cr_assert_eq(s->health.interval_ms, 500);
    cr_assert_eq(s->health.timeout_ms, 1000);
    cr_assert_eq(s->health.healthy_threshold, 3);
    cr_assert_eq(s->health.unhealthy_threshold, 1);
    cr_assert_eq(s->health.n_matcher, 4);
    cr_assert_eq(s->health.matcher[0].lo, 200);
    cr_assert_eq(s->health.matcher[0].hi, 200);
    cr_assert_eq(s->health.matcher[1].lo, 204);
    cr_assert_eq(s->health.matcher[1].hi, 206);
    cr_assert_eq(s->health.matcher[2].lo, 301);
    cr_assert_eq(s->health.matcher[3].lo, 302);
    cr_assert_eq(s->health.passive_failures, 0);
    cr_assert_eq(s->strategy.kind, BG_STRATEGY_LINEAR);
    cr_assert_eq(s->strategy.percent, 20);
    cr_assert_eq(s->strategy.every_ms, 60000);
    cr_assert(s->strategy.sticky);
    cr_assert_eq(s->bake_ms, 120000);
    cr_assert_eq(s->termination_wait_ms, 3600000);
    cr_assert_eq(s->drain_ms, 5000);
    cr_assert_eq(s->stop_timeout_ms, 3000);
    cr_assert_eq(s->startup_timeout_ms, 45000);
    cr_assert_float_eq(s->rollback_on.error_rate, 0.005, 1e-12);
    cr_assert_eq(s->rollback_on.p99_ms, 1000);
    cr_assert_eq(s->rollback_on.min_requests, 10);
    cr_assert_eq(s->rollback_on.unhealthy_targets, 1);
    cr_assert_eq(s->rollback_on.window_ms, 60000);
    cr_assert_eq(s->rev.api.n_provides, 2);
    cr_assert_str_eq(s->rev.api.provides[0].api, "payments");
    cr_assert_eq(s->rev.api.provides[0].n_versions, 2);
    cr_assert_str_eq(s->rev.api.provides[0].versions[0], "1.10.0");
    cr_assert_str_eq(s->rev.api.provides[0].versions[1], "2.0.0");
    cr_assert_str_eq(s->rev.api.provides[1].api, "refunds");
    cr_assert_eq(s->rev.api.provides[1].n_versions, 1);
    cr_assert_eq(s->rev.api.n_requires, 2);
    cr_assert_str_eq(s->rev.api.requires[0].range, ">=3.1 <4");
    cr_assert_str_eq(s->rev.api.requires[1].api, "fx");
    cr_assert_eq(s->n_hooks_test, 2);
    cr_assert_str_eq(s->hooks_test[1], "./it/b.sh");
    cr_assert_eq(s->n_hooks_check, 1);
    cr_assert_str_eq(s->hooks_check[0], "./check.sh");
    cr_assert_eq(s->hooks_timeout_ms, 30000);
    cr_assert(s->keep_failed);
    cr_assert_eq(s->rev.n_labels, 2);
    cr_assert_str_eq(s->rev.labels[0].key, "git.sha");
    cr_assert_str_eq(s->rev.labels[0].value, "abc123");
    bg_config_free(cfg);
}

Test(service, command_string_is_split_like_a_shell)
{
    bg_config_t *cfg =
        parse_ok("services:\n  a:\n"
                 "    run:\n"
                 "      command: \"./app --name 'two words' --q \\\"x y\\\" a\\\\ b ''\"\n"
                 "      env: {PORT_HINT: \"1\"}\n"
                 "    env: {OTHER: \"2\"}\n");
    char **c = cfg->services[0].rev.command;

    cr_assert_str_eq(c[0], "./app");
    cr_assert_str_eq(c[1], "--name");
    cr_assert_str_eq(c[2], "two words");
    cr_assert_str_eq(c[3], "--q");
    cr_assert_str_eq(c[4], "x y");
    cr_assert_str_eq(c[5], "a b");
    cr_assert_str_eq(c[6], "");
    cr_assert_null(c[7]);
    cr_assert_eq(cfg->services[0].rev.n_env, 2);
    cr_assert_str_eq(cfg->services[0].rev.env[0].key, "PORT_HINT");
    cr_assert_str_eq(cfg->services[0].rev.env[1].key, "OTHER");
    bg_config_free(cfg);

    assert_err("services:\n  a:\n    run: {command: \"./app 'oops\"}\n",
               "t.yaml:3:20: services.a.run.command: cannot split command \"./app 'oops\": "
               "unterminated single quote");
    assert_err("services:\n  a:\n    run: {command: []}\n",
               "t.yaml:3:20: services.a.run.command: expected a non-empty command list like "
               "[\"./app\", \"--port\", \"8080\"]");
    assert_err("services:\n  a:\n    run: {env: {A: b}}\n",
               "t.yaml:3:10: services.a.run: missing key \"command\"");
    assert_err("services:\n  a:\n    run: {command: ./a, env: {A: b}}\n    env: {A: c}\n",
               "t.yaml:4:11: services.a.env.A: \"A\" is set twice");
}

Test(service, unknown_and_duplicate_keys)
{
    assert_err("services:\n  orders:\n" SVC_RUN "    helth: {path: /}\n",
               "t.yaml:4:5: services.orders.helth: unknown key \"helth\"; valid keys: route, "
               "driver, version, count, run, image, env, port, resources, health, strategy, bake, "
               "termination_wait, drain, stop_timeout, startup_timeout, rollback_on, api, "
               "hooks, targets, traffic, keep_failed, labels, ecs");
    assert_err("services:\n  orders:\n" SVC_RUN "    health: {intervall: 1s}\n",
               "t.yaml:4:14: services.orders.health.intervall: unknown key \"intervall\"; "
               "valid keys: type, path, format, interval, timeout, healthy_threshold, "
               "unhealthy_threshold, matcher, passive");
    assert_err("services:\n  orders:\n" SVC_RUN "    count: 2\n    count: 3\n",
               "t.yaml:5:5: services.orders.count: duplicate key \"count\" (first at line 4, "
               "column 5)");
    assert_err("services:\n  a:\n" SVC_RUN "  a:\n" SVC_RUN,
               "t.yaml:4:3: services.a: duplicate key \"a\" (first at line 2, column 3)");
    assert_err("services:\n  a:\n" SVC_RUN "    ? [x]\n    : 1\n",
               "t.yaml:4:7: services.a: expected a plain key, got a list");
}

Test(service, type_errors)
{
    assert_err("services:\n  orders:\n" SVC_RUN "    health:\n      interval: fast\n",
               "t.yaml:5:17: services.orders.health.interval: expected a duration like 500ms, "
               "30s, 5m, got \"fast\"");
    assert_err("services:\n  orders:\n" SVC_RUN "    count: two\n",
               "t.yaml:4:12: services.orders.count: expected a whole number from 1 to 1000, got "
               "\"two\"");
    assert_err("services:\n  orders:\n" SVC_RUN "    count: 0\n",
               "t.yaml:4:12: services.orders.count: expected a whole number from 1 to 1000, got "
               "0");
    assert_err("services:\n  orders:\n" SVC_RUN "    keep_failed: maybe\n",
               "t.yaml:4:18: services.orders.keep_failed: expected true or false, got "
               "\"maybe\"");
    assert_err("services:\n  orders:\n" SVC_RUN "    route: /orders\n",
               "t.yaml:4:12: services.orders.route: expected a mapping, got \"/orders\"");
    assert_err("services:\n  orders:\n" SVC_RUN "    port: 70000\n",
               "t.yaml:4:11: services.orders.port: expected a whole number from 1 to 65535, got "
               "70000");
    assert_err("services:\n  orders:\n" SVC_RUN "    bake:\n",
               "t.yaml:4:10: services.orders.bake: expected a duration like 500ms, 30s, 5m, got "
               "nothing");
    assert_err("services:\n  orders:\n" SVC_RUN "    rollback_on: {error_rate: 150%}\n",
               "t.yaml:4:31: services.orders.rollback_on.error_rate: expected a percentage from "
               "0% to 100% like 10%, got \"150%\"");
    assert_err("services:\n  orders:\n" SVC_RUN "    rollback_on: {window: 10ms}\n",
               "t.yaml:4:27: services.orders.rollback_on.window: expected a window of at least "
               "1s");
    assert_err("services:\n  orders: 5\n",
               "t.yaml:2:11: services.orders: expected a service mapping (route, run, health, "
               "...), got \"5\"");
}

Test(service, names_and_routes)
{
    assert_err("services:\n  Orders:\n" SVC_RUN,
               "t.yaml:2:3: services.Orders: bad service name \"Orders\": expected lowercase "
               "letters, digits, - and _ (starting with a letter or digit, at most 63)");
    assert_err("services:\n  -x:\n" SVC_RUN,
               "t.yaml:2:3: services.-x: bad service name \"-x\": expected lowercase letters, "
               "digits, - and _ (starting with a letter or digit, at most 63)");
    assert_err("services:\n"
               "  a:\n    route: {host: x.local, path_prefix: /api}\n" SVC_RUN
               "  b:\n    route: {host: X.LOCAL, path_prefix: /api}\n" SVC_RUN,
               "t.yaml:6:12: services.b.route: route conflict: services a and b both route host "
               "X.LOCAL path_prefix /api");
    assert_err("services:\n  a:\n" SVC_RUN "  b:\n" SVC_RUN,
               "t.yaml:5:5: services.b.route: route conflict: services a and b both route host "
               "(any) path_prefix /");
    assert_err("services:\n  a:\n    route: {path_prefix: api}\n" SVC_RUN,
               "t.yaml:3:26: services.a.route.path_prefix: expected a path prefix starting with "
               "/, got \"api\"");
    bg_config_free(parse_ok("services:\n"
                            "  a:\n    route: {host: x.local, path_prefix: /api}\n" SVC_RUN
                            "  b:\n    route: {host: x.local, path_prefix: /}\n" SVC_RUN
                            "  c:\n    route: {host: y.local, path_prefix: /api}\n" SVC_RUN));
}

Test(service, drivers_and_artifacts)
{
    assert_err("services:\n  a:\n    count: 1\n",
               "t.yaml:3:5: services.a: the process driver needs run.command");
    assert_err("services:\n  a:\n    driver: docker\n" SVC_RUN,
               "t.yaml:3:5: services.a: the docker driver needs image");
    assert_err("services:\n  a:\n    driver: docker\n    image: x:1\n" SVC_RUN,
               "t.yaml:5:10: services.a: run is for the process driver; the docker driver runs "
               "image");
    assert_err("services:\n  a:\n" SVC_RUN "    image: x:1\n",
               "t.yaml:4:12: services.a: image is for the docker and ecs drivers; the process "
               "driver runs run.command");
    assert_err("services:\n  a:\n    driver: static\n",
               "t.yaml:3:5: services.a: the static driver needs targets, e.g. targets: {blue: "
               "[\"127.0.0.1:9001\"], green: [\"127.0.0.1:9002\"]}");
    assert_err("services:\n  a:\n    driver: static\n    targets: {blue: []}\n",
               "t.yaml:4:14: services.a: the static driver needs targets, e.g. targets: {blue: "
               "[\"127.0.0.1:9001\"], green: [\"127.0.0.1:9002\"]}");
    assert_err(
        "services:\n  a:\n    driver: static\n    targets: {blue: [\"127.0.0.1:1\"]}\n" SVC_RUN,
        "t.yaml:5:10: services.a: the static driver runs nothing: list its targets "
        "instead");
    assert_err("services:\n  a:\n" SVC_RUN "    targets: {blue: [\"127.0.0.1:1\"]}\n",
               "t.yaml:4:14: services.a: targets are only for the static driver (this service "
               "uses process)");
    assert_err("services:\n  a:\n    driver: static\n"
               "    targets: {blue: [\"127.0.0.1:1\"], green: [\"127.0.0.1:2\", nohost]}\n",
               "t.yaml:4:61: services.a.targets.green[1]: expected an address host:port like "
               "127.0.0.1:9001, got \"nohost\"");
    assert_err("services:\n  a:\n    driver: lambda\n",
               "t.yaml:3:13: services.a.driver: expected one of process, docker, static, ecs, "
               "got \"lambda\"");
}

Test(service, top_level_driver_is_the_default)
{
    bg_config_t *cfg = parse_ok("services:\n  a:\n    targets: {green: [\"[::1]:9002\"]}\n"
                                "driver: static\n");

    cr_assert_eq(cfg->services[0].driver, BG_DRIVER_STATIC);
    cr_assert_eq(cfg->services[0].n_targets[BG_SLOT_GREEN], 1);
    bg_config_free(cfg);
}

Test(service, traffic_weights)
{
    bg_config_t *cfg = parse_ok("services:\n  a:\n    driver: static\n"
                                "    targets: {blue: [\"127.0.0.1:1\"]}\n"
                                "    traffic: {green: 30%, blue: 70}\n");

    cr_assert(cfg->services[0].has_traffic);
    cr_assert_eq(cfg->services[0].traffic[BG_SLOT_BLUE], 70);
    cr_assert_eq(cfg->services[0].traffic[BG_SLOT_GREEN], 30);
    bg_config_free(cfg);
    assert_err("services:\n  a:\n" SVC_RUN "    traffic: {blue: 60, green: 60}\n",
               "t.yaml:4:14: services.a.traffic: weights must sum to 100, got blue 60 + green "
               "60 = 120");
    assert_err("services:\n  a:\n" SVC_RUN "    traffic: {blue: 101}\n",
               "t.yaml:4:21: services.a.traffic.blue: expected a percentage from 0% to 100% like "
               "10%, got \"101\"");
    assert_err("services:\n  a:\n" SVC_RUN "    traffic: {blue: 99.5, green: 0.5}\n",
               "t.yaml:4:21: services.a.traffic.blue: expected a whole percentage from 0% to "
               "100%, got 99.5%");
    assert_err("services:\n  a:\n" SVC_RUN "    traffic: {red: 1}\n",
               "t.yaml:4:15: services.a.traffic.red: unknown key \"red\"; valid keys: blue, "
               "green");
}

Test(service, health_rules)
{
    assert_err("services:\n  a:\n" SVC_RUN "    health: {healthy_threshold: 0}\n",
               "t.yaml:4:33: services.a.health.healthy_threshold: expected a whole number from 1 "
               "to 1000, got 0");
    assert_err("services:\n  a:\n" SVC_RUN "    health: {unhealthy_threshold: -1}\n",
               "t.yaml:4:35: services.a.health.unhealthy_threshold: expected a whole number "
               "from 1 to 1000, got \"-1\"");
    assert_err("services:\n  a:\n" SVC_RUN "    health: {type: tcp, path: /x}\n",
               "t.yaml:4:31: services.a.health: path is for http checks; this check is type "
               "tcp");
    assert_err("services:\n  a:\n" SVC_RUN "    health: {type: grpc}\n",
               "t.yaml:4:20: services.a.health.type: expected http or tcp, got \"grpc\"");
    assert_err("services:\n  a:\n" SVC_RUN "    health: {format: json}\n",
               "t.yaml:4:22: services.a.health.format: expected actuator or status, got "
               "\"json\"");
    assert_err("services:\n  a:\n" SVC_RUN "    health: {matcher: \"200-99\"}\n",
               "t.yaml:4:23: services.a.health.matcher: expected status codes (100-599) like "
               "200-399 or 200,204, got \"200-99\"");
    assert_err("services:\n  a:\n" SVC_RUN "    health: {matcher: [200, \"abc\"]}\n",
               "t.yaml:4:29: services.a.health.matcher[1]: expected status codes (100-599) like "
               "200-399 or 200,204, got \"abc\"");
    assert_err("services:\n  a:\n" SVC_RUN "    health: {interval: 0s}\n",
               "t.yaml:4:24: services.a.health.interval: expected a duration above 0");
    assert_err("services:\n  a:\n" SVC_RUN "    health: {path: health}\n",
               "t.yaml:4:20: services.a.health.path: expected a path starting with /, got "
               "\"health\"");

    bg_config_t *cfg = parse_ok("services:\n  a:\n" SVC_RUN "    health: {type: tcp}\n");
    cr_assert_eq(cfg->services[0].health.type, BG_HEALTH_TCP);
    bg_config_free(cfg);
}

Test(service, versions_and_api)
{
    assert_err("services:\n  a:\n" SVC_RUN "    version: 2.3\n",
               "t.yaml:4:14: services.a.version: expected a semantic version like 1.2.3 "
               "(MAJOR.MINOR.PATCH[-pre][+build]), got \"2.3\"");
    assert_err("services:\n  a:\n" SVC_RUN "    version: 01.2.3\n",
               "t.yaml:4:14: services.a.version: expected a semantic version like 1.2.3 "
               "(MAJOR.MINOR.PATCH[-pre][+build]), got \"01.2.3\"");
    assert_err("services:\n  a:\n" SVC_RUN "    api: {provides: {a: [1.0.0, 2.0]}}\n",
               "t.yaml:4:33: services.a.api.provides.a[1]: expected a semantic version like "
               "1.2.3 (MAJOR.MINOR.PATCH[-pre][+build]), got \"2.0\"");
    assert_err("services:\n  a:\n" SVC_RUN "    api: {provides: {a: []}}\n",
               "t.yaml:4:25: services.a.api.provides.a: expected at least one version");
    assert_err("services:\n  a:\n" SVC_RUN "    api: {requires: {b: \"\"}}\n",
               "t.yaml:4:25: services.a.api.requires.b: expected a version range like \"^1.4\", "
               "got an empty string");
    assert_err("services:\n  a:\n" SVC_RUN "    api: {requires: {b: }}\n",
               "t.yaml:4:25: services.a.api.requires.b: expected a version range like \"^1.4\", "
               "got nothing");
    assert_err("services:\n  a:\n" SVC_RUN "    api: {needs: {b: x}}\n",
               "t.yaml:4:11: services.a.api.needs: unknown key \"needs\"; valid keys: provides, "
               "requires");
}

Test(service, hooks)
{
    assert_err("services:\n  a:\n" SVC_RUN "    hooks: {test: [\"./a\", 3, {x: 1}]}\n",
               "t.yaml:4:30: services.a.hooks.test[2]: expected a non-empty string, got a "
               "mapping");
    assert_err("services:\n  a:\n" SVC_RUN "    hooks: {post: [\"./a\"]}\n",
               "t.yaml:4:13: services.a.hooks.post: unknown key \"post\"; valid keys: test, "
               "check, timeout");
    assert_err("services:\n  a:\n" SVC_RUN "    hooks: {timeout: 0s}\n",
               "t.yaml:4:22: services.a.hooks.timeout: expected a duration above 0 such as 30s "
               "or 5m, got 0");
}

/* api.requires ranges are read by the gate's own parser at load time, so a range the gate
 * could not use is refused here with its position, not later at deploy time. */
Test(service, api_ranges_checked_at_their_position)
{
    const char *got = parse_err("services:\n  orders:\n" SVC_RUN
                                "    api: {requires: {payments: \"^1.x.y\"}}\n");
    cr_assert(strncmp(got, "t.yaml:4:33: services.orders.api.requires.payments: ", 52) == 0,
              "%s", got);
    cr_assert(strstr(got, "invalid range") != NULL, "%s", got);
    got = parse_err("services:\n  orders:\n" SVC_RUN "    api: {provides: {orders: [1.2.3, 01.0.0]}}\n");
    cr_assert(strstr(got, "t.yaml:4:38: services.orders.api.provides.orders[1]: expected a semantic version") == got, "%s",
              got);
}

Test(service, matrix_file_key)
{
    bg_err_t err;
    const char *text = "matrix: ./compat-rules.yaml\nservices:\n  orders:\n" SVC_RUN;
    bg_config_t *cfg = bg_config_parse(text, strlen(text), "t.yaml", &err);
    cr_assert_not_null(cfg, "%s", err.msg);
    cr_assert_str_eq(cfg->matrix, "./compat-rules.yaml");
    bg_config_free(cfg);
    text = "services:\n  orders:\n" SVC_RUN;
    cfg = bg_config_parse(text, strlen(text), "t.yaml", &err);
    cr_assert_null(cfg->matrix);
    bg_config_free(cfg);
}
