/* Allocation that never returns NULL: on exhaustion it logs and aborts (Redis zmalloc,
 * h2o h2o_mem_alloc). Memory is bounded by the limits of docs/design.md §7, not by NULL checks.
 * Thread: any.
 */
#ifndef BG_BASE_MEM_H
#define BG_BASE_MEM_H

#include <stddef.h>

void *bg_xmalloc(size_t size);
void *bg_xcalloc(size_t n, size_t size);
void *bg_xrealloc(void *p, size_t size);
/* Copies <s> (NULL gives NULL). Caller owns the result. */
char *bg_strdup(const char *s);
/* Copies <len> bytes of <s> and adds a NUL. Caller owns the result. */
char *bg_strndup(const char *s, size_t len);
/* printf into a new string. Caller owns the result. */
char *bg_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define BG_NEW(type) ((type *)bg_xcalloc(1, sizeof(type)))
#define BG_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
