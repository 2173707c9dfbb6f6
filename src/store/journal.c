/* Deployments, their phase history, and the events table (the audit trail). A phase
 * change writes the phase row and the deployment row in one transaction, so a reader after
 * a crash sees either the old phase or the new one with its history, never half. */
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "store/internal.h"
#include "base/compat.h"

int bg_store_deployment_create(bg_store_t *s, bg_store_deployment_t *d, bg_err_t *err)
{
    sqlite3_stmt *st = bg_store_prepare(
        s,
        "INSERT INTO deployments (service, from_revision, to_revision, slot, phase, "
        "weight_blue, weight_green, actor, origin, record_json, started_ms) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        err);
    int rc;

    if (st == NULL)
        return BG_EIO;
    d->started_ms = bg_wall_ms();
    sqlite3_bind_text(st, 1, d->service, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, d->from_revision);
    sqlite3_bind_int64(st, 3, d->to_revision);
    sqlite3_bind_int(st, 4, d->slot);
    sqlite3_bind_text(st, 5, d->phase[0] ? d->phase : "PRE_SCALE_UP", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 6, (int)d->weight[0]);
    sqlite3_bind_int(st, 7, (int)d->weight[1]);
    sqlite3_bind_text(st, 8, d->actor, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 9, d->origin, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 10, d->record_json ? d->record_json : "{}", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 11, (sqlite3_int64)d->started_ms);
    rc = bg_store_exec_stmt(s, st, err);
    if (rc == 0)
        d->id = sqlite3_last_insert_rowid(s->db);
    return rc;
}

static int phase_write(bg_store_t *s, int64_t id, const char *phase, const uint32_t weight[2],
                       bg_err_t *err)
{
    sqlite3_stmt *st = bg_store_prepare(
        s,
        "UPDATE deployments SET phase = ?, weight_blue = ?, weight_green = ? "
        "WHERE id = ? AND result = ''",
        err);
    int rc;

    if (st == NULL)
        return BG_EIO;
    sqlite3_bind_text(st, 1, phase, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, (int)weight[0]);
    sqlite3_bind_int(st, 3, (int)weight[1]);
    sqlite3_bind_int64(st, 4, id);
    rc = bg_store_exec_stmt(s, st, err);
    if (rc == 0 && sqlite3_changes(s->db) == 0)
        return bg_err_set(err, BG_ENOTFOUND, "deployment %lld is not running", (long long)id);
    if (rc < 0)
        return rc;
    st = bg_store_prepare(s,
                          "INSERT INTO deployment_phases (deployment, phase, weight_blue, "
                          "weight_green, at_ms) VALUES (?, ?, ?, ?, ?)",
                          err);
    if (st == NULL)
        return BG_EIO;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, phase, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 3, (int)weight[0]);
    sqlite3_bind_int(st, 4, (int)weight[1]);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)bg_wall_ms());
    return bg_store_exec_stmt(s, st, err);
}

int bg_store_deployment_set_phase(bg_store_t *s, int64_t id, const char *phase,
                                  const uint32_t weight[2], bg_err_t *err)
{
    /* Inside the caller's transaction the two rows join it (and a failure leaves the
     * rollback to the caller); otherwise they are their own transaction. */
    bool own = !s->in_tx;
    int rc = own ? bg_store_begin(s, err) : 0;

    if (rc < 0)
        return rc;
    rc = phase_write(s, id, phase, weight, err);
    if (!own)
        return rc;
    if (rc < 0) {
        bg_store_rollback(s);
        return rc;
    }
    return bg_store_commit(s, err);
}

int bg_store_deployment_set_weights(bg_store_t *s, int64_t id, const uint32_t weight[2],
                                    bg_err_t *err)
{
    sqlite3_stmt *st = bg_store_prepare(
        s, "UPDATE deployments SET weight_blue = ?, weight_green = ? WHERE id = ?", err);

    if (st == NULL)
        return BG_EIO;
    sqlite3_bind_int(st, 1, (int)weight[0]);
    sqlite3_bind_int(st, 2, (int)weight[1]);
    sqlite3_bind_int64(st, 3, id);
    return bg_store_exec_stmt(s, st, err);
}

int bg_store_deployment_finish(bg_store_t *s, int64_t id, const char *result, const char *reason,
                               const char *record_json, bg_err_t *err)
{
    sqlite3_stmt *st = bg_store_prepare(
        s,
        "UPDATE deployments SET phase = 'DONE', result = ?, reason = ?, "
        "record_json = COALESCE(?, record_json), ended_ms = ? WHERE id = ? AND result = ''",
        err);
    int rc;

    if (st == NULL)
        return BG_EIO;
    sqlite3_bind_text(st, 1, result, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, reason ? reason : "", -1, SQLITE_TRANSIENT);
    if (record_json != NULL)
        sqlite3_bind_text(st, 3, record_json, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)bg_wall_ms());
    sqlite3_bind_int64(st, 5, id);
    rc = bg_store_exec_stmt(s, st, err);
    if (rc == 0 && sqlite3_changes(s->db) == 0)
        return bg_err_set(err, BG_ENOTFOUND, "deployment %lld is not running", (long long)id);
    return rc;
}

void bg_store_deployment_row(sqlite3_stmt *st, bg_store_deployment_t *d)
{
    memset(d, 0, sizeof(*d));
    d->id = sqlite3_column_int64(st, 0);
    bg_store_col_text(st, 1, d->service, sizeof(d->service));
    d->from_revision = sqlite3_column_int64(st, 2);
    d->to_revision = sqlite3_column_int64(st, 3);
    d->slot = sqlite3_column_int(st, 4);
    bg_store_col_text(st, 5, d->phase, sizeof(d->phase));
    bg_store_col_text(st, 6, d->result, sizeof(d->result));
    bg_store_col_text(st, 7, d->reason, sizeof(d->reason));
    d->weight[0] = (uint32_t)sqlite3_column_int(st, 8);
    d->weight[1] = (uint32_t)sqlite3_column_int(st, 9);
    bg_store_col_text(st, 10, d->actor, sizeof(d->actor));
    bg_store_col_text(st, 11, d->origin, sizeof(d->origin));
    d->record_json = bg_strdup((const char *)sqlite3_column_text(st, 12));
    d->started_ms = (uint64_t)sqlite3_column_int64(st, 13);
    d->ended_ms = (uint64_t)sqlite3_column_int64(st, 14);
}

static int deployment_query(bg_store_t *s, const char *sql, const char *text, int64_t num,
                            bg_store_deployment_t *out, bg_err_t *err)
{
    sqlite3_stmt *st = bg_store_prepare(s, sql, err);
    int rc = BG_ENOTFOUND;

    if (st == NULL)
        return BG_EIO;
    if (text != NULL)
        sqlite3_bind_text(st, 1, text, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_int64(st, 1, num);
    if (sqlite3_step(st) == SQLITE_ROW) {
        bg_store_deployment_row(st, out);
        rc = 0;
    } else {
        bg_err_set(err, BG_ENOTFOUND, "no such deployment");
    }
    sqlite3_finalize(st);
    return rc;
}

int bg_store_deployment_get(bg_store_t *s, int64_t id, bg_store_deployment_t *out, bg_err_t *err)
{
    return deployment_query(s, "SELECT " BG_STORE_DEPLOYMENT_COLUMNS " FROM deployments WHERE id = ?",
                            NULL, id, out, err);
}

int bg_store_deployment_active(bg_store_t *s, const char *service, bg_store_deployment_t *out,
                               bg_err_t *err)
{
    return deployment_query(s,
                            "SELECT " BG_STORE_DEPLOYMENT_COLUMNS " FROM deployments WHERE service = ? "
                            "AND result = '' ORDER BY id DESC LIMIT 1",
                            service, 0, out, err);
}

void bg_store_deployment_fini(bg_store_deployment_t *d)
{
    free(d->record_json);
    d->record_json = NULL;
}

int bg_store_event_add(bg_store_t *s, bg_store_event_t *ev, bg_err_t *err)
{
    sqlite3_stmt *st = bg_store_prepare(
        s,
        "INSERT INTO events (ts_ms, service, deployment, kind, message, actor, origin) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        err);
    int rc;

    if (st == NULL)
        return BG_EIO;
    if (ev->ts_ms == 0)
        ev->ts_ms = bg_wall_ms();
    sqlite3_bind_int64(st, 1, (sqlite3_int64)ev->ts_ms);
    sqlite3_bind_text(st, 2, ev->service, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, ev->deployment);
    sqlite3_bind_text(st, 4, ev->kind, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, ev->message, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 6, ev->actor, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 7, ev->origin, -1, SQLITE_TRANSIENT);
    rc = bg_store_exec_stmt(s, st, err);
    if (rc == 0)
        ev->id = sqlite3_last_insert_rowid(s->db);
    return rc;
}

int bg_store_event_each(bg_store_t *s, int64_t after_id, const char *service, unsigned limit,
                        int (*cb)(void *arg, const bg_store_event_t *ev), void *arg,
                        bg_err_t *err)
{
    sqlite3_stmt *st = bg_store_prepare(
        s,
        "SELECT id, ts_ms, service, deployment, kind, message, actor, origin FROM events "
        "WHERE id > ?1 AND (?2 IS NULL OR service = ?2) ORDER BY id LIMIT ?3",
        err);
    int rc = 0;

    if (st == NULL)
        return BG_EIO;
    sqlite3_bind_int64(st, 1, after_id);
    if (service != NULL)
        sqlite3_bind_text(st, 2, service, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, limit ? (sqlite3_int64)limit : -1);
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        bg_store_event_t ev;
        memset(&ev, 0, sizeof(ev));
        ev.id = sqlite3_column_int64(st, 0);
        ev.ts_ms = (uint64_t)sqlite3_column_int64(st, 1);
        bg_store_col_text(st, 2, ev.service, sizeof(ev.service));
        ev.deployment = sqlite3_column_int64(st, 3);
        bg_store_col_text(st, 4, ev.kind, sizeof(ev.kind));
        bg_store_col_text(st, 5, ev.message, sizeof(ev.message));
        bg_store_col_text(st, 6, ev.actor, sizeof(ev.actor));
        bg_store_col_text(st, 7, ev.origin, sizeof(ev.origin));
        rc = cb(arg, &ev);
    }
    sqlite3_finalize(st);
    return rc;
}
