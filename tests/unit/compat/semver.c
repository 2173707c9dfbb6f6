/* Unit tests for compat/semver.c: strict SemVer 2.0.0 parsing, node-semver's limits,
 * the lenient form, precedence (the spec's §11 example chain) and formatting. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "compat/semver.h"

static bg_semver_t parse_ok(const char *s)
{
    bg_semver_t v;
    bg_err_t err = {0};

    cr_assert_eq(bg_semver_parse(s, &v, &err), 0, "\"%s\": %s", s, err.msg);
    return v;
}

/* Asserts <s> is refused with the error at 1-based <column> and <needle> in the message. */
static void parse_bad(const char *s, unsigned column, const char *needle)
{
    bg_semver_t v;
    bg_err_t err = {0};

    cr_assert_eq(bg_semver_parse(s, &v, &err), BG_EINVAL, "\"%s\" was accepted", s);
    cr_assert_eq(err.code, BG_EINVAL);
    cr_assert_str_eq(err.key, "version");
    cr_assert_eq(err.column, column, "\"%s\": column %u, want %u (%s)", s, err.column, column,
                 err.msg);
    cr_assert(strstr(err.msg, needle) != NULL, "\"%s\": \"%s\" lacks \"%s\"", s, err.msg, needle);
    cr_assert_null(v.prerelease);
    cr_assert_null(v.build);
}

Test(semver_parse, fields)
{
    bg_semver_t v = parse_ok("1.22.333-alpha.1+build.5");

    cr_assert_eq(v.major, 1);
    cr_assert_eq(v.minor, 22);
    cr_assert_eq(v.patch, 333);
    cr_assert_str_eq(v.prerelease, "alpha.1");
    cr_assert_str_eq(v.build, "build.5");
    bg_semver_fini(&v);
    cr_assert_null(v.prerelease);
    bg_semver_fini(&v); /* twice is harmless */
    bg_semver_fini(NULL);

    v = parse_ok("0.0.0");
    cr_assert_eq(v.major + v.minor + v.patch, 0);
    cr_assert_null(v.prerelease);
    cr_assert_null(v.build);
}

Test(semver_parse, valid_spec_examples)
{
    static const char *ok[] = {
        "0.0.4",
        "1.2.3",
        "10.20.30",
        "1.1.2-prerelease+meta",
        "1.1.2+meta",
        "1.1.2+meta-valid",
        "1.0.0-alpha",
        "1.0.0-beta",
        "1.0.0-alpha.beta",
        "1.0.0-alpha.beta.1",
        "1.0.0-alpha.1",
        "1.0.0-alpha0.valid",
        "1.0.0-alpha.0valid",
        "1.0.0-alpha-a.b-c-somethinglong+build.1-aef.1-its-okay",
        "1.0.0-rc.1+build.1",
        "2.0.0-rc.1+build.123",
        "1.2.3-beta",
        "10.2.3-DEV-SNAPSHOT",
        "1.2.3-SNAPSHOT-123",
        "2.0.0+build.1848",
        "2.0.1-alpha.1227",
        "1.0.0-0A.is.legal",
        "1.2.3----RC-SNAPSHOT.12.9.1--.12+788",
        "1.2.3----R-S.12.9.1--.12+meta",
        "1.0.0+0.build.1-rc.10000aaa-kk-0.1",
        "1.0.0-0",
        "1.0.0+001",
        "9007199254740991.9007199254740991.9007199254740991",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        bg_semver_t v = parse_ok(ok[i]);
        char *s = bg_semver_format(&v, true);
        cr_assert_str_eq(s, ok[i], "round trip");
        free(s);
        bg_semver_fini(&v);
    }
}

Test(semver_parse, invalid_with_position)
{
    parse_bad("", 1, "expected a major version number");
    parse_bad("1", 2, "'.' and a minor version");
    parse_bad("1.2", 4, "'.' and a patch version");
    parse_bad("1.2.", 5, "patch version number");
    parse_bad("01.2.3", 1, "without leading zeros");
    parse_bad("1.02.3", 3, "without leading zeros");
    parse_bad("1.2.03", 5, "without leading zeros");
    parse_bad("1.2.3-01", 7, "prerelease identifier without leading zeros");
    parse_bad("1.2.3-", 7, "an identifier of [0-9A-Za-z-]");
    parse_bad("1.2.3-a..b", 9, "an identifier");
    parse_bad("1.2.3+", 7, "an identifier");
    parse_bad("1.2.3+a.", 9, "an identifier");
    parse_bad("1.2.3-beta_1", 11, "'+build' or end of version");
    parse_bad("1.2.3.4", 6, "'-prerelease', '+build' or end of version");
    parse_bad("1.2.3+b-1+c", 10, "end of version");
    parse_bad("v1.2.3", 1, "major version number");
    parse_bad(" 1.2.3", 1, "major version number");
    parse_bad("1.2.3 ", 6, "end of version");
    parse_bad("=1.2.3", 1, "major version number");
    parse_bad("-1.2.3", 1, "major version number");
    parse_bad("1.x.3", 3, "minor version number");
    parse_bad("9007199254740992.0.0", 1, "9007199254740992 is above 9007199254740991");
    parse_bad("1.99999999999999999999.0", 3, "at most 2^53 - 1");
}

Test(semver_parse, length_limit)
{
    char s[300];

    /* node-semver refuses versions longer than 256 characters. */
    memset(s, 'a', sizeof(s));
    memcpy(s, "1.2.3-", 6);
    s[256] = '\0';
    bg_semver_t v = parse_ok(s);
    bg_semver_fini(&v);
    s[256] = 'a';
    s[257] = '\0';
    parse_bad(s, 257, "at most 256 characters");
}

Test(semver_parse, lenient_accepts_what_node_semver_does)
{
    static const char *ok[] = {"v1.2.3",
                               " 1.2.3",
                               "1.2.3\n",
                               "\t v1.2.3-beta+b \r\n",
                               "\xC2\xA0"
                               "1.2.3",
                               "1.2.3\xE3\x80\x80",
                               "\xEF\xBB\xBF"
                               "1.2.3"};
    static const char *bad[] = {"=1.2.3", "vv1.2.3", "V1.2.3", "v 1.2.3", "1.2", "v", ""};
    bg_semver_t v;
    bg_err_t err = {0};

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        cr_assert_eq(bg_semver_parse_lenient(ok[i], &v, &err), 0, "\"%s\": %s", ok[i], err.msg);
        cr_assert_eq(v.major * 100 + v.minor * 10 + v.patch, 123);
        bg_semver_fini(&v);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(bg_semver_parse_lenient(bad[i], &v, &err), BG_EINVAL, "\"%s\"", bad[i]);
    cr_assert_eq(bg_semver_parse_lenient("  v1.2", &v, &err), BG_EINVAL);
    cr_assert_eq(err.column, 7, "column counts the leading blanks: %u", err.column);
}

/* SemVer 2.0.0 §11: "1.0.0-alpha < 1.0.0-alpha.1 < 1.0.0-alpha.beta < 1.0.0-beta <
 * 1.0.0-beta.2 < 1.0.0-beta.11 < 1.0.0-rc.1 < 1.0.0", and "1.0.0 < 2.0.0 < 2.1.0 < 2.1.1". */
Test(semver_cmp, spec_precedence_chain)
{
    static const char *chain[] = {
        "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta",
        "1.0.0-beta",  "1.0.0-beta.2",  "1.0.0-beta.11",
        "1.0.0-rc.1",  "1.0.0",         "2.0.0",
        "2.1.0",       "2.1.1",
    };
    enum { N = sizeof(chain) / sizeof(chain[0]) };
    bg_semver_t v[N];

    for (size_t i = 0; i < N; i++)
        v[i] = parse_ok(chain[i]);
    for (size_t i = 0; i < N; i++) {
        for (size_t k = 0; k < N; k++) {
            int c = bg_semver_cmp(&v[i], &v[k]);
            int want = i < k ? -1 : i > k ? 1 : 0;
            cr_assert_eq(c < 0   ? -1
                         : c > 0 ? 1
                                 : 0,
                         want, "cmp(%s, %s) = %d", chain[i], chain[k], c);
        }
    }
    for (size_t i = 0; i < N; i++)
        bg_semver_fini(&v[i]);
}

static int cmp_text(const char *a, const char *b)
{
    bg_semver_t x = parse_ok(a), y = parse_ok(b);
    int c = bg_semver_cmp(&x, &y);

    bg_semver_fini(&x);
    bg_semver_fini(&y);
    return c < 0 ? -1 : c > 0 ? 1 : 0;
}

Test(semver_cmp, identifiers_and_build)
{
    cr_assert_eq(cmp_text("1.0.0+a", "1.0.0+b"), 0, "build metadata is ignored (§10)");
    cr_assert_eq(cmp_text("1.0.0-1+x", "1.0.0-1"), 0);
    cr_assert_eq(cmp_text("1.0.0-2", "1.0.0-10"), -1, "numeric identifiers by value");
    cr_assert_eq(cmp_text("1.0.0-999", "1.0.0-a"), -1, "numeric below alphanumeric");
    cr_assert_eq(cmp_text("1.0.0-B", "1.0.0-a"), -1, "ASCII order: 'B' < 'a'");
    cr_assert_eq(cmp_text("1.0.0-a-1", "1.0.0-a1"), -1, "'-' < '1' in ASCII");
    cr_assert_eq(cmp_text("1.0.0-alpha", "1.0.0-alpha.0"), -1, "longer set wins");
    cr_assert_eq(cmp_text("1.10.0", "1.9.0"), 1, "numbers, not text");
    cr_assert_eq(cmp_text("1.0.0-0", "0.9.9"), 1);
    cr_assert_eq(cmp_text("1.0.0-123456789012345", "1.0.0-123456789012346"), -1);
    cr_assert_eq(cmp_text("1.0.0-1000000000000001", "1.0.0-1000000000000002"), -1,
                 "16 digits, still below 2^53: exact");
    /* node-semver compares huge numeric identifiers as doubles: 2^53 + 1 rounds to 2^53. */
    cr_assert_eq(cmp_text("1.0.0-123456789012345678", "1.0.0-123456789012345679"), 0);
    cr_assert_eq(cmp_text("1.0.0-9007199254740993", "1.0.0-9007199254740992"), 0);
}

Test(semver_format, with_and_without_build)
{
    bg_semver_t v = parse_ok("3.4.5-rc.1+sha.abc"), c;
    char *a = bg_semver_format(&v, true), *b = bg_semver_format(&v, false);

    cr_assert_str_eq(a, "3.4.5-rc.1+sha.abc");
    cr_assert_str_eq(b, "3.4.5-rc.1");
    bg_semver_copy(&c, &v);
    bg_semver_fini(&v);
    free(a);
    a = bg_semver_format(&c, true);
    cr_assert_str_eq(a, "3.4.5-rc.1+sha.abc", "copy is deep");
    free(a);
    free(b);
    bg_semver_fini(&c);
}
