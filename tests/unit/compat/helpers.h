/* Shared helpers of the compat gate/matrix/planner tests: revisions from short YAML
 * snippets (through the real revision parser) and worlds built from them. */
#ifndef BG_TEST_COMPAT_HELPERS_H
#define BG_TEST_COMPAT_HELPERS_H

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "compat/compat.h"

/* A revision with <version> and <api> (a YAML flow mapping such as
 * "{provides: {payments: 1.9.2}, requires: {orders: '^1'}}", or NULL for none).
 * Caller finis it. */
static inline void rev_make(bg_revision_config_t *rev, const char *version, const char *api)
{
    char text[1024];
    bg_err_t err = {0};

    snprintf(text, sizeof(text), "version: %s\nrun: {command: [./app]}\n%s%s\n", version,
             api != NULL ? "api: " : "", api != NULL ? api : "");
    cr_assert_eq(bg_revision_parse(text, strlen(text), "rev.yaml", NULL, rev, &err), 0,
                 "revision %s: %s", version, err.msg);
}

/* A revision whose one requirement (on <api>) has the raw range <range>, bypassing the
 * revision parser (which refuses bad ranges itself): a hand-built declaration. */
static inline void rev_make_raw_range(bg_revision_config_t *rev, const char *version,
                                      const char *api, const char *range)
{
    char decl[128];

    snprintf(decl, sizeof(decl), "{requires: {%s: '^1'}}", api);
    rev_make(rev, version, decl);
    free(rev->api.requires[0].range);
    rev->api.requires[0].range = bg_strdup(range);
}

/* Puts <version>/<api> into <slot> of <service> at <weight>. */
static inline void put(bg_compat_world_t *w, const char *service, bg_slot_t slot, unsigned weight,
                       const char *version, const char *api)
{
    bg_revision_config_t rev;
    bg_err_t err = {0};

    rev_make(&rev, version, api);
    cr_assert_eq(bg_compat_world_set_slot(w, service, slot, &rev, weight, &err), 0, "%s %s: %s",
                 service, version, err.msg);
    bg_revision_config_fini(&rev);
}

/* The world after deploying <version>/<api> of <service> into its next slot at <weight>. */
static inline bg_compat_world_t *step(const bg_compat_world_t *w, const char *service,
                                      unsigned weight, const char *version, const char *api)
{
    bg_revision_config_t rev;
    bg_err_t err = {0};
    bg_compat_world_t *after;

    rev_make(&rev, version, api);
    after = bg_compat_world_with_step(w, service, bg_compat_world_next_slot(w, service), &rev,
                                      weight, &err);
    cr_assert_not_null(after, "%s", err.msg);
    bg_revision_config_fini(&rev);
    return after;
}

static inline bg_compat_rules_t *rules_ok(const char *text)
{
    bg_err_t err = {0};
    bg_compat_rules_t *r = bg_compat_rules_parse(text, strlen(text), "matrix.yaml", &err);

    cr_assert_not_null(r, "%s", err.msg);
    return r;
}

/* Runs the gate and returns the messages joined by "\n" ("" when ok). Caller frees. */
static inline char *gate(const bg_compat_world_t *w, const char *service,
                         const bg_compat_rules_t *rules)
{
    bg_compat_result_t res;
    size_t cap = 1, n = 0;
    char *out;

    bg_compat_result_init(&res);
    cr_assert_eq(bg_compat_check(w, service, rules, &res), 0);
    for (size_t i = 0; i < res.n_edges; i++)
        cap += strlen(res.edges[i].message) + 1;
    out = calloc(1, cap);
    for (size_t i = 0; i < res.n_edges; i++)
        n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? "\n" : "", res.edges[i].message);
    bg_compat_result_fini(&res);
    return out;
}

#define EXPECT_GATE(w, svc, rules, want)                                                           \
    do {                                                                                           \
        char *got_ = gate((w), (svc), (rules));                                                    \
        cr_expect_str_eq(got_, (want), "gate %s:\n got: %s\nwant: %s", (svc), got_, (want));       \
        free(got_);                                                                                \
    } while (0)

/* Under AddressSanitizer: LeakSanitizer now, inside the test body (Criterion does not fail
 * a test for what LeakSanitizer reports when the worker exits). */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define NO_LEAKS() cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "memory leaked")
#else
#define NO_LEAKS() ((void)0)
#endif

#endif
