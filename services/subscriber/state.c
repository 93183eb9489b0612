/*  state.c -- the subscriber's position in a small SQLite file (WAL, synchronous=NORMAL: a
    power cut may lose the last few positions, never corrupt them; the replay covers the rest).
    The only opener of the file: a sink's tables there use this connection (state_db).
*/
#include "state.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct state {
    sqlite3 *db;       /* the state file */
    char *path;        /* its path */
    sqlite3_stmt *get; /* SELECT of the one row */
    sqlite3_stmt *put; /* upsert of the one row */
    char error[512];   /* reason of the last failure */
};

static const char *s_schema = "PRAGMA journal_mode=WAL;"
                              "PRAGMA synchronous=NORMAL;"
                              "CREATE TABLE IF NOT EXISTS state("
                              " id INTEGER PRIMARY KEY CHECK(id = 1),"
                              " stream_id TEXT NOT NULL,"
                              " last_seq INTEGER NOT NULL,"
                              " updated_at_ms INTEGER NOT NULL);";

/*  The mail sink of an older herald-sub kept its own cursor, written in its batch's
    transaction, and it won over the state row: it becomes the state row, in one transaction. */
static const char *s_has_mail_cursor =
    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'mail_cursor'";
static const char *s_move_mail_cursor =
    "BEGIN IMMEDIATE;"
    "INSERT INTO state(id, stream_id, last_seq, updated_at_ms)"
    " SELECT 1, stream_id, last_seq, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
    " FROM mail_cursor WHERE id = 1"
    " ON CONFLICT(id) DO UPDATE SET stream_id = excluded.stream_id,"
    " last_seq = excluded.last_seq, updated_at_ms = excluded.updated_at_ms;"
    "DROP TABLE mail_cursor;"
    "COMMIT;";

/*  Moves an older file's mail_cursor into state. 0 or -1 (the reason in err). */
static int s_migrate(state_t *self, char *err, size_t errlen)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(self->db, s_has_mail_cursor, -1, &stmt, NULL);
    bool has =
        rc == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_int64(stmt, 0) > 0;
    sqlite3_finalize(stmt);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", self->path, sqlite3_errmsg(self->db));
        return -1;
    }
    char *why = NULL;
    if (has && sqlite3_exec(self->db, s_move_mail_cursor, NULL, NULL, &why) != SQLITE_OK) {
        snprintf(err, errlen, "%s: move mail_cursor: %s", self->path,
                 why ? why : sqlite3_errmsg(self->db));
        sqlite3_free(why);
        if (!sqlite3_get_autocommit(self->db)) {
            sqlite3_exec(self->db, "ROLLBACK", NULL, NULL, NULL);
        }
        return -1;
    }
    return 0;
}

static void s_set_error(state_t *self, const char *what)
{
    snprintf(self->error, sizeof self->error, "%s: %s", what, sqlite3_errmsg(self->db));
}

state_t *state_new(const char *path, char *err, size_t errlen)
{
    state_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    self->path = strdup(path);
    if (!self->path) {
        snprintf(err, errlen, "%s: out of memory", path);
        state_destroy(&self);
        return NULL;
    }
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &self->db, flags, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path,
                 self->db ? sqlite3_errmsg(self->db) : "out of memory");
        state_destroy(&self);
        return NULL;
    }
    sqlite3_busy_timeout(self->db, 5000);
    char *why = NULL;
    if (sqlite3_exec(self->db, s_schema, NULL, NULL, &why) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, why ? why : sqlite3_errmsg(self->db));
        sqlite3_free(why);
        state_destroy(&self);
        return NULL;
    }
    if (s_migrate(self, err, errlen) != 0) {
        state_destroy(&self);
        return NULL;
    }
    if (sqlite3_prepare_v2(self->db, "SELECT stream_id, last_seq FROM state WHERE id = 1", -1,
                           &self->get, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(self->db,
                           "INSERT INTO state(id, stream_id, last_seq, updated_at_ms)"
                           " VALUES(1, ?1, ?2, ?3) ON CONFLICT(id) DO UPDATE SET"
                           " stream_id = ?1, last_seq = ?2, updated_at_ms = ?3",
                           -1, &self->put, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(self->db));
        state_destroy(&self);
        return NULL;
    }
    return self;
}

void state_destroy(state_t **self_p)
{
    if (self_p && *self_p) {
        state_t *self = *self_p;
        sqlite3_finalize(self->get);
        sqlite3_finalize(self->put);
        sqlite3_close(self->db);
        free(self->path);
        free(self);
        *self_p = NULL;
    }
}

int state_get(state_t *self, char *stream_id, size_t cap, int64_t *seq)
{
    sqlite3_reset(self->get);
    int rc = sqlite3_step(self->get);
    int found = 0;
    if (rc == SQLITE_ROW) {
        const unsigned char *text = sqlite3_column_text(self->get, 0);
        snprintf(stream_id, cap, "%s", text ? (const char *) text : "");
        *seq = sqlite3_column_int64(self->get, 1);
        found = 1;
    } else if (rc != SQLITE_DONE) {
        s_set_error(self, "read state");
        found = -1;
    }
    sqlite3_reset(self->get);
    return found;
}

int state_put(state_t *self, const char *stream_id, int64_t seq, int64_t now_ms)
{
    /* one statement outside an explicit transaction: SQLite makes it one transaction */
    sqlite3_reset(self->put);
    sqlite3_bind_text(self->put, 1, stream_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(self->put, 2, seq);
    sqlite3_bind_int64(self->put, 3, now_ms);
    int rc = sqlite3_step(self->put);
    sqlite3_reset(self->put);
    sqlite3_clear_bindings(self->put);
    if (rc != SQLITE_DONE) {
        s_set_error(self, "write state");
        return -1;
    }
    return 0;
}

sqlite3 *state_db(state_t *self)
{
    return self->db;
}

const char *state_path(state_t *self)
{
    return self->path;
}

const char *state_error(state_t *self)
{
    return self->error;
}
