/* Strategies from YAML (every form, sticky, errors) and from the CLI. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "helpers.h"

#define WITH_STRATEGY(s) "services:\n  a:\n" SVC_RUN "    strategy: " s "\n"

static bg_strategy_t parse_strategy(const char *text, bg_config_t **cfg)
{
    *cfg = parse_ok(text);
    return (*cfg)->services[0].strategy;
}

Test(strategy, yaml_forms)
{
    bg_config_t *cfg;
    bg_strategy_t s;

    s = parse_strategy(WITH_STRATEGY("all-at-once"), &cfg);
    cr_assert_eq(s.kind, BG_STRATEGY_ALL_AT_ONCE);
    cr_assert_not(s.sticky);
    bg_config_free(cfg);

    s = parse_strategy(WITH_STRATEGY("{all-at-once: true, sticky: true}"), &cfg);
    cr_assert_eq(s.kind, BG_STRATEGY_ALL_AT_ONCE);
    cr_assert(s.sticky);
    bg_config_free(cfg);

    s = parse_strategy(WITH_STRATEGY("{canary: {percent: 5%, wait: 2m}, sticky: true}"), &cfg);
    cr_assert_eq(s.kind, BG_STRATEGY_CANARY);
    cr_assert_eq(s.percent, 5);
    cr_assert_eq(s.wait_ms, 120000);
    cr_assert(s.sticky);
    bg_config_free(cfg);

    s = parse_strategy(WITH_STRATEGY("{linear: {percent: 25, every: 30s}}"), &cfg);
    cr_assert_eq(s.kind, BG_STRATEGY_LINEAR);
    cr_assert_eq(s.percent, 25);
    cr_assert_eq(s.every_ms, 30000);
    bg_config_free(cfg);

    s = parse_strategy(
        WITH_STRATEGY("{steps: [5, \"25%\", {pause: true}, {percent: 50, wait: 1m}, 100]}"), &cfg);
    cr_assert_eq(s.kind, BG_STRATEGY_STEPS);
    cr_assert_eq(s.n_steps, 5);
    cr_assert_eq(s.steps[0].percent, 5);
    cr_assert_not(s.steps[0].pause);
    cr_assert_eq(s.steps[1].percent, 25);
    cr_assert(s.steps[2].pause);
    cr_assert_eq(s.steps[3].percent, 50);
    cr_assert_eq(s.steps[3].wait_ms, 60000);
    cr_assert_eq(s.steps[4].percent, 100);
    cr_assert_eq(s.steps[4].wait_ms, 0);
    bg_config_free(cfg);
}

Test(strategy, yaml_errors)
{
    assert_err(WITH_STRATEGY("blue-green"),
               "t.yaml:4:15: services.a.strategy: expected all-at-once, {canary: {percent, "
               "wait}}, {linear: {percent, every}} or {steps: [5, 25, {pause: true}, 100]}, got "
               "\"blue-green\"");
    assert_err(WITH_STRATEGY("{canary: {percent: 10}}"),
               "t.yaml:4:24: services.a.strategy.canary: missing key \"wait\" (expected "
               "{percent: 10, wait: 5m})");
    assert_err(WITH_STRATEGY("{canary: {percent: 0, wait: 1m}}"),
               "t.yaml:4:34: services.a.strategy.canary.percent: expected a whole percentage "
               "from 1% to 100%, got 0%");
    assert_err(WITH_STRATEGY("{canary: {percent: 10, wait: soon}}"),
               "t.yaml:4:44: services.a.strategy.canary.wait: expected a duration like 500ms, "
               "30s, 5m, got \"soon\"");
    assert_err(WITH_STRATEGY("{linear: {percent: 10, every: 1m, jitter: 1s}}"),
               "t.yaml:4:49: services.a.strategy.linear.jitter: unknown key \"jitter\"; valid "
               "keys: percent, every");
    assert_err(WITH_STRATEGY("{linear: 10}"),
               "t.yaml:4:24: services.a.strategy.linear: expected a mapping like {percent: 10, "
               "every: 1m}, got \"10\"");
    assert_err(WITH_STRATEGY("{canary: {percent: 10, wait: 1m}, linear: {percent: 10, every: "
                             "1m}}"),
               "t.yaml:4:15: services.a.strategy: choose one of canary, linear, steps, "
               "all-at-once");
    assert_err(WITH_STRATEGY("{steps: []}"),
               "t.yaml:4:23: services.a.strategy.steps: expected a non-empty list like [5, 25, "
               "{pause: true}, 100], got an empty list");
    assert_err(WITH_STRATEGY("{steps: [5, 150]}"),
               "t.yaml:4:27: services.a.strategy.steps[1]: expected a percentage from 0% to "
               "100% like 10%, got \"150\"");
    assert_err(WITH_STRATEGY("{steps: [5, {pause: false}]}"),
               "t.yaml:4:35: services.a.strategy.steps[1].pause: expected pause: true (leave "
               "the step out otherwise)");
    assert_err(WITH_STRATEGY("{steps: [5, {wait: 1m}]}"),
               "t.yaml:4:27: services.a.strategy.steps[1]: a step needs percent (or pause: "
               "true)");
    assert_err(WITH_STRATEGY("{steps: [{pause: true, percent: 5}]}"),
               "t.yaml:4:24: services.a.strategy.steps[0]: a pause step takes no percent or "
               "wait");
    assert_err(WITH_STRATEGY("{sticky: yes please}"),
               "t.yaml:4:24: services.a.strategy.sticky: expected true or false, got \"yes "
               "please\"");
}

Test(strategy, cli_forms)
{
    bg_strategy_t s;
    bg_err_t err;

    cr_assert_eq(bg_strategy_parse_cli("all-at-once", &s, &err), 0);
    cr_assert_eq(s.kind, BG_STRATEGY_ALL_AT_ONCE);
    bg_strategy_fini(&s);

    cr_assert_eq(bg_strategy_parse_cli("canary:10%:5m", &s, &err), 0);
    cr_assert_eq(s.kind, BG_STRATEGY_CANARY);
    cr_assert_eq(s.percent, 10);
    cr_assert_eq(s.wait_ms, 300000);
    cr_assert_null(s.steps);
    bg_strategy_fini(&s);

    cr_assert_eq(bg_strategy_parse_cli("linear:20:30s", &s, &err), 0);
    cr_assert_eq(s.kind, BG_STRATEGY_LINEAR);
    cr_assert_eq(s.percent, 20);
    cr_assert_eq(s.every_ms, 30000);
    bg_strategy_fini(&s);
}

Test(strategy, cli_errors_explain_the_forms)
{
    static const char *const bad[] = {"",
                                      "canary",
                                      "canary:10%",
                                      "canary:%:1m",
                                      "canary:0%:1m",
                                      "canary:10%:soon",
                                      "linear:101%:1m",
                                      "linear:2.5%:1m",
                                      "steps:5,100",
                                      "Canary:10%:5m"};
    bg_strategy_t s = {.kind = BG_STRATEGY_STEPS, .percent = 77};
    bg_err_t err;
    char want[512], buf[512];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(bg_strategy_parse_cli(bad[i], &s, &err), BG_EINVAL, "%s", bad[i]);
        snprintf(want, sizeof(want),
                 "bad strategy \"%s\": expected all-at-once, canary:PERCENT:WAIT (e.g. "
                 "canary:10%%:5m) or linear:PERCENT:EVERY (e.g. linear:10%%:1m)",
                 bad[i]);
        cr_assert_str_eq(bg_err_format(&err, buf, sizeof(buf)), want);
        cr_assert_eq(s.percent, 77, "output untouched on error");
    }
}

Test(strategy, fini_is_idempotent)
{
    bg_strategy_t s = {0};

    bg_strategy_fini(&s);
    bg_strategy_fini(NULL);
    cr_assert_null(s.steps);
}
