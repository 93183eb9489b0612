/*  store_test.c -- tests of the event store (store/): every public function, the triggers,
    the change log's guarantees, import/export, migrations and validation.

    Each test works on its own file under $HERALD_TEST_TMP (or /tmp), removed at the end.
*/
#define _GNU_SOURCE /* pipe2 */
#include "store.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>

#include "test_fixtures.h"

/*  A scratch store file name, unique per test. */
static void s_path(char *out, size_t len, const char *name)
{
    char file[256];
    snprintf(file, sizeof file, "%s.db", name);
    fixture_path(out, len, "store_test", file);
}

static store_t *s_create(const char *path)
{
    char err[512];
    store_t *store = store_new(path, STORE_CREATE, err, sizeof err);
    if (!store) {
        fail_msg("store_new(%s): %s", path, err);
    }
    return store;
}

static const store_person_t s_people[] = {
    {"Jürgen Stock", "INTERPOL Secretary General"},
    {"Jorge Fernández Díaz", "Ministro del Interior de España"},
};

static store_event_t s_event(const char *id)
{
    store_event_t ev = {.id = id,
                        .kind = "conference",
                        .title = "Global Counter-Nuclear Smuggling Conference",
                        .start_date = "2016-01-27",
                        .end_date = "2016-01-29",
                        .city = "Lyon",
                        .country = "FR",
                        .summary = "Line one\n\tindented – with ’ quotes",
                        .url = "https://www.interpol.int/x",
                        .status = "scheduled",
                        .cancel_reason = "",
                        .people = s_people,
                        .people_count = 2};
    return ev;
}

static store_press_t s_press(const char *id, const char *event_id)
{
    store_press_t pr = {.id = id,
                        .event_id = event_id,
                        .title = "Press release",
                        .published_on = "2016-01-29",
                        .url = "https://www.interpol.int/p",
                        .summary = ""};
    return pr;
}

/*  Collects scan rows (the parts tests look at). */
typedef struct {
    int n;
    int64_t seq[64];
    store_change_kind_t change[64];
    store_type_t type[64];
    bool present[64];
    char id[64][128];
    char topic[64][128];
    char first_person[64][128];
    char title[64][128];
    size_t people_count[64];
    int64_t version[64];
    int64_t ms[64];
    int stop_after; /* stop the scan after this many rows (0: never) */
} s_rows_t;

static int s_collect(const store_change_t *c, void *arg)
{
    s_rows_t *rows = arg;
    int i = rows->n++;
    assert_true(i < 64);
    rows->seq[i] = c->seq;
    rows->change[i] = c->change;
    rows->type[i] = c->type;
    rows->present[i] = c->present;
    rows->ms[i] = c->committed_at_ms;
    snprintf(rows->id[i], sizeof rows->id[i], "%s", c->record_id);
    snprintf(rows->topic[i], sizeof rows->topic[i], "%s", c->topic);
    rows->people_count[i] = c->type == STORE_EVENT ? c->event.people_count : 0;
    rows->version[i] = c->type == STORE_EVENT ? c->event.version : 0;
    snprintf(rows->title[i], sizeof rows->title[i], "%s",
             !c->present              ? ""
             : c->type == STORE_EVENT ? c->event.title
                                      : c->press.title);
    snprintf(rows->first_person[i], sizeof rows->first_person[i], "%s",
             c->type == STORE_EVENT && c->event.people_count ? c->event.people[0].name : "");
    if (c->type == STORE_EVENT) {
        assert_string_equal(c->event.id, c->record_id);
    } else {
        assert_string_equal(c->press.id, c->record_id);
    }
    return rows->stop_after && rows->n >= rows->stop_after ? 7 : 0;
}

static int64_t s_count(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *stmt = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return n;
}

/*  Runs raw SQL through a second connection, as the sqlite3 shell would. */
static int s_raw(const char *path, const char *sql, char *msg_out, size_t msglen)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (msg_out) {
        snprintf(msg_out, msglen, "%s", msg ? msg : "");
    }
    sqlite3_free(msg);
    sqlite3_close(db);
    return rc;
}

/*  The text of the first column of the first row of sql, into out ("" when NULL). */
static void s_text(const char *path, const char *sql, char *out, size_t len)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *stmt = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    const unsigned char *t = sqlite3_column_text(stmt, 0);
    snprintf(out, len, "%s", t ? (const char *) t : "");
    sqlite3_finalize(stmt);
    sqlite3_close(db);
}

/*  s_people flattened as events.people_flat holds them. */
#define S_PEOPLE_FLAT_WANT                                                                         \
    "Jürgen Stock\x1fINTERPOL Secretary General"                                                  \
    "\x1eJorge Fernández Díaz\x1fMinistro del Interior de España"

/*  The number of events whose people_flat is not what SQLite's own flattening of people
    gives (0 when the column is right everywhere). */
#define S_FLAT_WRONG                                                                               \
    "SELECT count(*) FROM events WHERE people_flat IS NOT coalesce((SELECT group_concat("          \
    "coalesce(json_extract(value, '$.name'), '') || char(31) || coalesce(json_extract(value,"      \
    " '$.role'), ''), char(30)) FROM json_each(people)), '')"

/*  The number of existing records: those whose latest change in the log is not a deletion. */
#define S_LIVE_RECORDS                                                                             \
    "SELECT count(*) FROM changes c WHERE change <> 'deleted' AND NOT EXISTS (SELECT 1"            \
    " FROM changes d WHERE d.record_id = c.record_id AND d.record_type = c.record_type"            \
    " AND d.seq > c.seq)"

static void test_validation(void **state)
{
    (void) state;
    assert_true(store_date_valid("2016-02-29"));
    assert_false(store_date_valid("2015-02-29"));
    assert_false(store_date_valid("2016-02-30"));
    assert_false(store_date_valid("2016-13-01"));
    assert_false(store_date_valid("2016-00-10"));
    assert_false(store_date_valid("2016-1-01"));
    assert_false(store_date_valid("1900-02-29"));
    assert_true(store_date_valid("2000-02-29"));
    assert_true(store_date_valid("2015-12-31"));
    assert_false(store_date_valid(""));
    assert_false(store_date_valid(NULL));

    assert_true(store_utf8_valid("Jürgen", strlen("Jürgen")));
    assert_false(store_utf8_valid("\xC3\x28", 2));
    assert_false(store_utf8_valid("\xC0\xAF", 2));         /* overlong */
    assert_false(store_utf8_valid("\xED\xA0\x80", 3));     /* surrogate */
    assert_false(store_utf8_valid("\xF4\x90\x80\x80", 4)); /* beyond U+10FFFF */
    assert_false(store_utf8_valid("\xE2\x80", 2));         /* truncated */
    assert_true(store_utf8_valid("\xF0\x9F\x98\x80", 4));

    const char *field = NULL;
    char why[256];
    store_event_t ev = s_event("e1");
    assert_int_equal(store_event_check(&ev, &field, why, sizeof why), 0);

    ev.country = "FRA";
    assert_int_equal(store_event_check(&ev, &field, why, sizeof why), -1);
    assert_string_equal(field, "country");
    assert_string_equal(why, "must be two upper-case letters (got 'FRA')");
    ev.country = "fr";
    assert_int_equal(store_event_check(&ev, &field, why, sizeof why), -1);
    ev.country = "FR";

    ev.title = "";
    assert_int_equal(store_event_check(&ev, &field, why, sizeof why), -1);
    assert_string_equal(field, "title");
    ev.title = NULL;
    assert_int_equal(store_event_check(&ev, &field, why, sizeof why), -1);
    assert_string_equal(field, "title");
    ev.title = "T";

    ev.end_date = "2016-01-26";
    assert_int_equal(store_event_check(&ev, &field, why, sizeof why), -1);
    assert_string_equal(field, "end_date");
    ev.end_date = "2016-02-30";
    assert_int_equal(store_event_check(&ev, &field, why, sizeof why), -1);
    assert_string_equal(field, "end_date");
    assert_string_equal(why, "not a date (2016-02-30)");
    ev.end_date = "2016-01-29";

    ev.start_date = "2015-02-29";
    assert_int_equal(store_event_check(&ev, &field, why, sizeof why), -1);
    assert_string_equal(field, "start_date");
    ev.start_date = "2016-01-27";

    ev.kind = "Conference";
    assert_int_equal(store_event_check(&ev, &field, why, sizeof why), -1);
    assert_string_equal(field, "kind");
    ev.kind = "working-group-meeting";
    assert_int_equal(store_event_check(&ev, &field, why, sizeof why), 0);

    ev.title = "two\nlines";
    assert_int_equal(store_event_check(&ev, &field, why, sizeof why), -1);
    assert_string_equal(field, "title");
    ev.title = "T";

    ev.summary = "bell\a";
    assert_int_equal(store_event_check(&ev, &field, why, sizeof why), -1);
    assert_string_equal(field, "summary");
    ev.summary = "ok\n\tok";

    ev.city = "Sevilla\xC3";
    assert_int_equal(store_event_check(&ev, &field, why, sizeof why), -1);
    assert_string_equal(field, "city");
    assert_string_equal(why, "not valid UTF-8");
    ev.city = "Sevilla";

    ev.status = "postponed";
    assert_int_equal(store_event_check(&ev, &field, why, sizeof why), -1);
    assert_string_equal(field, "status");
    ev.status = "scheduled";
    ev.cancel_reason = "why";
    assert_int_equal(store_event_check(&ev, &field, why, sizeof why), -1);
    assert_string_equal(field, "cancel_reason");
    ev.cancel_reason = "";

    store_person_t bad[] = {{"Name\x1f", "role"}};
    ev.people = bad;
    ev.people_count = 1;
    assert_int_equal(store_event_check(&ev, &field, why, sizeof why), -1);
    assert_string_equal(field, "people");

    store_press_t pr = s_press("p1", "");
    assert_int_equal(store_press_check(&pr, &field, why, sizeof why), 0);
    pr.published_on = "2016-02-30";
    assert_int_equal(store_press_check(&pr, &field, why, sizeof why), -1);
    assert_string_equal(field, "published_on");
    pr.published_on = "2016-02-29";
    pr.title = "";
    assert_int_equal(store_press_check(&pr, &field, why, sizeof why), -1);
    assert_string_equal(field, "title");
    pr.title = "T";
    pr.url = "ftp://x";
    assert_int_equal(store_press_check(&pr, &field, why, sizeof why), -1);
    assert_string_equal(field, "url");
}

static void test_open_create(void **state)
{
    (void) state;
    char path[1024];
    char err[512];
    s_path(path, sizeof path, "open");
    assert_null(store_new(path, STORE_OPEN, err, sizeof err));
    assert_non_null(strstr(err, path));

    store_t *store = s_create(path);
    const char *sid = store_stream_id(store);
    assert_int_equal(strlen(sid), 36);
    assert_int_equal(sid[14], '4'); /* UUID version 4 */
    assert_string_equal(store_path(store), path);
    assert_string_equal(store_error(store), "");
    assert_int_equal(store_head_seq(store), 0);
    assert_true(store_data_version(store) >= 0);
    char saved[64];
    snprintf(saved, sizeof saved, "%s", sid);
    store_destroy(&store);
    assert_null(store);
    store_destroy(&store); /* twice is fine */
    store_destroy(NULL);

    assert_null(store_new(path, STORE_CREATE, err, sizeof err));
    assert_non_null(strstr(err, "already"));

    store = store_new(path, STORE_OPEN, err, sizeof err);
    assert_non_null(store);
    assert_string_equal(store_stream_id(store), saved);
    assert_int_equal(s_count(path, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    store_destroy(&store);

    store = store_new(path, STORE_READONLY, err, sizeof err);
    assert_non_null(store);
    store_event_t ev = s_event("ro");
    assert_int_equal(store_put_event(store, &ev), -1);
    assert_true(strlen(store_error(store)) > 0);
    assert_int_equal(store_head_seq(store), 0);
    store_destroy(&store);
    fixture_remove(path);
}

static void test_triggers(void **state)
{
    (void) state;
    char path[1024];
    s_path(path, sizeof path, "triggers");
    store_t *store = s_create(path);
    store_event_t ev = s_event("e1");
    assert_int_equal(store_put_event(store, &ev), 0);
    assert_int_equal(store_head_seq(store), 1);

    store_event_t got;
    assert_int_equal(store_get_event(store, "e1", &got), 1);
    assert_int_equal(got.version, 1);
    assert_string_equal(got.status, "scheduled");
    assert_string_equal(got.summary, ev.summary);
    assert_int_equal(got.people_count, 2);
    assert_string_equal(got.people[0].name, "Jürgen Stock");
    assert_string_equal(got.people[1].name, "Jorge Fernández Díaz");
    assert_string_equal(got.people[1].role, "Ministro del Interior de España");
    assert_int_equal(store_get_event(store, "nope", &got), 0);

    /* The same record again: no change row, no new version. */
    assert_int_equal(store_put_event(store, &ev), 0);
    assert_int_equal(store_head_seq(store), 1);

    ev.title = "Renamed";
    assert_int_equal(store_put_event(store, &ev), 0);
    assert_int_equal(store_head_seq(store), 2);
    assert_int_equal(store_get_event(store, "e1", &got), 1);
    assert_int_equal(got.version, 2);
    assert_string_equal(got.title, "Renamed");

    assert_int_equal(store_cancel_event(store, "e1", "Venue unavailable"), 0);
    assert_int_equal(store_get_event(store, "e1", &got), 1);
    assert_int_equal(got.version, 3);
    assert_string_equal(got.status, "cancelled");
    assert_string_equal(got.cancel_reason, "Venue unavailable");
    assert_int_equal(store_cancel_event(store, "missing", NULL), -1);
    assert_non_null(strstr(store_error(store), "missing"));

    store_press_t pr = s_press("p1", "e1");
    assert_int_equal(store_put_press(store, &pr), 0);
    store_press_t gotp;
    assert_int_equal(store_get_press(store, "p1", &gotp), 1);
    assert_string_equal(gotp.event_id, "e1");
    assert_int_equal(store_get_press(store, "p2", &gotp), 0);
    pr.title = "New title";
    assert_int_equal(store_put_press(store, &pr), 0);
    assert_int_equal(store_put_press(store, &pr), 0); /* no-op */
    store_press_t orphan = s_press("p2", "no-such-event");
    assert_int_equal(store_put_press(store, &orphan), -1);
    assert_non_null(strstr(store_error(store), "field event_id"));

    /* An event with press releases cannot go first. */
    assert_int_equal(store_delete_event(store, "e1"), -1);
    assert_int_equal(store_delete_press(store, "p1"), 0);
    assert_int_equal(store_delete_press(store, "p1"), -1);
    assert_int_equal(store_delete_event(store, "e1"), 0);
    assert_int_equal(store_delete_event(store, "e1"), -1);

    s_rows_t rows = {0};
    assert_int_equal(store_changes(store, 0, 0, 100, s_collect, &rows), 7);
    store_change_kind_t want[] = {STORE_CREATED, STORE_UPDATED, STORE_CANCELLED, STORE_CREATED,
                                  STORE_UPDATED, STORE_DELETED, STORE_DELETED};
    store_type_t types[] = {STORE_EVENT, STORE_EVENT, STORE_EVENT, STORE_PRESS,
                            STORE_PRESS, STORE_PRESS, STORE_EVENT};
    /* Each change carries its record as it left it, though both records are gone now. */
    const char *titles[] = {"Global Counter-Nuclear Smuggling Conference",
                            "Renamed",
                            "Renamed",
                            "Press release",
                            "New title",
                            "",
                            ""};
    for (int i = 0; i < 7; i++) {
        assert_int_equal(rows.seq[i], i + 1);
        assert_int_equal(rows.change[i], want[i]);
        assert_int_equal(rows.type[i], types[i]);
        assert_int_equal(rows.present[i], want[i] != STORE_DELETED);
        assert_string_equal(rows.title[i], titles[i]);
        assert_int_equal(rows.version[i], i < 3 ? i + 1 : 0);
    }
    assert_string_equal(rows.topic[0], "event.conference.FR.");
    assert_string_equal(rows.topic[3], "press.");
    assert_string_equal(rows.topic[6], "event.conference.FR.");

    /* Raw SQL writers get change rows too, and cannot rewrite the log. */
    ev = s_event("e2");
    assert_int_equal(store_put_event(store, &ev), 0);
    store_destroy(&store);
    char msg[256];
    assert_int_equal(s_raw(path, "UPDATE events SET city = 'Paris' WHERE id = 'e2'", NULL, 0),
                     SQLITE_OK);
    assert_int_equal(s_count(path, "SELECT count(*) FROM changes WHERE record_id = 'e2'"
                                   " AND change = 'updated'"),
                     1);
    assert_int_equal(s_count(path, "SELECT version FROM events WHERE id = 'e2'"), 2);
    /* A writer's version is not taken. */
    assert_int_equal(s_raw(path, "UPDATE events SET version = 40 WHERE id = 'e2'", NULL, 0),
                     SQLITE_OK);
    assert_int_equal(s_count(path, "SELECT version FROM events WHERE id = 'e2'"), 2);
    assert_int_equal(
        s_raw(path, "UPDATE events SET title = 'X', version = 40 WHERE id = 'e2'", NULL, 0),
        SQLITE_OK);
    assert_int_equal(s_count(path, "SELECT version FROM events WHERE id = 'e2'"), 3);
    assert_int_equal(s_raw(path,
                           "INSERT INTO events (id, kind, title, start_date, end_date, country,"
                           " version) VALUES ('e3', 'course', 'T', '2016-01-01', '2016-01-01',"
                           " 'TH', 9)",
                           NULL, 0),
                     SQLITE_OK);
    assert_int_equal(s_count(path, "SELECT version FROM events WHERE id = 'e3'"), 1);
    assert_int_equal(s_raw(path, "UPDATE changes SET change = 'created'", msg, sizeof msg),
                     SQLITE_CONSTRAINT);
    assert_non_null(strstr(msg, "append-only"));
    assert_int_equal(s_raw(path, "DELETE FROM changes", msg, sizeof msg), SQLITE_CONSTRAINT);
    assert_non_null(strstr(msg, "append-only"));
    /* CHECK constraints hold for raw writers too. */
    assert_int_equal(
        s_raw(path, "UPDATE events SET end_date = '2015-01-01' WHERE id = 'e2'", NULL, 0),
        SQLITE_CONSTRAINT);
    assert_int_equal(s_raw(path, "UPDATE events SET country = 'FRA' WHERE id = 'e2'", NULL, 0),
                     SQLITE_CONSTRAINT);
    assert_int_equal(
        s_raw(path, "UPDATE events SET start_date = '2016-02-30' WHERE id = 'e2'", NULL, 0),
        SQLITE_CONSTRAINT);
    assert_int_equal(s_raw(path, "UPDATE events SET id = 'e9' WHERE id = 'e2'", NULL, 0),
                     SQLITE_CONSTRAINT);
    assert_int_equal(s_count(path, "SELECT max(seq) FROM changes"), 11);
    /* Two records, each with its latest change in the log. */
    assert_int_equal(s_count(path, S_LIVE_RECORDS), 2);
    fixture_remove(path);
}

static void test_gapless(void **state)
{
    (void) state;
    char path[1024];
    s_path(path, sizeof path, "gapless");
    store_t *store = s_create(path);
    store_event_t ev = s_event("a");
    assert_int_equal(store_put_event(store, &ev), 0);
    assert_int_equal(store_head_seq(store), 1);

    assert_int_equal(store_begin(store), 0);
    ev.id = "b";
    assert_int_equal(store_put_event(store, &ev), 0);
    ev.id = "c";
    assert_int_equal(store_put_event(store, &ev), 0);
    assert_int_equal(store_head_seq(store), 3);
    assert_int_equal(store_rollback(store), 0);
    assert_int_equal(store_head_seq(store), 1);

    ev.id = "d";
    assert_int_equal(store_begin(store), 0);
    assert_int_equal(store_put_event(store, &ev), 0);
    assert_int_equal(store_commit(store), 0);
    assert_int_equal(store_head_seq(store), 2);

    assert_int_equal(store_delete_event(store, "d"), 0);
    assert_int_equal(store_head_seq(store), 3);
    ev.id = "e";
    assert_int_equal(store_put_event(store, &ev), 0);
    assert_int_equal(store_head_seq(store), 4);
    assert_int_equal(s_count(path, "SELECT count(*) FROM changes"), 4);
    assert_int_equal(s_count(path, "SELECT max(seq) - min(seq) + 1 FROM changes"), 4);
    store_destroy(&store);
    fixture_remove(path);
}

static void test_import_bad(void **state)
{
    (void) state;
    char path[1024];
    s_path(path, sizeof path, "import_bad");
    store_t *store = s_create(path);
    assert_int_equal(store_load_sample(store), 0);
    int64_t head = store_head_seq(store);
    char err[512];
    const char *bad =
        "{\"type\":\"event\",\"id\":\"x1\",\"kind\":\"course\",\"title\":\"A\","
        "\"start_date\":\"2016-01-01\",\"end_date\":\"2016-01-02\",\"country\":\"FR\"}\n"
        "\n"
        "{\"type\":\"event\",\"id\":\"x\",\"kind\":\"course\",\"title\":\"B\","
        "\"start_date\":\"2016-13-01\",\"end_date\":\"2016-12-02\",\"country\":\"FR\"}\n";
    assert_int_equal(store_import(store, bad, strlen(bad), err, sizeof err), -1);
    assert_string_equal(err, "line 3: event 'x': field start_date: not a date (2016-13-01)");
    assert_int_equal(store_head_seq(store), head);
    store_event_t got;
    assert_int_equal(store_get_event(store, "x1", &got), 0);

    const char *unknown = "{\"type\":\"press_release\",\"id\":\"p\",\"title\":\"T\","
                          "\"published_on\":\"2016-01-01\",\"colour\":\"red\"}\n";
    assert_int_equal(store_import(store, unknown, strlen(unknown), err, sizeof err), -1);
    assert_non_null(strstr(err, "line 1"));
    assert_non_null(strstr(err, "unknown key 'colour'"));

    const char *doc = "{\"events\": [{\"id\":\"ok\",\"kind\":\"course\",\"title\":\"A\","
                      "\"start_date\":\"2016-01-01\",\"end_date\":\"2016-01-02\","
                      "\"country\":\"FR\"}, {\"id\":\"bad\",\"kind\":\"course\",\"title\":\"A\","
                      "\"start_date\":\"2016-01-01\",\"end_date\":\"2016-01-02\","
                      "\"country\":\"FRA\"}]}";
    assert_int_equal(store_import(store, doc, strlen(doc), err, sizeof err), -1);
    assert_non_null(strstr(err, "events[1]"));
    assert_non_null(strstr(err, "field country: must be two upper-case letters (got 'FRA')"));
    assert_int_equal(store_get_event(store, "ok", &got), 0);

    const char *garbage = "{\"type\":\"event\"\n";
    assert_int_equal(store_import(store, garbage, strlen(garbage), err, sizeof err), -1);
    assert_non_null(strstr(err, "line 1"));
    assert_int_equal(store_head_seq(store), head);

    /* A good NDJSON import, press release before its event, and an upsert. */
    const char *good =
        "{\"type\":\"press_release\",\"id\":\"p9\",\"event_id\":\"e9\",\"title\":\"T\","
        "\"published_on\":\"2016-01-01\"}\n"
        "{\"type\":\"event\",\"id\":\"e9\",\"kind\":\"course\",\"title\":\"A\","
        "\"start_date\":\"2016-01-01\",\"end_date\":\"2016-01-02\",\"country\":\"FR\","
        "\"status\":\"cancelled\",\"cancel_reason\":\"r\","
        "\"people\":[{\"name\":\"Jürgen Stock\",\"role\":\"\"}]}\n";
    assert_int_equal(store_import(store, good, strlen(good), err, sizeof err), 2);
    assert_int_equal(store_get_event(store, "e9", &got), 1);
    assert_string_equal(got.status, "cancelled");
    assert_string_equal(got.people[0].name, "Jürgen Stock");
    store_press_t gotp;
    assert_int_equal(store_get_press(store, "p9", &gotp), 1);
    assert_string_equal(gotp.event_id, "e9");

    /* A press release whose event never comes is named at the end. */
    const char *orphan = "{\"type\":\"press_release\",\"id\":\"p8\",\"event_id\":\"nope\","
                         "\"title\":\"T\",\"published_on\":\"2016-01-01\"}\n";
    head = store_head_seq(store);
    assert_int_equal(store_import(store, orphan, strlen(orphan), err, sizeof err), -1);
    assert_non_null(strstr(err, "line 1"));
    assert_non_null(strstr(err, "field event_id"));
    assert_int_equal(store_head_seq(store), head);
    store_destroy(&store);
    fixture_remove(path);
}

/*  What the rules of a text say, byte by byte: the reference the fast paths of record.c (16
    bytes at a time, ids and dates in one pass) are held to. */
static void s_text_reference(const char *s, bool multiline, char *why, size_t whylen)
{
    size_t len = strlen(s);
    why[0] = '\0';
    if (!store_utf8_valid(s, len)) {
        snprintf(why, whylen, "not valid UTF-8");
        return;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) s[i];
        if ((c < 0x20 || c == 0x7F) && !(multiline && (c == '\n' || c == '\t'))) {
            snprintf(why, whylen, "contains a control character (byte %zu)", i + 1);
            return;
        }
    }
}

/*  Every byte at every position of texts of 1 to 40 bytes (plain, or among two-byte
    characters), in a one-line field (title), a multiline one (summary), an id and a date: the
    verdict and the reason are the byte-by-byte ones. */
static void test_validation_every_byte(void **state)
{
    (void) state;
    char text[128], want[256], why[256];
    const char *field = NULL;
    for (int fill = 0; fill < 2; fill++) {
        for (size_t len = 1; len <= 40; len++) {
            for (size_t at = 0; at < len; at++) {
                for (int b = 1; b < 256; b++) {
                    for (size_t i = 0; i < len; i++) {
                        text[i] = fill && i % 2 ? (char) 0xA9 : fill ? (char) 0xC3 : 'a';
                    }
                    text[len] = '\0';
                    text[at] = (char) b;
                    store_event_t ev = s_event("e1");
                    ev.title = text;
                    s_text_reference(text, false, want, sizeof want);
                    int rc = store_event_check(&ev, &field, why, sizeof why);
                    assert_int_equal(rc, want[0] ? -1 : 0);
                    if (rc != 0) {
                        assert_string_equal(field, "title");
                        assert_string_equal(why, want);
                    }
                    ev = s_event("e1");
                    ev.summary = text;
                    s_text_reference(text, true, want, sizeof want);
                    rc = store_event_check(&ev, &field, why, sizeof why);
                    assert_int_equal(rc, want[0] ? -1 : 0);
                    if (rc != 0) {
                        assert_string_equal(field, "summary");
                        assert_string_equal(why, want);
                    }
                    if (fill) {
                        continue;
                    }
                    bool id_char = (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') ||
                                   (b >= '0' && b <= '9') || strchr("._~:-", b) != NULL;
                    ev = s_event(text);
                    rc = store_event_check(&ev, &field, why, sizeof why);
                    assert_int_equal(rc, id_char ? 0 : -1);
                    if (!id_char) {
                        assert_string_equal(field, "id");
                    }
                }
            }
        }
    }
    /* ids of 200 bytes pass, of 201 do not */
    memset(want, 'x', 201);
    want[200] = '\0';
    store_event_t ev = s_event(want);
    assert_int_equal(store_event_check(&ev, &field, why, sizeof why), 0);
    want[200] = 'x';
    want[201] = '\0';
    assert_int_equal(store_event_check(&ev, &field, why, sizeof why), -1);
    assert_string_equal(field, "id");
    assert_string_equal(why, "too long (201 bytes, at most 200)");
    /* dates: every byte at every position of a good one, and cut short at every length */
    for (size_t at = 0; at < 11; at++) {
        for (int b = 1; b < 256; b++) {
            snprintf(text, sizeof text, "2016-01-27");
            text[at] = (char) b;
            if (at == 10) {
                text[11] = '\0';
            }
            ev = s_event("e1");
            ev.start_date = text;
            ev.end_date = text;
            int rc = store_event_check(&ev, &field, why, sizeof why);
            bool good = at < 10 && b == "2016-01-27"[at];
            good = good || (at < 10 && b >= '0' && b <= '9' && at != 4 && at != 7 &&
                            store_date_valid(text));
            assert_int_equal(rc, good ? 0 : -1);
            if (!good) {
                assert_string_equal(field, "start_date");
                s_text_reference(text, false, want, sizeof want);
                if (strcmp(want, "not valid UTF-8") == 0) {
                    assert_string_equal(why, want);
                } else {
                    snprintf(want, sizeof want, "not a date (%s)", text);
                    assert_string_equal(why, want);
                }
            }
        }
    }
    for (size_t len = 0; len < 10; len++) {
        snprintf(text, sizeof text, "%.*s", (int) len, "2016-01-27");
        assert_false(store_date_valid(text));
    }
}

static void test_utf8(void **state)
{
    (void) state;
    char path[1024];
    s_path(path, sizeof path, "utf8");
    store_t *store = s_create(path);
    store_event_t ev = s_event("u");
    assert_int_equal(store_put_event(store, &ev), 0);
    store_event_t got;
    assert_int_equal(store_get_event(store, "u", &got), 1);
    assert_memory_equal(got.people[0].name, "J\xC3\xBCrgen Stock", 13);
    assert_string_equal(got.people[1].name, "Jorge Fern\xC3\xA1ndez D\xC3\xAD"
                                            "az");
    assert_string_equal(got.summary, "Line one\n\tindented \xE2\x80\x93 with \xE2\x80\x99 quotes");

    s_rows_t rows = {0};
    assert_int_equal(store_changes(store, 0, 0, 10, s_collect, &rows), 1);
    assert_string_equal(rows.first_person[0], "Jürgen Stock");
    assert_int_equal(rows.people_count[0], 2);

    ev.title = "Bad \xC3\x28 title";
    assert_int_equal(store_put_event(store, &ev), -1);
    assert_non_null(strstr(store_error(store), "field title: not valid UTF-8"));
    store_person_t bad[] = {{"J\xFCrgen", "latin-1"}};
    ev.title = "T";
    ev.people = bad;
    ev.people_count = 1;
    assert_int_equal(store_put_event(store, &ev), -1);
    assert_non_null(strstr(store_error(store), "field people"));
    store_press_t pr = s_press("p", "");
    pr.summary = "\xFF";
    assert_int_equal(store_put_press(store, &pr), -1);
    assert_non_null(strstr(store_error(store), "field summary"));
    assert_int_equal(store_head_seq(store), 1);
    store_destroy(&store);
    fixture_remove(path);
}

static void test_migration(void **state)
{
    (void) state;
    char path[1024];
    char err[512];
    s_path(path, sizeof path, "migrate");
    assert_int_equal(store_create_at_version(path, 1, err, sizeof err), 0);
    assert_int_equal(s_count(path, "PRAGMA user_version"), 1);
    assert_int_equal(store_create_at_version(path, 1, err, sizeof err), -1);
    assert_int_equal(s_raw(path,
                           "INSERT INTO events (id, kind, title, start_date, end_date, country)"
                           " VALUES ('a', 'course', 'A', '2016-01-01', '2016-01-02', 'FR'),"
                           " ('b', 'course', 'B', '2016-01-01', '2016-01-02', 'ES'),"
                           " ('c', 'course', 'C', '2016-01-01', '2016-01-02', 'US');"
                           "UPDATE events SET title = 'A2' WHERE id = 'a';"
                           "DELETE FROM events WHERE id = 'b';"
                           "INSERT INTO press_releases (id, event_id, title, published_on)"
                           " VALUES ('p', 'c', 'P', '2016-01-03');",
                           err, sizeof err),
                     SQLITE_OK);
    /* Read only never migrates. */
    assert_null(store_new(path, STORE_READONLY, err, sizeof err));
    assert_non_null(strstr(err, "older"));

    store_t *store = store_new(path, STORE_OPEN, err, sizeof err);
    assert_non_null(store);
    assert_int_equal(s_count(path, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    /* record_heads (schema 2 to 6) is gone: the log itself tells each record's latest change */
    assert_int_equal(
        s_count(path, "SELECT count(*) FROM sqlite_master WHERE name = 'record_heads'"), 0);
    assert_int_equal(s_count(path, S_LIVE_RECORDS), 3);
    assert_int_equal(s_count(path, "SELECT max(seq) FROM changes WHERE record_id = 'a'"), 4);
    /* record_rowid backfilled: the record's row, or NULL for the deleted b; still append-only */
    assert_int_equal(s_count(path, "SELECT count(*) FROM changes c WHERE record_rowid IS NOT"
                                   " CASE record_type WHEN 'event' THEN (SELECT rowid FROM events"
                                   " WHERE id = c.record_id) ELSE (SELECT rowid FROM"
                                   " press_releases WHERE id = c.record_id) END"),
                     0);
    assert_int_equal(s_count(path, "SELECT count(*) FROM changes WHERE record_rowid IS NULL"), 2);
    assert_int_equal(s_raw(path, "UPDATE changes SET record_rowid = 1", NULL, 0),
                     SQLITE_CONSTRAINT);
    /* Images: the latest change of each existing record gets the record as it is (its state
       then); the superseded and deleted ones get none and scan as id-only. */
    s_rows_t rows = {0};
    assert_int_equal(store_changes(store, 0, 0, 100, s_collect, &rows), 6);
    const bool want_present[] = {false, false, true, true, false, true};
    const char *want_title[] = {"", "", "C", "A2", "", "P"};
    for (int i = 0; i < 6; i++) {
        assert_int_equal(rows.present[i], want_present[i]);
        assert_string_equal(rows.title[i], want_title[i]);
    }
    assert_int_equal(rows.version[3], 2);
    /* As of 3, a and b were as they were created, which the old store did not keep. */
    memset(&rows, 0, sizeof rows);
    assert_int_equal(store_snapshot_at(store, 3, 0, 100, s_collect, &rows), 3);
    assert_false(rows.present[0]);
    assert_false(rows.present[1]);
    assert_true(rows.present[2]);
    assert_string_equal(rows.title[2], "C");
    memset(&rows, 0, sizeof rows);
    assert_int_equal(store_snapshot(store, 0, 100, s_collect, &rows), 3);
    assert_string_equal(rows.id[0], "c");
    assert_int_equal(rows.change[0], STORE_CREATED);
    assert_string_equal(rows.id[1], "a");
    assert_int_equal(rows.change[1], STORE_UPDATED);
    assert_int_equal(rows.seq[1], 4);
    assert_string_equal(rows.id[2], "p");
    /* The snapshot follows the log from now on. */
    assert_int_equal(store_delete_press(store, "p"), 0);
    memset(&rows, 0, sizeof rows);
    assert_int_equal(store_snapshot(store, 0, 100, s_collect, &rows), 2);
    assert_int_equal(store_cursor_set(store, "pub", 5, NULL), 0);
    store_destroy(&store);
    fixture_remove(path);
}

static void test_newer_schema(void **state)
{
    (void) state;
    char path[1024];
    char err[512];
    s_path(path, sizeof path, "newer");
    store_t *store = s_create(path);
    store_destroy(&store);
    assert_int_equal(s_raw(path, "PRAGMA user_version = 99", NULL, 0), SQLITE_OK);
    assert_null(store_new(path, STORE_OPEN, err, sizeof err));
    char want[1200];
    snprintf(want, sizeof want,
             "store %s has schema version 99, newer than this program's %d; upgrade herald", path,
             STORE_SCHEMA_VERSION);
    assert_string_equal(err, want);
    assert_null(store_new(path, STORE_READONLY, err, sizeof err));
    assert_string_equal(err, want);
    /* The very next version too. */
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", STORE_SCHEMA_VERSION + 1);
    assert_int_equal(s_raw(path, sql, NULL, 0), SQLITE_OK);
    assert_null(store_new(path, STORE_OPEN, err, sizeof err));
    snprintf(want, sizeof want,
             "store %s has schema version %d, newer than this program's %d; upgrade herald", path,
             STORE_SCHEMA_VERSION + 1, STORE_SCHEMA_VERSION);
    assert_string_equal(err, want);
    assert_int_equal(s_count(path, "PRAGMA user_version"), STORE_SCHEMA_VERSION + 1);
    fixture_remove(path);
}

/*  Opens path with store_open, expecting a failure of code want (the message names the file). */
static void s_open_fails(const char *path, store_mode_t mode, store_err_t want)
{
    char err[1200];
    store_err_t code = STORE_ERR_NONE;
    store_t *store = store_open(path, mode, &code, err, sizeof err);
    assert_null(store);
    if (code != want) {
        fail_msg("store_open(%s): code %s, want %s (%s)", path, store_err_name(code),
                 store_err_name(want), err);
    }
    assert_non_null(strstr(err, path));
}

/*  Expects the handle's last failure to be of code want. */
static void s_failed_with(store_t *store, store_err_t want)
{
    if (store_errcode(store) != want) {
        fail_msg("code %s, want %s (%s)", store_err_name(store_errcode(store)),
                 store_err_name(want), store_error(store));
    }
    assert_true(strlen(store_error(store)) > 0);
}

/*  STORE_OPEN_OR_CREATE (the mirror's mode): a missing file or one without a single table (a
    creation cut short by a full disk) becomes a store; a file with tables is never touched. */
static void test_open_or_create(void **state)
{
    (void) state;
    char path[1024];
    char err[512];
    s_path(path, sizeof path, "blank");
    store_t *store = store_new(path, STORE_OPEN_OR_CREATE, err, sizeof err);
    assert_non_null(store);
    assert_int_equal(store_head_seq(store), 0);
    store_destroy(&store);
    store = store_new(path, STORE_OPEN_OR_CREATE, err, sizeof err); /* the same store again */
    assert_non_null(store);
    store_destroy(&store);

    fixture_remove(path);
    assert_int_equal(s_raw(path, "PRAGMA journal_mode = WAL", NULL, 0), 0); /* header, no table */
    s_open_fails(path, STORE_OPEN, STORE_ERR_NOT_STORE);
    store = store_new(path, STORE_OPEN_OR_CREATE, err, sizeof err);
    assert_non_null(store);
    store_destroy(&store);

    fixture_remove(path);
    assert_int_equal(s_raw(path, "CREATE TABLE other (x)", NULL, 0), 0);
    s_open_fails(path, STORE_OPEN_OR_CREATE, STORE_ERR_NOT_STORE);
    assert_int_equal(s_count(path, "SELECT count(*) FROM sqlite_master"), 1);
    fixture_remove(path);
}

/*  store_being_created: a database with no schema yet (empty, or a header alone, as a store
    looks before its creator's first transaction commits) is being created; a store, another
    program's database or a file that is no database is not; a missing file cannot be read. */
static void test_being_created(void **state)
{
    (void) state;
    char path[1024];
    s_path(path, sizeof path, "being_created");
    fixture_remove(path);
    assert_int_equal(store_being_created(path), -1);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(store_being_created(path), 1); /* 0 bytes */
    fixture_remove(path);
    assert_int_equal(s_raw(path, "PRAGMA journal_mode = WAL", NULL, 0), 0); /* header, no table */
    assert_int_equal(store_being_created(path), 1);
    fixture_remove(path);
    assert_int_equal(s_raw(path, "CREATE TABLE other (x)", NULL, 0), 0);
    assert_int_equal(store_being_created(path), 0);
    fixture_remove(path);
    store_t *store = s_create(path);
    store_destroy(&store);
    assert_int_equal(store_being_created(path), 0);
    fixture_remove(path);
    f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < 64; i++) {
        fputs("these are minutes of a meeting, not a database\n", f);
    }
    assert_int_equal(fclose(f), 0);
    assert_int_equal(store_being_created(path), 0);
    fixture_remove(path);
}

/*  Every failure carries a code beside its message: callers (the publisher) decide by it. */
/*  A process of its own (this program again, with --hold-lock PATH: a fresh image, no
    SQLite state inherited through fork) that holds path's write lock (BEGIN IMMEDIATE) until
    s_release_write_lock: its pid once it holds it, or -1. */
static int s_release_fd = -1;
static const char *s_self; /* this program (argv[0]: under valgrind too, unlike /proc/self/exe) */

/*  --hold-lock PATH: the lock, 'y' on stdout once held, until stdin ends. */
static int s_hold_lock_main(const char *path)
{
    sqlite3 *db = NULL;
    char ok = sqlite3_open(path, &db) == SQLITE_OK &&
                      sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK
                  ? 'y'
                  : 'n';
    if (write(STDOUT_FILENO, &ok, 1) != 1 || ok != 'y') {
        sqlite3_close(db);
        return 1;
    }
    char c;
    while (read(STDIN_FILENO, &c, 1) > 0) {
    }
    sqlite3_close(db); /* rolls back */
    return 0;
}

static pid_t s_hold_write_lock(const char *path)
{
    int ready[2];
    int release[2];
    if (pipe2(ready, O_CLOEXEC) != 0 || pipe2(release, O_CLOEXEC) != 0) {
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        dup2(ready[1], STDOUT_FILENO);
        dup2(release[0], STDIN_FILENO);
        execl(s_self, s_self, "--hold-lock", path, (char *) NULL);
        _exit(127);
    }
    close(ready[1]);
    close(release[0]);
    char ok = 'n';
    if (pid < 0 || read(ready[0], &ok, 1) != 1 || ok != 'y') {
        close(ready[0]);
        close(release[1]);
        return -1;
    }
    close(ready[0]);
    s_release_fd = release[1];
    return pid;
}

static void s_release_write_lock(pid_t pid)
{
    close(s_release_fd);
    s_release_fd = -1;
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_error_codes(void **state)
{
    (void) state;
    char path[1024];
    char err[512];
    store_err_t code = STORE_ERR_OTHER;
    s_path(path, sizeof path, "codes");
    assert_string_equal(store_err_name(STORE_ERR_BUSY), "busy");
    assert_string_equal(store_err_name(STORE_ERR_NEWER), "newer");
    assert_string_equal(store_err_name((store_err_t) 999), "unknown");

    s_open_fails(path, STORE_OPEN, STORE_ERR_NOT_FOUND);
    assert_null(store_open("", STORE_OPEN, &code, err, sizeof err));
    assert_int_equal(code, STORE_ERR_INVALID);
    store_t *store = store_open(path, STORE_CREATE, &code, err, sizeof err);
    assert_non_null(store);
    assert_int_equal(code, STORE_ERR_NONE);
    assert_int_equal(store_errcode(store), STORE_ERR_NONE);
    s_open_fails(path, STORE_CREATE, STORE_ERR_EXISTS);

    /* What the caller asked for is wrong: invalid, or not found. */
    store_event_t bad = s_event("bad id");
    assert_int_equal(store_put_event(store, &bad), -1);
    s_failed_with(store, STORE_ERR_INVALID);
    store_press_t orphan = s_press("p", "no-such-event");
    assert_int_equal(store_put_press(store, &orphan), -1);
    s_failed_with(store, STORE_ERR_INVALID);
    assert_int_equal(store_cancel_event(store, "nope", NULL), -1);
    s_failed_with(store, STORE_ERR_NOT_FOUND);
    assert_int_equal(store_delete_press(store, "nope"), -1);
    s_failed_with(store, STORE_ERR_NOT_FOUND);
    store_event_t ev = s_event("e");
    store_press_t pr = s_press("p", "e");
    assert_int_equal(store_put_event(store, &ev), 0);
    assert_int_equal(store_put_press(store, &pr), 0);
    assert_int_equal(store_delete_event(store, "e"), -1);
    s_failed_with(store, STORE_ERR_INVALID);

    /* A locked store: another connection holds the write lock. */
    sqlite3 *other = NULL;
    assert_int_equal(sqlite3_open(path, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(store_set_busy_timeout(store, 0), 0);
    store_event_t next = s_event("f");
    assert_int_equal(store_put_event(store, &next), -1);
    s_failed_with(store, STORE_ERR_BUSY);
    assert_int_equal(store_cursor_set(store, "pub", 1, NULL), -1);
    s_failed_with(store, STORE_ERR_BUSY);
    assert_int_equal(store_begin(store), -1);
    s_failed_with(store, STORE_ERR_BUSY);
    assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);

    /* The lock held by another process: a write that waited in vain names it; one that does
       not wait (busy timeout 0, a service loop) does not look (/proc/locks: milliseconds). */
    pid_t holder = s_hold_write_lock(path);
    assert_true(holder > 0);
    assert_int_equal(store_put_event(store, &next), -1);
    s_failed_with(store, STORE_ERR_BUSY);
    assert_null(strstr(store_error(store), "held by"));
    assert_int_equal(store_set_busy_timeout(store, 20), 0);
    assert_int_equal(store_put_event(store, &next), -1);
    s_failed_with(store, STORE_ERR_BUSY);
    char named[32];
    snprintf(named, sizeof named, "held by pid %d", (int) holder);
    assert_non_null(strstr(store_error(store), named));
    s_release_write_lock(holder);
    assert_int_equal(store_put_event(store, &next), 0);
    store_destroy(&store);

    /* Read only: a handle opened so, and (not as root, who writes anyway) a file so. */
    store = store_open(path, STORE_READONLY, &code, err, sizeof err);
    assert_non_null(store);
    assert_int_equal(store_put_event(store, &next), -1);
    s_failed_with(store, STORE_ERR_READONLY);
    assert_int_equal(store_cursor_set(store, "pub", 1, NULL), -1);
    s_failed_with(store, STORE_ERR_READONLY);
    store_destroy(&store);
    if (geteuid() != 0) {
        assert_int_equal(chmod(path, 0444), 0);
        store = store_open(path, STORE_OPEN, &code, err, sizeof err);
        if (store) {
            assert_int_equal(store_put_event(store, &next), -1);
            code = store_errcode(store);
            store_destroy(&store);
        }
        assert_int_equal(code, STORE_ERR_READONLY);
        assert_int_equal(chmod(path, 0644), 0);
    }

    fixture_remove(path);

    /* A newer schema; an older one opened read only. */
    store = s_create(path);
    store_destroy(&store);
    assert_int_equal(s_raw(path, "PRAGMA user_version = 99", NULL, 0), SQLITE_OK);
    s_open_fails(path, STORE_OPEN, STORE_ERR_NEWER);
    s_open_fails(path, STORE_READONLY, STORE_ERR_NEWER);
    fixture_remove(path);
    assert_int_equal(store_create_at_version(path, 1, err, sizeof err), 0);
    s_open_fails(path, STORE_READONLY, STORE_ERR_OLDER);
    fixture_remove(path);

    /* Not a Herald store: someone else's database, and a file that is no database. */
    assert_int_equal(s_raw(path, "CREATE TABLE t (a)", NULL, 0), SQLITE_OK);
    s_open_fails(path, STORE_OPEN, STORE_ERR_NOT_STORE);
    s_open_fails(path, STORE_READONLY, STORE_ERR_NOT_STORE);
    fixture_remove(path);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < 64; i++) {
        fputs("these are minutes of a meeting, not a database\n", f);
    }
    assert_int_equal(fclose(f), 0);
    s_open_fails(path, STORE_OPEN, STORE_ERR_NOT_STORE);
    s_open_fails(path, STORE_READONLY, STORE_ERR_NOT_STORE);
    fixture_remove(path);
}

/*  Each file knows its kind (application_id): set on creation and on an older store's first
    read-write open; a mirror opener refuses an event store, every opener a state file or
    another program's database, before writing anything, saying what the file is. */
static void test_kinds(void **state)
{
    (void) state;
    char path[1024], mirror[1024], err[1200];
    store_err_t code = STORE_ERR_NONE;
    s_path(path, sizeof path, "kind_events");
    s_path(mirror, sizeof mirror, "kind_mirror");
    fixture_remove(path);
    fixture_remove(mirror);
    assert_string_equal(store_kind_name(STORE_APPID_EVENTS), "an event store");
    assert_string_equal(store_kind_name(STORE_APPID_MIRROR), "a mirror");
    assert_string_equal(store_kind_name(STORE_APPID_STATE), "a subscriber state file");
    assert_null(store_kind_name(0));
    assert_int_equal(store_check_kind(path, STORE_MIRROR, err, sizeof err), 0); /* missing */

    store_t *store = s_create(path);
    store_destroy(&store);
    assert_int_equal(s_count(path, "PRAGMA application_id"), STORE_APPID_EVENTS);

    /* a mirror pointed at an event store: refused, the store untouched */
    int64_t tables = s_count(path, "SELECT count(*) FROM sqlite_master");
    store = store_open(path, STORE_MIRROR, &code, err, sizeof err);
    assert_null(store);
    assert_int_equal(code, STORE_ERR_NOT_STORE);
    assert_non_null(strstr(err, "is an event store, not a mirror"));
    assert_int_equal(store_check_kind(path, STORE_MIRROR, err, sizeof err), -1);
    assert_non_null(strstr(err, "is an event store, not a mirror"));
    assert_int_equal(store_check_kind(path, STORE_OPEN, err, sizeof err), 0);
    assert_int_equal(s_count(path, "PRAGMA application_id"), STORE_APPID_EVENTS);
    assert_int_equal(s_count(path, "SELECT count(*) FROM sqlite_master"), tables);

    /* a mirror: created as one, reopened as one, readable by every opener of a store */
    store = store_new(mirror, STORE_MIRROR, err, sizeof err);
    assert_non_null(store);
    store_destroy(&store);
    assert_int_equal(s_count(mirror, "PRAGMA application_id"), STORE_APPID_MIRROR);
    store = store_new(mirror, STORE_MIRROR, err, sizeof err);
    assert_non_null(store);
    store_destroy(&store);
    store = store_new(mirror, STORE_READONLY, err, sizeof err);
    assert_non_null(store);
    store_destroy(&store);
    store = store_new(mirror, STORE_OPEN, err, sizeof err);
    assert_non_null(store);
    store_destroy(&store);
    assert_int_equal(s_count(mirror, "PRAGMA application_id"), STORE_APPID_MIRROR);
    assert_int_equal(store_check_kind(mirror, STORE_MIRROR, err, sizeof err), 0);
    fixture_remove(mirror);

    /* a subscriber's state file, another program's database: refused, untouched */
    char sql[128];
    snprintf(sql, sizeof sql, "PRAGMA application_id = %d; CREATE TABLE state (x)",
             STORE_APPID_STATE);
    assert_int_equal(s_raw(mirror, sql, NULL, 0), SQLITE_OK);
    for (store_mode_t mode = STORE_OPEN; mode <= STORE_MIRROR; mode++) {
        if (mode == STORE_CREATE) {
            continue;
        }
        store = store_open(mirror, mode, &code, err, sizeof err);
        assert_null(store);
        assert_int_equal(code, STORE_ERR_NOT_STORE);
        assert_non_null(strstr(err, "is a subscriber state file"));
    }
    assert_int_equal(s_count(mirror, "SELECT count(*) FROM sqlite_master"), 1);
    fixture_remove(mirror);
    assert_int_equal(
        s_raw(mirror, "PRAGMA application_id = 305419896; CREATE TABLE t (x)", NULL, 0), SQLITE_OK);
    s_open_fails(mirror, STORE_OPEN, STORE_ERR_NOT_STORE);
    store = store_open(mirror, STORE_MIRROR, &code, err, sizeof err);
    assert_null(store);
    assert_non_null(strstr(err, "another program's SQLite file (application_id 0x12345678)"));
    unsigned char header[20] = {0};
    FILE *f = fopen(mirror, "rb");
    assert_non_null(f);
    assert_int_equal(fread(header, 1, sizeof header, f), sizeof header);
    fclose(f);
    assert_int_equal(header[18], 1); /* still a rollback journal: not switched to WAL */
    fixture_remove(mirror);
    assert_int_equal(s_raw(mirror, "CREATE TABLE state (x)", NULL, 0), SQLITE_OK);
    store = store_open(mirror, STORE_MIRROR, &code, err, sizeof err);
    assert_null(store);
    assert_non_null(strstr(err, "it is a subscriber state file"));
    fixture_remove(mirror);

    /* an older Herald's store has no kind: its first read-write open gives it one */
    fixture_remove(path);
    assert_int_equal(store_create_at_version(path, 1, err, sizeof err), 0);
    assert_int_equal(s_count(path, "PRAGMA application_id"), 0);
    store = store_new(path, STORE_OPEN, err, sizeof err);
    assert_non_null(store);
    store_destroy(&store);
    assert_int_equal(s_count(path, "PRAGMA application_id"), STORE_APPID_EVENTS);
    fixture_remove(path);
    /* ... a mirror as a mirror; an older event store that a publisher published is no mirror */
    assert_int_equal(store_create_at_version(path, STORE_SCHEMA_VERSION - 1, err, sizeof err), 0);
    assert_int_equal(s_raw(path, "PRAGMA application_id = 0", NULL, 0), SQLITE_OK);
    store = store_new(path, STORE_MIRROR, err, sizeof err);
    assert_non_null(store);
    assert_int_equal(store_cursor_set(store, "publisher", 1, "s"), 0);
    store_destroy(&store);
    assert_int_equal(s_count(path, "PRAGMA application_id"), STORE_APPID_MIRROR);
    assert_int_equal(s_raw(path, "PRAGMA application_id = 0", NULL, 0), SQLITE_OK);
    store = store_open(path, STORE_MIRROR, &code, err, sizeof err);
    assert_null(store);
    assert_non_null(strstr(err, "a publisher has published it"));
    assert_int_equal(s_count(path, "PRAGMA application_id"), 0);
    fixture_remove(path);
}

/*  A store made at an older version with people written as JSON by raw SQL is migrated to
    the current one with people_flat backfilled, no change row written, no version moved. */
static void test_migration_people_flat(void **state)
{
    (void) state;
    for (int from = 1; from < STORE_SCHEMA_VERSION; from++) {
        char path[1024];
        char err[512];
        char flat[1024];
        s_path(path, sizeof path, "migrate_flat");
        assert_int_equal(store_create_at_version(path, from, err, sizeof err), 0);
        assert_int_equal(s_count(path, "PRAGMA user_version"), from);
        /* p: two people in UTF-8, u: one role missing and a name written with a JSON
           escape, n: no people; p is updated once, so it is at version 2. */
        assert_int_equal(
            s_raw(path,
                  "INSERT INTO events (id, kind, title, start_date, end_date, country, people)"
                  " VALUES ('p', 'conference', 'P', '2016-01-27', '2016-01-29', 'FR',"
                  " '[{\"name\":\"Jürgen Stock\",\"role\":\"INTERPOL Secretary General\"},"
                  "{\"name\":\"Jorge Fernández Díaz\","
                  "\"role\":\"Ministro del Interior de España\"}]'),"
                  " ('u', 'course', 'U', '2016-01-01', '2016-01-02', 'ES',"
                  " '[{\"name\":\"J\\u00fcrgen Stock\"},{\"name\":\"B\",\"role\":\"\"}]'),"
                  " ('n', 'course', 'N', '2016-01-01', '2016-01-02', 'US', '[]');"
                  "UPDATE events SET title = 'P2' WHERE id = 'p';",
                  err, sizeof err),
            SQLITE_OK);
        int64_t head = s_count(path, "SELECT max(seq) FROM changes");
        assert_int_equal(head, 4);

        store_t *store = store_new(path, STORE_OPEN, err, sizeof err);
        assert_non_null(store);
        assert_int_equal(s_count(path, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
        s_text(path, "SELECT people_flat FROM events WHERE id = 'p'", flat, sizeof flat);
        assert_string_equal(flat, S_PEOPLE_FLAT_WANT);
        s_text(path, "SELECT people_flat FROM events WHERE id = 'u'", flat, sizeof flat);
        assert_string_equal(flat, "Jürgen Stock\x1f\x1e"
                                  "B\x1f");
        s_text(path, "SELECT people_flat FROM events WHERE id = 'n'", flat, sizeof flat);
        assert_string_equal(flat, "");
        assert_int_equal(s_count(path, S_FLAT_WRONG), 0);
        /* The backfill is no change. */
        assert_int_equal(store_head_seq(store), head);
        assert_int_equal(s_count(path, "SELECT version FROM events WHERE id = 'p'"), 2);
        assert_int_equal(s_count(path, "SELECT version FROM events WHERE id = 'u'"), 1);

        store_event_t got;
        assert_int_equal(store_get_event(store, "p", &got), 1);
        assert_int_equal(got.people_count, 2);
        assert_string_equal(got.people[0].name, "Jürgen Stock");
        assert_string_equal(got.people[0].role, "INTERPOL Secretary General");
        assert_string_equal(got.people[1].name, "Jorge Fernández Díaz");
        assert_string_equal(got.people[1].role, "Ministro del Interior de España");
        assert_int_equal(store_get_event(store, "u", &got), 1);
        assert_int_equal(got.people_count, 2);
        assert_string_equal(got.people[0].name, "Jürgen Stock");
        assert_string_equal(got.people[0].role, "");
        assert_string_equal(got.people[1].name, "B");
        assert_int_equal(store_get_event(store, "n", &got), 1);
        assert_int_equal(got.people_count, 0);
        s_rows_t rows = {0};
        assert_int_equal(store_snapshot(store, 0, 100, s_collect, &rows), 3);
        assert_string_equal(rows.id[2], "p");
        assert_int_equal(rows.people_count[2], 2);
        assert_string_equal(rows.first_person[2], "Jürgen Stock");
        assert_string_equal(rows.id[1], "n");
        assert_int_equal(rows.people_count[1], 0);
        store_destroy(&store);

        /* Opening again migrates nothing more. */
        store = store_new(path, STORE_OPEN, err, sizeof err);
        assert_non_null(store);
        assert_int_equal(store_head_seq(store), head);
        store_destroy(&store);
        fixture_remove(path);
    }
}

/*  The people column holds the people as jansson's compact dump writes them, byte for byte
    (the library writes it by hand), whatever characters the names and roles hold: a record
    written again with the same people must not look changed to the triggers. The rules let
    no control character in (tried and refused here); every printable, quotes, backslashes,
    slashes and multibyte characters are tried, in a name and a role, and a person without a
    role. */
static void test_people_json_bytes(void **state)
{
    (void) state;
    char path[1024];
    s_path(path, sizeof path, "people_json");
    store_t *store = s_create(path);
    const char *names[] = {
        "\"quoted\" \\ back/slash", "tab\there", "Ça – ’ 漢字 \xe2\x80\xa8", "new\nline", "", "a"};
    char all[256];
    int n = 0;
    for (int c = 0x20; c < 0x7f; c++) { /* every printable: control characters are refused */
        all[n++] = (char) c;
    }
    all[n] = '\0';
    int tried = 0;
    for (size_t k = 0; k <= sizeof names / sizeof names[0]; k++) {
        const char *text = k < sizeof names / sizeof names[0] ? names[k] : all;
        store_person_t people[2] = {{text, text}, {"No role", NULL}};
        store_event_t ev = s_event("pj");
        ev.people = people;
        ev.people_count = 2;
        if (store_put_event(store, &ev) != 0) {
            continue; /* a name the rules refuse never reaches the column */
        }
        tried++;
        json_t *list = json_array();
        for (int i = 0; i < 2; i++) {
            json_t *o = json_object();
            json_object_set_new(o, "name", json_string(people[i].name));
            json_object_set_new(o, "role", json_string(people[i].role ? people[i].role : ""));
            json_array_append_new(list, o);
        }
        char *want = json_dumps(list, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(list);
        char got[4096];
        s_text(path, "SELECT people FROM events WHERE id = 'pj'", got, sizeof got);
        assert_string_equal(got, want);
        int64_t head = store_head_seq(store);
        assert_int_equal(store_put_event(store, &ev), 0); /* the same again: no change row */
        assert_int_equal(store_head_seq(store), head);
        free(want);
    }
    assert_true(tried >= 4);
    store_destroy(&store);
    fixture_remove(path);
}

/*  people_flat is right whoever writes the event: the library's put writes it itself, raw
    SQL gets it from the trigger; it is never content (no change row, no version). */
static void test_people_flat_writers(void **state)
{
    (void) state;
    char path[1024];
    char err[512];
    char flat[1024];
    s_path(path, sizeof path, "people_flat");
    store_t *store = s_create(path);
    store_event_t ev = s_event("e1");
    assert_int_equal(store_put_event(store, &ev), 0);
    s_text(path, "SELECT people_flat FROM events WHERE id = 'e1'", flat, sizeof flat);
    assert_string_equal(flat, S_PEOPLE_FLAT_WANT);
    /* An update by the library: the new people, one change row. */
    ev.people_count = 1;
    assert_int_equal(store_put_event(store, &ev), 0);
    assert_int_equal(store_head_seq(store), 2);
    s_text(path, "SELECT people_flat FROM events WHERE id = 'e1'", flat, sizeof flat);
    assert_string_equal(flat, "Jürgen Stock\x1fINTERPOL Secretary General");
    ev.people_count = 0;
    assert_int_equal(store_put_event(store, &ev), 0);
    assert_int_equal(store_head_seq(store), 3);
    s_text(path, "SELECT people_flat FROM events WHERE id = 'e1'", flat, sizeof flat);
    assert_string_equal(flat, "");
    store_event_t got;
    assert_int_equal(store_get_event(store, "e1", &got), 1);
    assert_int_equal(got.people_count, 0);
    ev.people_count = 2;
    assert_int_equal(store_put_event(store, &ev), 0);
    assert_int_equal(store_put_event(store, &ev), 0); /* the same again: nothing */
    assert_int_equal(store_head_seq(store), 4);
    assert_int_equal(s_count(path, "SELECT version FROM events WHERE id = 'e1'"), 4);
    store_destroy(&store);

    /* Raw SQL, as the sqlite3 shell writes: one change row, the flat copy follows. */
    assert_int_equal(s_raw(path,
                           "UPDATE events SET people = '[{\"name\":\"Jorge Fernández Díaz\","
                           "\"role\":\"Ministro\"}]' WHERE id = 'e1'",
                           err, sizeof err),
                     SQLITE_OK);
    assert_int_equal(s_count(path, "SELECT max(seq) FROM changes"), 5);
    assert_int_equal(s_count(path, "SELECT count(*) FROM changes WHERE record_id = 'e1'"
                                   " AND seq = 5 AND change = 'updated'"),
                     1);
    assert_int_equal(s_count(path, "SELECT version FROM events WHERE id = 'e1'"), 5);
    s_text(path, "SELECT people_flat FROM events WHERE id = 'e1'", flat, sizeof flat);
    assert_string_equal(flat, "Jorge Fernández Díaz\x1fMinistro");
    /* Setting people to what it is: no change row, nothing moves. */
    assert_int_equal(
        s_raw(path, "UPDATE events SET people = people WHERE id = 'e1'", err, sizeof err),
        SQLITE_OK);
    assert_int_equal(s_count(path, "SELECT max(seq) FROM changes"), 5);
    /* A writer that sets the copy by hand is corrected, and that is no change either. */
    assert_int_equal(
        s_raw(path, "UPDATE events SET people_flat = 'junk' WHERE id = 'e1'", err, sizeof err),
        SQLITE_OK);
    s_text(path, "SELECT people_flat FROM events WHERE id = 'e1'", flat, sizeof flat);
    assert_string_equal(flat, "Jorge Fernández Díaz\x1fMinistro");
    assert_int_equal(s_count(path, "SELECT max(seq) FROM changes"), 5);
    assert_int_equal(s_count(path, "SELECT version FROM events WHERE id = 'e1'"), 5);
    /* A raw insert, even one that names a wrong copy: one created row, the right copy. */
    assert_int_equal(
        s_raw(path,
              "INSERT INTO events (id, kind, title, start_date, end_date, country, people,"
              " people_flat) VALUES ('e2', 'course', 'T', '2016-01-01', '2016-01-01', 'TH',"
              " '[{\"name\":\"Jürgen Stock\",\"role\":\"INTERPOL Secretary General\"},"
              "{\"name\":\"Jorge Fernández Díaz\","
              "\"role\":\"Ministro del Interior de España\"}]', 'wrong')",
              err, sizeof err),
        SQLITE_OK);
    assert_int_equal(s_count(path, "SELECT max(seq) FROM changes"), 6);
    assert_int_equal(s_count(path, "SELECT count(*) FROM changes WHERE record_id = 'e2'"), 1);
    assert_int_equal(s_count(path, "SELECT version FROM events WHERE id = 'e2'"), 1);
    s_text(path, "SELECT people_flat FROM events WHERE id = 'e2'", flat, sizeof flat);
    assert_string_equal(flat, S_PEOPLE_FLAT_WANT);
    assert_int_equal(s_count(path, S_FLAT_WRONG), 0);
    assert_int_equal(s_count(path, "PRAGMA recursive_triggers"), 0);

    /* The scans read the copy. */
    store = store_new(path, STORE_OPEN, err, sizeof err);
    assert_non_null(store);
    s_rows_t rows = {0};
    assert_int_equal(store_changes(store, 4, 0, 100, s_collect, &rows), 2);
    assert_int_equal(rows.people_count[0], 1);
    assert_string_equal(rows.first_person[0], "Jorge Fernández Díaz");
    assert_int_equal(rows.people_count[1], 2);
    assert_string_equal(rows.first_person[1], "Jürgen Stock");
    store_destroy(&store);
    fixture_remove(path);
}

__attribute__((noinline)) static char *s_export(store_t *store, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    assert_non_null(f);
    assert_int_equal(store_export(store, f), 0);
    fclose(f);
    return buf;
}

/*  The text after the stream_id line. */
static const char *s_after_stream_id(const char *text)
{
    const char *p = strstr(text, "\"stream_id\"");
    assert_non_null(p);
    return strchr(p, '\n');
}

static int s_count_event(const store_event_t *ev, void *arg)
{
    (void) ev;
    (*(int *) arg)++;
    return 0;
}

static int s_count_press(const store_press_t *pr, void *arg)
{
    (void) pr;
    (*(int *) arg)++;
    return 0;
}

static void test_sample_export_import(void **state)
{
    (void) state;
    char path[1024];
    char path2[1024];
    char err[512];
    s_path(path, sizeof path, "export1");
    s_path(path2, sizeof path2, "export2");
    store_t *store = s_create(path);
    assert_int_equal(store_load_sample(store), 0);
    assert_int_equal(store_cancel_event(store,
                                        "2014-01-global-security-and-counter-terrorism-"
                                        "convention",
                                        "Test reason"),
                     0);
    int n = 0;
    assert_int_equal(store_list_events(store, s_count_event, &n), 0);
    assert_int_equal(n, 5);
    n = 0;
    assert_int_equal(store_list_press(store, s_count_press, &n), 0);
    assert_int_equal(n, 5);
    store_event_t got;
    assert_int_equal(
        store_get_event(store,
                        "2015-11-interpol-counter-terrorism-working-group-meeting-on-foreign-"
                        "terrorist-fighters",
                        &got),
        1);
    assert_int_equal(got.people_count, 3);
    assert_string_equal(got.people[2].name, "Francisco Perea Bartolomé");
    assert_string_equal(got.city, "Seville");
    assert_string_equal(got.country, "ES");
    assert_int_equal(
        store_get_event(store, "2016-01-global-counter-nuclear-smuggling-conference", &got), 1);
    assert_non_null(strstr(got.summary, "INTERPOL\xE2\x80\x99s ability"));
    assert_string_equal(got.start_date, "2016-01-27");
    assert_string_equal(got.end_date, "2016-01-29");

    size_t len1 = 0;
    char *text1 = s_export(store, &len1);
    assert_non_null(strstr(text1, "Jürgen Stock"));
    assert_non_null(strstr(text1, "\"cancel_reason\": \"Test reason\""));
    assert_null(strstr(text1, "\\u"));

    store_t *copy = s_create(path2);
    assert_int_equal(store_import(copy, text1, len1, err, sizeof err), 10);
    size_t len2 = 0;
    char *text2 = s_export(copy, &len2);
    assert_string_not_equal(store_stream_id(store), store_stream_id(copy));
    assert_string_equal(s_after_stream_id(text1), s_after_stream_id(text2));

    /* The same through a stream, and importing it again changes nothing. */
    int64_t head = store_head_seq(copy);
    FILE *f = fmemopen(text1, len1, "r");
    assert_non_null(f);
    assert_int_equal(store_import_file(copy, f, err, sizeof err), 10);
    fclose(f);
    assert_int_equal(store_head_seq(copy), head);
    free(text1);
    free(text2);
    store_destroy(&copy);
    store_destroy(&store);
    fixture_remove(path);
    fixture_remove(path2);
}

static void test_import_file_ndjson(void **state)
{
    (void) state;
    char path[1024];
    char err[512];
    s_path(path, sizeof path, "ndjson");
    store_t *store = s_create(path);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = NULL;
    /* One id once per file (twice is refused, naming both lines): two files, the second
       updating every record of the first. */
    for (int pass = 0; pass < 2; pass++) {
        FILE *w = open_memstream(&buf, &len);
        for (int i = 0; i < 1000; i++) {
            fprintf(w,
                    "{\"type\":\"event\",\"id\":\"ev-%d\",\"kind\":\"course\","
                    "\"title\":\"E %d\",\"start_date\":\"2016-01-01\","
                    "\"end_date\":\"2016-01-02\",\"country\":\"FR\"}\n",
                    i, i + pass * 1000);
        }
        fclose(w);
        f = fmemopen(buf, len, "r");
        assert_int_equal(store_import_file(store, f, err, sizeof err), 1000);
        fclose(f);
        free(buf);
        buf = NULL;
    }
    assert_int_equal(store_head_seq(store), 2000); /* 1000 created, 1000 updated */
    const char *twice = "{\"type\":\"event\",\"id\":\"ev-1\",\"kind\":\"course\","
                        "\"title\":\"A\",\"start_date\":\"2016-01-01\","
                        "\"end_date\":\"2016-01-02\",\"country\":\"FR\"}\n\n"
                        "{\"type\":\"event\",\"id\":\"ev-1\",\"kind\":\"course\","
                        "\"title\":\"B\",\"start_date\":\"2016-01-01\","
                        "\"end_date\":\"2016-01-02\",\"country\":\"FR\"}\n";
    f = fmemopen((void *) twice, strlen(twice), "r");
    assert_int_equal(store_import_file(store, f, err, sizeof err), -1);
    fclose(f);
    assert_non_null(strstr(err, "line 3"));
    assert_non_null(strstr(err, "already on line 1"));
    assert_int_equal(store_head_seq(store), 2000);

    const char *bad = "\n{\"type\":\"event\",\"id\":\"z\"}\n";
    f = fmemopen((void *) bad, strlen(bad), "r");
    assert_int_equal(store_import_file(store, f, err, sizeof err), -1);
    fclose(f);
    assert_non_null(strstr(err, "line 2: event 'z': field kind: missing"));
    free(buf);
    store_destroy(&store);
    fixture_remove(path);
}

static void test_changes_snapshot(void **state)
{
    (void) state;
    char path[1024];
    s_path(path, sizeof path, "scan");
    store_t *store = s_create(path);
    assert_int_equal(store_load_sample(store), 0); /* seq 1..10 */
    const char *lyon = "2016-01-global-counter-nuclear-smuggling-conference";
    const char *sydney = "2014-01-global-security-and-counter-terrorism-convention";
    assert_int_equal(store_cancel_event(store, sydney, NULL), 0); /* 11 */
    assert_int_equal(store_delete_press(store, "2015-06-25-chemical-and-explosives-terrorism-"
                                               "prevention-course"),
                     0); /* 12 */
    store_event_t ev;
    assert_int_equal(store_get_event(store, lyon, &ev), 1);
    store_event_t edit = ev;
    edit.city = "Lyon 6e";
    assert_int_equal(store_put_event(store, &edit), 0); /* 13 */

    s_rows_t rows = {0};
    assert_int_equal(store_changes(store, 0, 0, 100, s_collect, &rows), 13);
    assert_int_equal(rows.change[10], STORE_CANCELLED);
    assert_int_equal(rows.change[11], STORE_DELETED);
    assert_false(rows.present[11]);
    assert_true(rows.present[0]);
    assert_int_equal(rows.version[0], 1); /* as the change left it */
    assert_int_equal(rows.version[12], 2);
    assert_string_equal(rows.id[12], lyon);
    assert_string_equal(rows.first_person[0], "Jürgen Stock");
    assert_int_equal(rows.people_count[0], 2);

    memset(&rows, 0, sizeof rows);
    assert_int_equal(store_changes(store, 5, 0, 3, s_collect, &rows), 3);
    assert_int_equal(rows.seq[0], 6);
    assert_int_equal(rows.seq[2], 8);

    memset(&rows, 0, sizeof rows);
    rows.stop_after = 2;
    assert_int_equal(store_changes(store, 0, 0, 100, s_collect, &rows), 7);
    assert_int_equal(rows.n, 2);

    /* since_ms: the whole log is at or after its first commit; nothing is in the future. */
    memset(&rows, 0, sizeof rows);
    assert_int_equal(store_changes(store, 0, 0, 1, s_collect, &rows), 1);
    int64_t first_ms = rows.ms[0];
    memset(&rows, 0, sizeof rows);
    assert_int_equal(store_changes(store, 0, first_ms, 100, s_collect, &rows), 13);
    memset(&rows, 0, sizeof rows);
    assert_int_equal(store_changes(store, 9, first_ms, 100, s_collect, &rows), 4);
    assert_int_equal(rows.seq[0], 10);
    assert_int_equal(store_changes(store, 0, first_ms + 86400000LL * 365, 100, s_collect, &rows),
                     0);
    /* A change committed later: since_ms starts there. */
    assert_int_equal(s_raw(path,
                           "INSERT INTO events (id, kind, title, start_date, end_date, country)"
                           " VALUES ('late', 'course', 'L', '2016-01-01', '2016-01-02', 'FR')",
                           NULL, 0),
                     SQLITE_OK);
    int64_t late_ms = s_count(path, "SELECT committed_at_ms FROM changes WHERE seq = 14");
    memset(&rows, 0, sizeof rows);
    int64_t got = store_changes(store, 0, late_ms, 100, s_collect, &rows);
    assert_true(got >= 1);
    assert_int_equal(rows.seq[rows.n - 1], 14);

    /* Snapshot: 5 events + 4 press releases + 'late', by head seq. */
    memset(&rows, 0, sizeof rows);
    assert_int_equal(store_snapshot(store, 0, 100, s_collect, &rows), 10);
    for (int i = 1; i < rows.n; i++) {
        assert_true(rows.seq[i] > rows.seq[i - 1]);
        assert_true(rows.present[i]);
    }
    assert_string_equal(rows.id[7], sydney);
    assert_int_equal(rows.seq[7], 11);
    assert_int_equal(rows.change[7], STORE_CANCELLED);
    assert_string_equal(rows.id[8], lyon);
    assert_int_equal(rows.change[8], STORE_UPDATED);
    assert_int_equal(rows.version[8], 2);
    assert_int_equal(rows.change[0], STORE_CREATED);
    memset(&rows, 0, sizeof rows);
    assert_int_equal(store_snapshot(store, 11, 100, s_collect, &rows), 2);
    memset(&rows, 0, sizeof rows);
    assert_int_equal(store_snapshot(store, 0, 2, s_collect, &rows), 2);

    /* data_version moves when another connection commits. */
    int64_t dv = store_data_version(store);
    assert_int_equal(s_raw(path, "DELETE FROM events WHERE id = 'late'", NULL, 0), SQLITE_OK);
    assert_true(store_data_version(store) != dv);
    assert_int_equal(store_head_seq(store), 15);
    store_destroy(&store);
    fixture_remove(path);
}

static void test_cursors_origins_clear(void **state)
{
    (void) state;
    char path[1024];
    s_path(path, sizeof path, "cursors");
    store_t *store = s_create(path);
    int64_t seq = 0;
    const char *sid = NULL;
    assert_int_equal(store_cursor_get(store, "publisher", &seq, &sid), 0);
    assert_int_equal(store_cursor_set(store, "publisher", 42, "stream-a"), 0);
    assert_int_equal(store_cursor_get(store, "publisher", &seq, &sid), 1);
    assert_int_equal(seq, 42);
    assert_string_equal(sid, "stream-a");
    assert_int_equal(store_cursor_set(store, "publisher", 43, NULL), 0);
    assert_int_equal(store_cursor_get(store, "publisher", &seq, NULL), 1);
    assert_int_equal(seq, 43);

    /* In a transaction, a cursor moves with the edits or not at all. */
    assert_int_equal(store_begin(store), 0);
    assert_int_equal(store_cursor_set(store, "publisher", 50, "s"), 0);
    assert_int_equal(store_rollback(store), 0);
    assert_int_equal(store_cursor_get(store, "publisher", &seq, NULL), 1);
    assert_int_equal(seq, 43);

    assert_int_equal(store_origin_get(store, STORE_EVENT, "e1", &seq), 0);
    assert_int_equal(store_origin_set(store, STORE_EVENT, "e1", 7), 0);
    assert_int_equal(store_origin_set(store, STORE_PRESS, "e1", 9), 0);
    assert_int_equal(store_origin_get(store, STORE_EVENT, "e1", &seq), 1);
    assert_int_equal(seq, 7);
    assert_int_equal(store_origin_set(store, STORE_EVENT, "e1", 8), 0);
    assert_int_equal(store_origin_get(store, STORE_EVENT, "e1", &seq), 1);
    assert_int_equal(seq, 8);
    assert_int_equal(store_origin_get(store, STORE_PRESS, "e1", &seq), 1);
    assert_int_equal(seq, 9);

    assert_int_equal(store_load_sample(store), 0);
    int64_t head = store_head_seq(store);
    assert_int_equal(store_clear(store), 0);
    assert_int_equal(store_head_seq(store), head + 10); /* ten deletions */
    assert_int_equal(store_cursor_get(store, "publisher", &seq, NULL), 0);
    assert_int_equal(store_origin_get(store, STORE_EVENT, "e1", &seq), 0);
    s_rows_t rows = {0};
    assert_int_equal(store_snapshot(store, 0, 100, s_collect, &rows), 0);
    memset(&rows, 0, sizeof rows);
    assert_int_equal(store_changes(store, head, 0, 100, s_collect, &rows), 10);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(rows.change[i], STORE_DELETED);
    }
    store_destroy(&store);
    fixture_remove(path);
}

static int64_t s_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/*  Adds events e000001 ... to the store open in db, n of them, each with a summary of 2,000
    bytes: a store of a few MiB in one statement, through SQLite. */
static void s_fill(sqlite3 *db, int n)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)"
             " INSERT INTO events (id, kind, title, start_date, end_date, country, summary)"
             " SELECT printf('e%%06d', i), 'conference', 'title ' || i, '2026-01-01',"
             " '2026-01-02', 'FR', printf('%%.*c', 2000, 'x') FROM n",
             n);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
}

/*  A statement that fails part way is undone whole, the transaction's earlier statements kept,
    on the VFS the store opens its files with (subjournal.c): with a statement journal small
    enough for memory, and with one past its 4 MiB that goes to a file (about 8 MiB of pages:
    4,000 events of 2 KB, every one changed before the last fails its CHECK). */
static void test_statement_journals(void **state)
{
    (void) state;
    char path[1024];
    s_path(path, sizeof path, "subjournal");
    store_t *store = s_create(path);
    store_destroy(&store);
    sqlite3_vfs *vfs = sqlite3_vfs_find("herald");
    assert_non_null(vfs);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, "herald"), SQLITE_OK);
    sqlite3_vfs *used = NULL;
    assert_int_equal(sqlite3_file_control(db, "main", SQLITE_FCNTL_VFS_POINTER, &used), SQLITE_OK);
    assert_ptr_equal(used, vfs);
    s_fill(db, 4000);
    const int lasts[] = {20, 4000}; /* the row whose CHECK fails: early, then the very last */
    for (int k = 0; k < 2; k++) {
        int64_t head = s_int(db, "SELECT max(seq) FROM changes");
        assert_int_equal(sqlite3_exec(db,
                                      "BEGIN; UPDATE events SET summary = 'kept'"
                                      " WHERE id <= 'e000010'",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
        char sql[512];
        snprintf(sql, sizeof sql,
                 "UPDATE events SET title = CASE WHEN id = 'e%06d' THEN '' ELSE title || '!' END,"
                 " summary = summary || 'y' WHERE id <= 'e%06d'",
                 lasts[k], lasts[k]);
        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_CONSTRAINT);
        assert_int_equal(sqlite3_extended_errcode(db), SQLITE_CONSTRAINT_CHECK);
        assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
        assert_int_equal(s_int(db, "SELECT count(*) FROM events WHERE title LIKE '%!'"), 0);
        assert_int_equal(s_int(db, "SELECT count(*) FROM events WHERE summary LIKE '%y'"), 0);
        assert_int_equal(s_int(db, "SELECT count(*) FROM events WHERE summary = 'kept'"), 10);
        assert_int_equal(s_int(db, "SELECT max(seq) FROM changes"), head + (k == 0 ? 10 : 0));
        assert_int_equal(s_int(db, "SELECT count(*) FROM pragma_integrity_check"
                                   " WHERE integrity_check <> 'ok'"),
                         0);
    }
    /* one statement past 4 MiB that succeeds: every event and its change log row removed */
    assert_int_equal(sqlite3_exec(db, "BEGIN; DELETE FROM events; COMMIT", NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(s_int(db, "SELECT count(*) FROM events"), 0);
    sqlite3_close(db);
    fixture_remove(path);
}

static int s_count_change(const store_change_t *change, void *arg)
{
    (void) change;
    (*(int64_t *) arg)++;
    return 0;
}

/*  store_set_cache_kib bounds what SQLite keeps of a store read from end to end: 6 MiB of
    change log scanned with 256 KiB of cache leaves SQLite's memory under 1 MiB above where it
    was, where its default (2000 KiB) would keep about 2 MiB. */
static void test_cache_bound(void **state)
{
    (void) state;
    char path[1024];
    s_path(path, sizeof path, "cache");
    store_t *store = s_create(path);
    store_destroy(&store);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    s_fill(db, 3000);
    sqlite3_close(db);
    for (int k = 0; k < 2; k++) {
        char err[256];
        store = store_new(path, STORE_READONLY, err, sizeof err);
        assert_non_null(store);
        if (k == 1) {
            assert_int_equal(store_set_cache_kib(store, 256), 0);
        }
        sqlite3_int64 base = sqlite3_memory_used();
        sqlite3_memory_highwater(1);
        int64_t rows = 0;
        for (int64_t after = 0; after < 3000; after += 500) {
            assert_int_equal(store_changes(store, after, 0, 500, s_count_change, &rows), 500);
        }
        assert_int_equal(rows, 3000);
        sqlite3_int64 grown = sqlite3_memory_highwater(0) - base;
        if (k == 0) {
            assert_true(grown > 1536 * 1024); /* the default keeps what it read */
        } else {
            assert_true(grown < 1024 * 1024);
        }
        store_destroy(&store);
    }
    fixture_remove(path);
}

typedef struct {
    int fd;           /* inotify: IN_ATTRIB in the store's folder */
    const char *wal;  /* the -wal's name in it */
    store_t *reader;  /* another connection */
    int64_t at_touch; /* its data_version when the touch came; -2 if none came */
} s_touch_t;

/*  Waits (5 s at most) for the -wal's touch, then reads data_version at once. */
static void *s_wait_touch(void *arg)
{
    s_touch_t *t = arg;
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    struct pollfd item = {t->fd, POLLIN, 0};
    for (int round = 0; round < 100 && poll(&item, 1, 5000) == 1; round++) {
        ssize_t n = read(t->fd, buf, sizeof buf);
        for (char *p = buf; n > 0 && p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *) p;
            p += sizeof *ev + ev->len;
            if ((ev->mask & IN_ATTRIB) && ev->len && strcmp(ev->name, t->wal) == 0) {
                t->at_touch = store_data_version(t->reader);
                return NULL;
            }
        }
    }
    return NULL;
}

/*  The -wal's size in bytes, 0 if it is absent. */
static int64_t s_wal_size(const char *path)
{
    char wal[1200];
    if (snprintf(wal, sizeof wal, "%s-wal", path) >= (int) sizeof wal) {
        fail_msg("path too long: %s", path);
    }
    struct stat st;
    return stat(wal, &st) == 0 ? (int64_t) st.st_size : 0;
}

/*  A commit through the store touches its -wal once the commit is visible to the other
    connections, the IN_ATTRIB that a publisher's watch wakes for (services/publisher/watch.c):
    a thread woken by the touch reads the commit at once. The hook that touches carries the
    checkpoints too: a -wal written far past STORE_CHECKPOINT_PAGES (128 pages of 16 KiB) in
    many commits stays near that size, where without checkpoints it would hold them all. */
static void test_commit_touch(void **state)
{
    (void) state;
    char dir[1024], path[1100];
    fixture_path(dir, sizeof dir, "store_test", "touch");
    rmdir(dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(path, sizeof path, "%s/h.db", dir);
    store_t *writer = s_create(path);
    char err[256];
    store_t *reader = store_new(path, STORE_OPEN, err, sizeof err);
    assert_non_null(reader);
    s_touch_t t = {inotify_init1(IN_CLOEXEC), "h.db-wal", reader, -2};
    assert_true(t.fd != -1);
    assert_true(inotify_add_watch(t.fd, dir, IN_ATTRIB | IN_ONLYDIR) != -1);

    for (int k = 0; k < 3; k++) {
        int64_t seen = store_data_version(reader);
        t.at_touch = -2;
        pthread_t thread;
        assert_int_equal(pthread_create(&thread, NULL, s_wait_touch, &t), 0);
        char id[32];
        snprintf(id, sizeof id, "touch-%d", k);
        store_event_t ev = s_event(id);
        assert_int_equal(store_put_event(writer, &ev), 0);
        pthread_join(thread, NULL);
        assert_true(t.at_touch != -2); /* the touch came */
        assert_true(t.at_touch != seen && t.at_touch != -1);
    }

    /* Checkpoints: 120 commits of a 60 KiB summary, each about ten pages (the event and its
       change row's image), 1,200 pages (19 MiB) in all. */
    char *big = malloc(60 * 1024 + 1);
    assert_non_null(big);
    memset(big, 'x', 60 * 1024);
    big[60 * 1024] = '\0';
    int64_t largest = 0;
    for (int k = 0; k < 120; k++) {
        char id[32];
        snprintf(id, sizeof id, "big-%d", k);
        store_event_t ev = s_event(id);
        ev.summary = big;
        assert_int_equal(store_put_event(writer, &ev), 0);
        int64_t size = s_wal_size(path);
        largest = size > largest ? size : largest;
    }
    free(big);
    assert_true(largest > 0);
    assert_true(largest < 4 * 1024 * 1024);

    close(t.fd);
    store_destroy(&reader);
    store_destroy(&writer);
    fixture_remove(path);
    assert_int_equal(rmdir(dir), 0);
}

/*  Every change row holds its record as that change left it, whoever wrote it and whatever
    happened to the record since: rows that move (as a VACUUM may move them), a rowid reused
    by another record, and a record deleted and created again change no image. A deletion
    holds none. The snapshot sends the current state: the images of the heads. */
static void test_scan_images(void **state)
{
    (void) state;
    char path[1024];
    s_path(path, sizeof path, "images");
    store_t *store = s_create(path);
    store_event_t a = s_event("a");
    a.title = "A";
    store_event_t b = s_event("b");
    b.title = "B";
    store_event_t r = s_event("r");
    r.title = "R1";
    store_press_t p = s_press("p", "a");
    assert_int_equal(store_put_event(store, &a), 0);
    assert_int_equal(store_put_event(store, &b), 0);
    assert_int_equal(store_put_press(store, &p), 0);
    assert_int_equal(store_put_event(store, &r), 0);
    a.title = "A2";
    assert_int_equal(store_put_event(store, &a), 0); /* 5: updated */
    p.title = "P2";
    assert_int_equal(store_put_press(store, &p), 0);     /* 6: updated */
    assert_int_equal(store_delete_event(store, "r"), 0); /* 7 */
    assert_int_equal(store_delete_press(store, "p"), 0); /* 8 */
    /* Schema 5 no longer notes rowids. */
    assert_int_equal(s_count(path, "SELECT count(*) FROM changes WHERE record_rowid IS NOT NULL"),
                     0);

    /* r is created again; a's row moves; b's row is taken by c, written by raw SQL with its
       people as JSON only (people_flat and the image's people come from the trigger). */
    r.title = "R2";
    assert_int_equal(store_put_event(store, &r), 0); /* 9 */
    assert_int_equal(s_raw(path, "UPDATE events SET rowid = 1000 WHERE id = 'a'", NULL, 0),
                     SQLITE_OK);
    int64_t b_rowid = s_count(path, "SELECT rowid FROM events WHERE id = 'b'");
    assert_int_equal(store_delete_event(store, "b"), 0); /* 10 */
    char sql[512];
    snprintf(sql, sizeof sql,
             "INSERT INTO events (rowid, id, kind, title, start_date, end_date, country, people,"
             " version) VALUES (%lld, 'c', 'course', 'C', '2016-01-01', '2016-01-02', 'US',"
             " '[{\"name\":\"Ann\",\"role\":\"chair\"}]', 7)",
             (long long) b_rowid);
    assert_int_equal(s_raw(path, sql, NULL, 0), SQLITE_OK); /* 11 */
    /* Two quick updates of one record in one transaction: two changes, each its own. */
    assert_int_equal(s_raw(path,
                           "BEGIN; UPDATE events SET title = 'C2' WHERE id = 'c';"
                           " UPDATE events SET title = 'C3', status = 'cancelled' WHERE id = 'c';"
                           " COMMIT;",
                           NULL, 0),
                     SQLITE_OK); /* 12, 13 */
    /* people_flat alone written wrong by hand: set right, no change row. */
    assert_int_equal(s_raw(path, "UPDATE events SET people_flat = 'x' WHERE id = 'c'", NULL, 0),
                     SQLITE_OK);
    assert_int_equal(s_count(path, "SELECT count(*) FROM events WHERE people_flat = 'x'"), 0);
    assert_int_equal(store_head_seq(store), 13);
    /* The image is the row as the change left it, the trigger's fix-ups included. */
    assert_int_equal(s_count(path, "SELECT count(*) FROM changes c JOIN events e"
                                   " ON e.id = c.record_id AND c.seq = 13"
                                   " WHERE c.people_flat IS e.people_flat"
                                   " AND c.version IS e.version AND c.title IS e.title"),
                     1);

    s_rows_t rows = {0};
    assert_int_equal(store_changes(store, 0, 0, 100, s_collect, &rows), 13);
    const char *want_title[] = {"A",  "B", "Press release", "R1", "A2", "P2", "", "", "R2", "", "C",
                                "C2", "C3"};
    const int64_t want_version[] = {1, 1, 0, 1, 2, 0, 0, 0, 1, 0, 1, 2, 3};
    for (int i = 0; i < 13; i++) {
        assert_int_equal(rows.seq[i], i + 1);
        bool deleted = i == 6 || i == 7 || i == 9;
        if (rows.present[i] != !deleted) {
            fail_msg("seq %d: present %d", i + 1, rows.present[i]);
        }
        assert_string_equal(rows.title[i], want_title[i]);
        assert_int_equal(rows.version[i], want_version[i]);
    }
    assert_string_equal(rows.id[1], "b");
    assert_int_equal(rows.people_count[0], 2);
    assert_string_equal(rows.first_person[0], "Jürgen Stock");
    assert_string_equal(rows.first_person[10], "Ann");
    assert_int_equal(rows.change[11], STORE_UPDATED);
    assert_int_equal(rows.change[12], STORE_CANCELLED);

    s_rows_t snap = {0};
    assert_int_equal(store_snapshot(store, 0, 100, s_collect, &snap), 3);
    assert_string_equal(snap.id[0], "a");
    assert_string_equal(snap.title[0], "A2");
    assert_string_equal(snap.id[1], "r");
    assert_string_equal(snap.title[1], "R2");
    assert_string_equal(snap.id[2], "c");
    assert_string_equal(snap.title[2], "C3");
    assert_int_equal(snap.change[2], STORE_CANCELLED);
    assert_int_equal(snap.version[2], 3);

    /* As of a seq: the catalogue as it stood then, from the images. */
    memset(&snap, 0, sizeof snap);
    assert_int_equal(store_snapshot_at(store, 6, 0, 100, s_collect, &snap), 4);
    const char *at6_id[] = {"b", "r", "a", "p"};
    const char *at6_title[] = {"B", "R1", "A2", "P2"};
    const int64_t at6_seq[] = {2, 4, 5, 6};
    for (int i = 0; i < 4; i++) {
        assert_string_equal(snap.id[i], at6_id[i]);
        assert_string_equal(snap.title[i], at6_title[i]);
        assert_int_equal(snap.seq[i], at6_seq[i]);
        assert_true(snap.present[i]);
    }
    assert_int_equal(snap.change[0], STORE_CREATED);
    assert_int_equal(snap.change[2], STORE_UPDATED);
    assert_int_equal(snap.type[3], STORE_PRESS);
    memset(&snap, 0, sizeof snap); /* paged */
    assert_int_equal(store_snapshot_at(store, 6, 2, 2, s_collect, &snap), 2);
    assert_string_equal(snap.id[0], "r");
    assert_string_equal(snap.id[1], "a");
    memset(&snap, 0, sizeof snap); /* r and p deleted by 8 */
    assert_int_equal(store_snapshot_at(store, 8, 0, 100, s_collect, &snap), 2);
    assert_string_equal(snap.id[0], "b");
    assert_string_equal(snap.id[1], "a");
    memset(&snap, 0, sizeof snap); /* at the head: the current catalogue */
    assert_int_equal(store_snapshot_at(store, 13, 0, 100, s_collect, &snap), 3);
    assert_string_equal(snap.title[0], "A2");
    assert_string_equal(snap.title[1], "R2");
    assert_string_equal(snap.title[2], "C3");
    assert_int_equal(snap.change[2], STORE_CANCELLED);
    assert_int_equal(store_snapshot_at(store, 0, 0, 100, s_collect, &snap), 0);
    store_destroy(&store);
    fixture_remove(path);
}

/*  store_backup, store_restore, store_probe, store_abandon (store/backup.c). */
/*  Two scans give the same rows (seq, record, change, title). */
static void s_rows_equal(const s_rows_t *a, const s_rows_t *b)
{
    assert_int_equal(a->n, b->n);
    for (int i = 0; i < a->n; i++) {
        assert_int_equal(a->seq[i], b->seq[i]);
        assert_string_equal(a->id[i], b->id[i]);
        assert_int_equal(a->change[i], b->change[i]);
        assert_string_equal(a->title[i], b->title[i]);
    }
}

/*  Compaction removes, below its horizon, exactly the changes a later change below it
    supersedes and the deletions, in one transaction; every record keeps its latest change,
    snapshots as of a seq from horizon - 1 on and the changes from there are what they were,
    and the horizon is recorded. No other delete is taken, from any writer, not even one that
    sets the compaction's flag by hand; a store migrated from schema 5 takes compaction too. */
static void test_compact(void **state)
{
    (void) state;
    char path[1024];
    s_path(path, sizeof path, "compact");
    store_t *store = s_create(path);
    store_event_t a = s_event("a");
    store_event_t b = s_event("b");
    store_event_t c = s_event("c");
    store_press_t p = s_press("p", "a");
    a.title = "A1";
    assert_int_equal(store_put_event(store, &a), 0); /* 1 */
    a.title = "A2";
    assert_int_equal(store_put_event(store, &a), 0);     /* 2 */
    assert_int_equal(store_put_event(store, &b), 0);     /* 3 */
    assert_int_equal(store_delete_event(store, "b"), 0); /* 4 */
    c.title = "C1";
    assert_int_equal(store_put_event(store, &c), 0); /* 5 */
    a.title = "A3";
    assert_int_equal(store_put_event(store, &a), 0); /* 6 */
    assert_int_equal(store_put_press(store, &p), 0); /* 7 */
    c.title = "C2";
    assert_int_equal(store_put_event(store, &c), 0); /* 8 */
    assert_int_equal(store_head_seq(store), 8);
    int64_t before = -1;
    assert_int_equal(store_compacted(store, &before, NULL), 0);
    assert_int_equal(before, 0);

    s_rows_t at6 = {0}, at7 = {0}, at8 = {0}, tail = {0};
    assert_true(store_snapshot_at(store, 6, 0, 0, s_collect, &at6) >= 0);
    assert_true(store_snapshot_at(store, 7, 0, 0, s_collect, &at7) >= 0);
    assert_true(store_snapshot_at(store, 8, 0, 0, s_collect, &at8) >= 0);
    assert_true(store_changes(store, 6, 0, 0, s_collect, &tail) >= 0);

    /* Any other delete is refused: a plain one, and one that sets the flag by hand but
       removes a record's latest change below it, or a change at the horizon. */
    char msg[256];
    assert_int_equal(s_raw(path, "DELETE FROM changes WHERE seq = 1", msg, sizeof msg),
                     SQLITE_CONSTRAINT);
    assert_non_null(strstr(msg, "append-only"));
    const char *hand[] = {"DELETE FROM changes WHERE seq = 5", "DELETE FROM changes WHERE seq = 7",
                          "DELETE FROM changes WHERE seq = 6"};
    for (size_t i = 0; i < sizeof hand / sizeof *hand; i++) {
        char sql[256];
        snprintf(sql, sizeof sql,
                 "BEGIN; INSERT INTO meta (key, value) VALUES ('compacting_before', '7'); %s",
                 hand[i]);
        assert_int_equal(s_raw(path, sql, msg, sizeof msg), SQLITE_CONSTRAINT);
        assert_non_null(strstr(msg, "append-only"));
    }
    assert_int_equal(s_count(path, "SELECT count(*) FROM changes"), 8);
    assert_int_equal(s_count(path, "SELECT count(*) FROM meta WHERE key LIKE 'compact%'"), 0);

    /* Not inside a transaction; not beyond the head + 1. */
    assert_int_equal(store_begin(store), 0);
    assert_int_equal(store_compact(store, 7), -1);
    assert_int_equal(store_errcode(store), STORE_ERR_INVALID);
    assert_int_equal(store_rollback(store), 0);
    assert_int_equal(store_compact(store, 10), -1);
    assert_int_equal(store_errcode(store), STORE_ERR_INVALID);
    assert_int_equal(store_compact(store, 0), -1);

    /* Below 7: a's 1 and 2 (6 supersedes them), b's 3 and its deletion 4; c's 5 stays. */
    assert_int_equal(store_compact(store, 7), 4);
    assert_int_equal(s_count(path, "SELECT group_concat(seq) = '5,6,7,8' FROM"
                                   " (SELECT seq FROM changes ORDER BY seq)"),
                     1);
    int64_t before_ms = 0;
    assert_int_equal(store_compacted(store, &before, &before_ms), 0);
    assert_int_equal(before, 7);
    assert_true(before_ms > 0);
    assert_int_equal(s_count(path, "SELECT count(*) FROM meta WHERE key = 'compacting_before'"), 0);
    assert_int_equal(store_head_seq(store), 8);
    /* Every record keeps its latest change: the current snapshot is whole. */
    assert_int_equal(s_count(path, S_LIVE_RECORDS),
                     s_count(path, "SELECT (SELECT count(*) FROM events)"
                                   " + (SELECT count(*) FROM press_releases)"));
    s_rows_t now = {0};
    assert_int_equal(store_snapshot(store, 0, 0, s_collect, &now), 3);
    /* As of 6 (the horizon - 1) and later, and the changes after 6: what they were. */
    s_rows_t at6b = {0}, at7b = {0}, at8b = {0}, tailb = {0};
    assert_true(store_snapshot_at(store, 6, 0, 0, s_collect, &at6b) >= 0);
    assert_true(store_snapshot_at(store, 7, 0, 0, s_collect, &at7b) >= 0);
    assert_true(store_snapshot_at(store, 8, 0, 0, s_collect, &at8b) >= 0);
    assert_true(store_changes(store, 6, 0, 0, s_collect, &tailb) >= 0);
    s_rows_equal(&at6, &at6b);
    s_rows_equal(&at7, &at7b);
    s_rows_equal(&at8, &at8b);
    s_rows_equal(&tail, &tailb);
    assert_int_equal(at6b.n, 2); /* a as A3, c as C1 */

    /* At or below the horizon: nothing to do. Above it: c's 5 goes (8 supersedes it). */
    assert_int_equal(store_compact(store, 7), 0);
    assert_int_equal(store_compact(store, 3), 0);
    assert_int_equal(store_compact(store, 9), 1);
    assert_int_equal(s_count(path, "SELECT count(*) FROM changes"), 3);
    assert_int_equal(store_compacted(store, &before, NULL), 0);
    assert_int_equal(before, 9);
    /* the records themselves are untouched, and the log is append-only again */
    store_event_t got;
    assert_int_equal(store_get_event(store, "a", &got), 1);
    assert_string_equal(got.title, "A3");
    assert_int_equal(s_raw(path, "DELETE FROM changes", msg, sizeof msg), SQLITE_CONSTRAINT);
    store_destroy(&store);
    fixture_remove(path);

    /* A schema 5 store is migrated to take compaction, and refuses other deletes. */
    char err[512];
    assert_int_equal(store_create_at_version(path, 5, err, sizeof err), 0);
    store = store_new(path, STORE_OPEN, err, sizeof err);
    assert_non_null(store);
    assert_int_equal(s_count(path, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    assert_int_equal(store_put_event(store, &a), 0);
    a.title = "A4";
    assert_int_equal(store_put_event(store, &a), 0);
    assert_int_equal(s_raw(path, "DELETE FROM changes", msg, sizeof msg), SQLITE_CONSTRAINT);
    assert_int_equal(store_compact(store, 3), 1);
    assert_int_equal(s_count(path, "SELECT count(*) FROM changes"), 1);
    store_destroy(&store);
    fixture_remove(path);
}

static void test_backup_restore(void **state)
{
    (void) state;
    char live_path[1024];
    char copy_path[1024];
    char junk_path[1024];
    char err[512];
    s_path(live_path, sizeof live_path, "backup_live");
    s_path(copy_path, sizeof copy_path, "backup_copy");
    s_path(junk_path, sizeof junk_path, "backup_junk");
    store_t *live = s_create(live_path);
    assert_int_equal(store_load_sample(live), 0);
    assert_int_equal(store_cursor_set(live, "publisher", 3, store_stream_id(live)), 0);
    int64_t head = store_head_seq(live);
    char stream[64];
    snprintf(stream, sizeof stream, "%s", store_stream_id(live));
    store_probe_t *probe = store_probe_new(live);
    assert_non_null(probe);
    assert_int_equal(store_probe_stream_changed(probe), 0);

    /* A backup while our handle stays open; never over an existing file. */
    assert_int_equal(store_backup(live_path, copy_path, err, sizeof err), 0);
    assert_int_equal(store_backup(live_path, copy_path, err, sizeof err), -1);
    assert_non_null(strstr(err, "exists"));
    store_t *copy = store_new(copy_path, STORE_READONLY, err, sizeof err);
    assert_non_null(copy);
    assert_string_equal(store_stream_id(copy), stream);
    assert_int_equal(store_head_seq(copy), head);
    store_destroy(&copy);

    /* History moves on, then the backup is restored: its records, a new stream. */
    store_event_t ev = {.id = "late",
                        .kind = "course",
                        .title = "Late",
                        .start_date = "2026-01-01",
                        .end_date = "2026-01-01",
                        .city = "Lyon",
                        .country = "FR"};
    assert_int_equal(store_put_event(live, &ev), 0);
    assert_int_equal(store_restore(live_path, copy_path, err, sizeof err), 0);
    assert_int_equal(store_probe_stream_changed(probe), 1);
    assert_int_equal(store_head_seq(live), head);
    store_event_t got;
    assert_int_equal(store_get_event(live, "late", &got), 0);
    int64_t seq = 0;
    assert_int_equal(store_cursor_get(live, "publisher", &seq, NULL), 0);
    store_probe_destroy(&probe);
    store_probe_destroy(&probe);
    store_t *again = store_new(live_path, STORE_OPEN, err, sizeof err);
    assert_non_null(again);
    assert_string_not_equal(store_stream_id(again), stream);
    store_destroy(&again);

    /* Refused: not a store, missing; the live store is untouched. */
    FILE *f = fopen(junk_path, "w");
    assert_non_null(f);
    fputs("not a database, not at all, not even close to one", f);
    fclose(f);
    assert_int_equal(store_restore(live_path, junk_path, err, sizeof err), -1);
    assert_non_null(strstr(err, junk_path));
    assert_int_equal(store_restore(live_path, "/nonexistent/x.db", err, sizeof err), -1);
    assert_int_equal(store_head_seq(live), head);

    store_abandon(&live);
    assert_null(live);
    store_abandon(&live);
    fixture_remove(live_path);
    fixture_remove(copy_path);
    fixture_remove(junk_path);
}

int main(int argc, char **argv)
{
    s_self = argv[0];
    if (argc == 3 && strcmp(argv[1], "--hold-lock") == 0) {
        return s_hold_lock_main(argv[2]);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_validation_every_byte),
        cmocka_unit_test(test_people_json_bytes),
        cmocka_unit_test(test_being_created),
        cmocka_unit_test(test_open_create),
        cmocka_unit_test(test_triggers),
        cmocka_unit_test(test_gapless),
        cmocka_unit_test(test_import_bad),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_migration),
        cmocka_unit_test(test_newer_schema),
        cmocka_unit_test(test_error_codes),
        cmocka_unit_test(test_open_or_create),
        cmocka_unit_test(test_migration_people_flat),
        cmocka_unit_test(test_people_flat_writers),
        cmocka_unit_test(test_sample_export_import),
        cmocka_unit_test(test_import_file_ndjson),
        cmocka_unit_test(test_changes_snapshot),
        cmocka_unit_test(test_cursors_origins_clear),
        cmocka_unit_test(test_statement_journals),
        cmocka_unit_test(test_cache_bound),
        cmocka_unit_test(test_commit_touch),
        cmocka_unit_test(test_scan_images),
        cmocka_unit_test(test_backup_restore),
        cmocka_unit_test(test_compact),
        cmocka_unit_test(test_kinds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
