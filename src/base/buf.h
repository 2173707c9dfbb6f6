/* A growable byte buffer the caller owns (bg_buf_init/bg_buf_fini). Used for building
 * responses, JSON and Prometheus text. Thread: any (one owner at a time).
 */
#ifndef BG_BASE_BUF_H
#define BG_BASE_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct bg_buf {
    char *data; /* NUL-terminated when cap > 0 */
    size_t len;
    size_t cap;
} bg_buf_t;

void bg_buf_init(bg_buf_t *b);
void bg_buf_fini(bg_buf_t *b);
void bg_buf_reset(bg_buf_t *b);
void bg_buf_reserve(bg_buf_t *b, size_t extra);
void bg_buf_append(bg_buf_t *b, const void *p, size_t n);
void bg_buf_puts(bg_buf_t *b, const char *s);
void bg_buf_printf(bg_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void bg_buf_vprintf(bg_buf_t *b, const char *fmt, va_list ap);
/* Drops the first <n> bytes. */
void bg_buf_consume(bg_buf_t *b, size_t n);
/* Hands the bytes to the caller (who frees them) and leaves <b> empty. */
char *bg_buf_steal(bg_buf_t *b);

#endif
