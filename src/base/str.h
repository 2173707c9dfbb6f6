/* Borrowed string views and small text helpers. A bg_str_t never owns its bytes.
 * Thread: any.
 */
#ifndef BG_BASE_STR_H
#define BG_BASE_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct bg_str {
    const char *ptr;
    size_t len;
} bg_str_t;

#define BG_STR_LIT(s) ((bg_str_t){(s), sizeof(s) - 1})

static inline bg_str_t bg_str(const char *s)
{
    return (bg_str_t){s, s ? strlen(s) : 0};
}

static inline bool bg_str_eq(bg_str_t a, bg_str_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* The value of one hex digit (either case), or -1 when <c> is not one. */
static inline int bg_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* ASCII case-insensitive equality (header names, tokens). */
bool bg_str_case_eq(bg_str_t a, bg_str_t b);
/* Removes leading and trailing spaces and tabs (RFC 9110 OWS). */
bg_str_t bg_str_trim(bg_str_t s);
/* Strict unsigned decimal: digits only, no sign, no overflow past <max>. */
bool bg_str_to_u64(bg_str_t s, uint64_t max, uint64_t *out);
/* Durations: "500ms", "30s", "5m", "1h", "250us" (bare number = ms). -> milliseconds. */
bool bg_duration_parse(const char *s, uint64_t *ms);
/* Formats <ms> as the shortest exact unit ("1500ms", "30s", "5m"). */
char *bg_duration_format(uint64_t ms, char *out, size_t size);
/* Percentages: "10%" or "10" or "0.5%" -> value in percent. */
bool bg_percent_parse(const char *s, double *pct);
/* Sizes: "16k", "16KiB", "1m", "1MiB", "256Mi" (Kubernetes style), "512" -> bytes. */
bool bg_size_parse(const char *s, uint64_t *bytes);

#endif
