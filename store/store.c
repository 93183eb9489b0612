/*  store.c -- the store handle: edits, reads, scans, cursors, and failures as codes
    (store_err_t) with their messages. Opening a file, its pragmas and migrations: schema.c.

    Every statement used more than once is prepared in store_new and finalized in
    store_destroy. The change log is never written here: the triggers in schema.c do it in
    the same statement as the edit, each row with its record's image as that change left it.
    The scans read those images from the log alone, with the people list as people_flat, one
    string (names and roles separated by the ASCII unit separator, persons by the record
    separator; validation keeps control characters out of both) written with the record (by
    store_put_event, or by a trigger for other writers), copied into the change row, and split
    in place into a buffer owned by the handle.
*/
#include "store_private.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json_text.h"

#define S_ERRLEN 512
#define S_STREAM_ID_MAX 128 /* bytes in a cursor's stream id */

struct store {
    sqlite3 *db;                             /* the connection */
    char *path;                              /* the file, as given */
    bool readonly;                           /* opened with STORE_READONLY */
    bool no_wait;                            /* busy timeout 0: a locked write fails at once */
    char stream_id[64];                      /* meta.stream_id */
    char err[S_ERRLEN];                      /* the last error, "" if none */
    store_err_t code;                        /* its code, STORE_ERR_NONE if none */
    char cursor_stream[S_STREAM_ID_MAX];     /* stream id returned by store_cursor_get */
    store_person_t people[STORE_MAX_PEOPLE]; /* people of the row last read */
    char *people_buf;                        /* their text, split in place */
    size_t people_cap;                       /* bytes allocated at people_buf */
    char *record_buf;                        /* text of the record last got by id */
    size_t record_cap;                       /* bytes allocated at record_buf */
    char *write_buf;                         /* people's texts of the record being written */
    size_t write_cap;                        /* bytes allocated at write_buf */
    sqlite3_stmt *put_event;                 /* upsert an event */
    sqlite3_stmt *put_press;                 /* upsert a press release */
    sqlite3_stmt *get_event;                 /* one event by id */
    sqlite3_stmt *get_press;                 /* one press release by id */
    sqlite3_stmt *list_events;               /* every event by id */
    sqlite3_stmt *list_press;                /* every press release by id */
    sqlite3_stmt *cancel_event;              /* status = cancelled */
    sqlite3_stmt *delete_event;              /* delete an event */
    sqlite3_stmt *delete_press;              /* delete a press release */
    sqlite3_stmt *changes;                   /* the log after a seq or time, with images */
    sqlite3_stmt *snapshot_at;               /* the latest images as of a seq */
    sqlite3_stmt *cursor_get;                /* a named cursor */
    sqlite3_stmt *cursor_set;                /* upsert a named cursor */
    sqlite3_stmt *origin_get;                /* a record's origin seq */
    sqlite3_stmt *origin_set;                /* upsert a record's origin seq */
    sqlite3_stmt *head_seq;                  /* max(seq) */
    sqlite3_stmt *data_version;              /* PRAGMA data_version */
    sqlite3_stmt *begin;                     /* BEGIN IMMEDIATE */
    sqlite3_stmt *begin_read;                /* BEGIN (deferred: a read snapshot) */
    sqlite3_stmt *commit;                    /* COMMIT */
    sqlite3_stmt *rollback;                  /* ROLLBACK */
};

/*  The event columns every read selects, in store_event_t order; people flattened. */
#define S_EVENT_COLS                                                                               \
    "e.id, e.kind, e.title, e.start_date, e.end_date, e.city, e.country, e.summary, e.url,"        \
    " e.status, e.cancel_reason, e.people_flat, e.version"
#define S_EVENT_NCOLS 13
#define S_PRESS_COLS "p.id, p.event_id, p.title, p.published_on, p.url, p.summary"
#define S_PRESS_NCOLS 6

/*  Scan rows: seq, record_type, change, record_id, committed_at_ms, topic, then the image
    the change row holds (schema.c, s_v5): the event columns after id in store_event_t order
    (people flattened), then press's event_id and published_on (title, url and summary are
    shared). A row has an image when its title is not NULL. The scans read the log alone: one
    b-tree in seq order, no join. */
#define S_IMAGE_COLS                                                                               \
    "c.kind, c.title, c.start_date, c.end_date, c.city, c.country, c.summary, c.url,"              \
    " c.status, c.cancel_reason, c.people_flat, c.version, c.event_id, c.published_on"
#define S_IMG_BASE 6 /* first image column */

static const char *s_sql_changes =
    "SELECT c.seq, c.record_type, c.change, c.record_id, c.committed_at_ms, c.topic,"
    " " S_IMAGE_COLS " FROM changes c"
    /* One lower bound, so that the scan is a rowid range search whichever is higher. */
    " WHERE c.seq > max(?1, CASE WHEN ?2 > 0 THEN coalesce("
    "  (SELECT seq FROM changes WHERE committed_at_ms >= ?2"
    "   ORDER BY committed_at_ms, seq LIMIT 1), 9223372036854775807) - 1 ELSE 0 END)"
    " ORDER BY c.seq LIMIT ?3";

/*  The snapshot as of ?2: the latest change of each record with seq <= ?2, unless a deletion;
    superseded by then when a later change of the same record has seq <= ?2 (one seek in
    changes_record). The rows are read in seq order after ?1, like the log. With ?2 the
    highest seq there can be, it is the current catalogue: a record's latest change holds the
    record as it is now. */
static const char *s_sql_snapshot_at =
    "SELECT c.seq, c.record_type,"
    " CASE WHEN c.status = 'cancelled' THEN 'cancelled'"
    "  WHEN c.change = 'created' THEN 'created' ELSE 'updated' END,"
    " c.record_id, c.committed_at_ms, c.topic, " S_IMAGE_COLS " FROM changes c"
    " WHERE c.seq > ?1 AND c.seq <= ?2 AND c.change <> 'deleted'"
    " AND NOT EXISTS (SELECT 1 FROM changes d INDEXED BY changes_record"
    "  WHERE d.record_id = c.record_id"
    "  AND d.seq > c.seq AND d.seq <= ?2 AND d.record_type = c.record_type)"
    " ORDER BY c.seq LIMIT ?3";

void store_set_error(store_t *self, store_err_t code, const char *fmt, ...)
{
    self->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(self->err, sizeof self->err, fmt, ap);
    va_end(ap);
}

/*  The code of the connection's last error. */
static store_err_t s_db_code(const store_t *self)
{
    return store_err_from_sqlite(sqlite3_extended_errcode(self->db));
}

/*  Fails with "what: sqlite's words" and the code of the connection's last error. */
static int s_sql_error(store_t *self, const char *what)
{
    store_set_error(self, s_db_code(self), "%s: %s", what, sqlite3_errmsg(self->db));
    return -1;
}

static const char *s_col(sqlite3_stmt *stmt, int i)
{
    const unsigned char *t = sqlite3_column_text(stmt, i);
    return t ? (const char *) t : "";
}

static const char *s_or_empty(const char *s)
{
    return s ? s : "";
}

/*  Splits the flattened people text of column i into self->people. The buffer only grows,
    so a scan does not allocate once it has seen its largest list. */
static int s_read_people(store_t *self, sqlite3_stmt *stmt, int i, store_event_t *out)
{
    out->people = self->people;
    out->people_count = 0;
    const char *flat = (const char *) sqlite3_column_text(stmt, i);
    if (!flat || !*flat) {
        return 0; /* no record (a deleted one in a scan), or no people */
    }
    size_t len = (size_t) sqlite3_column_bytes(stmt, i);
    if (len + 1 > self->people_cap) {
        size_t cap = self->people_cap ? self->people_cap : 256;
        while (cap < len + 1) {
            cap *= 2;
        }
        char *buf = realloc(self->people_buf, cap);
        if (!buf) {
            store_set_error(self, STORE_ERR_NOMEM, "out of memory");
            return -1;
        }
        self->people_buf = buf;
        self->people_cap = cap;
    }
    memcpy(self->people_buf, flat, len + 1);
    char *p = self->people_buf;
    size_t n = 0;
    while (p && n < STORE_MAX_PEOPLE) {
        char *next = strchr(p, '\x1e');
        if (next) {
            *next++ = '\0';
        }
        char *role = strchr(p, '\x1f');
        if (role) {
            *role++ = '\0';
        }
        self->people[n].name = p;
        self->people[n].role = role ? role : "";
        n++;
        p = next;
    }
    out->people_count = n;
    return 0;
}

static int s_read_event(store_t *self, sqlite3_stmt *stmt, int base, store_event_t *out)
{
    out->id = s_col(stmt, base + 0);
    out->kind = s_col(stmt, base + 1);
    out->title = s_col(stmt, base + 2);
    out->start_date = s_col(stmt, base + 3);
    out->end_date = s_col(stmt, base + 4);
    out->city = s_col(stmt, base + 5);
    out->country = s_col(stmt, base + 6);
    out->summary = s_col(stmt, base + 7);
    out->url = s_col(stmt, base + 8);
    out->status = s_col(stmt, base + 9);
    out->cancel_reason = s_col(stmt, base + 10);
    out->version = sqlite3_column_int64(stmt, base + 12);
    return s_read_people(self, stmt, base + 11, out);
}

static void s_read_press(sqlite3_stmt *stmt, int base, store_press_t *out)
{
    out->id = s_col(stmt, base + 0);
    out->event_id = s_col(stmt, base + 1);
    out->title = s_col(stmt, base + 2);
    out->published_on = s_col(stmt, base + 3);
    out->url = s_col(stmt, base + 4);
    out->summary = s_col(stmt, base + 5);
}

static store_change_kind_t s_change_kind(const char *s)
{
    if (strcmp(s, "created") == 0) {
        return STORE_CREATED;
    }
    if (strcmp(s, "cancelled") == 0) {
        return STORE_CANCELLED;
    }
    if (strcmp(s, "deleted") == 0) {
        return STORE_DELETED;
    }
    return STORE_UPDATED;
}

static const char *s_type_name(store_type_t type)
{
    return type == STORE_PRESS ? "press_release" : "event";
}

/*  Reads one scan row into *out (text borrowed from the statement and the handle): the
    change and the image its row holds, or the id alone when it holds none. */
static int s_read_change(store_t *self, sqlite3_stmt *stmt, store_change_t *out)
{
    memset(out, 0, sizeof *out);
    out->seq = sqlite3_column_int64(stmt, 0);
    out->type = strcmp(s_col(stmt, 1), "press_release") == 0 ? STORE_PRESS : STORE_EVENT;
    out->change = s_change_kind(s_col(stmt, 2));
    out->record_id = s_col(stmt, 3);
    out->committed_at_ms = sqlite3_column_int64(stmt, 4);
    out->topic = s_col(stmt, 5);
    out->present = sqlite3_column_type(stmt, S_IMG_BASE + 1) != SQLITE_NULL;
    if (out->type == STORE_PRESS) {
        out->press.id = out->record_id;
        if (out->present) {
            out->press.event_id = s_col(stmt, S_IMG_BASE + 12);
            out->press.title = s_col(stmt, S_IMG_BASE + 1);
            out->press.published_on = s_col(stmt, S_IMG_BASE + 13);
            out->press.url = s_col(stmt, S_IMG_BASE + 7);
            out->press.summary = s_col(stmt, S_IMG_BASE + 6);
        }
        return 0;
    }
    store_event_t *e = &out->event;
    e->id = out->record_id;
    e->status = "";
    if (!out->present) {
        return 0;
    }
    e->kind = s_col(stmt, S_IMG_BASE + 0);
    e->title = s_col(stmt, S_IMG_BASE + 1);
    e->start_date = s_col(stmt, S_IMG_BASE + 2);
    e->end_date = s_col(stmt, S_IMG_BASE + 3);
    e->city = s_col(stmt, S_IMG_BASE + 4);
    e->country = s_col(stmt, S_IMG_BASE + 5);
    e->summary = s_col(stmt, S_IMG_BASE + 6);
    e->url = s_col(stmt, S_IMG_BASE + 7);
    e->status = s_col(stmt, S_IMG_BASE + 8);
    e->cancel_reason = s_col(stmt, S_IMG_BASE + 9);
    e->version = sqlite3_column_int64(stmt, S_IMG_BASE + 11);
    return s_read_people(self, stmt, S_IMG_BASE + 10, e);
}

static int s_prepare(store_t *self, sqlite3_stmt **stmt, const char *sql)
{
    if (sqlite3_prepare_v3(self->db, sql, -1, SQLITE_PREPARE_PERSISTENT, stmt, NULL) != SQLITE_OK) {
        store_set_error(self, s_db_code(self), "preparing statement: %s", sqlite3_errmsg(self->db));
        return -1;
    }
    return 0;
}

static int s_prepare_all(store_t *self)
{
    struct {
        sqlite3_stmt **stmt;
        const char *sql;
        bool writes;
    } list[] = {
        {&self->put_event,
         "INSERT INTO events (id, kind, title, start_date, end_date, city, country, summary,"
         " url, status, cancel_reason, people, people_flat)"
         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
         " ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, title = excluded.title,"
         " start_date = excluded.start_date, end_date = excluded.end_date,"
         " city = excluded.city, country = excluded.country, summary = excluded.summary,"
         " url = excluded.url, status = excluded.status,"
         " cancel_reason = excluded.cancel_reason, people = excluded.people,"
         " people_flat = excluded.people_flat",
         true},
        {&self->put_press,
         "INSERT INTO press_releases (id, event_id, title, published_on, url, summary)"
         " VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
         " ON CONFLICT (id) DO UPDATE SET event_id = excluded.event_id,"
         " title = excluded.title, published_on = excluded.published_on,"
         " url = excluded.url, summary = excluded.summary",
         true},
        {&self->get_event, "SELECT " S_EVENT_COLS " FROM events e WHERE e.id = ?1", false},
        {&self->get_press, "SELECT " S_PRESS_COLS " FROM press_releases p WHERE p.id = ?1", false},
        {&self->list_events, "SELECT " S_EVENT_COLS " FROM events e ORDER BY e.id", false},
        {&self->list_press, "SELECT " S_PRESS_COLS " FROM press_releases p ORDER BY p.id", false},
        {&self->cancel_event,
         "UPDATE events SET status = 'cancelled', cancel_reason = ?2 WHERE id = ?1", true},
        {&self->delete_event, "DELETE FROM events WHERE id = ?1", true},
        {&self->delete_press, "DELETE FROM press_releases WHERE id = ?1", true},
        {&self->changes, s_sql_changes, false},
        {&self->snapshot_at, s_sql_snapshot_at, false},
        {&self->cursor_get, "SELECT seq, stream_id FROM cursors WHERE name = ?1", false},
        {&self->cursor_set,
         "INSERT INTO cursors (name, seq, stream_id) VALUES (?1, ?2, ?3)"
         " ON CONFLICT (name) DO UPDATE SET seq = excluded.seq,"
         " stream_id = excluded.stream_id",
         true},
        {&self->origin_get, "SELECT seq FROM origins WHERE record_type = ?1 AND record_id = ?2",
         false},
        {&self->origin_set,
         "INSERT INTO origins (record_type, record_id, seq) VALUES (?1, ?2, ?3)"
         " ON CONFLICT (record_type, record_id) DO UPDATE SET seq = excluded.seq",
         true},
        {&self->head_seq, "SELECT coalesce(max(seq), 0) FROM changes", false},
        {&self->data_version, "PRAGMA data_version", false},
        {&self->begin, "BEGIN IMMEDIATE", true},
        {&self->begin_read, "BEGIN", false},
        {&self->commit, "COMMIT", false},
        {&self->rollback, "ROLLBACK", false},
    };
    for (size_t i = 0; i < sizeof list / sizeof list[0]; i++) {
        /* A read-only handle still prepares writes: they fail with SQLITE_READONLY on use,
           which is the clearest message. */
        if (s_prepare(self, list[i].stmt, list[i].sql) != 0) {
            return -1;
        }
    }
    return 0;
}

static int s_read_meta(store_t *self)
{
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(self->db, "SELECT value FROM meta WHERE key = 'stream_id'", -1, &stmt,
                           NULL) != SQLITE_OK) {
        return s_sql_error(self, "reading meta");
    }
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        snprintf(self->stream_id, sizeof self->stream_id, "%s", s_col(stmt, 0));
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_ROW) {
        store_set_error(self, STORE_ERR_NOT_STORE, "the store has no stream_id in meta");
        return -1;
    }
    return 0;
}

store_t *store_open(const char *path, store_mode_t mode, store_err_t *code, char *err,
                    size_t errlen)
{
    char scratch[S_ERRLEN];
    store_err_t ignored;
    if (!err || errlen == 0) {
        err = scratch;
        errlen = sizeof scratch;
    }
    if (!code) {
        code = &ignored;
    }
    err[0] = '\0';
    *code = STORE_ERR_NONE;
    if (!path || !*path) {
        snprintf(err, errlen, "cannot open store: no path");
        *code = STORE_ERR_INVALID;
        return NULL;
    }
    sqlite3 *db = schema_open(path, mode, code, err, errlen);
    if (!db) {
        return NULL;
    }
    store_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "cannot open store %s: out of memory", path);
        *code = STORE_ERR_NOMEM;
        sqlite3_close(db);
        return NULL;
    }
    self->db = db;
    self->readonly = mode == STORE_READONLY;
    self->path = strdup(path);
    if (!self->path || s_prepare_all(self) != 0 || s_read_meta(self) != 0) {
        snprintf(err, errlen, "cannot open store %s: %s", path,
                 self->path ? self->err : "out of memory");
        *code = self->path ? self->code : STORE_ERR_NOMEM;
        store_destroy(&self);
        return NULL;
    }
    return self;
}

store_t *store_new(const char *path, store_mode_t mode, char *err, size_t errlen)
{
    return store_open(path, mode, NULL, err, errlen);
}

void store_destroy(store_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    store_t *self = *self_p;
    sqlite3_stmt **all[] = {
        &self->put_event,    &self->put_press,  &self->get_event,    &self->get_press,
        &self->list_events,  &self->list_press, &self->cancel_event, &self->delete_event,
        &self->delete_press, &self->changes,    &self->snapshot_at,  &self->cursor_get,
        &self->cursor_set,   &self->origin_get, &self->origin_set,   &self->head_seq,
        &self->data_version, &self->begin,      &self->begin_read,   &self->commit,
        &self->rollback,
    };
    if (self->db && !sqlite3_get_autocommit(self->db)) {
        sqlite3_exec(self->db, "ROLLBACK", NULL, NULL, NULL);
    }
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        sqlite3_finalize(*all[i]);
        *all[i] = NULL;
    }
    sqlite3_close(self->db);
    free(self->people_buf);
    free(self->record_buf);
    free(self->write_buf);
    free(self->path);
    free(self);
    *self_p = NULL;
}

const char *store_error(store_t *self)
{
    assert(self);
    return self->err;
}

store_err_t store_errcode(const store_t *self)
{
    assert(self);
    return self->code;
}

const char *store_err_name(store_err_t code)
{
    static const char *const names[] = {
        [STORE_ERR_NONE] = "none",           [STORE_ERR_BUSY] = "busy",
        [STORE_ERR_NEWER] = "newer",         [STORE_ERR_OLDER] = "older",
        [STORE_ERR_NOT_STORE] = "not_store", [STORE_ERR_EXISTS] = "exists",
        [STORE_ERR_READONLY] = "readonly",   [STORE_ERR_CORRUPT] = "corrupt",
        [STORE_ERR_FULL] = "full",           [STORE_ERR_NOT_FOUND] = "not_found",
        [STORE_ERR_INVALID] = "invalid",     [STORE_ERR_IO] = "io",
        [STORE_ERR_NOMEM] = "nomem",         [STORE_ERR_OTHER] = "other",
    };
    size_t i = (size_t) code;
    return i < sizeof names / sizeof names[0] && names[i] ? names[i] : "unknown";
}

store_err_t store_err_from_sqlite(int rc)
{
    switch (rc & 0xFF) { /* the primary code of an extended one */
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return STORE_ERR_NONE;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return STORE_ERR_BUSY;
    case SQLITE_READONLY:
        return STORE_ERR_READONLY;
    case SQLITE_CORRUPT:
        return STORE_ERR_CORRUPT;
    case SQLITE_NOTADB:
        return STORE_ERR_NOT_STORE;
    case SQLITE_FULL:
        return STORE_ERR_FULL;
    case SQLITE_NOMEM:
        return STORE_ERR_NOMEM;
    case SQLITE_IOERR:
        return rc == SQLITE_IOERR_NOMEM ? STORE_ERR_NOMEM : STORE_ERR_IO;
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_AUTH:
        return STORE_ERR_IO;
    case SQLITE_CONSTRAINT:
    case SQLITE_TOOBIG:
    case SQLITE_MISMATCH:
        return STORE_ERR_INVALID;
    case SQLITE_NOTFOUND:
    default:
        return STORE_ERR_OTHER;
    }
}

const char *store_stream_id(store_t *self)
{
    assert(self);
    return self->stream_id;
}

sqlite3 *store_db(store_t *self)
{
    assert(self);
    return self->db;
}

const char *store_path(store_t *self)
{
    assert(self);
    return self->path;
}

int store_set_busy_timeout(store_t *self, int ms)
{
    assert(self);
    self->no_wait = ms <= 0;
    return sqlite3_busy_timeout(self->db, ms) == SQLITE_OK ? 0 : s_sql_error(self, "busy timeout");
}

int store_set_durable(store_t *self, bool durable)
{
    assert(self);
    if (self->readonly) {
        return 0;
    }
    /* Not durable also leaves checkpoints to other writers: a checkpoint of a long WAL
       would stall the writer that happens to cross the threshold. */
    const char *sql = durable ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL";
    if (sqlite3_exec(self->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        return s_sql_error(self, "synchronous");
    }
    schema_commit_hook(self->db, durable ? STORE_CHECKPOINT_PAGES : 0);
    return 0;
}

int store_set_cache_kib(store_t *self, int kib)
{
    assert(self && kib > 0);
    char sql[48];
    snprintf(sql, sizeof sql, "PRAGMA cache_size = -%d", kib);
    return sqlite3_exec(self->db, sql, NULL, NULL, NULL) == SQLITE_OK
               ? 0
               : s_sql_error(self, "cache size");
}

bool store_in_transaction(store_t *self)
{
    assert(self);
    return !sqlite3_get_autocommit(self->db);
}

/*  Steps a statement that returns no rows and resets it. A write that waited for the lock
    in vain says for which file, how long, and who holds it if that can be found. A
    connection that does not wait (busy timeout 0: a service loop, which retries later) is
    not told who: finding out reads /proc/locks, every lock of the machine, which took the
    publisher's loop 1 to 8 ms at each refused cursor write (docs/performance.md, "Latency
    under load"). */
static int s_run(store_t *self, sqlite3_stmt *stmt, const char *what)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = sqlite3_step(stmt);
    if ((rc & 0xff) == SQLITE_BUSY) {
        struct timespec t1;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long waited = (long) ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
        char holder[96];
        bool known = !self->no_wait && store_lock_holder(self->path, holder, sizeof holder) == 1;
        store_set_error(self, STORE_ERR_BUSY, "%s: %s: %s: waited %ld ms for the write lock%s%s",
                        what, self->path, sqlite3_errmsg(self->db), waited,
                        known ? ", held by " : "", known ? holder : "");
    } else if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        s_sql_error(self, what);
    }
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

static int64_t s_int_query(store_t *self, sqlite3_stmt *stmt, const char *what)
{
    int64_t value = -1;
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        value = sqlite3_column_int64(stmt, 0);
    } else {
        store_set_error(self, s_db_code(self), "%s: %s", what, sqlite3_errmsg(self->db));
    }
    sqlite3_reset(stmt);
    return value;
}

int64_t store_head_seq(store_t *self)
{
    assert(self);
    return s_int_query(self, self->head_seq, "head seq");
}

int64_t store_data_version(store_t *self)
{
    assert(self);
    return s_int_query(self, self->data_version, "data_version");
}

int store_begin(store_t *self)
{
    assert(self);
    return s_run(self, self->begin, "begin");
}

int store_begin_read(store_t *self)
{
    assert(self);
    return s_run(self, self->begin_read, "begin");
}

int store_commit(store_t *self)
{
    assert(self);
    return s_run(self, self->commit, "commit");
}

int store_rollback(store_t *self)
{
    assert(self);
    if (sqlite3_get_autocommit(self->db)) {
        return 0;
    }
    return s_run(self, self->rollback, "rollback");
}

static void s_bind_text(sqlite3_stmt *stmt, int i, const char *s)
{
    sqlite3_bind_text(stmt, i, s_or_empty(s), -1, SQLITE_STATIC);
}

/*  The people of an event as the two columns hold them, written into the store's own buffer
    (grown when an event needs more, else reused: no allocation per record): *json, compact
    JSON as jansson writes it ([{"name":..,"role":..},...]), and *flat, schema.c's
    S_PEOPLE_FLAT (name, unit separator, role; persons joined by the record separator; ""
    when none), so that the trigger that keeps people_flat right for raw SQL writers finds
    nothing to do. 0, or -1 when out of memory. */
static int s_people_texts(store_t *self, const store_event_t *event, const char **json,
                          const char **flat)
{
    size_t need = 3 + 1; /* "[]" and the NULs */
    for (size_t i = 0; i < event->people_count; i++) {
        size_t nlen = strlen(event->people[i].name);
        size_t rlen = strlen(s_or_empty(event->people[i].role));
        need += JSON_TEXT_BOUND(nlen) + JSON_TEXT_BOUND(rlen) + sizeof "{\"name\":,\"role\":}," +
                nlen + rlen + 2; /* the JSON, and the flat copy with its separators */
    }
    if (need > self->write_cap) {
        char *buf = realloc(self->write_buf, need);
        if (!buf) {
            return -1;
        }
        self->write_buf = buf;
        self->write_cap = need;
    }
    char *p = self->write_buf;
    *json = p;
    *p++ = '[';
    for (size_t i = 0; i < event->people_count; i++) {
        static const char name[] = "{\"name\":", role[] = ",\"role\":";
        if (i > 0) {
            *p++ = ',';
        }
        memcpy(p, name, sizeof name - 1);
        p = json_text(p + sizeof name - 1, event->people[i].name, strlen(event->people[i].name));
        memcpy(p, role, sizeof role - 1);
        const char *r = s_or_empty(event->people[i].role);
        p = json_text(p + sizeof role - 1, r, strlen(r));
        *p++ = '}';
    }
    *p++ = ']';
    *p++ = '\0';
    *flat = p;
    for (size_t i = 0; i < event->people_count; i++) {
        if (i > 0) {
            *p++ = '\x1e';
        }
        size_t n = strlen(event->people[i].name);
        memcpy(p, event->people[i].name, n);
        p += n;
        *p++ = '\x1f';
        const char *r = s_or_empty(event->people[i].role);
        n = strlen(r);
        memcpy(p, r, n);
        p += n;
    }
    *p = '\0';
    return 0;
}

int store_put_event(store_t *self, const store_event_t *event)
{
    assert(self);
    const char *field = NULL;
    char why[256];
    if (store_event_check(event, &field, why, sizeof why) != 0) {
        const char *id =
            event && event->id && store_utf8_valid(event->id, strlen(event->id)) ? event->id : "";
        store_set_error(self, STORE_ERR_INVALID, "event '%.200s': field %s: %s", id, field, why);
        return -1;
    }
    const char *people = NULL, *flat = NULL;
    if (s_people_texts(self, event, &people, &flat) != 0) {
        store_set_error(self, STORE_ERR_NOMEM, "event '%s': out of memory", event->id);
        return -1;
    }
    sqlite3_stmt *s = self->put_event;
    s_bind_text(s, 1, event->id);
    s_bind_text(s, 2, event->kind);
    s_bind_text(s, 3, event->title);
    s_bind_text(s, 4, event->start_date);
    s_bind_text(s, 5, event->end_date);
    s_bind_text(s, 6, event->city);
    s_bind_text(s, 7, event->country);
    s_bind_text(s, 8, event->summary);
    s_bind_text(s, 9, event->url);
    s_bind_text(s, 10, event->status && *event->status ? event->status : "scheduled");
    s_bind_text(s, 11, event->cancel_reason);
    sqlite3_bind_text(s, 12, people, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 13, flat, -1, SQLITE_STATIC);
    char what[260];
    snprintf(what, sizeof what, "event '%s'", event->id);
    return s_run(self, s, what);
}

int store_put_press(store_t *self, const store_press_t *press)
{
    assert(self);
    const char *field = NULL;
    char why[256];
    if (store_press_check(press, &field, why, sizeof why) != 0) {
        const char *id =
            press && press->id && store_utf8_valid(press->id, strlen(press->id)) ? press->id : "";
        store_set_error(self, STORE_ERR_INVALID, "press release '%.200s': field %s: %s", id, field,
                        why);
        return -1;
    }
    sqlite3_stmt *s = self->put_press;
    s_bind_text(s, 1, press->id);
    if (press->event_id && *press->event_id) {
        s_bind_text(s, 2, press->event_id);
    } else {
        sqlite3_bind_null(s, 2);
    }
    s_bind_text(s, 3, press->title);
    s_bind_text(s, 4, press->published_on);
    s_bind_text(s, 5, press->url);
    s_bind_text(s, 6, press->summary);
    int rc = sqlite3_step(s);
    int ext = sqlite3_extended_errcode(self->db);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc == SQLITE_DONE) {
        return 0;
    }
    if (ext == SQLITE_CONSTRAINT_FOREIGNKEY) {
        store_set_error(self, STORE_ERR_INVALID,
                        "press release '%s': field event_id: no event '%s'", press->id,
                        press->event_id);
    } else {
        store_set_error(self, store_err_from_sqlite(ext), "press release '%s': %s", press->id,
                        sqlite3_errmsg(self->db));
    }
    return -1;
}

int store_cancel_event(store_t *self, const char *id, const char *reason)
{
    assert(self);
    if (!id) {
        store_set_error(self, STORE_ERR_INVALID, "cancel: no id");
        return -1;
    }
    char why[256];
    store_event_t probe = {.id = id,
                           .kind = "x",
                           .title = "x",
                           .start_date = "2000-01-01",
                           .end_date = "2000-01-01",
                           .country = "XX",
                           .status = "cancelled",
                           .cancel_reason = reason};
    const char *field = NULL;
    if (store_event_check(&probe, &field, why, sizeof why) != 0) {
        store_set_error(self, STORE_ERR_INVALID, "cancel event: field %s: %s", field, why);
        return -1;
    }
    s_bind_text(self->cancel_event, 1, id);
    s_bind_text(self->cancel_event, 2, reason);
    char what[260];
    snprintf(what, sizeof what, "cancel event '%s'", id);
    if (s_run(self, self->cancel_event, what) != 0) {
        return -1;
    }
    if (sqlite3_changes(self->db) == 0) {
        store_set_error(self, STORE_ERR_NOT_FOUND, "no event '%s'", id);
        return -1;
    }
    return 0;
}

static int s_delete(store_t *self, sqlite3_stmt *stmt, const char *what, const char *id)
{
    if (!id) {
        store_set_error(self, STORE_ERR_INVALID, "delete: no id");
        return -1;
    }
    s_bind_text(stmt, 1, id);
    int rc = sqlite3_step(stmt);
    int ext = sqlite3_extended_errcode(self->db);
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    if (rc != SQLITE_DONE) {
        if (ext == SQLITE_CONSTRAINT_FOREIGNKEY) {
            store_set_error(self, STORE_ERR_INVALID,
                            "%s '%s' has press releases: delete them first", what, id);
        } else {
            store_set_error(self, store_err_from_sqlite(ext), "delete %s '%s': %s", what, id,
                            sqlite3_errmsg(self->db));
        }
        return -1;
    }
    if (sqlite3_changes(self->db) == 0) {
        store_set_error(self, STORE_ERR_NOT_FOUND, "no %s '%s'", what, id);
        return -1;
    }
    return 0;
}

int store_delete_event(store_t *self, const char *id)
{
    assert(self);
    return s_delete(self, self->delete_event, "event", id);
}

int store_delete_press(store_t *self, const char *id)
{
    assert(self);
    return s_delete(self, self->delete_press, "press release", id);
}

/*  Copies the n strings at *fields into the handle's record buffer and points them there,
    so that a record read by id outlives its statement (which is reset at once: a statement
    left stepping would pin this connection to an old snapshot). */
static int s_hold(store_t *self, const char **fields[], size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        total += strlen(*fields[i]) + 1;
    }
    if (total > self->record_cap) {
        size_t cap = self->record_cap ? self->record_cap : 1024;
        while (cap < total) {
            cap *= 2;
        }
        char *buf = realloc(self->record_buf, cap);
        if (!buf) {
            store_set_error(self, STORE_ERR_NOMEM, "out of memory");
            return -1;
        }
        self->record_buf = buf;
        self->record_cap = cap;
    }
    char *p = self->record_buf;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(*fields[i]) + 1;
        memcpy(p, *fields[i], len);
        *fields[i] = p;
        p += len;
    }
    return 0;
}

/*  Steps s, a read of at most one row: 1 on the row (s is left on it), 0 none, -1 failed
    (what: sqlite's words). */
static int s_step_row(store_t *self, sqlite3_stmt *s, const char *what)
{
    int rc = sqlite3_step(s);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : s_sql_error(self, what);
}

/*  Steps s, a read by id, to its row: 1 there is one (read it, then reset s), 0 none, -1
    failed (what: sqlite's words); s is reset unless 1. */
static int s_get(store_t *self, sqlite3_stmt *s, const char *id, const char *what)
{
    sqlite3_reset(s);
    s_bind_text(s, 1, id);
    int found = s_step_row(self, s, what);
    if (found != 1) {
        sqlite3_reset(s);
    }
    return found;
}

int store_get_event(store_t *self, const char *id, store_event_t *out)
{
    assert(self);
    assert(out);
    sqlite3_stmt *s = self->get_event;
    int rc = s_get(self, s, id, "get event");
    if (rc != 1) {
        return rc;
    }
    memset(out, 0, sizeof *out);
    const char **fields[] = {&out->id,       &out->kind,   &out->title,        &out->start_date,
                             &out->end_date, &out->city,   &out->country,      &out->summary,
                             &out->url,      &out->status, &out->cancel_reason};
    int ok = s_read_event(self, s, 0, out) == 0 &&
             s_hold(self, fields, sizeof fields / sizeof fields[0]) == 0;
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return ok ? 1 : -1;
}

int store_get_press(store_t *self, const char *id, store_press_t *out)
{
    assert(self);
    assert(out);
    sqlite3_stmt *s = self->get_press;
    int rc = s_get(self, s, id, "get press release");
    if (rc != 1) {
        return rc;
    }
    s_read_press(s, 0, out);
    const char **fields[] = {&out->id,           &out->event_id, &out->title,
                             &out->published_on, &out->url,      &out->summary};
    int ok = s_hold(self, fields, sizeof fields / sizeof fields[0]) == 0;
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return ok ? 1 : -1;
}

/*  Runs a scan statement (already bound) and calls fn per row. */
static int64_t s_scan(store_t *self, sqlite3_stmt *s, store_change_fn *fn, void *arg,
                      const char *what)
{
    int64_t rows = 0;
    int rc;
    store_change_t change;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (s_read_change(self, s, &change) != 0) {
            sqlite3_reset(s);
            return -1;
        }
        rows++;
        int stop = fn ? fn(&change, arg) : 0;
        if (stop != 0) {
            sqlite3_reset(s);
            return stop;
        }
    }
    if (rc != SQLITE_DONE) {
        store_set_error(self, s_db_code(self), "%s: %s", what, sqlite3_errmsg(self->db));
        sqlite3_reset(s);
        return -1;
    }
    sqlite3_reset(s);
    return rows;
}

int64_t store_changes(store_t *self, int64_t after_seq, int64_t since_ms, int limit,
                      store_change_fn *fn, void *arg)
{
    assert(self);
    sqlite3_stmt *s = self->changes;
    sqlite3_reset(s);
    sqlite3_bind_int64(s, 1, after_seq);
    sqlite3_bind_int64(s, 2, since_ms > 0 ? since_ms : 0);
    sqlite3_bind_int64(s, 3, limit > 0 ? limit : -1);
    return s_scan(self, s, fn, arg, "changes");
}

/*  The snapshot as of at_seq after after_seq (s_sql_snapshot_at); what names it in errors. */
static int64_t s_snapshot(store_t *self, int64_t at_seq, int64_t after_seq, int limit,
                          store_change_fn *fn, void *arg, const char *what)
{
    sqlite3_stmt *s = self->snapshot_at;
    sqlite3_reset(s);
    sqlite3_bind_int64(s, 1, after_seq);
    sqlite3_bind_int64(s, 2, at_seq);
    sqlite3_bind_int64(s, 3, limit > 0 ? limit : -1);
    return s_scan(self, s, fn, arg, what);
}

int64_t store_snapshot(store_t *self, int64_t after_seq, int limit, store_change_fn *fn, void *arg)
{
    assert(self);
    return s_snapshot(self, INT64_MAX, after_seq, limit, fn, arg, "snapshot");
}

int64_t store_snapshot_at(store_t *self, int64_t at_seq, int64_t after_seq, int limit,
                          store_change_fn *fn, void *arg)
{
    assert(self);
    return s_snapshot(self, at_seq, after_seq, limit, fn, arg, "snapshot as of a seq");
}

int store_list_events(store_t *self, store_event_fn *fn, void *arg)
{
    assert(self);
    sqlite3_stmt *s = self->list_events;
    sqlite3_reset(s);
    int rc;
    store_event_t event;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        memset(&event, 0, sizeof event);
        if (s_read_event(self, s, 0, &event) != 0) {
            sqlite3_reset(s);
            return -1;
        }
        int stop = fn(&event, arg);
        if (stop != 0) {
            sqlite3_reset(s);
            return stop;
        }
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : s_sql_error(self, "list events");
}

int store_list_press(store_t *self, store_press_fn *fn, void *arg)
{
    assert(self);
    sqlite3_stmt *s = self->list_press;
    sqlite3_reset(s);
    int rc;
    store_press_t press;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        s_read_press(s, 0, &press);
        int stop = fn(&press, arg);
        if (stop != 0) {
            sqlite3_reset(s);
            return stop;
        }
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : s_sql_error(self, "list press releases");
}

int store_cursor_get(store_t *self, const char *name, int64_t *seq, const char **stream_id)
{
    assert(self);
    sqlite3_stmt *s = self->cursor_get;
    s_bind_text(s, 1, name);
    int found = s_step_row(self, s, "cursor get");
    if (found == 1) {
        if (seq) {
            *seq = sqlite3_column_int64(s, 0);
        }
        snprintf(self->cursor_stream, sizeof self->cursor_stream, "%s", s_col(s, 1));
        if (stream_id) {
            *stream_id = self->cursor_stream;
        }
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return found;
}

int store_cursor_set(store_t *self, const char *name, int64_t seq, const char *stream_id)
{
    assert(self);
    if (!name || !*name) {
        store_set_error(self, STORE_ERR_INVALID, "cursor set: no name");
        return -1;
    }
    if (stream_id && strlen(stream_id) >= S_STREAM_ID_MAX) {
        store_set_error(self, STORE_ERR_INVALID, "cursor set: stream id longer than %d bytes",
                        S_STREAM_ID_MAX - 1);
        return -1;
    }
    sqlite3_stmt *s = self->cursor_set;
    s_bind_text(s, 1, name);
    sqlite3_bind_int64(s, 2, seq);
    if (stream_id) {
        s_bind_text(s, 3, stream_id);
    } else {
        sqlite3_bind_null(s, 3);
    }
    return s_run(self, s, "cursor set");
}

int store_origin_get(store_t *self, store_type_t type, const char *id, int64_t *seq)
{
    assert(self);
    sqlite3_stmt *s = self->origin_get;
    s_bind_text(s, 1, s_type_name(type));
    s_bind_text(s, 2, id);
    int found = s_step_row(self, s, "origin get");
    if (found == 1 && seq) {
        *seq = sqlite3_column_int64(s, 0);
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return found;
}

int store_origin_set(store_t *self, store_type_t type, const char *id, int64_t seq)
{
    assert(self);
    if (!id || !*id) {
        store_set_error(self, STORE_ERR_INVALID, "origin set: no id");
        return -1;
    }
    sqlite3_stmt *s = self->origin_set;
    s_bind_text(s, 1, s_type_name(type));
    s_bind_text(s, 2, id);
    sqlite3_bind_int64(s, 3, seq);
    return s_run(self, s, "origin set");
}

int store_clear(store_t *self)
{
    assert(self);
    bool own = !store_in_transaction(self);
    if (own && store_begin(self) != 0) {
        return -1;
    }
    char *msg = NULL;
    if (sqlite3_exec(self->db,
                     "DELETE FROM press_releases; DELETE FROM events;"
                     " DELETE FROM origins; DELETE FROM cursors;",
                     NULL, NULL, &msg) != SQLITE_OK) {
        store_set_error(self, s_db_code(self), "clear: %s", msg ? msg : sqlite3_errmsg(self->db));
        sqlite3_free(msg);
        if (own) {
            store_rollback(self);
        }
        return -1;
    }
    if (own && store_commit(self) != 0) {
        store_rollback(self);
        return -1;
    }
    return 0;
}
