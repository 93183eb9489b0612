/*  webhook_queue.c -- the webhook sink's tables in the --state file: outbox and dead letters,
    run by outbox.c on the state file's connection; the head's body is copied into the
    outbox's buffer (outbox_keep), which only grows.
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

typedef enum { Q_ADD, Q_COUNT_ROWS, Q_HEAD, Q_DONE, Q_RETRY, Q_DEAD_ADD, Q_COUNT } s_stmt_id_t;

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
};

/*  A dead-letter row (the tables' dead_columns) as a webhook_dead_t, handed to fn. */
static int s_dead_row(sqlite3_stmt *stmt, outbox_letter_fn *fn, void *arg)
{
    webhook_dead_t dead = {.id = sqlite3_column_int64(stmt, 0),
                           .webhook_id = outbox_text(stmt, 1),
                           .stream_id = outbox_text(stmt, 2),
                           .seq = sqlite3_column_int64(stmt, 3),
                           .type = outbox_text(stmt, 4),
                           .code = sqlite3_column_int64(stmt, 5),
                           .error = outbox_text(stmt, 6),
                           .failed_at_ms = sqlite3_column_int64(stmt, 7),
                           .body = outbox_text(stmt, 8)};
    return fn(arg, &dead);
}

const outbox_tables_t webhook_queue_tables = {
    .schema = s_schema,
    .sql = s_sql,
    .count = Q_COUNT,
    .dead_table = "webhook_dead",
    .dead_columns = "id, webhook_id, stream_id, seq, type, code, error, failed_at_ms, body",
    .dead_row = s_dead_row};

int webhook_queue_add(outbox_t *self, const char *stream_id, int64_t seq, const char *type,
                      const char *body, int64_t now_ms)
{
    sqlite3_stmt *stmt = outbox_stmt(self, Q_ADD);
    sqlite3_bind_text(stmt, 1, stream_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, seq);
    sqlite3_bind_text(stmt, 3, type, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 4, body, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 5, now_ms);
    if (outbox_exec(self, stmt, "queue request") != 0) {
        return -1;
    }
    return outbox_changes(self) > 0 ? 1 : 0;
}

int webhook_queue_count(outbox_t *self, int64_t *count)
{
    return outbox_count(self, Q_COUNT_ROWS, count, "count outbox");
}

int webhook_queue_head(outbox_t *self, webhook_item_t *out)
{
    sqlite3_stmt *stmt = outbox_stmt(self, Q_HEAD);
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
        out->body = outbox_keep(self, stmt, 6, &out->body_len);
        if (!out->body) {
            sqlite3_reset(stmt);
            return -1;
        }
        found = 1;
    } else if (rc != SQLITE_DONE) {
        found = outbox_fail(self, "read outbox");
    }
    sqlite3_reset(stmt);
    return found;
}

int webhook_queue_done(outbox_t *self, int64_t id)
{
    return outbox_exec_id(self, Q_DONE, id, "remove delivered");
}

int webhook_queue_retry_later(outbox_t *self, int64_t id, int64_t attempts, int64_t next_attempt_ms,
                              const char *error)
{
    sqlite3_stmt *stmt = outbox_stmt(self, Q_RETRY);
    sqlite3_bind_int64(stmt, 1, id);
    sqlite3_bind_int64(stmt, 2, attempts);
    sqlite3_bind_int64(stmt, 3, next_attempt_ms);
    sqlite3_bind_text(stmt, 4, error, -1, SQLITE_STATIC);
    return outbox_exec(self, stmt, "write retry");
}

int webhook_queue_dead(outbox_t *self, const webhook_item_t *item, const char *webhook_id,
                       int64_t code, const char *error, int64_t now_ms)
{
    if (outbox_begin(self) != 0) {
        return -1;
    }
    sqlite3_stmt *stmt = outbox_stmt(self, Q_DEAD_ADD);
    sqlite3_bind_text(stmt, 1, webhook_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, item->stream_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 3, item->seq);
    sqlite3_bind_text(stmt, 4, item->type, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 5, code);
    sqlite3_bind_text(stmt, 6, error, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 7, now_ms);
    sqlite3_bind_text(stmt, 8, item->body, (int) item->body_len, SQLITE_STATIC);
    if (outbox_exec(self, stmt, "write dead letter") != 0 ||
        webhook_queue_done(self, item->id) != 0) {
        outbox_rollback(self);
        return -1;
    }
    return outbox_commit(self);
}
