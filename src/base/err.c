/* Error reports: see err.h. */
#include "base/err.h"

#include <stdio.h>
#include <string.h>

#include <uv.h>

void bg_err_clear(bg_err_t *err)
{
    if (err == NULL)
        return;
    memset(err, 0, sizeof(*err));
}

/* Every set starts from a clean report, so a position left by an earlier error never
 * decorates a later one. */
static void err_vset(bg_err_t *err, int code, const char *fmt, va_list ap)
{
    char msg[BG_ERR_MSG_MAX];

    /* format first: the arguments may point into <err> itself (re-wrapping a message) */
    vsnprintf(msg, sizeof(msg), fmt, ap);
    memset(err, 0, sizeof(*err));
    err->code = code;
    memcpy(err->msg, msg, sizeof(msg));
}

int bg_err_set(bg_err_t *err, int code, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return code;
    va_start(ap, fmt);
    err_vset(err, code, fmt, ap);
    va_end(ap);
    return code;
}

int bg_err_set_at(bg_err_t *err, int code, const char *file, unsigned line, unsigned column,
                  const char *key, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return code;
    va_start(ap, fmt);
    err_vset(err, code, fmt, ap);
    va_end(ap);
    snprintf(err->file, sizeof(err->file), "%s", file ? file : "");
    snprintf(err->key, sizeof(err->key), "%s", key ? key : "");
    err->line = line;
    err->column = column;
    return code;
}

char *bg_err_format(const bg_err_t *err, char *out, size_t size)
{
    size_t n = 0;

    if (size == 0)
        return out;
    out[0] = '\0';
    if (err->file[0] != '\0') {
        if (err->line > 0)
            n += (size_t)snprintf(out + n, size - n, "%s:%u:%u: ", err->file, err->line,
                                  err->column);
        else
            n += (size_t)snprintf(out + n, size - n, "%s: ", err->file);
    }
    if (n < size && err->key[0] != '\0')
        n += (size_t)snprintf(out + n, size - n, "%s: ", err->key);
    if (n < size)
        snprintf(out + n, size - n, "%s", err->msg[0] ? err->msg : bg_strerror(err->code));
    return out;
}

const char *bg_strerror(int code)
{
    switch (code) {
    case 0: return "ok";
    case BG_EINVAL: return "invalid input";
    case BG_ENOTFOUND: return "not found";
    case BG_EEXIST: return "already exists";
    case BG_ECONFLICT: return "conflict with current state";
    case BG_EREFUSED: return "refused";
    case BG_EIO: return "i/o error";
    case BG_ETIMEDOUT: return "timed out";
    case BG_EPROTO: return "protocol error";
    case BG_EUNAVAIL: return "unavailable";
    case BG_EFAULT_INJECTED: return "injected fault";
    default: return code < 0 && code > -4096 ? uv_strerror(code) : "unknown error";
    }
}
