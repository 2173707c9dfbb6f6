/* Opening, schema migration and the small statement helpers. The schema is versioned with
 * PRAGMA user_version; each migration step is one transaction, so an interrupted upgrade
 * leaves the previous version intact.
 *
 * Failure modes handled here (issue 9; docs/internals/recovery.md "State store failures"):
 * a read-only or damaged database refuses the start; the database file deleted or replaced
 * while running refuses every later write; SQLITE_FULL at a commit releases a reserve file
 * kept beside the database and retries once, so that what is in flight (a deployment's
 * result) can still be stored. The database is opened in EXCLUSIVE locking mode before WAL
 * is entered, so SQLite keeps the WAL index on the heap: no -shm file is ever mapped, and a
 * -shm file made immutable, truncated or on a full disk cannot kill the daemon with SIGBUS
 * (mmap_size=0 keeps the database itself out of memory maps for the same reason). The price
 * is that no other process can open the database while the daemon runs; nothing does (the
 * CLI talks to the admin API).
 */
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

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
    /* 2: the store's identity, given to every instance started from it (instance markers),
     * so that a database replaced or lost under running instances is noticed at start. */
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
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
    if (!s->in_tx && bg_store_check_file(s, err) != 0) {
        sqlite3_finalize(st);
        return BG_EIO;
    }
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

/* PRAGMA integrity_check: "ok", or the first problems found. */
static int check_integrity(bg_store_t *s, bg_err_t *err)
{
    sqlite3_stmt *st = bg_store_prepare(s, "PRAGMA integrity_check(4)", err);
    char first[256] = "";
    int rc = 0, step;

    if (st == NULL)
        return BG_EIO;
    step = bg_fault("store.integrity") ? SQLITE_CORRUPT : sqlite3_step(st);
    if (step == SQLITE_ROW)
        bg_store_col_text(st, 0, first, sizeof(first));
    else
        snprintf(first, sizeof(first), "%s", sqlite3_errstr(step));
    if (strcmp(first, "ok") != 0)
        rc = bg_err_set(err, BG_EIO,
                        "state store %s is damaged (integrity check: %s): refusing to start; "
                        "restore it from a backup",
                        s->path, first);
    sqlite3_finalize(st);
    return rc;
}

/* meta.store_id: 128 random bits in hex, created with the database. */
static int load_id(bg_store_t *s, bg_err_t *err)
{
    sqlite3_stmt *st = bg_store_prepare(s, "SELECT value FROM meta WHERE key = 'store_id'", err);
    unsigned char raw[16];
    int rc = 0;

    if (st == NULL)
        return BG_EIO;
    if (sqlite3_step(st) == SQLITE_ROW)
        bg_store_col_text(st, 0, s->id, sizeof(s->id));
    sqlite3_finalize(st);
    if (s->id[0] != '\0')
        return 0;
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
        return bg_err_set(err, BG_EIO, "state store %s: getrandom: %s", s->path, strerror(errno));
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(s->id + 2 * i, 3, "%02x", raw[i]);
    st = bg_store_prepare(s, "INSERT INTO meta (key, value) VALUES ('store_id', ?)", err);
    if (st == NULL)
        return BG_EIO;
    sqlite3_bind_text(st, 1, s->id, -1, SQLITE_TRANSIENT);
    rc = bg_store_exec_stmt(s, st, err);
    return rc;
}

/* The reserve: BG_STORE_RESERVE_BYTES of real blocks (posix_fallocate) that a full disk
 * gives back to the store. 0 if it exists now. */
static int make_reserve(bg_store_t *s)
{
    struct stat st;
    int fd, rc;

    if (stat(s->reserve_path, &st) == 0 && st.st_size >= (off_t)BG_STORE_RESERVE_BYTES)
        return 0;
    if (bg_fault("store.reserve"))
        return BG_EIO;
    fd = open(s->reserve_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return BG_EIO;
    rc = posix_fallocate(fd, 0, (off_t)BG_STORE_RESERVE_BYTES);
    if (rc == 0)
        rc = fsync(fd);
    close(fd);
    if (rc != 0) {
        unlink(s->reserve_path);
        return BG_EIO;
    }
    return 0;
}

bg_store_t *bg_store_open(const char *path, bg_err_t *err)
{
    bg_store_t *s = BG_NEW(bg_store_t);
    struct stat st;

    s->path = bg_strdup(path);
    s->reserve_path = bg_asprintf("%s-reserve", path);
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                          SQLITE_OPEN_FULLMUTEX,
                        NULL) != SQLITE_OK) {
        bg_store_fail(s, err, "open");
        goto fail;
    }
    /* SQLite quietly opens a write-protected file read-only: every change would then fail
     * after the daemon said it started. */
    if (sqlite3_db_readonly(s->db, "main") == 1) {
        bg_err_set(err, BG_EIO,
                   "state store %s is read-only (permissions, immutable attribute or a "
                   "read-only filesystem): refusing to start, no change could be stored",
                   path);
        goto fail;
    }
    if (stat(path, &st) != 0) {
        bg_err_set(err, BG_EIO, "state store %s: stat: %s", path, strerror(errno));
        goto fail;
    }
    s->dev = st.st_dev;
    s->ino = st.st_ino;
    sqlite3_busy_timeout(s->db, 5000);
    /* EXCLUSIVE before WAL: the WAL index lives on the heap, no -shm mapping (see the file
     * comment). WAL + synchronous=FULL: a commit that returned is on disk, which is what
     * "durable before it takes effect" needs; NORMAL could lose the last commits on power
     * loss. */
    if (bg_store_exec(s, "PRAGMA locking_mode=EXCLUSIVE; PRAGMA mmap_size=0; "
                         "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
                         "PRAGMA foreign_keys=ON;",
                      err) < 0)
        goto fail;
    if (check_integrity(s, err) < 0 || migrate(s, err) < 0 || load_id(s, err) < 0)
        goto fail;
    if (make_reserve(s) != 0)
        bg_log(BG_LOG_WARN, "store",
               "msg=\"no disk reserve: a full disk may keep a result from being stored\" "
               "path=%s",
               s->reserve_path);
    return s;
fail:
    bg_store_close(s);
    return NULL;
}

void bg_store_close(bg_store_t *s)
{
    if (s == NULL)
        return;
    /* The last close checkpoints the WAL into the database file (EXCLUSIVE mode). */
    if (sqlite3_close(s->db) != SQLITE_OK)
        bg_log(BG_LOG_ERROR, "store", "msg=\"close: %s\" path=%s", sqlite3_errmsg(s->db),
               s->path);
    s->db = NULL;
    free(s->path);
    free(s->reserve_path);
    free(s);
}

const char *bg_store_id(const bg_store_t *s)
{
    return s->id;
}

int bg_store_check_file(bg_store_t *s, bg_err_t *err)
{
    struct stat st;

    if (s->lost[0] == '\0') {
        int rc = stat(s->path, &st);
        if (rc != 0 && errno == ENOENT)
            snprintf(s->lost, sizeof(s->lost),
                     "state store %s was deleted while bluegreen ran: every change is refused "
                     "(it could not be stored); restore the file and restart bluegreen",
                     s->path);
        else if (rc == 0 && (st.st_dev != s->dev || st.st_ino != s->ino))
            snprintf(s->lost, sizeof(s->lost),
                     "state store %s was replaced by another file while bluegreen ran: every "
                     "change is refused; restart bluegreen to use the new file",
                     s->path);
        if (s->lost[0] != '\0')
            bg_log(BG_LOG_ERROR, "store", "msg=\"%s\"", s->lost);
    }
    if (s->lost[0] != '\0')
        return bg_err_set(err, BG_EIO, "%s", s->lost);
    return 0;
}

int bg_store_status(bg_store_t *s, bg_err_t *err)
{
    if (bg_store_check_file(s, err) != 0)
        return BG_EIO;
    if (s->reserve_used && make_reserve(s) == 0) {
        s->reserve_used = false;
        bg_log(BG_LOG_INFO, "store", "msg=\"disk space is back: reserve re-created\" path=%s",
               s->reserve_path);
    }
    if (s->reserve_used)
        return bg_err_set(err, BG_EIO,
                          "state store %s: the disk is full (its reserve was used to store "
                          "what was in flight): new changes are refused until space is freed",
                          s->path);
    return 0;
}

int bg_store_begin(bg_store_t *s, bg_err_t *err)
{
    BG_ASSERT(!s->in_tx);
    if (bg_store_check_file(s, err) != 0)
        return BG_EIO;
    if (bg_store_exec(s, "BEGIN IMMEDIATE", err) < 0)
        return BG_EIO;
    s->in_tx = true;
    return 0;
}

/* One COMMIT; the SQLite result code (SQLITE_FULL injected by fault "store.full"). */
static int commit_once(bg_store_t *s, char *msg, size_t size)
{
    char *m = NULL;
    int rc;

    if (bg_fault("store.full")) {
        snprintf(msg, size, "database or disk is full (injected fault)");
        return SQLITE_FULL;
    }
    if (bg_fault("store.commit")) {
        snprintf(msg, size, "injected fault at commit");
        return SQLITE_IOERR;
    }
    rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, &m);
    if (rc != SQLITE_OK)
        snprintf(msg, size, "%s", m ? m : sqlite3_errmsg(s->db));
    sqlite3_free(m);
    return rc;
}

int bg_store_commit(bg_store_t *s, bg_err_t *err)
{
    char msg[256] = "";
    int rc;

    BG_ASSERT(s->in_tx);
    if (bg_store_check_file(s, err) != 0) {
        bg_store_rollback(s);
        return BG_EIO;
    }
    rc = commit_once(s, msg, sizeof(msg));
    /* A full disk: give the reserve back to the filesystem, and commit once more while the
     * transaction is still open. SQLite often rolls it back itself on SQLITE_FULL: then the
     * caller writes it again (dp_result_store does) into the space the reserve left. */
    if ((rc & 0xff) == SQLITE_FULL && !s->reserve_used) {
        s->reserve_used = true;
        unlink(s->reserve_path);
        bg_log(BG_LOG_ERROR, "store",
               "msg=\"disk full: released the reserve to store what is in flight; new changes "
               "are refused until space is freed\" path=%s",
               s->path);
        if (sqlite3_get_autocommit(s->db) == 0)
            rc = commit_once(s, msg, sizeof(msg));
    }
    if (rc != SQLITE_OK) {
        bg_store_rollback(s);
        return bg_err_set(err, BG_EIO, "state store %s: commit: %s", s->path, msg);
    }
    s->in_tx = false;
    return 0;
}

void bg_store_rollback(bg_store_t *s)
{
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    s->in_tx = false;
}
