/* Growable buffer: see buf.h. */
#include "base/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

void bg_buf_init(bg_buf_t *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void bg_buf_fini(bg_buf_t *b)
{
    free(b->data);
    bg_buf_init(b);
}

void bg_buf_reset(bg_buf_t *b)
{
    b->len = 0;
    if (b->cap > 0)
        b->data[0] = '\0';
}

void bg_buf_reserve(bg_buf_t *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    size_t cap = b->cap ? b->cap : 256;

    if (need <= b->cap)
        return;
    while (cap < need)
        cap *= 2;
    b->data = bg_xrealloc(b->data, cap);
    b->cap = cap;
    b->data[b->len] = '\0'; /* buf.h: NUL-terminated whenever cap > 0 */
}

void bg_buf_append(bg_buf_t *b, const void *p, size_t n)
{
    bg_buf_reserve(b, n);
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void bg_buf_puts(bg_buf_t *b, const char *s)
{
    bg_buf_append(b, s, strlen(s));
}

void bg_buf_vprintf(bg_buf_t *b, const char *fmt, va_list ap)
{
    va_list ap2;
    int n;

    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n <= 0)
        return;
    bg_buf_reserve(b, (size_t)n);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void bg_buf_printf(bg_buf_t *b, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    bg_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void bg_buf_consume(bg_buf_t *b, size_t n)
{
    if (n >= b->len) {
        bg_buf_reset(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

char *bg_buf_steal(bg_buf_t *b)
{
    char *p = b->data;
    if (p == NULL)
        p = bg_strdup("");
    bg_buf_init(b);
    return p;
}
