/* Unit tests for compat/matrix.c: the services × services matrix as JSON (cells with
 * ranges, live versions and ok/broken, missing providers, rules) and its text rendering,
 * plain and coloured. */
#include "helpers.h"

/* payments 1.9.2 + 2.0.0 split, orders 2.1.0 (^1.4), web 1.0.0 (orders ^2, search ^1),
 * and a rule legacy 0.x ! orders <3. */
static bg_compat_world_t *sample(void)
{
    bg_compat_world_t *w = bg_compat_world_new();

    put(w, "payments", BG_SLOT_BLUE, 90, "1.9.2", "{provides: {payments: 1.9.2}}");
    put(w, "payments", BG_SLOT_GREEN, 10, "2.0.0", "{provides: {payments: 2.0.0}}");
    put(w, "orders", BG_SLOT_BLUE, 100, "2.1.0",
        "{provides: {orders: 2.1.0}, requires: {payments: '^1.4'}}");
    put(w, "web", BG_SLOT_GREEN, 100, "1.0.0", "{requires: {orders: '^2', search: '^1'}}");
    put(w, "legacy", BG_SLOT_BLUE, 100, "0.3.0", NULL);
    return w;
}

static const char RULE[] = "rules:\n"
                           "  - {service: legacy, version: '0.x', incompatible_with: "
                           "{service: orders, version: '<3'}, reason: shares a table}\n";

static json_t *find_cell(json_t *m, const char *consumer, const char *provider)
{
    size_t i;
    json_t *c;

    json_array_foreach(json_object_get(m, "cells"), i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "consumer")), consumer) == 0 &&
            strcmp(json_string_value(json_object_get(c, "provider")), provider) == 0)
            return c;
    }
    return NULL;
}

Test(matrix, json_cells_live_missing_and_broken)
{
    bg_compat_world_t *w = sample();
    bg_compat_rules_t *r = rules_ok(RULE);
    json_t *m = bg_compat_matrix_json(w, r);
    json_t *c, *live, *missing;

    cr_expect(json_is_false(json_object_get(m, "ok")));
    cr_expect_eq(json_array_size(json_object_get(m, "services")), 4);

    c = find_cell(m, "orders", "payments");
    cr_assert_not_null(c);
    cr_expect_str_eq(json_string_value(json_object_get(c, "api")), "payments");
    cr_expect_str_eq(json_string_value(json_object_get(c, "range")), "^1.4");
    cr_expect_str_eq(json_string_value(json_object_get(c, "consumer_version")), "2.1.0");
    cr_expect_str_eq(json_string_value(json_object_get(c, "status")), "broken");
    cr_expect_str_eq(json_string_value(json_array_get(json_object_get(c, "provider_versions"), 1)),
                     "2.0.0 (green, 10%)");
    cr_expect_str_eq(json_string_value(json_object_get(c, "message")),
                     "orders 2.1.0 requires payments ^1.4; live payments is 1.9.2 (blue, 90%), "
                     "2.0.0 (green, 10%)");

    c = find_cell(m, "web", "orders");
    cr_assert_not_null(c);
    cr_expect_str_eq(json_string_value(json_object_get(c, "status")), "ok");
    cr_expect_null(json_object_get(c, "message"));

    c = find_cell(m, "legacy", "orders");
    cr_assert_not_null(c);
    cr_expect(json_is_true(json_object_get(c, "rule")));
    cr_expect_str_eq(json_string_value(json_object_get(c, "status")), "broken");

    missing = json_object_get(m, "missing");
    cr_assert_eq(json_array_size(missing), 1);
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(missing, 0), "message")),
                     "web 1.0.0 requires search ^1; no live service provides search");

    live = json_object_get(json_object_get(m, "live"), "payments");
    cr_assert_eq(json_array_size(live), 2);
    cr_expect_str_eq(
        json_string_value(json_array_get(
            json_object_get(json_object_get(json_array_get(live, 1), "provides"), "payments"), 0)),
        "2.0.0");
    cr_expect_str_eq(
        json_string_value(json_object_get(
            json_object_get(
                json_array_get(json_object_get(json_object_get(m, "live"), "orders"), 0),
                "requires"),
            "payments")),
        "^1.4");
    cr_expect_eq(json_array_size(json_object_get(m, "broken")), 3);
    json_decref(m);
    bg_compat_rules_free(r);
    bg_compat_world_free(w);
    NO_LEAKS();
}

Test(matrix, compatible_world_is_ok)
{
    bg_compat_world_t *w = bg_compat_world_new();
    json_t *m;
    char *text;

    put(w, "payments", BG_SLOT_BLUE, 100, "2.0.0", "{provides: {payments: 2.0.0}}");
    put(w, "orders", BG_SLOT_BLUE, 100, "3.0.0", "{requires: {payments: '^2'}}");
    m = bg_compat_matrix_json(w, NULL);
    cr_expect(json_is_true(json_object_get(m, "ok")));
    cr_expect_eq(json_array_size(json_object_get(m, "broken")), 0);
    text = bg_compat_matrix_render(m, false);
    cr_expect_str_eq(text, "consumer \\ provider  payments\n"
                           "orders               ^2 ok\n"
                           "\n"
                           "live versions:\n"
                           "  payments  2.0.0 (blue, 100%)\n"
                           "  orders    3.0.0 (blue, 100%)\n"
                           "\n"
                           "all live edges are compatible\n");
    free(text);
    json_decref(m);
    bg_compat_world_free(w);
    NO_LEAKS();
}

Test(matrix, text_grid_plain_and_coloured)
{
    bg_compat_world_t *w = sample();
    bg_compat_rules_t *r = rules_ok(RULE);
    json_t *m = bg_compat_matrix_json(w, r);
    char *plain = bg_compat_matrix_render(m, false);
    char *tty = bg_compat_matrix_render(m, true);

    cr_expect_str_eq(plain,
                     "consumer \\ provider  payments     orders\n"
                     "orders               ^1.4 BROKEN  -\n"
                     "web                  -            ^2 ok\n"
                     "legacy               -            !<3 BROKEN\n"
                     "\n"
                     "live versions:\n"
                     "  payments  1.9.2 (blue, 90%), 2.0.0 (green, 10%)\n"
                     "  orders    2.1.0 (blue, 100%)\n"
                     "  web       1.0.0 (green, 100%)\n"
                     "  legacy    0.3.0 (blue, 100%)\n"
                     "\n"
                     "broken:\n"
                     "  orders 2.1.0 requires payments ^1.4; live payments is 1.9.2 (blue, 90%), "
                     "2.0.0 (green, 10%)\n"
                     "  web 1.0.0 requires search ^1; no live service provides search\n"
                     "  legacy 0.3.0 is incompatible with orders <3 (shares a table); live orders "
                     "is 2.1.0 (blue, 100%)\n");
    cr_expect(strchr(plain, '\033') == NULL);
    cr_expect(strstr(tty, "\033[31m^1.4 BROKEN\033[0m") != NULL, "%s", tty);
    cr_expect(strstr(tty, "\033[32m^2 ok\033[0m") != NULL, "%s", tty);
    free(plain);
    free(tty);
    json_decref(m);
    bg_compat_rules_free(r);
    bg_compat_world_free(w);
    NO_LEAKS();
}

/* The renderer takes JSON from the network: junk renders, never crashes. */
Test(matrix, render_tolerates_foreign_json)
{
    json_t *m = json_pack("{s:[i], s:{s:i}, s:[{s:i}], s:i}", "services", 3, "live", "x", 1,
                          "cells", "consumer", 2, "broken", 7);
    char *text = bg_compat_matrix_render(m, false);

    cr_expect_not_null(text);
    free(text);
    json_decref(m);
    m = json_object();
    text = bg_compat_matrix_render(m, true);
    cr_expect(strstr(text, "no service requires") != NULL, "%s", text);
    free(text);
    json_decref(m);
    NO_LEAKS();
}
