/*  recent_test.c -- tests of the publisher's ring of recent announcements
    (services/publisher/recent.h): it holds a run of consecutive seqs as they were put, the
    oldest make room for the newest by bytes and by count, a break in the run starts it
    afresh, and memory stays what recent_new allocated.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recent.h"

//  The body of seq: len bytes derived from seq, so that every entry can be checked.
static void s_body(int64_t seq, uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        buf[i] = (uint8_t) (seq * 31 + (int64_t) i);
    }
}

static void s_expect(const recent_t *r, int64_t seq, const char *topic, size_t len)
{
    const char *t;
    const uint8_t *body;
    size_t got;
    if (!recent_get(r, seq, &t, &body, &got)) {
        fail_msg("seq %lld not held (first %lld, last %lld)", (long long) seq,
                 (long long) recent_first(r), (long long) recent_last(r));
    }
    assert_string_equal(t, topic);
    assert_int_equal(got, len);
    uint8_t want[4096];
    s_body(seq, want, len);
    assert_memory_equal(body, want, len);
}

static void test_put_get(void **state)
{
    (void) state;
    recent_t *r = recent_new();
    assert_non_null(r);
    const char *t;
    const uint8_t *body;
    size_t len;
    assert_int_equal(recent_first(r), 0);
    assert_int_equal(recent_last(r), 0);
    assert_false(recent_get(r, 1, &t, &body, &len));
    uint8_t buf[400];
    for (int64_t seq = 5; seq <= 104; seq++) {
        s_body(seq, buf, sizeof buf);
        recent_put(r, seq, seq % 2 ? "event.course.FR." : "press.", buf, sizeof buf);
    }
    assert_int_equal(recent_first(r), 5);
    assert_int_equal(recent_last(r), 104);
    for (int64_t seq = 5; seq <= 104; seq++) {
        s_expect(r, seq, seq % 2 ? "event.course.FR." : "press.", sizeof buf);
    }
    assert_false(recent_get(r, 4, &t, &body, &len));
    assert_false(recent_get(r, 105, &t, &body, &len));
    //  an empty body and an empty topic are kept too
    recent_put(r, 105, "", buf, 0);
    s_expect(r, 105, "", 0);
    recent_clear(r);
    assert_int_equal(recent_last(r), 0);
    assert_false(recent_get(r, 100, &t, &body, &len));
    recent_destroy(&r);
    assert_null(r);
    recent_destroy(&r); //  safe on NULL
}

//  By bytes: 1 MiB of 3000-byte entries holds about 349 of them, the newest, wrapping the
//  block many times; every entry held is intact.
static void test_evicts_by_bytes(void **state)
{
    (void) state;
    recent_t *r = recent_new();
    uint8_t buf[3000];
    const char *topic = "event.working-group-meeting.FR.";
    size_t size = strlen(topic) + 1 + sizeof buf;
    int64_t n = 20000;
    for (int64_t seq = 1; seq <= n; seq++) {
        s_body(seq, buf, sizeof buf - (size_t) (seq % 7)); //  sizes vary: wraps fall anywhere
        recent_put(r, seq, topic, buf, sizeof buf - (size_t) (seq % 7));
        assert_int_equal(recent_last(r), seq);
        int64_t held = recent_last(r) - recent_first(r) + 1;
        assert_true(held >= 1 && (size_t) held * (size - 6) <= RECENT_BYTES);
    }
    int64_t held = recent_last(r) - recent_first(r) + 1;
    assert_true((size_t) held >= RECENT_BYTES / size - 2); //  at most a wrap's waste lost
    for (int64_t seq = recent_first(r); seq <= n; seq++) {
        s_expect(r, seq, topic, sizeof buf - (size_t) (seq % 7));
    }
    recent_destroy(&r);
}

//  By count: small entries are held RECENT_ENTRIES at most.
static void test_evicts_by_count(void **state)
{
    (void) state;
    recent_t *r = recent_new();
    uint8_t buf[8];
    for (int64_t seq = 1; seq <= 3 * RECENT_ENTRIES + 5; seq++) {
        s_body(seq, buf, sizeof buf);
        recent_put(r, seq, "hb", buf, sizeof buf);
    }
    assert_int_equal(recent_last(r), 3 * RECENT_ENTRIES + 5);
    assert_int_equal(recent_last(r) - recent_first(r) + 1, RECENT_ENTRIES);
    for (int64_t seq = recent_first(r); seq <= recent_last(r); seq++) {
        s_expect(r, seq, "hb", sizeof buf);
    }
    recent_destroy(&r);
}

//  A seq that does not follow the last (a gap, a repeat, a new stream from 1) starts afresh;
//  so do a seq below 1 and an entry larger than the ring (not kept at all).
static void test_breaks(void **state)
{
    (void) state;
    recent_t *r = recent_new();
    uint8_t buf[100];
    const char *t;
    const uint8_t *body;
    size_t len;
    for (int64_t seq = 1; seq <= 10; seq++) {
        s_body(seq, buf, sizeof buf);
        recent_put(r, seq, "press.", buf, sizeof buf);
    }
    s_body(12, buf, sizeof buf);
    recent_put(r, 12, "press.", buf, sizeof buf); //  11 skipped
    assert_int_equal(recent_first(r), 12);
    assert_int_equal(recent_last(r), 12);
    assert_false(recent_get(r, 10, &t, &body, &len));
    s_body(1, buf, sizeof buf);
    recent_put(r, 1, "press.", buf, sizeof buf); //  a new stream
    assert_int_equal(recent_first(r), 1);
    s_expect(r, 1, "press.", sizeof buf);
    recent_put(r, 0, "press.", buf, sizeof buf);
    assert_int_equal(recent_last(r), 0);
    recent_put(r, 1, "press.", buf, sizeof buf);
    uint8_t *huge = calloc(1, RECENT_BYTES);
    assert_non_null(huge);
    recent_put(r, 2, "press.", huge, RECENT_BYTES);
    assert_int_equal(recent_last(r), 0);
    assert_false(recent_get(r, 2, &t, &body, &len));
    //  one that fills the ring to the byte is kept, alone
    recent_put(r, 3, "", huge, RECENT_BYTES - 1);
    assert_int_equal(recent_first(r), 3);
    assert_int_equal(recent_last(r), 3);
    recent_put(r, 4, "", huge, 10);
    assert_int_equal(recent_first(r), 4);
    free(huge);
    recent_destroy(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get),
        cmocka_unit_test(test_evicts_by_bytes),
        cmocka_unit_test(test_evicts_by_count),
        cmocka_unit_test(test_breaks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
