/* key=value logging: see log.h. */
#include "base/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static _Atomic int min_level = BG_LOG_INFO;

void bg_log_set_level(bg_log_level_t level)
{
    atomic_store(&min_level, (int)level);
}

bg_log_level_t bg_log_level(void)
{
    return (bg_log_level_t)atomic_load(&min_level);
}

const char *bg_log_level_str(bg_log_level_t level)
{
    switch (level) {
    case BG_LOG_DEBUG: return "debug";
    case BG_LOG_INFO: return "info";
    case BG_LOG_WARN: return "warn";
    case BG_LOG_ERROR: return "error";
    case BG_LOG_OFF: return "off";
    }
    return "?";
}

void bg_log_init(void)
{
    const char *v = getenv("BLUEGREEN_LOG");
    if (v == NULL)
        return;
    for (int l = BG_LOG_DEBUG; l <= BG_LOG_OFF; l++)
        if (strcmp(v, bg_log_level_str((bg_log_level_t)l)) == 0)
            bg_log_set_level((bg_log_level_t)l);
}

void bg_log(bg_log_level_t level, const char *component, const char *fmt, ...)
{
    char line[2048];
    struct timeval tv;
    struct tm tm;
    size_t n;
    va_list ap;

    if ((int)level < atomic_load_explicit(&min_level, memory_order_relaxed))
        return;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    n = strftime(line, sizeof(line), "ts=%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03ldZ level=%s component=%s ",
                          (long)(tv.tv_usec / 1000), bg_log_level_str(level), component);
    va_start(ap, fmt);
    if (n < sizeof(line))
        n += (size_t)vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    va_end(ap);
    if (n >= sizeof(line) - 1)
        n = sizeof(line) - 2;
    line[n++] = '\n';
    (void)!write(STDERR_FILENO, line, n);
}
