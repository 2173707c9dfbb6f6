/* Differential check of compat/semver against node-semver's verdicts.
 *
 * usage: test_compat_differential <cases file written by oracle/gen.js>
 *
 * For every pair it compares range validity, version validity, satisfaction and the
 * normalised range text; for every range pair, intersection. Prints each disagreement and
 * exits 1 if there is any (or if the file holds too few cases to mean anything).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "compat/semver.h"
#include "base/compat.h"

#define MIN_PAIRS 5000
#define MAX_SHOWN 200

typedef struct stats {
    size_t pairs, intersects, bad, shown;
    size_t sat_true, sat_false, range_invalid, version_invalid;
} stats_t;

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Decodes the hex field [p, p+n) into a new string; NULL if malformed. */
static char *unhex(const char *p, size_t n)
{
    char *s;

    if (n % 2 != 0)
        return NULL;
    s = bg_xmalloc(n / 2 + 1);
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hexval(p[2 * i]), lo = hexval(p[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(s);
            return NULL;
        }
        s[i] = (char)(hi * 16 + lo);
    }
    s[n / 2] = '\0';
    return s;
}

/* Splits <line> at tabs into at most <max> fields (NUL-terminating each). */
static size_t split_tabs(char *line, char **f, size_t max)
{
    size_t n = 0;

    f[n++] = line;
    for (char *p = line; *p && n < max; p++) {
        if (*p == '\t') {
            *p = '\0';
            f[n++] = p + 1;
        }
    }
    return n;
}

static void disagree(stats_t *st, const char *what, const char *v, const char *r, const char *want,
                     const char *got)
{
    st->bad++;
    if (st->shown++ >= MAX_SHOWN)
        return;
    printf("DISAGREE %s: version=\"%s\" range=\"%s\": node-semver %s, bg_semver %s\n", what, v, r,
           want, got);
}

static void check_pair(stats_t *st, const char *v, const char *r, const char *verdict,
                       const char *want_fmt)
{
    bg_err_t err;
    bg_range_t *range = bg_range_parse(r, &err);
    bg_semver_t ver;
    bool rv = range != NULL, vv = bg_semver_parse_lenient(v, &ver, NULL) == 0;
    bool want_rv = verdict[0] == '1', want_vv = verdict[1] == '1', want_sat = verdict[2] == '1';

    st->pairs++;
    st->range_invalid += !want_rv;
    st->version_invalid += !want_vv;
    if (want_rv && want_vv)
        *(want_sat ? &st->sat_true : &st->sat_false) += 1;
    if (rv != want_rv)
        disagree(st, "range validity", v, r, want_rv ? "valid" : "invalid", rv ? "valid" : err.msg);
    if (vv != want_vv)
        disagree(st, "version validity", v, r, want_vv ? "valid" : "invalid",
                 vv ? "valid" : "invalid");
    if (rv && vv && want_rv && want_vv && bg_range_satisfies(range, &ver) != want_sat)
        disagree(st, "satisfies", v, r, want_sat ? "true" : "false", want_sat ? "false" : "true");
    if (rv && want_rv) {
        char *fmt = bg_range_format(range);
        if (strcmp(fmt, want_fmt) != 0)
            disagree(st, "range.range", v, r, want_fmt, fmt);
        free(fmt);
    }
    if (vv)
        bg_semver_fini(&ver);
    bg_range_free(range);
}

static void check_intersects(stats_t *st, const char *a, const char *b, bool want)
{
    bg_range_t *ra = bg_range_parse(a, NULL), *rb = bg_range_parse(b, NULL);

    st->intersects++;
    if (ra == NULL || rb == NULL)
        disagree(st, "intersects (parse)", a, b, "valid", "invalid");
    else if (bg_range_intersects(ra, rb) != want)
        disagree(st, "intersects", a, b, want ? "true" : "false", want ? "false" : "true");
    bg_range_free(ra);
    bg_range_free(rb);
}

static int check_line(stats_t *st, char *line)
{
    char *f[6], *a = NULL, *b = NULL, *fmt = NULL;
    size_t n = split_tabs(line, f, 6);
    int rc = -1;

    if (n < 4 || (a = unhex(f[1], strlen(f[1]))) == NULL || (b = unhex(f[2], strlen(f[2]))) == NULL)
        goto out;
    if (strcmp(f[0], "P") == 0 && n == 5 && strlen(f[3]) == 3 &&
        (fmt = unhex(f[4], strlen(f[4]))) != NULL) {
        check_pair(st, a, b, f[3], fmt);
        rc = 0;
    } else if (strcmp(f[0], "I") == 0) {
        check_intersects(st, a, b, f[3][0] == '1');
        rc = 0;
    }
out:
    free(a);
    free(b);
    free(fmt);
    return rc;
}

int main(int argc, char **argv)
{
    stats_t st = {0};
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    FILE *fp;

    if (argc != 2) {
        fprintf(stderr, "usage: %s <cases file>\n", argv[0]);
        return 2;
    }
    if ((fp = fopen(argv[1], "r")) == NULL) {
        perror(argv[1]);
        return 2;
    }
    while ((len = getline(&line, &cap, fp)) > 0) {
        if (line[len - 1] == '\n')
            line[len - 1] = '\0';
        if (line[0] != '\0' && check_line(&st, line) < 0) {
            fprintf(stderr, "malformed case line\n");
            st.bad++;
        }
    }
    free(line);
    fclose(fp);
    printf("compared %zu version/range pairs (satisfied %zu, not satisfied %zu, range invalid "
           "%zu, version invalid %zu) and %zu range intersections: %zu disagreement(s)\n",
           st.pairs, st.sat_true, st.sat_false, st.range_invalid, st.version_invalid, st.intersects,
           st.bad);
    if (st.pairs < MIN_PAIRS) {
        printf("FAIL: only %zu pairs, expected at least %d\n", st.pairs, MIN_PAIRS);
        return 1;
    }
    return st.bad == 0 ? 0 : 1;
}
