/* State store: schema, records, durability across reopen, fault injection. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "store/store.h"

static char dir[64];
static char path[128];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/bg-store-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/state.db", dir);
}

static void teardown(void)
{
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}

TestSuite(store, .init = setup, .fini = teardown, .timeout = 30);

Test(store, open_migrates_and_reopens)
{
    bg_err_t err;
    bg_store_t *s = bg_store_open(path, &err);
    cr_assert_not_null(s, "%s", err.msg);
    cr_expect_eq(bg_store_schema_version(s), 2);
    bg_store_close(s);
    s = bg_store_open(path, &err);
    cr_assert_not_null(s);
    cr_expect_eq(bg_store_schema_version(s), 2);
    bg_store_close(s);
}

Test(store, refuses_newer_schema)
{
    bg_err_t err;
    bg_store_t *s = bg_store_open(path, &err);
    cr_assert_not_null(s);
    bg_store_close(s);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "sqlite3 %s 'PRAGMA user_version = 99' 2>/dev/null || "
                               "python3 -c \"import sqlite3;c=sqlite3.connect('%s');"
                               "c.execute('PRAGMA user_version = 99');c.commit()\"",
             path, path);
    cr_assert_eq(system(cmd), 0);
    bg_err_clear(&err);
    cr_expect_null(bg_store_open(path, &err));
    cr_expect(strstr(err.msg, "newer") != NULL, "%s", err.msg);
}

Test(store, service_routing_survives_reopen)
{
    bg_err_t err;
    bg_store_t *s = bg_store_open(path, &err);
    bg_store_service_t svc = {.name = "orders", .live_slot = 1, .weight = {10, 90},
                              .revision = {3, 4}};
    bg_store_service_t got;

    cr_assert_eq(bg_store_service_put(s, &svc, &err), 0, "%s", err.msg);
    bg_store_close(s);
    s = bg_store_open(path, &err);
    cr_assert_eq(bg_store_service_get(s, "orders", &got, &err), 0);
    cr_expect_eq(got.live_slot, 1);
    cr_expect_eq(got.weight[0], 10);
    cr_expect_eq(got.weight[1], 90);
    cr_expect_eq(got.revision[1], 4);
    cr_expect_eq(bg_store_service_get(s, "nope", &got, &err), BG_ENOTFOUND);
    svc.weight[0] = 50;
    cr_expect_eq(bg_store_service_put(s, &svc, &err), BG_EINVAL);
    bg_store_close(s);
}

Test(store, revisions_numbered_per_service)
{
    bg_err_t err;
    bg_store_t *s = bg_store_open(path, &err);
    bg_store_revision_t r = {.service = "orders", .version = "1.0.0", .spec_json = "{\"a\":1}"};
    bg_store_revision_t p = {.service = "payments", .version = "2.0.0"};
    bg_store_revision_t got;

    cr_assert_eq(bg_store_revision_add(s, &r, &err), 0, "%s", err.msg);
    cr_expect_eq(r.number, 1);
    snprintf(r.version, sizeof(r.version), "1.1.0");
    cr_assert_eq(bg_store_revision_add(s, &r, &err), 0);
    cr_expect_eq(r.number, 2);
    cr_assert_eq(bg_store_revision_add(s, &p, &err), 0);
    cr_expect_eq(p.number, 1);
    cr_assert_eq(bg_store_revision_get(s, "orders", 1, &got, &err), 0);
    cr_expect_str_eq(got.version, "1.0.0");
    cr_expect_str_eq(got.spec_json, "{\"a\":1}");
    free(got.spec_json);
    cr_expect_eq(bg_store_revision_get(s, "orders", 9, &got, &err), BG_ENOTFOUND);
    bg_store_close(s);
}

static int count_targets(void *arg, const bg_store_target_t *t)
{
    (*(int *)arg)++;
    cr_expect_str_neq(t->state, "stopped");
    return 0;
}

Test(store, targets_for_readoption)
{
    bg_err_t err;
    bg_store_t *s = bg_store_open(path, &err);
    bg_store_target_t a = {.service = "orders", .slot = 0, .revision = 1,
                           .address = "127.0.0.1:9001", .driver = "process", .handle = "1234",
                           .state = "running"};
    bg_store_target_t b = a;
    int n = 0;

    cr_assert_eq(bg_store_target_add(s, &a, &err), 0);
    cr_assert_eq(bg_store_target_add(s, &b, &err), 0);
    cr_expect_neq(a.id, b.id);
    cr_assert_eq(bg_store_target_set_state(s, b.id, "stopped", &err), 0);
    cr_expect_eq(bg_store_target_set_state(s, 999, "stopped", &err), BG_ENOTFOUND);
    cr_assert_eq(bg_store_target_each(s, "orders", count_targets, &n, &err), 0);
    cr_expect_eq(n, 1);
    n = 0;
    cr_assert_eq(bg_store_target_each(s, "payments", count_targets, &n, &err), 0);
    cr_expect_eq(n, 0);
    bg_store_close(s);
}

Test(store, deployment_phases_and_finish)
{
    bg_err_t err;
    bg_store_t *s = bg_store_open(path, &err);
    bg_store_deployment_t d = {.service = "orders", .from_revision = 1, .to_revision = 2,
                               .slot = 1, .weight = {100, 0}, .actor = "ci",
                               .origin = "unix:uid=0"};
    bg_store_deployment_t got;
    uint32_t w[2] = {90, 10};

    cr_assert_eq(bg_store_deployment_create(s, &d, &err), 0, "%s", err.msg);
    cr_assert_eq(bg_store_deployment_set_phase(s, d.id, "PRODUCTION_TRAFFIC_SHIFT", w, &err), 0);
    cr_assert_eq(bg_store_deployment_active(s, "orders", &got, &err), 0);
    cr_expect_str_eq(got.phase, "PRODUCTION_TRAFFIC_SHIFT");
    cr_expect_eq(got.weight[1], 10);
    cr_expect_str_eq(got.actor, "ci");
    bg_store_deployment_fini(&got);
    cr_assert_eq(bg_store_deployment_finish(s, d.id, "ROLLED_BACK", "error rate 7% > 1%",
                                            "{\"evidence\":1}", &err),
                 0);
    cr_expect_eq(bg_store_deployment_active(s, "orders", &got, &err), BG_ENOTFOUND);
    cr_assert_eq(bg_store_deployment_get(s, d.id, &got, &err), 0);
    cr_expect_str_eq(got.result, "ROLLED_BACK");
    cr_expect_str_eq(got.record_json, "{\"evidence\":1}");
    cr_expect_gt(got.ended_ms, 0);
    bg_store_deployment_fini(&got);
    /* a finished deployment takes no more phases */
    cr_expect_eq(bg_store_deployment_set_phase(s, d.id, "BAKE", w, &err), BG_ENOTFOUND);
    bg_store_close(s);
}

Test(store, phase_change_is_atomic_under_fault)
{
    bg_err_t err;
    bg_store_t *s = bg_store_open(path, &err);
    bg_store_deployment_t d = {.service = "orders", .to_revision = 2, .weight = {100, 0}};
    bg_store_deployment_t got;
    uint32_t w[2] = {0, 100};

    cr_assert_eq(bg_store_deployment_create(s, &d, &err), 0);
    bg_fault_arm("store.commit", 1, false);
    cr_expect_eq(bg_store_deployment_set_phase(s, d.id, "BAKE", w, &err), BG_EIO);
    bg_fault_reset();
    cr_assert_eq(bg_store_deployment_get(s, d.id, &got, &err), 0);
    cr_expect_str_eq(got.phase, "PRE_SCALE_UP", "a failed commit must leave the old phase");
    cr_expect_eq(got.weight[0], 100);
    bg_store_deployment_fini(&got);
    cr_expect_eq(bg_store_deployment_set_phase(s, d.id, "BAKE", w, &err), 0);
    bg_store_close(s);
}

struct evs {
    int n;
    int64_t last;
};

static int collect(void *arg, const bg_store_event_t *ev)
{
    struct evs *e = arg;
    cr_expect_gt(ev->id, e->last);
    e->last = ev->id;
    e->n++;
    return 0;
}

Test(store, events_audit_trail)
{
    bg_err_t err;
    bg_store_t *s = bg_store_open(path, &err);
    struct evs e = {0, 0};

    for (int i = 0; i < 5; i++) {
        bg_store_event_t ev = {.kind = "traffic", .actor = "alice", .origin = "127.0.0.1"};
        snprintf(ev.service, sizeof(ev.service), "%s", i % 2 ? "orders" : "payments");
        snprintf(ev.message, sizeof(ev.message), "weights %d", i);
        cr_assert_eq(bg_store_event_add(s, &ev, &err), 0);
        cr_expect_gt(ev.ts_ms, 0);
    }
    cr_assert_eq(bg_store_event_each(s, 0, NULL, 0, collect, &e, &err), 0);
    cr_expect_eq(e.n, 5);
    e = (struct evs){0, 0};
    cr_assert_eq(bg_store_event_each(s, 0, "orders", 0, collect, &e, &err), 0);
    cr_expect_eq(e.n, 2);
    e = (struct evs){0, 2};
    cr_assert_eq(bg_store_event_each(s, 2, NULL, 2, collect, &e, &err), 0);
    cr_expect_eq(e.n, 2);
    bg_store_close(s);
}

/* ---- failures that must never be acknowledged as success (issue 9) ---- */

static bg_store_event_t an_event(void)
{
    bg_store_event_t ev = {0};
    snprintf(ev.service, sizeof(ev.service), "orders");
    snprintf(ev.kind, sizeof(ev.kind), "traffic");
    snprintf(ev.message, sizeof(ev.message), "blue 50%%, green 50%%");
    return ev;
}

/* Root ignores permission bits: the immutable attribute makes the file read-only for it. */
static void make_readonly(const char *p, bool on)
{
    char cmd[256];
    if (geteuid() == 0) {
        snprintf(cmd, sizeof(cmd), "chattr %ci %s", on ? '+' : '-', p);
        cr_assert_eq(system(cmd), 0, "%s failed", cmd);
    } else {
        cr_assert_eq(chmod(p, on ? 0444 : 0644), 0);
    }
}

Test(store, read_only_database_refused_at_open)
{
    bg_err_t err;
    bg_store_t *s = bg_store_open(path, &err);

    cr_assert_not_null(s, "%s", err.msg);
    bg_store_close(s);
    make_readonly(path, true);
    bg_err_clear(&err);
    s = bg_store_open(path, &err);
    make_readonly(path, false);
    cr_expect_null(s);
    cr_expect(strstr(err.msg, "read-only") != NULL, "%s", err.msg);
    bg_store_close(s);
}

Test(store, damaged_database_refused_at_open)
{
    bg_err_t err;
    bg_store_t *s = bg_store_open(path, &err);
    FILE *fp;
    unsigned char junk[512];

    cr_assert_not_null(s, "%s", err.msg);
    for (int i = 0; i < 400; i++) {
        bg_store_event_t ev = an_event();
        cr_assert_eq(bg_store_event_add(s, &ev, &err), 0, "%s", err.msg);
    }
    bg_store_close(s); /* checkpoints the WAL into the file */
    /* b-tree page headers of pages 2..5 overwritten (what a torn or stray write does) */
    memset(junk, 0xa5, sizeof(junk));
    fp = fopen(path, "r+b");
    cr_assert_not_null(fp);
    for (long pg = 1; pg <= 4; pg++) {
        cr_assert_eq(fseek(fp, 4096 * pg, SEEK_SET), 0);
        cr_assert_eq(fwrite(junk, 1, 16, fp), 16);
    }
    fclose(fp);
    bg_err_clear(&err);
    s = bg_store_open(path, &err);
    cr_expect_null(s);
    cr_expect(strstr(err.msg, "damaged") != NULL, "%s", err.msg);
    bg_store_close(s);
}

Test(store, no_shm_file_is_used)
{
    bg_err_t err;
    char shm[160];
    bg_store_t *s = bg_store_open(path, &err);
    bg_store_event_t ev = an_event();

    cr_assert_not_null(s, "%s", err.msg);
    cr_assert_eq(bg_store_event_add(s, &ev, &err), 0, "%s", err.msg);
    snprintf(shm, sizeof(shm), "%s-shm", path);
    cr_expect_neq(access(shm, F_OK), 0, "SQLite mapped a -shm file");
    bg_store_close(s);
}

Test(store, deleted_while_open_refuses_writes)
{
    bg_err_t err;
    bg_store_t *s = bg_store_open(path, &err);
    bg_store_event_t ev = an_event();

    cr_assert_not_null(s, "%s", err.msg);
    cr_assert_eq(unlink(path), 0);
    bg_err_clear(&err);
    cr_expect_eq(bg_store_event_add(s, &ev, &err), BG_EIO);
    cr_expect(strstr(err.msg, "deleted") != NULL, "%s", err.msg);
    bg_err_clear(&err);
    cr_expect_eq(bg_store_begin(s, &err), BG_EIO);
    cr_expect_eq(bg_store_status(s, &err), BG_EIO);
    bg_store_close(s);
}

Test(store, replaced_while_open_refuses_writes)
{
    bg_err_t err;
    char other[160];
    bg_store_t *s = bg_store_open(path, &err);
    FILE *fp;

    cr_assert_not_null(s, "%s", err.msg);
    snprintf(other, sizeof(other), "%s/other.db", dir);
    fp = fopen(other, "w");
    cr_assert_not_null(fp);
    fclose(fp);
    cr_assert_eq(rename(other, path), 0);
    bg_err_clear(&err);
    cr_expect_eq(bg_store_begin(s, &err), BG_EIO);
    cr_expect(strstr(err.msg, "replaced") != NULL, "%s", err.msg);
    bg_store_close(s);
}

Test(store, disk_full_commit_uses_the_reserve)
{
    bg_err_t err;
    char reserve[160];
    bg_store_t *s = bg_store_open(path, &err);
    bg_store_event_t ev = an_event();
    struct stat st;

    cr_assert_not_null(s, "%s", err.msg);
    snprintf(reserve, sizeof(reserve), "%s-reserve", path);
    cr_assert_eq(stat(reserve, &st), 0);
    cr_expect_geq(st.st_size, (off_t)BG_STORE_RESERVE_BYTES);
    cr_expect_eq(bg_store_status(s, &err), 0);
    cr_assert_eq(bg_store_begin(s, &err), 0);
    cr_assert_eq(bg_store_event_add(s, &ev, &err), 0);
    bg_fault_arm("store.full", 1, false);
    bg_fault_arm("store.reserve", 1, true); /* the disk stays full */
    cr_expect_eq(bg_store_commit(s, &err), 0, "%s", err.msg);
    cr_expect_neq(access(reserve, F_OK), 0, "the reserve was not released");
    bg_err_clear(&err);
    cr_expect_eq(bg_store_status(s, &err), BG_EIO);
    cr_expect(strstr(err.msg, "disk is full") != NULL, "%s", err.msg);
    /* A second full commit has no reserve left: refused, rolled back. */
    bg_fault_reset();
    bg_fault_arm("store.full", 1, false);
    cr_assert_eq(bg_store_begin(s, &err), 0);
    ev = an_event();
    cr_assert_eq(bg_store_event_add(s, &ev, &err), 0);
    cr_expect_eq(bg_store_commit(s, &err), BG_EIO);
    cr_expect_not(bg_store_in_tx(s));
    /* Space is back: the reserve is re-created and changes are accepted again. */
    bg_fault_reset();
    cr_expect_eq(bg_store_status(s, &err), 0, "%s", err.msg);
    cr_expect_eq(access(reserve, F_OK), 0);
    bg_store_close(s);
}

Test(store, identity_is_stable)
{
    bg_err_t err;
    char id[40];
    bg_store_t *s = bg_store_open(path, &err);

    cr_assert_not_null(s, "%s", err.msg);
    cr_expect_eq(strlen(bg_store_id(s)), 32);
    snprintf(id, sizeof(id), "%s", bg_store_id(s));
    bg_store_close(s);
    s = bg_store_open(path, &err);
    cr_assert_not_null(s, "%s", err.msg);
    cr_expect_str_eq(bg_store_id(s), id);
    bg_store_close(s);
}
