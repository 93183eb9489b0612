/*  schema.c -- the store's schema as a list of migrations, one per PRAGMA user_version, and
    opening a store: pragmas, creation, version checks, migration.

    The change log is written only by triggers, so that no writer (this library, a script,
    the sqlite3 shell) can change a record without its change row, in the same transaction.
    Version 1: meta, events, press_releases, the append-only change log and its triggers.
    Version 2: record_heads (the latest change of every existing record, kept by a trigger on
    the log, so that a snapshot is an index scan), cursors, origins, an index on commit time.
    Version 3: events.people_flat, the people list flattened for the scans (see
    S_PEOPLE_FLAT), backfilled, and kept right for every writer by a trigger.
    Version 4: changes.record_rowid, where the record's row is, for the scans (see s_v4).
    Version 5: every change row holds its record's image as that change left it (see s_v5);
    the scans read the log alone, and record_rowid is no longer written.
    Version 6: the change log takes one kind of delete, compaction's (see s_v6).
    Version 7: record_heads and its trigger are gone: the images made them redundant, and
    keeping them cost each change a third of its insert time (see s_v7).

    Opening a store (schema_open) lives here too: the pragmas, creating a new store, checking
    an existing one's version and migrating it, each failure with its store_err_t.

    Each file knows its kind (PRAGMA application_id, store.h): checked before anything is
    written (the pragmas switch a file to WAL), set when a store or a mirror is created, and
    given to a file of an older Herald on its first read-write open.
*/
#include "store_private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*  Milliseconds since the epoch, exact: %s gives whole seconds, %f gives "SS.SSS". */
#define S_NOW_MS                                                                                   \
    "(CAST(strftime('%s','now') AS INTEGER) * 1000"                                                \
    " + CAST(substr(strftime('%f','now'), 4) AS INTEGER))"

#define S_EVENT_DIFFERS                                                                            \
    "(new.kind IS NOT old.kind OR new.title IS NOT old.title"                                      \
    " OR new.start_date IS NOT old.start_date OR new.end_date IS NOT old.end_date"                 \
    " OR new.city IS NOT old.city OR new.country IS NOT old.country"                               \
    " OR new.summary IS NOT old.summary OR new.url IS NOT old.url"                                 \
    " OR new.status IS NOT old.status OR new.cancel_reason IS NOT old.cancel_reason"               \
    " OR new.people IS NOT old.people)"

#define S_PRESS_DIFFERS                                                                            \
    "(new.event_id IS NOT old.event_id OR new.title IS NOT old.title"                              \
    " OR new.published_on IS NOT old.published_on OR new.url IS NOT old.url"                       \
    " OR new.summary IS NOT old.summary)"

/*  An event's people as the scans read them: name, char(31), role per person, persons joined
    by char(30); '' when there are none. store.c computes the same text in C (s_people_flat)
    when it writes an event; both must change together. */
#define S_PEOPLE_FLAT(people)                                                                      \
    "coalesce((SELECT group_concat(coalesce(json_extract(value, '$.name'), '') || char(31)"        \
    " || coalesce(json_extract(value, '$.role'), ''), char(30)) FROM json_each(" people ")), '')"

#define S_EVENT_TOPIC(row) "'event.' || " row ".kind || '.' || " row ".country || '.'"

/*  The six triggers that write the change log, written once for two migrations: version 1
    created them; version 4 made them note where the record's row is too (record_rowid, see
    s_v4). col is "" or ", record_rowid"; new_rowid and old_rowid are "" or the value, after a
    comma. */
#define S_EVENTS_AI_SQL(col, new_rowid)                                                            \
    "CREATE TRIGGER events_ai AFTER INSERT ON events BEGIN"                                        \
    " UPDATE events SET version = 1 WHERE rowid = new.rowid AND version IS NOT 1;"                 \
    " INSERT INTO changes (record_type, record_id, change, committed_at_ms, topic" col ")"         \
    " VALUES ('event', new.id, 'created', " S_NOW_MS ", " S_EVENT_TOPIC("new") new_rowid ");"      \
                                                                                         " END;"
#define S_EVENTS_AU_SQL(col, new_rowid)                                                            \
    "CREATE TRIGGER events_au AFTER UPDATE ON events"                                              \
    " WHEN " S_EVENT_DIFFERS " OR (new.version IS NOT old.version AND new.version IS NOT 1)"       \
    " BEGIN"                                                                                       \
    " UPDATE events SET version = CASE WHEN " S_EVENT_DIFFERS                                      \
    "  THEN old.version + 1 ELSE old.version END WHERE rowid = new.rowid;"                         \
    " INSERT INTO changes (record_type, record_id, change, committed_at_ms, topic" col ")"         \
    " SELECT 'event', new.id,"                                                                     \
    "  CASE WHEN old.status = 'scheduled' AND new.status = 'cancelled'"                            \
    "  THEN 'cancelled' ELSE 'updated' END,"                                                       \
    "  " S_NOW_MS ", " S_EVENT_TOPIC("new") new_rowid " WHERE " S_EVENT_DIFFERS ";"                \
                                                      " END;"
#define S_EVENTS_AD_SQL(col, old_rowid)                                                            \
    "CREATE TRIGGER events_ad AFTER DELETE ON events BEGIN"                                        \
    " INSERT INTO changes (record_type, record_id, change, committed_at_ms, topic" col ")"         \
    " VALUES ('event', old.id, 'deleted', " S_NOW_MS ", " S_EVENT_TOPIC("old") old_rowid ");"      \
                                                                                         " END;"
#define S_PRESS_AI_SQL(col, new_rowid)                                                             \
    "CREATE TRIGGER press_releases_ai AFTER INSERT ON press_releases BEGIN"                        \
    " INSERT INTO changes (record_type, record_id, change, committed_at_ms, topic" col ")"         \
    " VALUES ('press_release', new.id, 'created', " S_NOW_MS ", 'press.'" new_rowid ");"           \
    " END;"
#define S_PRESS_AU_SQL(col, new_rowid)                                                             \
    "CREATE TRIGGER press_releases_au AFTER UPDATE ON press_releases"                              \
    " WHEN " S_PRESS_DIFFERS " BEGIN"                                                              \
    " INSERT INTO changes (record_type, record_id, change, committed_at_ms, topic" col ")"         \
    " VALUES ('press_release', new.id, 'updated', " S_NOW_MS ", 'press.'" new_rowid ");"           \
    " END;"
#define S_PRESS_AD_SQL(col, old_rowid)                                                             \
    "CREATE TRIGGER press_releases_ad AFTER DELETE ON press_releases BEGIN"                        \
    " INSERT INTO changes (record_type, record_id, change, committed_at_ms, topic" col ")"         \
    " VALUES ('press_release', old.id, 'deleted', " S_NOW_MS ", 'press.'" old_rowid ");"           \
    " END;"

#define S_CHANGES_NO_UPDATE                                                                        \
    "CREATE TRIGGER changes_no_update BEFORE UPDATE ON changes BEGIN"                              \
    " SELECT RAISE(ABORT, 'the change log is append-only: UPDATE on changes refused');"            \
    " END;"

static const char *s_v1 =
    "CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);"

    "CREATE TABLE events ("
    " id TEXT PRIMARY KEY NOT NULL CHECK (length(id) BETWEEN 1 AND 200),"
    " kind TEXT NOT NULL CHECK (kind <> '' AND kind NOT GLOB '*[^a-z0-9-]*'),"
    " title TEXT NOT NULL CHECK (title <> ''),"
    " start_date TEXT NOT NULL CHECK (date(start_date, '+0 days') IS start_date),"
    " end_date TEXT NOT NULL CHECK (date(end_date, '+0 days') IS end_date"
    "  AND end_date >= start_date),"
    " city TEXT NOT NULL DEFAULT '',"
    " country TEXT NOT NULL CHECK (country GLOB '[A-Z][A-Z]'),"
    " summary TEXT NOT NULL DEFAULT '',"
    " url TEXT NOT NULL DEFAULT '',"
    " status TEXT NOT NULL DEFAULT 'scheduled' CHECK (status IN ('scheduled', 'cancelled')),"
    " cancel_reason TEXT NOT NULL DEFAULT '',"
    " people TEXT NOT NULL DEFAULT '[]'"
    "  CHECK (json_valid(people) AND json_type(people) = 'array'),"
    " version INTEGER NOT NULL DEFAULT 1"
    ");"

    "CREATE TABLE press_releases ("
    " id TEXT PRIMARY KEY NOT NULL CHECK (length(id) BETWEEN 1 AND 200),"
    " event_id TEXT REFERENCES events(id),"
    " title TEXT NOT NULL CHECK (title <> ''),"
    " published_on TEXT NOT NULL CHECK (date(published_on, '+0 days') IS published_on),"
    " url TEXT NOT NULL DEFAULT '',"
    " summary TEXT NOT NULL DEFAULT ''"
    ");"
    "CREATE INDEX press_releases_event ON press_releases(event_id);"

    "CREATE TABLE changes ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " record_type TEXT NOT NULL CHECK (record_type IN ('event', 'press_release')),"
    " record_id TEXT NOT NULL,"
    " change TEXT NOT NULL CHECK (change IN ('created', 'updated', 'cancelled', 'deleted')),"
    " committed_at_ms INTEGER NOT NULL,"
    " topic TEXT NOT NULL"
    ");" S_CHANGES_NO_UPDATE "CREATE TRIGGER changes_no_delete BEFORE DELETE ON changes BEGIN"
    " SELECT RAISE(ABORT, 'the change log is append-only: DELETE on changes refused');"
    " END;"

    /* Ids are stable: renaming would hide a delete and a create in one update. */
    "CREATE TRIGGER events_id_stable BEFORE UPDATE OF id ON events"
    " WHEN new.id IS NOT old.id BEGIN"
    " SELECT RAISE(ABORT, 'event ids are stable: delete and create instead');"
    " END;"
    "CREATE TRIGGER press_releases_id_stable BEFORE UPDATE OF id ON press_releases"
    " WHEN new.id IS NOT old.id BEGIN"
    " SELECT RAISE(ABORT, 'press release ids are stable: delete and create instead');"
    " END;"

    /* The version is the store's: 1 on insert whatever the writer said. */
    S_EVENTS_AI_SQL("", "")
    /* One trigger for content and version: its own UPDATE does not fire it again
       (recursive_triggers is off, and even on, the second pass changes nothing). A
       version of 1 is let through because events_ai writes it. */
    S_EVENTS_AU_SQL("", "") S_EVENTS_AD_SQL("", "") S_PRESS_AI_SQL("", "") S_PRESS_AU_SQL("", "")
        S_PRESS_AD_SQL("", "");

static const char *s_v2 =
    "CREATE TABLE record_heads ("
    " record_type TEXT NOT NULL,"
    " record_id TEXT NOT NULL,"
    " seq INTEGER NOT NULL,"
    " PRIMARY KEY (record_type, record_id)"
    ") WITHOUT ROWID;"
    "CREATE INDEX record_heads_seq ON record_heads(seq);"
    "INSERT INTO record_heads (record_type, record_id, seq)"
    " SELECT record_type, record_id, max(seq) FROM changes"
    " WHERE (record_type = 'event' AND record_id IN (SELECT id FROM events))"
    "  OR (record_type = 'press_release' AND record_id IN (SELECT id FROM press_releases))"
    " GROUP BY record_type, record_id;"

    /* Every change row, whoever wrote it, moves its record's head in the same statement.
       Delete and insert rather than INSERT OR REPLACE: an outer upsert would override the
       trigger's conflict clause. */
    "CREATE TRIGGER changes_heads AFTER INSERT ON changes BEGIN"
    " DELETE FROM record_heads"
    "  WHERE record_type = new.record_type AND record_id = new.record_id;"
    " INSERT INTO record_heads (record_type, record_id, seq)"
    "  SELECT new.record_type, new.record_id, new.seq WHERE new.change <> 'deleted';"
    " END;"

    "CREATE TABLE cursors ("
    " name TEXT PRIMARY KEY NOT NULL,"
    " seq INTEGER NOT NULL,"
    " stream_id TEXT"
    ");"
    "CREATE TABLE origins ("
    " record_type TEXT NOT NULL CHECK (record_type IN ('event', 'press_release')),"
    " record_id TEXT NOT NULL,"
    " seq INTEGER NOT NULL,"
    " PRIMARY KEY (record_type, record_id)"
    ") WITHOUT ROWID;"
    "CREATE INDEX changes_committed_at ON changes(committed_at_ms);";

/*  people_flat is derived, not content: it is not in S_EVENT_DIFFERS, so writing it alone
    writes no change row and leaves version alone. The library writes the right value with
    the record, so the triggers' WHEN is false and the body never runs; the WHEN costs one
    flattening per insert, and per update only when people or people_flat changed (an upsert
    that leaves both as they were keeps a row that was right). Raw SQL writers (the sqlite3
    shell, scripts) get the column written by the triggers. people_flat is in the column list
    so that a writer setting it by hand is corrected too; the trigger's own UPDATE does not
    fire it again (recursive_triggers is off, and even on, the WHEN is then false). */
/* clang-format off */
static const char *s_v3 =
    "ALTER TABLE events ADD COLUMN people_flat TEXT NOT NULL DEFAULT '';"
    "UPDATE events SET people_flat = " S_PEOPLE_FLAT("people") ";"
    "CREATE TRIGGER events_people_flat_ai AFTER INSERT ON events"
    " WHEN new.people_flat IS NOT " S_PEOPLE_FLAT("new.people") " BEGIN"
    " UPDATE events SET people_flat = " S_PEOPLE_FLAT("new.people") " WHERE rowid = new.rowid;"
    " END;"
    "CREATE TRIGGER events_people_flat_au AFTER UPDATE OF people, people_flat ON events"
    " WHEN (new.people IS NOT old.people OR new.people_flat IS NOT old.people_flat)"
    "  AND new.people_flat IS NOT " S_PEOPLE_FLAT("new.people") " BEGIN"
    " UPDATE events SET people_flat = " S_PEOPLE_FLAT("new.people") " WHERE rowid = new.rowid;"
    " END;";
/* clang-format on */

/*  Each change row notes the rowid of its record's row, so that the scans reach the record
    with one integer seek instead of a text seek in the id index and then the row: the larger
    part of a scan's cost. A rowid is only a hint. The scans check that the row holds the
    change's record id, and look the record up by id when it does not (a VACUUM may renumber
    rows, and a deleted record's rowid may be reused or its id created again). The log is
    append-only, so the backfill lifts the guard for its own statement only. */
/* clang-format off */
static const char *s_v4 =
    "ALTER TABLE changes ADD COLUMN record_rowid INTEGER;"
    "DROP TRIGGER changes_no_update;"
    "UPDATE changes SET record_rowid ="
    " (SELECT rowid FROM events WHERE id = changes.record_id) WHERE record_type = 'event';"
    "UPDATE changes SET record_rowid ="
    " (SELECT rowid FROM press_releases WHERE id = changes.record_id)"
    " WHERE record_type = 'press_release';"
    S_CHANGES_NO_UPDATE
    "DROP TRIGGER events_ai; DROP TRIGGER events_au; DROP TRIGGER events_ad;"
    "DROP TRIGGER press_releases_ai; DROP TRIGGER press_releases_au;"
    "DROP TRIGGER press_releases_ad;"
    S_EVENTS_AI_SQL(", record_rowid", ", new.rowid")
    S_EVENTS_AU_SQL(", record_rowid", ", new.rowid")
    S_EVENTS_AD_SQL(", record_rowid", ", old.rowid")
    S_PRESS_AI_SQL(", record_rowid", ", new.rowid")
    S_PRESS_AU_SQL(", record_rowid", ", new.rowid")
    S_PRESS_AD_SQL(", record_rowid", ", old.rowid");
/* clang-format on */

/*  The image: the record's columns copied into its change row by the trigger that writes
    the row, in the same statement as the edit, so that every writer (this library, a
    script, the sqlite3 shell) leaves the change as it was for the live feed and every replay
    (the outbox pattern). The event and press columns share title, url and summary; a change
    has an image when its title is not NULL (a record's title never is): DELETED rows have
    none, nor do the changes a version 4 store had already superseded when it was migrated
    (their state was never kept; the protocol sends them id-only).

    An event's image is read back from its row after the trigger's own fix-ups (the version
    the store keeps, people_flat for writers that do not set it), which are folded into the
    same trigger so that the image is right whatever order SQLite fires triggers in: version
    3's people_flat triggers are gone, events_au covers a people_flat written alone. A press
    release has no fix-up: its image is new.*. */
#define S_IMAGE_EVENT_COLS                                                                         \
    "kind, title, start_date, end_date, city, country, summary, url, status, cancel_reason,"       \
    " people_flat, version"
#define S_IMAGE_PRESS_COLS "event_id, title, published_on, url, summary"
#define S_CHANGE_COLS "record_type, record_id, change, committed_at_ms, topic"

/* clang-format off */
static const char *s_v5 =
    "ALTER TABLE changes ADD COLUMN kind TEXT;"
    "ALTER TABLE changes ADD COLUMN title TEXT;"
    "ALTER TABLE changes ADD COLUMN start_date TEXT;"
    "ALTER TABLE changes ADD COLUMN end_date TEXT;"
    "ALTER TABLE changes ADD COLUMN city TEXT;"
    "ALTER TABLE changes ADD COLUMN country TEXT;"
    "ALTER TABLE changes ADD COLUMN summary TEXT;"
    "ALTER TABLE changes ADD COLUMN url TEXT;"
    "ALTER TABLE changes ADD COLUMN status TEXT;"
    "ALTER TABLE changes ADD COLUMN cancel_reason TEXT;"
    "ALTER TABLE changes ADD COLUMN people_flat TEXT;"
    "ALTER TABLE changes ADD COLUMN version INTEGER;"
    "ALTER TABLE changes ADD COLUMN event_id TEXT;"
    "ALTER TABLE changes ADD COLUMN published_on TEXT;"
    /* The latest change of each existing record left it as it is now; older ones are lost. */
    "DROP TRIGGER changes_no_update;"
    "UPDATE changes SET (" S_IMAGE_EVENT_COLS ") = (SELECT " S_IMAGE_EVENT_COLS
    " FROM events e WHERE e.id = changes.record_id)"
    " WHERE seq IN (SELECT seq FROM record_heads WHERE record_type = 'event');"
    "UPDATE changes SET (" S_IMAGE_PRESS_COLS ") = (SELECT " S_IMAGE_PRESS_COLS
    " FROM press_releases p WHERE p.id = changes.record_id)"
    " WHERE seq IN (SELECT seq FROM record_heads WHERE record_type = 'press_release');"
    S_CHANGES_NO_UPDATE
    "DROP TRIGGER events_ai; DROP TRIGGER events_au; DROP TRIGGER events_ad;"
    "DROP TRIGGER press_releases_ai; DROP TRIGGER press_releases_au;"
    "DROP TRIGGER press_releases_ad;"
    "DROP TRIGGER events_people_flat_ai; DROP TRIGGER events_people_flat_au;"

    /* The version is the store's (1 on insert whatever the writer said), people_flat is
       derived from people; the WHERE leaves the row alone when both are right already (the
       library writes them right). */
    "CREATE TRIGGER events_ai AFTER INSERT ON events BEGIN"
    " UPDATE events SET version = 1, people_flat = " S_PEOPLE_FLAT("new.people")
    "  WHERE rowid = new.rowid AND (new.version IS NOT 1"
    "  OR new.people_flat IS NOT " S_PEOPLE_FLAT("new.people") ");"
    " INSERT INTO changes (" S_CHANGE_COLS ", " S_IMAGE_EVENT_COLS ")"
    " SELECT 'event', id, 'created', " S_NOW_MS ", " S_EVENT_TOPIC("e") ", " S_IMAGE_EVENT_COLS
    "  FROM events e WHERE rowid = new.rowid;"
    " END;"
    /* Content, version and people_flat in one trigger: its own UPDATE does not fire it again
       (recursive_triggers is off, and even on, the second pass changes nothing). A version
       of 1 is let through because events_ai writes it (its UPDATE may fire this trigger
       for people_flat); people_flat is derived, not content:
       writing it alone writes no change row, it is only set right. */
    "CREATE TRIGGER events_au AFTER UPDATE ON events"
    " WHEN " S_EVENT_DIFFERS " OR (new.version IS NOT old.version AND new.version IS NOT 1)"
    "  OR new.people_flat IS NOT old.people_flat"
    " BEGIN"
    " UPDATE events SET version = CASE WHEN " S_EVENT_DIFFERS
    "  THEN old.version + 1 WHEN new.version IS 1 THEN 1 ELSE old.version END,"
    "  people_flat = CASE WHEN new.people IS NOT old.people"
    "  OR new.people_flat IS NOT old.people_flat"
    "  THEN " S_PEOPLE_FLAT("new.people") " ELSE old.people_flat END"
    "  WHERE rowid = new.rowid;"
    " INSERT INTO changes (" S_CHANGE_COLS ", " S_IMAGE_EVENT_COLS ")"
    " SELECT 'event', id,"
    "  CASE WHEN old.status = 'scheduled' AND new.status = 'cancelled'"
    "  THEN 'cancelled' ELSE 'updated' END,"
    "  " S_NOW_MS ", " S_EVENT_TOPIC("e") ", " S_IMAGE_EVENT_COLS
    "  FROM events e WHERE rowid = new.rowid AND " S_EVENT_DIFFERS ";"
    " END;"
    "CREATE TRIGGER events_ad AFTER DELETE ON events BEGIN"
    " INSERT INTO changes (" S_CHANGE_COLS ")"
    " VALUES ('event', old.id, 'deleted', " S_NOW_MS ", " S_EVENT_TOPIC("old") ");"
    " END;"
    "CREATE TRIGGER press_releases_ai AFTER INSERT ON press_releases BEGIN"
    " INSERT INTO changes (" S_CHANGE_COLS ", " S_IMAGE_PRESS_COLS ")"
    " VALUES ('press_release', new.id, 'created', " S_NOW_MS ", 'press.', new.event_id,"
    "  new.title, new.published_on, new.url, new.summary);"
    " END;"
    "CREATE TRIGGER press_releases_au AFTER UPDATE ON press_releases"
    " WHEN " S_PRESS_DIFFERS " BEGIN"
    " INSERT INTO changes (" S_CHANGE_COLS ", " S_IMAGE_PRESS_COLS ")"
    " VALUES ('press_release', new.id, 'updated', " S_NOW_MS ", 'press.', new.event_id,"
    "  new.title, new.published_on, new.url, new.summary);"
    " END;"
    "CREATE TRIGGER press_releases_ad AFTER DELETE ON press_releases BEGIN"
    " INSERT INTO changes (" S_CHANGE_COLS ")"
    " VALUES ('press_release', old.id, 'deleted', " S_NOW_MS ", 'press.');"
    " END;"
    /* Each record's changes in order, so that a snapshot as of a seq finds whether a change
       was superseded by then with one seek (store_snapshot_at). */
    "CREATE INDEX changes_record ON changes(record_id, seq);";
/* clang-format on */

/*  Compaction (store_compact) is the only delete the change log takes. While it runs, its
    transaction holds meta 'compacting_before' = H (removed before it commits); a row may go
    only when its seq is below H and it is a deletion or a later change of the same record
    below H supersedes it. Any other DELETE, from any writer, is refused as before, and even a
    writer that sets the key by hand can remove no more than a compaction would: the log
    below H then still holds every record's state as it stood at H - 1. The condition costs
    one seek in changes_record per row deleted. meta 'compacted_before' keeps the highest
    horizon compacted (changes_compacted): the log is whole from there on. */
#define S_COMPACTING_BEFORE                                                                        \
    "coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'compacting_before'), 0)"

/* clang-format off */
static const char *s_v6 =
    "DROP TRIGGER changes_no_delete;"
    "CREATE TRIGGER changes_no_delete BEFORE DELETE ON changes"
    " WHEN NOT (old.seq < " S_COMPACTING_BEFORE
    "  AND (old.change = 'deleted' OR EXISTS (SELECT 1 FROM changes d INDEXED BY changes_record"
    "  WHERE d.record_id = old.record_id AND d.record_type = old.record_type"
    "  AND d.seq > old.seq AND d.seq < " S_COMPACTING_BEFORE ")))"
    " BEGIN"
    " SELECT RAISE(ABORT, 'the change log is append-only: DELETE on changes refused"
    " (herald-store compact removes superseded history)');"
    " END;"
    /* Whoever deletes, the horizon is recorded in the same statement: a replay from below it
       is refused from then on (only the first row deleted writes it). */
    "CREATE TRIGGER changes_compacted AFTER DELETE ON changes"
    " WHEN coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'compacted_before'), 0)"
    "  < " S_COMPACTING_BEFORE " BEGIN"
    " INSERT OR REPLACE INTO meta (key, value)"
    "  VALUES ('compacted_before', CAST(" S_COMPACTING_BEFORE " AS TEXT));"
    " END;";
/* clang-format on */

/*  A record's latest change is found in the log itself since version 5 (changes_record, the
    index on record_id and seq the as-of snapshot reads), so the current snapshot is the
    snapshot as of the head (store.c). Keeping record_heads meant a delete and an insert in a
    table and its seq index with every change: measured with 200,000 SQL inserts, a third of
    the CPU an insert took, more than the images added (docs/performance.md). */
static const char *s_v7 = "DROP TRIGGER changes_heads;"
                          "DROP TABLE record_heads;";

int schema_apply(sqlite3 *db, int version, char *err, size_t errlen)
{
    const char *sql = NULL;
    switch (version) {
    case 1:
        sql = s_v1;
        break;
    case 2:
        sql = s_v2;
        break;
    case 3:
        sql = s_v3;
        break;
    case 4:
        sql = s_v4;
        break;
    case 5:
        sql = s_v5;
        break;
    case 6:
        sql = s_v6;
        break;
    case 7:
        sql = s_v7;
        break;
    default:
        snprintf(err, errlen, "no migration to schema version %d", version);
        return -1;
    }
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "migration to schema version %d: %s", version,
                 msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return -1;
    }
    char pragma[64];
    snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", version);
    if (sqlite3_exec(db, pragma, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "setting schema version %d: %s", version,
                 msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

/*  Opening: the pragmas, then a new store's schema, or an existing one's version checked and
    migrated. Every failure says which kind it is (store_err_t) and names the path. */

#define S_ERRLEN 512

/*  Sets *code to value and err to fmt's words; returns -1. */
static int s_fail(store_err_t *code, store_err_t value, char *err, size_t errlen, const char *fmt,
                  ...) __attribute__((format(printf, 5, 6)));

static int s_fail(store_err_t *code, store_err_t value, char *err, size_t errlen, const char *fmt,
                  ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    *code = value;
    return -1;
}

/*  The code of db's last error. */
static store_err_t s_db_code(sqlite3 *db)
{
    return store_err_from_sqlite(sqlite3_extended_errcode(db));
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

int schema_exec(sqlite3 *db, const char *sql, const char *what, char *err, size_t errlen)
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

static int s_create_kind(sqlite3 *db, int32_t appid, char *err, size_t errlen);

/*  The rest of the transaction the caller began, for both ways to a current store: the
    migrations after version from up to version to, then (when creating: uuid not NULL) the
    new store's stream id and kind, then COMMIT. 0, or -1 rolled back with "cannot VERB store
    PATH: why" in err. */
static int s_upgrade(sqlite3 *db, const char *path, int from, int to, const char *uuid,
                     int32_t appid, store_err_t *code, char *err, size_t errlen)
{
    char why[S_ERRLEN];
    int rc = 0;
    for (int v = from + 1; rc == 0 && v <= to; v++) {
        rc = schema_apply(db, v, why, sizeof why);
    }
    if (rc == 0 && uuid) {
        char sql[256];
        snprintf(sql, sizeof sql,
                 "INSERT INTO meta (key, value) VALUES ('stream_id', '%s'),"
                 " ('created_at', strftime('%%Y-%%m-%%dT%%H:%%M:%%fZ', 'now'))",
                 uuid);
        rc = schema_exec(db, sql, "writing meta", why, sizeof why);
        rc = rc == 0 ? s_create_kind(db, appid, why, sizeof why) : rc;
    }
    rc = rc == 0 ? schema_exec(db, "COMMIT", "commit", why, sizeof why) : rc;
    if (rc == 0) {
        return 0;
    }
    s_fail(code, s_db_code(db), err, errlen, "cannot %s store %s: %s", uuid ? "create" : "migrate",
           path, why);
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

/*  Makes a store at schema version `version` on an empty database, in one transaction. */
static int s_create_schema(sqlite3 *db, const char *path, int version, int32_t appid,
                           store_err_t *code, char *err, size_t errlen)
{
    if (schema_exec(db, "BEGIN IMMEDIATE", "cannot create store", err, errlen) != 0) {
        *code = s_db_code(db);
        return -1;
    }
    bool empty = false;
    char uuid[40];
    if (s_is_empty(db, &empty) != 0) {
        s_fail(code, s_db_code(db), err, errlen, "cannot create store %s: %s", path,
               sqlite3_errmsg(db));
    } else if (!empty) {
        s_fail(code, STORE_ERR_EXISTS, err, errlen,
               "cannot create store %s: the file already holds a database", path);
    } else if (s_uuid4(uuid, sizeof uuid) != 0) {
        s_fail(code, STORE_ERR_IO, err, errlen, "cannot create store %s: reading /dev/urandom: %s",
               path, strerror(errno));
    } else {
        return s_upgrade(db, path, 0, version, uuid, appid, code, err, errlen);
    }
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

/*  Brings an existing store up to STORE_SCHEMA_VERSION in one transaction. */
static int s_migrate(sqlite3 *db, const char *path, store_err_t *code, char *err, size_t errlen)
{
    char why[S_ERRLEN];
    int version = 0;
    if (schema_exec(db, "BEGIN IMMEDIATE", "begin", why, sizeof why) != 0) {
        return s_fail(code, s_db_code(db), err, errlen, "cannot open store %s: %s", path, why);
    }
    /* Read again inside the transaction: another process may have migrated meanwhile. */
    if (s_user_version(db, &version) != 0) {
        s_fail(code, s_db_code(db), err, errlen, "cannot open store %s: %s", path,
               sqlite3_errmsg(db));
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return s_upgrade(db, path, version, STORE_SCHEMA_VERSION, NULL, 0, code, err, errlen);
}

/*  A reader of a WAL store needs the -shm file: it opens an existing one even read-only, but
    cannot create one in a directory it may not write (SQLITE_READONLY_CANTINIT and kin on the
    first read). Returns the first read's result. */
static int s_readonly_probe(sqlite3 *db)
{
    return sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
}

/*  The reader's way out when s_readonly_probe fails: with no -wal file, no connection has the
    store open (SQLite removes it when the last one closes, after checkpointing everything
    into the main file), so the file alone is the whole store and is opened as immutable
    (no -shm, no lock). A -wal file means a writer is there, whose -shm we could not read:
    nothing safe is left, the first error stands (SQLite's own). docs/operations.md. */
static int s_open_immutable(const char *path, sqlite3 **db)
{
    char wal[4096];
    if (snprintf(wal, sizeof wal, "%s-wal", path) >= (int) sizeof wal || access(wal, F_OK) == 0) {
        return sqlite3_open_v2(path, db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) ==
                       SQLITE_OK
                   ? s_readonly_probe(*db)
                   : sqlite3_errcode(*db);
    }
    if (strpbrk(path, "?#%")) { /* a name URI syntax would cut: keep the first error */
        sqlite3_open_v2(path, db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
        return s_readonly_probe(*db);
    }
    char *uri = sqlite3_mprintf("file:%s?immutable=1", path);
    if (!uri) {
        return SQLITE_NOMEM;
    }
    int rc = sqlite3_open_v2(uri, db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI,
                             NULL);
    sqlite3_free(uri);
    return rc == SQLITE_OK ? s_readonly_probe(*db) : rc;
}

int store_being_created(const char *path)
{
    sqlite3 *db = NULL;
    int version = 0;
    bool empty = false;
    int rc = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) == SQLITE_OK &&
        s_user_version(db, &version) == 0 && s_is_empty(db, &empty) == 0) {
        rc = version == 0 && empty;
    } else if (db && sqlite3_errcode(db) == SQLITE_NOTADB) {
        rc = 0;
    }
    sqlite3_close(db);
    return rc;
}

const char *store_kind_name(int32_t application_id)
{
    switch (application_id) {
    case STORE_APPID_EVENTS:
        return "an event store";
    case STORE_APPID_MIRROR:
        return "a mirror";
    case STORE_APPID_STATE:
        return "a subscriber state file";
    default:
        return NULL;
    }
}

/*  Sets the kind of the file being created (its transaction decides). */
static int s_create_kind(sqlite3 *db, int32_t appid, char *err, size_t errlen)
{
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA application_id = %d", (int) appid);
    return schema_exec(db, sql, "application_id", err, errlen);
}

static int s_pragma_int(sqlite3 *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        return -1;
    }
    int rc = sqlite3_step(stmt);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : 0;
    sqlite3_finalize(stmt);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/*  Checks, reading only, that the file at db is of the kind mode opens (an event store or a
    mirror; a mirror for STORE_MIRROR), or blank, or a store of an older Herald without a
    kind. *appid gets its application_id. 0, or -1 with STORE_ERR_NOT_STORE and what the file
    is. */
static int s_check_kind(sqlite3 *db, const char *path, store_mode_t mode, int32_t *appid,
                        store_err_t *code, char *err, size_t errlen)
{
    int64_t id = 0, tables = 0, herald = 0, publisher = 0;
    if (s_pragma_int(db, "PRAGMA application_id", &id) != 0) {
        if ((sqlite3_extended_errcode(db) & 0xff) == SQLITE_NOTADB) {
            return s_fail(code, STORE_ERR_NOT_STORE, err, errlen,
                          "%s is not a Herald event store: not an SQLite database at all", path);
        }
        return s_fail(code, s_db_code(db), err, errlen, "cannot open store %s: %s", path,
                      sqlite3_errmsg(db));
    }
    *appid = (int32_t) id;
    const char *kind = store_kind_name((int32_t) id);
    if (id == STORE_APPID_STATE) {
        return s_fail(code, STORE_ERR_NOT_STORE, err, errlen,
                      "%s is %s, not an event store or a mirror", path, kind);
    }
    if (id != 0 && !kind) {
        return s_fail(code, STORE_ERR_NOT_STORE, err, errlen,
                      "%s is not a Herald database: another program's SQLite file"
                      " (application_id 0x%08x)",
                      path, (unsigned) id);
    }
    if (mode == STORE_MIRROR && id == STORE_APPID_EVENTS) {
        return s_fail(code, STORE_ERR_NOT_STORE, err, errlen,
                      "%s is an event store, not a mirror: give --mirror-db a file of its own"
                      " (it is created when missing)",
                      path);
    }
    if (id != 0) {
        return 0;
    }
    if (s_pragma_int(db, "SELECT count(*) FROM sqlite_master", &tables) != 0 ||
        s_pragma_int(db,
                     "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND"
                     " name IN ('meta', 'changes', 'events')",
                     &herald) != 0) {
        return s_fail(code, s_db_code(db), err, errlen, "cannot open store %s: %s", path,
                      sqlite3_errmsg(db));
    }
    if (tables == 0) {
        return 0; /* blank: created, or refused as not a store, by the caller */
    }
    if (herald != 3) {
        return s_fail(code, STORE_ERR_NOT_STORE, err, errlen, "%s is not a Herald event store: %s",
                      path,
                      s_pragma_int(db,
                                   "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
                                   " AND name = 'state'",
                                   &herald) == 0 &&
                              herald
                          ? "it is a subscriber state file"
                          : "an SQLite database of other tables");
    }
    /* An older Herald's store: a mirror never holds the publisher's cursor. */
    if (mode == STORE_MIRROR &&
        s_pragma_int(db,
                     "SELECT count(*) FROM sqlite_master WHERE name = 'cursors' AND"
                     " EXISTS (SELECT 1 FROM cursors WHERE name = 'publisher')",
                     &publisher) == 0 &&
        publisher) {
        return s_fail(code, STORE_ERR_NOT_STORE, err, errlen,
                      "%s is an event store (a publisher has published it), not a mirror:"
                      " give --mirror-db a file of its own (it is created when missing)",
                      path);
    }
    return 0;
}

/*  SQLite calls this after each commit of the connection, once the commit is visible to the
    other connections and its write lock is released (sqlite3_wal_hook), with the -wal's
    length in pages. A publisher's inotify sees the -wal written before its fsync, when the
    commit is not visible yet, and nothing after: the touch (the -wal's times set to now, an
    IN_ATTRIB event) tells it the moment the commit is there, so it need not poll for it.
    Best effort: a touch refused changes nothing but that wait. Then what SQLite's own hook
    does for wal_autocheckpoint: a passive checkpoint once the -wal holds pages pages. */
static int s_committed(void *arg, sqlite3 *db, const char *name, int pages)
{
    const char *file = sqlite3_db_filename(db, name);
    const char *wal = file && *file ? sqlite3_filename_wal(file) : NULL;
    if (wal && *wal) {
        (void) utimensat(AT_FDCWD, wal, NULL, 0);
    }
    int threshold = (int) (intptr_t) arg;
    if (threshold > 0 && pages >= threshold) {
        (void) sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    }
    return SQLITE_OK;
}

void schema_commit_hook(sqlite3 *db, int pages)
{
    sqlite3_wal_hook(db, s_committed, (void *) (intptr_t) (pages > 0 ? pages : 0));
}

#define S_STR2(x) #x
#define S_STR(x) S_STR2(x)

/*  Opens the connection and sets the pragmas. */
static sqlite3 *s_open_db(const char *path, store_mode_t mode, store_mode_t kind_mode,
                          store_err_t *code, char *err, size_t errlen)
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
    int rc = sqlite3_open_v2(path, &db, flags, store_vfs());
    if (rc == SQLITE_OK && mode == STORE_READONLY && s_readonly_probe(db) != SQLITE_OK) {
        sqlite3_close(db);
        db = NULL;
        rc = s_open_immutable(path, &db);
    }
    if (rc != SQLITE_OK) {
        s_fail(code, store_err_from_sqlite(db ? sqlite3_extended_errcode(db) : rc), err, errlen,
               "cannot open store %s: %s", path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, 5000);
    int32_t appid = 0;
    if (mode != STORE_CREATE && s_check_kind(db, path, kind_mode, &appid, code, err, errlen) != 0) {
        sqlite3_close(db);
        return NULL;
    }
    char why[S_ERRLEN];
    /* A new store gets pages of STORE_PAGE_SIZE before WAL fixes them (an existing one
       keeps its own: the pragma does nothing on a file that has pages). The -wal file is
       bounded: a checkpoint every STORE_CHECKPOINT_PAGES (schema_commit_hook) and cut back to
       2 MiB after one that restarts it; it still holds the largest transaction whole. */
    const char *pragmas =
        mode == STORE_READONLY ? "PRAGMA foreign_keys = ON;"
        : mode == STORE_CREATE
            ? "PRAGMA page_size = " S_STR(
                  STORE_PAGE_SIZE) ";"
                                   " PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                                   " PRAGMA journal_size_limit = 2097152;"
                                   " PRAGMA foreign_keys = ON;"
            : "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
              " PRAGMA journal_size_limit = 2097152; PRAGMA foreign_keys = ON;";
    if (schema_exec(db, pragmas, "pragmas", why, sizeof why) != 0) {
        s_fail(code, s_db_code(db), err, errlen, "cannot open store %s: %s", path,
               sqlite3_errmsg(db)); /* SQLite's words, not our "pragmas" */
        sqlite3_close(db);
        return NULL;
    }
    if (mode != STORE_READONLY) {
        schema_commit_hook(db, STORE_CHECKPOINT_PAGES);
    }
    return db;
}

/*  Checks an existing store's schema version; migrates an older one unless read only. */
static int s_check_version(sqlite3 *db, const char *path, store_mode_t mode, store_err_t *code,
                           char *err, size_t errlen)
{
    int version = 0;
    if (s_user_version(db, &version) != 0) {
        return s_fail(code, s_db_code(db), err, errlen, "cannot open store %s: %s", path,
                      sqlite3_errmsg(db));
    }
    if (version == 0) {
        return s_fail(code, STORE_ERR_NOT_STORE, err, errlen,
                      "cannot open store %s: not a herald store (schema version 0)", path);
    }
    if (version > STORE_SCHEMA_VERSION) {
        return s_fail(code, STORE_ERR_NEWER, err, errlen,
                      "store %s has schema version %d, newer than this program's %d;"
                      " upgrade herald",
                      path, version, STORE_SCHEMA_VERSION);
    }
    if (version < STORE_SCHEMA_VERSION) {
        if (mode == STORE_READONLY) {
            return s_fail(code, STORE_ERR_OLDER, err, errlen,
                          "store %s has schema version %d, older than this program's %d;"
                          " open it read-write once to migrate it"
                          " (herald-pub does, or: herald-store import /dev/null)",
                          path, version, STORE_SCHEMA_VERSION);
        }
        return s_migrate(db, path, code, err, errlen);
    }
    return 0;
}

/*  Gives a store of an older Herald, without a kind, its kind: want (s_check_kind saw that a
    mirror is not an event store). 0 or -1. */
static int s_set_kind(sqlite3 *db, const char *path, int32_t want, store_err_t *code, char *err,
                      size_t errlen)
{
    int64_t id = 0;
    char why[S_ERRLEN];
    if (s_pragma_int(db, "PRAGMA application_id", &id) != 0) {
        return s_fail(code, s_db_code(db), err, errlen, "cannot open store %s: %s", path,
                      sqlite3_errmsg(db));
    }
    if (id != 0) {
        return 0;
    }
    if (s_create_kind(db, want, why, sizeof why) != 0) {
        return s_fail(code, s_db_code(db), err, errlen, "cannot open store %s: %s", path, why);
    }
    return 0;
}

sqlite3 *schema_open(const char *path, store_mode_t mode, store_err_t *code, char *err,
                     size_t errlen)
{
    store_mode_t kind_mode = mode;
    int32_t want = mode == STORE_MIRROR ? STORE_APPID_MIRROR : STORE_APPID_EVENTS;
    bool blank_ok = mode == STORE_OPEN_OR_CREATE || mode == STORE_MIRROR;
    if (blank_ok) {
        mode = access(path, F_OK) == 0 ? STORE_OPEN : STORE_CREATE;
    }
    if (mode != STORE_CREATE) {
        struct stat st;
        if (stat(path, &st) != 0) {
            s_fail(code,
                   errno == ENOENT   ? STORE_ERR_NOT_FOUND
                   : errno == ENOMEM ? STORE_ERR_NOMEM
                                     : STORE_ERR_IO,
                   err, errlen, "cannot open store %s: %s", path, strerror(errno));
            return NULL;
        }
    }
    struct stat dir;
    if (stat(path, &dir) == 0 && S_ISDIR(dir.st_mode)) {
        s_fail(code, STORE_ERR_NOT_STORE, err, errlen,
               "cannot open store %s: is a directory (give the store's file)", path);
        return NULL;
    }
    sqlite3 *db = s_open_db(path, mode, kind_mode, code, err, errlen);
    if (!db) {
        return NULL;
    }
    /* A file without a single table holds nothing: with blank_ok it is a creation that was
       cut short (s_create_schema checks again, inside its transaction). */
    bool blank = false;
    if (mode == STORE_OPEN && blank_ok && s_is_empty(db, &blank) != 0) {
        blank = false;
    }
    int rc = mode == STORE_CREATE || blank
                 ? s_create_schema(db, path, STORE_SCHEMA_VERSION, want, code, err, errlen)
                 : s_check_version(db, path, mode, code, err, errlen);
    if (rc == 0 && mode != STORE_READONLY) {
        rc = s_set_kind(db, path, want, code, err, errlen);
    }
    if (rc != 0) {
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

int store_check_kind(const char *path, store_mode_t mode, char *err, size_t errlen)
{
    if (access(path, F_OK) != 0) {
        return 0;
    }
    sqlite3 *db = NULL;
    store_err_t code = STORE_ERR_NONE;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot open store %s: %s", path,
                 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return -2;
    }
    int32_t appid = 0;
    rc = s_check_kind(db, path, mode, &appid, &code, err, errlen);
    sqlite3_close(db);
    return rc == 0 ? 0 : code == STORE_ERR_NOT_STORE ? -1 : -2;
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
    store_err_t code = STORE_ERR_NONE;
    sqlite3 *db = s_open_db(path, STORE_CREATE, STORE_CREATE, &code, err, errlen);
    if (!db) {
        return -1;
    }
    /* an older schema is what an older Herald made: a file without a kind */
    int32_t appid = version < STORE_SCHEMA_VERSION ? 0 : STORE_APPID_EVENTS;
    int rc = s_create_schema(db, path, version, appid, &code, err, errlen);
    sqlite3_close(db);
    return rc;
}
