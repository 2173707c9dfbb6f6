/* Unit tests for compat/range.c and range_text.c: every operator's expansion (checked
 * against node-semver's `range.range` text), satisfaction including the prerelease rule,
 * unions, hyphens, node-semver's accepted oddities, error reports and intersection. The
 * exhaustive agreement with node-semver is test_compat_differential's job. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "compat/semver.h"

static bg_range_t *range_ok(const char *s)
{
    bg_err_t err = {0};
    bg_range_t *r = bg_range_parse(s, &err);

    cr_assert_not_null(r, "\"%s\": %s", s, err.msg);
    return r;
}

static void expect_format(const char *range, const char *want)
{
    bg_range_t *r = range_ok(range);
    char *f = bg_range_format(r);

    cr_expect_str_eq(f, want, "\"%s\" -> \"%s\", want \"%s\"", range, f, want);
    free(f);
    bg_range_free(r);
}

static bool sat(const char *version, const char *range)
{
    bool out = false;
    bg_err_t err = {0};

    cr_assert_eq(bg_semver_satisfies(version, range, &out, &err), 0, "%s / %s: %s", version, range,
                 err.msg);
    return out;
}

#define YES(v, r) cr_expect(sat(v, r), "%s should satisfy \"%s\"", v, r)
#define NO(v, r) cr_expect(!sat(v, r), "%s should not satisfy \"%s\"", v, r)

Test(range_caret, expansion_and_satisfaction)
{
    expect_format("^1.2.3", ">=1.2.3 <2.0.0-0");
    expect_format("^0.2.3", ">=0.2.3 <0.3.0-0");
    expect_format("^0.0.3", ">=0.0.3 <0.0.4-0");
    expect_format("^1.2", ">=1.2.0 <2.0.0-0");
    expect_format("^0.0", "<0.1.0-0"); /* >=0.0.0 is dropped as "any" */
    expect_format("^1", ">=1.0.0 <2.0.0-0");
    expect_format("^1.2.3-beta.2", ">=1.2.3-beta.2 <2.0.0-0");
    expect_format("^ 1.2", ">=1.2.0 <2.0.0-0");
    expect_format("^*", "");
    YES("1.2.3", "^1.2.3");
    YES("1.9.9", "^1.2.3");
    NO("2.0.0", "^1.2.3");
    NO("1.2.2", "^1.2.3");
    YES("0.2.9", "^0.2.3");
    NO("0.3.0", "^0.2.3");
    NO("0.0.4", "^0.0.3");
}

Test(range_tilde, expansion_and_satisfaction)
{
    expect_format("~1.2.3", ">=1.2.3 <1.3.0-0");
    expect_format("~1.2", ">=1.2.0 <1.3.0-0");
    expect_format("~1", ">=1.0.0 <2.0.0-0");
    expect_format("~0.2.3", ">=0.2.3 <0.3.0-0");
    expect_format("~>1.2.3", ">=1.2.3 <1.3.0-0");
    expect_format("~> 1.2", ">=1.2.0 <1.3.0-0");
    expect_format("~1.2.3-beta.2", ">=1.2.3-beta.2 <1.3.0-0");
    YES("1.2.9", "~1.2.3");
    NO("1.3.0", "~1.2.3");
    YES("1.9.0", "~1");
    NO("2.0.0", "~>1");
}

Test(range_primitive, each_operator)
{
    expect_format(">=1.2.3", ">=1.2.3");
    expect_format("<=1.2.3", "<=1.2.3");
    expect_format(">1.2.3", ">1.2.3");
    expect_format("<1.2.3", "<1.2.3");
    expect_format("=1.2.3", "1.2.3");
    expect_format("v1.2.3", "1.2.3");
    expect_format("=v1.2.3", "1.2.3");
    expect_format(">= 1.2.3", ">=1.2.3");
    expect_format("> =1.2.3", ">=1.2.3");
    YES("1.2.3", ">=1.2.3");
    NO("1.2.2", ">=1.2.3");
    YES("1.2.3", "<=1.2.3");
    NO("1.2.4", "<=1.2.3");
    NO("1.2.3", ">1.2.3");
    YES("1.2.4", ">1.2.3");
    NO("1.2.3", "<1.2.3");
    YES("1.2.3", "=1.2.3");
    YES("1.2.3+build", "1.2.3");
    YES("v1.2.3", "1.2.3");
    NO("1.2.4", "1.2.3");
}

Test(range_xrange, partials_and_wildcards)
{
    expect_format("*", "");
    expect_format("", "");
    expect_format("x", "");
    expect_format("1.x", ">=1.0.0 <2.0.0-0");
    expect_format("1.2.*", ">=1.2.0 <1.3.0-0");
    expect_format("1", ">=1.0.0 <2.0.0-0");
    expect_format("1.2", ">=1.2.0 <1.3.0-0");
    expect_format(">1", ">=2.0.0");
    expect_format(">1.2", ">=1.3.0");
    expect_format("<1.2", "<1.2.0-0");
    expect_format("<=1.2", "<1.3.0-0");
    expect_format(">=1.x", ">=1.0.0");
    expect_format(">*", "<0.0.0-0");
    expect_format(">=0.0.0", "");
    YES("3.4.5", "*");
    YES("0.0.0", "");
    NO("1.0.0-beta", "*");
    YES("1.99.0", "1.x");
    NO("2.0.0", "1.x");
    NO("2.0.0-0", "<=1");
    NO("1.2.3", ">*");
}

Test(range_hyphen, full_and_partial_bounds)
{
    expect_format("1.2.3 - 2.3.4", ">=1.2.3 <=2.3.4");
    expect_format("1.2 - 2.3.4", ">=1.2.0 <=2.3.4");
    expect_format("1.2.3 - 2.3", ">=1.2.3 <2.4.0-0");
    expect_format("1.2.3 - 2", ">=1.2.3 <3.0.0-0");
    expect_format("* - 2", "<3.0.0-0");
    YES("2.3.4", "1.2.3 - 2.3.4");
    NO("2.3.5", "1.2.3 - 2.3.4");
    YES("2.3.9", "1.2 - 2.3");
    NO("2.4.0", "1.2 - 2.3");
    NO("1.1.9", "1.2 - 2.3");
}

Test(range_union, or_and_intersection)
{
    expect_format(">=1.2.7 <1.3.0", ">=1.2.7 <1.3.0");
    expect_format("1.2.7 || >=1.2.9 <2.0.0", "1.2.7||>=1.2.9 <2.0.0");
    expect_format("^1.2 || ^2", ">=1.2.0 <2.0.0-0||>=2.0.0 <3.0.0-0");
    expect_format("1.2.3 || *", "");
    expect_format("<0.0.0-0 || 1.2.3", "1.2.3");
    expect_format("1.2.3 ||", "");
    expect_format(">=1.0.0 >=1.0.0", ">=1.0.0");
    YES("1.2.7", "1.2.7 || >=1.2.9 <2.0.0");
    NO("1.2.8", "1.2.7 || >=1.2.9 <2.0.0");
    YES("1.4.6", "1.2.7 || >=1.2.9 <2.0.0");
    NO("2.0.0", "1.2.7 || >=1.2.9 <2.0.0");
}

/* node-semver: a prerelease satisfies a set only if some comparator of that set names a
 * prerelease of the same [major, minor, patch]. */
Test(range_prerelease, opt_in_per_tuple)
{
    YES("1.2.3-beta.2", "^1.2.3-beta.1");
    NO("1.2.4-beta.2", "^1.2.3-beta.1");
    YES("1.2.4", "^1.2.3-beta.1");
    NO("1.2.3-beta.0", "^1.2.3-beta.1");
    YES("3.4.5-alpha.9", ">1.2.3-alpha.3 <3.4.5-beta || 3.4.5-alpha.9");
    NO("1.2.4-beta", ">=1.2.3");
    NO("1.2.3-beta", "1.2.x");
    YES("1.2.3-alpha.10", ">=1.2.3-alpha.9");
    YES("1.0.0-rc.2", "1.0.0-rc.1 - 1.0.0");
}

/* Spellings node-semver accepts or refuses only because of how it rewrites text. */
Test(range_quirks, same_as_node_semver)
{
    expect_format("1.2.3*", "1.2.3");
    expect_format("==1.2", ">=1.2.0 <1.3.0-0");
    expect_format(">=*1.2.3", "1.2.3");
    expect_format("~ > 1.2", ">=1.2.0 <1.3.0-0");
    expect_format("1.2.x-beta", ">=1.2.0 <1.3.0-0");
    expect_format("^1.x.3", ">=1.0.0 <2.0.0-0");
    expect_format("+build", "");
    expect_format("1.2.3+build", "1.2.3");
    expect_format("\xC2\xA0 1.2.3 \xE3\x80\x80- 2 ", ">=1.2.3 <3.0.0-0");
    cr_assert_null(bg_range_parse("==1.2.3", NULL));
    cr_assert_null(bg_range_parse("=1.2.3 - 2", NULL));
    cr_assert_null(bg_range_parse("1.x.3", NULL));
    cr_assert_null(bg_range_parse("^9007199254740991", NULL));
}

static void parse_bad(const char *s, unsigned column, const char *needle)
{
    bg_err_t err = {0};

    cr_assert_null(bg_range_parse(s, &err), "\"%s\" was accepted", s);
    cr_assert_eq(err.code, BG_EINVAL);
    cr_assert_str_eq(err.key, "range");
    cr_expect_eq(err.column, column, "\"%s\": column %u, want %u (%s)", s, err.column, column,
                 err.msg);
    cr_expect(strstr(err.msg, needle) != NULL, "\"%s\": \"%s\" lacks \"%s\"", s, err.msg, needle);
}

Test(range_errors, say_what_where_and_what_was_expected)
{
    parse_bad(">=1.2.x.4", 7, "expected a patch version number, found 'x'");
    parse_bad("^1.2.3 || >=2.0.0 <3.0.0-01", 26,
              "comparator \"<3.0.0-01\" (alternative 2) at column 26: expected a numeric "
              "prerelease identifier without leading zeros");
    parse_bad(">=", 3, "expected a version after the operator");
    parse_bad("^1.2.3 ~2 !3", 11, "comparator \"!3\"");
    parse_bad("1.2.3 - ", 7, "expected an operator (< <= > >= = ~ ^) or a version, found '-'");
    parse_bad("1.2.3.4", 6, "found '.'");
    parse_bad("   1.2.3-a..b", 12, "expected an identifier of [0-9A-Za-z-], found '.'");
    parse_bad("9007199254740992", 1, "9007199254740992 is above 9007199254740991");
    parse_bad("=1.2.3 - 2", 1, "as node-semver rewrites \"=1.2.3 - 2\"");
}

Test(range_satisfies, convenience_reports_which_input)
{
    bool out = true;
    bg_err_t err = {0};

    cr_assert_eq(bg_semver_satisfies("1.2", "^1", &out, &err), BG_EINVAL);
    cr_assert_str_eq(err.key, "version");
    cr_assert_not(out);
    cr_assert_eq(bg_semver_satisfies("1.2.3", "^1 ||| ?", &out, &err), BG_EINVAL);
    cr_assert_str_eq(err.key, "range");
    cr_assert_eq(bg_semver_satisfies("1.2", "?", &out, &err), BG_EINVAL);
    cr_assert_str_eq(err.key, "range", "the range is checked first");
    cr_assert_eq(bg_semver_satisfies("1.4.0", "^1.4", &out, NULL), 0);
    cr_assert(out);
}

static bool inter(const char *a, const char *b)
{
    bg_range_t *x = range_ok(a), *y = range_ok(b);
    bool r = bg_range_intersects(x, y);

    bg_range_free(x);
    bg_range_free(y);
    return r;
}

Test(range_intersects, overlap)
{
    cr_expect(inter("^1.2", ">=1.5 <3"));
    cr_expect(!inter("^1", "^2"));
    cr_expect(inter("1.x || 3.x", "^3.1"));
    cr_expect(!inter(">=2", "<2"));
    cr_expect(inter(">=2", "<=2"));
    cr_expect(inter("*", "1.2.3"));
    /* node-semver: a one-comparator set is never checked against itself, and anything
     * meets `*`, so even the null set "intersects" it. */
    cr_expect(inter("<0.0.0-0", "*"));
    cr_expect(!inter("<0.0.0-0", ">=1.0.0"));
    cr_expect(!inter(">1.2.3 <1.2.3", "*"), "an unsatisfiable set meets nothing");
    cr_expect(inter("1.2.3", "^1"));
    cr_expect(!inter("1.2.3-beta", ">=1.0.0"), "prerelease rule, as node-semver");
    bg_range_free(NULL);
}
