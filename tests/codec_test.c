/*  codec_test.c -- tests of the wire codec (proto/codec.h), and an example of its use:
    store records are encoded into a caller's buffer, decoded with a reusable decoder, and
    every decoded announcement is valid or refused with the field named. Hostile input
    (truncations, random bytes, bit flips, bombs of tiny fields) is refused without a crash.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "random_text.h"

#define STREAM "3f2b8c1e-9a4d-4e6f-8b1a-0c2d3e4f5a6b"
#define BUF_SIZE (CODEC_MAX_FRAME + 1024)

static const store_person_t s_people[] = {
    {"Jürgen Stock", "INTERPOL Secretary General"},
    {"Jorge Fernández Díaz", ""},
};

static store_event_t s_event(void)
{
    store_event_t e = {
        .id = "ev-2026-lyon",
        .kind = "conference",
        .title = "European Regional Conference",
        .start_date = "2026-05-12",
        .end_date = "2026-05-14",
        .city = "Lyon",
        .country = "FR",
        .summary = "Three days.\nTwo tracks.",
        .url = "https://example.org/ev",
        .status = "scheduled",
        .cancel_reason = "",
        .people = s_people,
        .people_count = 2,
        .version = 3,
    };
    return e;
}

static store_press_t s_press(void)
{
    store_press_t p = {
        .id = "pr-17",
        .event_id = "ev-2026-lyon",
        .title = "Conference opens in Lyon",
        .published_on = "2026-05-12",
        .url = "https://example.org/pr-17",
        .summary = "",
    };
    return p;
}

static store_change_t s_event_change(int64_t seq, store_change_kind_t kind, store_event_t e)
{
    store_change_t c = {
        .seq = seq,
        .type = STORE_EVENT,
        .change = kind,
        .record_id = e.id,
        .committed_at_ms = 1764291723456,
        .topic = "event.conference.FR.",
        .present = true,
        .event = e,
    };
    return c;
}

static store_change_t s_press_change(int64_t seq, store_change_kind_t kind, store_press_t p)
{
    store_change_t c = {
        .seq = seq,
        .type = STORE_PRESS,
        .change = kind,
        .record_id = p.id,
        .committed_at_ms = 1764291723999,
        .topic = "press.",
        .present = true,
        .press = p,
    };
    return c;
}

//  Deterministic PRNG (xorshift64*), so a failure can be replayed.
static uint64_t s_rng = 0x9E3779B97F4A7C15ull;
static uint64_t s_rand(void)
{
    s_rng ^= s_rng >> 12;
    s_rng ^= s_rng << 25;
    s_rng ^= s_rng >> 27;
    return s_rng * 0x2545F4914F6CDD1Dull;
}

static uint8_t *s_buf(void)
{
    uint8_t *buf = malloc(BUF_SIZE);
    assert_non_null(buf);
    return buf;
}

//  Decodes and expects a refusal whose reason contains what.
static void s_expect_refused(codec_decoder_t *d, const uint8_t *buf, int len, const char *what)
{
    char why[256] = "";
    assert_true(len > 0);
    const announcement_t *a = codec_decode(d, buf, (size_t) len, why, sizeof(why));
    if (a != NULL || strstr(why, what) == NULL) {
        fail_msg("expected a refusal naming '%s', got %s: '%s'", what, a ? "accepted" : "refused",
                 why);
    }
}

//  Packs a hand-built announcement (for shapes our encoder never makes).
static int s_pack(const announcement_t *a, uint8_t *buf)
{
    size_t size = herald__v1__announcement__get_packed_size(a);
    assert_true(size <= BUF_SIZE);
    return (int) herald__v1__announcement__pack(a, buf);
}

static void test_topic(void **state)
{
    (void) state;
    char buf[64];
    assert_int_equal(codec_topic(buf, sizeof(buf), STORE_EVENT, "conference", "FR"), 20);
    assert_string_equal(buf, "event.conference.FR.");
    assert_int_equal(codec_topic(buf, sizeof(buf), STORE_PRESS, NULL, NULL), 6);
    assert_string_equal(buf, "press.");
    assert_int_equal(codec_topic(buf, 20, STORE_EVENT, "conference", "FR"), -1);
    assert_int_equal(codec_topic(buf, 21, STORE_EVENT, "conference", "FR"), 20);
    assert_int_equal(codec_topic(buf, sizeof(buf), STORE_EVENT, "", "FR"), -1);
    assert_int_equal(codec_topic(buf, sizeof(buf), STORE_EVENT, "a.b", "FR"), -1);
    assert_int_equal(codec_topic(buf, sizeof(buf), (store_type_t) 9, "a", "FR"), -1);
}

static void test_change_names(void **state)
{
    (void) state;
    for (int k = STORE_CREATED; k <= STORE_DELETED; k++) {
        Herald__V1__Change w = codec_change_to_wire((store_change_kind_t) k);
        assert_int_equal(w, k);
        assert_int_equal(codec_change_from_wire(w), k);
    }
    assert_int_equal(codec_change_from_wire(HERALD__V1__CHANGE__CHANGE_UNSPECIFIED), 0);
    assert_int_equal(codec_change_from_wire((Herald__V1__Change) 9), 0);
    assert_int_equal(codec_change_to_wire((store_change_kind_t) 0),
                     HERALD__V1__CHANGE__CHANGE_UNSPECIFIED);
    assert_string_equal(codec_change_name(HERALD__V1__CHANGE__CREATED), "created");
    assert_string_equal(codec_change_name(HERALD__V1__CHANGE__UPDATED), "updated");
    assert_string_equal(codec_change_name(HERALD__V1__CHANGE__CANCELLED), "cancelled");
    assert_string_equal(codec_change_name(HERALD__V1__CHANGE__DELETED), "deleted");
    assert_string_equal(codec_change_name(HERALD__V1__CHANGE__CHANGE_UNSPECIFIED), "");
}

static void test_event_round_trip(void **state)
{
    (void) state;
    uint8_t *buf = s_buf();
    codec_decoder_t *d = codec_decoder_new();
    assert_non_null(d);
    store_change_t c = s_event_change(42, STORE_UPDATED, s_event());
    int len = codec_encode_change(&c, STREAM, buf, BUF_SIZE);
    assert_true(len > 0);

    char why[256] = "";
    const announcement_t *a = codec_decode(d, buf, (size_t) len, why, sizeof(why));
    if (a == NULL) {
        fail_msg("refused: %s", why);
    }
    assert_string_equal(a->stream_id, STREAM);
    assert_int_equal(a->seq, 42);
    assert_int_equal(a->committed_at_ms, 1764291723456);
    assert_int_equal(a->change, HERALD__V1__CHANGE__UPDATED);
    assert_int_equal(a->body_case, HERALD__V1__ANNOUNCEMENT__BODY_EVENT);
    assert_int_equal(a->event->status, HERALD__V1__EVENT_STATUS__EVENT_STATUS_SCHEDULED);
    assert_false(codec_is_id_only(a));

    store_event_t e;
    store_person_t people[STORE_MAX_PEOPLE];
    assert_int_equal(codec_to_event(a->event, &e, people, 1), -1);
    assert_int_equal(codec_to_event(a->event, &e, people, STORE_MAX_PEOPLE), 0);
    store_event_t want = s_event();
    assert_string_equal(e.id, want.id);
    assert_string_equal(e.kind, want.kind);
    assert_string_equal(e.title, want.title);
    assert_string_equal(e.start_date, want.start_date);
    assert_string_equal(e.end_date, want.end_date);
    assert_string_equal(e.city, want.city);
    assert_string_equal(e.country, want.country);
    assert_string_equal(e.summary, want.summary);
    assert_string_equal(e.url, want.url);
    assert_string_equal(e.status, "scheduled");
    assert_string_equal(e.cancel_reason, "");
    assert_int_equal(e.version, 3);
    assert_int_equal(e.people_count, 2);
    assert_string_equal(e.people[0].name, "Jürgen Stock");
    assert_string_equal(e.people[0].role, "INTERPOL Secretary General");
    assert_string_equal(e.people[1].name, "Jorge Fernández Díaz");
    assert_string_equal(e.people[1].role, "");
    assert_int_equal(store_event_check(&e, NULL, why, sizeof(why)), 0);

    //  A cancellation carries the cancelled status and the reason.
    store_event_t cancelled = s_event();
    cancelled.status = "cancelled";
    cancelled.cancel_reason = "Venue unavailable";
    c = s_event_change(43, STORE_CANCELLED, cancelled);
    len = codec_encode_change(&c, STREAM, buf, BUF_SIZE);
    a = codec_decode(d, buf, (size_t) len, why, sizeof(why));
    if (a == NULL) {
        fail_msg("refused: %s", why);
    }
    assert_int_equal(a->change, HERALD__V1__CHANGE__CANCELLED);
    assert_int_equal(a->event->status, HERALD__V1__EVENT_STATUS__EVENT_STATUS_CANCELLED);
    assert_int_equal(codec_to_event(a->event, &e, people, STORE_MAX_PEOPLE), 0);
    assert_string_equal(e.status, "cancelled");
    assert_string_equal(e.cancel_reason, "Venue unavailable");

    //  An unknown status string is not encoded.
    store_event_t odd = s_event();
    odd.status = "postponed";
    c = s_event_change(44, STORE_UPDATED, odd);
    assert_int_equal(codec_encode_change(&c, STREAM, buf, BUF_SIZE), -1);
    c = s_event_change(0, STORE_UPDATED, s_event());
    assert_int_equal(codec_encode_change(&c, STREAM, buf, BUF_SIZE), -1);

    codec_decoder_destroy(&d);
    assert_null(d);
    free(buf);
}

static void test_press_round_trip(void **state)
{
    (void) state;
    uint8_t buf[4096];
    codec_decoder_t *d = codec_decoder_new();
    store_change_t c = s_press_change(7, STORE_CREATED, s_press());
    int len = codec_encode_change(&c, STREAM, buf, sizeof(buf));
    assert_true(len > 0);
    char why[256] = "";
    const announcement_t *a = codec_decode(d, buf, (size_t) len, why, sizeof(why));
    if (a == NULL) {
        fail_msg("refused: %s", why);
    }
    assert_int_equal(a->body_case, HERALD__V1__ANNOUNCEMENT__BODY_PRESS_RELEASE);
    assert_int_equal(a->seq, 7);
    assert_int_equal(a->change, HERALD__V1__CHANGE__CREATED);
    store_press_t p;
    codec_to_press(a->press_release, &p);
    store_press_t want = s_press();
    assert_string_equal(p.id, want.id);
    assert_string_equal(p.event_id, want.event_id);
    assert_string_equal(p.title, want.title);
    assert_string_equal(p.published_on, want.published_on);
    assert_string_equal(p.url, want.url);
    assert_string_equal(p.summary, "");
    codec_decoder_destroy(&d);
}

static void test_deleted(void **state)
{
    (void) state;
    uint8_t buf[4096];
    char why[256] = "";
    codec_decoder_t *d = codec_decoder_new();

    //  A deleted event: the row still has its state, the announcement carries the id alone.
    store_change_t c = s_event_change(50, STORE_DELETED, s_event());
    int len = codec_encode_change(&c, STREAM, buf, sizeof(buf));
    const announcement_t *a = codec_decode(d, buf, (size_t) len, why, sizeof(why));
    if (a == NULL) {
        fail_msg("refused: %s", why);
    }
    assert_int_equal(a->change, HERALD__V1__CHANGE__DELETED);
    assert_string_equal(a->event->id, "ev-2026-lyon");
    assert_string_equal(a->event->title, "");
    assert_int_equal(a->event->n_people, 0);
    assert_true(codec_is_id_only(a));

    //  A deleted press release whose record is gone: only record_id is known.
    store_press_t gone = {"pr-17", "", "", "", "", ""};
    c = s_press_change(51, STORE_DELETED, gone);
    c.present = false;
    len = codec_encode_change(&c, STREAM, buf, sizeof(buf));
    a = codec_decode(d, buf, (size_t) len, why, sizeof(why));
    if (a == NULL) {
        fail_msg("refused: %s", why);
    }
    assert_string_equal(a->press_release->id, "pr-17");
    assert_string_equal(a->press_release->title, "");
    assert_true(codec_is_id_only(a));

    //  An older change of a record deleted since (present false): id alone, change kept.
    c = s_event_change(12, STORE_CREATED, s_event());
    c.present = false;
    len = codec_encode_change(&c, STREAM, buf, sizeof(buf));
    a = codec_decode(d, buf, (size_t) len, why, sizeof(why));
    if (a == NULL) {
        fail_msg("refused: %s", why);
    }
    assert_int_equal(a->change, HERALD__V1__CHANGE__CREATED);
    assert_true(codec_is_id_only(a));

    //  A deleted record with a bad id, or none.
    store_press_t bad = {"pr 17", "", "", "", "", ""};
    c = s_press_change(52, STORE_DELETED, bad);
    len = codec_encode_change(&c, STREAM, buf, sizeof(buf));
    s_expect_refused(d, buf, len, "press_release.id");
    store_press_t none = {"", "", "", "", "", ""};
    c = s_press_change(53, STORE_DELETED, none);
    len = codec_encode_change(&c, STREAM, buf, sizeof(buf));
    s_expect_refused(d, buf, len, "press_release.id");
    codec_decoder_destroy(&d);
}

static void test_heartbeat_and_replay_end(void **state)
{
    (void) state;
    uint8_t buf[512];
    char why[256] = "";
    codec_decoder_t *d = codec_decoder_new();

    int len = codec_encode_heartbeat(STREAM, 1234, 1764291723456, buf, sizeof(buf));
    assert_true(len > 0);
    const announcement_t *a = codec_decode(d, buf, (size_t) len, why, sizeof(why));
    if (a == NULL) {
        fail_msg("refused: %s", why);
    }
    assert_int_equal(a->body_case, HERALD__V1__ANNOUNCEMENT__BODY_HEARTBEAT);
    assert_int_equal(a->seq, 1234);
    assert_int_equal(a->change, HERALD__V1__CHANGE__CHANGE_UNSPECIFIED);
    assert_int_equal(a->heartbeat->head_seq, 1234);
    assert_int_equal(a->heartbeat->sent_at_ms, 1764291723456);

    //  An empty store's heartbeat: every field zero, still a heartbeat.
    len = codec_encode_heartbeat(STREAM, 0, 0, buf, sizeof(buf));
    a = codec_decode(d, buf, (size_t) len, why, sizeof(why));
    assert_non_null(a);
    assert_int_equal(a->body_case, HERALD__V1__ANNOUNCEMENT__BODY_HEARTBEAT);
    assert_false(codec_is_id_only(a));

    len = codec_encode_replay_end(STREAM, 90, 100, NULL, buf, sizeof(buf));
    a = codec_decode(d, buf, (size_t) len, why, sizeof(why));
    if (a == NULL) {
        fail_msg("refused: %s", why);
    }
    assert_int_equal(a->body_case, HERALD__V1__ANNOUNCEMENT__BODY_REPLAY_END);
    assert_int_equal(a->seq, 90);
    assert_int_equal(a->replay_end->last_seq, 90);
    assert_int_equal(a->replay_end->head_seq, 100);
    assert_string_equal(a->replay_end->error, "");

    //  last_seq beyond head_seq only with an error.
    len = codec_encode_replay_end(STREAM, 101, 100, "", buf, sizeof(buf));
    s_expect_refused(d, buf, len, "replay_end.last_seq");
    len = codec_encode_replay_end(STREAM, 101, 100, "limit: 20000, more than 10000", buf,
                                  sizeof(buf));
    a = codec_decode(d, buf, (size_t) len, why, sizeof(why));
    assert_non_null(a);
    assert_string_equal(a->replay_end->error, "limit: 20000, more than 10000");
    len = codec_encode_replay_end(STREAM, 1, 1, "bad \xff", buf, sizeof(buf));
    s_expect_refused(d, buf, len, "replay_end.error");
    codec_decoder_destroy(&d);
}

static int s_pack_request(const Herald__V1__ReplayRequest *r, uint8_t *buf, size_t cap)
{
    size_t size = herald__v1__replay_request__get_packed_size(r);
    assert_true(size <= cap);
    return (int) herald__v1__replay_request__pack(r, buf);
}

static void s_expect_request_refused(codec_decoder_t *d, const Herald__V1__ReplayRequest *r,
                                     const char *what)
{
    static uint8_t buf[64 * 1024];
    char why[256] = "";
    int len = s_pack_request(r, buf, sizeof(buf));
    const Herald__V1__ReplayRequest *got =
        codec_decode_request(d, buf, (size_t) len, why, sizeof(why));
    if (got != NULL || strstr(why, what) == NULL) {
        fail_msg("expected a refusal naming '%s', got '%s'", what, why);
    }
}

static void test_request(void **state)
{
    (void) state;
    uint8_t buf[64 * 1024];
    char why[256] = "";
    codec_decoder_t *d = codec_decoder_new();

    char *topics[CODEC_MAX_TOPICS + 1];
    for (size_t i = 0; i <= CODEC_MAX_TOPICS; i++) {
        topics[i] = (char *) "event.conference.";
    }
    Herald__V1__ReplayRequest r = HERALD__V1__REPLAY_REQUEST__INIT;
    r.after_seq = 77;
    r.n_topics = 2;
    topics[1] = (char *) "press.";
    r.topics = topics;
    r.limit = 500;
    int len = s_pack_request(&r, buf, sizeof(buf));
    const Herald__V1__ReplayRequest *got =
        codec_decode_request(d, buf, (size_t) len, why, sizeof(why));
    if (got == NULL) {
        fail_msg("refused: %s", why);
    }
    assert_int_equal(got->after_seq, 77);
    assert_int_equal(got->n_topics, 2);
    assert_string_equal(got->topics[0], "event.conference.");
    assert_string_equal(got->topics[1], "press.");
    assert_int_equal(got->limit, 500);
    assert_false(got->snapshot);

    //  The empty request (everything from the start, default limit) is one of zero bytes.
    Herald__V1__ReplayRequest empty = HERALD__V1__REPLAY_REQUEST__INIT;
    assert_int_equal(herald__v1__replay_request__get_packed_size(&empty), 0);
    got = codec_decode_request(d, NULL, 0, why, sizeof(why));
    assert_non_null(got);
    assert_int_equal(got->limit, 0);

    Herald__V1__ReplayRequest snap = HERALD__V1__REPLAY_REQUEST__INIT;
    snap.snapshot = 1;
    snap.limit = CODEC_MAX_LIMIT;
    len = s_pack_request(&snap, buf, sizeof(buf));
    got = codec_decode_request(d, buf, (size_t) len, why, sizeof(why));
    assert_non_null(got);
    assert_true(got->snapshot);

    Herald__V1__ReplayRequest bad = r;
    bad.n_topics = CODEC_MAX_TOPICS;
    len = s_pack_request(&bad, buf, sizeof(buf));
    assert_non_null(codec_decode_request(d, buf, (size_t) len, why, sizeof(why)));
    bad.n_topics = CODEC_MAX_TOPICS + 1;
    s_expect_request_refused(d, &bad, "topics");

    char long_topic[CODEC_MAX_TOPIC + 2];
    memset(long_topic, 'a', sizeof(long_topic) - 1);
    long_topic[sizeof(long_topic) - 1] = '\0';
    char *one[1] = {long_topic};
    bad = r;
    bad.n_topics = 1;
    bad.topics = one;
    s_expect_request_refused(d, &bad, "topics[0]");
    one[0] = (char *) "event.\xc3\x28";
    s_expect_request_refused(d, &bad, "topics[0]: not valid UTF-8");

    bad = r;
    bad.limit = CODEC_MAX_LIMIT + 1;
    s_expect_request_refused(d, &bad, "limit");
    bad = r;
    bad.since_ms = -5;
    s_expect_request_refused(d, &bad, "since_ms");
    bad = r;
    bad.since_ms = 1764291723456;
    bad.snapshot = 1;
    s_expect_request_refused(d, &bad, "snapshot and since_ms are exclusive");
    bad = r;
    bad.after_seq = (uint64_t) INT64_MAX + 1;
    s_expect_request_refused(d, &bad, "after_seq");

    //  Not a request at all.
    const uint8_t junk[] = {0xff, 0xff, 0xff};
    assert_null(codec_decode_request(d, junk, sizeof(junk), why, sizeof(why)));
    assert_non_null(strstr(why, "ReplayRequest"));
    codec_decoder_destroy(&d);
}

static void test_encode_small_buffer(void **state)
{
    (void) state;
    uint8_t buf[4096];
    store_change_t c = s_event_change(42, STORE_UPDATED, s_event());
    int need = codec_encode_change(&c, STREAM, buf, sizeof(buf));
    assert_true(need > 0);
    uint8_t *exact = malloc((size_t) need); // ASan catches a write past an exact-size block
    assert_non_null(exact);
    for (int cap = 0; cap < need; cap++) {
        assert_int_equal(codec_encode_change(&c, STREAM, exact, (size_t) cap), -1);
    }
    assert_int_equal(codec_encode_change(&c, STREAM, exact, (size_t) need), need);
    assert_memory_equal(exact, buf, (size_t) need);
    free(exact);

    int hb = codec_encode_heartbeat(STREAM, 5, 6, buf, sizeof(buf));
    assert_int_equal(codec_encode_heartbeat(STREAM, 5, 6, buf, (size_t) hb - 1), -1);
    int end = codec_encode_replay_end(STREAM, 5, 6, "", buf, sizeof(buf));
    assert_int_equal(codec_encode_replay_end(STREAM, 5, 6, "", buf, (size_t) end - 1), -1);

    //  More people than the stack arrays hold is refused, not overflowed.
    store_person_t many[STORE_MAX_PEOPLE + 1];
    for (size_t i = 0; i <= STORE_MAX_PEOPLE; i++) {
        many[i].name = "N";
        many[i].role = "";
    }
    store_event_t e = s_event();
    e.people = many;
    e.people_count = STORE_MAX_PEOPLE + 1;
    c = s_event_change(42, STORE_UPDATED, e);
    assert_int_equal(codec_encode_change(&c, STREAM, buf, sizeof(buf)), -1);
    size_t used = 0;
    assert_int_equal(codec_batch_append_change(buf, sizeof(buf), &used, &c, STREAM), -1);
    e.people_count = STORE_MAX_PEOPLE;
    c = s_event_change(42, STORE_UPDATED, e);
    assert_true(codec_encode_change(&c, STREAM, buf, sizeof(buf)) > 0);

    //  The batch writer refuses what cannot be encoded, and what is larger than a frame even
    //  where the batch has room, writing nothing.
    uint8_t *big = malloc(2 * CODEC_MAX_FRAME);
    char *summary = malloc(CODEC_MAX_FRAME + 1);
    assert_non_null(big);
    assert_non_null(summary);
    c = s_event_change(0, STORE_UPDATED, s_event()); /* seq 0 */
    assert_int_equal(codec_batch_append_change(big, 2 * CODEC_MAX_FRAME, &used, &c, STREAM), -1);
    e = s_event();
    e.status = "postponed";
    c = s_event_change(42, STORE_UPDATED, e);
    assert_int_equal(codec_batch_append_change(big, 2 * CODEC_MAX_FRAME, &used, &c, STREAM), -1);
    memset(summary, 's', CODEC_MAX_FRAME);
    summary[CODEC_MAX_FRAME] = '\0';
    e = s_event();
    e.summary = summary;
    c = s_event_change(42, STORE_UPDATED, e);
    assert_int_equal(codec_batch_append_change(big, 2 * CODEC_MAX_FRAME, &used, &c, STREAM), -1);
    assert_int_equal(codec_encode_change(&c, STREAM, big, CODEC_MAX_FRAME), -1);
    assert_int_equal(used, 0);
    free(summary);
    free(big);
}

static void s_check_accepted_is_valid(codec_decoder_t *d, const uint8_t *data, size_t len)
{
    char why[256];
    const announcement_t *a = codec_decode(d, data, len, why, sizeof(why));
    if (a != NULL) {
        assert_int_equal(codec_validate(a, why, sizeof(why)), 0);
        if (a->body_case == HERALD__V1__ANNOUNCEMENT__BODY_EVENT && !codec_is_id_only(a) &&
            a->change != HERALD__V1__CHANGE__DELETED) {
            store_event_t e;
            store_person_t people[STORE_MAX_PEOPLE];
            assert_int_equal(codec_to_event(a->event, &e, people, STORE_MAX_PEOPLE), 0);
            assert_int_equal(store_event_check(&e, NULL, why, sizeof(why)), 0);
        }
    } else {
        assert_true(why[0] != '\0');
    }
    const Herald__V1__ReplayRequest *r = codec_decode_request(d, data, len, why, sizeof(why));
    if (r != NULL) {
        assert_true(r->n_topics <= CODEC_MAX_TOPICS);
        assert_true(r->limit <= CODEC_MAX_LIMIT);
    }
}

static void test_truncated(void **state)
{
    (void) state;
    uint8_t buf[4096];
    codec_decoder_t *d = codec_decoder_new();
    store_change_t c = s_event_change(42, STORE_UPDATED, s_event());
    int len = codec_encode_change(&c, STREAM, buf, sizeof(buf));
    for (int n = 0; n < len; n++) {
        //  An exact-size copy, so that a read past the end is an ASan error.
        uint8_t *copy = malloc((size_t) n + 1);
        memcpy(copy, buf, (size_t) n);
        s_check_accepted_is_valid(d, copy, (size_t) n);
        free(copy);
    }
    codec_decoder_destroy(&d);
}

static void test_random_bytes(void **state)
{
    (void) state;
    codec_decoder_t *d = codec_decoder_new();
    uint8_t buf[512];
    s_rng = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < 100000; i++) {
        size_t len = (size_t) (s_rand() % sizeof(buf));
        for (size_t k = 0; k < len; k++) {
            buf[k] = (uint8_t) s_rand();
        }
        s_check_accepted_is_valid(d, buf, len);
    }
    codec_decoder_destroy(&d);
}

static void test_bit_flips(void **state)
{
    (void) state;
    codec_decoder_t *d = codec_decoder_new();
    uint8_t valid[4096];
    uint8_t copy[4096];
    store_change_t changes[] = {
        s_event_change(42, STORE_UPDATED, s_event()),
        s_press_change(43, STORE_CREATED, s_press()),
        s_event_change(44, STORE_DELETED, s_event()),
    };
    for (size_t m = 0; m < sizeof(changes) / sizeof(changes[0]); m++) {
        int len = codec_encode_change(&changes[m], STREAM, valid, sizeof(valid));
        for (int bit = 0; bit < len * 8; bit++) {
            memcpy(copy, valid, (size_t) len);
            copy[bit / 8] ^= (uint8_t) (1u << (bit % 8));
            s_check_accepted_is_valid(d, copy, (size_t) len);
        }
        //  And random multi-byte damage.
        s_rng = 12345 + m;
        for (int i = 0; i < 20000; i++) {
            memcpy(copy, valid, (size_t) len);
            int hits = 1 + (int) (s_rand() % 4);
            for (int h = 0; h < hits; h++) {
                copy[s_rand() % (uint64_t) len] = (uint8_t) s_rand();
            }
            s_check_accepted_is_valid(d, copy, (size_t) len);
        }
    }
    codec_decoder_destroy(&d);
}

static void test_invalid_fields(void **state)
{
    (void) state;
    uint8_t *buf = s_buf();
    codec_decoder_t *d = codec_decoder_new();
    store_change_t c;
    int len;

    store_event_t e = s_event();
    e.title = "Conf\xc3\x28rence";
    c = s_event_change(1, STORE_CREATED, e);
    len = codec_encode_change(&c, STREAM, buf, BUF_SIZE);
    s_expect_refused(d, buf, len, "event.title: not valid UTF-8");

    e = s_event();
    store_person_t bad_people[] = {{"Jürgen Stock", ""}, {"\xed\xa0\x80", ""}}; // a surrogate
    e.people = bad_people;
    c = s_event_change(1, STORE_CREATED, e);
    len = codec_encode_change(&c, STREAM, buf, BUF_SIZE);
    s_expect_refused(d, buf, len, "event.people[1].name: not valid UTF-8");

    e = s_event();
    e.start_date = "2026-02-30";
    c = s_event_change(1, STORE_CREATED, e);
    len = codec_encode_change(&c, STREAM, buf, BUF_SIZE);
    s_expect_refused(d, buf, len, "event.start_date: not a date");

    e = s_event();
    e.country = "fr";
    c = s_event_change(1, STORE_CREATED, e);
    len = codec_encode_change(&c, STREAM, buf, BUF_SIZE);
    s_expect_refused(d, buf, len, "event.country");

    store_press_t p = s_press();
    p.published_on = "yesterday";
    c = s_press_change(1, STORE_CREATED, p);
    len = codec_encode_change(&c, STREAM, buf, BUF_SIZE);
    s_expect_refused(d, buf, len, "press_release.published_on");

    //  Text over the limits.
    char *big = malloc(STORE_MAX_SUMMARY + 2);
    memset(big, 'x', STORE_MAX_SUMMARY + 1);
    big[STORE_MAX_SUMMARY + 1] = '\0';
    e = s_event();
    e.summary = big;
    c = s_event_change(1, STORE_CREATED, e);
    len = codec_encode_change(&c, STREAM, buf, BUF_SIZE);
    s_expect_refused(d, buf, len, "event.summary: longer than");
    big[STORE_MAX_FIELD + 1] = '\0';
    e = s_event();
    e.city = big;
    c = s_event_change(1, STORE_CREATED, e);
    len = codec_encode_change(&c, STREAM, buf, BUF_SIZE);
    s_expect_refused(d, buf, len, "event.city: longer than");
    free(big);

    //  Stream ids.
    const char *bad_streams[] = {
        "",
        "3F2B8C1E-9A4D-4E6F-8B1A-0C2D3E4F5A6B",  // upper case
        "3f2b8c1e-9a4d-4e6f-8b1a-0c2d3e4f5a6",   // short
        "3f2b8c1e-9a4d-4e6f-8b1a-0c2d3e4f5a6b0", // long
        "3f2b8c1e9a4d-4e6f-8b1a-0c2d3e4f5a6b-",  // hyphen misplaced
        "3f2b8c1e-9a4d-4e6f-8b1a-0c2d3e4f5a6g",  // not hex
    };
    for (size_t i = 0; i < sizeof(bad_streams) / sizeof(bad_streams[0]); i++) {
        len = codec_encode_heartbeat(bad_streams[i], 1, 1, buf, BUF_SIZE);
        s_expect_refused(d, buf, len, "stream_id");
    }

    //  Unknown enum values (proto3 enums are open: protobuf-c keeps the number).
    Herald__V1__Announcement a = HERALD__V1__ANNOUNCEMENT__INIT;
    Herald__V1__Heartbeat hb = HERALD__V1__HEARTBEAT__INIT;
    a.stream_id = (char *) STREAM;
    a.body_case = HERALD__V1__ANNOUNCEMENT__BODY_HEARTBEAT;
    a.heartbeat = &hb;
    a.change = (Herald__V1__Change) 9;
    s_expect_refused(d, buf, s_pack(&a, buf), "change: unknown value 9");
    a.change = (Herald__V1__Change) -1;
    s_expect_refused(d, buf, s_pack(&a, buf), "change: unknown value -1");

    Herald__V1__Event ev = HERALD__V1__EVENT__INIT;
    ev.id = (char *) "ev-1";
    ev.kind = (char *) "conference";
    ev.title = (char *) "T";
    ev.start_date = (char *) "2026-01-01";
    ev.end_date = (char *) "2026-01-01";
    ev.country = (char *) "FR";
    ev.status = (Herald__V1__EventStatus) 7;
    ev.version = 1;
    a = (Herald__V1__Announcement) HERALD__V1__ANNOUNCEMENT__INIT;
    a.stream_id = (char *) STREAM;
    a.seq = 3;
    a.change = HERALD__V1__CHANGE__CREATED;
    a.body_case = HERALD__V1__ANNOUNCEMENT__BODY_EVENT;
    a.event = &ev;
    s_expect_refused(d, buf, s_pack(&a, buf), "event.status: unknown value 7");
    ev.status = HERALD__V1__EVENT_STATUS__EVENT_STATUS_SCHEDULED;
    char why[256];
    assert_non_null(codec_decode(d, buf, (size_t) s_pack(&a, buf), why, sizeof(why)));
    ev.status = HERALD__V1__EVENT_STATUS__EVENT_STATUS_UNSPECIFIED;
    s_expect_refused(d, buf, s_pack(&a, buf), "event.status: unspecified");
    ev.status = HERALD__V1__EVENT_STATUS__EVENT_STATUS_SCHEDULED;
    ev.version = 0;
    s_expect_refused(d, buf, s_pack(&a, buf), "event.version");
    ev.version = 1;

    //  Change and body that do not agree.
    a.change = HERALD__V1__CHANGE__CANCELLED; // status still scheduled
    s_expect_refused(d, buf, s_pack(&a, buf), "event.status: not cancelled");
    a.change = HERALD__V1__CHANGE__CHANGE_UNSPECIFIED;
    s_expect_refused(d, buf, s_pack(&a, buf), "change: unspecified");
    a.change = HERALD__V1__CHANGE__CREATED;
    a.seq = 0;
    s_expect_refused(d, buf, s_pack(&a, buf), "seq");
    a.seq = 3;

    store_change_t pc = s_press_change(9, STORE_CANCELLED, s_press());
    len = codec_encode_change(&pc, STREAM, buf, BUF_SIZE);
    s_expect_refused(d, buf, len, "change: a press release cannot be cancelled");

    len = codec_encode_heartbeat(STREAM, 5, 1, buf, BUF_SIZE);
    Herald__V1__Announcement *hb_a = herald__v1__announcement__unpack(NULL, (size_t) len, buf);
    assert_non_null(hb_a);
    hb_a->change = HERALD__V1__CHANGE__CREATED;
    s_expect_refused(d, buf, s_pack(hb_a, buf), "change: created in a heartbeat");
    hb_a->change = HERALD__V1__CHANGE__CHANGE_UNSPECIFIED;
    hb_a->seq = 4;
    s_expect_refused(d, buf, s_pack(hb_a, buf), "seq");
    herald__v1__announcement__free_unpacked(hb_a, NULL);

    len = codec_encode_replay_end(STREAM, 5, 6, NULL, buf, BUF_SIZE);
    Herald__V1__Announcement *end_a = herald__v1__announcement__unpack(NULL, (size_t) len, buf);
    assert_non_null(end_a);
    end_a->change = HERALD__V1__CHANGE__DELETED;
    s_expect_refused(d, buf, s_pack(end_a, buf), "change: deleted in a replay end");
    herald__v1__announcement__free_unpacked(end_a, NULL);

    //  No body at all.
    a = (Herald__V1__Announcement) HERALD__V1__ANNOUNCEMENT__INIT;
    a.stream_id = (char *) STREAM;
    a.seq = 3;
    a.change = HERALD__V1__CHANGE__CREATED;
    s_expect_refused(d, buf, s_pack(&a, buf), "body");

    //  More people than a record may have.
    Herald__V1__Person person = HERALD__V1__PERSON__INIT;
    person.name = (char *) "N";
    Herald__V1__Person *crowd[STORE_MAX_PEOPLE + 1];
    for (size_t i = 0; i <= STORE_MAX_PEOPLE; i++) {
        crowd[i] = &person;
    }
    ev.n_people = STORE_MAX_PEOPLE + 1;
    ev.people = crowd;
    a.body_case = HERALD__V1__ANNOUNCEMENT__BODY_EVENT;
    a.event = &ev;
    s_expect_refused(d, buf, s_pack(&a, buf), "event.people");
    ev.n_people = STORE_MAX_PEOPLE;
    assert_non_null(codec_decode(d, buf, (size_t) s_pack(&a, buf), why, sizeof(why)));

    //  codec_validate also works on a message that was never encoded.
    assert_int_equal(codec_validate(&a, why, sizeof(why)), 0);
    a.stream_id = (char *) "nope";
    assert_int_equal(codec_validate(&a, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "stream_id"));

    codec_decoder_destroy(&d);
    free(buf);
}

//  Appends a varint; returns the new end.
static uint8_t *s_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t) (v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t) v;
    return p;
}

static void test_limits(void **state)
{
    (void) state;
    uint8_t *buf = s_buf();
    char why[256] = "";
    codec_decoder_t *d = codec_decoder_new();

    //  Too large a frame is refused before unpacking.
    memset(buf, 0, CODEC_MAX_FRAME + 1);
    assert_null(codec_decode(d, buf, CODEC_MAX_FRAME + 1, why, sizeof(why)));
    assert_non_null(strstr(why, "frame"));
    assert_null(codec_decode_request(d, buf, CODEC_MAX_FRAME + 1, why, sizeof(why)));

    //  The largest record the store accepts that fits a frame decodes: a full summary and
    //  STORE_MAX_PEOPLE people with long names.
    static char name[1400 + 1];
    memset(name, 'n', sizeof(name) - 1);
    static store_person_t crowd[STORE_MAX_PEOPLE];
    for (size_t i = 0; i < STORE_MAX_PEOPLE; i++) {
        crowd[i].name = name;
        crowd[i].role = name + 200;
    }
    char *summary = malloc(STORE_MAX_SUMMARY + 1);
    memset(summary, 's', STORE_MAX_SUMMARY);
    summary[STORE_MAX_SUMMARY] = '\0';
    store_event_t e = s_event();
    e.summary = summary;
    e.people = crowd;
    e.people_count = STORE_MAX_PEOPLE;
    store_change_t c = s_event_change(1, STORE_CREATED, e);
    int len = codec_encode_change(&c, STREAM, buf, BUF_SIZE);
    assert_true(len > 200 * 1024 && len <= CODEC_MAX_FRAME);
    const announcement_t *a = codec_decode(d, buf, (size_t) len, why, sizeof(why));
    if (a == NULL) {
        fail_msg("refused: %s", why);
    }
    assert_int_equal(a->event->n_people, STORE_MAX_PEOPLE);
    free(summary);
    size_t legit = codec_decoder_high_water(d);
    assert_true(legit < CODEC_ARENA_SIZE / 4);

    //  A bomb: a frame of empty people ({tag 12, len 0} pairs) and a frame of tiny unknown
    //  fields. Each wire pair of bytes costs dozens in memory; the arena runs out and the
    //  message is refused as too complex, never overflowed.
    uint8_t *p = buf;
    *p++ = (5 << 3) | 2; // Announcement.event
    uint8_t *body = buf + 8;
    uint8_t *q = body;
    while ((size_t) (q - buf) < CODEC_MAX_FRAME - 8) {
        *q++ = (12 << 3) | 2; // Event.people, empty
        *q++ = 0;
    }
    size_t body_len = (size_t) (q - body);
    uint8_t *after = s_varint(p, body_len);
    memmove(after, body, body_len);
    len = (int) ((after - buf) + (ptrdiff_t) body_len);
    assert_null(codec_decode(d, buf, (size_t) len, why, sizeof(why)));
    assert_non_null(strstr(why, "too complex"));

    q = buf;
    while ((size_t) (q - buf) < CODEC_MAX_FRAME) {
        *q++ = (15 << 3) | 0; // unknown varint field 15
        *q++ = 1;
    }
    assert_null(codec_decode(d, buf, (size_t) (q - buf), why, sizeof(why)));
    assert_non_null(strstr(why, "too complex"));
    assert_null(codec_decode_request(d, buf, (size_t) (q - buf), why, sizeof(why)));
    assert_non_null(strstr(why, "too complex"));

    //  Repeated event bodies are merged by protobuf-c, each merge copying the people so far:
    //  quadratic, and bounded by the arena.
    q = buf;
    while ((size_t) (q - buf) < CODEC_MAX_FRAME - 4) {
        *q++ = (5 << 3) | 2;
        *q++ = 2;
        *q++ = (12 << 3) | 2;
        *q++ = 0;
    }
    assert_null(codec_decode(d, buf, (size_t) (q - buf), why, sizeof(why)));

    //  A few unknown fields (a newer publisher) are ignored.
    int hb = codec_encode_heartbeat(STREAM, 9, 9, buf, BUF_SIZE);
    q = buf + hb;
    q = s_varint(q, (20 << 3) | 0);
    *q++ = 1;
    q = s_varint(q, (21 << 3) | 2);
    *q++ = 3;
    memcpy(q, "new", 3);
    q += 3;
    a = codec_decode(d, buf, (size_t) (q - buf), why, sizeof(why));
    if (a == NULL) {
        fail_msg("refused: %s", why);
    }
    assert_int_equal(a->heartbeat->head_seq, 9);

    //  The decoder still works after all that.
    hb = codec_encode_heartbeat(STREAM, 10, 10, buf, BUF_SIZE);
    assert_non_null(codec_decode(d, buf, (size_t) hb, why, sizeof(why)));
    assert_true(codec_decoder_high_water(d) <= CODEC_ARENA_SIZE);
    codec_decoder_destroy(&d);
    free(buf);
}

static void test_decoder_reuse(void **state)
{
    (void) state;
    uint8_t buf[4096];
    char why[256];
    codec_decoder_t *d = codec_decoder_new();
    assert_non_null(d);
    for (int i = 1; i <= 20000; i++) {
        store_change_t c = i % 2 ? s_event_change(i, STORE_UPDATED, s_event())
                                 : s_press_change(i, STORE_CREATED, s_press());
        int len = codec_encode_change(&c, STREAM, buf, sizeof(buf));
        const announcement_t *a = codec_decode(d, buf, (size_t) len, why, sizeof(why));
        assert_non_null(a);
        assert_int_equal(a->seq, (uint64_t) i);
        if (i % 3 == 0) {
            assert_null(codec_decode(d, buf, (size_t) len - 1, why, sizeof(why)));
        }
    }
    codec_decoder_destroy(&d);
    assert_null(d);
    codec_decoder_destroy(&d); // twice is harmless
    codec_decoder_t *none = NULL;
    codec_decoder_destroy(&none);

    //  The fuzz entry: both decoders on the same bytes, static decoder freed at the end.
    store_change_t c = s_event_change(3, STORE_CREATED, s_event());
    int len = codec_encode_change(&c, STREAM, buf, sizeof(buf));
    assert_int_equal(codec_fuzz_one(buf, (size_t) len), 0);
    assert_int_equal(codec_fuzz_one(buf, 3), 0);
    assert_int_equal(codec_fuzz_one(buf, 0), 0);
    assert_int_equal(codec_fuzz_one(NULL, 0), 0);
}

//  A ReplayBatch built with codec_batch_append (each announcement followed by its topic) is
//  what protobuf-c reads as the same announcements and topics, and packs again (announcements
//  first, then topics) into bytes that walk back to the same items and topics; each item decodes
//  to its announcement.
static void test_batch_round_trip(void **state)
{
    (void) state;
    uint8_t *batch = s_buf();
    uint8_t *frame = s_buf();
    size_t used = 0;
    int lens[3];
    store_change_t changes[3] = {s_event_change(7, STORE_CREATED, s_event()),
                                 s_press_change(8, STORE_CREATED, s_press()),
                                 s_event_change(9, STORE_DELETED, s_event())};
    changes[2].present = false;
    Herald__V1__Announcement *unpacked[3];
    for (int i = 0; i < 3; i++) {
        lens[i] = codec_encode_change(&changes[i], STREAM, frame, BUF_SIZE);
        assert_true(lens[i] > 0);
        assert_int_equal(codec_batch_append(batch, CODEC_MAX_BATCH, &used, frame, (size_t) lens[i],
                                            changes[i].topic),
                         0);
        unpacked[i] = herald__v1__announcement__unpack(NULL, (size_t) lens[i], frame);
        assert_non_null(unpacked[i]);
    }
    //  protobuf-c reads it as a ReplayBatch of the three
    Herald__V1__ReplayBatch *rb = herald__v1__replay_batch__unpack(NULL, used, batch);
    assert_non_null(rb);
    assert_int_equal(rb->n_announcements, 3);
    assert_int_equal(rb->announcements[1]->seq, 8);
    assert_int_equal(rb->n_topics, 3);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(rb->topics[i], changes[i].topic);
    }
    Herald__V1__ReplayBatch again = HERALD__V1__REPLAY_BATCH__INIT;
    again.n_announcements = 3;
    again.announcements = unpacked;
    again.n_topics = 3;
    again.topics = rb->topics;
    assert_int_equal(herald__v1__replay_batch__get_packed_size(&again), used);
    size_t packed = herald__v1__replay_batch__pack(&again, frame);
    assert_int_equal(packed, used); //  the same entries, protobuf-c's order
    size_t item_pos = 0, topic_pos = 0, item_len0 = 0, topic_len = 0;
    const uint8_t *item0 = NULL;
    const char *topic = NULL;
    char why0[256];
    for (int i = 0; i < 3; i++) {
        assert_int_equal(
            codec_batch_next(frame, packed, &item_pos, &item0, &item_len0, why0, sizeof why0), 1);
        assert_int_equal(item_len0, lens[i]);
        assert_int_equal(
            codec_batch_topic(frame, packed, &topic_pos, &topic, &topic_len, why0, sizeof why0), 1);
        assert_int_equal(topic_len, strlen(changes[i].topic));
        assert_memory_equal(topic, changes[i].topic, topic_len);
    }
    assert_int_equal(
        codec_batch_topic(frame, packed, &topic_pos, &topic, &topic_len, why0, sizeof why0), 0);
    herald__v1__replay_batch__free_unpacked(rb, NULL);
    for (int i = 0; i < 3; i++) {
        herald__v1__announcement__free_unpacked(unpacked[i], NULL);
    }

    codec_decoder_t *d = codec_decoder_new();
    size_t pos = 0, item_len = 0;
    const uint8_t *item = NULL;
    char why[256];
    for (int i = 0; i < 3; i++) {
        assert_int_equal(codec_batch_next(batch, used, &pos, &item, &item_len, why, sizeof why), 1);
        assert_int_equal(item_len, lens[i]);
        const announcement_t *a = codec_decode(d, item, item_len, why, sizeof why);
        if (!a) {
            fail_msg("item %d refused: %s", i, why);
        }
        assert_int_equal(a->seq, 7 + i);
    }
    assert_int_equal(codec_batch_next(batch, used, &pos, &item, &item_len, why, sizeof why), 0);
    assert_int_equal(pos, used);
    //  the topics, walked with a cursor of their own, each right after its item
    pos = 0;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(codec_batch_topic(batch, used, &pos, &topic, &topic_len, why, sizeof why),
                         1);
        assert_memory_equal(topic, changes[i].topic, topic_len);
    }
    assert_int_equal(codec_batch_topic(batch, used, &pos, &topic, &topic_len, why, sizeof why), 0);
    //  an empty batch is a batch of nothing
    pos = 0;
    assert_int_equal(codec_batch_next(batch, 0, &pos, &item, &item_len, why, sizeof why), 0);
    //  a full batch refuses the next item and is left as it was
    size_t small = 0;
    assert_int_equal(codec_batch_append(batch, 10, &small, frame, 20, "press."), -1);
    assert_int_equal(small, 0);
    //  the item fits, its topic not: nothing is written
    assert_int_equal(codec_batch_append(batch, 22 + 6, &small, frame, 20, "press."), -1);
    assert_int_equal(small, 0);
    assert_int_equal(codec_batch_append(batch, 22 + 8, &small, frame, 20, "press."), 0);
    assert_int_equal(small, 22 + 8);
    codec_decoder_destroy(&d);
    free(batch);
    free(frame);
}

//  Fields a newer publisher might add are skipped; anything that is not a ReplayBatch (every
//  truncation, field 1 with another wire type, field 0, bad lengths) is refused, never read
//  past its end.
static void test_batch_malformed(void **state)
{
    (void) state;
    uint8_t frame[512];
    uint8_t batch[1024];
    size_t used = 0;
    store_change_t c = s_press_change(3, STORE_CREATED, s_press());
    int len = codec_encode_change(&c, STREAM, frame, sizeof frame);
    assert_true(len > 0);
    //  unknown fields of every wire type around the item: 2 varint, 3 fixed64, 4 bytes, 5 fixed32
    const uint8_t before[] = {0x10, 0x96, 0x01, 0x19, 1, 2, 3, 4, 5, 6, 7, 8, 0x22, 0x02, 'h', 'i'};
    const uint8_t after[] = {0x2d, 1, 2, 3, 4};
    memcpy(batch, before, sizeof before);
    used = sizeof before;
    assert_int_equal(codec_batch_append(batch, sizeof batch, &used, frame, (size_t) len, NULL), 0);
    memcpy(batch + used, after, sizeof after);
    used += sizeof after;
    size_t pos = 0, item_len = 0;
    const uint8_t *item = NULL;
    char why[256];
    assert_int_equal(codec_batch_next(batch, used, &pos, &item, &item_len, why, sizeof why), 1);
    assert_ptr_equal(item, batch + sizeof before + 3); //  key and a two-byte length
    assert_int_equal(item_len, len);
    assert_int_equal(codec_batch_next(batch, used, &pos, &item, &item_len, why, sizeof why), 0);

    //  every truncation inside a field is refused; a cut between fields is a shorter batch
    size_t boundaries[] = {0, 3, 12, 16, 16 + 3 + (size_t) len, 16 + 3 + (size_t) len + 2, used};
    for (size_t cut = 0; cut < used; cut++) {
        bool boundary = false;
        for (size_t b = 0; b < sizeof boundaries / sizeof *boundaries; b++) {
            boundary = boundary || boundaries[b] == cut;
        }
        pos = 0;
        int rc;
        while ((rc = codec_batch_next(batch, cut, &pos, &item, &item_len, why, sizeof why)) == 1) {
            assert_true(item + item_len <= batch + cut);
        }
        if (boundary ? rc != 0 : rc != -1) {
            fail_msg("cut at %zu: %d (%s)", cut, rc, why);
        }
    }
    const struct {
        uint8_t bytes[8];
        size_t len;
        const char *why;
    } bad[] = {
        {{0x08, 0x01}, 2, "field 1 not length-delimited"},
        {{0x0d, 1, 2, 3, 4}, 5, "field 1 not length-delimited"},
        {{0x02, 0x00}, 2, "bad field key"},
        {{0x0a, 0x05, 'a'}, 3, "bad length"},
        {{0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, 8, "bad length"},
        {{0x13}, 1, "unknown wire type"},
        {{0x16}, 1, "unknown wire type"},
        {{0xff, 0xff, 0xff}, 3, "bad field key"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        pos = 0;
        why[0] = '\0';
        assert_int_equal(
            codec_batch_next(bad[i].bytes, bad[i].len, &pos, &item, &item_len, why, sizeof why),
            -1);
        if (!strstr(why, bad[i].why)) {
            fail_msg("case %zu: expected '%s', got '%s'", i, bad[i].why, why);
        }
    }
    //  random bytes: walked without reading past the end (ASan watches), never a crash
    uint8_t noise[256];
    for (int round = 0; round < 20000; round++) {
        size_t n = s_rand() % sizeof noise;
        for (size_t i = 0; i < n; i++) {
            noise[i] = (uint8_t) s_rand();
        }
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, noise, n);
        pos = 0;
        while (codec_batch_next(copy, n, &pos, &item, &item_len, why, sizeof why) == 1) {
            assert_true(item >= copy && item + item_len <= copy + n && pos <= n);
        }
        free(copy);
    }
}

/*  codec_encode_change writes change announcements by hand: its bytes must be exactly what
    protobuf-c packs for the same message, for every shape of change (events and press
    releases, ids alone, empty and long texts, 0 to 64 people, negative and huge numbers),
    and the batch writer must write the same bytes. A field added to the .proto fails here
    until the writer knows it. */
static void test_encode_is_protobuf_c(void **state)
{
    (void) state;
    assert_int_equal(herald__v1__announcement__descriptor.n_fields, 8);
    assert_int_equal(herald__v1__event__descriptor.n_fields, 13);
    assert_int_equal(herald__v1__press_release__descriptor.n_fields, 6);
    assert_int_equal(herald__v1__person__descriptor.n_fields, 2);
    uint8_t *buf = s_buf();
    uint8_t *repacked = s_buf();
    uint8_t *batch = s_buf();
    static char texts[12][700];
    static char names[STORE_MAX_PEOPLE][2][40];
    store_person_t people[STORE_MAX_PEOPLE];
    unsigned seed = 20261128;
    const int64_t numbers[] = {0,     1,         127, 128,       16383,
                               16384, INT64_MAX, -1,  INT64_MIN, 1764291723456};
    for (int round = 0; round < 3000; round++) {
        store_change_t c = {0};
        c.seq = round % 7 == 0 ? INT64_MAX - round : 1 + rand_r(&seed) % 100000;
        c.committed_at_ms = numbers[rand_r(&seed) % (sizeof numbers / sizeof numbers[0])];
        c.change = (store_change_kind_t) (STORE_CREATED + rand_r(&seed) % 4);
        c.present = rand_r(&seed) % 5 != 0;
        c.type = rand_r(&seed) % 3 == 0 ? STORE_PRESS : STORE_EVENT;
        c.record_id = rand_r(&seed) % 4 == 0 ? "" : random_text(texts[11], 60, &seed);
        if (c.record_id[0] == '\0' && c.type == STORE_EVENT) {
            c.record_id = "r-1";
        }
        if (c.type == STORE_EVENT) {
            store_event_t *e = &c.event;
            e->id = c.record_id;
            e->kind = random_text(texts[0], 30, &seed);
            e->title = random_text(texts[1], 300, &seed);
            e->start_date = random_text(texts[2], 11, &seed);
            e->end_date = random_text(texts[3], 11, &seed);
            e->city = random_text(texts[4], 40, &seed);
            e->country = random_text(texts[5], 3, &seed);
            e->summary = random_text(texts[6], 700, &seed);
            e->url = random_text(texts[7], 200, &seed);
            e->status = rand_r(&seed) % 2 ? "scheduled" : "cancelled";
            e->cancel_reason = random_text(texts[8], 100, &seed);
            e->version = numbers[rand_r(&seed) % (sizeof numbers / sizeof numbers[0])];
            e->people_count = rand_r(&seed) % 4 == 0 ? (size_t) rand_r(&seed) % 65 : 0;
            for (size_t i = 0; i < e->people_count; i++) {
                people[i].name = random_text(names[i][0], 40, &seed);
                people[i].role = random_text(names[i][1], 40, &seed);
            }
            e->people = people;
        } else {
            store_press_t *p = &c.press;
            p->id = c.record_id[0] ? c.record_id : "p-1";
            p->event_id = random_text(texts[0], 30, &seed);
            p->title = random_text(texts[1], 300, &seed);
            p->published_on = random_text(texts[2], 11, &seed);
            p->url = random_text(texts[7], 200, &seed);
            p->summary = random_text(texts[6], 700, &seed);
        }
        const char *stream = round % 11 == 0 ? "" : STREAM;
        int len = codec_encode_change(&c, stream, buf, BUF_SIZE);
        assert_true(len > 0);
        Herald__V1__Announcement *a = herald__v1__announcement__unpack(NULL, (size_t) len, buf);
        assert_non_null(a);
        size_t size = protobuf_c_message_get_packed_size(&a->base);
        if (size != (size_t) len) {
            fail_msg("round %d: %d bytes written, protobuf-c packs %zu", round, len, size);
        }
        protobuf_c_message_pack(&a->base, repacked);
        assert_memory_equal(buf, repacked, size);
        /* what was written is what the change says */
        assert_int_equal(a->seq, (uint64_t) c.seq);
        assert_int_equal(a->committed_at_ms, c.committed_at_ms);
        assert_int_equal(a->change, codec_change_to_wire(c.change));
        bool id_only = c.change == STORE_DELETED || !c.present;
        if (c.type == STORE_EVENT) {
            assert_int_equal(a->body_case, HERALD__V1__ANNOUNCEMENT__BODY_EVENT);
            assert_string_equal(a->event->id, c.record_id);
            assert_string_equal(a->event->summary, id_only ? "" : c.event.summary);
            assert_int_equal(a->event->n_people, id_only ? 0 : c.event.people_count);
            if (a->event->n_people > 0) {
                size_t last = a->event->n_people - 1;
                assert_string_equal(a->event->people[last]->role, c.event.people[last].role);
            }
            assert_int_equal(a->event->version, id_only ? 0 : c.event.version);
        } else {
            assert_int_equal(a->body_case, HERALD__V1__ANNOUNCEMENT__BODY_PRESS_RELEASE);
            assert_string_equal(a->press_release->event_id, id_only ? "" : c.press.event_id);
        }
        herald__v1__announcement__free_unpacked(a, NULL);
        /* codec_decode's hand decoder reads it as protobuf-c does (codec_fuzz_one aborts when
           not), and bytes flipped, cut short or said twice too */
        assert_int_equal(codec_fuzz_one(buf, (size_t) len), 0);
        for (int m = 0; m < 6; m++) {
            memcpy(repacked, buf, (size_t) len);
            size_t at = (size_t) rand_r(&seed) % (size_t) len;
            repacked[at] ^= (uint8_t) (1u << (rand_r(&seed) % 8));
            if (m % 3 == 1) {
                repacked[at] = (uint8_t) rand_r(&seed);
            }
            assert_int_equal(codec_fuzz_one(repacked, (size_t) len), 0);
            assert_int_equal(codec_fuzz_one(buf, at), 0);
        }
        if (2 * (size_t) len <= BUF_SIZE) {
            memcpy(repacked, buf, (size_t) len);
            memcpy(repacked + len, buf, (size_t) len);
            assert_int_equal(codec_fuzz_one(repacked, 2 * (size_t) len), 0);
        }
        /* the batch writer writes the same bytes after the item's key and length */
        size_t used = 0;
        assert_int_equal(codec_batch_append_change(batch, BUF_SIZE, &used, &c, stream), len);
        const char *topic = c.topic ? c.topic : "";
        size_t topic_entry = 2 + strlen(topic);
        size_t head = used - (size_t) len - topic_entry;
        assert_true(head >= 2 && head <= 4);
        assert_int_equal(batch[used - topic_entry], 0x12); /* then the topic, field 2 */
        assert_memory_equal(batch + used - strlen(topic), topic, strlen(topic));
        assert_memory_equal(batch + head, buf, (size_t) len);
        /* and writes nothing where it does not fit */
        size_t full = BUF_SIZE - 1;
        assert_int_equal(codec_batch_append_change(batch, BUF_SIZE, &full, &c, stream), 0);
        assert_int_equal(full, BUF_SIZE - 1);
    }
    free(buf);
    free(repacked);
    free(batch);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topic),
        cmocka_unit_test(test_change_names),
        cmocka_unit_test(test_event_round_trip),
        cmocka_unit_test(test_press_round_trip),
        cmocka_unit_test(test_deleted),
        cmocka_unit_test(test_heartbeat_and_replay_end),
        cmocka_unit_test(test_request),
        cmocka_unit_test(test_encode_small_buffer),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_bit_flips),
        cmocka_unit_test(test_invalid_fields),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_decoder_reuse),
        cmocka_unit_test(test_batch_round_trip),
        cmocka_unit_test(test_batch_malformed),
        cmocka_unit_test(test_encode_is_protobuf_c),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
