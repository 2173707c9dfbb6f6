/* Fuzz entry point: the compat module's files, read through config's YAML reader
 * (config/node.h): the bytes as a release file (bg_compat_release_parse, the text of
 * POST /v1/plan and /v1/releases) without a config and against a small one, and as a
 * matrix rules file (bg_compat_rules_parse).
 *
 * The release file is named as if in a directory that does not exist, so a relative
 * `file:` fails to open; an absolute one reads a regular file of at most 1 MiB or fails.
 * Invariants: a result or an error with a message; BG_EINVAL for what the text itself
 * gets wrong, BG_EIO only for a `file:` that cannot be read; freeing is clean.
 */
#include <string.h>

#include "base/err.h"
#include "compat/compat.h"
#include "config/config.h"
#include "fuzz.h"

static const char CONFIG[] = "services:\n"
                             "  orders:\n"
                             "    route: {host: orders.local}\n"
                             "    run: {command: [./app]}\n"
                             "  payments:\n"
                             "    route: {host: payments.local}\n"
                             "    run: {command: [./app]}\n";

static void check_err(const bg_err_t *err, const char *what)
{
    BG_FUZZ_CHECK(err->code == BG_EINVAL || err->code == BG_EIO, "%s failed with code %d (%s)",
                  what, err->code, err->msg);
    BG_FUZZ_CHECK(err->msg[0] != '\0', "%s failed without a message", what);
}

static void release(const char *text, size_t len, const bg_config_t *cfg)
{
    bg_compat_release_t rel;
    bg_err_t err;

    bg_err_clear(&err);
    if (bg_compat_release_parse(text, len, "/nonexistent-bg-fuzz/release.yaml", cfg, &rel, &err) ==
        0) {
        BG_FUZZ_CHECK(rel.n_entries > 0, "a release without entries parsed");
        bg_compat_release_fini(&rel);
        return;
    }
    check_err(&err, "bg_compat_release_parse");
}

int bg_fuzz_release_file(const uint8_t *data, size_t size)
{
    static bg_config_t *cfg;
    bg_compat_rules_t *rules;
    bg_err_t err;
    char *text = malloc(size + 1);

    if (!text)
        return 0;
    if (cfg == NULL) {
        cfg = bg_config_parse(CONFIG, sizeof(CONFIG) - 1, "fuzz-config.yaml", &err);
        BG_FUZZ_CHECK(cfg != NULL, "the fixed config does not load: %s", err.msg);
    }
    memcpy(text, data, size);
    text[size] = '\0';
    release(text, size, NULL);
    release(text, size, cfg);
    bg_err_clear(&err);
    rules = bg_compat_rules_parse(text, size, "fuzz-matrix.yaml", &err);
    if (rules == NULL)
        check_err(&err, "bg_compat_rules_parse");
    bg_compat_rules_free(rules);
    free(text);
    return 0;
}

BG_FUZZ_ENTRY(bg_fuzz_release_file)
