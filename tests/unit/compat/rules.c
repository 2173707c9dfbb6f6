/* Unit tests for compat/rules.c and yaml.c: explicit matrix rules loaded from YAML and
 * applied by the gate in both directions; errors with file:line:column and key path. */
#include "helpers.h"

#include <unistd.h>

static const char RULES[] = "rules:\n"
                            "  - {service: orders, version: \"2.x\",\n"
                            "     incompatible_with: {service: inventory, version: \"<3.1\"},\n"
                            "     reason: \"uses the v3 stock API\"}\n";

static bg_compat_world_t *world(const char *inventory_version)
{
    bg_compat_world_t *w = bg_compat_world_new();

    put(w, "inventory", BG_SLOT_BLUE, 100, inventory_version, NULL);
    put(w, "orders", BG_SLOT_BLUE, 100, "1.5.0", NULL);
    return w;
}

Test(rules, consumer_side_deployment_is_refused)
{
    bg_compat_rules_t *r = rules_ok(RULES);
    bg_compat_world_t *w = world("3.0.0");
    bg_compat_world_t *after = step(w, "orders", 25, "2.3.0", NULL);
    bg_compat_result_t res;

    cr_expect_eq(bg_compat_rules_count(r), 1);
    EXPECT_GATE(w, "orders", r, "");
    bg_compat_result_init(&res);
    cr_assert_eq(bg_compat_check(after, "orders", r, &res), 0);
    cr_assert_eq(res.n_edges, 1);
    cr_expect_eq(res.edges[0].kind, BG_COMPAT_EDGE_RULE);
    cr_expect_str_eq(res.edges[0].message,
                     "orders 2.3.0 is incompatible with inventory <3.1 (uses the v3 stock API); "
                     "live inventory is 3.0.0 (blue, 100%)");
    cr_expect_str_eq(res.edges[0].consumer_version, "2.3.0");
    cr_expect_str_eq(res.edges[0].provider, "inventory");
    cr_expect_str_eq(res.edges[0].range, "<3.1");
    cr_expect_str_eq(res.edges[0].reason, "uses the v3 stock API");
    cr_expect_null(res.edges[0].api);
    bg_compat_result_fini(&res);
    bg_compat_world_free(after);
    /* with inventory 3.1.0 live the same step passes */
    bg_compat_world_free(w);
    w = world("3.1.0");
    after = step(w, "orders", 25, "2.3.0", NULL);
    EXPECT_GATE(after, "orders", r, "");
    bg_compat_world_free(after);
    bg_compat_world_free(w);
    bg_compat_rules_free(r);
    NO_LEAKS();
}

Test(rules, other_side_deployment_is_refused_too)
{
    bg_compat_rules_t *r = rules_ok(RULES);
    bg_compat_world_t *w = world("3.1.0");
    bg_compat_world_t *mid, *after;

    put(w, "orders", BG_SLOT_BLUE, 100, "2.3.0", NULL);
    EXPECT_GATE(w, "inventory", r, "");
    /* a downgrade of inventory under a live orders 2.x, while split */
    after = step(w, "inventory", 10, "3.0.5", NULL);
    EXPECT_GATE(after, "inventory", r,
                "orders 2.3.0 is incompatible with inventory <3.1 (uses the v3 stock API); "
                "live inventory is 3.1.0 (blue, 90%), 3.0.5 (green, 10%)");
    /* the rule is not about unrelated services */
    put(after, "users", BG_SLOT_BLUE, 100, "1.0.0", NULL);
    EXPECT_GATE(after, "users", r, "");
    bg_compat_world_free(after);
    /* orders 3.x is not covered by the rule */
    mid = step(w, "orders", 100, "3.0.0", NULL);
    after = step(mid, "inventory", 100, "3.0.5", NULL);
    EXPECT_GATE(after, "inventory", r, "");
    bg_compat_world_free(after);
    bg_compat_world_free(mid);
    bg_compat_world_free(w);
    bg_compat_rules_free(r);
    NO_LEAKS();
}

Test(rules, omitted_version_means_any)
{
    bg_compat_rules_t *r = rules_ok("rules:\n"
                                    "  - service: legacy\n"
                                    "    incompatible_with: {service: orders}\n");
    bg_compat_world_t *w = world("1.0.0");

    put(w, "legacy", BG_SLOT_GREEN, 100, "0.1.0", NULL);
    EXPECT_GATE(w, "orders", r,
                "legacy 0.1.0 is incompatible with orders *; live orders is 1.5.0 (blue, 100%)");
    bg_compat_world_free(w);
    bg_compat_rules_free(r);
    NO_LEAKS();
}

Test(rules, empty_files_have_no_rules)
{
    bg_compat_rules_t *r = rules_ok("");

    cr_expect_eq(bg_compat_rules_count(r), 0);
    bg_compat_rules_free(r);
    r = rules_ok("rules: []\n");
    cr_expect_eq(bg_compat_rules_count(r), 0);
    bg_compat_rules_free(r);
    r = rules_ok("rules:\n");
    cr_expect_eq(bg_compat_rules_count(r), 0);
    bg_compat_rules_free(r);
    NO_LEAKS();
}

static void expect_error(const char *text, unsigned line, unsigned col, const char *key,
                         const char *msg_part)
{
    bg_err_t err = {0};
    bg_compat_rules_t *r = bg_compat_rules_parse(text, strlen(text), "matrix.yaml", &err);

    cr_expect_null(r, "parsed: %s", text);
    bg_compat_rules_free(r);
    cr_expect_eq(err.code, BG_EINVAL);
    cr_expect_str_eq(err.file, "matrix.yaml");
    cr_expect_eq(err.line, line, "line %u, want %u (%s)", err.line, line, err.msg);
    cr_expect_eq(err.column, col, "column %u, want %u (%s)", err.column, col, err.msg);
    cr_expect_str_eq(err.key, key);
    cr_expect(strstr(err.msg, msg_part) != NULL, "\"%s\" lacks \"%s\"", err.msg, msg_part);
}

Test(rules, errors_name_file_line_column_and_key)
{
    /* the column points at the bad character inside the quoted range */
    expect_error("rules:\n"
                 "  - {service: orders, version: \"2.x\",\n"
                 "     incompatible_with: {service: inventory, version: \"<3.1.q\"}}\n",
                 3, 61, "rules[0].incompatible_with.version", "invalid range \"<3.1.q\"");
    expect_error("rules:\n"
                 "  - service: orders\n"
                 "    version: <2.z\n"
                 "    incompatible_with: {service: inventory}\n",
                 3, 17, "rules[0].version", "expected a minor version number");
    expect_error("rules:\n  - {service: orders}\n", 2, 5, "rules[0]",
                 "missing key \"incompatible_with\"");
    expect_error("rules:\n  - {version: \"1\", incompatible_with: {service: a}}\n", 2, 5,
                 "rules[0]", "missing key \"service\"");
    expect_error("rules:\n  - {service: a, incompatible_with: {service: b, why: x}}\n", 2, 50,
                 "rules[0].incompatible_with.why", "unknown key \"why\"");
    expect_error("rules: {a: b}\n", 1, 8, "rules", "expected a list of rules");
    expect_error("rule: []\n", 1, 1, "", "unknown key \"rule\"");
    expect_error("- 1\n", 1, 1, "", "expected a mapping with key \"rules\"");
    expect_error("rules:\n  - 42\n", 2, 5, "rules[0]", "expected a rule mapping");
    expect_error("rules:\n  - {service: [a], incompatible_with: {service: b}}\n", 2, 15,
                 "rules[0].service", "expected a service name");
    expect_error("rules: [\n", 2, 1, "", "invalid YAML");
    expect_error("rules:\n  - {service: a, service: b, incompatible_with: {service: c}}\n", 2, 18,
                 "rules[0].service", "key \"service\" given twice");
    NO_LEAKS();
}

Test(rules, load_from_file)
{
    char path[] = "/tmp/bg-rules-XXXXXX";
    int fd = mkstemp(path);
    bg_err_t err = {0};
    bg_compat_rules_t *r;

    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, RULES, sizeof(RULES) - 1), (ssize_t)(sizeof(RULES) - 1));
    close(fd);
    r = bg_compat_rules_load(path, &err);
    cr_expect_not_null(r, "%s", err.msg);
    cr_expect_eq(bg_compat_rules_count(r), 1);
    bg_compat_rules_free(r);
    unlink(path);
    r = bg_compat_rules_load(path, &err);
    cr_expect_null(r);
    cr_expect_eq(err.code, BG_EIO);
    cr_expect_str_eq(err.file, path);
    NO_LEAKS();
}

/* Every prefix of a valid file either loads or fails with a position; never crashes. */
Test(rules, truncations_fail_cleanly)
{
    for (size_t len = 0; len < sizeof(RULES) - 1; len++) {
        bg_err_t err = {0};
        bg_compat_rules_t *r = bg_compat_rules_parse(RULES, len, "matrix.yaml", &err);
        if (r == NULL) {
            cr_expect_eq(err.code, BG_EINVAL, "prefix %zu", len);
            cr_expect_geq(err.line, 1, "prefix %zu: %s", len, err.msg);
            cr_expect_str_eq(err.file, "matrix.yaml");
        }
        bg_compat_rules_free(r);
    }
    NO_LEAKS();
}

/* The rules file goes through config's reader too: its depth guard, not libyaml's loader. */
Test(rules, deep_nesting_refused_by_the_depth_guard, .timeout = 20)
{
    size_t depth = 200000;
    char *text = malloc(depth + 8);
    bg_err_t err;
    char buf[256];

    cr_assert_not_null(text);
    memcpy(text, "rules: ", 7);
    memset(text + 7, '[', depth);
    cr_assert_null(bg_compat_rules_parse(text, depth + 7, "matrix.yaml", &err));
    cr_assert_str_eq(bg_err_format(&err, buf, sizeof(buf)),
                     "matrix.yaml:1:71: nesting deeper than 64 levels");
    free(text);
}
