/* Unit tests for compat/gate.c and world.c: both directions of the gate, split states,
 * a provider serving two major versions at once, missing providers, providers whose name
 * is not their API's, edges that are not the deployed service's business, the rollback
 * gate, the structured fields and JSON of an edge, and declarations that do not parse. */
#include "helpers.h"

#define ORDERS_21 "{provides: {orders: 2.1.0}, requires: {payments: '^1.4'}}"
#define ORDERS_30 "{provides: {orders: 3.0.0}, requires: {payments: '^2.0'}}"
#define PAY_19 "{provides: {payments: 1.9.2}}"
#define PAY_20 "{provides: {payments: 2.0.0}}"

/* payments 1.9.2 (blue 100%), orders 2.1.0 (blue 100%) */
static bg_compat_world_t *base_world(void)
{
    bg_compat_world_t *w = bg_compat_world_new();

    put(w, "payments", BG_SLOT_BLUE, 100, "1.9.2", PAY_19);
    put(w, "orders", BG_SLOT_BLUE, 100, "2.1.0", ORDERS_21);
    return w;
}

Test(gate, compatible_world_passes_for_every_service)
{
    bg_compat_world_t *w = base_world();

    EXPECT_GATE(w, "orders", NULL, "");
    EXPECT_GATE(w, "payments", NULL, "");
    bg_compat_world_free(w);
    NO_LEAKS();
}

Test(gate, unknown_service_is_not_found)
{
    bg_compat_world_t *w = base_world();
    bg_compat_result_t res;

    bg_compat_result_init(&res);
    cr_expect_eq(bg_compat_check(w, "nope", NULL, &res), BG_ENOTFOUND);
    cr_expect_eq(res.n_edges, 0);
    bg_compat_world_free(w);
    NO_LEAKS();
}

/* (a) the new consumer's requirement against the live provider, with every field. */
Test(gate, outgoing_requirement_names_the_edge)
{
    bg_compat_world_t *w = bg_compat_world_new();
    bg_compat_world_t *after;
    bg_compat_result_t res;
    const bg_compat_edge_t *e;

    put(w, "payments", BG_SLOT_BLUE, 100, "1.9.2", PAY_19);
    put(w, "orders", BG_SLOT_BLUE, 100, "2.2.0", "{requires: {payments: '^1.4'}}");
    after = step(w, "orders", 100, "2.3.0", "{requires: {payments: '^2.0'}}");
    bg_compat_result_init(&res);
    cr_assert_eq(bg_compat_check(after, "orders", NULL, &res), 0);
    cr_assert_eq(res.n_edges, 1);
    e = &res.edges[0];
    cr_expect_str_eq(e->message, "orders 2.3.0 requires payments ^2.0; live payments is 1.9.2 "
                                 "(blue, 100%)");
    cr_expect_eq(e->kind, BG_COMPAT_EDGE_REQUIRES);
    cr_expect_str_eq(e->consumer, "orders");
    cr_expect_str_eq(e->consumer_version, "2.3.0");
    cr_expect_eq(e->consumer_slot, BG_SLOT_GREEN);
    cr_expect_str_eq(e->api, "payments");
    cr_expect_str_eq(e->range, "^2.0");
    cr_expect_str_eq(e->provider, "payments");
    cr_assert_eq(e->n_provider_live, 1);
    cr_expect_eq(e->provider_live[0].slot, BG_SLOT_BLUE);
    cr_expect_eq(e->provider_live[0].weight_pct, 100);
    cr_expect_str_eq(e->provider_live[0].version, "1.9.2");
    cr_assert_eq(e->provider_live[0].n_api_versions, 1);
    cr_expect_str_eq(e->provider_live[0].api_versions[0], "1.9.2");
    cr_expect_not(e->provider_live[0].ok);
    bg_compat_result_fini(&res);
    bg_compat_world_free(after);
    bg_compat_world_free(w);
    NO_LEAKS();
}

/* (b) a live consumer's requirement against the new provider: split, then 100%. */
Test(gate, incoming_requirement_split_and_full)
{
    bg_compat_world_t *w = base_world();
    bg_compat_world_t *split = step(w, "payments", 10, "2.0.0", PAY_20);
    bg_compat_world_t *full = step(w, "payments", 100, "2.0.0", PAY_20);

    EXPECT_GATE(split, "payments", NULL,
                "orders 2.1.0 requires payments ^1.4; live payments is 1.9.2 (blue, 90%), "
                "2.0.0 (green, 10%)");
    EXPECT_GATE(full, "payments", NULL,
                "orders 2.1.0 requires payments ^1.4; live payments is 2.0.0 (green, 100%)");
    bg_compat_world_free(split);
    bg_compat_world_free(full);
    bg_compat_world_free(w);
    NO_LEAKS();
}

/* While split, both old and new of the deployed consumer are live: each is judged. */
Test(gate, split_consumer_judges_old_and_new)
{
    bg_compat_world_t *w = base_world();
    bg_compat_world_t *split = step(w, "orders", 50, "3.0.0", ORDERS_30);

    EXPECT_GATE(split, "orders", NULL,
                "orders 3.0.0 requires payments ^2.0; live payments is 1.9.2 (blue, 100%)");
    bg_compat_world_free(split);
    /* a provider with both majors satisfies old and new orders at once */
    put(w, "payments", BG_SLOT_BLUE, 100, "1.10.0", "{provides: {payments: [1.10.0, 2.0.0]}}");
    split = step(w, "orders", 50, "3.0.0", ORDERS_30);
    EXPECT_GATE(split, "orders", NULL, "");
    EXPECT_GATE(split, "payments", NULL, "");
    bg_compat_world_free(split);
    bg_compat_world_free(w);
    NO_LEAKS();
}

Test(gate, provider_with_two_major_versions)
{
    bg_compat_world_t *w = base_world();
    bg_compat_world_t *expand =
        step(w, "payments", 10, "1.10.0", "{provides: {payments: [1.10.0, 2.0.0]}}");
    bg_compat_world_t *need3;

    EXPECT_GATE(expand, "payments", NULL, "");
    bg_compat_world_free(w);
    w = expand;
    expand = step(w, "payments", 100, "1.10.0", "{provides: {payments: [1.10.0, 2.0.0]}}");
    need3 = step(expand, "orders", 100, "4.0.0", "{requires: {payments: '^3'}}");
    EXPECT_GATE(need3, "orders", NULL,
                "orders 4.0.0 requires payments ^3; live payments is [1.10.0, 2.0.0] "
                "(green, 100%)");
    bg_compat_world_free(need3);
    bg_compat_world_free(expand);
    bg_compat_world_free(w);
    NO_LEAKS();
}

Test(gate, missing_provider)
{
    bg_compat_world_t *w = bg_compat_world_new();
    bg_compat_result_t res;

    put(w, "orders", BG_SLOT_BLUE, 100, "2.3.0", "{requires: {payments: '^2.0'}}");
    EXPECT_GATE(w, "orders", NULL,
                "orders 2.3.0 requires payments ^2.0; no live service provides payments");
    /* a provider at weight 0 is not live */
    put(w, "payments", BG_SLOT_BLUE, 0, "2.0.0", PAY_20);
    bg_compat_result_init(&res);
    cr_assert_eq(bg_compat_check(w, "orders", NULL, &res), 0);
    cr_assert_eq(res.n_edges, 1);
    cr_expect_eq(res.edges[0].kind, BG_COMPAT_EDGE_NO_PROVIDER);
    cr_expect_null(res.edges[0].provider);
    cr_expect_eq(res.edges[0].n_provider_live, 0);
    bg_compat_result_fini(&res);
    cr_assert_eq(bg_compat_world_set_weights(w, "payments", 100, 0), 0);
    EXPECT_GATE(w, "orders", NULL, "");
    bg_compat_world_free(w);
    NO_LEAKS();
}

/* A provider that drops an API altogether: its consumers lose their only provider. */
Test(gate, provider_dropping_an_api)
{
    bg_compat_world_t *w = base_world();
    bg_compat_world_t *split = step(w, "payments", 10, "3.0.0", "{provides: {billing: 1.0.0}}");
    bg_compat_world_t *full = step(w, "payments", 100, "3.0.0", "{provides: {billing: 1.0.0}}");

    EXPECT_GATE(split, "payments", NULL,
                "orders 2.1.0 requires payments ^1.4; live payments is 1.9.2 (blue, 90%), 3.0.0 "
                "(green, 10%) which does not provide payments");
    EXPECT_GATE(full, "payments", NULL,
                "orders 2.1.0 requires payments ^1.4; no live service provides payments");
    bg_compat_world_free(split);
    bg_compat_world_free(full);
    bg_compat_world_free(w);
    NO_LEAKS();
}

Test(gate, provider_named_differently_from_its_api)
{
    bg_compat_world_t *w = bg_compat_world_new();

    put(w, "stock", BG_SLOT_GREEN, 100, "7.0.0", "{provides: {inventory: 3.0.0}}");
    put(w, "orders", BG_SLOT_BLUE, 100, "2.3.0", "{requires: {inventory: '>=3.1'}}");
    EXPECT_GATE(w, "orders", NULL,
                "orders 2.3.0 requires inventory >=3.1; live stock serves inventory 3.0.0 "
                "(green, 100%)");
    EXPECT_GATE(w, "stock", NULL,
                "orders 2.3.0 requires inventory >=3.1; live stock serves inventory 3.0.0 "
                "(green, 100%)");
    bg_compat_world_free(w);
    NO_LEAKS();
}

/* Every live provider of an API must satisfy; each failing one is its own edge. */
Test(gate, every_provider_of_an_api_is_judged)
{
    bg_compat_world_t *w = bg_compat_world_new();

    put(w, "pay-eu", BG_SLOT_BLUE, 100, "2.0.0", PAY_20);
    put(w, "pay-us", BG_SLOT_BLUE, 100, "1.9.2", PAY_19);
    put(w, "orders", BG_SLOT_BLUE, 100, "3.0.0", ORDERS_30);
    EXPECT_GATE(w, "orders", NULL,
                "orders 3.0.0 requires payments ^2.0; live pay-us serves payments 1.9.2 "
                "(blue, 100%)");
    EXPECT_GATE(w, "pay-eu", NULL, "");
    bg_compat_world_free(w);
    NO_LEAKS();
}

/* A broken edge between two other services is not this deployment's business. */
Test(gate, unrelated_broken_edges_are_not_reported)
{
    bg_compat_world_t *w = base_world();

    put(w, "search", BG_SLOT_BLUE, 100, "1.0.0", "{requires: {index: '^9'}}");
    put(w, "users", BG_SLOT_BLUE, 100, "1.0.0", "{provides: {users: 1.0.0}}");
    EXPECT_GATE(w, "orders", NULL, "");
    EXPECT_GATE(w, "users", NULL, "");
    EXPECT_GATE(w, "search", NULL,
                "search 1.0.0 requires index ^9; no live service provides index");
    bg_compat_world_free(w);
    NO_LEAKS();
}

Test(gate, whole_deployment_up_front)
{
    bg_compat_world_t *w = base_world();
    bg_compat_result_t res;
    bg_revision_config_t rev;
    bg_err_t err = {0};

    rev_make(&rev, "2.0.0", PAY_20);
    bg_compat_result_init(&res);
    cr_assert_eq(bg_compat_check_deploy(w, "payments", BG_SLOT_GREEN, &rev, 10, NULL, &res, &err),
                 0);
    cr_assert_eq(res.n_edges, 2);
    cr_expect_str_eq(res.edges[0].message, "orders 2.1.0 requires payments ^1.4; live payments is "
                                           "1.9.2 (blue, 90%), 2.0.0 (green, 10%)");
    cr_expect_str_eq(res.edges[1].message,
                     "orders 2.1.0 requires payments ^1.4; live payments is 2.0.0 (green, 100%)");
    bg_compat_result_fini(&res);
    /* all-at-once: only the final state */
    cr_assert_eq(bg_compat_check_deploy(w, "payments", BG_SLOT_GREEN, &rev, 100, NULL, &res, &err),
                 0);
    cr_expect_eq(res.n_edges, 1);
    bg_compat_result_fini(&res);
    cr_expect_eq(bg_compat_check_deploy(w, "payments", BG_SLOT_GREEN, &rev, 0, NULL, &res, &err),
                 BG_EINVAL);
    bg_revision_config_fini(&rev);
    /* a compatible revision passes, split and full */
    rev_make(&rev, "1.10.0", "{provides: {payments: [1.10.0, 2.0.0]}}");
    cr_assert_eq(bg_compat_check_deploy(w, "payments", BG_SLOT_GREEN, &rev, 10, NULL, &res, &err),
                 0);
    cr_expect_eq(res.n_edges, 0);
    bg_revision_config_fini(&rev);
    /* declarations that do not parse */
    rev_make_raw_range(&rev, "1.10.0", "x", ">>1");
    cr_expect_eq(bg_compat_check_deploy(w, "payments", BG_SLOT_GREEN, &rev, 10, NULL, &res, &err),
                 BG_EINVAL);
    cr_expect_str_eq(err.key, "payments.api.requires.x");
    bg_revision_config_fini(&rev);
    bg_compat_result_fini(&res);
    bg_compat_world_free(w);
    NO_LEAKS();
}

Test(gate, rollback_gate_names_the_consumer_that_would_break)
{
    bg_compat_world_t *w = base_world();
    bg_compat_world_t *done =
        step(w, "payments", 100, "1.10.0", "{provides: {payments: [1.10.0, 2.0.0]}}");
    bg_compat_world_t *after = step(done, "orders", 100, "3.0.0", ORDERS_30);
    bg_compat_result_t res;

    /* payments' new revision (green) introduced 2.0.0; orders 3.0.0 now depends on it */
    bg_compat_result_init(&res);
    cr_assert_eq(bg_compat_check_rollback(after, "payments", BG_SLOT_BLUE, NULL, &res), 0);
    cr_assert_eq(res.n_edges, 1);
    cr_expect_str_eq(res.edges[0].message,
                     "orders 3.0.0 requires payments ^2.0; after rollback payments would be "
                     "1.9.2 (blue, 100%)");
    cr_expect_str_eq(res.edges[0].consumer, "orders");
    bg_compat_result_fini(&res);
    /* the world itself is unchanged by the question */
    EXPECT_GATE(after, "payments", NULL, "");
    /* orders can still go back: its old revision needs ^1.4, still served by 1.10.0 */
    bg_compat_result_init(&res);
    cr_assert_eq(bg_compat_check_rollback(after, "orders", BG_SLOT_BLUE, NULL, &res), 0);
    cr_expect_eq(res.n_edges, 0);
    bg_compat_result_fini(&res);
    bg_compat_world_free(after);
    bg_compat_world_free(done);
    bg_compat_world_free(w);
    NO_LEAKS();
}

/* The old revision's own requirements are judged too: what it needed may be gone. */
Test(gate, rollback_gate_judges_the_old_revision)
{
    bg_compat_world_t *w = bg_compat_world_new();
    bg_compat_result_t res;

    put(w, "payments", BG_SLOT_BLUE, 0, "1.9.2", "{requires: {ledger: '^1', audit: '^1'}}");
    put(w, "payments", BG_SLOT_GREEN, 100, "2.0.0", "{requires: {ledger: '^2'}}");
    put(w, "ledger", BG_SLOT_BLUE, 100, "2.0.0", "{provides: {ledger: 2.0.0}}");
    bg_compat_result_init(&res);
    cr_assert_eq(bg_compat_check_rollback(w, "payments", BG_SLOT_BLUE, NULL, &res), 0);
    cr_assert_eq(res.n_edges, 2);
    cr_expect_str_eq(res.edges[0].message, "payments 1.9.2 requires ledger ^1; after rollback "
                                           "ledger would be 2.0.0 (blue, 100%)");
    cr_expect_str_eq(res.edges[1].message, "payments 1.9.2 requires audit ^1; after rollback no "
                                           "service would provide audit");
    bg_compat_result_fini(&res);
    bg_compat_world_free(w);
    NO_LEAKS();
}

Test(gate, rollback_gate_errors)
{
    bg_compat_world_t *w = base_world();
    bg_compat_result_t res;

    bg_compat_result_init(&res);
    cr_expect_eq(bg_compat_check_rollback(w, "nope", BG_SLOT_BLUE, NULL, &res), BG_ENOTFOUND);
    cr_expect_eq(bg_compat_check_rollback(w, "orders", BG_SLOT_GREEN, NULL, &res), BG_ECONFLICT);
    cr_expect_eq(res.n_edges, 0);
    bg_compat_world_free(w);
    NO_LEAKS();
}

Test(gate, result_json)
{
    bg_compat_world_t *w = base_world();
    bg_compat_world_t *split = step(w, "payments", 10, "2.0.0", PAY_20);
    bg_compat_result_t res;
    json_t *j, *e, *live;

    bg_compat_result_init(&res);
    cr_assert_eq(bg_compat_check(split, "payments", NULL, &res), 0);
    j = bg_compat_result_to_json(&res);
    cr_expect(json_is_false(json_object_get(j, "ok")));
    e = json_array_get(json_object_get(j, "broken"), 0);
    cr_assert_not_null(e);
    cr_expect_str_eq(json_string_value(json_object_get(e, "kind")), "requires");
    cr_expect_str_eq(json_string_value(json_object_get(e, "consumer")), "orders");
    cr_expect_str_eq(json_string_value(json_object_get(e, "consumer_version")), "2.1.0");
    cr_expect_str_eq(json_string_value(json_object_get(e, "range")), "^1.4");
    live = json_object_get(e, "provider_live");
    cr_assert_eq(json_array_size(live), 2);
    cr_expect(json_is_true(json_object_get(json_array_get(live, 0), "ok")));
    cr_expect(json_is_false(json_object_get(json_array_get(live, 1), "ok")));
    cr_expect_eq(json_integer_value(json_object_get(json_array_get(live, 1), "weight_pct")), 10);
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(live, 1), "slot")), "green");
    json_decref(j);
    bg_compat_result_fini(&res);
    bg_compat_world_free(split);
    bg_compat_world_free(w);
    NO_LEAKS();
}

Test(world, weights_slots_and_next_slot)
{
    bg_compat_world_t *w = base_world();
    uint32_t weight = 0;
    bg_revision_config_t rev;
    bg_err_t err = {0};

    cr_expect_eq(bg_compat_world_size(w), 2);
    cr_expect_str_eq(bg_compat_world_service(w, 1), "orders");
    cr_expect_eq(bg_compat_world_next_slot(w, "orders"), BG_SLOT_GREEN);
    cr_expect_eq(bg_compat_world_next_slot(w, "new"), BG_SLOT_BLUE);
    cr_expect_str_eq(bg_compat_world_version(w, "orders", BG_SLOT_BLUE, &weight), "2.1.0");
    cr_expect_eq(weight, 100);
    cr_expect_null(bg_compat_world_version(w, "orders", BG_SLOT_GREEN, &weight));
    cr_expect_eq(bg_compat_world_set_weights(w, "orders", 0, 100), BG_EINVAL); /* green empty */
    cr_expect_eq(bg_compat_world_set_weights(w, "nope", 100, 0), BG_ENOTFOUND);
    rev_make(&rev, "2.2.0", NULL);
    cr_expect_eq(bg_compat_world_set_slot(w, "orders", BG_SLOT_GREEN, &rev, 101, &err), BG_EINVAL);
    cr_expect_null(bg_compat_world_with_step(w, "orders", BG_SLOT_GREEN, &rev, 101, &err));
    bg_revision_config_fini(&rev);
    bg_compat_world_clear_slot(w, "payments", BG_SLOT_BLUE);
    EXPECT_GATE(w, "orders", NULL,
                "orders 2.1.0 requires payments ^1.4; no live service provides payments");
    bg_compat_world_free(w);
    NO_LEAKS();
}

Test(world, from_config)
{
    static const char text[] = "services:\n"
                               "  payments:\n"
                               "    route: {host: payments.local}\n"
                               "    run: {command: [./app]}\n"
                               "    version: 1.9.2\n"
                               "    api: {provides: {payments: 1.9.2}}\n"
                               "  orders:\n"
                               "    route: {host: orders.local}\n"
                               "    run: {command: [./app]}\n"
                               "    version: 3.0.0\n"
                               "    traffic: {blue: 70, green: 30}\n"
                               "    api: {requires: {payments: '^2'}}\n";
    bg_err_t err = {0};
    bg_config_t *cfg = bg_config_parse(text, sizeof(text) - 1, "bluegreen.yaml", &err);
    bg_compat_world_t *w;
    uint32_t weight = 0;

    cr_assert_not_null(cfg, "%s", err.msg);
    w = bg_compat_world_from_config(cfg, &err);
    cr_assert_not_null(w, "%s", err.msg);
    cr_expect_str_eq(bg_compat_world_version(w, "orders", BG_SLOT_GREEN, &weight), "3.0.0");
    cr_expect_eq(weight, 30);
    EXPECT_GATE(w, "orders", NULL,
                "orders 3.0.0 requires payments ^2; live payments is 1.9.2 (blue, 100%)");
    bg_compat_world_free(w);
    bg_config_free(cfg);
    NO_LEAKS();
}

/* Declarations that do not parse: semver's message, our key path. */
Test(declarations, bad_range_and_version_are_precise)
{
    bg_compat_world_t *w = bg_compat_world_new();
    bg_revision_config_t rev;
    bg_err_t err = {0};

    rev_make_raw_range(&rev, "2.3.0", "payments", "^1.4 || >=2.x.y");
    cr_expect_eq(bg_compat_world_set_slot(w, "orders", BG_SLOT_BLUE, &rev, 100, &err), BG_EINVAL);
    cr_expect_str_eq(err.key, "orders.api.requires.payments");
    cr_expect(strstr(err.msg, "invalid range \"^1.4 || >=2.x.y\"") != NULL, "%s", err.msg);
    cr_expect(strstr(err.msg, "column 13") != NULL, "%s", err.msg);
    cr_expect_eq(err.column, 13);
    cr_expect_eq(bg_compat_world_size(w), 0, "a failed set leaves the world unchanged");
    cr_expect_eq(bg_compat_api_validate(&rev.api, NULL, &err), BG_EINVAL);
    cr_expect_str_eq(err.key, "api.requires.payments");
    bg_revision_config_fini(&rev);

    /* the config parser checks provided versions; a hand-built declaration is checked too */
    {
        char *versions[] = {"1.0.0", "2.0"};
        bg_api_provide_t p = {.api = "payments", .versions = versions, .n_versions = 2};
        bg_api_config_t api = {.provides = &p, .n_provides = 1};
        cr_expect_eq(bg_compat_api_validate(&api, "services.payments", &err), BG_EINVAL);
        cr_expect_str_eq(err.key, "services.payments.api.provides.payments[1]");
        cr_expect(strstr(err.msg, "invalid version \"2.0\"") != NULL, "%s", err.msg);
    }
    bg_compat_world_free(w);
    NO_LEAKS();
}
