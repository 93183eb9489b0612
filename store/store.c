/*  store.c -- the store handle: open and migrate, pragmas, edits, reads, scans, cursors.

    Every statement used more than once is prepared in store_new and finalized in
    store_destroy. The change log is never written here: the triggers in schema.c do it in
    the same statement as the edit. The scans join each change row to the record's current
    state, with the people list read from events.people_flat, one string (names and roles
    separated by the ASCII unit separator, persons by the record separator; validation keeps
    control characters out of both) written with the record (by store_put_event, or by a
    trigger for other writers) and split in place into a buffer owned by the handle.
*/
#include "store_private.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define S_ERRLEN 512
#define S_STREAM_ID_MAX 128 /* bytes in a cursor's stream id */

struct store {
    sqlite3 *db;                             /* the connection */
    char *path;                              /* the file, as given */
    bool readonly;                           /* opened with STORE_READONLY */
    char stream_id[64];                      /* meta.stream_id */
    char err[S_ERRLEN];                      /* the last error, "" if none */
    char cursor_stream[S_STREAM_ID_MAX];     /* stream id returned by store_cursor_get */
    store_person_t people[STORE_MAX_PEOPLE]; /* people of the row last read */
    char *people_buf;                        /* their text, split in place */
    size_t people_cap;                       /* bytes allocated at people_buf */
    char *record_buf;                        /* text of the record last got by id */
    size_t record_cap;                       /* bytes allocated at record_buf */
    sqlite3_stmt *put_event;                 /* upsert an event */
    sqlite3_stmt *put_press;                 /* upsert a press release */
    sqlite3_stmt *get_event;                 /* one event by id */
    sqlite3_stmt *get_press;                 /* one press release by id */
    sqlite3_stmt *list_events;               /* every event by id */
    sqlite3_stmt *list_press;                /* every press release by id */
    sqlite3_stmt *cancel_event;              /* status = cancelled */
    sqlite3_stmt *delete_event;              /* delete an event */
    sqlite3_stmt *delete_press;              /* delete a press release */
    sqlite3_stmt *changes;                   /* the log after a seq or time, joined */
    sqlite3_stmt *snapshot;                  /* record heads after a seq, joined */
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

/*  Scan rows: seq, record_type, change, record_id, committed_at_ms, topic, event columns,
    press columns; the record is present when its id column is not NULL. The record is reached
    by the rowid its change noted, an integer seek, and taken only if that row still holds its
    id; when not, s_read_change looks it up by id (schema.c, s_v4). */
#define S_SCAN_JOINS                                                                               \
    " LEFT JOIN events e ON c.record_type = 'event' AND e.rowid = c.record_rowid"                  \
    "  AND e.id = c.record_id"                                                                     \
    " LEFT JOIN press_releases p ON c.record_type = 'press_release'"                               \
    "  AND p.rowid = c.record_rowid AND p.id = c.record_id"

static const char *s_sql_changes =
    "SELECT c.seq, c.record_type, c.change, c.record_id, c.committed_at_ms, c.topic,"
    " " S_EVENT_COLS ", " S_PRESS_COLS
    " FROM changes c" S_SCAN_JOINS
    /* One lower bound, so that the scan is a rowid range search whichever is higher. */
    " WHERE c.seq > max(?1, CASE WHEN ?2 > 0 THEN coalesce("
    "  (SELECT seq FROM changes WHERE committed_at_ms >= ?2"
    "   ORDER BY committed_at_ms, seq LIMIT 1), 9223372036854775807) - 1 ELSE 0 END)"
    " ORDER BY c.seq LIMIT ?3";

static const char *s_sql_snapshot =
    "SELECT h.seq, h.record_type,"
    " CASE WHEN e.status = 'cancelled' THEN 'cancelled'"
    "  WHEN c.change = 'created' THEN 'created' ELSE 'updated' END,"
    " h.record_id, c.committed_at_ms, c.topic, " S_EVENT_COLS ", " S_PRESS_COLS
    " FROM record_heads h JOIN changes c ON c.seq = h.seq" S_SCAN_JOINS
    " WHERE h.seq > ?1 ORDER BY h.seq LIMIT ?2";

void store_set_error(store_t *self, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(self->err, sizeof self->err, fmt, ap);
    va_end(ap);
}

static int s_sql_error(store_t *self, const char *what)
{
    store_set_error(self, "%s: %s", what, sqlite3_errmsg(self->db));
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
            store_set_error(self, "out of memory");
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

/*  Reads one scan row into *out (text borrowed from the statement and the handle). */
static int s_read_change(store_t *self, sqlite3_stmt *stmt, store_change_t *out)
{
    memset(out, 0, sizeof *out);
    out->seq = sqlite3_column_int64(stmt, 0);
    out->type = strcmp(s_col(stmt, 1), "press_release") == 0 ? STORE_PRESS : STORE_EVENT;
    out->change = s_change_kind(s_col(stmt, 2));
    out->record_id = s_col(stmt, 3);
    out->committed_at_ms = sqlite3_column_int64(stmt, 4);
    out->topic = s_col(stmt, 5);
    int ebase = 6;
    int pbase = ebase + S_EVENT_NCOLS;
    out->present = sqlite3_column_type(stmt, out->type == STORE_EVENT ? ebase : pbase) !=
                   SQLITE_NULL;
    if (!out->present && out->change != STORE_DELETED) {
        /* Not where its change noted: gone, or moved (see S_SCAN_JOINS). By id, copied. */
        int found = out->type == STORE_EVENT ? store_get_event(self, out->record_id, &out->event)
                                             : store_get_press(self, out->record_id, &out->press);
        if (found == -1) {
            return -1;
        }
        out->present = found == 1;
        if (out->present) {
            return 0;
        }
    }
    if (out->type == STORE_EVENT) {
        if (s_read_event(self, stmt, ebase, &out->event) != 0) {
            return -1;
        }
        if (!out->present) {
            out->event.id = out->record_id;
        }
        out->event.status = out->present ? out->event.status : "";
    } else {
        s_read_press(stmt, pbase, &out->press);
        if (!out->present) {
            out->press.id = out->record_id;
        }
    }
    return 0;
}

/*  A random UUID version 4 from /dev/urandom into out (37 bytes at least). */
static int s_uuid4(char *out, size_t outlen)
{
    unsigned char b[16];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    size_t got = 0;
    while (got < sizeof b) {
        ssize_t n = read(fd, b + got, sizeof b - got);
        if (n <= 0) {
            if (n < 0 && errno == EINTR) {
                continue;
            }
            close(fd);
            return -1;
        }
        got += (size_t) n;
    }
    close(fd);
    b[6] = (unsigned char) ((b[6] & 0x0F) | 0x40);
    b[8] = (unsigned char) ((b[8] & 0x3F) | 0x80);
    snprintf(out, outlen, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
    return 0;
}

static int s_exec(sqlite3 *db, const char *sql, char *err, size_t errlen, const char *what)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", what, msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static int s_user_version(sqlite3 *db, int *version)
{
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, NULL) != SQLITE_OK) {
        return -1;
    }
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        *version = sqlite3_column_int(stmt, 0);
    }
    sqlite3_finalize(stmt);
    return rc == SQLITE_ROW ? 0 : -1;
}

/*  true when the database has no table at all (a new or empty file). */
static int s_is_empty(sqlite3 *db, bool *empty)
{
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master", -1, &stmt, NULL) !=
        SQLITE_OK) {
        return -1;
    }
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        *empty = sqlite3_column_int(stmt, 0) == 0;
    }
    sqlite3_finalize(stmt);
    return rc == SQLITE_ROW ? 0 : -1;
}

/*  Makes a store at schema version `version` on an empty database, in one transaction. */
static int s_create_schema(sqlite3 *db, const char *path, int version, char *err, size_t errlen)
{
    char why[S_ERRLEN];
    if (s_exec(db, "BEGIN IMMEDIATE", err, errlen, "cannot create store") != 0) {
        return -1;
    }
    bool empty = false;
    if (s_is_empty(db, &empty) != 0) {
        snprintf(err, errlen, "cannot create store %s: %s", path, sqlite3_errmsg(db));
        goto fail;
    }
    if (!empty) {
        snprintf(err, errlen, "cannot create store %s: the file already holds a database", path);
        goto fail;
    }
    for (int v = 1; v <= version; v++) {
        if (schema_apply(db, v, why, sizeof why) != 0) {
            snprintf(err, errlen, "cannot create store %s: %s", path, why);
            goto fail;
        }
    }
    char uuid[40];
    if (s_uuid4(uuid, sizeof uuid) != 0) {
        snprintf(err, errlen, "cannot create store %s: reading /dev/urandom: %s", path,
                 strerror(errno));
        goto fail;
    }
    char sql[256];
    snprintf(sql, sizeof sql,
             "INSERT INTO meta (key, value) VALUES ('stream_id', '%s'),"
             " ('created_at', strftime('%%Y-%%m-%%dT%%H:%%M:%%fZ', 'now'))",
             uuid);
    if (s_exec(db, sql, why, sizeof why, "writing meta") != 0) {
        snprintf(err, errlen, "cannot create store %s: %s", path, why);
        goto fail;
    }
    if (s_exec(db, "COMMIT", why, sizeof why, "commit") != 0) {
        snprintf(err, errlen, "cannot create store %s: %s", path, why);
        goto fail;
    }
    return 0;
fail:
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

/*  Brings an existing store up to STORE_SCHEMA_VERSION in one transaction. */
static int s_migrate(sqlite3 *db, const char *path, char *err, size_t errlen)
{
    char why[S_ERRLEN];
    int version = 0;
    if (s_exec(db, "BEGIN IMMEDIATE", why, sizeof why, "begin") != 0) {
        snprintf(err, errlen, "cannot open store %s: %s", path, why);
        return -1;
    }
    /* Read again inside the transaction: another process may have migrated meanwhile. */
    if (s_user_version(db, &version) != 0) {
        snprintf(err, errlen, "cannot open store %s: %s", path, sqlite3_errmsg(db));
        goto fail;
    }
    for (int v = version + 1; v <= STORE_SCHEMA_VERSION; v++) {
        if (schema_apply(db, v, why, sizeof why) != 0) {
            snprintf(err, errlen, "cannot migrate store %s: %s", path, why);
            goto fail;
        }
    }
    if (s_exec(db, "COMMIT", why, sizeof why, "commit") != 0) {
        snprintf(err, errlen, "cannot migrate store %s: %s", path, why);
        goto fail;
    }
    return 0;
fail:
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

static int s_prepare(store_t *self, sqlite3_stmt **stmt, const char *sql)
{
    if (sqlite3_prepare_v3(self->db, sql, -1, SQLITE_PREPARE_PERSISTENT, stmt, NULL) != SQLITE_OK) {
        store_set_error(self, "preparing statement: %s", sqlite3_errmsg(self->db));
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
        {&self->snapshot, s_sql_snapshot, false},
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
        store_set_error(self, "the store has no stream_id in meta");
        return -1;
    }
    return 0;
}

#define S_STR2(x) #x
#define S_STR(x) S_STR2(x)

static sqlite3 *s_open_db(const char *path, store_mode_t mode, char *err, size_t errlen)
{
    int flags = SQLITE_OPEN_NOMUTEX;
    if (mode == STORE_READONLY) {
        flags |= SQLITE_OPEN_READONLY;
    } else if (mode == STORE_CREATE) {
        flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    } else {
        flags |= SQLITE_OPEN_READWRITE;
    }
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, flags, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot open store %s: %s", path,
                 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, 5000);
    char why[S_ERRLEN];
    /* A new store gets pages of STORE_PAGE_SIZE before WAL fixes them (an existing one
       keeps its own: the pragma does nothing on a file that has pages). */
    const char *pragmas = mode == STORE_READONLY ? "PRAGMA foreign_keys = ON;"
                          : mode == STORE_CREATE
                              ? "PRAGMA page_size = " S_STR(STORE_PAGE_SIZE) ";"
                                " PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                                " PRAGMA foreign_keys = ON;"
                              : "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                                " PRAGMA foreign_keys = ON;";
    if (s_exec(db, pragmas, why, sizeof why, "pragmas") != 0) {
        snprintf(err, errlen, "cannot open store %s: %s", path, why);
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

store_t *store_new(const char *path, store_mode_t mode, char *err, size_t errlen)
{
    char scratch[S_ERRLEN];
    if (!err || errlen == 0) {
        err = scratch;
        errlen = sizeof scratch;
    }
    err[0] = '\0';
    if (!path || !*path) {
        snprintf(err, errlen, "cannot open store: no path");
        return NULL;
    }
    if (mode != STORE_CREATE) {
        struct stat st;
        if (stat(path, &st) != 0) {
            snprintf(err, errlen, "cannot open store %s: %s", path, strerror(errno));
            return NULL;
        }
    }
    sqlite3 *db = s_open_db(path, mode, err, errlen);
    if (!db) {
        return NULL;
    }
    int version = 0;
    if (mode == STORE_CREATE) {
        if (s_create_schema(db, path, STORE_SCHEMA_VERSION, err, errlen) != 0) {
            sqlite3_close(db);
            return NULL;
        }
    } else {
        if (s_user_version(db, &version) != 0) {
            snprintf(err, errlen, "cannot open store %s: %s", path, sqlite3_errmsg(db));
            sqlite3_close(db);
            return NULL;
        }
        if (version == 0) {
            snprintf(err, errlen, "cannot open store %s: not a herald store (schema version 0)",
                     path);
            sqlite3_close(db);
            return NULL;
        }
        if (version > STORE_SCHEMA_VERSION) {
            snprintf(err, errlen,
                     "store %s has schema version %d, newer than this program's %d;"
                     " upgrade herald",
                     path, version, STORE_SCHEMA_VERSION);
            sqlite3_close(db);
            return NULL;
        }
        if (version < STORE_SCHEMA_VERSION) {
            if (mode == STORE_READONLY) {
                snprintf(err, errlen,
                         "store %s has schema version %d, older than this program's %d;"
                         " open it read-write once to migrate it"
                         " (herald-pub does, or: herald-store import /dev/null)",
                         path, version, STORE_SCHEMA_VERSION);
                sqlite3_close(db);
                return NULL;
            }
            if (s_migrate(db, path, err, errlen) != 0) {
                sqlite3_close(db);
                return NULL;
            }
        }
    }
    store_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "cannot open store %s: out of memory", path);
        sqlite3_close(db);
        return NULL;
    }
    self->db = db;
    self->readonly = mode == STORE_READONLY;
    self->path = strdup(path);
    if (!self->path || s_prepare_all(self) != 0 || s_read_meta(self) != 0) {
        snprintf(err, errlen, "cannot open store %s: %s", path,
                 self->path ? self->err : "out of memory");
        store_destroy(&self);
        return NULL;
    }
    return self;
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
        &self->delete_press, &self->changes,    &self->snapshot,     &self->cursor_get,
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
    free(self->path);
    free(self);
    *self_p = NULL;
}

const char *store_error(store_t *self)
{
    assert(self);
    return self->err;
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
    return sqlite3_busy_timeout(self->db, ms) == SQLITE_OK ? 0 : s_sql_error(self, "busy timeout");
}

int store_set_durable(store_t *self, bool durable)
{
    assert(self);
    if (self->readonly) {
        return 0;
    }
    char why[S_ERRLEN];
    /* Not durable also leaves checkpoints to other writers: a checkpoint of a long WAL
       would stall the writer that happens to cross the threshold. */
    const char *sql = durable ? "PRAGMA synchronous = FULL; PRAGMA wal_autocheckpoint = 1000"
                              : "PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0";
    if (s_exec(self->db, sql, why, sizeof why, "synchronous") != 0) {
        snprintf(self->err, sizeof self->err, "%s", why);
        return -1;
    }
    return 0;
}

bool store_in_transaction(store_t *self)
{
    assert(self);
    return !sqlite3_get_autocommit(self->db);
}

/*  Steps a statement that returns no rows and resets it. A write that waited for the lock
    in vain says for which file, how long, and who holds it if that can be found. */
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
        bool known = store_lock_holder(self->path, holder, sizeof holder) == 1;
        store_set_error(self, "%s: %s: %s: waited %ld ms for the write lock%s%s", what, self->path,
                        sqlite3_errmsg(self->db), waited, known ? ", held by " : "",
                        known ? holder : "");
        sqlite3_reset(stmt);
        sqlite3_clear_bindings(stmt);
        return -1;
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        store_set_error(self, "%s: %s", what, sqlite3_errmsg(self->db));
        sqlite3_reset(stmt);
        sqlite3_clear_bindings(stmt);
        return -1;
    }
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return 0;
}

static int64_t s_int_query(store_t *self, sqlite3_stmt *stmt, const char *what)
{
    int64_t value = -1;
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        value = sqlite3_column_int64(stmt, 0);
    } else {
        store_set_error(self, "%s: %s", what, sqlite3_errmsg(self->db));
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

/*  The people of an event as compact JSON text; the caller frees it. */
static char *s_people_json(const store_event_t *event)
{
    json_t *list = json_array();
    if (!list) {
        return NULL;
    }
    for (size_t i = 0; i < event->people_count; i++) {
        json_t *person = json_object();
        if (!person || json_array_append_new(list, person) != 0) {
            json_decref(list);
            return NULL;
        }
        json_object_set_new(person, "name", json_string(event->people[i].name));
        json_object_set_new(person, "role", json_string(s_or_empty(event->people[i].role)));
    }
    char *text = json_dumps(list, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(list);
    return text;
}

/*  The people of an event as events.people_flat holds them (schema.c's S_PEOPLE_FLAT: name,
    unit separator, role; persons joined by the record separator; "" when none), so that the
    trigger that keeps the column right for raw SQL writers finds nothing to do. The caller
    frees it. */
static char *s_people_flat(const store_event_t *event)
{
    size_t len = 1;
    for (size_t i = 0; i < event->people_count; i++) {
        len += strlen(event->people[i].name) + strlen(s_or_empty(event->people[i].role)) + 2;
    }
    char *flat = malloc(len);
    if (!flat) {
        return NULL;
    }
    char *p = flat;
    for (size_t i = 0; i < event->people_count; i++) {
        if (i > 0) {
            *p++ = '\x1e';
        }
        size_t n = strlen(event->people[i].name);
        memcpy(p, event->people[i].name, n);
        p += n;
        *p++ = '\x1f';
        const char *role = s_or_empty(event->people[i].role);
        n = strlen(role);
        memcpy(p, role, n);
        p += n;
    }
    *p = '\0';
    return flat;
}

int store_put_event(store_t *self, const store_event_t *event)
{
    assert(self);
    const char *field = NULL;
    char why[256];
    if (store_event_check(event, &field, why, sizeof why) != 0) {
        const char *id =
            event && event->id && store_utf8_valid(event->id, strlen(event->id)) ? event->id : "";
        store_set_error(self, "event '%.200s': field %s: %s", id, field, why);
        return -1;
    }
    char *people = s_people_json(event);
    char *flat = people ? s_people_flat(event) : NULL;
    if (!flat) {
        free(people);
        store_set_error(self, "event '%s': out of memory", event->id);
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
    int rc = s_run(self, s, what);
    free(people);
    free(flat);
    return rc;
}

int store_put_press(store_t *self, const store_press_t *press)
{
    assert(self);
    const char *field = NULL;
    char why[256];
    if (store_press_check(press, &field, why, sizeof why) != 0) {
        const char *id =
            press && press->id && store_utf8_valid(press->id, strlen(press->id)) ? press->id : "";
        store_set_error(self, "press release '%.200s': field %s: %s", id, field, why);
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
        store_set_error(self, "press release '%s': field event_id: no event '%s'", press->id,
                        press->event_id);
    } else {
        store_set_error(self, "press release '%s': %s", press->id, sqlite3_errmsg(self->db));
    }
    return -1;
}

int store_cancel_event(store_t *self, const char *id, const char *reason)
{
    assert(self);
    if (!id) {
        store_set_error(self, "cancel: no id");
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
        store_set_error(self, "cancel event: field %s: %s", field, why);
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
        store_set_error(self, "no event '%s'", id);
        return -1;
    }
    return 0;
}

static int s_delete(store_t *self, sqlite3_stmt *stmt, const char *what, const char *id)
{
    if (!id) {
        store_set_error(self, "delete: no id");
        return -1;
    }
    s_bind_text(stmt, 1, id);
    int rc = sqlite3_step(stmt);
    int ext = sqlite3_extended_errcode(self->db);
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    if (rc != SQLITE_DONE) {
        if (ext == SQLITE_CONSTRAINT_FOREIGNKEY) {
            store_set_error(self, "%s '%s' has press releases: delete them first", what, id);
        } else {
            store_set_error(self, "delete %s '%s': %s", what, id, sqlite3_errmsg(self->db));
        }
        return -1;
    }
    if (sqlite3_changes(self->db) == 0) {
        store_set_error(self, "no %s '%s'", what, id);
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
            store_set_error(self, "out of memory");
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

int store_get_event(store_t *self, const char *id, store_event_t *out)
{
    assert(self);
    assert(out);
    sqlite3_stmt *s = self->get_event;
    sqlite3_reset(s);
    s_bind_text(s, 1, id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(s);
        return 0;
    }
    if (rc != SQLITE_ROW) {
        sqlite3_reset(s);
        return s_sql_error(self, "get event");
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
    sqlite3_reset(s);
    s_bind_text(s, 1, id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(s);
        return 0;
    }
    if (rc != SQLITE_ROW) {
        sqlite3_reset(s);
        return s_sql_error(self, "get press release");
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
        store_set_error(self, "%s: %s", what, sqlite3_errmsg(self->db));
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

int64_t store_snapshot(store_t *self, int64_t after_seq, int limit, store_change_fn *fn, void *arg)
{
    assert(self);
    sqlite3_stmt *s = self->snapshot;
    sqlite3_reset(s);
    sqlite3_bind_int64(s, 1, after_seq);
    sqlite3_bind_int64(s, 2, limit > 0 ? limit : -1);
    return s_scan(self, s, fn, arg, "snapshot");
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
    int rc = sqlite3_step(s);
    int found = 0;
    if (rc == SQLITE_ROW) {
        found = 1;
        if (seq) {
            *seq = sqlite3_column_int64(s, 0);
        }
        snprintf(self->cursor_stream, sizeof self->cursor_stream, "%s", s_col(s, 1));
        if (stream_id) {
            *stream_id = self->cursor_stream;
        }
    } else if (rc != SQLITE_DONE) {
        found = s_sql_error(self, "cursor get");
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return found;
}

int store_cursor_set(store_t *self, const char *name, int64_t seq, const char *stream_id)
{
    assert(self);
    if (!name || !*name) {
        store_set_error(self, "cursor set: no name");
        return -1;
    }
    if (stream_id && strlen(stream_id) >= S_STREAM_ID_MAX) {
        store_set_error(self, "cursor set: stream id longer than %d bytes", S_STREAM_ID_MAX - 1);
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
    int rc = sqlite3_step(s);
    int found = 0;
    if (rc == SQLITE_ROW) {
        found = 1;
        if (seq) {
            *seq = sqlite3_column_int64(s, 0);
        }
    } else if (rc != SQLITE_DONE) {
        found = s_sql_error(self, "origin get");
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return found;
}

int store_origin_set(store_t *self, store_type_t type, const char *id, int64_t seq)
{
    assert(self);
    if (!id || !*id) {
        store_set_error(self, "origin set: no id");
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
        store_set_error(self, "clear: %s", msg ? msg : sqlite3_errmsg(self->db));
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

int store_create_at_version(const char *path, int version, char *err, size_t errlen)
{
    char scratch[S_ERRLEN];
    if (!err || errlen == 0) {
        err = scratch;
        errlen = sizeof scratch;
    }
    err[0] = '\0';
    if (version < 1 || version > STORE_SCHEMA_VERSION) {
        snprintf(err, errlen, "cannot create store %s: no schema version %d", path ? path : "",
                 version);
        return -1;
    }
    sqlite3 *db = s_open_db(path, STORE_CREATE, err, errlen);
    if (!db) {
        return -1;
    }
    int rc = s_create_schema(db, path, version, err, errlen);
    sqlite3_close(db);
    return rc;
}
