/*  webhook_queue.c -- the webhook sink's tables in the --state file: outbox and dead letters,
    on the state file's connection (state.c). Every statement is prepared once, in
    webhook_queue_new; the head's body is copied into a buffer that only grows.
*/
#include "webhook_queue.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *s_schema =
    "CREATE TABLE IF NOT EXISTS webhook_outbox("
    " id INTEGER PRIMARY KEY, stream_id TEXT NOT NULL, seq INTEGER NOT NULL,"
    " type TEXT NOT NULL, body TEXT NOT NULL, queued_at_ms INTEGER NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0, next_attempt_ms INTEGER NOT NULL DEFAULT 0,"
    " last_error TEXT, UNIQUE(stream_id, seq));"
    "CREATE TABLE IF NOT EXISTS webhook_dead("
    " id INTEGER PRIMARY KEY, webhook_id TEXT NOT NULL, stream_id TEXT NOT NULL,"
    " seq INTEGER NOT NULL, type TEXT NOT NULL, code INTEGER NOT NULL, error TEXT NOT NULL,"
    " failed_at_ms INTEGER NOT NULL, body TEXT NOT NULL);";

typedef enum {
    Q_BEGIN,
    Q_COMMIT,
    Q_ROLLBACK,
    Q_ADD,
    Q_COUNT_ROWS,
    Q_HEAD,
    Q_DONE,
    Q_RETRY,
    Q_DEAD_ADD,
    Q_DEAD_COUNT,
    Q_DEAD_EACH,
    Q_DEAD_DEL,
    Q_COUNT
} s_stmt_id_t;

static const char *s_sql[Q_COUNT] = {
    [Q_BEGIN] = "BEGIN IMMEDIATE",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
    [Q_ADD] = "INSERT OR IGNORE INTO webhook_outbox(stream_id, seq, type, body, queued_at_ms)"
              " VALUES(?1, ?2, ?3, ?4, ?5)",
    [Q_COUNT_ROWS] = "SELECT COUNT(*) FROM webhook_outbox",
    [Q_HEAD] = "SELECT id, stream_id, seq, type, attempts, next_attempt_ms, body"
               " FROM webhook_outbox ORDER BY id LIMIT 1",
    [Q_DONE] = "DELETE FROM webhook_outbox WHERE id = ?1",
    [Q_RETRY] = "UPDATE webhook_outbox SET attempts = ?2, next_attempt_ms = ?3, last_error = ?4"
                " WHERE id = ?1",
    [Q_DEAD_ADD] = "INSERT INTO webhook_dead(webhook_id, stream_id, seq, type, code, error,"
                   " failed_at_ms, body) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [Q_DEAD_COUNT] = "SELECT COUNT(*) FROM webhook_dead",
    [Q_DEAD_EACH] = "SELECT id, webhook_id, stream_id, seq, type, code, error, failed_at_ms,"
                    " body FROM webhook_dead ORDER BY id",
    [Q_DEAD_DEL] = "DELETE FROM webhook_dead WHERE id = ?1",
};

struct webhook_queue {
    sqlite3 *db;                 /* the --state file's connection (borrowed from state.c) */
    sqlite3_stmt *stmt[Q_COUNT]; /* prepared statements, by s_stmt_id_t */
    bool in_txn;                 /* a transaction of ours is open */
    char *body;                  /* the head's body (grows, never shrinks) */
    size_t body_cap;             /* its size */
    char error[1024];            /* reason of the last failure */
};

static int s_fail(webhook_queue_t *self, const char *what)
{
    snprintf(self->error, sizeof self->error, "%s: %s", what, sqlite3_errmsg(self->db));
    return -1;
}

/*  Resets a statement for use; returns it. */
static sqlite3_stmt *s_use(webhook_queue_t *self, s_stmt_id_t id)
{
    sqlite3_reset(self->stmt[id]);
    sqlite3_clear_bindings(self->stmt[id]);
    return self->stmt[id];
}

/*  Runs a statement that returns no row. 0 or -1. */
static int s_exec(webhook_queue_t *self, sqlite3_stmt *stmt, const char *what)
{
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    return rc == SQLITE_DONE ? 0 : s_fail(self, what);
}

static const char *s_col(sqlite3_stmt *stmt, int col)
{
    const unsigned char *text = sqlite3_column_text(stmt, col);
    return text ? (const char *) text : "";
}

webhook_queue_t *webhook_queue_new(state_t *state, char *err, size_t errlen)
{
    const char *path = state_path(state);
    webhook_queue_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    self->db = state_db(state);
    char *why = NULL;
    if (sqlite3_exec(self->db, s_schema, NULL, NULL, &why) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, why ? why : sqlite3_errmsg(self->db));
        sqlite3_free(why);
        webhook_queue_destroy(&self);
        return NULL;
    }
    for (int i = 0; i < Q_COUNT; i++) {
        if (sqlite3_prepare_v2(self->db, s_sql[i], -1, &self->stmt[i], NULL) != SQLITE_OK) {
            snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(self->db));
            webhook_queue_destroy(&self);
            return NULL;
        }
    }
    return self;
}

void webhook_queue_destroy(webhook_queue_t **self_p)
{
    if (self_p && *self_p) {
        webhook_queue_t *self = *self_p;
        if (self->in_txn) {
            webhook_queue_rollback(self);
        }
        for (int i = 0; i < Q_COUNT; i++) {
            sqlite3_finalize(self->stmt[i]);
        }
        free(self->body);
        free(self);
        *self_p = NULL;
    }
}

const char *webhook_queue_error(webhook_queue_t *self)
{
    return self->error;
}

int webhook_queue_begin(webhook_queue_t *self)
{
    if (s_exec(self, s_use(self, Q_BEGIN), "begin") != 0) {
        return -1;
    }
    self->in_txn = true;
    return 0;
}

int webhook_queue_commit(webhook_queue_t *self)
{
    if (s_exec(self, s_use(self, Q_COMMIT), "commit") != 0) {
        webhook_queue_rollback(self);
        return -1;
    }
    self->in_txn = false;
    return 0;
}

void webhook_queue_rollback(webhook_queue_t *self)
{
    if (sqlite3_get_autocommit(self->db) == 0) {
        sqlite3_step(s_use(self, Q_ROLLBACK));
        sqlite3_reset(self->stmt[Q_ROLLBACK]);
    }
    self->in_txn = false;
}

int webhook_queue_add(webhook_queue_t *self, const char *stream_id, int64_t seq, const char *type,
                      const char *body, int64_t now_ms)
{
    sqlite3_stmt *stmt = s_use(self, Q_ADD);
    sqlite3_bind_text(stmt, 1, stream_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, seq);
    sqlite3_bind_text(stmt, 3, type, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 4, body, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 5, now_ms);
    if (s_exec(self, stmt, "queue request") != 0) {
        return -1;
    }
    return sqlite3_changes(self->db) > 0 ? 1 : 0;
}

static int s_count(webhook_queue_t *self, s_stmt_id_t id, int64_t *count, const char *what)
{
    sqlite3_stmt *stmt = s_use(self, id);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        *count = sqlite3_column_int64(stmt, 0);
    }
    sqlite3_reset(stmt);
    return rc == SQLITE_ROW ? 0 : s_fail(self, what);
}

int webhook_queue_count(webhook_queue_t *self, int64_t *count)
{
    return s_count(self, Q_COUNT_ROWS, count, "count outbox");
}

int webhook_queue_head(webhook_queue_t *self, webhook_item_t *out)
{
    sqlite3_stmt *stmt = s_use(self, Q_HEAD);
    int rc = sqlite3_step(stmt);
    int found = 0;
    if (rc == SQLITE_ROW) {
        memset(out, 0, sizeof *out);
        out->id = sqlite3_column_int64(stmt, 0);
        snprintf(out->stream_id, sizeof out->stream_id, "%s", s_col(stmt, 1));
        out->seq = sqlite3_column_int64(stmt, 2);
        snprintf(out->type, sizeof out->type, "%s", s_col(stmt, 3));
        out->attempts = sqlite3_column_int64(stmt, 4);
        out->next_attempt_ms = sqlite3_column_int64(stmt, 5);
        const char *body = s_col(stmt, 6);
        size_t len = (size_t) sqlite3_column_bytes(stmt, 6);
        if (len + 1 > self->body_cap) {
            size_t cap = self->body_cap ? self->body_cap : 4096;
            while (cap < len + 1) {
                cap *= 2;
            }
            char *grown = realloc(self->body, cap);
            if (!grown) {
                sqlite3_reset(stmt);
                snprintf(self->error, sizeof self->error, "out of memory");
                return -1;
            }
            self->body = grown;
            self->body_cap = cap;
        }
        memcpy(self->body, body, len);
        self->body[len] = '\0';
        out->body = self->body;
        out->body_len = len;
        found = 1;
    } else if (rc != SQLITE_DONE) {
        found = s_fail(self, "read outbox");
    }
    sqlite3_reset(stmt);
    return found;
}

int webhook_queue_done(webhook_queue_t *self, int64_t id)
{
    sqlite3_stmt *stmt = s_use(self, Q_DONE);
    sqlite3_bind_int64(stmt, 1, id);
    return s_exec(self, stmt, "remove delivered");
}

int webhook_queue_retry_later(webhook_queue_t *self, int64_t id, int64_t attempts,
                              int64_t next_attempt_ms, const char *error)
{
    sqlite3_stmt *stmt = s_use(self, Q_RETRY);
    sqlite3_bind_int64(stmt, 1, id);
    sqlite3_bind_int64(stmt, 2, attempts);
    sqlite3_bind_int64(stmt, 3, next_attempt_ms);
    sqlite3_bind_text(stmt, 4, error, -1, SQLITE_STATIC);
    return s_exec(self, stmt, "write retry");
}

int webhook_queue_dead(webhook_queue_t *self, const webhook_item_t *item, const char *webhook_id,
                       int64_t code, const char *error, int64_t now_ms)
{
    if (webhook_queue_begin(self) != 0) {
        return -1;
    }
    sqlite3_stmt *stmt = s_use(self, Q_DEAD_ADD);
    sqlite3_bind_text(stmt, 1, webhook_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, item->stream_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 3, item->seq);
    sqlite3_bind_text(stmt, 4, item->type, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 5, code);
    sqlite3_bind_text(stmt, 6, error, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 7, now_ms);
    sqlite3_bind_text(stmt, 8, item->body, (int) item->body_len, SQLITE_STATIC);
    if (s_exec(self, stmt, "write dead letter") != 0 || webhook_queue_done(self, item->id) != 0) {
        webhook_queue_rollback(self);
        return -1;
    }
    return webhook_queue_commit(self);
}

int webhook_queue_dead_count(webhook_queue_t *self, int64_t *count)
{
    return s_count(self, Q_DEAD_COUNT, count, "count dead letters");
}

int webhook_queue_dead_each(webhook_queue_t *self, int (*fn)(void *arg, const webhook_dead_t *dead),
                            void *arg)
{
    sqlite3_stmt *stmt = s_use(self, Q_DEAD_EACH);
    int rc, result = 0;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        webhook_dead_t dead = {.id = sqlite3_column_int64(stmt, 0),
                               .webhook_id = s_col(stmt, 1),
                               .stream_id = s_col(stmt, 2),
                               .seq = sqlite3_column_int64(stmt, 3),
                               .type = s_col(stmt, 4),
                               .code = sqlite3_column_int64(stmt, 5),
                               .error = s_col(stmt, 6),
                               .failed_at_ms = sqlite3_column_int64(stmt, 7),
                               .body = s_col(stmt, 8)};
        if ((result = fn(arg, &dead)) != 0) {
            break;
        }
    }
    sqlite3_reset(stmt);
    if (result == 0 && rc != SQLITE_DONE) {
        return s_fail(self, "read dead letters");
    }
    return result;
}

int webhook_queue_dead_remove(webhook_queue_t *self, int64_t id)
{
    sqlite3_stmt *stmt = s_use(self, Q_DEAD_DEL);
    sqlite3_bind_int64(stmt, 1, id);
    return s_exec(self, stmt, "remove dead letter");
}
