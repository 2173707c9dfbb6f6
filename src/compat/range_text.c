/* node-semver's range rewriting, stage by stage (classes/range.js parseRange, node-semver
 * 7.8.x, default options).
 *
 * node-semver does not parse a range with a grammar: it rewrites the text with a chain of
 * regular expressions (its "safe" variants, with bounded repetitions) and only then parses
 * what is left as plain comparators. Several accepted spellings exist only because of that
 * chain (`1.2.3*` means `1.2.3`, `==1.2` is valid while `==1.2.3` is not, `~> 1` is `~1`).
 * To agree with npm on every input we replay the same stages on column-tracked strings
 * (bg_pstr_t) instead of inventing a cleaner grammar that would disagree at the edges.
 * Each matcher below names the regular expression it stands for (internal/re.js).
 */
#include "compat/internal.h"

#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/compat.h"

/* \d{0,256} and [a-zA-Z0-9-]{0,250}: the bounds of node-semver's safe regexes. */
#define MAX_DIGITS_AFTER_FIRST 256
#define MAX_IDENT_TAIL 250

typedef struct span {
    size_t b, e; /* [b, e); b == e means absent */
} span_t;

/* One match of XRANGEPLAIN:
 *   [v=\s]*(XID)(?:\.(XID)(?:\.(XID)(?:PRERELEASE)?BUILD?)?)?
 *   XID = 0|[1-9]\d{0,256}|x|X|\*
 * Every place node-semver uses it, what may follow is only end of text or a space, which
 * no part of it can start with; so the greedy reading is the only one that can lead to a
 * match, and a caller just checks what follows <end>. */
typedef struct xplain {
    size_t start, end;
    span_t M, m, p, pr; /* pr without its '-' */
} xplain_t;

/* ---- column-tracked strings ------------------------------------------------------------- */

void bg_pstr_fini(bg_pstr_t *p)
{
    free(p->s);
    free(p->col);
    memset(p, 0, sizeof(*p));
}

static void pstr_reserve(bg_pstr_t *p, size_t extra)
{
    if (p->len + extra + 1 <= p->cap)
        return;
    p->cap = (p->len + extra + 1) * 2;
    p->s = bg_xrealloc(p->s, p->cap);
    p->col = bg_xrealloc(p->col, p->cap * sizeof(*p->col));
}

void bg_pstr_putc(bg_pstr_t *p, char c, unsigned col)
{
    pstr_reserve(p, 1);
    p->s[p->len] = c;
    p->col[p->len++] = col;
    p->s[p->len] = '\0';
}

void bg_pstr_puts(bg_pstr_t *p, const char *s, unsigned col)
{
    for (; *s; s++)
        bg_pstr_putc(p, *s, col);
}

void bg_pstr_putp(bg_pstr_t *p, const bg_pstr_t *src, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        bg_pstr_putc(p, src->s[i], src->col[i]);
}

unsigned bg_pstr_col(const bg_pstr_t *p, size_t i)
{
    if (p->len == 0)
        return 1;
    return i < p->len ? p->col[i] : p->col[p->len - 1] + 1;
}

void bg_pstr_list_fini(bg_pstr_list_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        bg_pstr_fini(&l->v[i]);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

bg_pstr_t *bg_pstr_list_push(bg_pstr_list_t *l)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->v = bg_xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    memset(&l->v[l->n], 0, sizeof(l->v[0]));
    bg_pstr_puts(&l->v[l->n], "", 0);
    return &l->v[l->n++];
}

/* Appends the span [b, e) of <src> to <out> as text. */
static void put_span(bg_pstr_t *out, const bg_pstr_t *src, span_t s)
{
    bg_pstr_putp(out, src, s.b, s.e);
}

/* ---- matchers ---------------------------------------------------------------------------- */

/* XID at s[i]; returns its end or i when there is none. */
static size_t match_xid(const char *s, size_t len, size_t i)
{
    size_t j;

    if (i >= len)
        return i;
    if (s[i] == 'x' || s[i] == 'X' || s[i] == '*' || s[i] == '0')
        return i + 1;
    if (s[i] < '1' || s[i] > '9')
        return i;
    for (j = i + 1; j < len && j - i <= MAX_DIGITS_AFTER_FIRST && bg_semver_is_digit(s[j]); j++)
        ;
    return j;
}

/* One dot-separated identifier of a PRERELEASE (numeric: 0|[1-9]\d{0,256}; else
 * \d{0,256}[a-zA-Z-][a-zA-Z0-9-]{0,250}) or of a BUILD ([a-zA-Z0-9-]{1,250}). A run of
 * identifier characters the bounded regex cannot take whole leaves an identifier
 * character after any shorter match, so nothing that follows could match: report none. */
static size_t match_ident(const char *s, size_t len, size_t i, bool prerelease)
{
    size_t j = i, digits;

    while (j < len && bg_semver_is_ident(s[j]))
        j++;
    if (j == i)
        return i;
    if (!prerelease)
        return j - i <= MAX_IDENT_TAIL ? j : i;
    for (digits = 0; i + digits < j && bg_semver_is_digit(s[i + digits]); digits++)
        ;
    if (digits == j - i) /* numeric */
        return (s[i] != '0' || digits == 1) && digits <= MAX_DIGITS_AFTER_FIRST + 1 ? j : i;
    return digits <= MAX_DIGITS_AFTER_FIRST && j - i - digits - 1 <= MAX_IDENT_TAIL ? j : i;
}

/* `<lead>id(\.id)*` at s[i] (PRERELEASE with '-', BUILD with '+'); its end or i. */
static size_t match_dotted(const char *s, size_t len, size_t i, char lead, bool prerelease)
{
    size_t j, k;

    if (i >= len || s[i] != lead)
        return i;
    j = match_ident(s, len, i + 1, prerelease);
    if (j == i + 1)
        return i;
    while (j < len && s[j] == '.' && (k = match_ident(s, len, j + 1, prerelease)) != j + 1)
        j = k;
    return j;
}

static bool match_xplain(const char *s, size_t len, size_t i, xplain_t *x)
{
    size_t j, k;

    memset(x, 0, sizeof(*x));
    x->start = i;
    while (i < len && (s[i] == 'v' || s[i] == '=' || s[i] == ' '))
        i++;
    if ((j = match_xid(s, len, i)) == i)
        return false;
    x->M = (span_t){i, j};
    if (j < len && s[j] == '.' && (k = match_xid(s, len, j + 1)) != j + 1) {
        x->m = (span_t){j + 1, k};
        j = k;
        if (j < len && s[j] == '.' && (k = match_xid(s, len, j + 1)) != j + 1) {
            x->p = (span_t){j + 1, k};
            j = k;
            if ((k = match_dotted(s, len, j, '-', true)) != j) {
                x->pr = (span_t){j + 1, k};
                j = k;
            }
            j = match_dotted(s, len, j, '+', false);
        }
    }
    x->end = j;
    return true;
}

/* isX(): absent, 'x', 'X' or '*'. */
static bool is_x(const char *s, span_t id)
{
    return id.b == id.e ||
           (id.e - id.b == 1 && (s[id.b] == 'x' || s[id.b] == 'X' || s[id.b] == '*'));
}

static bool is_zero(const char *s, span_t id)
{
    return id.e - id.b == 1 && s[id.b] == '0';
}

/* `+id + 1` on a decimal string. Exact, where JavaScript rounds past 2^53; both results
 * exceed BG_SEMVER_MAX_NUMBER there, so the comparator is refused either way. */
static void put_inc(bg_pstr_t *out, const bg_pstr_t *src, span_t id)
{
    size_t n = id.e - id.b;
    char *d = bg_xmalloc(n + 2);
    size_t i = n;

    memcpy(d + 1, src->s + id.b, n);
    d[0] = '0';
    d[n + 1] = '\0';
    while (d[i] == '9')
        d[i--] = '0';
    d[i]++;
    bg_pstr_puts(out, d[0] == '0' ? d + 1 : d, src->col[id.b]);
    free(d);
}

/* ---- stage 1: build metadata (BUILDSTRIPRE, the unbounded BUILD regex, global) ----------- */

static void strip_build(const bg_pstr_t *in, bg_pstr_t *out)
{
    size_t i = 0;

    while (i < in->len) {
        size_t j, k;
        if (in->s[i] == '+' && i + 1 < in->len && bg_semver_is_ident(in->s[i + 1])) {
            for (j = i + 1; j < in->len && bg_semver_is_ident(in->s[j]); j++)
                ;
            while (j + 1 < in->len && in->s[j] == '.' && bg_semver_is_ident(in->s[j + 1])) {
                for (k = j + 1; k < in->len && bg_semver_is_ident(in->s[k]); k++)
                    ;
                j = k;
            }
            i = j;
            continue;
        }
        bg_pstr_putc(out, in->s[i], in->col[i]);
        i++;
    }
}

/* ---- stage 2: hyphen ranges (HYPHENRANGE + hyphenReplace) -------------------------------- */

/* ^\s?(XRANGEPLAIN)\s-\s(XRANGEPLAIN)\s?$ */
static bool match_hyphen(const bg_pstr_t *in, xplain_t *from, xplain_t *to)
{
    const char *s = in->s;
    size_t len = in->len, i = (len > 0 && s[0] == ' ') ? 1 : 0, k;

    if (!match_xplain(s, len, i, from))
        return false;
    i = from->end;
    if (i + 3 > len || s[i] != ' ' || s[i + 1] != '-' || s[i + 2] != ' ')
        return false;
    if (!match_xplain(s, len, i + 3, to))
        return false;
    k = to->end;
    if (k < len && s[k] == ' ')
        k++;
    return k == len;
}

/* `1.2 - 3.4` -> `>=1.2.0 <3.5.0-0`: a partial lower bound fills zeros, a partial upper
 * bound excludes the next minor/major; a full bound is kept with its v/= prefix. */
static void hyphen_replace(const bg_pstr_t *in, const xplain_t *f, const xplain_t *t,
                           bg_pstr_t *out)
{
    const char *s = in->s;
    bg_pstr_t tmp = {0};
    unsigned fc = in->col[f->start < in->len ? f->start : 0];
    unsigned tc = in->col[t->start];

    bg_pstr_puts(&tmp, "", 0);
    if (!is_x(s, f->M)) {
        bg_pstr_puts(&tmp, ">=", fc);
        if (is_x(s, f->m) || is_x(s, f->p)) {
            put_span(&tmp, in, f->M);
            bg_pstr_puts(&tmp, ".", fc);
            if (is_x(s, f->m))
                bg_pstr_puts(&tmp, "0", fc);
            else
                put_span(&tmp, in, f->m);
            bg_pstr_puts(&tmp, ".0", fc);
        } else {
            bg_pstr_putp(&tmp, in, f->start, f->end);
        }
    }
    bg_pstr_puts(&tmp, " ", tc);
    if (!is_x(s, t->M)) {
        if (is_x(s, t->m)) {
            bg_pstr_puts(&tmp, "<", tc);
            put_inc(&tmp, in, t->M);
            bg_pstr_puts(&tmp, ".0.0-0", tc);
        } else if (is_x(s, t->p)) {
            bg_pstr_puts(&tmp, "<", tc);
            put_span(&tmp, in, t->M);
            bg_pstr_puts(&tmp, ".", tc);
            put_inc(&tmp, in, t->m);
            bg_pstr_puts(&tmp, ".0-0", tc);
        } else if (t->pr.b != t->pr.e) {
            bg_pstr_puts(&tmp, "<=", tc);
            bg_pstr_putp(&tmp, in, t->M.b, t->pr.e);
        } else {
            bg_pstr_puts(&tmp, "<=", tc);
            bg_pstr_putp(&tmp, in, t->start, t->end);
        }
    }
    /* `${from} ${to}`.trim() */
    size_t b = 0, e = tmp.len;
    while (b < e && tmp.s[b] == ' ')
        b++;
    while (e > b && tmp.s[e - 1] == ' ')
        e--;
    bg_pstr_putp(out, &tmp, b, e);
    bg_pstr_fini(&tmp);
}

/* ---- stage 3: operator whitespace (internal/trim-comparator-whitespace.js) --------------- */

static bool is_version_prefix(char c)
{
    return c == 'v' || c == '=' || c == ' ';
}

static bool is_version_start(char c)
{
    return bg_semver_is_digit(c) || c == 'x' || c == 'X' || c == '*';
}

/* Digits at s[i], at most <limit>; end or i. */
static size_t digits_end(const char *s, size_t len, size_t i, size_t limit)
{
    size_t j = i;

    while (j < len && j - i < limit && bg_semver_is_digit(s[j]))
        j++;
    return j;
}

static size_t number_end(const char *s, size_t len, size_t i, bool loose)
{
    if (!loose && i < len && s[i] == '0')
        return i + 1;
    return digits_end(s, len, i, loose ? BG_SEMVER_MAX_LEN : BG_SEMVER_MAX_LEN + 1);
}

static size_t pre_ident_end(const char *s, size_t len, size_t i, bool loose)
{
    size_t d = digits_end(s, len, i, BG_SEMVER_MAX_LEN);

    if (d < len && ((s[d] >= 'a' && s[d] <= 'z') || (s[d] >= 'A' && s[d] <= 'Z') || s[d] == '-')) {
        size_t end = d + 1, limit = end + MAX_IDENT_TAIL;
        while (end < limit && end < len && bg_semver_is_ident(s[end]))
            end++;
        return end;
    }
    return number_end(s, len, i, loose);
}

static size_t pre_end(const char *s, size_t len, size_t i, bool loose)
{
    bool hyphen = i < len && s[i] == '-';
    size_t id0, end, next;

    if (!loose && !hyphen)
        return i;
    id0 = i + (hyphen ? 1 : 0);
    end = pre_ident_end(s, len, id0, loose);
    if (end == id0) {
        if (!loose || !hyphen)
            return i;
        end = pre_ident_end(s, len, i, loose);
    }
    while (end < len && s[end] == '.' && (next = pre_ident_end(s, len, end + 1, loose)) != end + 1)
        end = next;
    return end;
}

static size_t build_ident_end(const char *s, size_t len, size_t i)
{
    size_t j = i;

    while (j - i < MAX_IDENT_TAIL && j < len && bg_semver_is_ident(s[j]))
        j++;
    return j;
}

static size_t build_end(const char *s, size_t len, size_t i)
{
    size_t end, next;

    if (i >= len || s[i] != '+')
        return i;
    end = build_ident_end(s, len, i + 1);
    if (end == i + 1)
        return i;
    while (end < len && s[end] == '.' && (next = build_ident_end(s, len, end + 1)) != end + 1)
        end = next;
    return end;
}

static size_t loose_full_end(const char *s, size_t len, size_t i)
{
    size_t end = i;

    for (int c = 0; c < 3; c++) {
        size_t next = number_end(s, len, end, true);
        if (next == end)
            return i;
        end = next;
        if (c < 2) {
            if (end >= len || s[end] != '.')
                return i;
            end++;
        }
    }
    return build_end(s, len, pre_end(s, len, end, true));
}

static size_t partial_comp_end(const char *s, size_t len, size_t i)
{
    if (i < len && bg_semver_is_digit(s[i]))
        return number_end(s, len, i, false);
    return i < len && is_version_start(s[i]) ? i + 1 : i;
}

static size_t partial_end(const char *s, size_t len, size_t i)
{
    size_t end = partial_comp_end(s, len, i), next;

    for (int c = 0; c < 2; c++) {
        if (end >= len || s[end] != '.')
            return end;
        next = partial_comp_end(s, len, end + 1);
        if (next == end + 1)
            return end;
        end = next;
    }
    return build_end(s, len, pre_end(s, len, end, false));
}

static size_t version_end(const char *s, size_t len, size_t i)
{
    size_t full = loose_full_end(s, len, i);

    return full != i ? full : partial_end(s, len, i);
}

static size_t removable_ws(const char *s, size_t len, size_t at)
{
    if (at < len && s[at] == ' ')
        at++;
    if (at < len && (s[at] == '<' || s[at] == '>'))
        at++;
    if (at < len && s[at] == '=')
        at++;
    return at < len && s[at] == ' ' ? at : (size_t)-1;
}

/* `> 1.2.3 < 2` -> `>1.2.3 <2`: drops one space between an operator and its version. */
static void trim_operator_ws(const bg_pstr_t *in, bg_pstr_t *out)
{
    const char *s = in->s;
    size_t len = in->len, copy_from = 0, cur = 0;

    while (cur < len) {
        size_t start = cur, ws;
        if (s[cur] == '<' || s[cur] == '>') {
            cur++;
        } else if (!is_version_prefix(s[cur]) && !is_version_start(s[cur])) {
            cur++;
            continue;
        }
        while (cur < len && is_version_prefix(s[cur]))
            cur++;
        if (cur >= len || !is_version_start(s[cur]))
            continue;
        ws = removable_ws(s, len, start);
        if (ws != (size_t)-1) {
            bg_pstr_putp(out, in, copy_from, ws);
            copy_from = ws + 1;
        }
        cur = version_end(s, len, cur);
    }
    bg_pstr_putp(out, in, copy_from, len);
}

/* ---- stage 4: `~ 1` -> `~1`, `~> 1` -> `~1`, `^ 1` -> `^1` (TILDETRIM, CARETTRIM) -------- */

/* (\s?)<op>(>?)\s -> $1<op>, global. */
static void trim_lone_op(const bg_pstr_t *in, char op, bool allow_gt, bg_pstr_t *out)
{
    const char *s = in->s;
    size_t len = in->len, i = 0;

    while (i < len) {
        size_t matched = 0, g1 = 0;
        for (int lead = (s[i] == ' ') ? 1 : 0; lead >= 0 && !matched; lead--) {
            size_t j = i + (size_t)lead;
            if (j >= len || s[j] != op)
                continue;
            j++;
            for (int gt = (allow_gt && j < len && s[j] == '>') ? 1 : 0; gt >= 0; gt--) {
                if (j + (size_t)gt < len && s[j + (size_t)gt] == ' ') {
                    matched = j + (size_t)gt + 1;
                    g1 = (size_t)lead;
                    break;
                }
            }
        }
        if (!matched) {
            bg_pstr_putc(out, s[i], in->col[i]);
            i++;
            continue;
        }
        bg_pstr_putp(out, in, i, i + g1 + 1);
        i = matched;
    }
}

/* ---- stage 5: caret, tilde, x-range, star (replaceCaret ... replaceStars) -------------- */

typedef void (*token_fn)(const bg_pstr_t *tok, bg_pstr_t *out);

/* s.trim() (if <trim>) .split(/\s+/).map(fn).join(' ') */
static void map_tokens(const bg_pstr_t *in, bool trim, token_fn fn, bg_pstr_t *out)
{
    size_t b = 0, e = in->len, i;
    bool first = true;

    if (trim) {
        while (b < e && in->s[b] == ' ')
            b++;
        while (e > b && in->s[e - 1] == ' ')
            e--;
    }
    i = b;
    for (;;) {
        size_t j = i;
        bg_pstr_t tok = {0};
        while (j < e && in->s[j] != ' ')
            j++;
        bg_pstr_puts(&tok, "", bg_pstr_col(in, i));
        bg_pstr_putp(&tok, in, i, j);
        if (!first)
            bg_pstr_puts(out, " ", bg_pstr_col(in, i));
        fn(&tok, out);
        bg_pstr_fini(&tok);
        first = false;
        if (j >= e)
            break;
        while (j < e && in->s[j] == ' ')
            j++;
        i = j;
    }
}

/* Writes "<op>M.m.p" pieces: each piece either a span of <t> or a literal. */
static void put_lit(bg_pstr_t *out, const bg_pstr_t *t, const char *lit)
{
    bg_pstr_puts(out, lit, bg_pstr_col(t, 0));
}

/* `>=M.m.p[-pr]` with M, m, p spans (or "0" literals when absent). */
static void put_lower(bg_pstr_t *out, const bg_pstr_t *t, const xplain_t *x, int zeros)
{
    put_lit(out, t, ">=");
    put_span(out, t, x->M);
    put_lit(out, t, ".");
    if (zeros >= 2)
        put_lit(out, t, "0.0");
    else {
        put_span(out, t, x->m);
        put_lit(out, t, ".");
        if (zeros == 1)
            put_lit(out, t, "0");
        else
            put_span(out, t, x->p);
    }
    if (zeros == 0 && x->pr.b != x->pr.e) {
        put_lit(out, t, "-");
        put_span(out, t, x->pr);
    }
}

/* Upper bound `<X.Y.Z-0` bumping field <field> (0 major, 1 minor, 2 patch). */
static void put_upper(bg_pstr_t *out, const bg_pstr_t *t, const xplain_t *x, int field)
{
    put_lit(out, t, " <");
    if (field == 0) {
        put_inc(out, t, x->M);
        put_lit(out, t, ".0.0-0");
        return;
    }
    put_span(out, t, x->M);
    put_lit(out, t, ".");
    if (field == 1) {
        put_inc(out, t, x->m);
        put_lit(out, t, ".0-0");
        return;
    }
    put_span(out, t, x->m);
    put_lit(out, t, ".");
    put_inc(out, t, x->p);
    put_lit(out, t, "-0");
}

/* ^1.2.3 := >=1.2.3 <2.0.0-0; ^0.2.3 := >=0.2.3 <0.3.0-0; ^0.0.3 := >=0.0.3 <0.0.4-0. */
static void replace_caret(const bg_pstr_t *t, bg_pstr_t *out)
{
    const char *s = t->s;
    xplain_t x;

    if (t->len == 0 || s[0] != '^' || !match_xplain(s, t->len, 1, &x) || x.end != t->len) {
        bg_pstr_putp(out, t, 0, t->len);
        return;
    }
    if (is_x(s, x.M))
        return;
    if (is_x(s, x.m)) {
        put_lower(out, t, &x, 2);
        put_upper(out, t, &x, 0);
    } else if (is_x(s, x.p)) {
        put_lower(out, t, &x, 1);
        put_upper(out, t, &x, is_zero(s, x.M) ? 1 : 0);
    } else {
        put_lower(out, t, &x, 0);
        put_upper(out, t, &x, !is_zero(s, x.M) ? 0 : !is_zero(s, x.m) ? 1 : 2);
    }
}

/* ~1.2.3 := >=1.2.3 <1.3.0-0; ~1.2 := >=1.2.0 <1.3.0-0; ~1 := >=1.0.0 <2.0.0-0. */
static void replace_tilde(const bg_pstr_t *t, bg_pstr_t *out)
{
    const char *s = t->s;
    size_t i = 1;
    xplain_t x;

    if (t->len > 1 && s[1] == '>')
        i = 2;
    if (t->len == 0 || s[0] != '~' || !match_xplain(s, t->len, i, &x) || x.end != t->len) {
        bg_pstr_putp(out, t, 0, t->len);
        return;
    }
    if (is_x(s, x.M))
        return;
    if (is_x(s, x.m)) {
        put_lower(out, t, &x, 2);
        put_upper(out, t, &x, 0);
    } else {
        put_lower(out, t, &x, is_x(s, x.p) ? 1 : 0);
        put_upper(out, t, &x, 1);
    }
}

/* Comparator with x in it: `1.x` := >=1.0.0 <2.0.0-0, `>1.2` := >=1.3.0,
 * `<=1` := <2.0.0-0, `>*` := <0.0.0-0 (nothing), `*` := any. */
static void replace_xrange(const bg_pstr_t *t, bg_pstr_t *out)
{
    const char *s = t->s;
    size_t i = 0;
    char gtlt[3] = "";
    xplain_t x;

    if (i < t->len && (s[i] == '<' || s[i] == '>'))
        gtlt[0] = s[i++];
    if (i < t->len && s[i] == '=')
        gtlt[strlen(gtlt)] = s[i++];
    if (!match_xplain(s, t->len, i, &x) || x.end != t->len || (is_x(s, x.M) && !is_x(s, x.m)) ||
        (is_x(s, x.m) && x.p.b != x.p.e && !is_x(s, x.p))) {
        bg_pstr_putp(out, t, 0, t->len); /* no match, or invalidXRangeOrder: unchanged */
        return;
    }
    bool xM = is_x(s, x.M), xm = xM || is_x(s, x.m), xp = xm || is_x(s, x.p);
    if (strcmp(gtlt, "=") == 0 && xp)
        gtlt[0] = '\0';
    if (xM) {
        put_lit(out, t, strcmp(gtlt, ">") == 0 || strcmp(gtlt, "<") == 0 ? "<0.0.0-0" : "*");
    } else if (gtlt[0] != '\0' && xp) {
        int bump = -1; /* field to increment */
        if (strcmp(gtlt, ">") == 0) {
            snprintf(gtlt, sizeof(gtlt), ">=");
            bump = xm ? 0 : 1;
        } else if (strcmp(gtlt, "<=") == 0) {
            snprintf(gtlt, sizeof(gtlt), "<");
            bump = xm ? 0 : 1;
        }
        put_lit(out, t, gtlt);
        if (bump == 0)
            put_inc(out, t, x.M);
        else
            put_span(out, t, x.M);
        put_lit(out, t, ".");
        if (xm)
            put_lit(out, t, "0");
        else if (bump == 1)
            put_inc(out, t, x.m);
        else
            put_span(out, t, x.m);
        put_lit(out, t, strcmp(gtlt, "<") == 0 ? ".0-0" : ".0");
    } else if (xm) {
        put_lower(out, t, &x, 2);
        put_upper(out, t, &x, 0);
    } else if (xp) {
        put_lower(out, t, &x, 1);
        put_upper(out, t, &x, 1);
    } else {
        bg_pstr_putp(out, t, 0, t->len);
    }
}

/* STAR: the first match of (<|>)?=?\s?\* is deleted, wherever it is. */
static void replace_stars(const bg_pstr_t *in, bg_pstr_t *out)
{
    const char *s = in->s;
    size_t b = 0, e = in->len;

    while (b < e && s[b] == ' ')
        b++;
    while (e > b && s[e - 1] == ' ')
        e--;
    for (size_t i = b; i < e; i++) {
        size_t j = i;
        if (s[j] == '<' || s[j] == '>')
            j++;
        if (j < e && s[j] == '=')
            j++;
        if (j < e && s[j] == ' ')
            j++;
        /* Taking each optional part when present is the only way to match from <i>:
         * the four parts' character classes are disjoint, so skipping one leaves a
         * character no later part accepts. */
        size_t star = j;
        if (star < e && s[star] == '*') {
            bg_pstr_putp(out, in, b, i);
            bg_pstr_putp(out, in, star + 1, e);
            return;
        }
    }
    bg_pstr_putp(out, in, b, e);
}

static void parse_comparator_text(const bg_pstr_t *tok, bg_pstr_t *out)
{
    bg_pstr_t a = {0}, b = {0}, c = {0};

    bg_pstr_puts(&a, "", bg_pstr_col(tok, 0));
    bg_pstr_puts(&b, "", bg_pstr_col(tok, 0));
    bg_pstr_puts(&c, "", bg_pstr_col(tok, 0));
    map_tokens(tok, true, replace_caret, &a);
    map_tokens(&a, true, replace_tilde, &b);
    map_tokens(&b, false, replace_xrange, &c);
    replace_stars(&c, out);
    bg_pstr_fini(&a);
    bg_pstr_fini(&b);
    bg_pstr_fini(&c);
}

/* replaceGTE0: `>=0.0.0` alone means any version. */
static void push_final(bg_pstr_list_t *out, const bg_pstr_t *joined, size_t i, size_t j)
{
    bg_pstr_t *t = bg_pstr_list_push(out);

    if (j - i == 7 && memcmp(joined->s + i, ">=0.0.0", 7) == 0)
        return;
    bg_pstr_putp(t, joined, i, j);
}

void bg_range_rewrite(const bg_pstr_t *part, bg_pstr_list_t *out)
{
    bg_pstr_t a = {0}, b = {0}, c = {0}, d = {0}, joined = {0};
    xplain_t from, to;
    size_t i, j;

    bg_pstr_puts(&a, "", 1);
    bg_pstr_puts(&b, "", 1);
    bg_pstr_puts(&c, "", 1);
    bg_pstr_puts(&d, "", 1);
    bg_pstr_puts(&joined, "", 1);
    strip_build(part, &a);
    if (match_hyphen(&a, &from, &to))
        hyphen_replace(&a, &from, &to, &b);
    else
        bg_pstr_putp(&b, &a, 0, a.len);
    bg_pstr_fini(&a);
    bg_pstr_puts(&a, "", 1);
    trim_operator_ws(&b, &a);
    trim_lone_op(&a, '~', true, &c);
    trim_lone_op(&c, '^', false, &d);

    /* .split(' ').map(parseComparator).join(' ') */
    for (i = 0;; i = j + 1) {
        bg_pstr_t tok = {0};
        for (j = i; j < d.len && d.s[j] != ' '; j++)
            ;
        bg_pstr_puts(&tok, "", bg_pstr_col(&d, i));
        bg_pstr_putp(&tok, &d, i, j);
        if (i > 0)
            bg_pstr_puts(&joined, " ", bg_pstr_col(&d, i));
        parse_comparator_text(&tok, &joined);
        bg_pstr_fini(&tok);
        if (j >= d.len)
            break;
    }
    /* .split(/\s+/) */
    for (i = 0;;) {
        for (j = i; j < joined.len && joined.s[j] != ' '; j++)
            ;
        push_final(out, &joined, i, j);
        if (j >= joined.len)
            break;
        while (j < joined.len && joined.s[j] == ' ')
            j++;
        i = j;
    }
    bg_pstr_fini(&a);
    bg_pstr_fini(&b);
    bg_pstr_fini(&c);
    bg_pstr_fini(&d);
    bg_pstr_fini(&joined);
}
