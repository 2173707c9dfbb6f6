/* Services, revisions and targets: the rows the controller rebuilds routing and re-adopts
 * targets from after a restart. */
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "store/internal.h"
#include "base/compat.h"

int bg_store_service_put(bg_store_t *s, const bg_store_service_t *svc, bg_err_t *err)
{
    sqlite3_stmt *st;

    if (svc->weight[0] + svc->weight[1] != 100)
        return bg_err_set(err, BG_EINVAL, "weights of %s must sum to 100", svc->name);
    st = bg_store_prepare(s,
                          "INSERT OR REPLACE INTO services (name, live_slot, weight_blue, "
                          "weight_green, revision_blue, revision_green, updated_ms) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?)",
                          err);
    if (st == NULL)
        return BG_EIO;
    sqlite3_bind_text(st, 1, svc->name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, svc->live_slot);
    sqlite3_bind_int(st, 3, (int)svc->weight[0]);
    sqlite3_bind_int(st, 4, (int)svc->weight[1]);
    sqlite3_bind_int64(st, 5, svc->revision[0]);
    sqlite3_bind_int64(st, 6, svc->revision[1]);
    sqlite3_bind_int64(st, 7, (sqlite3_int64)bg_wall_ms());
    return bg_store_exec_stmt(s, st, err);
}

int bg_store_service_get(bg_store_t *s, const char *name, bg_store_service_t *out, bg_err_t *err)
{
    sqlite3_stmt *st = bg_store_prepare(s,
                                        "SELECT live_slot, weight_blue, weight_green, "
                                        "revision_blue, revision_green, updated_ms "
                                        "FROM services WHERE name = ?",
                                        err);
    int rc = BG_ENOTFOUND;

    if (st == NULL)
        return BG_EIO;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW) {
        memset(out, 0, sizeof(*out));
        snprintf(out->name, sizeof(out->name), "%s", name);
        out->live_slot = sqlite3_column_int(st, 0);
        out->weight[0] = (uint32_t)sqlite3_column_int(st, 1);
        out->weight[1] = (uint32_t)sqlite3_column_int(st, 2);
        out->revision[0] = sqlite3_column_int64(st, 3);
        out->revision[1] = sqlite3_column_int64(st, 4);
        out->updated_ms = (uint64_t)sqlite3_column_int64(st, 5);
        rc = 0;
    } else {
        bg_err_set(err, BG_ENOTFOUND, "service '%s' has no stored state", name);
    }
    sqlite3_finalize(st);
    return rc;
}

int bg_store_revision_add(bg_store_t *s, bg_store_revision_t *rev, bg_err_t *err)
{
    /* The next number is computed inside the INSERT, so two adds cannot take the same one
     * even without an outer transaction. */
    sqlite3_stmt *st = bg_store_prepare(
        s,
        "INSERT INTO revisions (service, number, version, spec_json, created_ms) "
        "VALUES (?1, (SELECT COALESCE(MAX(number), 0) + 1 FROM revisions WHERE service = ?1), "
        "?2, ?3, ?4) RETURNING number",
        err);
    int rc = 0;

    if (st == NULL)
        return BG_EIO;
    rev->created_ms = bg_wall_ms();
    sqlite3_bind_text(st, 1, rev->service, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, rev->version, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, rev->spec_json ? rev->spec_json : "{}", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)rev->created_ms);
    if (bg_fault("store.step") || sqlite3_step(st) != SQLITE_ROW)
        rc = bg_store_fail(s, err, "add revision");
    else
        rev->number = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc;
}

int bg_store_revision_get(bg_store_t *s, const char *service, int64_t number,
                          bg_store_revision_t *out, bg_err_t *err)
{
    sqlite3_stmt *st = bg_store_prepare(s,
                                        "SELECT version, spec_json, created_ms FROM revisions "
                                        "WHERE service = ? AND number = ?",
                                        err);
    int rc = BG_ENOTFOUND;

    if (st == NULL)
        return BG_EIO;
    sqlite3_bind_text(st, 1, service, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, number);
    if (sqlite3_step(st) == SQLITE_ROW) {
        memset(out, 0, sizeof(*out));
        snprintf(out->service, sizeof(out->service), "%s", service);
        out->number = number;
        bg_store_col_text(st, 0, out->version, sizeof(out->version));
        out->spec_json = bg_strdup((const char *)sqlite3_column_text(st, 1));
        out->created_ms = (uint64_t)sqlite3_column_int64(st, 2);
        rc = 0;
    } else {
        bg_err_set(err, BG_ENOTFOUND, "revision %s#%lld not found", service, (long long)number);
    }
    sqlite3_finalize(st);
    return rc;
}

int bg_store_revision_set_spec(bg_store_t *s, const char *service, int64_t number,
                               const char *spec_json, bg_err_t *err)
{
    sqlite3_stmt *st = bg_store_prepare(
        s, "UPDATE revisions SET spec_json = ? WHERE service = ? AND number = ?", err);
    int rc = 0;

    if (st == NULL)
        return BG_EIO;
    sqlite3_bind_text(st, 1, spec_json, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, service, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, number);
    if (bg_fault("store.step") || sqlite3_step(st) != SQLITE_DONE)
        rc = bg_store_fail(s, err, "pin revision artifact");
    else if (sqlite3_changes(s->db) == 0)
        rc = bg_err_set(err, BG_ENOTFOUND, "revision %s#%lld not found", service,
                        (long long)number);
    sqlite3_finalize(st);
    return rc;
}

int bg_store_target_add(bg_store_t *s, bg_store_target_t *t, bg_err_t *err)
{
    sqlite3_stmt *st = bg_store_prepare(
        s,
        "INSERT INTO targets (service, slot, revision, address, driver, handle, state, "
        "created_ms, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?8)",
        err);
    int rc;

    if (st == NULL)
        return BG_EIO;
    sqlite3_bind_text(st, 1, t->service, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, t->slot);
    sqlite3_bind_int64(st, 3, t->revision);
    sqlite3_bind_text(st, 4, t->address, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, t->driver, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 6, t->handle, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 7, t->state[0] ? t->state : "starting", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 8, (sqlite3_int64)bg_wall_ms());
    rc = bg_store_exec_stmt(s, st, err);
    if (rc == 0)
        t->id = sqlite3_last_insert_rowid(s->db);
    return rc;
}

int bg_store_target_started(bg_store_t *s, int64_t id, const char *address, const char *handle,
                            bg_err_t *err)
{
    sqlite3_stmt *st = bg_store_prepare(
        s,
        "UPDATE targets SET address = ?, handle = ?, state = 'running', updated_ms = ? "
        "WHERE id = ?",
        err);
    int rc;

    if (st == NULL)
        return BG_EIO;
    sqlite3_bind_text(st, 1, address, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, handle, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)bg_wall_ms());
    sqlite3_bind_int64(st, 4, id);
    rc = bg_store_exec_stmt(s, st, err);
    if (rc == 0 && sqlite3_changes(s->db) == 0)
        return bg_err_set(err, BG_ENOTFOUND, "target %lld not found", (long long)id);
    return rc;
}

int bg_store_target_set_state(bg_store_t *s, int64_t id, const char *state, bg_err_t *err)
{
    sqlite3_stmt *st = bg_store_prepare(
        s, "UPDATE targets SET state = ?, updated_ms = ? WHERE id = ?", err);
    int rc;

    if (st == NULL)
        return BG_EIO;
    sqlite3_bind_text(st, 1, state, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)bg_wall_ms());
    sqlite3_bind_int64(st, 3, id);
    rc = bg_store_exec_stmt(s, st, err);
    if (rc == 0 && sqlite3_changes(s->db) == 0)
        return bg_err_set(err, BG_ENOTFOUND, "target %lld not found", (long long)id);
    return rc;
}

int bg_store_target_each(bg_store_t *s, const char *service,
                         int (*cb)(void *arg, const bg_store_target_t *t), void *arg,
                         bg_err_t *err)
{
    sqlite3_stmt *st = bg_store_prepare(
        s,
        "SELECT id, service, slot, revision, address, driver, handle, state FROM targets "
        "WHERE state != 'stopped' AND (?1 IS NULL OR service = ?1) ORDER BY id",
        err);
    int rc = 0;

    if (st == NULL)
        return BG_EIO;
    if (service != NULL)
        sqlite3_bind_text(st, 1, service, -1, SQLITE_TRANSIENT);
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        bg_store_target_t t;
        memset(&t, 0, sizeof(t));
        t.id = sqlite3_column_int64(st, 0);
        bg_store_col_text(st, 1, t.service, sizeof(t.service));
        t.slot = sqlite3_column_int(st, 2);
        t.revision = sqlite3_column_int64(st, 3);
        bg_store_col_text(st, 4, t.address, sizeof(t.address));
        bg_store_col_text(st, 5, t.driver, sizeof(t.driver));
        bg_store_col_text(st, 6, t.handle, sizeof(t.handle));
        bg_store_col_text(st, 7, t.state, sizeof(t.state));
        rc = cb(arg, &t);
    }
    sqlite3_finalize(st);
    return rc;
}
