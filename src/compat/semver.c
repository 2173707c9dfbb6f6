/* Semantic versions: strict SemVer 2.0.0 parsing, precedence and formatting.
 *
 * The grammar is the one of semver.org §2, §9, §10; the limits (256 characters, numbers up
 * to 2^53 - 1) and the precedence of huge numeric prerelease identifiers follow
 * node-semver, because ranges are judged the way npm judges them (see range.c). Never
 * allocates on a failed parse.
 */
#include "compat/semver.h"

#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "compat/internal.h"
#include "base/compat.h"

static int fail(bg_semver_diag_t *diag, size_t pos, const char *expected)
{
    diag->pos = pos;
    diag->expected = expected;
    return -1;
}

/* MAJOR, MINOR or PATCH at s[*i]: "0" or [1-9][0-9]* (SemVer §2), at most 2^53 - 1. */
static int parse_number(const char *s, size_t len, size_t *i, const char *what, uint64_t *out,
                        bg_semver_diag_t *diag)
{
    size_t start = *i;
    uint64_t v = 0;

    if (start >= len || !bg_semver_is_digit(s[start]))
        return fail(diag, start, what);
    if (s[start] == '0' && start + 1 < len && bg_semver_is_digit(s[start + 1]))
        return fail(diag, start, "a number without leading zeros (SemVer 2.0.0 §2)");
    while (*i < len && bg_semver_is_digit(s[*i])) {
        unsigned d = (unsigned)(s[*i] - '0');
        if (v > (BG_SEMVER_MAX_NUMBER - d) / 10) {
            size_t e = start;
            while (e < len && e - start < 40 && bg_semver_is_digit(s[e]))
                e++;
            snprintf(diag->detail, sizeof(diag->detail), " (%.*s is above %llu)", (int)(e - start),
                     s + start, (unsigned long long)BG_SEMVER_MAX_NUMBER);
            return fail(diag, start, "a number of at most 2^53 - 1");
        }
        v = v * 10 + d;
        (*i)++;
    }
    *out = v;
    return 0;
}

/* Dot-separated identifiers of [0-9A-Za-z-], none empty; in a prerelease an all-digit
 * identifier has no leading zero (SemVer §9), in build metadata it may (§10). */
static int parse_idents(const char *s, size_t len, size_t *i, bool prerelease,
                        bg_semver_diag_t *diag)
{
    for (;;) {
        size_t start = *i;
        bool digits = true;

        while (*i < len && bg_semver_is_ident(s[*i])) {
            digits = digits && bg_semver_is_digit(s[*i]);
            (*i)++;
        }
        if (*i == start)
            return fail(diag, start, "an identifier of [0-9A-Za-z-]");
        if (prerelease && digits && s[start] == '0' && *i - start > 1)
            return fail(diag, start,
                        "a numeric prerelease identifier without leading zeros (SemVer 2.0.0 §9)");
        if (*i >= len || s[*i] != '.')
            return 0;
        (*i)++;
    }
}

int bg_semver_parse_text(const char *s, size_t len, bool allow_v, bg_semver_t *out,
                         bg_semver_diag_t *diag)
{
    size_t i = 0, pre = 0, build = 0;
    uint64_t n[3];

    memset(out, 0, sizeof(*out));
    diag->detail[0] = '\0';
    if (len > BG_SEMVER_MAX_LEN)
        return fail(diag, BG_SEMVER_MAX_LEN, "at most 256 characters");
    if (allow_v && i < len && s[i] == 'v')
        i++;
    if (parse_number(s, len, &i, "a major version number", &n[0], diag) < 0)
        return -1;
    if (i >= len || s[i] != '.')
        return fail(diag, i, "'.' and a minor version");
    i++;
    if (parse_number(s, len, &i, "a minor version number", &n[1], diag) < 0)
        return -1;
    if (i >= len || s[i] != '.')
        return fail(diag, i, "'.' and a patch version");
    i++;
    if (parse_number(s, len, &i, "a patch version number", &n[2], diag) < 0)
        return -1;
    if (i < len && s[i] == '-') {
        pre = ++i;
        if (parse_idents(s, len, &i, true, diag) < 0)
            return -1;
    }
    if (i < len && s[i] == '+') {
        build = ++i;
        if (parse_idents(s, len, &i, false, diag) < 0)
            return -1;
    }
    if (i < len)
        return fail(diag, i,
                    build ? "end of version"
                    : pre ? "'+build' or end of version"
                          : "'-prerelease', '+build' or end of version");
    out->major = n[0];
    out->minor = n[1];
    out->patch = n[2];
    if (pre)
        out->prerelease = bg_strndup(s + pre, (build ? build - 1 : len) - pre);
    if (build)
        out->build = bg_strndup(s + build, len - build);
    return 0;
}

static int report(bg_err_t *err, const char *s, const bg_semver_diag_t *d)
{
    char found[16];

    if (d->pos < strlen(s))
        snprintf(found, sizeof(found), "'%c'", s[d->pos]);
    else
        snprintf(found, sizeof(found), "end of input");
    return bg_err_set_at(err, BG_EINVAL, NULL, 1, (unsigned)d->pos + 1, "version",
                         "invalid version \"%.200s\": expected %s at column %zu, found %s%s", s,
                         d->expected, d->pos + 1, found, d->detail);
}

int bg_semver_parse(const char *s, bg_semver_t *out, bg_err_t *err)
{
    bg_semver_diag_t d = {0};

    if (bg_semver_parse_text(s, strlen(s), false, out, &d) < 0)
        return report(err, s, &d);
    return 0;
}

size_t bg_semver_ws_len(const char *s, const char *end)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t avail = (size_t)(end - s);

    if (avail == 0)
        return 0;
    if (u[0] == ' ' || (u[0] >= '\t' && u[0] <= '\r'))
        return 1;
    if (avail >= 2 && u[0] == 0xC2 && u[1] == 0xA0) /* U+00A0 */
        return 2;
    if (avail < 3)
        return 0;
    if (u[0] == 0xE1 && u[1] == 0x9A && u[2] == 0x80) /* U+1680 */
        return 3;
    if (u[0] == 0xE2 && u[1] == 0x80 && /* U+2000-200A, U+2028, U+2029, U+202F */
        ((u[2] >= 0x80 && u[2] <= 0x8A) || u[2] == 0xA8 || u[2] == 0xA9 || u[2] == 0xAF))
        return 3;
    if (u[0] == 0xE2 && u[1] == 0x81 && u[2] == 0x9F) /* U+205F */
        return 3;
    if (u[0] == 0xE3 && u[1] == 0x80 && u[2] == 0x80) /* U+3000 */
        return 3;
    if (u[0] == 0xEF && u[1] == 0xBB && u[2] == 0xBF) /* U+FEFF */
        return 3;
    return 0;
}

/* Length as JavaScript counts it (UTF-16 code units), for node-semver's 256 limit. */
static size_t js_length(const char *s)
{
    size_t n = 0;

    for (const unsigned char *u = (const unsigned char *)s; *u; u++) {
        if ((*u & 0xC0) != 0x80)
            n += *u >= 0xF0 ? 2 : 1;
    }
    return n;
}

int bg_semver_parse_lenient(const char *s, bg_semver_t *out, bg_err_t *err)
{
    const char *b = s, *e = s + strlen(s);
    bg_semver_diag_t d = {0};
    size_t n;

    memset(out, 0, sizeof(*out));
    if (js_length(s) > BG_SEMVER_MAX_LEN)
        return bg_err_set_at(err, BG_EINVAL, NULL, 1, BG_SEMVER_MAX_LEN + 1, "version",
                             "invalid version: longer than %d characters", BG_SEMVER_MAX_LEN);
    while (b < e && (n = bg_semver_ws_len(b, e)) > 0)
        b += n;
    while (e > b) {
        size_t k = 1;
        while (k <= 3 && e - k >= b && bg_semver_ws_len(e - k, e) != k)
            k++;
        if (k > 3)
            break;
        e -= k;
    }
    if (bg_semver_parse_text(b, (size_t)(e - b), true, out, &d) < 0) {
        d.pos += (size_t)(b - s);
        return report(err, s, &d);
    }
    return 0;
}

void bg_semver_fini(bg_semver_t *v)
{
    if (v == NULL)
        return;
    free(v->prerelease);
    free(v->build);
    memset(v, 0, sizeof(*v));
}

void bg_semver_copy(bg_semver_t *dst, const bg_semver_t *src)
{
    *dst = *src;
    dst->prerelease = bg_strdup(src->prerelease);
    dst->build = bg_strdup(src->build);
}

static int cmp_u64(uint64_t a, uint64_t b)
{
    return a < b ? -1 : a > b ? 1 : 0;
}

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!bg_semver_is_digit(s[i]))
            return false;
    return true;
}

/* Two differing identifiers (SemVer §11.4): numeric ones by value, numeric below
 * alphanumeric, alphanumeric ones in ASCII order. node-semver turns digit strings into
 * JavaScript numbers, so beyond 2^53 they compare as doubles (and may compare equal). */
static int cmp_ident(const char *a, size_t an, const char *b, size_t bn)
{
    bool ad = all_digits(a, an), bd = all_digits(b, bn);
    int c;

    if (ad && bd) {
        if (an <= 15 && bn <= 15)
            return an != bn ? cmp_u64(an, bn) : (memcmp(a, b, an) < 0 ? -1 : 1);
        char *as = bg_strndup(a, an), *bs = bg_strndup(b, bn);
        double x = strtod(as, NULL), y = strtod(bs, NULL);
        free(as);
        free(bs);
        return x < y ? -1 : x > y ? 1 : 0;
    }
    if (ad != bd)
        return ad ? -1 : 1;
    c = memcmp(a, b, an < bn ? an : bn);
    return c != 0 ? (c < 0 ? -1 : 1) : cmp_u64(an, bn);
}

/* SemVer §11.3-4: a version with a prerelease ranks below the release; otherwise compare
 * identifier by identifier, a longer list winning when all shared ones are equal. */
static int cmp_prerelease(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b ? 0 : a == NULL ? 1 : -1;
    for (;;) {
        size_t an = strcspn(a, "."), bn = strcspn(b, ".");
        if (an != bn || memcmp(a, b, an) != 0)
            return cmp_ident(a, an, b, bn);
        a += an;
        b += bn;
        if (*a == '\0' || *b == '\0')
            return *a == *b ? 0 : *a == '\0' ? -1 : 1;
        a++;
        b++;
    }
}

int bg_semver_cmp(const bg_semver_t *a, const bg_semver_t *b)
{
    int c = cmp_u64(a->major, b->major);

    if (c == 0)
        c = cmp_u64(a->minor, b->minor);
    if (c == 0)
        c = cmp_u64(a->patch, b->patch);
    if (c == 0)
        c = cmp_prerelease(a->prerelease, b->prerelease);
    return c;
}

char *bg_semver_format(const bg_semver_t *v, bool with_build)
{
    bg_buf_t b;

    bg_buf_init(&b);
    bg_buf_printf(&b, "%llu.%llu.%llu", (unsigned long long)v->major, (unsigned long long)v->minor,
                  (unsigned long long)v->patch);
    if (v->prerelease != NULL)
        bg_buf_printf(&b, "-%s", v->prerelease);
    if (with_build && v->build != NULL)
        bg_buf_printf(&b, "+%s", v->build);
    return bg_buf_steal(&b);
}
