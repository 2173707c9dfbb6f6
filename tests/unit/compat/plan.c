/* Unit tests for compat/plan.c: provider first when a consumer starts requiring a new API,
 * consumer first when a provider drops one, a three-service chain, split states that no
 * order can avoid, services already at their target, an impossible release explained by
 * its constraint cycle with a verified expand/contract hint, and the JSON/text output. */
#include "helpers.h"

#include "base/mem.h"

/* A release from inline revisions: "name|version|api" triples. */
static void release_of(bg_compat_release_t *rel, const char *const *spec, size_t n)
{
    char text[4096];
    size_t len = 0;
    bg_err_t err = {0};

    len += (size_t)snprintf(text + len, sizeof(text) - len, "services:\n");
    for (size_t i = 0; i < n; i += 3)
        len += (size_t)snprintf(text + len, sizeof(text) - len,
                                "  %s: {version: %s, run: {command: [./app]}, api: %s}\n", spec[i],
                                spec[i + 1], spec[i + 2]);
    cr_assert_eq(bg_compat_release_parse(text, len, "RELEASE.yaml", NULL, rel, &err), 0, "%s\n%s",
                 err.msg, text);
}

/* "svc from->to, ..." of a plan */
static char *order_of(const bg_compat_plan_t *plan)
{
    char *out = calloc(1, 512);
    size_t n = 0;

    for (size_t i = 0; i < plan->n_steps; i++)
        n +=
            (size_t)snprintf(out + n, 512 - n, "%s%s %s->%s", i ? ", " : "", plan->steps[i].service,
                             plan->steps[i].from_version ? plan->steps[i].from_version : "new",
                             plan->steps[i].to_version);
    return out;
}

static void plan_ok(const bg_compat_world_t *w, const bg_compat_release_t *rel,
                    const bg_compat_rules_t *rules, const char *want)
{
    bg_compat_plan_t plan;
    bg_err_t err = {0};
    char *got;

    cr_assert_eq(bg_compat_plan(w, rel, rules, &plan, &err), 0, "%s", err.msg);
    cr_assert(plan.ok, "no plan: %s", plan.explanation);
    cr_expect_null(plan.explanation);
    got = order_of(&plan);
    cr_expect_str_eq(got, want);
    free(got);
    bg_compat_plan_fini(&plan);
}

static bg_compat_world_t *orders_payments(const char *pay_provides)
{
    bg_compat_world_t *w = bg_compat_world_new();

    put(w, "payments", BG_SLOT_BLUE, 100, "1.9.2", pay_provides);
    put(w, "orders", BG_SLOT_BLUE, 100, "2.1.0",
        "{provides: {orders: 2.1.0}, requires: {payments: '^1.4'}}");
    return w;
}

Test(plan, provider_first_when_a_consumer_needs_a_new_api)
{
    bg_compat_world_t *w = orders_payments("{provides: {payments: 1.9.2}}");
    static const char *const spec[] = {
        "orders",   "2.2.0",  "{requires: {payments: '^1.10'}}",
        "payments", "1.10.0", "{provides: {payments: 1.10.0}}",
    };
    bg_compat_release_t rel;

    release_of(&rel, spec, BG_ARRAY_LEN(spec));
    plan_ok(w, &rel, NULL, "payments 1.9.2->1.10.0, orders 2.1.0->2.2.0");
    bg_compat_release_fini(&rel);
    bg_compat_world_free(w);
    NO_LEAKS();
}

Test(plan, consumer_first_when_a_provider_drops_an_api)
{
    bg_compat_world_t *w = orders_payments("{provides: {payments: [1.9.2, 2.0.0]}}");
    static const char *const spec[] = {
        "payments", "3.0.0", "{provides: {payments: 2.0.0}}",
        "orders",   "3.0.0", "{requires: {payments: '^2.0'}}",
    };
    bg_compat_release_t rel;
    bg_compat_plan_t plan;
    bg_err_t err = {0};

    release_of(&rel, spec, BG_ARRAY_LEN(spec));
    plan_ok(w, &rel, NULL, "orders 2.1.0->3.0.0, payments 1.9.2->3.0.0");
    cr_assert_eq(bg_compat_plan(w, &rel, NULL, &plan, &err), 0);
    cr_expect_eq(plan.steps[0].entry, 1, "entry indexes the release");
    cr_expect_eq(plan.steps[0].slot, BG_SLOT_GREEN);
    bg_compat_plan_fini(&plan);
    bg_compat_release_fini(&rel);
    bg_compat_world_free(w);
    NO_LEAKS();
}

/* web needs orders 3 which needs payments 2: payments, orders, web, whatever the file
 * order; each provider keeps serving the old major for the consumers not yet moved. */
Test(plan, three_service_chain)
{
    bg_compat_world_t *w = orders_payments("{provides: {payments: 1.9.2}}");
    static const char *const spec[] = {
        "web",      "2.0.0", "{requires: {orders: '^3'}}",
        "orders",   "3.0.0", "{provides: {orders: [2.1.0, 3.0.0]}, requires: {payments: '^2'}}",
        "payments", "2.0.0", "{provides: {payments: [1.9.2, 2.0.0]}}",
    };
    bg_compat_release_t rel;

    put(w, "web", BG_SLOT_GREEN, 100, "1.0.0", "{requires: {orders: '^2.1'}}");
    release_of(&rel, spec, BG_ARRAY_LEN(spec));
    plan_ok(w, &rel, NULL, "payments 1.9.2->2.0.0, orders 2.1.0->3.0.0, web 1.0.0->2.0.0");
    bg_compat_release_fini(&rel);
    bg_compat_world_free(w);
    NO_LEAKS();
}

Test(plan, unchanged_and_new_services)
{
    bg_compat_world_t *w = orders_payments("{provides: {payments: 1.9.2}}");
    static const char *const spec[] = {
        "orders",   "2.1.0", "{provides: {orders: 2.1.0}, requires: {payments: '^1.4'}}",
        "search",   "1.0.0", "{requires: {payments: '^1'}, provides: {search: 1.0.0}}",
        "payments", "1.9.2", "{provides: {payments: 1.9.2}}",
    };
    bg_compat_release_t rel;
    bg_compat_plan_t plan;
    bg_err_t err = {0};
    char *text;

    release_of(&rel, spec, BG_ARRAY_LEN(spec));
    cr_assert_eq(bg_compat_plan(w, &rel, NULL, &plan, &err), 0);
    cr_assert(plan.ok);
    cr_assert_eq(plan.n_unchanged, 2);
    cr_expect_str_eq(plan.unchanged[0], "orders");
    cr_expect_str_eq(plan.unchanged[1], "payments");
    cr_assert_eq(plan.n_steps, 1);
    cr_expect_null(plan.steps[0].from_version);
    cr_expect_eq(plan.steps[0].slot, BG_SLOT_BLUE);
    text = bg_compat_plan_format(&plan);
    cr_expect_str_eq(text, "1. search (new) -> 1.0.0 (blue)\n"
                           "orders already live at its target\n"
                           "payments already live at its target\n");
    free(text);
    bg_compat_plan_fini(&plan);
    bg_compat_release_fini(&rel);
    bg_compat_world_free(w);
    NO_LEAKS();
}

/* The example of docs/design.md §6: orders 3 needs payments 2, payments 2 drops the 1.x orders 2
 * needs. Each must go first; the hint is payments serving both majors. */
Test(plan, impossible_release_explains_cycle_and_expand_contract)
{
    bg_compat_world_t *w = orders_payments("{provides: {payments: 1.9.2}}");
    static const char *const spec[] = {
        "orders",   "3.0.0", "{provides: {orders: 3.0.0}, requires: {payments: '^2.0'}}",
        "payments", "2.0.0", "{provides: {payments: 2.0.0}}",
    };
    bg_compat_release_t rel;
    bg_compat_plan_t plan;
    bg_err_t err = {0};
    json_t *j, *hint;
    char *text;

    release_of(&rel, spec, BG_ARRAY_LEN(spec));
    cr_assert_eq(bg_compat_plan(w, &rel, NULL, &plan, &err), 0, "%s", err.msg);
    cr_assert_not(plan.ok);
    cr_expect_eq(plan.n_steps, 0);
    cr_assert_eq(plan.n_cycle, 2);
    cr_expect_str_eq(plan.cycle[0].first, "payments");
    cr_expect_str_eq(plan.cycle[0].then, "orders");
    cr_expect_str_eq(plan.cycle[0].reason, "orders 3.0.0 needs payments ^2.0 (payments first)");
    cr_expect_str_eq(plan.cycle[1].first, "orders");
    cr_expect_str_eq(plan.cycle[1].then, "payments");
    cr_expect_str_eq(plan.cycle[1].reason, "payments 2.0.0 drops payments ^1.4 that live orders "
                                           "2.1.0 requires (orders first)");
    cr_expect_str_eq(plan.hint_service, "payments");
    cr_expect_str_eq(plan.hint_api, "payments");
    cr_assert_eq(plan.n_hint_versions, 2);
    cr_expect_str_eq(plan.hint_versions[0], "1.9.2");
    cr_expect_str_eq(plan.hint_versions[1], "2.0.0");
    cr_expect(plan.hint_verified);
    cr_expect_str_eq(plan.explanation,
                     "no order of this release keeps every intermediate state compatible:\n"
                     "  orders 3.0.0 needs payments ^2.0 (payments first)\n"
                     "  payments 2.0.0 drops payments ^1.4 that live orders 2.1.0 requires "
                     "(orders first)\n"
                     "to unblock it (expand/contract), deploy payments providing [1.x, 2.0.0] "
                     "first, e.g. payments: [1.9.2, 2.0.0] (as payments 2.0.0), then orders "
                     "3.0.0, then payments 2.0.0");
    text = bg_compat_plan_format(&plan);
    cr_expect(strncmp(text, plan.explanation, strlen(plan.explanation)) == 0);
    free(text);
    j = bg_compat_plan_to_json(&plan);
    cr_expect(json_is_false(json_object_get(j, "ok")));
    cr_expect_eq(json_array_size(json_object_get(j, "cycle")), 2);
    hint = json_object_get(j, "hint");
    cr_expect_str_eq(json_string_value(json_object_get(hint, "service")), "payments");
    cr_expect_eq(json_array_size(json_object_get(hint, "versions")), 2);
    cr_expect(json_is_true(json_object_get(hint, "verified")));
    cr_expect_str_eq(json_string_value(json_object_get(j, "explanation")), plan.explanation);
    json_decref(j);
    bg_compat_plan_fini(&plan);
    bg_compat_release_fini(&rel);
    bg_compat_world_free(w);
    NO_LEAKS();
}

/* A live consumer outside the release blocks the provider whatever the order. */
Test(plan, blocker_outside_the_release)
{
    bg_compat_world_t *w = orders_payments("{provides: {payments: 1.9.2}}");
    static const char *const spec[] = {"payments", "2.0.0", "{provides: {payments: 2.0.0}}"};
    bg_compat_release_t rel;
    bg_compat_plan_t plan;
    bg_err_t err = {0};

    release_of(&rel, spec, BG_ARRAY_LEN(spec));
    cr_assert_eq(bg_compat_plan(w, &rel, NULL, &plan, &err), 0);
    cr_assert_not(plan.ok);
    cr_expect_eq(plan.n_cycle, 0);
    cr_assert_eq(plan.blockers.n_edges, 2);
    cr_expect_str_eq(plan.blockers.edges[0].message,
                     "orders 2.1.0 requires payments ^1.4; live payments is 1.9.2 (blue, 50%), "
                     "2.0.0 (green, 50%)");
    cr_expect_str_eq(plan.explanation,
                     "no order of this release keeps every intermediate state compatible:\n"
                     "  orders 2.1.0 requires payments ^1.4; live payments is 1.9.2 (blue, 50%), "
                     "2.0.0 (green, 50%)\n"
                     "  orders 2.1.0 requires payments ^1.4; live payments is 2.0.0 (green, "
                     "100%)");
    bg_compat_plan_fini(&plan);
    bg_compat_release_fini(&rel);
    bg_compat_world_free(w);
    NO_LEAKS();
}

/* The split state is judged too: old and new orders may not run side by side, so no
 * order works, though every state at 100% would be fine. */
Test(plan, split_states_are_judged)
{
    bg_compat_world_t *w = orders_payments("{provides: {payments: 1.9.2}}");
    static const char *const spec[] = {"orders", "3.0.0", "{requires: {payments: '^1'}}"};
    bg_compat_rules_t *r = rules_ok("rules:\n"
                                    "  - {service: orders, version: '3.x', incompatible_with: "
                                    "{service: orders, version: '<3'}, reason: new schema}\n");
    bg_compat_release_t rel;
    bg_compat_plan_t plan;
    bg_err_t err = {0};

    release_of(&rel, spec, BG_ARRAY_LEN(spec));
    cr_assert_eq(bg_compat_plan(w, &rel, r, &plan, &err), 0);
    cr_assert_not(plan.ok);
    cr_assert_eq(plan.blockers.n_edges, 1);
    cr_expect_str_eq(plan.blockers.edges[0].message,
                     "orders 3.0.0 is incompatible with orders <3 (new schema); live orders is "
                     "2.1.0 (blue, 50%), 3.0.0 (green, 50%)");
    bg_compat_plan_fini(&plan);
    /* without the rule it is a plain one-step plan */
    plan_ok(w, &rel, NULL, "orders 2.1.0->3.0.0");
    bg_compat_release_fini(&rel);
    bg_compat_rules_free(r);
    bg_compat_world_free(w);
    NO_LEAKS();
}

/* Rules order a release too: inventory 3.1 must be live before orders 2.x. */
Test(plan, rules_order_the_release)
{
    bg_compat_world_t *w = bg_compat_world_new();
    static const char *const spec[] = {
        "orders", "2.3.0", "{}", "inventory", "3.1.0", "{}",
    };
    bg_compat_rules_t *r = rules_ok("rules:\n"
                                    "  - {service: orders, version: '2.x', incompatible_with: "
                                    "{service: inventory, version: '<3.1'}}\n");
    bg_compat_release_t rel;

    put(w, "orders", BG_SLOT_BLUE, 100, "1.5.0", NULL);
    put(w, "inventory", BG_SLOT_BLUE, 100, "3.0.0", NULL);
    release_of(&rel, spec, BG_ARRAY_LEN(spec));
    plan_ok(w, &rel, r, "inventory 3.0.0->3.1.0, orders 1.5.0->2.3.0");
    plan_ok(w, &rel, NULL, "orders 1.5.0->2.3.0, inventory 3.0.0->3.1.0");
    bg_compat_release_fini(&rel);
    bg_compat_rules_free(r);
    bg_compat_world_free(w);
    NO_LEAKS();
}

/* Each first step is fine, but whichever goes first blocks the other (a rule between the
 * two new versions): the explanation says where the search got stuck. */
Test(plan, stuck_after_the_first_step)
{
    bg_compat_world_t *w = bg_compat_world_new();
    static const char *const spec[] = {"x", "2.0.0", "{}", "y", "2.0.0", "{}"};
    bg_compat_rules_t *r = rules_ok("rules:\n"
                                    "  - {service: x, version: '2.x', incompatible_with: "
                                    "{service: y, version: '2.x'}}\n");
    bg_compat_release_t rel;
    bg_compat_plan_t plan;
    bg_err_t err = {0};

    put(w, "x", BG_SLOT_BLUE, 100, "1.0.0", NULL);
    put(w, "y", BG_SLOT_BLUE, 100, "1.0.0", NULL);
    release_of(&rel, spec, BG_ARRAY_LEN(spec));
    cr_assert_eq(bg_compat_plan(w, &rel, r, &plan, &err), 0);
    cr_assert_not(plan.ok);
    cr_expect_eq(plan.n_cycle, 0);
    cr_expect_null(plan.hint_service);
    cr_expect_str_eq(plan.explanation,
                     "no order of this release keeps every intermediate state compatible:\n"
                     "  once x 2.0.0 is live, every remaining step breaks:\n"
                     "  x 2.0.0 is incompatible with y 2.x; live y is 1.0.0 (blue, 50%), 2.0.0 "
                     "(green, 50%)\n"
                     "  x 2.0.0 is incompatible with y 2.x; live y is 2.0.0 (green, 100%)");
    bg_compat_plan_fini(&plan);
    bg_compat_release_fini(&rel);
    bg_compat_rules_free(r);
    bg_compat_world_free(w);
    NO_LEAKS();
}

Test(plan, json_of_a_plan)
{
    bg_compat_world_t *w = orders_payments("{provides: {payments: 1.9.2}}");
    static const char *const spec[] = {"payments", "1.10.0", "{provides: {payments: 1.10.0}}"};
    bg_compat_release_t rel;
    bg_compat_plan_t plan;
    bg_err_t err = {0};
    json_t *j, *s;

    release_of(&rel, spec, BG_ARRAY_LEN(spec));
    cr_assert_eq(bg_compat_plan(w, &rel, NULL, &plan, &err), 0);
    j = bg_compat_plan_to_json(&plan);
    cr_expect(json_is_true(json_object_get(j, "ok")));
    s = json_array_get(json_object_get(j, "steps"), 0);
    cr_expect_str_eq(json_string_value(json_object_get(s, "service")), "payments");
    cr_expect_str_eq(json_string_value(json_object_get(s, "from_version")), "1.9.2");
    cr_expect_str_eq(json_string_value(json_object_get(s, "to_version")), "1.10.0");
    cr_expect_str_eq(json_string_value(json_object_get(s, "slot")), "green");
    cr_expect(json_is_null(json_object_get(j, "hint")));
    cr_expect(json_is_null(json_object_get(j, "explanation")));
    json_decref(j);
    bg_compat_plan_fini(&plan);
    bg_compat_release_fini(&rel);
    bg_compat_world_free(w);
    NO_LEAKS();
}
