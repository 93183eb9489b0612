/*  mail_queue.c -- the mail sink's tables in the --state file: queue, outbox, dead letters,
    run by outbox.c on the state file's connection.
*/
#include "mail_queue.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const s_schema =
    "CREATE TABLE IF NOT EXISTS mail_queue("
    " stream_id TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL, change TEXT NOT NULL,"
    " payload TEXT NOT NULL, queued_at_ms INTEGER NOT NULL, PRIMARY KEY(stream_id, seq));"
    "CREATE TABLE IF NOT EXISTS mail_outbox("
    " message_id TEXT PRIMARY KEY, stream_id TEXT NOT NULL, first_seq INTEGER NOT NULL,"
    " last_seq INTEGER NOT NULL, created_at_ms INTEGER NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0, next_attempt_ms INTEGER NOT NULL DEFAULT 0,"
    " last_error TEXT, sent INTEGER NOT NULL DEFAULT 0, dead INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS mail_outbox_rcpt("
    " message_id TEXT NOT NULL, recipient TEXT NOT NULL, PRIMARY KEY(message_id, recipient));"
    "CREATE TABLE IF NOT EXISTS mail_dead("
    " id INTEGER PRIMARY KEY, message_id TEXT NOT NULL, recipient TEXT NOT NULL,"
    " stream_id TEXT NOT NULL, first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL,"
    " code INTEGER NOT NULL, error TEXT NOT NULL, failed_at_ms INTEGER NOT NULL,"
    " items TEXT NOT NULL);";

/*  A state file made before the outbox counted its recipients gets the two columns (a digest
    in flight then counts from 0). */
static const outbox_column_t s_columns[] = {
    {.table = "mail_outbox",
     .column = "sent",
     .added = "ALTER TABLE mail_outbox ADD COLUMN sent INTEGER NOT NULL DEFAULT 0;"
              "ALTER TABLE mail_outbox ADD COLUMN dead INTEGER NOT NULL DEFAULT 0;",
     .check = "outbox columns",
     .add = "add outbox counts"},
};

typedef enum {
    Q_ADD,
    Q_WAITING,
    Q_OUTBOX,
    Q_OLDEST_STREAM,
    Q_RANGE,
    Q_OUTBOX_ADD,
    Q_RCPT_ADD,
    Q_ITEMS,
    Q_PENDING,
    Q_RCPT_DEL,
    Q_COUNT_SENT,
    Q_COUNT_DEAD,
    Q_DEAD_ADD,
    Q_RETRY,
    Q_ITEMS_DEL,
    Q_OUTBOX_DEL,
    Q_RCPTS_DEL,
    Q_COUNT
} s_stmt_id_t;

static const char *const s_sql[Q_COUNT] = {
    [Q_ADD] = "INSERT OR IGNORE INTO mail_queue(stream_id, seq, type, change, payload,"
              " queued_at_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    [Q_WAITING] = "SELECT COUNT(*), COALESCE(MIN(queued_at_ms), 0) FROM mail_queue",
    [Q_OUTBOX] = "SELECT message_id, stream_id, first_seq, last_seq, attempts, next_attempt_ms,"
                 " sent, dead FROM mail_outbox ORDER BY created_at_ms, rowid LIMIT 1",
    [Q_OLDEST_STREAM] = "SELECT stream_id FROM mail_queue ORDER BY queued_at_ms, seq LIMIT 1",
    [Q_RANGE] = "SELECT MIN(seq), MAX(seq), COUNT(*) FROM (SELECT seq FROM mail_queue"
                " WHERE stream_id = ?1 ORDER BY seq LIMIT ?2)",
    [Q_OUTBOX_ADD] = "INSERT INTO mail_outbox(message_id, stream_id, first_seq, last_seq,"
                     " created_at_ms) VALUES(?1, ?2, ?3, ?4, ?5)",
    [Q_RCPT_ADD] = "INSERT OR IGNORE INTO mail_outbox_rcpt(message_id, recipient) VALUES(?1, ?2)",
    [Q_ITEMS] = "SELECT payload FROM mail_queue WHERE stream_id = ?1 AND seq BETWEEN ?2 AND ?3"
                " ORDER BY seq",
    [Q_PENDING] = "SELECT recipient FROM mail_outbox_rcpt WHERE message_id = ?1 ORDER BY rowid",
    [Q_RCPT_DEL] = "DELETE FROM mail_outbox_rcpt WHERE message_id = ?1 AND recipient = ?2",
    [Q_COUNT_SENT] = "UPDATE mail_outbox SET sent = sent + 1 WHERE message_id = ?1",
    [Q_COUNT_DEAD] = "UPDATE mail_outbox SET dead = dead + 1 WHERE message_id = ?1",
    [Q_DEAD_ADD] = "INSERT INTO mail_dead(message_id, recipient, stream_id, first_seq, last_seq,"
                   " code, error, failed_at_ms, items) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [Q_RETRY] = "UPDATE mail_outbox SET attempts = ?2, next_attempt_ms = ?3, last_error = ?4"
                " WHERE message_id = ?1",
    [Q_ITEMS_DEL] = "DELETE FROM mail_queue WHERE stream_id = ?1 AND seq BETWEEN ?2 AND ?3",
    [Q_OUTBOX_DEL] = "DELETE FROM mail_outbox WHERE message_id = ?1",
    [Q_RCPTS_DEL] = "DELETE FROM mail_outbox_rcpt WHERE message_id = ?1",
};

/*  A dead-letter row (the tables' dead_columns) as a mail_dead_t, handed to fn. */
static int s_dead_row(sqlite3_stmt *stmt, outbox_letter_fn *fn, void *arg)
{
    mail_dead_t dead = {.id = sqlite3_column_int64(stmt, 0),
                        .message_id = outbox_text(stmt, 1),
                        .recipient = outbox_text(stmt, 2),
                        .stream_id = outbox_text(stmt, 3),
                        .first_seq = sqlite3_column_int64(stmt, 4),
                        .last_seq = sqlite3_column_int64(stmt, 5),
                        .code = sqlite3_column_int64(stmt, 6),
                        .error = outbox_text(stmt, 7),
                        .failed_at_ms = sqlite3_column_int64(stmt, 8),
                        .items = outbox_text(stmt, 9)};
    return fn(arg, &dead);
}

const outbox_tables_t mail_queue_tables = {
    .schema = s_schema,
    .columns = s_columns,
    .column_count = sizeof s_columns / sizeof s_columns[0],
    .sql = s_sql,
    .count = Q_COUNT,
    .dead_table = "mail_dead",
    .dead_columns = "id, message_id, recipient, stream_id, first_seq, last_seq, code, error,"
                    " failed_at_ms, items",
    .dead_row = s_dead_row};

static void s_bind_box(sqlite3_stmt *stmt, const mail_outbox_t *box)
{
    sqlite3_bind_text(stmt, 1, box->stream_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, box->first_seq);
    sqlite3_bind_int64(stmt, 3, box->last_seq);
}

int mail_queue_add(outbox_t *self, const char *stream_id, int64_t seq, const char *type,
                   const char *change, const char *payload, int64_t now_ms)
{
    sqlite3_stmt *stmt = outbox_stmt(self, Q_ADD);
    sqlite3_bind_text(stmt, 1, stream_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, seq);
    sqlite3_bind_text(stmt, 3, type, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 4, change, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 5, payload, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 6, now_ms);
    return outbox_exec(self, stmt, "queue item");
}

int mail_queue_waiting(outbox_t *self, int64_t *count, int64_t *oldest_ms)
{
    sqlite3_stmt *stmt = outbox_stmt(self, Q_WAITING);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        *count = sqlite3_column_int64(stmt, 0);
        *oldest_ms = sqlite3_column_int64(stmt, 1);
    }
    sqlite3_reset(stmt);
    return rc == SQLITE_ROW ? 0 : outbox_fail(self, "count queue");
}

int mail_queue_outbox(outbox_t *self, mail_outbox_t *out)
{
    sqlite3_stmt *stmt = outbox_stmt(self, Q_OUTBOX);
    int rc = sqlite3_step(stmt);
    int found = 0;
    if (rc == SQLITE_ROW) {
        memset(out, 0, sizeof *out);
        snprintf(out->message_id, sizeof out->message_id, "%s", sqlite3_column_text(stmt, 0));
        snprintf(out->stream_id, sizeof out->stream_id, "%s", sqlite3_column_text(stmt, 1));
        out->first_seq = sqlite3_column_int64(stmt, 2);
        out->last_seq = sqlite3_column_int64(stmt, 3);
        out->attempts = sqlite3_column_int64(stmt, 4);
        out->next_attempt_ms = sqlite3_column_int64(stmt, 5);
        out->sent = sqlite3_column_int64(stmt, 6);
        out->dead = sqlite3_column_int64(stmt, 7);
        found = 1;
    } else if (rc != SQLITE_DONE) {
        found = outbox_fail(self, "read outbox");
    }
    sqlite3_reset(stmt);
    return found;
}

int mail_queue_claim(outbox_t *self, int64_t max_items, const char *domain, char *const *to,
                     size_t to_count, int64_t now_ms, mail_outbox_t *out)
{
    if (outbox_begin(self) != 0) {
        return -1;
    }
    memset(out, 0, sizeof *out);
    sqlite3_stmt *stmt = outbox_stmt(self, Q_OLDEST_STREAM);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        snprintf(out->stream_id, sizeof out->stream_id, "%s", sqlite3_column_text(stmt, 0));
    }
    sqlite3_reset(stmt);
    if (rc != SQLITE_ROW) {
        int failed = rc != SQLITE_DONE ? outbox_fail(self, "oldest item") : 0;
        outbox_rollback(self);
        return failed;
    }
    stmt = outbox_stmt(self, Q_RANGE);
    sqlite3_bind_text(stmt, 1, out->stream_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, max_items);
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        out->first_seq = sqlite3_column_int64(stmt, 0);
        out->last_seq = sqlite3_column_int64(stmt, 1);
    }
    sqlite3_reset(stmt);
    if (rc != SQLITE_ROW) {
        outbox_fail(self, "digest range");
        outbox_rollback(self);
        return -1;
    }
    snprintf(out->message_id, sizeof out->message_id, "<herald.%s.%lld-%lld@%s>", out->stream_id,
             (long long) out->first_seq, (long long) out->last_seq, domain);
    stmt = outbox_stmt(self, Q_OUTBOX_ADD);
    sqlite3_bind_text(stmt, 1, out->message_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, out->stream_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 3, out->first_seq);
    sqlite3_bind_int64(stmt, 4, out->last_seq);
    sqlite3_bind_int64(stmt, 5, now_ms);
    if (outbox_exec(self, stmt, "write outbox") != 0) {
        outbox_rollback(self);
        return -1;
    }
    for (size_t i = 0; i < to_count; i++) {
        stmt = outbox_stmt(self, Q_RCPT_ADD);
        sqlite3_bind_text(stmt, 1, out->message_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 2, to[i], -1, SQLITE_STATIC);
        if (outbox_exec(self, stmt, "write outbox recipient") != 0) {
            outbox_rollback(self);
            return -1;
        }
    }
    return outbox_commit(self) == 0 ? 1 : -1;
}

json_t *mail_queue_items(outbox_t *self, const mail_outbox_t *box)
{
    json_t *items = json_array();
    if (!items) {
        outbox_set_error(self, "out of memory");
        return NULL;
    }
    sqlite3_stmt *stmt = outbox_stmt(self, Q_ITEMS);
    s_bind_box(stmt, box);
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *text = (const char *) sqlite3_column_text(stmt, 0);
        json_error_t jerr;
        json_t *item = text ? json_loads(text, 0, &jerr) : NULL;
        if (!item || json_array_append_new(items, item) != 0) {
            outbox_set_error(self, "queued item of %s: %s", box->message_id,
                             item ? "out of memory" : jerr.text);
            sqlite3_reset(stmt);
            json_decref(items);
            return NULL;
        }
    }
    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE) {
        outbox_fail(self, "read items");
        json_decref(items);
        return NULL;
    }
    return items;
}

char **mail_queue_pending(outbox_t *self, const mail_outbox_t *box, size_t *count)
{
    size_t cap = 8, n = 0;
    char **out = calloc(cap + 1, sizeof *out);
    sqlite3_stmt *stmt = outbox_stmt(self, Q_PENDING);
    sqlite3_bind_text(stmt, 1, box->message_id, -1, SQLITE_STATIC);
    int rc = SQLITE_DONE;
    while (out && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (n == cap) {
            char **grown = realloc(out, (cap * 2 + 1) * sizeof *out);
            if (!grown) {
                break;
            }
            out = grown;
            cap *= 2;
        }
        out[n] = strdup((const char *) sqlite3_column_text(stmt, 0));
        out[++n] = NULL;
        if (!out[n - 1]) {
            break;
        }
    }
    sqlite3_reset(stmt);
    if (!out || rc != SQLITE_DONE) {
        if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
            outbox_fail(self, "read recipients");
        } else {
            outbox_set_error(self, "out of memory");
        }
        for (size_t i = 0; out && i < n; i++) {
            free(out[i]);
        }
        free(out);
        return NULL;
    }
    *count = n;
    return out;
}

/*  The recipient leaves the digest's list and, if it was on it, counts in column (sent or
    dead) of the outbox row; inside the caller's transaction. 0 or -1. */
static int s_rcpt_leave(outbox_t *self, const mail_outbox_t *box, const char *recipient,
                        s_stmt_id_t count)
{
    sqlite3_stmt *stmt = outbox_stmt(self, Q_RCPT_DEL);
    sqlite3_bind_text(stmt, 1, box->message_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, recipient, -1, SQLITE_STATIC);
    if (outbox_exec(self, stmt, "recipient done") != 0) {
        return -1;
    }
    if (outbox_changes(self) == 0) {
        return 0; /* not on the list (any more): already counted */
    }
    stmt = outbox_stmt(self, (int) count);
    sqlite3_bind_text(stmt, 1, box->message_id, -1, SQLITE_STATIC);
    return outbox_exec(self, stmt, "count recipient");
}

int mail_queue_rcpt_done(outbox_t *self, const mail_outbox_t *box, const char *recipient)
{
    if (outbox_begin(self) != 0) {
        return -1;
    }
    if (s_rcpt_leave(self, box, recipient, Q_COUNT_SENT) != 0) {
        outbox_rollback(self);
        return -1;
    }
    return outbox_commit(self);
}

int mail_queue_rcpt_dead(outbox_t *self, const mail_outbox_t *box, const char *recipient,
                         int64_t code, const char *error, const char *items, int64_t now_ms)
{
    if (outbox_begin(self) != 0) {
        return -1;
    }
    sqlite3_stmt *stmt = outbox_stmt(self, Q_DEAD_ADD);
    sqlite3_bind_text(stmt, 1, box->message_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, recipient, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, box->stream_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 4, box->first_seq);
    sqlite3_bind_int64(stmt, 5, box->last_seq);
    sqlite3_bind_int64(stmt, 6, code);
    sqlite3_bind_text(stmt, 7, error, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 8, now_ms);
    sqlite3_bind_text(stmt, 9, items, -1, SQLITE_STATIC);
    if (outbox_exec(self, stmt, "write dead letter") != 0 ||
        s_rcpt_leave(self, box, recipient, Q_COUNT_DEAD) != 0) {
        outbox_rollback(self);
        return -1;
    }
    return outbox_commit(self);
}

int mail_queue_retry_later(outbox_t *self, const mail_outbox_t *box, int64_t attempts,
                           int64_t next_attempt_ms, const char *error)
{
    sqlite3_stmt *stmt = outbox_stmt(self, Q_RETRY);
    sqlite3_bind_text(stmt, 1, box->message_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, attempts);
    sqlite3_bind_int64(stmt, 3, next_attempt_ms);
    sqlite3_bind_text(stmt, 4, error, -1, SQLITE_STATIC);
    return outbox_exec(self, stmt, "write retry");
}

int mail_queue_finish(outbox_t *self, const mail_outbox_t *box)
{
    if (outbox_begin(self) != 0) {
        return -1;
    }
    sqlite3_stmt *items = outbox_stmt(self, Q_ITEMS_DEL);
    s_bind_box(items, box);
    sqlite3_stmt *outbox = outbox_stmt(self, Q_OUTBOX_DEL);
    sqlite3_bind_text(outbox, 1, box->message_id, -1, SQLITE_STATIC);
    sqlite3_stmt *rcpts = outbox_stmt(self, Q_RCPTS_DEL);
    sqlite3_bind_text(rcpts, 1, box->message_id, -1, SQLITE_STATIC);
    if (outbox_exec(self, items, "remove sent items") != 0 ||
        outbox_exec(self, outbox, "remove outbox") != 0 ||
        outbox_exec(self, rcpts, "remove outbox recipients") != 0) {
        outbox_rollback(self);
        return -1;
    }
    return outbox_commit(self);
}
