/* String views and unit parsing: see str.h. */
#include "base/str.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

static int lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

bool bg_str_case_eq(bg_str_t a, bg_str_t b)
{
    if (a.len != b.len)
        return false;
    for (size_t i = 0; i < a.len; i++)
        if (lower((unsigned char)a.ptr[i]) != lower((unsigned char)b.ptr[i]))
            return false;
    return true;
}

bg_str_t bg_str_trim(bg_str_t s)
{
    while (s.len > 0 && (s.ptr[0] == ' ' || s.ptr[0] == '\t')) {
        s.ptr++;
        s.len--;
    }
    while (s.len > 0 && (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t'))
        s.len--;
    return s;
}

bool bg_str_to_u64(bg_str_t s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;

    if (s.len == 0)
        return false;
    for (size_t i = 0; i < s.len; i++) {
        unsigned d = (unsigned)(s.ptr[i] - '0');
        if (d > 9)
            return false;
        if (v > (max - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* Splits "<number><unit>" into a finite non-negative number and its unit suffix. */
static bool split_number(const char *s, double *num, const char **unit)
{
    char *end = NULL;

    if (s == NULL || !(isdigit((unsigned char)s[0]) || s[0] == '.'))
        return false;
    errno = 0;
    *num = strtod(s, &end);
    if (errno != 0 || end == s || !isfinite(*num) || *num < 0)
        return false;
    *unit = end;
    return true;
}

bool bg_duration_parse(const char *s, uint64_t *ms)
{
    static const struct {
        const char *unit;
        double ms;
    } units[] = {{"", 1}, {"ms", 1}, {"us", 0.001}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
    double num;
    const char *unit;

    if (!split_number(s, &num, &unit))
        return false;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(unit, units[i].unit) == 0) {
            double v = num * units[i].ms;
            if (v > 1e15)
                return false;
            *ms = (uint64_t)llround(v);
            return true;
        }
    }
    return false;
}

char *bg_duration_format(uint64_t ms, char *out, size_t size)
{
    if (ms != 0 && ms % 3600000 == 0)
        snprintf(out, size, "%lluh", (unsigned long long)(ms / 3600000));
    else if (ms != 0 && ms % 60000 == 0)
        snprintf(out, size, "%llum", (unsigned long long)(ms / 60000));
    else if (ms != 0 && ms % 1000 == 0)
        snprintf(out, size, "%llus", (unsigned long long)(ms / 1000));
    else
        snprintf(out, size, "%llums", (unsigned long long)ms);
    return out;
}

bool bg_percent_parse(const char *s, double *pct)
{
    double num;
    const char *unit;

    if (!split_number(s, &num, &unit))
        return false;
    if (!(unit[0] == '\0' || strcmp(unit, "%") == 0) || num > 100)
        return false;
    *pct = num;
    return true;
}

bool bg_size_parse(const char *s, uint64_t *bytes)
{
    static const struct {
        const char *unit;
        double mult;
    } units[] = {{"", 1},           {"b", 1},           {"k", 1024},       {"kb", 1024},
                 {"kib", 1024},     {"m", 1048576},     {"mb", 1048576},   {"mib", 1048576},
                 {"g", 1073741824}, {"gb", 1073741824}, {"gib", 1073741824},
                 {"ki", 1024},      {"mi", 1048576},    {"gi", 1073741824}};
    double num;
    const char *unit;

    if (!split_number(s, &num, &unit))
        return false;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcasecmp(unit, units[i].unit) == 0) {
            double v = num * units[i].mult;
            if (v > 1e18)
                return false;
            *bytes = (uint64_t)llround(v);
            return true;
        }
    }
    return false;
}
