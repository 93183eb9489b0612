/*  state.c -- the subscriber's position in a small SQLite file (WAL, synchronous=NORMAL: a
    power cut may lose the last few positions, never corrupt them; the replay covers the rest).
    The only opener of the file: a sink's tables there use this connection (state_db).

    The write-ahead log is bounded: checkpointed every S_WAL_PAGES pages and cut back to
    S_WAL_LIMIT bytes after each checkpoint that restarts it, and truncated when idle
    (state_checkpoint), so a busy mail queue cannot grow it without end.
*/
#include "state.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"

struct state {
    sqlite3 *db;           /* the state file */
    char *path;            /* its path */
    sqlite3_stmt *get;     /* SELECT of the one row */
    sqlite3_stmt *get_out; /* SELECT of its out columns */
    sqlite3_stmt *put;     /* upsert of the one row */
    state_out_t out;       /* the out file noted for the next put */
    bool out_noted;        /* out holds a note */
    char error[512];       /* reason of the last failure */
};

#define S_WAL_PAGES "256"     /* checkpoint after this many pages of 4 KiB (1 MiB) */
#define S_WAL_LIMIT "1048576" /* bytes the -wal file keeps after a checkpoint */

/*  The file's kind (store.h): set on every open that passed s_kind, a no-op once set. */
#define S_STR2(x) #x
#define S_STR(x) S_STR2(x)

static const char *s_schema = "PRAGMA application_id=" S_STR(
    STORE_APPID_STATE) ";"
                       "PRAGMA journal_mode=WAL;"
                       "PRAGMA synchronous=NORMAL;"
                       "PRAGMA wal_autocheckpoint=" S_WAL_PAGES ";"
                       "PRAGMA journal_size_limit=" S_WAL_LIMIT ";"
                       "CREATE TABLE IF NOT EXISTS state("
                       " id INTEGER PRIMARY KEY CHECK(id = 1),"
                       " stream_id TEXT NOT NULL,"
                       " last_seq INTEGER NOT NULL,"
                       " updated_at_ms INTEGER NOT NULL,"
                       " out_dev INTEGER, out_ino INTEGER, out_length INTEGER, out_seq INTEGER);"
                       "CREATE TABLE IF NOT EXISTS out_base("
                       " id INTEGER PRIMARY KEY CHECK(id = 1), dev INTEGER NOT NULL,"
                       " ino INTEGER NOT NULL, length INTEGER NOT NULL);";

/*  A file of an older herald-sub has no out columns: they are added (NULL: no out file).
    out_seq is the last_seq they were written with: an older herald-sub that writes the
    position without them leaves them behind, and they no longer count. */
static const char *s_has_out = "SELECT COUNT(*) FROM pragma_table_info('state')"
                               " WHERE name = 'out_length'";
static const char *s_add_out = "ALTER TABLE state ADD COLUMN out_dev INTEGER;"
                               "ALTER TABLE state ADD COLUMN out_ino INTEGER;"
                               "ALTER TABLE state ADD COLUMN out_length INTEGER;"
                               "ALTER TABLE state ADD COLUMN out_seq INTEGER;";

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

/*  Runs a COUNT(*) query: its count in *count. 0 or -1 (the reason in err). */
static int s_count(state_t *self, const char *sql, int64_t *count, char *err, size_t errlen)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(self->db, sql, -1, &stmt, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(stmt);
    }
    *count = rc == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : 0;
    sqlite3_finalize(stmt);
    if (rc != SQLITE_ROW) {
        snprintf(err, errlen, "%s: %s", self->path, sqlite3_errmsg(self->db));
        return -1;
    }
    return 0;
}

/*  Brings an older file up to date: the out columns added, a mail_cursor moved into state.
    0 or -1 (the reason in err). */
static int s_migrate(state_t *self, char *err, size_t errlen)
{
    int64_t out = 0, has = 0;
    if (s_count(self, s_has_out, &out, err, errlen) != 0 ||
        s_count(self, s_has_mail_cursor, &has, err, errlen) != 0) {
        return -1;
    }
    char *why = NULL;
    if (!out && sqlite3_exec(self->db, s_add_out, NULL, NULL, &why) != SQLITE_OK) {
        snprintf(err, errlen, "%s: add out columns: %s", self->path,
                 why ? why : sqlite3_errmsg(self->db));
        sqlite3_free(why);
        return -1;
    }
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

static int64_t s_int(sqlite3 *db, const char *sql, int *rc_out)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(stmt);
    }
    int64_t value = rc == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : 0;
    sqlite3_finalize(stmt);
    *rc_out = rc == SQLITE_ROW ? SQLITE_OK : sqlite3_extended_errcode(db);
    return value;
}

/*  Checks, reading only, that db at path is a state file, a blank one, or one of an older
    herald-sub (no kind, its state or mail tables). 0, or -1 with what the file is in err. */
static int s_kind(sqlite3 *db, const char *path, char *err, size_t errlen)
{
    int rc = SQLITE_OK;
    int64_t id = s_int(db, "PRAGMA application_id", &rc);
    if (rc != SQLITE_OK) {
        bool notadb = (rc & 0xff) == SQLITE_NOTADB;
        snprintf(err, errlen, "%s is not a subscriber state file: %s", path,
                 notadb ? "not an SQLite database at all" : sqlite3_errmsg(db));
        return notadb ? -1 : -2;
    }
    const char *kind = store_kind_name((int32_t) id);
    if (id == STORE_APPID_STATE) {
        return 0;
    }
    if (kind) {
        snprintf(err, errlen,
                 "%s is %s, not a subscriber state file: give --state a file of its"
                 " own (it is created when missing)",
                 path, kind);
        return -1;
    }
    if (id != 0) {
        snprintf(err, errlen,
                 "%s is not a subscriber state file: another program's SQLite file"
                 " (application_id 0x%08x)",
                 path, (unsigned) id);
        return -1;
    }
    int64_t tables = s_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table'", &rc);
    int64_t ours = s_int(db,
                         "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND"
                         " (name IN ('state', 'out_base') OR name LIKE 'mail\\_%' ESCAPE '\\'"
                         " OR name LIKE 'webhook\\_%' ESCAPE '\\' OR name LIKE 'feed\\_%'"
                         " ESCAPE '\\')",
                         &rc);
    int64_t store = s_int(db,
                          "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND"
                          " name IN ('meta', 'changes', 'events')",
                          &rc);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
        return -2;
    }
    if (tables == 0 || (ours > 0 && store == 0)) {
        return 0;
    }
    snprintf(err, errlen,
             "%s is %s, not a subscriber state file: give --state a file of its own"
             " (it is created when missing)",
             path,
             store == 3 ? "an event store or a mirror (of an older Herald)"
                        : "another program's SQLite database");
    return -1;
}

int state_check_kind(const char *path, char *err, size_t errlen)
{
    if (access(path, F_OK) != 0) {
        return 0;
    }
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return -2;
    }
    rc = s_kind(db, path, err, errlen);
    sqlite3_close(db);
    return rc;
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
    if (s_kind(self->db, path, err, errlen) != 0) {
        state_destroy(&self);
        return NULL;
    }
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
                           "SELECT out_dev, out_ino, out_length FROM state"
                           " WHERE id = 1 AND out_length IS NOT NULL AND out_seq = last_seq",
                           -1, &self->get_out, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(self->db,
                           "INSERT INTO state(id, stream_id, last_seq, updated_at_ms, out_dev,"
                           " out_ino, out_length, out_seq) VALUES(1, ?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                           " ON CONFLICT(id) DO UPDATE SET stream_id = ?1, last_seq = ?2,"
                           " updated_at_ms = ?3, out_dev = ?4, out_ino = ?5, out_length = ?6,"
                           " out_seq = ?7",
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
        sqlite3_finalize(self->get_out);
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
    if (self->out_noted) {
        sqlite3_bind_int64(self->put, 4, self->out.dev);
        sqlite3_bind_int64(self->put, 5, self->out.ino);
        sqlite3_bind_int64(self->put, 6, self->out.length);
        sqlite3_bind_int64(self->put, 7, seq);
    }
    int rc = sqlite3_step(self->put);
    sqlite3_reset(self->put);
    sqlite3_clear_bindings(self->put);
    if (rc != SQLITE_DONE) {
        s_set_error(self, "write state");
        return -1;
    }
    self->out_noted = false;
    return 0;
}

void state_note_out(state_t *self, const state_out_t *out)
{
    self->out = *out;
    self->out_noted = true;
}

int state_get_out(state_t *self, state_out_t *out)
{
    sqlite3_reset(self->get_out);
    int rc = sqlite3_step(self->get_out);
    int found = 0;
    if (rc == SQLITE_ROW) {
        out->dev = sqlite3_column_int64(self->get_out, 0);
        out->ino = sqlite3_column_int64(self->get_out, 1);
        out->length = sqlite3_column_int64(self->get_out, 2);
        found = 1;
    } else if (rc != SQLITE_DONE) {
        s_set_error(self, "read state");
        found = -1;
    }
    sqlite3_reset(self->get_out);
    return found;
}

int state_put_out_base(state_t *self, const state_out_t *out)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(self->db,
                                "INSERT OR REPLACE INTO out_base(id, dev, ino, length)"
                                " VALUES(1, ?1, ?2, ?3)",
                                -1, &stmt, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(stmt, 1, out->dev);
        sqlite3_bind_int64(stmt, 2, out->ino);
        sqlite3_bind_int64(stmt, 3, out->length);
        rc = sqlite3_step(stmt);
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) {
        s_set_error(self, "write out_base");
        return -1;
    }
    return 0;
}

int state_get_out_base(state_t *self, state_out_t *out)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(self->db, "SELECT dev, ino, length FROM out_base WHERE id = 1", -1,
                                &stmt, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(stmt);
    }
    int found = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
    if (found == 1) {
        out->dev = sqlite3_column_int64(stmt, 0);
        out->ino = sqlite3_column_int64(stmt, 1);
        out->length = sqlite3_column_int64(stmt, 2);
    }
    sqlite3_finalize(stmt);
    if (found < 0) {
        s_set_error(self, "read out_base");
    }
    return found;
}

int state_checkpoint(state_t *self)
{
    int rc = sqlite3_wal_checkpoint_v2(self->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY && rc != SQLITE_LOCKED) {
        s_set_error(self, "checkpoint");
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
