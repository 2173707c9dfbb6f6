/* Opening, schema migration and the small statement helpers. The schema is versioned with
 * PRAGMA user_version; each migration step is one transaction, so an interrupted upgrade
 * leaves the previous version intact. */
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "store/internal.h"
#include "base/compat.h"

/* Migration i brings the schema from version i to i+1. Append only; never edit a step that
 * has shipped. */
static const char *const migrations[] = {
    "CREATE TABLE services ("
    "  name TEXT PRIMARY KEY,"
    "  live_slot INTEGER NOT NULL CHECK (live_slot IN (0, 1)),"
    "  weight_blue INTEGER NOT NULL CHECK (weight_blue BETWEEN 0 AND 100),"
    "  weight_green INTEGER NOT NULL CHECK (weight_green BETWEEN 0 AND 100),"
    "  revision_blue INTEGER NOT NULL DEFAULT 0,"
    "  revision_green INTEGER NOT NULL DEFAULT 0,"
    "  updated_ms INTEGER NOT NULL,"
    "  CHECK (weight_blue + weight_green = 100));"
    "CREATE TABLE revisions ("
    "  service TEXT NOT NULL,"
    "  number INTEGER NOT NULL,"
    "  version TEXT NOT NULL,"
    "  spec_json TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (service, number));"
    "CREATE TABLE targets ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  service TEXT NOT NULL,"
    "  slot INTEGER NOT NULL CHECK (slot IN (0, 1)),"
    "  revision INTEGER NOT NULL,"
    "  address TEXT NOT NULL,"
    "  driver TEXT NOT NULL,"
    "  handle TEXT NOT NULL,"
    "  state TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  updated_ms INTEGER NOT NULL);"
    "CREATE INDEX targets_service ON targets (service, state);"
    "CREATE TABLE deployments ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  service TEXT NOT NULL,"
    "  from_revision INTEGER NOT NULL,"
    "  to_revision INTEGER NOT NULL,"
    "  slot INTEGER NOT NULL CHECK (slot IN (0, 1)),"
    "  phase TEXT NOT NULL,"
    "  result TEXT NOT NULL DEFAULT '',"
    "  reason TEXT NOT NULL DEFAULT '',"
    "  weight_blue INTEGER NOT NULL,"
    "  weight_green INTEGER NOT NULL,"
    "  actor TEXT NOT NULL,"
    "  origin TEXT NOT NULL,"
    "  record_json TEXT NOT NULL DEFAULT '{}',"
    "  started_ms INTEGER NOT NULL,"
    "  ended_ms INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX deployments_service ON deployments (service, result);"
    "CREATE TABLE deployment_phases ("
    "  deployment INTEGER NOT NULL REFERENCES deployments (id),"
    "  phase TEXT NOT NULL,"
    "  weight_blue INTEGER NOT NULL,"
    "  weight_green INTEGER NOT NULL,"
    "  at_ms INTEGER NOT NULL);"
    "CREATE TABLE events ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  ts_ms INTEGER NOT NULL,"
    "  service TEXT NOT NULL DEFAULT '',"
    "  deployment INTEGER NOT NULL DEFAULT 0,"
    "  kind TEXT NOT NULL,"
    "  message TEXT NOT NULL,"
    "  actor TEXT NOT NULL DEFAULT '',"
    "  origin TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX events_service ON events (service, id);",
};

int bg_store_fail(bg_store_t *s, bg_err_t *err, const char *what)
{
    return bg_err_set(err, BG_EIO, "state store %s: %s: %s", s->path, what,
                      s->db ? sqlite3_errmsg(s->db) : "not open");
}

int bg_store_exec(bg_store_t *s, const char *sql, bg_err_t *err)
{
    char *msg = NULL;

    if (bg_fault("store.exec") || sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        bg_err_set(err, BG_EIO, "state store %s: %s", s->path, msg ? msg : "injected fault");
        sqlite3_free(msg);
        return BG_EIO;
    }
    return 0;
}

sqlite3_stmt *bg_store_prepare(bg_store_t *s, const char *sql, bg_err_t *err)
{
    sqlite3_stmt *st = NULL;

    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        bg_store_fail(s, err, "prepare");
        return NULL;
    }
    return st;
}

int bg_store_exec_stmt(bg_store_t *s, sqlite3_stmt *st, bg_err_t *err)
{
    int rc;

    if (st == NULL)
        return BG_EIO;
    if (bg_fault("store.step")) {
        sqlite3_finalize(st);
        return bg_err_set(err, BG_EIO, "state store %s: injected fault", s->path);
    }
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return bg_store_fail(s, err, "write");
    return 0;
}

void bg_store_col_text(sqlite3_stmt *st, int col, char *out, size_t size)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    snprintf(out, size, "%s", t ? (const char *)t : "");
}

int bg_store_schema_version(bg_store_t *s)
{
    sqlite3_stmt *st = bg_store_prepare(s, "PRAGMA user_version", NULL);
    int v = -1;

    if (st != NULL && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int migrate(bg_store_t *s, bg_err_t *err)
{
    int have = bg_store_schema_version(s);
    int want = (int)BG_ARRAY_LEN(migrations);

    if (have < 0)
        return bg_store_fail(s, err, "read schema version");
    if (have > want)
        return bg_err_set(err, BG_EINVAL,
                          "state store %s: schema version %d is newer than this bluegreen "
                          "understands (%d)",
                          s->path, have, want);
    for (int v = have; v < want; v++) {
        char pragma[48];
        int rc;
        snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d;", v + 1);
        rc = bg_store_exec(s, "BEGIN IMMEDIATE", err);
        if (rc == 0)
            rc = bg_store_exec(s, migrations[v], err);
        if (rc == 0)
            rc = bg_store_exec(s, pragma, err);
        if (rc == 0)
            rc = bg_store_exec(s, "COMMIT", err);
        if (rc < 0) {
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            return rc;
        }
    }
    return 0;
}

bg_store_t *bg_store_open(const char *path, bg_err_t *err)
{
    bg_store_t *s = BG_NEW(bg_store_t);

    s->path = bg_strdup(path);
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                          SQLITE_OPEN_FULLMUTEX,
                        NULL) != SQLITE_OK) {
        bg_store_fail(s, err, "open");
        goto fail;
    }
    sqlite3_busy_timeout(s->db, 5000);
    /* WAL + synchronous=FULL: a commit that returned is on disk, which is what "durable
     * before it takes effect" needs; NORMAL could lose the last commits on power loss. */
    if (bg_store_exec(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
                         "PRAGMA foreign_keys=ON;",
                      err) < 0)
        goto fail;
    if (migrate(s, err) < 0)
        goto fail;
    return s;
fail:
    bg_store_close(s);
    return NULL;
}

void bg_store_close(bg_store_t *s)
{
    if (s == NULL)
        return;
    sqlite3_close(s->db);
    s->db = NULL;
    free(s->path);
    free(s);
}

int bg_store_begin(bg_store_t *s, bg_err_t *err)
{
    BG_ASSERT(!s->in_tx);
    if (bg_store_exec(s, "BEGIN IMMEDIATE", err) < 0)
        return BG_EIO;
    s->in_tx = true;
    return 0;
}

int bg_store_commit(bg_store_t *s, bg_err_t *err)
{
    BG_ASSERT(s->in_tx);
    if (bg_fault("store.commit")) {
        bg_store_rollback(s);
        return bg_err_set(err, BG_EIO, "state store %s: injected fault at commit", s->path);
    }
    if (bg_store_exec(s, "COMMIT", err) < 0) {
        bg_store_rollback(s);
        return BG_EIO;
    }
    s->in_tx = false;
    return 0;
}

void bg_store_rollback(bg_store_t *s)
{
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    s->in_tx = false;
}
