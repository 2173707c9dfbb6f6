/* Error codes and the error report that carries a human-readable reason.
 *
 * Functions return 0 or a negative code: libuv's UV_E* (negated errno values) or our own
 * BG_E* below, which sit far below libuv's range. bg_strerror() names both. When a human
 * needs to know why (config, admin API, drivers), a function takes `bg_err_t *err` last and
 * fills it; `err` may be NULL when the caller does not care.
 */
#ifndef BG_BASE_ERR_H
#define BG_BASE_ERR_H

#include <stdarg.h>
#include <stddef.h>

enum bg_errcode {
    BG_EINVAL = -30001,   /* bad input (config, request, argument) */
    BG_ENOTFOUND = -30002,
    BG_EEXIST = -30003,
    BG_ECONFLICT = -30004, /* state does not allow this now */
    BG_EREFUSED = -30005,  /* refused by a gate */
    BG_EIO = -30006,
    BG_ETIMEDOUT = -30007,
    BG_EPROTO = -30008,    /* peer spoke the protocol wrongly */
    BG_EUNAVAIL = -30009,  /* daemon or dependency unreachable */
    BG_EFAULT_INJECTED = -30010,
};

#define BG_ERR_MSG_MAX 512
#define BG_ERR_PATH_MAX 256

typedef struct bg_err {
    int code;                     /* 0 when no error was recorded */
    char msg[BG_ERR_MSG_MAX];     /* what went wrong and what was expected */
    char file[BG_ERR_PATH_MAX];   /* optional source file ("" if none) */
    unsigned line, column;        /* 1-based; 0 if unknown */
    char key[BG_ERR_PATH_MAX];    /* optional key path, e.g. services.orders.health.interval */
} bg_err_t;

/* Clears <err> (may be NULL). */
void bg_err_clear(bg_err_t *err);

/* Records <code> and a printf-style message in <err> (may be NULL); returns <code> so
 * callers can write `return bg_err_set(err, BG_EINVAL, "...")`. */
int bg_err_set(bg_err_t *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like bg_err_set() with a position: file:line:column and key path (each may be NULL/0). */
int bg_err_set_at(bg_err_t *err, int code, const char *file, unsigned line, unsigned column,
                  const char *key, const char *fmt, ...) __attribute__((format(printf, 7, 8)));

/* Formats <err> as "file:line:col: key: msg" (parts that are unset are left out) into
 * <out> of <size> bytes. Returns <out>. */
char *bg_err_format(const bg_err_t *err, char *out, size_t size);

/* Name of a negative code (ours or libuv's / errno). Never NULL. */
const char *bg_strerror(int code);

#endif
