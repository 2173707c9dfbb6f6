/* One logging call writing key=value lines to stderr (kamal-proxy's slog shape):
 *   ts=2026-11-27T12:00:00.123Z level=info component=deploy phase=SCALE_UP service=orders
 * Log once, where the error is handled. Thread: any (one write(2) per line).
 */
#ifndef BG_BASE_LOG_H
#define BG_BASE_LOG_H

typedef enum bg_log_level {
    BG_LOG_DEBUG = 0,
    BG_LOG_INFO = 1,
    BG_LOG_WARN = 2,
    BG_LOG_ERROR = 3,
    BG_LOG_OFF = 4,
} bg_log_level_t;

/* Sets the minimum level printed (default info; env BLUEGREEN_LOG=debug|info|warn|error|off
 * is read once by bg_log_init()). */
void bg_log_set_level(bg_log_level_t level);
void bg_log_init(void);
bg_log_level_t bg_log_level(void);
const char *bg_log_level_str(bg_log_level_t level);

/* <fmt> holds the rest of the line, normally `key=value` pairs. */
void bg_log(bg_log_level_t level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
