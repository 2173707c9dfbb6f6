/* Unit tests for compat/release.c: RELEASE.yaml with inline revisions and `file:`
 * revisions resolved next to the release file, and errors that name file:line:column and
 * the key path, in the release file or in the revision file. */
#include "helpers.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static void write_file(const char *name, const char *text)
{
    char path[160];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/bg-release-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    write_file("orders-3.yaml", "version: 3.0.0\n"
                                "run: {command: [./app, --version, 3.0.0]}\n"
                                "api:\n"
                                "  provides: {orders: 3.0.0}\n"
                                "  requires: {payments: \"^2.0\"}\n");
    write_file("bad-range.yaml", "version: 3.0.0\n"
                                 "run: {command: [./app]}\n"
                                 "api:\n"
                                 "  requires:\n"
                                 "    payments: \">=2.0 <3.y\"\n");
}

static void teardown(void)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_expect_eq(system(cmd), 0);
}

static const char RELEASE[] = "services:\n"
                              "  orders: {file: orders-3.yaml}\n"
                              "  payments:\n"
                              "    version: 2.0.0\n"
                              "    run: {command: [./app, --version, 2.0.0]}\n"
                              "    api:\n"
                              "      provides: {payments: [1.9.2, 2.0.0]}\n";

TestSuite(release, .init = setup, .fini = teardown);

Test(release, inline_and_file_revisions)
{
    char path[160];
    bg_compat_release_t rel;
    bg_err_t err = {0};
    const bg_compat_release_entry_t *o, *p;
    char want[160];

    write_file("RELEASE.yaml", RELEASE);
    snprintf(path, sizeof(path), "%s/RELEASE.yaml", dir);
    cr_assert_eq(bg_compat_release_load(path, NULL, &rel, &err), 0, "%s", err.msg);
    cr_assert_eq(rel.n_entries, 2);
    o = &rel.entries[0];
    p = &rel.entries[1];
    cr_expect_str_eq(rel.path, path);
    cr_expect_str_eq(o->service, "orders");
    snprintf(want, sizeof(want), "%s/orders-3.yaml", dir);
    cr_expect_str_eq(o->file, want);
    cr_expect_str_eq(o->rev.version, "3.0.0");
    cr_expect_str_eq(o->rev.command[2], "3.0.0");
    cr_assert_eq(o->rev.api.n_requires, 1);
    cr_expect_str_eq(o->rev.api.requires[0].range, "^2.0");
    cr_expect_str_eq(p->service, "payments");
    cr_expect_null(p->file);
    cr_expect_str_eq(p->rev.version, "2.0.0");
    cr_assert_eq(p->rev.api.n_provides, 1);
    cr_assert_eq(p->rev.api.provides[0].n_versions, 2);
    cr_expect_str_eq(p->rev.api.provides[0].versions[1], "2.0.0");
    bg_compat_release_fini(&rel);
    bg_compat_release_fini(&rel); /* idempotent */
    NO_LEAKS();
}

Test(release, services_are_checked_against_the_config)
{
    static const char cfg_text[] = "services:\n"
                                   "  orders:\n"
                                   "    route: {host: orders.local}\n"
                                   "    run: {command: [./app]}\n"
                                   "    count: 3\n";
    bg_err_t err = {0};
    bg_config_t *cfg = bg_config_parse(cfg_text, sizeof(cfg_text) - 1, "bluegreen.yaml", &err);
    bg_compat_release_t rel;
    char path[160];

    cr_assert_not_null(cfg, "%s", err.msg);
    write_file("R.yaml", "services:\n  orders: {file: orders-3.yaml}\n");
    snprintf(path, sizeof(path), "%s/R.yaml", dir);
    cr_assert_eq(bg_compat_release_load(path, cfg, &rel, &err), 0, "%s", err.msg);
    cr_expect_eq(rel.entries[0].rev.count, 3, "defaults come from the service");
    bg_compat_release_fini(&rel);
    write_file("R.yaml", "services:\n  orders: {file: orders-3.yaml}\n  billing: {file: x}\n");
    cr_expect_eq(bg_compat_release_load(path, cfg, &rel, &err), BG_EINVAL);
    cr_expect_eq(err.line, 3);
    cr_expect_eq(err.column, 3);
    cr_expect_str_eq(err.key, "services.billing");
    cr_expect(strstr(err.msg, "unknown service \"billing\"") != NULL, "%s", err.msg);
    bg_config_free(cfg);
    NO_LEAKS();
}

static void expect_error(const char *text, const char *file, unsigned line, unsigned col,
                         const char *key, const char *msg_part)
{
    char path[160], want_file[160];
    bg_compat_release_t rel;
    bg_err_t err = {0};

    write_file("RELEASE.yaml", text);
    snprintf(path, sizeof(path), "%s/RELEASE.yaml", dir);
    snprintf(want_file, sizeof(want_file), "%s/%s", dir, file);
    cr_expect_eq(bg_compat_release_load(path, NULL, &rel, &err), BG_EINVAL, "loaded: %s", text);
    cr_expect_eq(rel.n_entries, 0);
    cr_expect_str_eq(err.file, want_file);
    cr_expect_eq(err.line, line, "line %u, want %u: %s", err.line, line, err.msg);
    cr_expect_eq(err.column, col, "column %u, want %u: %s", err.column, col, err.msg);
    cr_expect_str_eq(err.key, key);
    cr_expect(strstr(err.msg, msg_part) != NULL, "\"%s\" lacks \"%s\"", err.msg, msg_part);
}

Test(release, errors_in_inline_revisions_point_into_the_release_file)
{
    /* a bad range: semver's message, at the bad character */
    expect_error("services:\n"
                 "  payments:\n"
                 "    version: 2.0.0\n"
                 "    run: {command: [./app]}\n"
                 "    api: {requires: {orders: \"^2 || 3.q\"}}\n",
                 "RELEASE.yaml", 5, 39, "services.payments.api.requires.orders",
                 "invalid range \"^2 || 3.q\"");
    /* a bad version, found by the revision parser */
    expect_error("services:\n"
                 "  payments: {version: 2.0, run: {command: [./app]}}\n",
                 "RELEASE.yaml", 2, 23, "services.payments.version", "expected a semantic version");
    /* an unknown revision key */
    expect_error("services:\n"
                 "  payments:\n"
                 "    version: 2.0.0\n"
                 "    run: {command: [./app]}\n"
                 "    colour: blue\n",
                 "RELEASE.yaml", 5, 5, "services.payments.colour", "colour");
    NO_LEAKS();
}

Test(release, errors_in_revision_files_point_into_them)
{
    expect_error("services:\n  orders: {file: bad-range.yaml}\n", "bad-range.yaml", 5, 25,
                 "api.requires.payments", "invalid range \">=2.0 <3.y\"");
    expect_error("services:\n  orders: {file: missing.yaml}\n", "RELEASE.yaml", 2, 18,
                 "services.orders.file", "cannot read revision file");
    NO_LEAKS();
}

Test(release, structure_errors)
{
    expect_error("services:\n  orders: {file: orders-3.yaml, version: 1.0.0}\n", "RELEASE.yaml", 2,
                 33, "services.orders", "either file: or an inline revision");
    expect_error("services:\n  orders: 3.0.0\n", "RELEASE.yaml", 2, 11, "services.orders",
                 "expected {file: REVISION.yaml}");
    expect_error("services:\n  orders: {file: orders-3.yaml}\n  orders: {file: orders-3.yaml}\n",
                 "RELEASE.yaml", 3, 3, "services.orders", "listed twice");
    expect_error("services: {}\n", "RELEASE.yaml", 1, 11, "services",
                 "expected a mapping of services");
    expect_error("version: 1\n", "RELEASE.yaml", 1, 1, "", "unknown key \"version\"");
    expect_error("[]\n", "RELEASE.yaml", 1, 1, "", "expected a mapping with key \"services\"");
    expect_error("services:\n  orders: {file: [a]}\n", "RELEASE.yaml", 2, 18,
                 "services.orders.file", "expected a revision file path");
    expect_error("services:\n  orders: {file: x\n", "RELEASE.yaml", 3, 1, "", "invalid YAML");
    NO_LEAKS();
}

Test(release, parse_from_memory_resolves_next_to_the_name)
{
    char name[160];
    bg_compat_release_t rel;
    bg_err_t err = {0};
    static const char text[] = "services:\n  orders: {file: orders-3.yaml}\n";

    snprintf(name, sizeof(name), "%s/virtual.yaml", dir);
    cr_assert_eq(bg_compat_release_parse(text, sizeof(text) - 1, name, NULL, &rel, &err), 0, "%s",
                 err.msg);
    cr_expect_str_eq(rel.entries[0].rev.version, "3.0.0");
    bg_compat_release_fini(&rel);
    NO_LEAKS();
}

/* Every prefix of a valid release either loads or fails with a position; never crashes. */
Test(release, truncations_fail_cleanly)
{
    char name[160];

    snprintf(name, sizeof(name), "%s/RELEASE.yaml", dir);
    for (size_t len = 0; len < sizeof(RELEASE) - 1; len++) {
        bg_compat_release_t rel;
        bg_err_t err = {0};
        int rc = bg_compat_release_parse(RELEASE, len, name, NULL, &rel, &err);
        if (rc != 0) {
            cr_expect_eq(rc, BG_EINVAL, "prefix %zu: %s", len, err.msg);
            cr_expect_geq(err.line, 1, "prefix %zu: %s", len, err.msg);
            cr_expect_neq(err.file[0], '\0', "prefix %zu", len);
        }
        bg_compat_release_fini(&rel);
    }
    NO_LEAKS();
}

/* 200k '[' (unclosed, as an attacker's POST /v1/plan would send): config's reader stops at
 * its depth guard while parsing, with a position, instead of libyaml's loader working
 * through a quadratic scan (69 s measured for the old compat reader). The test asserts
 * the error; the suite's timeout bounds it. */
static char *deep_text(const char *prefix, size_t depth, size_t *len)
{
    size_t n = strlen(prefix);
    char *text = malloc(n + depth + 1);

    cr_assert_not_null(text);
    memcpy(text, prefix, n);
    memset(text + n, '[', depth);
    text[n + depth] = '\0';
    *len = n + depth;
    return text;
}

Test(release, deep_nesting_refused_by_the_depth_guard, .timeout = 20)
{
    bg_compat_release_t rel;
    bg_err_t err;
    char buf[256];
    size_t len;
    char *text = deep_text("", 200000, &len);

    cr_assert_eq(bg_compat_release_parse(text, len, "deep.yaml", NULL, &rel, &err), BG_EINVAL);
    cr_assert_str_eq(bg_err_format(&err, buf, sizeof(buf)),
                     "deep.yaml:1:65: nesting deeper than 64 levels");
    free(text);
    /* inside an inline revision: the same guard, at its place in the release file */
    text = deep_text("services:\n  orders:\n    version: 1.0.0\n    run: ", 200000, &len);
    cr_assert_eq(bg_compat_release_parse(text, len, "deep.yaml", NULL, &rel, &err), BG_EINVAL);
    cr_assert_str_eq(bg_err_format(&err, buf, sizeof(buf)),
                     "deep.yaml:4:71: nesting deeper than 64 levels");
    free(text);
}

/* A collection's end mark is where it ends (the inline revision is cut out of the release
 * text by it): a flow mapping spanning lines keeps its last line. */
Test(release, inline_flow_revision_spanning_lines)
{
    static const char text[] = "services:\n"
                               "  orders: {version: 3.0.0,\n"
                               "           run: {command: [./app]},\n"
                               "           api: {requires: {payments: \"^2.0\"}}}\n";
    bg_compat_release_t rel;
    bg_err_t err;

    cr_assert_eq(bg_compat_release_parse(text, sizeof(text) - 1, "r.yaml", NULL, &rel, &err), 0,
                 "%s", err.msg);
    cr_assert_eq(rel.n_entries, 1);
    cr_assert_eq(rel.entries[0].rev.api.n_requires, 1);
    cr_assert_str_eq(rel.entries[0].rev.api.requires[0].range, "^2.0");
    bg_compat_release_fini(&rel);
}
