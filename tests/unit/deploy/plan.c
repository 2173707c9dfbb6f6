/* Traffic plans from strategies. */
#include <criterion/criterion.h>

#include "deploy/plan.h"

TestSuite(plan, .timeout = 10);

static size_t steps_of(const char *cli, bg_plan_step_t *out)
{
    bg_strategy_t s;
    bg_err_t err;
    cr_assert_eq(bg_strategy_parse_cli(cli, &s, &err), 0, "%s: %s", cli, err.msg);
    size_t n = bg_plan_steps(&s, out);
    bg_strategy_fini(&s);
    return n;
}

Test(plan, all_at_once)
{
    bg_plan_step_t st[BG_PLAN_MAX_STEPS];
    cr_assert_eq(steps_of("all-at-once", st), 1);
    cr_expect_eq(st[0].percent, 100);
    cr_expect_eq(st[0].wait_ms, 0);
}

Test(plan, canary)
{
    bg_plan_step_t st[BG_PLAN_MAX_STEPS];
    cr_assert_eq(steps_of("canary:10%:5m", st), 2);
    cr_expect_eq(st[0].percent, 10);
    cr_expect_eq(st[0].wait_ms, 300000);
    cr_expect_eq(st[1].percent, 100);
}

Test(plan, linear)
{
    bg_plan_step_t st[BG_PLAN_MAX_STEPS];
    size_t n = steps_of("linear:30%:1m", st);
    cr_assert_eq(n, 4);
    cr_expect_eq(st[0].percent, 30);
    cr_expect_eq(st[1].percent, 60);
    cr_expect_eq(st[2].percent, 90);
    cr_expect_eq(st[2].wait_ms, 60000);
    cr_expect_eq(st[3].percent, 100);
}

Test(plan, explicit_steps_with_pause)
{
    bg_strategy_step_t list[] = {{false, 5, 1000}, {false, 25, 0}, {true, 0, 0}, {false, 60, 0}};
    bg_strategy_t s = {.kind = BG_STRATEGY_STEPS, .steps = list, .n_steps = 4};
    bg_plan_step_t st[BG_PLAN_MAX_STEPS];
    char text[256];
    size_t n = bg_plan_steps(&s, st);
    cr_assert_eq(n, 5);
    cr_expect_eq(st[0].percent, 5);
    cr_expect_eq(st[0].wait_ms, 1000);
    cr_expect(st[2].pause);
    cr_expect_eq(st[2].percent, 25, "a pause holds the weight it follows");
    cr_expect_eq(st[3].percent, 60);
    cr_expect_eq(st[4].percent, 100, "a plan always ends at 100%%");
    cr_expect_str_eq(bg_plan_describe(&s, text, sizeof(text)),
                     "steps: 5% -> 25% -> pause -> 60% -> 100%");
}

Test(plan, descriptions)
{
    bg_strategy_t s = {.kind = BG_STRATEGY_CANARY, .percent = 10, .wait_ms = 300000};
    char text[128];
    cr_expect_str_eq(bg_plan_describe(&s, text, sizeof(text)), "canary: 10% for 5m, then 100%");
    s = (bg_strategy_t){.kind = BG_STRATEGY_LINEAR, .percent = 10, .every_ms = 60000};
    cr_expect_str_eq(bg_plan_describe(&s, text, sizeof(text)), "linear: +10% every 1m to 100%");
}
