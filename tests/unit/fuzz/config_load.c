/* Fuzz entry point: the config loader (src/config/). The bytes are parsed as a whole
 * config (bg_config_parse) and as a revision file (bg_revision_parse), both without a
 * base service and, when the config loaded, against its first service.
 *
 * Invariants: either a config / revision or an error with code BG_EINVAL and a non-empty
 * message; freeing is clean (ASan reports leaks at exit).
 */
#include <string.h>

#include "base/err.h"
#include "config/config.h"
#include "fuzz.h"

static void check_err(const bg_err_t *err, const char *what)
{
    BG_FUZZ_CHECK(err->code == BG_EINVAL, "%s failed with code %d (%s)", what, err->code,
                  err->msg);
    BG_FUZZ_CHECK(err->msg[0] != '\0', "%s failed without a message", what);
    BG_FUZZ_CHECK(memchr(err->msg, '\0', sizeof(err->msg)) != NULL, "%s: unterminated", what);
}

static void revision(const char *text, size_t len, const bg_service_config_t *svc)
{
    bg_revision_config_t rev;
    bg_err_t err;
    int rc;

    memset(&rev, 0, sizeof(rev));
    bg_err_clear(&err);
    rc = bg_revision_parse(text, len, "fuzz-rev.yaml", svc, &rev, &err);
    if (rc == 0) {
        bg_revision_config_t copy;

        bg_revision_config_copy(&copy, &rev);
        bg_revision_config_fini(&copy);
        bg_revision_config_fini(&rev);
        return;
    }
    BG_FUZZ_CHECK(rc == BG_EINVAL, "bg_revision_parse returned %d", rc);
    check_err(&err, "bg_revision_parse");
}

int bg_fuzz_config_load(const uint8_t *data, size_t size)
{
    bg_err_t err;
    bg_config_t *cfg;
    /* the loader gets a length, but a NUL after the bytes catches reads past it too */
    char *text = malloc(size + 1);

    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    bg_err_clear(&err);
    cfg = bg_config_parse(text, size, "fuzz.yaml", &err);
    if (cfg) {
        BG_FUZZ_CHECK(err.code == 0, "config loaded but err.code=%d", err.code);
        if (cfg->n_services > 0)
            revision(text, size, &cfg->services[0]);
        bg_config_free(cfg);
    } else {
        check_err(&err, "bg_config_parse");
    }
    revision(text, size, NULL);
    free(text);
    return 0;
}

BG_FUZZ_ENTRY(bg_fuzz_config_load)
