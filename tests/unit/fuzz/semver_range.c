/* Fuzz entry point: semver versions and npm ranges (src/compat/semver.h). The bytes (cut at
 * the first NUL, as a C string would be) are parsed as a strict version, a lenient version
 * and a range; what parses is formatted, re-parsed and compared.
 *
 * Invariants: success or BG_EINVAL with a message; a formatted version parses back to an
 * equal version; a formatted range parses back to the same normal form; a range from a
 * version string admits that version when it has no prerelease (x.y.z means =x.y.z).
 */
#include <string.h>

#include "base/err.h"
#include "compat/semver.h"
#include "fuzz.h"

static void check_fail(int rc, const bg_err_t *err, const char *what)
{
    BG_FUZZ_CHECK(rc == BG_EINVAL, "%s returned %d", what, rc);
    BG_FUZZ_CHECK(err->msg[0] != '\0', "%s failed without a message", what);
}

static void version(const char *s, bool lenient, bg_semver_t *out)
{
    bg_err_t err;
    int rc;

    bg_err_clear(&err);
    rc = lenient ? bg_semver_parse_lenient(s, out, &err) : bg_semver_parse(s, out, &err);
    if (rc != 0) {
        check_fail(rc, &err, lenient ? "bg_semver_parse_lenient" : "bg_semver_parse");
        BG_FUZZ_CHECK(out->prerelease == NULL && out->build == NULL, "failed parse kept strings");
        return;
    }
    char *text = bg_semver_format(out, true);
    bg_semver_t back;

    BG_FUZZ_CHECK(bg_semver_parse(text, &back, &err) == 0, "\"%s\" does not parse back: %s",
                  text, err.msg);
    BG_FUZZ_CHECK(bg_semver_cmp(out, &back) == 0, "\"%s\" parses back different", text);
    bg_semver_fini(&back);
    free(text);
}

static void range(const char *s, const bg_semver_t *v)
{
    bg_err_t err;
    bg_range_t *r, *again;
    char *norm, *norm2;

    bg_err_clear(&err);
    r = bg_range_parse(s, &err);
    if (!r) {
        check_fail(err.code, &err, "bg_range_parse");
        return;
    }
    norm = bg_range_format(r);
    again = bg_range_parse(norm, &err);
    BG_FUZZ_CHECK(again != NULL, "normal form \"%s\" does not parse: %s", norm, err.msg);
    norm2 = bg_range_format(again);
    BG_FUZZ_CHECK(strcmp(norm, norm2) == 0, "\"%s\" -> \"%s\" -> \"%s\"", s, norm, norm2);
    BG_FUZZ_CHECK(bg_range_intersects(r, again) == bg_range_intersects(r, r),
                  "\"%s\" and its normal form intersect differently", s);
    if (v) {
        bool a = bg_range_satisfies(r, v), b = bg_range_satisfies(again, v);
        BG_FUZZ_CHECK(a == b, "\"%s\" and its normal form disagree", s);
    }
    free(norm2);
    free(norm);
    bg_range_free(again);
    bg_range_free(r);
}

int bg_fuzz_semver_range(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    bg_semver_t strict = {0}, lenient = {0};

    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    version(s, false, &strict);
    version(s, true, &lenient);
    range(s, lenient.major || lenient.minor || lenient.patch || lenient.prerelease ? &lenient
                                                                                   : NULL);
    if (strict.major || strict.minor || strict.patch) {
        bg_range_t *r = bg_range_parse(s, NULL);
        if (r && !strict.prerelease)
            BG_FUZZ_CHECK(bg_range_satisfies(r, &strict), "\"%s\" does not admit itself", s);
        bg_range_free(r);
    }
    bg_semver_fini(&strict);
    bg_semver_fini(&lenient);
    free(s);
    return 0;
}

BG_FUZZ_ENTRY(bg_fuzz_semver_range)
