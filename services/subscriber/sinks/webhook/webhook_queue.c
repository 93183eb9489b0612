/*  webhook_queue.c -- the webhook sink's tables in the --state file: outbox and dead letters,
    run by outbox.c on the state file's connection; the head's body is copied into a buffer
    that only grows.
*/
#include "webhook_queue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outbox.h"

static const char *const s_schema =
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

static const char *const s_sql[Q_COUNT] = {
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

static const outbox_tables_t s_tables = {.schema = s_schema, .sql = s_sql, .count = Q_COUNT};

struct webhook_queue {
    outbox_t *box;   /* the tables, on the --state file's connection */
    char *body;      /* the head's body (grows, never shrinks) */
    size_t body_cap; /* its size */
};

/*  The queue on box (taken over), or NULL (box destroyed) with the reason in err. */
static webhook_queue_t *s_new(outbox_t *box, char *err, size_t errlen)
{
    webhook_queue_t *self = box ? calloc(1, sizeof *self) : NULL;
    if (box && !self) {
        snprintf(err, errlen, "out of memory");
        outbox_destroy(&box);
    }
    if (self) {
        self->box = box;
    }
    return self;
}

webhook_queue_t *webhook_queue_new(state_t *state, char *err, size_t errlen)
{
    return s_new(outbox_new(state, &s_tables, err, errlen), err, errlen);
}

webhook_queue_t *webhook_queue_open(const char *path, char *err, size_t errlen)
{
    return s_new(outbox_open(path, &s_tables, err, errlen), err, errlen);
}

void webhook_queue_destroy(webhook_queue_t **self_p)
{
    if (self_p && *self_p) {
        webhook_queue_t *self = *self_p;
        outbox_destroy(&self->box);
        free(self->body);
        free(self);
        *self_p = NULL;
    }
}

outbox_t *webhook_queue_box(webhook_queue_t *self)
{
    return self->box;
}

const char *webhook_queue_error(webhook_queue_t *self)
{
    return outbox_error(self->box);
}

int webhook_queue_add(webhook_queue_t *self, const char *stream_id, int64_t seq, const char *type,
                      const char *body, int64_t now_ms)
{
    sqlite3_stmt *stmt = outbox_stmt(self->box, Q_ADD);
    sqlite3_bind_text(stmt, 1, stream_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, seq);
    sqlite3_bind_text(stmt, 3, type, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 4, body, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 5, now_ms);
    if (outbox_exec(self->box, stmt, "queue request") != 0) {
        return -1;
    }
    return outbox_changes(self->box) > 0 ? 1 : 0;
}

int webhook_queue_count(webhook_queue_t *self, int64_t *count)
{
    return outbox_count(self->box, Q_COUNT_ROWS, count, "count outbox");
}

int webhook_queue_head(webhook_queue_t *self, webhook_item_t *out)
{
    sqlite3_stmt *stmt = outbox_stmt(self->box, Q_HEAD);
    int rc = sqlite3_step(stmt);
    int found = 0;
    if (rc == SQLITE_ROW) {
        memset(out, 0, sizeof *out);
        out->id = sqlite3_column_int64(stmt, 0);
        snprintf(out->stream_id, sizeof out->stream_id, "%s", outbox_text(stmt, 1));
        out->seq = sqlite3_column_int64(stmt, 2);
        snprintf(out->type, sizeof out->type, "%s", outbox_text(stmt, 3));
        out->attempts = sqlite3_column_int64(stmt, 4);
        out->next_attempt_ms = sqlite3_column_int64(stmt, 5);
        const char *body = outbox_text(stmt, 6);
        size_t len = (size_t) sqlite3_column_bytes(stmt, 6);
        if (len + 1 > self->body_cap) {
            size_t cap = self->body_cap ? self->body_cap : 4096;
            while (cap < len + 1) {
                cap *= 2;
            }
            char *grown = realloc(self->body, cap);
            if (!grown) {
                sqlite3_reset(stmt);
                return outbox_set_error(self->box, "out of memory");
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
        found = outbox_fail(self->box, "read outbox");
    }
    sqlite3_reset(stmt);
    return found;
}

int webhook_queue_done(webhook_queue_t *self, int64_t id)
{
    sqlite3_stmt *stmt = outbox_stmt(self->box, Q_DONE);
    sqlite3_bind_int64(stmt, 1, id);
    return outbox_exec(self->box, stmt, "remove delivered");
}

int webhook_queue_retry_later(webhook_queue_t *self, int64_t id, int64_t attempts,
                              int64_t next_attempt_ms, const char *error)
{
    sqlite3_stmt *stmt = outbox_stmt(self->box, Q_RETRY);
    sqlite3_bind_int64(stmt, 1, id);
    sqlite3_bind_int64(stmt, 2, attempts);
    sqlite3_bind_int64(stmt, 3, next_attempt_ms);
    sqlite3_bind_text(stmt, 4, error, -1, SQLITE_STATIC);
    return outbox_exec(self->box, stmt, "write retry");
}

int webhook_queue_dead(webhook_queue_t *self, const webhook_item_t *item, const char *webhook_id,
                       int64_t code, const char *error, int64_t now_ms)
{
    if (outbox_begin(self->box) != 0) {
        return -1;
    }
    sqlite3_stmt *stmt = outbox_stmt(self->box, Q_DEAD_ADD);
    sqlite3_bind_text(stmt, 1, webhook_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, item->stream_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 3, item->seq);
    sqlite3_bind_text(stmt, 4, item->type, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 5, code);
    sqlite3_bind_text(stmt, 6, error, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 7, now_ms);
    sqlite3_bind_text(stmt, 8, item->body, (int) item->body_len, SQLITE_STATIC);
    if (outbox_exec(self->box, stmt, "write dead letter") != 0 ||
        webhook_queue_done(self, item->id) != 0) {
        outbox_rollback(self->box);
        return -1;
    }
    return outbox_commit(self->box);
}

int webhook_queue_dead_count(webhook_queue_t *self, int64_t *count)
{
    return outbox_count(self->box, Q_DEAD_COUNT, count, "count dead letters");
}

/*  What webhook_queue_dead_each hands each dead-letter row to. */
typedef struct {
    int (*fn)(void *arg, const webhook_dead_t *dead);
    void *arg;
} s_dead_walk_t;

static int s_dead_row(void *arg, sqlite3_stmt *stmt)
{
    s_dead_walk_t *walk = arg;
    webhook_dead_t dead = {.id = sqlite3_column_int64(stmt, 0),
                           .webhook_id = outbox_text(stmt, 1),
                           .stream_id = outbox_text(stmt, 2),
                           .seq = sqlite3_column_int64(stmt, 3),
                           .type = outbox_text(stmt, 4),
                           .code = sqlite3_column_int64(stmt, 5),
                           .error = outbox_text(stmt, 6),
                           .failed_at_ms = sqlite3_column_int64(stmt, 7),
                           .body = outbox_text(stmt, 8)};
    return walk->fn(walk->arg, &dead);
}

int webhook_queue_dead_each(webhook_queue_t *self, int (*fn)(void *arg, const webhook_dead_t *dead),
                            void *arg)
{
    s_dead_walk_t walk = {fn, arg};
    return outbox_each(self->box, Q_DEAD_EACH, s_dead_row, &walk, "read dead letters");
}

int webhook_queue_dead_remove(webhook_queue_t *self, int64_t id)
{
    return outbox_exec_id(self->box, Q_DEAD_DEL, id, "remove dead letter");
}
