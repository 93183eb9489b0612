/*  outbox.c -- a sink's tables in the --state file and its batch's transaction, on the state
    file's connection (state.c); the statements of outbox_tables_t prepared once, in
    outbox_new. The mail and webhook sinks run their queues on it.
*/
#include "outbox.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"

#define S_BACKOFF_FIRST_MS 1000 /* the first retry's delay */
#define S_BACKOFF_MAX_MS OUTBOX_BACKOFF_MAX_MS

static const char *s_has_column = "SELECT COUNT(*) FROM pragma_table_info(?1) WHERE name = ?2";

struct outbox {
    state_t *state;                /* the --state file (borrowed) */
    sqlite3 *db;                   /* its connection (borrowed from state.c) */
    const outbox_tables_t *tables; /* the sink's schema and statements (static) */
    sqlite3_stmt **stmt;           /* prepared statements, by the sink's ids */
    sqlite3_stmt *begin;           /* BEGIN IMMEDIATE, COMMIT, ROLLBACK */
    sqlite3_stmt *commit;
    sqlite3_stmt *rollback;
    bool in_txn;      /* a transaction of ours is open */
    bool in_batch;    /* that transaction is a batch's (apply to flush) */
    bool owns_state;  /* outbox_open opened state: destroy closes it */
    char error[1024]; /* reason of the last failure */
};

int outbox_set_error(outbox_t *self, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(self->error, sizeof self->error, fmt, ap);
    va_end(ap);
    return -1;
}

int outbox_fail(outbox_t *self, const char *what)
{
    return outbox_set_error(self, "%s: %s", what, sqlite3_errmsg(self->db));
}

/*  Adds the columns of self's tables that the file's tables lack. 0 or -1. */
static int s_migrate(outbox_t *self)
{
    for (size_t i = 0; i < self->tables->column_count; i++) {
        const outbox_column_t *c = &self->tables->columns[i];
        sqlite3_stmt *stmt = NULL;
        if (sqlite3_prepare_v2(self->db, s_has_column, -1, &stmt, NULL) != SQLITE_OK) {
            return outbox_fail(self, c->check);
        }
        sqlite3_bind_text(stmt, 1, c->table, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 2, c->column, -1, SQLITE_STATIC);
        int rc = sqlite3_step(stmt);
        bool has = rc == SQLITE_ROW && sqlite3_column_int64(stmt, 0) > 0;
        sqlite3_finalize(stmt);
        if (rc != SQLITE_ROW) {
            return outbox_fail(self, c->check);
        }
        if (!has && sqlite3_exec(self->db, c->added, NULL, NULL, NULL) != SQLITE_OK) {
            return outbox_fail(self, c->add);
        }
    }
    return 0;
}

static int s_prepare(outbox_t *self, const char *sql, sqlite3_stmt **stmt)
{
    return sqlite3_prepare_v2(self->db, sql, -1, stmt, NULL) == SQLITE_OK ? 0 : -1;
}

outbox_t *outbox_new(state_t *state, const outbox_tables_t *tables, char *err, size_t errlen)
{
    const char *path = state_path(state);
    outbox_t *self = calloc(1, sizeof *self);
    sqlite3_stmt **stmt = calloc((size_t) tables->count, sizeof *stmt);
    if (!self || !stmt) {
        snprintf(err, errlen, "%s: out of memory", path);
        free(self);
        free(stmt);
        return NULL;
    }
    self->state = state;
    self->db = state_db(state);
    self->tables = tables;
    self->stmt = stmt;
    char *why = NULL;
    if (sqlite3_exec(self->db, tables->schema, NULL, NULL, &why) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, why ? why : sqlite3_errmsg(self->db));
        sqlite3_free(why);
        outbox_destroy(&self);
        return NULL;
    }
    if (s_migrate(self) != 0) {
        snprintf(err, errlen, "%s: %s", path, self->error);
        outbox_destroy(&self);
        return NULL;
    }
    int failed = s_prepare(self, "BEGIN IMMEDIATE", &self->begin) |
                 s_prepare(self, "COMMIT", &self->commit) |
                 s_prepare(self, "ROLLBACK", &self->rollback);
    for (int i = 0; !failed && i < tables->count; i++) {
        failed = s_prepare(self, tables->sql[i], &self->stmt[i]);
    }
    if (failed) {
        snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(self->db));
        outbox_destroy(&self);
        return NULL;
    }
    return self;
}

outbox_t *outbox_open(const char *path, const outbox_tables_t *tables, char *err, size_t errlen)
{
    if (access(path, F_OK) != 0) {
        snprintf(err, errlen, "--state %s: no such file", path);
        return NULL;
    }
    char why[512];
    state_t *state = state_new(path, why, sizeof why);
    outbox_t *self = state ? outbox_new(state, tables, why, sizeof why) : NULL;
    if (!self) {
        snprintf(err, errlen, "--state %s", why);
        state_destroy(&state);
        return NULL;
    }
    self->owns_state = true;
    return self;
}

void outbox_destroy(outbox_t **self_p)
{
    if (self_p && *self_p) {
        outbox_t *self = *self_p;
        if (self->in_txn) {
            outbox_rollback(self);
        }
        for (int i = 0; i < self->tables->count; i++) {
            sqlite3_finalize(self->stmt[i]);
        }
        sqlite3_finalize(self->begin);
        sqlite3_finalize(self->commit);
        sqlite3_finalize(self->rollback);
        free(self->stmt);
        if (self->owns_state) {
            state_destroy(&self->state);
        }
        free(self);
        *self_p = NULL;
    }
}

const char *outbox_error(outbox_t *self)
{
    return self->error;
}

static sqlite3_stmt *s_reset(sqlite3_stmt *stmt)
{
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return stmt;
}

sqlite3_stmt *outbox_stmt(outbox_t *self, int id)
{
    return s_reset(self->stmt[id]);
}

int outbox_exec(outbox_t *self, sqlite3_stmt *stmt, const char *what)
{
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    return rc == SQLITE_DONE ? 0 : outbox_fail(self, what);
}

int outbox_count(outbox_t *self, int id, int64_t *value, const char *what)
{
    sqlite3_stmt *stmt = outbox_stmt(self, id);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        *value = sqlite3_column_int64(stmt, 0);
    }
    sqlite3_reset(stmt);
    return rc == SQLITE_ROW ? 0 : outbox_fail(self, what);
}

int outbox_each(outbox_t *self, int id, int (*row)(void *arg, sqlite3_stmt *stmt), void *arg,
                const char *what)
{
    sqlite3_stmt *stmt = outbox_stmt(self, id);
    int rc, result = 0;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if ((result = row(arg, stmt)) != 0) {
            break;
        }
    }
    sqlite3_reset(stmt);
    if (result == 0 && rc != SQLITE_DONE) {
        return outbox_fail(self, what);
    }
    return result;
}

int outbox_exec_id(outbox_t *self, int id, int64_t rowid, const char *what)
{
    sqlite3_stmt *stmt = outbox_stmt(self, id);
    sqlite3_bind_int64(stmt, 1, rowid);
    return outbox_exec(self, stmt, what);
}

int outbox_changes(outbox_t *self)
{
    return sqlite3_changes(self->db);
}

const char *outbox_text(sqlite3_stmt *stmt, int col)
{
    const unsigned char *text = sqlite3_column_text(stmt, col);
    return text ? (const char *) text : "";
}

int outbox_begin(outbox_t *self)
{
    if (outbox_exec(self, s_reset(self->begin), "begin") != 0) {
        return -1;
    }
    self->in_txn = true;
    return 0;
}

int outbox_commit(outbox_t *self)
{
    if (outbox_exec(self, s_reset(self->commit), "commit") != 0) {
        outbox_rollback(self);
        return -1;
    }
    self->in_txn = false;
    return 0;
}

void outbox_rollback(outbox_t *self)
{
    if (sqlite3_get_autocommit(self->db) == 0) {
        sqlite3_step(s_reset(self->rollback));
        sqlite3_reset(self->rollback);
    }
    self->in_txn = false;
}

int outbox_batch_begin(outbox_t *self, char *err, size_t errlen)
{
    if (!self->in_batch) {
        if (outbox_begin(self) != 0) {
            snprintf(err, errlen, "begin: %s", self->error);
            return -1;
        }
        self->in_batch = true;
    }
    return 0;
}

int outbox_batch_flush(outbox_t *self, const char *stream_id, int64_t last_seq, char *err,
                       size_t errlen)
{
    if (outbox_batch_begin(self, err, errlen) != 0) {
        return -1;
    }
    self->in_batch = false;
    if (state_put(self->state, stream_id, last_seq, clock_ms(CLOCK_REALTIME)) != 0) {
        snprintf(err, errlen, "cursor: %s", state_error(self->state));
        outbox_rollback(self);
        return -1;
    }
    if (outbox_commit(self) != 0) {
        snprintf(err, errlen, "commit: %s", self->error);
        return -1;
    }
    return 0;
}

int outbox_batch_end(outbox_t *self, char *err, size_t errlen)
{
    if (self->in_batch) {
        self->in_batch = false;
        if (outbox_commit(self) != 0) {
            snprintf(err, errlen, "commit: %s", self->error);
            return -1;
        }
    }
    return 0;
}

bool outbox_in_batch(outbox_t *self)
{
    return self->in_batch;
}

int outbox_position(outbox_t *self, char *stream_id_out, size_t cap, int64_t *seq_out, char *err,
                    size_t errlen)
{
    int found = state_get(self->state, stream_id_out, cap, seq_out);
    if (found < 0) {
        snprintf(err, errlen, "cursor: %s", state_error(self->state));
        return -1;
    }
    return found == 1 && stream_id_out[0] ? 1 : 0;
}

int64_t outbox_backoff_ms(int64_t attempt)
{
    int64_t delay = S_BACKOFF_MAX_MS;
    if (attempt < 20) {
        delay = (int64_t) S_BACKOFF_FIRST_MS << (attempt - 1);
        delay = delay > S_BACKOFF_MAX_MS ? S_BACKOFF_MAX_MS : delay;
    }
    return delay + (int64_t) (random() % (delay / 4 + 1)); /* senders that failed together part */
}

int outbox_dead_listed(outbox_t *self, const char *path, int walk, FILE *out, char *err,
                       size_t errlen)
{
    if (walk == -2 || fflush(out) != 0) {
        snprintf(err, errlen, "write: stdout");
        return -1;
    }
    if (walk != 0) {
        snprintf(err, errlen, "--state %s: %s", path, self->error);
        return -1;
    }
    return 0;
}

int outbox_dead_resend(outbox_t *self, const char *path, int walk, size_t count,
                       int (*resend)(void *arg, size_t i), void *arg, char *err, size_t errlen)
{
    int left = 0;
    if (walk != 0) {
        snprintf(err, errlen, "--state %s: %s", path, walk == -2 ? "out of memory" : self->error);
        left = -1;
    }
    for (size_t i = 0; left >= 0 && i < count; i++) {
        int sent = resend(arg, i);
        if (sent < 0) {
            snprintf(err, errlen, "--state %s: %s", path, self->error);
            left = -1;
        } else if (sent == 0) {
            left++;
        }
    }
    return left;
}

void *outbox_grow(void *array, size_t *cap, size_t count, size_t size)
{
    if (count < *cap) {
        return array;
    }
    size_t grown_cap = *cap ? *cap * 2 : 16;
    void *grown = realloc(array, grown_cap * size);
    if (grown) {
        *cap = grown_cap;
    }
    return grown;
}
