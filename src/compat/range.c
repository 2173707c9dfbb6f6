/* npm-style version ranges: parsing into comparator sets, satisfaction, normal form and
 * intersection, with the meaning node-semver 7.x gives them in its default mode.
 *
 * Parsing replays node-semver's text rewrites (range_text.c), then reads each resulting
 * comparator as `[<>]?=?` + version, exactly like its Comparator class, and applies the
 * same set clean-ups (null set wins, duplicates and redundant `*` dropped). The range is
 * immutable once built.
 */
#include "compat/semver.h"

#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "compat/internal.h"
#include "base/compat.h"

typedef enum cmp_op {
    OP_ANY = 0, /* "" : any version */
    OP_EQ = 1,
    OP_LT = 2,
    OP_LE = 3,
    OP_GT = 4,
    OP_GE = 5,
} cmp_op_t;

typedef struct comparator {
    cmp_op_t op;
    bg_semver_t v;
    char *value; /* node-semver's `comparator.value`: op + version, "" for any */
} comparator_t;

typedef struct cset {
    comparator_t *c;
    size_t n;
} cset_t;

struct bg_range {
    cset_t *sets;
    size_t n;
};

static const char *op_text(cmp_op_t op)
{
    switch (op) {
    case OP_ANY:
        return "";
    case OP_EQ:
        return "";
    case OP_LT:
        return "<";
    case OP_LE:
        return "<=";
    case OP_GT:
        return ">";
    case OP_GE:
        return ">=";
    }
    return "";
}

/* ---- building ------------------------------------------------------------------------------ */

static void comparator_fini(comparator_t *c)
{
    bg_semver_fini(&c->v);
    free(c->value);
    c->value = NULL;
}

static void cset_fini(cset_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        comparator_fini(&s->c[i]);
    free(s->c);
    s->c = NULL;
    s->n = 0;
}

void bg_range_free(bg_range_t *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++)
        cset_fini(&r->sets[i]);
    free(r->sets);
    free(r);
}

/* `raw = range.trim().replace(/\s+/g, ' ')`, keeping each byte's column. */
static void collapse_ws(const char *s, bg_pstr_t *out)
{
    const char *b = s, *e = s + strlen(s);
    size_t n;

    bg_pstr_puts(out, "", 1);
    while (b < e && (n = bg_semver_ws_len(b, e)) > 0)
        b += n;
    while (b < e) {
        if (bg_semver_ws_len(b, e) == 0) {
            bg_pstr_putc(out, *b, (unsigned)(b - s) + 1);
            b++;
            continue;
        }
        unsigned col = (unsigned)(b - s) + 1;
        while (b < e && (n = bg_semver_ws_len(b, e)) > 0)
            b += n;
        if (b < e)
            bg_pstr_putc(out, ' ', col);
    }
}

/* Names the first character of <tok> that keeps it from being `[<>]?=?v?X.Y.Z[-pre]`.
 * When <tok> is not the user's text but node-semver's rewrite of it (hyphen, caret, tilde,
 * x-range expansion), the message also quotes the alternative <part> it came from. */
static void comparator_error(const char *range, const bg_pstr_t *part, const bg_pstr_t *tok,
                             size_t op_len, const bg_semver_diag_t *d, size_t alt, bg_err_t *err)
{
    size_t at = op_len + d->pos;
    unsigned col = bg_pstr_col(tok, at);
    size_t first = tok->len ? tok->col[0] - 1 : 0;
    bool verbatim =
        first + tok->len <= strlen(range) && memcmp(range + first, tok->s, tok->len) == 0;
    char found[24], from[128] = "";

    if (at < tok->len)
        snprintf(found, sizeof(found), "'%c'", tok->s[at]);
    else
        snprintf(found, sizeof(found), "end of comparator");
    if (!verbatim)
        snprintf(from, sizeof(from), ", as node-semver rewrites \"%.80s\"", part->s);
    bg_err_set_at(err, BG_EINVAL, NULL, 1, col, "range",
                  "invalid range \"%.160s\": comparator \"%.80s\" (alternative %zu%s) at "
                  "column %u: expected %s, found %s%s",
                  range, tok->s, alt, from, col, d->expected, found, d->detail);
}

/* node-semver's Comparator constructor on one rewritten token. */
static int comparator_parse(const char *range, const bg_pstr_t *part, const bg_pstr_t *tok,
                            size_t alt, comparator_t *out, bg_err_t *err)
{
    const char *s = tok->s;
    size_t i = 0;
    bg_semver_diag_t d = {0};

    memset(out, 0, sizeof(*out));
    if (tok->len == 0) {
        out->op = OP_ANY;
        out->value = bg_strdup("");
        return 0;
    }
    out->op = OP_EQ;
    if (s[i] == '<' || s[i] == '>') {
        out->op = s[i] == '<' ? OP_LT : OP_GT;
        i++;
    }
    if (i < tok->len && s[i] == '=') {
        out->op = out->op == OP_LT ? OP_LE : out->op == OP_GT ? OP_GE : OP_EQ;
        i++;
    }
    if (i == tok->len) {
        d.pos = 0;
        d.expected = "a version after the operator";
        comparator_error(range, part, tok, i, &d, alt, err);
        return BG_EINVAL;
    }
    if (bg_semver_parse_text(s + i, tok->len - i, true, &out->v, &d) < 0) {
        if (d.pos == 0 && !bg_semver_is_digit(s[i]) && s[i] != 'v')
            d.expected = "an operator (< <= > >= = ~ ^) or a version";
        comparator_error(range, part, tok, i, &d, alt, err);
        return BG_EINVAL;
    }
    char *ver = bg_semver_format(&out->v, false);
    out->value = bg_asprintf("%s%s", op_text(out->op), ver);
    free(ver);
    return 0;
}

static bool is_null_set(const comparator_t *c)
{
    return strcmp(c->value, "<0.0.0-0") == 0;
}

static bool is_any(const comparator_t *c)
{
    return c->value[0] == '\0';
}

/* Adds <c> to <s> unless a comparator with the same value is there (node-semver keeps one
 * per value, in first-seen order). Takes ownership of <c>. */
static void cset_add(cset_t *s, comparator_t *c)
{
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->c[i].value, c->value) == 0) {
            comparator_fini(c);
            return;
        }
    }
    s->c = bg_xrealloc(s->c, (s->n + 1) * sizeof(*s->c));
    s->c[s->n++] = *c;
}

/* parseRange(): one `||` alternative to a comparator set. */
static int parse_set(const char *range, const bg_pstr_t *part, size_t alt, cset_t *out,
                     bg_err_t *err)
{
    bg_pstr_list_t toks = {0};
    comparator_t *cs = NULL;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    bg_range_rewrite(part, &toks);
    cs = bg_xcalloc(toks.n, sizeof(*cs));
    for (size_t i = 0; i < toks.n; i++) {
        if ((rc = comparator_parse(range, part, &toks.v[i], alt, &cs[i], err)) < 0) {
            for (size_t k = 0; k < i; k++)
                comparator_fini(&cs[k]);
            goto out;
        }
    }
    for (size_t i = 0; i < toks.n; i++) {
        if (is_null_set(&cs[i])) { /* `<0.0.0-0` admits nothing: it is the whole set */
            for (size_t k = 0; k < toks.n; k++)
                if (k != i)
                    comparator_fini(&cs[k]);
            cset_add(out, &cs[i]);
            goto out;
        }
    }
    for (size_t i = 0; i < toks.n; i++)
        cset_add(out, &cs[i]);
    for (size_t i = 0; out->n > 1 && i < out->n; i++) {
        if (is_any(&out->c[i])) { /* `*` beside other comparators adds nothing */
            comparator_fini(&out->c[i]);
            memmove(&out->c[i], &out->c[i + 1], (out->n - i - 1) * sizeof(*out->c));
            out->n--;
            break;
        }
    }
out:
    free(cs);
    bg_pstr_list_fini(&toks);
    return rc;
}

/* The Range constructor's clean-up over several sets: null sets go (unless all are), and
 * a lone `*` set makes the whole range `*`. */
static void simplify_sets(bg_range_t *r)
{
    size_t kept = 0;
    cset_t first;
    bool first_null;

    if (r->n <= 1)
        return;
    first = r->sets[0];
    first_null = is_null_set(&first.c[0]);
    for (size_t i = 0; i < r->n; i++) {
        if (!is_null_set(&r->sets[i].c[0]))
            r->sets[kept++] = r->sets[i];
        else if (i > 0)
            cset_fini(&r->sets[i]);
    }
    if (kept == 0) { /* only null sets: keep the first */
        r->sets[0] = first;
        r->n = 1;
        return;
    }
    if (first_null)
        cset_fini(&first);
    r->n = kept;
    for (size_t i = 0; r->n > 1 && i < r->n; i++) {
        if (r->sets[i].n == 1 && is_any(&r->sets[i].c[0])) {
            cset_t any = r->sets[i];
            for (size_t k = 0; k < r->n; k++)
                if (k != i)
                    cset_fini(&r->sets[k]);
            r->sets[0] = any;
            r->n = 1;
        }
    }
}

bg_range_t *bg_range_parse(const char *s, bg_err_t *err)
{
    bg_pstr_t raw = {0};
    bg_range_t *r = BG_NEW(bg_range_t);
    size_t i = 0, alt = 1;

    collapse_ws(s, &raw);
    for (;; alt++) {
        size_t j = i, b, e;
        while (j < raw.len && !(raw.s[j] == '|' && j + 1 < raw.len && raw.s[j + 1] == '|'))
            j++;
        bg_pstr_t part = {0};
        for (b = i, e = j; b < e && raw.s[b] == ' '; b++)
            ;
        while (e > b && raw.s[e - 1] == ' ')
            e--;
        bg_pstr_puts(&part, "", bg_pstr_col(&raw, i));
        bg_pstr_putp(&part, &raw, b, e);
        r->sets = bg_xrealloc(r->sets, (r->n + 1) * sizeof(*r->sets));
        int rc = parse_set(s, &part, alt, &r->sets[r->n], err);
        bg_pstr_fini(&part);
        if (rc < 0)
            goto fail;
        r->n++;
        if (j >= raw.len)
            break;
        i = j + 2;
    }
    simplify_sets(r);
    bg_pstr_fini(&raw);
    return r;
fail:
    bg_pstr_fini(&raw);
    bg_range_free(r);
    return NULL;
}

/* ---- testing --------------------------------------------------------------------------------- */

static bool comparator_test(const comparator_t *c, const bg_semver_t *v)
{
    int d;

    if (c->op == OP_ANY)
        return true;
    d = bg_semver_cmp(v, &c->v);
    switch (c->op) {
    case OP_EQ:
        return d == 0;
    case OP_LT:
        return d < 0;
    case OP_LE:
        return d <= 0;
    case OP_GT:
        return d > 0;
    case OP_GE:
        return d >= 0;
    case OP_ANY:
        break;
    }
    return true;
}

/* testSet(): all comparators hold; a prerelease version also needs a comparator that names
 * a prerelease of the same [major, minor, patch] (npm's opt-in rule for prereleases). */
static bool cset_test(const cset_t *s, const bg_semver_t *v)
{
    for (size_t i = 0; i < s->n; i++)
        if (!comparator_test(&s->c[i], v))
            return false;
    if (v->prerelease == NULL)
        return true;
    for (size_t i = 0; i < s->n; i++) {
        const bg_semver_t *a = &s->c[i].v;
        if (s->c[i].op != OP_ANY && a->prerelease != NULL && a->major == v->major &&
            a->minor == v->minor && a->patch == v->patch)
            return true;
    }
    return false;
}

bool bg_range_satisfies(const bg_range_t *r, const bg_semver_t *v)
{
    for (size_t i = 0; i < r->n; i++)
        if (cset_test(&r->sets[i], v))
            return true;
    return false;
}

char *bg_range_format(const bg_range_t *r)
{
    bg_buf_t b;

    bg_buf_init(&b);
    bg_buf_puts(&b, "");
    for (size_t i = 0; i < r->n; i++) {
        if (i > 0)
            bg_buf_puts(&b, "||");
        for (size_t k = 0; k < r->sets[i].n; k++) {
            if (k > 0)
                bg_buf_puts(&b, " ");
            bg_buf_puts(&b, r->sets[i].c[k].value);
        }
    }
    return bg_buf_steal(&b);
}

/* ---- intersection (Comparator#intersects, isSatisfiable, Range#intersects) ------------- */

static bool op_is_gt(cmp_op_t op)
{
    return op == OP_GT || op == OP_GE;
}

static bool op_is_lt(cmp_op_t op)
{
    return op == OP_LT || op == OP_LE;
}

static bool comparator_intersects(const comparator_t *a, const comparator_t *b)
{
    const cset_t sa = {(comparator_t *)a, 1}, sb = {(comparator_t *)b, 1};

    /* An `=` side: node-semver tests the exact version against the other comparator as
     * a one-comparator range, prerelease rule included. */
    if (a->op == OP_ANY || a->op == OP_EQ) {
        if (is_any(a))
            return true;
        return cset_test(&sb, &a->v);
    }
    if (b->op == OP_ANY || b->op == OP_EQ) {
        if (is_any(b))
            return true;
        return cset_test(&sa, &b->v);
    }
    if (strncmp(a->value, "<0.0.0", 6) == 0 || strncmp(b->value, "<0.0.0", 6) == 0)
        return false;
    if ((op_is_gt(a->op) && op_is_gt(b->op)) || (op_is_lt(a->op) && op_is_lt(b->op)))
        return true;
    int d = bg_semver_cmp(&a->v, &b->v);
    if (d == 0 && (a->op == OP_GE || a->op == OP_LE) && (b->op == OP_GE || b->op == OP_LE))
        return true;
    if (d < 0 && op_is_gt(a->op) && op_is_lt(b->op))
        return true;
    return d > 0 && op_is_lt(a->op) && op_is_gt(b->op);
}

/* isSatisfiable(): every comparator, taken from the back, meets all those before it. */
static bool cset_satisfiable(const cset_t *s)
{
    for (size_t n = s->n; n > 1; n--) {
        const comparator_t *t = &s->c[n - 1];
        for (size_t i = 0; i + 1 < n; i++)
            if (!comparator_intersects(t, &s->c[i]))
                return false;
    }
    return true;
}

bool bg_range_intersects(const bg_range_t *a, const bg_range_t *b)
{
    for (size_t i = 0; i < a->n; i++) {
        const cset_t *sa = &a->sets[i];
        if (!cset_satisfiable(sa))
            continue;
        for (size_t k = 0; k < b->n; k++) {
            const cset_t *sb = &b->sets[k];
            bool all = cset_satisfiable(sb);
            for (size_t x = 0; all && x < sa->n; x++)
                for (size_t y = 0; all && y < sb->n; y++)
                    all = comparator_intersects(&sa->c[x], &sb->c[y]);
            if (all)
                return true;
        }
    }
    return false;
}

int bg_semver_satisfies(const char *version, const char *range, bool *out, bg_err_t *err)
{
    bg_range_t *r = NULL;
    bg_semver_t v = {0};
    int rc;

    *out = false;
    if ((r = bg_range_parse(range, err)) == NULL) {
        rc = BG_EINVAL;
        goto out;
    }
    if ((rc = bg_semver_parse_lenient(version, &v, err)) < 0)
        goto out;
    *out = bg_range_satisfies(r, &v);
out:
    bg_semver_fini(&v);
    bg_range_free(r);
    return rc;
}
