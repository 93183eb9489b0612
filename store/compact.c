/*  compact.c -- retention: compacting the change log below a horizon (store_compact), and
    the horizon a replay is checked against (store_compacted).

    The change log is append-only (schema.c): its one delete is this one, which the trigger
    changes_no_delete lets through only for the rows a compaction removes, while meta holds
    'compacting_before' inside this transaction (schema.c, s_v6). What stays below the
    horizon H is each record as it stood at H - 1 (its latest change below H, unless that is a
    deletion), as Kafka's compacted topics keep the latest message of each key.
*/
#include "store_private.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

/*  Runs one statement with ?1 = value (if it has a parameter); adds the rows it changed to
 *removed (may be NULL). 0 or -1 (store_error). */
static int s_exec1(store_t *self, const char *sql, int64_t value, int64_t *removed,
                   const char *what)
{
    sqlite3 *db = store_db(self);
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        store_set_error(self, store_err_from_sqlite(sqlite3_extended_errcode(db)), "%s: %s", what,
                        sqlite3_errmsg(db));
        return -1;
    }
    if (sqlite3_bind_parameter_count(stmt) > 0) {
        sqlite3_bind_int64(stmt, 1, value);
    }
    int rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        store_set_error(self, store_err_from_sqlite(sqlite3_extended_errcode(db)), "%s: %s", what,
                        sqlite3_errmsg(db));
        sqlite3_finalize(stmt);
        return -1;
    }
    if (removed) {
        *removed += sqlite3_changes64(db);
    }
    sqlite3_finalize(stmt);
    return 0;
}

/*  One integer from sql with ?1 = value; *out = 0 when it is NULL. 0 or -1. */
static int s_query1(store_t *self, const char *sql, int64_t value, int64_t *out)
{
    sqlite3 *db = store_db(self);
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        store_set_error(self, store_err_from_sqlite(sqlite3_extended_errcode(db)), "compact: %s",
                        sqlite3_errmsg(db));
        return -1;
    }
    if (sqlite3_bind_parameter_count(stmt) > 0) {
        sqlite3_bind_int64(stmt, 1, value);
    }
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(stmt, 0);
    } else {
        store_set_error(self, store_err_from_sqlite(sqlite3_extended_errcode(db)), "compact: %s",
                        sqlite3_errmsg(db));
    }
    sqlite3_finalize(stmt);
    return rc == SQLITE_ROW ? 0 : -1;
}

int store_compacted(store_t *self, int64_t *before, int64_t *before_ms)
{
    assert(self);
    int64_t b = 0;
    int64_t ms = 0;
    if (s_query1(self,
                 "SELECT coalesce((SELECT CAST(value AS INTEGER) FROM meta"
                 " WHERE key = 'compacted_before'), 0)",
                 0, &b) != 0 ||
        s_query1(self,
                 "SELECT coalesce((SELECT CAST(value AS INTEGER) FROM meta"
                 " WHERE key = 'compacted_before_ms'), 0)",
                 0, &ms) != 0) {
        return -1;
    }
    if (before) {
        *before = b;
    }
    if (before_ms) {
        *before_ms = ms;
    }
    return 0;
}

int64_t store_first_seq_since(store_t *self, int64_t since_ms)
{
    assert(self);
    int64_t seq = 0;
    if (s_query1(self,
                 "SELECT coalesce((SELECT seq FROM changes WHERE committed_at_ms >= ?1"
                 " ORDER BY committed_at_ms, seq LIMIT 1),"
                 " (SELECT coalesce(max(seq), 0) + 1 FROM changes))",
                 since_ms, &seq) != 0) {
        return -1;
    }
    return seq;
}

int64_t store_compact(store_t *self, int64_t before)
{
    assert(self);
    if (store_in_transaction(self)) {
        store_set_error(self, STORE_ERR_INVALID,
                        "compact: not inside a transaction (compaction is one of its own)");
        return -1;
    }
    if (before < 1) {
        store_set_error(self, STORE_ERR_INVALID, "compact: before %lld: at least 1",
                        (long long) before);
        return -1;
    }
    if (store_begin(self) != 0) {
        return -1;
    }
    int64_t head = store_head_seq(self);
    int64_t done = 0;
    int64_t done_ms = 0;
    int64_t removed = 0;
    int64_t ms = 0;
    if (head < 0 || store_compacted(self, &done, &done_ms) != 0) {
        goto fail;
    }
    if (before > head + 1) {
        store_set_error(self, STORE_ERR_INVALID,
                        "compact: before %lld is beyond the head %lld + 1: a horizon covers"
                        " committed changes only",
                        (long long) before, (long long) head);
        goto fail;
    }
    if (before <= done) {
        store_rollback(self); /* compacted that far already */
        return 0;
    }
    /* The latest commit time below the horizon, before anything goes: a replay from a later
       time misses nothing (clocks that went back are covered by the max). */
    if (s_query1(self, "SELECT coalesce(max(committed_at_ms), 0) FROM changes WHERE seq < ?1",
                 before, &ms) != 0) {
        goto fail;
    }
    if (ms < done_ms) {
        ms = done_ms;
    }
    /* Superseded below the horizon first (the latest change of each record below it stays
       through this statement, so the trigger's condition holds whatever the order of the
       rows), then the deletions left as latest: their records did not exist at before - 1. */
    if (s_exec1(self, "INSERT OR REPLACE INTO meta (key, value) VALUES ('compacting_before', ?1)",
                before, NULL, "compact") != 0 ||
        s_exec1(self,
                "DELETE FROM changes WHERE seq < ?1 AND EXISTS (SELECT 1 FROM changes d"
                " INDEXED BY changes_record WHERE d.record_id = changes.record_id"
                " AND d.record_type = changes.record_type AND d.seq > changes.seq"
                " AND d.seq < ?1)",
                before, &removed, "compact: superseded changes") != 0 ||
        s_exec1(self, "DELETE FROM changes WHERE seq < ?1 AND change = 'deleted'", before, &removed,
                "compact: deletions") != 0 ||
        s_exec1(self, "DELETE FROM meta WHERE key = 'compacting_before'", 0, NULL, "compact") !=
            0 ||
        s_exec1(self, "INSERT OR REPLACE INTO meta (key, value) VALUES ('compacted_before', ?1)",
                before, NULL, "compact") != 0 ||
        s_exec1(self, "INSERT OR REPLACE INTO meta (key, value) VALUES ('compacted_before_ms', ?1)",
                ms, NULL, "compact") != 0) {
        goto fail;
    }
    if (store_commit(self) != 0) {
        goto fail;
    }
    return removed;
fail:;
    /* Keep the failure's message: the rollback must not replace it. */
    char why[512];
    snprintf(why, sizeof why, "%s", store_error(self));
    store_err_t code = store_errcode(self);
    store_rollback(self);
    store_set_error(self, code, "%s", why);
    return -1;
}
