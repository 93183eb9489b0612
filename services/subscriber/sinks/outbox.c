/*  outbox.c -- a sink's tables in the --state file and its batch's transaction, on the state
    file's connection (state.c); the statements of outbox_tables_t prepared once, in
    outbox_new. The mail and webhook sinks run their queues on it, and are sinks through its
    frame (outbox_sink_t).
*/
#include "outbox.h"

#include <assert.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

#define S_BACKOFF_FIRST_MS 1000 /* the first retry's delay */
#define S_BACKOFF_MAX_MS OUTBOX_BACKOFF_MAX_MS
#define S_BOUNDED_CACHE_KIB "512" /* SQLite's cache of a bounded outbox's file, KiB */

/*  The statements on a sink's dead letters, made of its table's name and columns. */
enum { S_DEAD_COUNT, S_DEAD_EACH, S_DEAD_DELETE };

static const char *s_has_column = "SELECT COUNT(*) FROM pragma_table_info(?1) WHERE name = ?2";

struct outbox {
    state_t *state;                /* the --state file (borrowed) */
    sqlite3 *db;                   /* its connection (borrowed from state.c) */
    const outbox_tables_t *tables; /* the sink's schema and statements (static) */
    sqlite3_stmt **stmt;           /* prepared statements, by the sink's ids */
    sqlite3_stmt *begin;           /* BEGIN IMMEDIATE, COMMIT, ROLLBACK */
    sqlite3_stmt *commit;
    sqlite3_stmt *rollback;
    sqlite3_stmt *dead[3]; /* the dead letters': count, walk, delete (S_DEAD_*) */
    bool in_txn;           /* a transaction of ours is open */
    bool in_batch;         /* that transaction is a batch's (apply to flush) */
    bool owns_state;       /* outbox_open opened state: destroy closes it */
    char *kept;            /* outbox_keep's buffer (grows, never shrinks) */
    size_t kept_cap;       /* its size */
    char error[1024];      /* reason of the last failure */
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

/*  Prepares the statements on the dead letters' table. 0 or -1. */
static int s_prepare_dead(outbox_t *self)
{
    const char *table = self->tables->dead_table;
    char *sql[3] = {
        [S_DEAD_COUNT] = sqlite3_mprintf("SELECT COUNT(*) FROM %s", table),
        [S_DEAD_EACH] =
            sqlite3_mprintf("SELECT %s FROM %s ORDER BY id", self->tables->dead_columns, table),
        [S_DEAD_DELETE] = sqlite3_mprintf("DELETE FROM %s WHERE id = ?1", table),
    };
    int failed = 0;
    for (int i = 0; i < 3; i++) {
        failed = failed || !sql[i] || s_prepare(self, sql[i], &self->dead[i]) != 0;
        sqlite3_free(sql[i]);
    }
    return failed ? -1 : 0;
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
    if (!failed && tables->dead_table) {
        failed = s_prepare_dead(self);
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
        for (int i = 0; i < 3; i++) {
            sqlite3_finalize(self->dead[i]);
        }
        free(self->stmt);
        if (self->owns_state) {
            state_destroy(&self->state);
        }
        free(self->kept);
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

/*  outbox_count, outbox_each and outbox_exec_id on a statement of any kind. */
static int s_count(outbox_t *self, sqlite3_stmt *stmt, int64_t *value, const char *what)
{
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        *value = sqlite3_column_int64(stmt, 0);
    }
    sqlite3_reset(stmt);
    return rc == SQLITE_ROW ? 0 : outbox_fail(self, what);
}

static int s_each(outbox_t *self, sqlite3_stmt *stmt, int (*row)(void *arg, sqlite3_stmt *stmt),
                  void *arg, const char *what)
{
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

static int s_exec_id(outbox_t *self, sqlite3_stmt *stmt, int64_t rowid, const char *what)
{
    sqlite3_bind_int64(stmt, 1, rowid);
    return outbox_exec(self, stmt, what);
}

int outbox_count(outbox_t *self, int id, int64_t *value, const char *what)
{
    return s_count(self, outbox_stmt(self, id), value, what);
}

int outbox_each(outbox_t *self, int id, int (*row)(void *arg, sqlite3_stmt *stmt), void *arg,
                const char *what)
{
    return s_each(self, outbox_stmt(self, id), row, arg, what);
}

int outbox_exec_id(outbox_t *self, int id, int64_t rowid, const char *what)
{
    return s_exec_id(self, outbox_stmt(self, id), rowid, what);
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

const char *outbox_keep(outbox_t *self, sqlite3_stmt *stmt, int col, size_t *len)
{
    const char *text = outbox_text(stmt, col);
    size_t n = (size_t) sqlite3_column_bytes(stmt, col);
    if (n + 1 > self->kept_cap) {
        size_t cap = self->kept_cap ? self->kept_cap : 4096;
        while (cap < n + 1) {
            cap *= 2;
        }
        char *grown = realloc(self->kept, cap);
        if (!grown) {
            outbox_set_error(self, "out of memory");
            return NULL;
        }
        self->kept = grown;
        self->kept_cap = cap;
    }
    memcpy(self->kept, text, n);
    self->kept[n] = '\0';
    *len = n;
    return self->kept;
}

/*  Statement which of the dead letters (S_DEAD_*), reset and its bindings cleared. */
static sqlite3_stmt *s_dead(outbox_t *self, int which)
{
    assert(self->tables->dead_table);
    return s_reset(self->dead[which]);
}

int outbox_dead_count(outbox_t *self, int64_t *count)
{
    return s_count(self, s_dead(self, S_DEAD_COUNT), count, "count dead letters");
}

/*  What outbox_dead_each hands each row to: the sink's reader and its fn. */
typedef struct {
    const outbox_tables_t *tables;
    outbox_letter_fn *fn;
    void *arg;
} s_dead_walk_t;

static int s_dead_row(void *arg, sqlite3_stmt *stmt)
{
    s_dead_walk_t *walk = arg;
    return walk->tables->dead_row(stmt, walk->fn, walk->arg);
}

int outbox_dead_each(outbox_t *self, outbox_letter_fn *fn, void *arg)
{
    s_dead_walk_t walk = {self->tables, fn, arg};
    return s_each(self, s_dead(self, S_DEAD_EACH), s_dead_row, &walk, "read dead letters");
}

int outbox_dead_remove(outbox_t *self, int64_t id)
{
    return s_exec_id(self, s_dead(self, S_DEAD_DELETE), id, "remove dead letter");
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
            snprintf(err, errlen, "commit: %.400s", self->error); /* the reason, cut to fit */
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

/*  What s_write_line writes to. */
typedef struct {
    json_t *(*line)(const void *letter);
    FILE *out;
} s_list_t;

/*  outbox_dead_list's walk: the letter's line to the output. 0, or -2 a write failed. */
static int s_write_line(void *arg, const void *letter)
{
    s_list_t *list = arg;
    json_t *line = list->line(letter);
    int rc = line ? json_dumpf(line, list->out, JSON_COMPACT | JSON_PRESERVE_ORDER) : -1;
    json_decref(line);
    if (rc != 0 || fputc('\n', list->out) == EOF) {
        return -2;
    }
    return 0;
}

int outbox_dead_list(const char *path, const outbox_tables_t *tables,
                     json_t *(*line)(const void *letter), FILE *out, char *err, size_t errlen)
{
    outbox_t *self = outbox_open(path, tables, err, errlen);
    if (!self) {
        return -1;
    }
    s_list_t list = {line, out};
    int walk = outbox_dead_each(self, s_write_line, &list);
    int rc = outbox_dead_listed(self, path, walk, out, err, errlen);
    outbox_destroy(&self);
    return rc;
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

//  ---------------------------------------------------------------------------------------
//  The frame of an outbox sink

void *outbox_sink_alloc(const outbox_sink_kind_t *kind, size_t size, char *err, size_t errlen)
{
    assert(size >= sizeof(outbox_sink_t));
    outbox_sink_t *self = calloc(1, size);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->kind = kind;
    return self;
}

int outbox_sink_open(outbox_sink_t *self, state_t *state, char *err, size_t errlen)
{
    char why[512];
    self->box = outbox_new(state, self->kind->tables, why, sizeof why);
    if (!self->box) {
        snprintf(err, errlen, "--state: %s", why);
        return -1;
    }
    /* A bounded outbox is read at its head and written at its tail, each row once: SQLite's
       default cache of 2 MiB for the file held nothing that is read again (512 KiB: the
       same deliveries a second, 1.5 MiB less memory; docs/performance.md). Best effort. */
    if (self->kind->backlog) {
        sqlite3_exec(self->box->db, "PRAGMA cache_size = -" S_BOUNDED_CACHE_KIB, NULL, NULL, NULL);
    }
    return 0;
}

int outbox_sink_fail(outbox_sink_t *self, const char *what)
{
    snprintf(self->error, sizeof self->error, "%.100s: %.400s", what, outbox_error(self->box));
    return -1;
}

static int s_sink_flush(void *self_, const char *stream_id, int64_t last_seq)
{
    outbox_sink_t *self = self_;
    return outbox_batch_flush(self->box, stream_id, last_seq, self->error, sizeof self->error);
}

static int s_sink_position(void *self_, char *stream_id_out, size_t cap, int64_t *seq_out)
{
    outbox_sink_t *self = self_;
    return outbox_position(self->box, stream_id_out, cap, seq_out, self->error, sizeof self->error);
}

/*  What was queued from the old stream happened: it is still sent, first, and the cursor
    moves to the new stream at the next flush. */
static int s_sink_reset(void *self_)
{
    outbox_sink_t *self = self_;
    return outbox_batch_end(self->box, self->error, sizeof self->error);
}

static void s_sink_stats(void *self_, int64_t *values)
{
    outbox_sink_t *self = self_;
    memcpy(values, self->counts, sizeof self->counts);
}

static int64_t s_sink_backlog(void *self_)
{
    outbox_sink_t *self = self_;
    return self->counts[OUTBOX_WAITING];
}

static const char *s_sink_error(void *self_)
{
    outbox_sink_t *self = self_;
    return self->error;
}

sink_t *outbox_sink_start(outbox_sink_t *self, char *err, size_t errlen)
{
    sink_t *sink = calloc(1, sizeof *sink);
    if (!sink) {
        snprintf(err, errlen, "out of memory");
        void *p = self;
        outbox_sink_destroy(&p);
        return NULL;
    }
    srandom((unsigned) (clock_ms(CLOCK_REALTIME) ^ (int64_t) getpid()));
    *sink = (sink_t){.name = self->kind->name,
                     .self = self,
                     .apply = self->kind->apply,
                     .flush = s_sink_flush,
                     .position = s_sink_position,
                     .reset = s_sink_reset,
                     .tick = self->kind->tick,
                     .backlog = self->kind->backlog ? s_sink_backlog : NULL,
                     .stats = s_sink_stats,
                     .error = s_sink_error,
                     .destroy = outbox_sink_destroy};
    return sink;
}

void outbox_sink_destroy(void **self_p)
{
    if (self_p && *self_p) {
        outbox_sink_t *self = *self_p;
        const char *const *name = self->kind->counts;
        const int64_t *count = self->counts;
        if (self->box) {
            log_info(self->kind->stopped, "{s:I, s:I, s:I, s:I}", name[0], (json_int_t) count[0],
                     name[1], (json_int_t) count[1], name[2], (json_int_t) count[2], name[3],
                     (json_int_t) count[3]);
        }
        outbox_destroy(&self->box); /* a batch never flushed is rolled back */
        if (self->kind->close) {
            self->kind->close(self);
        }
        free(self);
        *self_p = NULL;
    }
}
