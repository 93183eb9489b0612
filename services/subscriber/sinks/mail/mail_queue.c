/*  mail_queue.c -- the mail sink's tables in the --state file: queue, outbox, dead letters,
    on the state file's connection (state.c). Every statement is prepared once, in
    mail_queue_new.
*/
#include "mail_queue.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *s_schema =
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
static const char *s_has_counts =
    "SELECT COUNT(*) FROM pragma_table_info('mail_outbox') WHERE name = 'sent'";
static const char *s_add_counts =
    "ALTER TABLE mail_outbox ADD COLUMN sent INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE mail_outbox ADD COLUMN dead INTEGER NOT NULL DEFAULT 0;";

typedef enum {
    Q_BEGIN,
    Q_COMMIT,
    Q_ROLLBACK,
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
    Q_DEAD_COUNT,
    Q_DEAD_EACH,
    Q_DEAD_DEL,
    Q_COUNT
} s_stmt_id_t;

static const char *s_sql[Q_COUNT] = {
    [Q_BEGIN] = "BEGIN IMMEDIATE",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
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
    [Q_DEAD_COUNT] = "SELECT COUNT(*) FROM mail_dead",
    [Q_DEAD_EACH] = "SELECT id, message_id, recipient, stream_id, first_seq, last_seq, code,"
                    " error, failed_at_ms, items FROM mail_dead ORDER BY id",
    [Q_DEAD_DEL] = "DELETE FROM mail_dead WHERE id = ?1",
};

struct mail_queue {
    sqlite3 *db;                 /* the --state file's connection (borrowed from state.c) */
    sqlite3_stmt *stmt[Q_COUNT]; /* prepared statements, by s_stmt_id_t */
    bool in_txn;                 /* a transaction of ours is open */
    char error[1024];            /* reason of the last failure */
};

static int s_fail(mail_queue_t *self, const char *what)
{
    snprintf(self->error, sizeof self->error, "%s: %s", what, sqlite3_errmsg(self->db));
    return -1;
}

/*  Resets a statement for use; returns it. */
static sqlite3_stmt *s_use(mail_queue_t *self, s_stmt_id_t id)
{
    sqlite3_reset(self->stmt[id]);
    sqlite3_clear_bindings(self->stmt[id]);
    return self->stmt[id];
}

/*  Runs a statement that returns no row. 0 or -1. */
static int s_exec(mail_queue_t *self, sqlite3_stmt *stmt, const char *what)
{
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    return rc == SQLITE_DONE ? 0 : s_fail(self, what);
}

static void s_bind_box(sqlite3_stmt *stmt, const mail_outbox_t *box)
{
    sqlite3_bind_text(stmt, 1, box->stream_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, box->first_seq);
    sqlite3_bind_int64(stmt, 3, box->last_seq);
}

static int s_migrate(mail_queue_t *self)
{
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(self->db, s_has_counts, -1, &stmt, NULL) != SQLITE_OK) {
        return s_fail(self, "outbox columns");
    }
    int rc = sqlite3_step(stmt);
    bool has = rc == SQLITE_ROW && sqlite3_column_int64(stmt, 0) > 0;
    sqlite3_finalize(stmt);
    if (rc != SQLITE_ROW) {
        return s_fail(self, "outbox columns");
    }
    if (!has && sqlite3_exec(self->db, s_add_counts, NULL, NULL, NULL) != SQLITE_OK) {
        return s_fail(self, "add outbox counts");
    }
    return 0;
}

mail_queue_t *mail_queue_new(state_t *state, char *err, size_t errlen)
{
    const char *path = state_path(state);
    mail_queue_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    self->db = state_db(state);
    char *why = NULL;
    if (sqlite3_exec(self->db, s_schema, NULL, NULL, &why) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, why ? why : sqlite3_errmsg(self->db));
        sqlite3_free(why);
        mail_queue_destroy(&self);
        return NULL;
    }
    if (s_migrate(self) != 0) {
        snprintf(err, errlen, "%s: %s", path, self->error);
        mail_queue_destroy(&self);
        return NULL;
    }
    for (int i = 0; i < Q_COUNT; i++) {
        if (sqlite3_prepare_v2(self->db, s_sql[i], -1, &self->stmt[i], NULL) != SQLITE_OK) {
            snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(self->db));
            mail_queue_destroy(&self);
            return NULL;
        }
    }
    return self;
}

void mail_queue_destroy(mail_queue_t **self_p)
{
    if (self_p && *self_p) {
        mail_queue_t *self = *self_p;
        if (self->in_txn) {
            mail_queue_rollback(self);
        }
        for (int i = 0; i < Q_COUNT; i++) {
            sqlite3_finalize(self->stmt[i]);
        }
        free(self);
        *self_p = NULL;
    }
}

const char *mail_queue_error(mail_queue_t *self)
{
    return self->error;
}

int mail_queue_begin(mail_queue_t *self)
{
    if (s_exec(self, s_use(self, Q_BEGIN), "begin") != 0) {
        return -1;
    }
    self->in_txn = true;
    return 0;
}

int mail_queue_commit(mail_queue_t *self)
{
    if (s_exec(self, s_use(self, Q_COMMIT), "commit") != 0) {
        mail_queue_rollback(self);
        return -1;
    }
    self->in_txn = false;
    return 0;
}

void mail_queue_rollback(mail_queue_t *self)
{
    if (sqlite3_get_autocommit(self->db) == 0) {
        sqlite3_step(s_use(self, Q_ROLLBACK));
        sqlite3_reset(self->stmt[Q_ROLLBACK]);
    }
    self->in_txn = false;
}

int mail_queue_add(mail_queue_t *self, const char *stream_id, int64_t seq, const char *type,
                   const char *change, const char *payload, int64_t now_ms)
{
    sqlite3_stmt *stmt = s_use(self, Q_ADD);
    sqlite3_bind_text(stmt, 1, stream_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, seq);
    sqlite3_bind_text(stmt, 3, type, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 4, change, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 5, payload, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 6, now_ms);
    return s_exec(self, stmt, "queue item");
}

int mail_queue_waiting(mail_queue_t *self, int64_t *count, int64_t *oldest_ms)
{
    sqlite3_stmt *stmt = s_use(self, Q_WAITING);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        *count = sqlite3_column_int64(stmt, 0);
        *oldest_ms = sqlite3_column_int64(stmt, 1);
    }
    sqlite3_reset(stmt);
    return rc == SQLITE_ROW ? 0 : s_fail(self, "count queue");
}

int mail_queue_outbox(mail_queue_t *self, mail_outbox_t *out)
{
    sqlite3_stmt *stmt = s_use(self, Q_OUTBOX);
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
        found = s_fail(self, "read outbox");
    }
    sqlite3_reset(stmt);
    return found;
}

int mail_queue_claim(mail_queue_t *self, int64_t max_items, const char *domain, char *const *to,
                     size_t to_count, int64_t now_ms, mail_outbox_t *out)
{
    if (mail_queue_begin(self) != 0) {
        return -1;
    }
    memset(out, 0, sizeof *out);
    sqlite3_stmt *stmt = s_use(self, Q_OLDEST_STREAM);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        snprintf(out->stream_id, sizeof out->stream_id, "%s", sqlite3_column_text(stmt, 0));
    }
    sqlite3_reset(stmt);
    if (rc != SQLITE_ROW) {
        int failed = rc != SQLITE_DONE ? s_fail(self, "oldest item") : 0;
        mail_queue_rollback(self);
        return failed;
    }
    stmt = s_use(self, Q_RANGE);
    sqlite3_bind_text(stmt, 1, out->stream_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, max_items);
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        out->first_seq = sqlite3_column_int64(stmt, 0);
        out->last_seq = sqlite3_column_int64(stmt, 1);
    }
    sqlite3_reset(stmt);
    if (rc != SQLITE_ROW) {
        s_fail(self, "digest range");
        mail_queue_rollback(self);
        return -1;
    }
    snprintf(out->message_id, sizeof out->message_id, "<herald.%s.%lld-%lld@%s>", out->stream_id,
             (long long) out->first_seq, (long long) out->last_seq, domain);
    stmt = s_use(self, Q_OUTBOX_ADD);
    sqlite3_bind_text(stmt, 1, out->message_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, out->stream_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 3, out->first_seq);
    sqlite3_bind_int64(stmt, 4, out->last_seq);
    sqlite3_bind_int64(stmt, 5, now_ms);
    if (s_exec(self, stmt, "write outbox") != 0) {
        mail_queue_rollback(self);
        return -1;
    }
    for (size_t i = 0; i < to_count; i++) {
        stmt = s_use(self, Q_RCPT_ADD);
        sqlite3_bind_text(stmt, 1, out->message_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 2, to[i], -1, SQLITE_STATIC);
        if (s_exec(self, stmt, "write outbox recipient") != 0) {
            mail_queue_rollback(self);
            return -1;
        }
    }
    return mail_queue_commit(self) == 0 ? 1 : -1;
}

json_t *mail_queue_items(mail_queue_t *self, const mail_outbox_t *box)
{
    json_t *items = json_array();
    if (!items) {
        snprintf(self->error, sizeof self->error, "out of memory");
        return NULL;
    }
    sqlite3_stmt *stmt = s_use(self, Q_ITEMS);
    s_bind_box(stmt, box);
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *text = (const char *) sqlite3_column_text(stmt, 0);
        json_error_t jerr;
        json_t *item = text ? json_loads(text, 0, &jerr) : NULL;
        if (!item || json_array_append_new(items, item) != 0) {
            snprintf(self->error, sizeof self->error, "queued item of %s: %s", box->message_id,
                     item ? "out of memory" : jerr.text);
            sqlite3_reset(stmt);
            json_decref(items);
            return NULL;
        }
    }
    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE) {
        s_fail(self, "read items");
        json_decref(items);
        return NULL;
    }
    return items;
}

char **mail_queue_pending(mail_queue_t *self, const mail_outbox_t *box, size_t *count)
{
    size_t cap = 8, n = 0;
    char **out = calloc(cap + 1, sizeof *out);
    sqlite3_stmt *stmt = s_use(self, Q_PENDING);
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
            s_fail(self, "read recipients");
        } else {
            snprintf(self->error, sizeof self->error, "out of memory");
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
static int s_rcpt_leave(mail_queue_t *self, const mail_outbox_t *box, const char *recipient,
                        s_stmt_id_t count)
{
    sqlite3_stmt *stmt = s_use(self, Q_RCPT_DEL);
    sqlite3_bind_text(stmt, 1, box->message_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, recipient, -1, SQLITE_STATIC);
    if (s_exec(self, stmt, "recipient done") != 0) {
        return -1;
    }
    if (sqlite3_changes(self->db) == 0) {
        return 0; /* not on the list (any more): already counted */
    }
    stmt = s_use(self, count);
    sqlite3_bind_text(stmt, 1, box->message_id, -1, SQLITE_STATIC);
    return s_exec(self, stmt, "count recipient");
}

int mail_queue_rcpt_done(mail_queue_t *self, const mail_outbox_t *box, const char *recipient)
{
    if (mail_queue_begin(self) != 0) {
        return -1;
    }
    if (s_rcpt_leave(self, box, recipient, Q_COUNT_SENT) != 0) {
        mail_queue_rollback(self);
        return -1;
    }
    return mail_queue_commit(self);
}

int mail_queue_rcpt_dead(mail_queue_t *self, const mail_outbox_t *box, const char *recipient,
                         int64_t code, const char *error, const char *items, int64_t now_ms)
{
    if (mail_queue_begin(self) != 0) {
        return -1;
    }
    sqlite3_stmt *stmt = s_use(self, Q_DEAD_ADD);
    sqlite3_bind_text(stmt, 1, box->message_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, recipient, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, box->stream_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 4, box->first_seq);
    sqlite3_bind_int64(stmt, 5, box->last_seq);
    sqlite3_bind_int64(stmt, 6, code);
    sqlite3_bind_text(stmt, 7, error, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 8, now_ms);
    sqlite3_bind_text(stmt, 9, items, -1, SQLITE_STATIC);
    if (s_exec(self, stmt, "write dead letter") != 0 ||
        s_rcpt_leave(self, box, recipient, Q_COUNT_DEAD) != 0) {
        mail_queue_rollback(self);
        return -1;
    }
    return mail_queue_commit(self);
}

int mail_queue_retry_later(mail_queue_t *self, const mail_outbox_t *box, int64_t attempts,
                           int64_t next_attempt_ms, const char *error)
{
    sqlite3_stmt *stmt = s_use(self, Q_RETRY);
    sqlite3_bind_text(stmt, 1, box->message_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, attempts);
    sqlite3_bind_int64(stmt, 3, next_attempt_ms);
    sqlite3_bind_text(stmt, 4, error, -1, SQLITE_STATIC);
    return s_exec(self, stmt, "write retry");
}

int mail_queue_finish(mail_queue_t *self, const mail_outbox_t *box)
{
    if (mail_queue_begin(self) != 0) {
        return -1;
    }
    sqlite3_stmt *items = s_use(self, Q_ITEMS_DEL);
    s_bind_box(items, box);
    sqlite3_stmt *outbox = s_use(self, Q_OUTBOX_DEL);
    sqlite3_bind_text(outbox, 1, box->message_id, -1, SQLITE_STATIC);
    sqlite3_stmt *rcpts = s_use(self, Q_RCPTS_DEL);
    sqlite3_bind_text(rcpts, 1, box->message_id, -1, SQLITE_STATIC);
    if (s_exec(self, items, "remove sent items") != 0 ||
        s_exec(self, outbox, "remove outbox") != 0 ||
        s_exec(self, rcpts, "remove outbox recipients") != 0) {
        mail_queue_rollback(self);
        return -1;
    }
    return mail_queue_commit(self);
}

int mail_queue_dead_count(mail_queue_t *self, int64_t *count)
{
    sqlite3_stmt *stmt = s_use(self, Q_DEAD_COUNT);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        *count = sqlite3_column_int64(stmt, 0);
    }
    sqlite3_reset(stmt);
    return rc == SQLITE_ROW ? 0 : s_fail(self, "count dead letters");
}

static const char *s_col(sqlite3_stmt *stmt, int col)
{
    const unsigned char *text = sqlite3_column_text(stmt, col);
    return text ? (const char *) text : "";
}

int mail_queue_dead_each(mail_queue_t *self, int (*fn)(void *arg, const mail_dead_t *dead),
                         void *arg)
{
    sqlite3_stmt *stmt = s_use(self, Q_DEAD_EACH);
    int rc, result = 0;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        mail_dead_t dead = {sqlite3_column_int64(stmt, 0),
                            s_col(stmt, 1),
                            s_col(stmt, 2),
                            s_col(stmt, 3),
                            sqlite3_column_int64(stmt, 4),
                            sqlite3_column_int64(stmt, 5),
                            sqlite3_column_int64(stmt, 6),
                            s_col(stmt, 7),
                            sqlite3_column_int64(stmt, 8),
                            s_col(stmt, 9)};
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

int mail_queue_dead_remove(mail_queue_t *self, int64_t id)
{
    sqlite3_stmt *stmt = s_use(self, Q_DEAD_DEL);
    sqlite3_bind_int64(stmt, 1, id);
    return s_exec(self, stmt, "remove dead letter");
}
