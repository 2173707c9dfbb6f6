/* See promparse.h. */
#include "promparse.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FAMILIES 128

typedef struct family {
    char name[128];
    char type[256];
    bool help, typed, closed;
} family_t;

typedef struct state {
    prom_t *p;
    family_t fam[MAX_FAMILIES];
    size_t n_fam;
    family_t *current;
    /* histogram series being checked */
    char hist_series[512];
    double last_bucket;
    bool saw_inf;
    double inf_value;
    int line;
} state_t;

static bool fail(state_t *st, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(st->p->err, sizeof(st->p->err), "line %d: ", st->line);

    va_start(ap, fmt);
    vsnprintf(st->p->err + n, sizeof(st->p->err) - (size_t)n, fmt, ap);
    va_end(ap);
    return false;
}

static family_t *find_family(state_t *st, const char *name)
{
    for (size_t i = 0; i < st->n_fam; i++)
        if (strcmp(st->fam[i].name, name) == 0)
            return &st->fam[i];
    return NULL;
}

static bool valid_name(const char *s)
{
    if (!(isalpha((unsigned char)*s) || *s == '_' || *s == ':'))
        return false;
    for (s++; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_' || *s == ':'))
            return false;
    return true;
}

/* "# HELP name text" / "# TYPE name type" */
static bool comment_line(state_t *st, const char *line)
{
    char kind[8], name[128], rest[256];
    family_t *f;

    if (sscanf(line, "# %7s %127s %255[^\n]", kind, name, rest) != 3)
        return strncmp(line, "# HELP", 6) != 0 && strncmp(line, "# TYPE", 6) != 0
                   ? true
                   : fail(st, "malformed %s", line);
    if (!valid_name(name))
        return fail(st, "bad metric name '%s'", name);
    f = find_family(st, name);
    if (f == NULL) {
        if (st->n_fam == MAX_FAMILIES)
            return fail(st, "too many families");
        f = &st->fam[st->n_fam++];
        snprintf(f->name, sizeof(f->name), "%s", name);
    }
    if (f->closed)
        return fail(st, "family %s declared again after its samples", name);
    if (st->current != NULL && st->current != f)
        st->current->closed = true;
    st->current = f;
    if (strcmp(kind, "HELP") == 0) {
        if (f->help)
            return fail(st, "second HELP for %s", name);
        f->help = true;
    } else if (strcmp(kind, "TYPE") == 0) {
        if (f->typed)
            return fail(st, "second TYPE for %s", name);
        if (strcmp(rest, "counter") && strcmp(rest, "gauge") && strcmp(rest, "histogram") &&
            strcmp(rest, "summary") && strcmp(rest, "untyped"))
            return fail(st, "bad type '%s'", rest);
        snprintf(f->type, sizeof(f->type), "%s", rest);
        f->typed = true;
    }
    return true;
}

/* Parses {k="v",...} at <p>; writes the unescaped canonical form. Returns the position
 * after '}' or NULL. */
static const char *parse_labels(state_t *st, const char *p, char *out, size_t size, char *le,
                                size_t le_size)
{
    size_t o = 0;

    out[0] = '\0';
    le[0] = '\0';
    if (*p != '{')
        return p;
    p++;
    while (*p != '}') {
        char key[64];
        size_t k = 0, vstart;
        while (isalnum((unsigned char)*p) || *p == '_') {
            if (k + 1 < sizeof(key))
                key[k++] = *p;
            p++;
        }
        key[k] = '\0';
        if (k == 0 || p[0] != '=' || p[1] != '"') {
            fail(st, "bad label syntax near '%.20s'", p);
            return NULL;
        }
        p += 2;
        o += (size_t)snprintf(out + o, size - o, "%s%s=", o ? "," : "", key);
        vstart = o;
        while (*p != '"') {
            char c = *p;
            if (c == '\0' || c == '\n') {
                fail(st, "unterminated label value");
                return NULL;
            }
            if (c == '\\') {
                p++;
                if (*p == 'n')
                    c = '\n';
                else if (*p == '\\' || *p == '"')
                    c = *p;
                else {
                    fail(st, "bad escape \\%c", *p);
                    return NULL;
                }
            }
            if (o + 1 < size)
                out[o++] = c;
            out[o] = '\0';
            p++;
        }
        if (strcmp(key, "le") == 0)
            snprintf(le, le_size, "%s", out + vstart);
        p++;
        if (*p == ',')
            p++;
        else if (*p != '}') {
            fail(st, "expected , or } after label value");
            return NULL;
        }
    }
    return p + 1;
}

/* Histogram checks for one sample of family <f> (name is the full sample name). */
static bool check_histogram(state_t *st, const char *name, const char *labels, const char *le,
                            double v)
{
    size_t fl = strlen(st->current->name);
    const char *suffix = name + fl;
    char series[512];
    const char *le_pos = strstr(labels, "le=");

    /* The series is the label set without le. */
    snprintf(series, sizeof(series), "%.*s", le_pos ? (int)(le_pos - labels) : (int)strlen(labels),
             labels);
    if (strcmp(suffix, "_bucket") == 0) {
        double bound;
        if (*le == '\0')
            return fail(st, "bucket without le");
        if (strcmp(series, st->hist_series) != 0) {
            if (st->hist_series[0] != '\0' && !st->saw_inf)
                return fail(st, "series %s ended without le=\"+Inf\"", st->hist_series);
            snprintf(st->hist_series, sizeof(st->hist_series), "%s", series);
            st->last_bucket = -1;
            st->saw_inf = false;
        }
        if (st->saw_inf)
            return fail(st, "bucket after +Inf");
        bound = strcmp(le, "+Inf") == 0 ? INFINITY : strtod(le, NULL);
        if (v < st->last_bucket)
            return fail(st, "bucket le=%s=%g below previous %g: not cumulative", le, v,
                        st->last_bucket);
        st->last_bucket = v;
        if (isinf(bound)) {
            st->saw_inf = true;
            st->inf_value = v;
        }
        return true;
    }
    if (strcmp(suffix, "_count") == 0) {
        if (!st->saw_inf || strncmp(labels, st->hist_series, strlen(labels)) != 0)
            return fail(st, "_count without its buckets");
        if (v != st->inf_value)
            return fail(st, "_count %g != +Inf bucket %g", v, st->inf_value);
        return true;
    }
    if (strcmp(suffix, "_sum") == 0)
        return true;
    return fail(st, "sample %s does not belong to histogram %s", name, st->current->name);
}

static bool sample_line(state_t *st, const char *line)
{
    prom_sample_t s;
    char le[64];
    const char *p = line;
    size_t k = 0;
    char *end;
    family_t *f = st->current;

    while (*p && *p != '{' && *p != ' ') {
        if (k + 1 < sizeof(s.name))
            s.name[k++] = *p;
        p++;
    }
    s.name[k] = '\0';
    if (!valid_name(s.name))
        return fail(st, "bad sample name '%s'", s.name);
    p = parse_labels(st, p, s.labels, sizeof(s.labels), le, sizeof(le));
    if (p == NULL)
        return false;
    if (*p != ' ')
        return fail(st, "expected a space before the value");
    s.value = strtod(p + 1, &end);
    if (end == p + 1 || (*end != '\0' && *end != ' '))
        return fail(st, "bad value '%s'", p + 1);
    if (f == NULL || !f->typed || !f->help)
        return fail(st, "sample %s before its HELP and TYPE", s.name);
    if (strcmp(f->type, "histogram") == 0) {
        if (strncmp(s.name, f->name, strlen(f->name)) != 0)
            return fail(st, "sample %s inside family %s", s.name, f->name);
        if (!check_histogram(st, s.name, s.labels, le, s.value))
            return false;
    } else if (strcmp(s.name, f->name) != 0) {
        return fail(st, "sample %s inside family %s", s.name, f->name);
    }
    if (strcmp(f->type, "counter") == 0 && s.value < 0)
        return fail(st, "negative counter");
    st->p->samples = realloc(st->p->samples, (st->p->n + 1) * sizeof(prom_sample_t));
    st->p->samples[st->p->n++] = s;
    return true;
}

bool prom_parse(const char *text, prom_t *out)
{
    state_t *st = calloc(1, sizeof(*st));
    const char *p = text;
    bool ok = true;

    memset(out, 0, sizeof(*out));
    st->p = out;
    if (*text == '\0' || text[strlen(text) - 1] != '\n') {
        free(st);
        snprintf(out->err, sizeof(out->err), "text must end with a newline");
        return false;
    }
    while (ok && *p) {
        const char *nl = strchr(p, '\n');
        char line[2048];
        st->line++;
        snprintf(line, sizeof(line), "%.*s", (int)(nl - p), p);
        if (line[0] == '#')
            ok = comment_line(st, line);
        else if (line[0] != '\0')
            ok = sample_line(st, line);
        p = nl + 1;
    }
    if (ok && st->hist_series[0] != '\0' && !st->saw_inf)
        ok = fail(st, "histogram ended without +Inf");
    free(st);
    return ok;
}

void prom_fini(prom_t *p)
{
    free(p->samples);
    p->samples = NULL;
    p->n = 0;
}

double prom_get(const prom_t *p, const char *name, const char *labels, bool *found)
{
    for (size_t i = 0; i < p->n; i++) {
        if (strcmp(p->samples[i].name, name) == 0 && strcmp(p->samples[i].labels, labels) == 0) {
            *found = true;
            return p->samples[i].value;
        }
    }
    *found = false;
    return NAN;
}

size_t prom_count(const prom_t *p, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < p->n; i++)
        n += strcmp(p->samples[i].name, name) == 0;
    return n;
}
