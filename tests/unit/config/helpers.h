/* Shared helpers of the config unit tests: parse from a string and get either the config
 * or the formatted error ("name:line:col: key.path: message"). */
#ifndef BG_TEST_CONFIG_HELPERS_H
#define BG_TEST_CONFIG_HELPERS_H

#include <criterion/criterion.h>
#include <string.h>

#include "base/err.h"
#include "config/config.h"

static inline bg_config_t *parse_ok(const char *text)
{
    bg_err_t err;
    char buf[1024];
    bg_config_t *cfg = bg_config_parse(text, strlen(text), "t.yaml", &err);

    if (cfg == NULL)
        cr_assert_fail("unexpected config error: %s", bg_err_format(&err, buf, sizeof(buf)));
    return cfg;
}

/* Returns the formatted error in a static buffer; fails the test if the config loaded. */
static inline const char *parse_err(const char *text)
{
    static char buf[1024];
    bg_err_t err;
    bg_config_t *cfg = bg_config_parse(text, strlen(text), "t.yaml", &err);

    if (cfg != NULL) {
        bg_config_free(cfg);
        cr_assert_fail("config loaded but an error was expected:\n%s", text);
    }
    cr_assert_eq(err.code, BG_EINVAL);
    return bg_err_format(&err, buf, sizeof(buf));
}

#define assert_err(text, expected)                                                                 \
    do {                                                                                           \
        const char *got_ = parse_err(text);                                                        \
        cr_assert_str_eq(got_, expected);                                                          \
    } while (0)

/* A minimal valid service body to build error cases on. */
#define SVC_RUN "    run: {command: ./app}\n"

#endif
