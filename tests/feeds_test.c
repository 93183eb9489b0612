/*  feeds_test.c -- tests of the feed sinks (services/subscriber/sinks/feeds/), and an example
    of their use: the calendar's all-day dates and libical's folding of UTF-8 lines
    (feed_ical.h), the atomic rewrite (feed_file.h), the HTTP server's tokens and answers
    (feed_http.h), and both sinks driven as the subscriber drives them (apply, flush, tick,
    position, reset, reopen, stats) on a --state file. Files go to a scratch directory under
    HERALD_TEST_TMP.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "feed_file.h"
#include "feed_http.h"
#include "feed_ical.h"
#include "health.h"
#include "metrics.h"
#include "sink.h"
#include "state.h"

static char s_dir[512];

static const char *s_path(const char *name)
{
    static char path[4][1024];
    static int next;
    char *out = path[next++ % 4];
    snprintf(out, sizeof path[0], "%s/%s", s_dir, name);
    return out;
}

static char *s_read(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return NULL;
    }
    char *text = calloc(1, 1 << 20);
    size_t n = fread(text, 1, (1 << 20) - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

static void test_day_after(void **state)
{
    (void) state;
    char out[9];
    assert_int_equal(feed_ical_day_after("2026-11-28", out, sizeof out), 0);
    assert_string_equal(out, "20261129");
    assert_int_equal(feed_ical_day_after("2026-02-28", out, sizeof out), 0);
    assert_string_equal(out, "20260301");
    assert_int_equal(feed_ical_day_after("2024-02-28", out, sizeof out), 0);
    assert_string_equal(out, "20240229");
    assert_int_equal(feed_ical_day_after("2026-12-31", out, sizeof out), 0);
    assert_string_equal(out, "20270101");
    assert_int_equal(feed_ical_day_after("2026-02-29", out, sizeof out), -1);
    assert_int_equal(feed_ical_day_after("2026-13-01", out, sizeof out), -1);
    assert_int_equal(feed_ical_day_after("20261128", out, sizeof out), -1);
    assert_int_equal(feed_ical_day_after("2026-11-28", out, 8), -1);
}

/*  true when the n bytes at s are whole UTF-8 characters. */
static bool s_utf8_whole(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char) s[i];
        size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
        if ((c & 0xC0) == 0x80 || i + len > n) {
            return false;
        }
        for (size_t k = 1; k < len; k++) {
            if (((unsigned char) s[i + k] & 0xC0) != 0x80) {
                return false;
            }
        }
        i += len;
    }
    return true;
}

static void test_ical_folding(void **state)
{
    (void) state;
    /* 60 × "ü" (two bytes each) and no space: a fold must fall between characters */
    char title[256] = "Konferenz_";
    for (int i = 0; i < 60; i++) {
        strcat(title, "\xc3\xbc");
    }
    feed_ical_t *cal = feed_ical_new("Agence; \xc3\xa9v\xc3\xa9nements, Lyon");
    assert_non_null(cal);
    feed_ical_event_t e = {.uid = "ev-1@stream.herald",
                           .title = title,
                           .start_date = "2026-02-28",
                           .end_date = "2026-02-28",
                           .city = "Z\xc3\xbcrich",
                           .country = "CH",
                           .summary = "One; two, three\nfour",
                           .people = "J\xc3\xbcrgen Stock (Secretary General)",
                           .url = "https://example.org/e?a=1&b=2",
                           .cancel_reason = "",
                           .version = 3,
                           .stamp_ms = 1764320400000};
    assert_int_equal(feed_ical_add(cal, &e), 0);
    feed_ical_event_t bad = e;
    bad.end_date = "2026-02-30";
    assert_int_equal(feed_ical_add(cal, &bad), -1);
    size_t len = 0;
    char *text = feed_ical_render(cal, &len);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    /* CRLF lines of at most 75 octets, each of whole UTF-8 characters */
    int folds = 0;
    for (const char *line = text; *line;) {
        const char *end = strstr(line, "\r\n");
        assert_non_null(end);
        assert_true(end - line <= 75);
        assert_true(s_utf8_whole(line, (size_t) (end - line)));
        folds += line[0] == ' ';
        line = end + 2;
    }
    assert_true(folds >= 2);
    assert_non_null(strstr(text, "DTSTART;VALUE=DATE:20260228\r\n"));
    assert_non_null(strstr(text, "DTEND;VALUE=DATE:20260301\r\n"));
    assert_non_null(strstr(text, "SEQUENCE:2\r\n"));
    assert_non_null(strstr(text, "STATUS:CONFIRMED\r\n"));
    assert_non_null(strstr(text, "LOCATION:Z\xc3\xbcrich\\, CH\r\n"));
    assert_non_null(strstr(text, "DTSTAMP:20251128T090000Z\r\n"));
    /* unfolded, the title comes back whole */
    char *unfolded = calloc(1, len + 1);
    size_t u = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\r' && text[i + 1] == '\n' && text[i + 2] == ' ') {
            i += 2;
            continue;
        }
        unfolded[u++] = text[i];
    }
    char want[300];
    snprintf(want, sizeof want, "SUMMARY:%s\r\n", title);
    assert_non_null(strstr(unfolded, want));
    assert_non_null(strstr(unfolded, "X-WR-CALNAME:Agence; \xc3\xa9v\xc3\xa9nements, Lyon\r\n"));
    assert_non_null(strstr(unfolded, "DESCRIPTION:One\\; two\\, three\\nfour\\n\\nPeople:\\n"));
    free(unfolded);
    free(text);
    feed_ical_destroy(&cal);
    feed_ical_destroy(&cal);
}

static void test_file(void **state)
{
    (void) state;
    char err[512];
    const char *path = s_path("file.txt");
    assert_int_equal(feed_file_write(path, "one", 3, err, sizeof err), 0);
    assert_int_equal(feed_file_write(path, "two!", 4, err, sizeof err), 0);
    char *text = s_read(path);
    assert_string_equal(text, "two!");
    free(text);
    assert_int_equal(access(s_path("file.txt.tmp"), F_OK), -1);
    assert_int_equal(feed_file_write(s_path("missing/file.txt"), "x", 1, err, sizeof err), -1);
    assert_non_null(strstr(err, "missing/file.txt.tmp"));
}

static void test_http(void **state)
{
    (void) state;
    char err[512];
    const char *tokens = s_path("tokens");
    FILE *f = fopen(tokens, "w");
    fputs("# agencies\ninterpol-lyon 0123456789abcdef0123\n\nsecondtoken-without-name\n", f);
    fclose(f);
    assert_int_equal(feed_http_tokens_check(tokens, err, sizeof err), 2);
    const char *bad = s_path("tokens.bad");
    f = fopen(bad, "w");
    fputs("agency short\n", f);
    fclose(f);
    assert_int_equal(feed_http_tokens_check(bad, err, sizeof err), -1);
    assert_non_null(strstr(err, ":1:"));
    assert_int_equal(feed_http_tokens_check(s_path("none"), err, sizeof err), -1);
    assert_true(feed_http_loopback("127.0.0.1:8080"));
    assert_true(feed_http_loopback("8080"));
    assert_true(feed_http_loopback("[::1]:8080"));
    assert_false(feed_http_loopback("0.0.0.0:8080"));
    assert_false(feed_http_loopback("nonsense"));

    int port = 20000 + (int) (getpid() % 9000);
    char addr[64], body[256];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    feed_http_t *http = feed_http_new(addr, "cal.ics", "text/calendar", tokens, err, sizeof err);
    assert_non_null(http);
    /* health_probe sends no token: refused; a secret URL is the other way in */
    assert_int_equal(health_probe(addr, "/cal.ics", 2000, body, sizeof body), 401);
    assert_int_equal(health_probe(addr, "/0123456789abcdef0123/cal.ics", 2000, body, sizeof body),
                     503);
    assert_int_equal(feed_http_publish(http, "BEGIN:VCALENDAR\r\n", 17, 1764320400000), 0);
    assert_int_equal(health_probe(addr, "/0123456789abcdef0123/cal.ics", 2000, body, sizeof body),
                     200);
    assert_string_equal(body, "BEGIN:VCALENDAR");
    assert_int_equal(health_probe(addr, "/wrong-token-0000000000/cal.ics", 2000, body, sizeof body),
                     404);
    assert_int_equal(health_probe(addr, "/other.ics", 2000, body, sizeof body), 404);
    assert_int_equal(feed_http_reload(http, err, sizeof err), 0);
    int64_t served, not_modified, refused;
    feed_http_stats(http, &served, &not_modified, &refused);
    assert_int_equal(served, 1);
    assert_int_equal(not_modified, 0);
    assert_int_equal(refused, 3);
    feed_http_destroy(&http);
    feed_http_destroy(&http);
    assert_null(feed_http_new("nonsense", "x", "text/plain", NULL, err, sizeof err));
}

/*  An event announcement on the stack. */
typedef struct {
    Herald__V1__Announcement a;
    Herald__V1__Event e;
    Herald__V1__Person p;
    Herald__V1__Person *people[1];
} s_ann_t;

static const announcement_t *s_event(s_ann_t *m, uint64_t seq, Herald__V1__Change change,
                                     const char *id, const char *title, int64_t version)
{
    Herald__V1__Announcement a = HERALD__V1__ANNOUNCEMENT__INIT;
    Herald__V1__Event e = HERALD__V1__EVENT__INIT;
    Herald__V1__Person p = HERALD__V1__PERSON__INIT;
    m->a = a;
    m->e = e;
    m->p = p;
    m->a.stream_id = "5e5e5e5e-0000-4000-8000-000000000001";
    m->a.seq = seq;
    m->a.committed_at_ms = 1764320400000 + (int64_t) seq * 1000;
    m->a.change = change;
    m->a.body_case = HERALD__V1__ANNOUNCEMENT__BODY_EVENT;
    m->a.event = &m->e;
    m->e.id = (char *) id;
    if (change == HERALD__V1__CHANGE__DELETED) {
        return &m->a;
    }
    m->e.kind = "conference";
    m->e.title = (char *) title;
    m->e.start_date = "2026-12-01";
    m->e.end_date = "2026-12-03";
    m->e.city = "Lyon";
    m->e.country = "FR";
    m->e.summary = "A summary.";
    m->e.url = "https://example.org/e";
    m->e.status = change == HERALD__V1__CHANGE__CANCELLED
                      ? HERALD__V1__EVENT_STATUS__EVENT_STATUS_CANCELLED
                      : HERALD__V1__EVENT_STATUS__EVENT_STATUS_SCHEDULED;
    m->e.cancel_reason = change == HERALD__V1__CHANGE__CANCELLED ? "postponed" : "";
    m->p.name = "J\xc3\xbcrgen Stock";
    m->p.role = "Secretary General";
    m->people[0] = &m->p;
    m->e.people = m->people;
    m->e.n_people = 1;
    m->e.version = version;
    return &m->a;
}

static void test_calendar_sink(void **state)
{
    (void) state;
    char err[512];
    unlink(s_path("cal.db"));
    state_t *st = state_new(s_path("cal.db"), err, sizeof err);
    assert_non_null(st);
    sink_options_t o = {.state = st};
    assert_null(sink_new("calendar", &o, err, sizeof err));
    assert_non_null(strstr(err, "--feed-out"));
    o.feed.out = s_path("cal.ics");
    o.feed.name = "Liaison";
    sink_t *sink = sink_new("calendar", &o, err, sizeof err);
    assert_non_null(sink);
    const sink_type_t *type = sink_type_find("calendar");
    assert_non_null(type);
    assert_non_null(type->needs_state);
    char stream[SINK_MAX_STREAM_ID];
    int64_t seq = 0;
    assert_int_equal(sink->position(sink->self, stream, sizeof stream, &seq), 0);
    int64_t next = 0;
    assert_int_equal(sink->tick(sink->self, 1000000, &next), 0); /* the empty calendar */
    char *text = s_read(o.feed.out);
    assert_non_null(strstr(text, "X-WR-CALNAME:Liaison"));
    assert_null(strstr(text, "VEVENT"));
    free(text);

    s_ann_t m;
    assert_int_equal(sink->apply(sink->self, s_event(&m, 1, 1, "ev-1", "First", 1), ""), 0);
    assert_int_equal(sink->apply(sink->self, s_event(&m, 2, 1, "ev-2", "Second", 1), ""), 0);
    assert_int_equal(sink->flush(sink->self, m.a.stream_id, 2), 0);
    assert_int_equal(sink->tick(sink->self, 1000500, &next), 0);
    assert_int_equal(next, 500); /* coalesced: at most one rewrite a second */
    assert_int_equal(sink->tick(sink->self, 1001000, &next), 0);
    assert_int_equal(next, -1);
    text = s_read(o.feed.out);
    assert_non_null(strstr(text, "UID:ev-1@5e5e5e5e-0000-4000-8000-000000000001.herald"));
    assert_non_null(strstr(text, "SUMMARY:Second"));
    free(text);
    /* a cancellation, an older change replayed (ignored), a deletion */
    assert_int_equal(sink->apply(sink->self, s_event(&m, 3, 3, "ev-1", "First", 2), ""), 0);
    assert_int_equal(sink->apply(sink->self, s_event(&m, 1, 1, "ev-1", "Stale", 1), ""), 0);
    assert_int_equal(sink->apply(sink->self, s_event(&m, 4, 4, "ev-2", "", 0), ""), 0);
    assert_int_equal(sink->flush(sink->self, m.a.stream_id, 4), 0);
    assert_int_equal(sink->tick(sink->self, 1003000, &next), 0);
    text = s_read(o.feed.out);
    assert_non_null(strstr(text, "STATUS:CANCELLED"));
    assert_non_null(strstr(text, "SEQUENCE:1"));
    assert_null(strstr(text, "Stale"));
    assert_null(strstr(text, "ev-2@"));
    free(text);
    assert_int_equal(sink->position(sink->self, stream, sizeof stream, &seq), 1);
    assert_int_equal(seq, 4);
    assert_string_equal(stream, m.a.stream_id);
    assert_int_equal(sink->reopen(sink->self), 0);
    int64_t values[SINK_MAX_METRICS];
    sink->stats(sink->self, values);
    assert_int_equal(values[0], 3); /* rewrites */
    assert_int_equal(values[2], 1); /* events */
    assert_int_equal(sink->reset(sink->self), 0);
    assert_string_equal(sink->error(sink->self), "");
    sink_destroy(&sink); /* writes the change the reset made */
    text = s_read(o.feed.out);
    assert_null(strstr(text, "VEVENT"));
    free(text);
    sink_destroy(&sink);
    state_destroy(&st);
}

static void test_atom_sink(void **state)
{
    (void) state;
    char err[512];
    unlink(s_path("atom.db"));
    state_t *st = state_new(s_path("atom.db"), err, sizeof err);
    assert_non_null(st);
    sink_options_t o = {.state = st};
    o.feed.out = s_path("feed.atom");
    o.feed.entries = "2";
    o.feed.url = "https://feeds.example.org/feed.atom";
    sink_t *sink = sink_new("atom", &o, err, sizeof err);
    assert_non_null(sink);
    s_ann_t m;
    assert_int_equal(sink->apply(sink->self, s_event(&m, 1, 1, "ev-1", "A & <b>", 1), ""), 0);
    assert_int_equal(sink->apply(sink->self, s_event(&m, 1, 1, "ev-1", "A & <b>", 1), ""), 0);
    assert_int_equal(sink->apply(sink->self, s_event(&m, 2, 3, "ev-1", "A & <b>", 2), ""), 0);
    assert_int_equal(sink->apply(sink->self, s_event(&m, 3, 4, "ev-1", "", 0), ""), 0);
    assert_int_equal(sink->flush(sink->self, m.a.stream_id, 3), 0);
    int64_t next = 0;
    assert_int_equal(sink->tick(sink->self, 1000000, &next), 0);
    char *text = s_read(o.feed.out);
    assert_non_null(strstr(text, "<id>https://feeds.example.org/feed.atom</id>"));
    assert_non_null(strstr(text, "<title>Removed: A &amp; &lt;b&gt;</title>"));
    assert_non_null(strstr(text, "<title>Cancelled: A &amp; &lt;b&gt;</title>"));
    assert_non_null(strstr(text, "change/3</id>"));
    assert_null(strstr(text, "change/1</id>")); /* pruned to 2 entries */
    assert_non_null(strstr(text, "<updated>2025-11-28T09:00:03Z</updated>"));
    free(text);
    sink_destroy(&sink);
    state_destroy(&st);
}

static void test_options(void **state)
{
    (void) state;
    char err[512];
    sink_feed_options_t o = {.out = "x.ics"};
    assert_int_equal(sink_feed_options_check(&o, "calendar", err, sizeof err), 0);
    assert_int_equal(o.entries_n, SINK_FEED_DEFAULT_ENTRIES);
    o.entries = "0";
    assert_int_equal(sink_feed_options_check(&o, "atom", err, sizeof err), -1);
    o.entries = "5";
    o.http = "0.0.0.0:8080";
    assert_int_equal(sink_feed_options_check(&o, "atom", err, sizeof err), -1);
    assert_non_null(strstr(err, "--http-tokens"));
    o.http_insecure = "maybe";
    assert_int_equal(sink_feed_options_check(&o, "atom", err, sizeof err), -1);
    o.http_insecure = "1";
    assert_int_equal(sink_feed_options_check(&o, "atom", err, sizeof err), 0);
    assert_true(o.insecure);
    assert_int_equal(o.entries_n, 5);
    o.http = NULL;
    o.http_tokens = "t";
    assert_int_equal(sink_feed_options_check(&o, "atom", err, sizeof err), -1);
}

int main(void)
{
    const char *tmp = getenv("HERALD_TEST_TMP");
    snprintf(s_dir, sizeof s_dir, "%s/feeds_test.%d", tmp ? tmp : "/tmp", (int) getpid());
    mkdir(s_dir, 0755);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_day_after),     cmocka_unit_test(test_ical_folding),
        cmocka_unit_test(test_file),          cmocka_unit_test(test_http),
        cmocka_unit_test(test_calendar_sink), cmocka_unit_test(test_atom_sink),
        cmocka_unit_test(test_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
