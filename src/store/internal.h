/* Private helpers shared by the store's files. */
#ifndef BG_STORE_INTERNAL_H
#define BG_STORE_INTERNAL_H

#include <sqlite3.h>
#include <sys/types.h>

#include "store/store.h"

struct bg_store {
    sqlite3 *db;
    char *path;
    char *reserve_path; /* <path>-reserve: BG_STORE_RESERVE_BYTES kept for a full disk */
    bool in_tx;
    bool reserve_used;  /* released on SQLITE_FULL and not re-created yet */
    dev_t dev;          /* identity of the file opened, to notice it deleted or replaced */
    ino_t ino;
    char id[33];        /* meta.store_id */
    char lost[BG_ERR_MSG_MAX]; /* "" or why every write is refused from now on */
};

/* Refuses writes once the file at <path> is no longer the one opened (deleted or replaced
 * while running: a write would land in an unlinked inode and vanish). 0 or BG_EIO. */
int bg_store_check_file(bg_store_t *s, bg_err_t *err);

/* Prepares <sql>; NULL + <err> on failure (a programming error in our SQL, or I/O). */
sqlite3_stmt *bg_store_prepare(bg_store_t *s, const char *sql, bg_err_t *err);
/* Steps <st> to completion (SQLITE_DONE), finalises it; 0 or BG_EIO with <err>. Honours the
 * fault point "store.step". */
int bg_store_exec_stmt(bg_store_t *s, sqlite3_stmt *st, bg_err_t *err);
/* Runs a statement-free SQL string (schema, pragmas). */
int bg_store_exec(bg_store_t *s, const char *sql, bg_err_t *err);
/* Records a SQLite failure in <err> and returns BG_EIO. */
int bg_store_fail(bg_store_t *s, bg_err_t *err, const char *what);
/* Copies column <col> of <st> as text into <out> of <size> bytes ("" for NULL). */
void bg_store_col_text(sqlite3_stmt *st, int col, char *out, size_t size);

/* The deployments columns in the order bg_store_deployment_row() reads them. */
#define BG_STORE_DEPLOYMENT_COLUMNS                                                                \
    "id, service, from_revision, to_revision, slot, phase, result, reason, weight_blue, "          \
    "weight_green, actor, origin, record_json, started_ms, ended_ms"
/* Fills <d> (zeroed first; caller fini's it) from a row of BG_STORE_DEPLOYMENT_COLUMNS. */
void bg_store_deployment_row(sqlite3_stmt *st, bg_store_deployment_t *d);

#endif
