/* Deployment history for the admin API and the controller: the newest deployments of a
 * service, the record JSON kept up to date while a deployment runs, and the corrections a
 * finished deployment can still get (a rollback within its termination wait turns
 * SUCCEEDED into ROLLED_BACK; its clean-up moves the phase to DONE). */
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "store/internal.h"
#include "base/compat.h"

int bg_store_deployment_list(bg_store_t *s, const char *service, unsigned limit,
                             int (*cb)(void *arg, const bg_store_deployment_t *d), void *arg,
                             bg_err_t *err)
{
    sqlite3_stmt *st = bg_store_prepare(s,
                                        "SELECT " BG_STORE_DEPLOYMENT_COLUMNS " FROM deployments WHERE "
                                        "(?1 IS NULL OR service = ?1) ORDER BY id DESC LIMIT ?2",
                                        err);
    int rc = 0;

    if (st == NULL)
        return BG_EIO;
    if (service != NULL)
        sqlite3_bind_text(st, 1, service, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, limit > 0 ? (sqlite3_int64)limit : -1);
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        bg_store_deployment_t d;
        bg_store_deployment_row(st, &d);
        rc = cb(arg, &d);
        bg_store_deployment_fini(&d);
    }
    sqlite3_finalize(st);
    return rc;
}

int bg_store_deployment_set_record(bg_store_t *s, int64_t id, const char *record_json,
                                   bg_err_t *err)
{
    sqlite3_stmt *st =
        bg_store_prepare(s, "UPDATE deployments SET record_json = ? WHERE id = ?", err);

    if (st == NULL)
        return BG_EIO;
    sqlite3_bind_text(st, 1, record_json, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, id);
    return bg_store_exec_stmt(s, st, err);
}

int bg_store_deployment_amend(bg_store_t *s, int64_t id, const char *phase, const char *result,
                              const char *reason, const char *record_json, bg_err_t *err)
{
    sqlite3_stmt *st = bg_store_prepare(s,
                                        "UPDATE deployments SET phase = ?, result = ?, reason = ?, "
                                        "record_json = COALESCE(?, record_json) WHERE id = ?",
                                        err);

    if (st == NULL)
        return BG_EIO;
    sqlite3_bind_text(st, 1, phase, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, result, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, reason ? reason : "", -1, SQLITE_TRANSIENT);
    if (record_json != NULL)
        sqlite3_bind_text(st, 4, record_json, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 5, id);
    return bg_store_exec_stmt(s, st, err);
}

bool bg_store_in_tx(const bg_store_t *s)
{
    return s->in_tx;
}
