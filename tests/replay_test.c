/*  replay_test.c -- tests of the publisher's replay answers (services/publisher/replay.h)
    through replay_answer, the socket-free entry point, on a sample store: batched answers
    hold exactly the unbatched announcements; answers come from the recent ring where it holds
    them and from the store before that; a ring short of the page asks the publisher for more;
    batches split at CODEC_BATCH_BYTES; a send that fails cuts the answer (no replay.end).
    One test goes through replay_handle and a real ROUTER, where batches are sent without a
    copy; another repeats one request there until the loop guard refuses it. Snapshots and
    filtered replays, paged as docs/protocol.md says, end on stores whose newest change is a
    deletion, a cancellation or a press release; batched announcements carry the topics the
    unbatched ones travel on. A snapshot as of a seq sends each record as it stood then, and
    pages the same way; a compacted store refuses a replay from below its horizon.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "log.h"
#include "recent.h"
#include "replay.h"
#include "store.h"

#include <zmq.h>

#define S_MAX_MSGS 64

/*  What one answer sent: every message, copied. */
typedef struct {
    int count;
    char topics[S_MAX_MSGS][CODEC_MAX_TOPIC];
    uint8_t *bodies[S_MAX_MSGS];
    size_t lens[S_MAX_MSGS];
    int fail_at; /* the send of this message fails with EAGAIN (-1: none) */
} s_answer_t;

static int s_send(void *arg, const char *topic, const uint8_t *body, size_t len)
{
    s_answer_t *answer = arg;
    if (answer->count == answer->fail_at) {
        errno = EAGAIN;
        return -1;
    }
    assert_true(answer->count < S_MAX_MSGS);
    snprintf(answer->topics[answer->count], CODEC_MAX_TOPIC, "%s", topic);
    answer->bodies[answer->count] = malloc(len ? len : 1);
    memcpy(answer->bodies[answer->count], body, len);
    answer->lens[answer->count] = len;
    answer->count++;
    return 0;
}

static void s_answer_free(s_answer_t *answer)
{
    for (int i = 0; i < answer->count; i++) {
        free(answer->bodies[i]);
    }
    memset(answer, 0, sizeof *answer);
    answer->fail_at = -1;
}

typedef struct {
    store_t *store;
    replay_t *replay;
    recent_t *recent;
    int64_t head;
    int64_t more_from, more_to; /* the last call of s_more */
    int more_calls;
} s_world_t;

static void s_more(void *arg, int64_t from, int64_t to)
{
    s_world_t *w = arg;
    w->more_calls++;
    w->more_from = from;
    w->more_to = to;
}

static int s_setup(void **state)
{
    s_world_t *w = calloc(1, sizeof *w);
    char err[512];
    log_setup(LOG_ERROR, 0);
    w->store = store_new(":memory:", STORE_CREATE, err, sizeof err);
    assert_non_null(w->store);
    assert_int_equal(store_load_sample(w->store), 0);
    w->head = store_head_seq(w->store);
    assert_true(w->head >= 10);
    w->replay = replay_new();
    w->recent = recent_new();
    assert_non_null(w->replay);
    assert_non_null(w->recent);
    *state = w;
    return 0;
}

static int s_teardown(void **state)
{
    s_world_t *w = *state;
    replay_destroy(&w->replay);
    recent_destroy(&w->recent);
    store_destroy(&w->store);
    free(w);
    return 0;
}

/*  A ReplayRequest frame. */
static size_t s_request(uint8_t *buf, size_t cap, uint64_t after, uint32_t limit, bool batch)
{
    Herald__V1__ReplayRequest req = HERALD__V1__REPLAY_REQUEST__INIT;
    req.after_seq = after;
    req.limit = limit;
    req.batch = batch;
    size_t len = herald__v1__replay_request__get_packed_size(&req);
    assert_true(len <= cap);
    return herald__v1__replay_request__pack(&req, buf);
}

static void s_ask(s_world_t *w, s_answer_t *answer, uint64_t after, uint32_t limit, bool batch,
                  replay_stats_t *stats)
{
    uint8_t req[64];
    size_t len = s_request(req, sizeof req, after, limit, batch);
    replay_answer(w->replay, req, len, w->store, store_stream_id(w->store), NULL, s_send, answer,
                  stats);
}

/*  The announcements of an answer in order, batches opened: their bytes into out[]. */
static int s_items(const s_answer_t *answer, const uint8_t **out, size_t *lens, int cap)
{
    int n = 0;
    for (int i = 0; i < answer->count; i++) {
        if (strcmp(answer->topics[i], CODEC_REPLAY_BATCH_TOPIC) == 0) {
            size_t pos = 0;
            char why[128];
            int rc;
            while ((rc = codec_batch_next(answer->bodies[i], answer->lens[i], &pos, &out[n],
                                          &lens[n], why, sizeof why)) == 1) {
                assert_true(++n < cap);
            }
            assert_int_equal(rc, 0);
        } else if (strcmp(answer->topics[i], CODEC_REPLAY_END_TOPIC) != 0) {
            out[n] = answer->bodies[i];
            lens[n] = answer->lens[i];
            assert_true(++n < cap);
        }
    }
    return n;
}

static const Herald__V1__ReplayEnd *s_end(codec_decoder_t *d, const s_answer_t *answer)
{
    assert_true(answer->count > 0);
    assert_string_equal(answer->topics[answer->count - 1], CODEC_REPLAY_END_TOPIC);
    char why[128];
    const announcement_t *a = codec_decode(d, answer->bodies[answer->count - 1],
                                           answer->lens[answer->count - 1], why, sizeof why);
    if (!a) {
        fail_msg("the replay.end does not decode: %s", why);
    }
    return a->replay_end;
}

static void test_batched_equals_plain(void **state)
{
    s_world_t *w = *state;
    codec_decoder_t *d = codec_decoder_new();
    s_answer_t plain = {.fail_at = -1}, batched = {.fail_at = -1};
    replay_stats_t stats = {0};
    s_ask(w, &plain, 0, 0, false, &stats);
    s_ask(w, &batched, 0, 0, true, &stats);
    assert_int_equal(plain.count, w->head + 1);
    assert_int_equal(batched.count, 2); /* one ReplayBatch (the sample is small), the end */
    assert_string_equal(batched.topics[0], CODEC_REPLAY_BATCH_TOPIC);
    const uint8_t *a[S_MAX_MSGS * 4], *b[S_MAX_MSGS * 4];
    size_t alen[S_MAX_MSGS * 4], blen[S_MAX_MSGS * 4];
    int na = s_items(&plain, a, alen, S_MAX_MSGS * 4);
    int nb = s_items(&batched, b, blen, S_MAX_MSGS * 4);
    assert_int_equal(na, w->head);
    assert_int_equal(nb, na);
    for (int i = 0; i < na; i++) {
        assert_int_equal(alen[i], blen[i]);
        assert_memory_equal(a[i], b[i], alen[i]);
    }
    /* each batched announcement carries the topic it travels on alone */
    size_t pos = 0, topic_len = 0;
    const char *topic = NULL;
    char why[128];
    for (int i = 0; i < na; i++) {
        assert_int_equal(codec_batch_topic(batched.bodies[0], batched.lens[0], &pos, &topic,
                                           &topic_len, why, sizeof why),
                         1);
        assert_int_equal(topic_len, strlen(plain.topics[i]));
        assert_memory_equal(topic, plain.topics[i], topic_len);
    }
    assert_int_equal(codec_batch_topic(batched.bodies[0], batched.lens[0], &pos, &topic, &topic_len,
                                       why, sizeof why),
                     0);
    const Herald__V1__ReplayEnd *end = s_end(d, &batched);
    assert_int_equal(end->last_seq, w->head);
    assert_int_equal(end->head_seq, w->head);
    assert_int_equal(stats.announcements, 2 * (uint64_t) w->head);
    assert_int_equal(stats.recent, 0); /* no ring given: all from the store */
    s_answer_free(&plain);
    s_answer_free(&batched);
    codec_decoder_destroy(&d);
}

/*  The ring holds seqs 4..head as published (here: marked bodies, to tell them apart from
    the store's). A page after 3 comes from it alone; a page after 0 starts before it, so the
    store answers; a request near INT64_MAX finds nothing and no overflow. */
static void test_from_ring(void **state)
{
    s_world_t *w = *state;
    codec_decoder_t *d = codec_decoder_new();
    uint8_t marked[8] = {'r', 'i', 'n', 'g'};
    for (int64_t seq = 4; seq <= w->head; seq++) {
        memcpy(marked + 4, &seq, 4);
        recent_put(w->recent, seq, seq % 2 ? "press." : "event.course.FR.", marked, sizeof marked);
    }
    replay_set_recent(w->replay, w->recent, s_more, w);
    s_answer_t answer = {.fail_at = -1};
    replay_stats_t stats = {0};
    s_ask(w, &answer, 3, 0, false, &stats);
    assert_int_equal(answer.count, w->head - 3 + 1);
    for (int64_t seq = 4; seq <= w->head; seq++) {
        int i = (int) (seq - 4);
        assert_int_equal(answer.lens[i], sizeof marked);
        assert_memory_equal(answer.bodies[i], "ring", 4);
        assert_string_equal(answer.topics[i], seq % 2 ? "press." : "event.course.FR.");
    }
    assert_int_equal(stats.recent, w->head - 3);
    assert_int_equal(s_end(d, &answer)->last_seq, w->head);
    /* the default page (1000) reaches beyond what the ring holds: the publisher was asked */
    assert_int_equal(w->more_calls, 1);
    assert_int_equal(w->more_from, 3);
    assert_int_equal(w->more_to, 3 + CODEC_DEFAULT_LIMIT);
    s_answer_free(&answer);

    stats = (replay_stats_t){0};
    s_ask(w, &answer, 0, 0, true, &stats);
    assert_int_equal(stats.recent, 0);
    const uint8_t *items[S_MAX_MSGS * 4];
    size_t lens[S_MAX_MSGS * 4];
    assert_int_equal(s_items(&answer, items, lens, S_MAX_MSGS * 4), w->head);
    for (int i = 0; i < w->head; i++) {
        assert_memory_not_equal(items[i], "ring", 4); /* encoded from the store */
    }
    s_answer_free(&answer);

    /* a page the ring covers entirely does not call the publisher */
    w->more_calls = 0;
    s_ask(w, &answer, 4, 2, false, &stats);
    assert_int_equal(w->more_calls, 0);
    assert_int_equal(answer.count, 3);
    assert_int_equal(s_end(d, &answer)->last_seq, 6);
    s_answer_free(&answer);

    /* after a seq beyond the head (even INT64_MAX: no overflow): refused, saying why */
    s_ask(w, &answer, INT64_MAX, 0, true, &stats);
    assert_int_equal(answer.count, 1);
    assert_non_null(strstr(s_end(d, &answer)->error, "beyond the head"));
    s_answer_free(&answer);
    s_ask(w, &answer, (uint64_t) w->head + 1, 0, false, &stats);
    assert_int_equal(answer.count, 1);
    assert_non_null(strstr(s_end(d, &answer)->error, "beyond the head"));
    s_answer_free(&answer);
    s_ask(w, &answer, (uint64_t) w->head, 0, false, &stats); /* at the head: nothing, no error */
    assert_int_equal(answer.count, 1);
    assert_string_equal(s_end(d, &answer)->error, "");
    assert_int_equal(s_end(d, &answer)->last_seq, w->head);
    s_answer_free(&answer);
    replay_set_recent(w->replay, NULL, NULL, NULL);
    recent_clear(w->recent);
    codec_decoder_destroy(&d);
}

/*  Batches fill up to CODEC_BATCH_BYTES; an announcement larger than that goes alone. */
static void test_batch_split(void **state)
{
    s_world_t *w = *state;
    static uint8_t body[CODEC_BATCH_BYTES + 1000];
    const size_t sizes[] = {20000, 20000, 20000, 20000, CODEC_BATCH_BYTES + 1000, 300};
    int64_t first = w->head + 1;
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        memset(body, 'a' + (int) i, sizes[i]);
        recent_put(w->recent, first + (int64_t) i, "press.", body, sizes[i]);
    }
    replay_set_recent(w->replay, w->recent, NULL, NULL);
    s_answer_t answer = {.fail_at = -1};
    replay_stats_t stats = {0};
    s_ask(w, &answer, (uint64_t) first - 1, 0, true, &stats);
    /* 3 x 20000 fill the first batch, the 4th starts the next, the large one goes alone,
       then the last one, then the end */
    assert_int_equal(answer.count, 5);
    size_t expect_items[] = {3, 1, 1, 1};
    for (int i = 0; i < 4; i++) {
        assert_string_equal(answer.topics[i], CODEC_REPLAY_BATCH_TOPIC);
        assert_true(answer.lens[i] <= CODEC_MAX_BATCH);
        assert_true(i == 2 || answer.lens[i] <= CODEC_BATCH_BYTES);
        size_t pos = 0, n = 0, len;
        const uint8_t *item;
        char why[128];
        while (codec_batch_next(answer.bodies[i], answer.lens[i], &pos, &item, &len, why,
                                sizeof why) == 1) {
            n++;
        }
        assert_int_equal(n, expect_items[i]);
    }
    assert_int_equal(stats.recent, 6);
    s_answer_free(&answer);
    replay_set_recent(w->replay, NULL, NULL, NULL);
    recent_clear(w->recent);
}

/*  A send that fails (the peer's queue full) cuts the answer: nothing after it, no replay.end,
    counted; batched or not. */
static void test_cut(void **state)
{
    s_world_t *w = *state;
    for (int batch = 0; batch < 2; batch++) {
        s_answer_t answer = {.fail_at = batch ? 0 : 3};
        replay_stats_t stats = {0};
        s_ask(w, &answer, 0, 0, batch, &stats);
        assert_int_equal(answer.count, batch ? 0 : 3);
        for (int i = 0; i < answer.count; i++) {
            assert_string_not_equal(answer.topics[i], CODEC_REPLAY_END_TOPIC);
        }
        assert_int_equal(stats.cut, 1);
        assert_int_equal(stats.requests, 1);
        s_answer_free(&answer);
    }
    /* and the next request is answered in full */
    s_answer_t answer = {.fail_at = -1};
    replay_stats_t stats = {0};
    s_ask(w, &answer, 0, 0, true, &stats);
    assert_int_equal(answer.count, 2);
    assert_int_equal(stats.cut, 0);
    s_answer_free(&answer);
}

/*  One request from dealer, handled by replay_handle on router, and what dealer then holds
    (at most S_MAX_MSGS messages, [topic][body] each) into answer. */
static void s_ask_router(s_world_t *w, void *router, void *dealer, uint64_t after,
                         s_answer_t *answer, replay_stats_t *stats)
{
    uint8_t req[64];
    size_t len = s_request(req, sizeof req, after, 0, true);
    assert_int_equal(zmq_send(dealer, req, len, 0), (int) len);
    zmq_pollitem_t in = {router, 0, ZMQ_POLLIN, 0};
    assert_int_equal(zmq_poll(&in, 1, 5000), 1);
    assert_int_equal(replay_handle(w->replay, router, w->store, store_stream_id(w->store), stats),
                     1);
    zmq_msg_t topic, body;
    zmq_msg_init(&topic);
    zmq_msg_init(&body);
    while (zmq_msg_recv(&topic, dealer, ZMQ_DONTWAIT) >= 0) {
        assert_true(zmq_msg_more(&topic));
        assert_true(zmq_msg_recv(&body, dealer, ZMQ_DONTWAIT) >= 0);
        assert_true(answer->count < S_MAX_MSGS);
        snprintf(answer->topics[answer->count], CODEC_MAX_TOPIC, "%.*s", (int) zmq_msg_size(&topic),
                 (const char *) zmq_msg_data(&topic));
        answer->lens[answer->count] = zmq_msg_size(&body);
        answer->bodies[answer->count] = malloc(zmq_msg_size(&body) + 1);
        memcpy(answer->bodies[answer->count], zmq_msg_data(&body), zmq_msg_size(&body));
        answer->count++;
    }
    zmq_msg_close(&topic);
    zmq_msg_close(&body);
}

/*  Through a real ROUTER: the batches it is handed without a copy hold the bytes that
    replay_answer sends; a peer whose queue is full cuts the answer, and the batch that could
    not be sent is freed (ASan and valgrind see a leak or a double free). */
static void test_router(void **state)
{
    s_world_t *w = *state;
    static uint8_t body[20000];
    int64_t first = w->head + 1;
    for (int i = 0; i < 8; i++) {
        memset(body, 'a' + i, sizeof body);
        recent_put(w->recent, first + i, "press.", body, sizeof body);
    }
    replay_set_recent(w->replay, w->recent, NULL, NULL);
    s_answer_t want = {.fail_at = -1};
    replay_stats_t stats = {0};
    s_ask(w, &want, (uint64_t) first - 1, 0, true, &stats);
    assert_int_equal(want.count, 4); /* batches of 3, 3 and 2, then the end */

    void *ctx = zmq_ctx_new();
    void *router = zmq_socket(ctx, ZMQ_ROUTER);
    void *roomy = zmq_socket(ctx, ZMQ_DEALER);
    void *tight = zmq_socket(ctx, ZMQ_DEALER);
    int one = 1, zero = 0;
    assert_int_equal(zmq_setsockopt(router, ZMQ_ROUTER_MANDATORY, &one, sizeof one), 0);
    assert_int_equal(zmq_setsockopt(router, ZMQ_SNDHWM, &one, sizeof one), 0);
    assert_int_equal(zmq_setsockopt(tight, ZMQ_RCVHWM, &one, sizeof one), 0);
    void *sockets[] = {router, roomy, tight};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(zmq_setsockopt(sockets[i], ZMQ_LINGER, &zero, sizeof zero), 0);
    }
    assert_int_equal(zmq_bind(router, "inproc://replay-test"), 0);
    assert_int_equal(zmq_connect(roomy, "inproc://replay-test"), 0);
    assert_int_equal(zmq_connect(tight, "inproc://replay-test"), 0);

    s_answer_t got = {.fail_at = -1};
    stats = (replay_stats_t){0};
    s_ask_router(w, router, roomy, (uint64_t) first - 1, &got, &stats);
    assert_int_equal(got.count, want.count);
    for (int i = 0; i < want.count; i++) {
        assert_string_equal(got.topics[i], want.topics[i]);
        assert_int_equal(got.lens[i], want.lens[i]);
        assert_memory_equal(got.bodies[i], want.bodies[i], want.lens[i]);
    }
    assert_int_equal(stats.cut, 0);
    s_answer_free(&got);

    /* a queue of two messages (the ROUTER's one and the DEALER's one): the third is cut */
    stats = (replay_stats_t){0};
    s_ask_router(w, router, tight, (uint64_t) first - 1, &got, &stats);
    assert_int_equal(stats.cut, 1);
    assert_true(got.count >= 1 && got.count < want.count);
    for (int i = 0; i < got.count; i++) {
        assert_string_equal(got.topics[i], CODEC_REPLAY_BATCH_TOPIC);
        assert_memory_equal(got.bodies[i], want.bodies[i], want.lens[i]);
    }
    s_answer_free(&got);
    s_answer_free(&want);
    for (int i = 0; i < 3; i++) {
        zmq_close(sockets[i]);
    }
    zmq_ctx_term(ctx);
    replay_set_recent(w->replay, NULL, NULL, NULL);
    recent_clear(w->recent);
}

/*  An event of kind in country, created or updated. */
static void s_put(store_t *store, const char *id, const char *kind, const char *country)
{
    store_event_t e = {.id = id,
                       .kind = kind,
                       .title = "A title",
                       .start_date = "2026-03-01",
                       .end_date = "2026-03-02",
                       .city = "Lyon",
                       .country = country,
                       .summary = "",
                       .url = "",
                       .status = "scheduled",
                       .cancel_reason = ""};
    assert_int_equal(store_put_event(store, &e), 0);
}

static void s_put_press(store_t *store, const char *id)
{
    store_press_t p = {.id = id,
                       .event_id = "",
                       .title = "A release",
                       .published_on = "2026-03-03",
                       .url = "",
                       .summary = ""};
    assert_int_equal(store_put_press(store, &p), 0);
}

/*  Called per announcement of a paged answer (decoded; borrowed until it returns). */
typedef void(s_item_fn)(const announcement_t *a, void *arg);

/*  Pages a replay as docs/protocol.md says (after_seq = last_seq until last_seq >= head_seq),
    a snapshot as of as_of (0: now), handing each announcement to fn (may be NULL), and
    returns the number of requests it took, failing past max_requests. */
static int s_page_as_of(store_t *store, replay_t *replay, bool snapshot, uint64_t as_of,
                        const char *topic, uint32_t limit, bool batch, int max_requests,
                        s_item_fn *fn, void *arg)
{
    codec_decoder_t *d = codec_decoder_new();
    uint64_t after = 0;
    char *topics[1] = {(char *) topic};
    for (int requests = 1;; requests++) {
        if (requests > max_requests) {
            fail_msg("snapshot %d as of %llu, topic %s, limit %u, batch %d: no end after %d "
                     "requests, stuck at after_seq %llu",
                     snapshot, (unsigned long long) as_of, topic ? topic : "-", limit, batch,
                     max_requests, (unsigned long long) after);
        }
        Herald__V1__ReplayRequest req = HERALD__V1__REPLAY_REQUEST__INIT;
        req.after_seq = after;
        req.limit = limit;
        req.snapshot = snapshot;
        req.as_of_seq = as_of;
        req.batch = batch;
        req.topics = topic ? topics : NULL;
        req.n_topics = topic ? 1 : 0;
        uint8_t buf[256];
        size_t len = herald__v1__replay_request__pack(&req, buf);
        s_answer_t answer = {.fail_at = -1};
        replay_stats_t stats = {0};
        replay_answer(replay, buf, len, store, store_stream_id(store), NULL, s_send, &answer,
                      &stats);
        const uint8_t *items[S_MAX_MSGS * 4];
        size_t lens[S_MAX_MSGS * 4];
        int n = s_items(&answer, items, lens, S_MAX_MSGS * 4);
        for (int i = 0; fn && i < n; i++) {
            char why[128];
            const announcement_t *a = codec_decode(d, items[i], lens[i], why, sizeof why);
            if (!a) {
                fail_msg("an announcement does not decode: %s", why);
            }
            assert_true(as_of == 0 || a->seq <= as_of);
            assert_true(a->seq > after);
            fn(a, arg);
        }
        const Herald__V1__ReplayEnd *end = s_end(d, &answer);
        assert_string_equal(end->error, "");
        assert_true(end->last_seq >= after);
        assert_true(end->last_seq <= end->head_seq);
        after = end->last_seq;
        bool done = end->last_seq >= end->head_seq;
        s_answer_free(&answer);
        if (done) {
            assert_int_equal(after, store_head_seq(store));
            codec_decoder_destroy(&d);
            return requests;
        }
    }
}

/*  Pages a replay as docs/protocol.md says (after_seq = last_seq until last_seq >= head_seq)
    and returns the number of requests it took, failing past max_requests. */
static int s_page(store_t *store, replay_t *replay, bool snapshot, const char *topic,
                  uint32_t limit, bool batch, int max_requests)
{
    return s_page_as_of(store, replay, snapshot, 0, topic, limit, batch, max_requests, NULL, NULL);
}

/*  Snapshots and filtered replays end, paged as documented, whatever the store's newest
    change: a deletion (event, press release, every record), a cancellation, a press release,
    an update that moved an event to another country; and an empty store. */
static void test_paging_ends(void **state)
{
    (void) state;
    const char *shapes[] = {"delete-event", "delete-press", "cancel", "press",
                            "moved",        "delete-all",   "empty"};
    const char *topics[] = {NULL, "event.", "event.course.FR.", "press.", "event.none."};
    replay_t *replay = replay_new();
    for (size_t shape = 0; shape < sizeof shapes / sizeof *shapes; shape++) {
        char err[256];
        store_t *store = store_new(":memory:", STORE_CREATE, err, sizeof err);
        assert_non_null(store);
        const char *what = shapes[shape];
        if (strcmp(what, "empty") != 0) {
            s_put(store, "e1", "course", "FR");
            s_put(store, "e2", "conference", "DE");
            s_put_press(store, "p1");
            s_put(store, "e3", "course", "FR");
            s_put(store, "e4", "symposium", "TH");
        }
        if (strcmp(what, "delete-event") == 0) {
            assert_int_equal(store_delete_event(store, "e4"), 0);
            assert_int_equal(store_delete_event(store, "e3"), 0);
        } else if (strcmp(what, "delete-press") == 0) {
            assert_int_equal(store_delete_press(store, "p1"), 0);
        } else if (strcmp(what, "cancel") == 0) {
            assert_int_equal(store_cancel_event(store, "e1", "postponed"), 0);
        } else if (strcmp(what, "press") == 0) {
            s_put_press(store, "p2");
        } else if (strcmp(what, "moved") == 0) {
            s_put(store, "e1", "course", "DE");
        } else if (strcmp(what, "delete-all") == 0) {
            assert_int_equal(store_delete_press(store, "p1"), 0);
            const char *ids[] = {"e1", "e2", "e3", "e4"};
            for (int i = 0; i < 4; i++) {
                assert_int_equal(store_delete_event(store, ids[i]), 0);
            }
        }
        int64_t head = store_head_seq(store);
        for (int snapshot = 0; snapshot < 2; snapshot++) {
            for (size_t t = 0; t < sizeof topics / sizeof *topics; t++) {
                for (uint32_t limit = 1; limit <= 3; limit += 2) {
                    for (int batch = 0; batch < 2; batch++) {
                        /* a page covers at least one seq, or reaches the head */
                        s_page(store, replay, snapshot, topics[t], limit, batch, (int) head + 2);
                        /* and a snapshot as of a seq, paged the same way */
                        for (int64_t as_of = 1; snapshot && as_of < head; as_of += 3) {
                            s_page_as_of(store, replay, true, (uint64_t) as_of, topics[t], limit,
                                         batch, (int) head + 2, NULL, NULL);
                        }
                    }
                }
            }
        }
        store_destroy(&store);
    }
    replay_destroy(&replay);
}

/*  A record as the test expects it at a seq. */
typedef struct {
    const char *id;
    const char *title; /* NULL: does not exist */
    bool cancelled;
    bool seen; /* announced by the snapshot being checked */
} s_expect_t;

#define S_AS_OF_RECORDS 3

static void s_check_item(const announcement_t *a, void *arg)
{
    s_expect_t *expect = arg;
    bool event = a->body_case == HERALD__V1__ANNOUNCEMENT__BODY_EVENT;
    const char *id = event ? a->event->id : a->press_release->id;
    for (int i = 0; i < S_AS_OF_RECORDS; i++) {
        if (strcmp(expect[i].id, id) == 0) {
            assert_non_null(expect[i].title); /* a record that did not exist then: never sent */
            assert_false(expect[i].seen);
            expect[i].seen = true;
            assert_string_equal(event ? a->event->title : a->press_release->title, expect[i].title);
            assert_int_equal(a->change == HERALD__V1__CHANGE__CANCELLED, expect[i].cancelled);
            if (event) {
                assert_int_equal(a->event->status ==
                                     HERALD__V1__EVENT_STATUS__EVENT_STATUS_CANCELLED,
                                 expect[i].cancelled);
            }
            return;
        }
    }
    fail_msg("record %s was never written", id);
}

/*  A snapshot as of each seq of a history (updates, a cancellation, a deletion, a record
    created again, a press release deleted) sends every record that existed then, each with
    its state at that seq, paged with limits of 1 and 2, batched or not, and nothing else. */
static void test_as_of_states(void **state)
{
    (void) state;
    char err[256];
    store_t *store = store_new(":memory:", STORE_CREATE, err, sizeof err);
    assert_non_null(store);
    replay_t *replay = replay_new();
    /* seq: what happened, one change each */
    static const struct {
        int record; /* 0 e1, 1 e2, 2 p1 */
        const char *title;
        bool cancel, remove;
    } ops[] = {
        {0, "One", false, false},       /* 1 */
        {1, "Two", false, false},       /* 2 */
        {0, "One moved", false, false}, /* 3 */
        {2, "Release", false, false},   /* 4 */
        {1, NULL, true, false},         /* 5: e2 cancelled */
        {0, NULL, false, true},         /* 6: e1 deleted */
        {0, "One again", false, false}, /* 7: e1 created again */
        {2, NULL, false, true},         /* 8: p1 deleted */
    };
    const int n_ops = (int) (sizeof ops / sizeof *ops);
    for (int i = 0; i < n_ops; i++) {
        const char *id = ops[i].record == 0 ? "e1" : ops[i].record == 1 ? "e2" : "p1";
        if (ops[i].remove) {
            assert_int_equal(ops[i].record == 2 ? store_delete_press(store, id)
                                                : store_delete_event(store, id),
                             0);
        } else if (ops[i].cancel) {
            assert_int_equal(store_cancel_event(store, id, "postponed"), 0);
        } else if (ops[i].record == 2) {
            store_press_t p = {.id = id,
                               .event_id = "",
                               .title = ops[i].title,
                               .published_on = "2026-03-03",
                               .url = "",
                               .summary = ""};
            assert_int_equal(store_put_press(store, &p), 0);
        } else {
            store_event_t e = {.id = id,
                               .kind = "course",
                               .title = ops[i].title,
                               .start_date = "2026-03-01",
                               .end_date = "2026-03-02",
                               .city = "Lyon",
                               .country = "FR",
                               .summary = "",
                               .url = "",
                               .status = "scheduled",
                               .cancel_reason = ""};
            assert_int_equal(store_put_event(store, &e), 0);
        }
    }
    assert_int_equal(store_head_seq(store), n_ops);
    for (int at = 1; at <= n_ops; at++) {
        s_expect_t expect[S_AS_OF_RECORDS] = {{.id = "e1"}, {.id = "e2"}, {.id = "p1"}};
        for (int i = 0; i < at; i++) {
            s_expect_t *x = &expect[ops[i].record];
            if (ops[i].remove) {
                x->title = NULL;
                x->cancelled = false;
            } else if (ops[i].cancel) {
                x->cancelled = true;
            } else {
                x->title = ops[i].title;
            }
        }
        for (uint32_t limit = 1; limit <= 2; limit++) {
            for (int batch = 0; batch < 2; batch++) {
                for (int i = 0; i < S_AS_OF_RECORDS; i++) {
                    expect[i].seen = false;
                }
                s_page_as_of(store, replay, true, (uint64_t) at, NULL, limit, batch, n_ops + 2,
                             s_check_item, expect);
                for (int i = 0; i < S_AS_OF_RECORDS; i++) {
                    assert_int_equal(expect[i].seen, expect[i].title != NULL);
                }
            }
        }
    }
    replay_destroy(&replay);
    store_destroy(&store);
}

/*  One request's answer on store: its ReplayEnd's error and last_seq, and how many messages
    came before it. */
static void s_ask_one(store_t *store, replay_t *replay, const Herald__V1__ReplayRequest *req,
                      char *error, size_t cap, uint64_t *last_seq, int *before_end)
{
    uint8_t buf[256];
    size_t len = herald__v1__replay_request__pack(req, buf);
    s_answer_t answer = {.fail_at = -1};
    replay_stats_t stats = {0};
    replay_answer(replay, buf, len, store, store_stream_id(store), NULL, s_send, &answer, &stats);
    codec_decoder_t *d = codec_decoder_new();
    const Herald__V1__ReplayEnd *end = s_end(d, &answer);
    snprintf(error, cap, "%s", end->error);
    *last_seq = end->last_seq;
    *before_end = answer.count - 1;
    assert_int_equal(stats.refused, error[0] ? 1 : 0);
    codec_decoder_destroy(&d);
    s_answer_free(&answer);
}

/*  as_of_seq without snapshot is refused by the decoder; as of a seq beyond the head by the
    publisher; as of the head it is the snapshot. */
static void test_as_of_refused(void **state)
{
    s_world_t *w = *state;
    char error[256];
    uint64_t last = 0;
    int sent = 0;
    Herald__V1__ReplayRequest req = HERALD__V1__REPLAY_REQUEST__INIT;
    req.as_of_seq = 3;
    s_ask_one(w->store, w->replay, &req, error, sizeof error, &last, &sent);
    assert_non_null(strstr(error, "as_of_seq"));
    assert_non_null(strstr(error, "snapshot"));
    assert_int_equal(sent, 0);
    req.snapshot = true;
    req.as_of_seq = (uint64_t) w->head + 1;
    s_ask_one(w->store, w->replay, &req, error, sizeof error, &last, &sent);
    assert_non_null(strstr(error, "beyond the head"));
    assert_int_equal(sent, 0);
    req.as_of_seq = (uint64_t) w->head;
    s_ask_one(w->store, w->replay, &req, error, sizeof error, &last, &sent);
    assert_string_equal(error, "");
    assert_int_equal(last, w->head);
    assert_int_equal(sent, 10); /* the sample's records, unbatched */
}

/*  On a compacted store, a change replay from below the horizon is refused, saying the
    horizon and what to do, with last_seq unchanged and nothing sent; from the horizon on it is
    answered, as are a snapshot, a snapshot as of a seq from horizon - 1 on (what it was), and
    a replay from a time after every change compacted. */
static void test_compacted_refused(void **state)
{
    (void) state;
    char err[256];
    store_t *store = store_new(":memory:", STORE_CREATE, err, sizeof err);
    assert_non_null(store);
    replay_t *replay = replay_new();
    for (int round = 0; round < 3; round++) {
        s_put(store, "e1", "course", round == 1 ? "DE" : "FR"); /* 1 created, 2, 3 updated */
    }
    s_put(store, "e2", "course", "FR"); /* 4 */
    s_put(store, "e2", "course", "DE"); /* 5 */
    s_put(store, "e3", "course", "FR"); /* 6 */
    assert_int_equal(store_head_seq(store), 6);
    assert_int_equal(store_compact(store, 5), 2); /* 1 and 2: 3 and 4 are e1's and e2's at 4 */
    char error[256];
    uint64_t last = 0;
    int sent = 0;
    Herald__V1__ReplayRequest req = HERALD__V1__REPLAY_REQUEST__INIT;
    for (uint64_t after = 0; after < 4; after++) {
        req.after_seq = after;
        s_ask_one(store, replay, &req, error, sizeof error, &last, &sent);
        assert_string_equal(error, "history compacted before seq 5: take a snapshot");
        assert_int_equal(last, after);
        assert_int_equal(sent, 0);
    }
    req.after_seq = 4;
    s_ask_one(store, replay, &req, error, sizeof error, &last, &sent);
    assert_string_equal(error, "");
    assert_int_equal(sent, 2);
    assert_int_equal(last, 6);
    req.after_seq = 0;
    req.since_ms = INT64_MAX / 2; /* after every change compacted: nothing was lost */
    s_ask_one(store, replay, &req, error, sizeof error, &last, &sent);
    assert_string_equal(error, "");
    req.since_ms = 1; /* from before the horizon's changes: refused */
    s_ask_one(store, replay, &req, error, sizeof error, &last, &sent);
    assert_non_null(strstr(error, "history compacted before seq 5"));
    req.since_ms = 0;
    req.snapshot = true;
    s_ask_one(store, replay, &req, error, sizeof error, &last, &sent);
    assert_string_equal(error, "");
    assert_int_equal(sent, 3);
    req.as_of_seq = 3;
    s_ask_one(store, replay, &req, error, sizeof error, &last, &sent);
    assert_non_null(strstr(error, "history compacted before seq 5"));
    assert_int_equal(sent, 0);
    req.as_of_seq = 4; /* e1 as left by 3, e2 as created by 4 */
    s_ask_one(store, replay, &req, error, sizeof error, &last, &sent);
    assert_string_equal(error, "");
    assert_int_equal(sent, 2);
    replay_destroy(&replay);
    store_destroy(&store);
}

/*  A peer that sends the same request again and again, the head unchanged, is answered
    REPLAY_LOOP_REPEATS times within the window and then refused, saying why; another peer is
    answered as usual. */
static void test_loop_guard(void **state)
{
    s_world_t *w = *state;
    void *ctx = zmq_ctx_new();
    void *router = zmq_socket(ctx, ZMQ_ROUTER);
    void *looper = zmq_socket(ctx, ZMQ_DEALER);
    void *other = zmq_socket(ctx, ZMQ_DEALER);
    int zero = 0;
    void *sockets[] = {router, looper, other};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(zmq_setsockopt(sockets[i], ZMQ_LINGER, &zero, sizeof zero), 0);
    }
    assert_int_equal(zmq_bind(router, "inproc://replay-loop"), 0);
    assert_int_equal(zmq_connect(looper, "inproc://replay-loop"), 0);
    assert_int_equal(zmq_connect(other, "inproc://replay-loop"), 0);
    codec_decoder_t *d = codec_decoder_new();
    replay_stats_t stats = {0};
    int answered = 0;
    bool refused = false;
    /* at the head: an empty answer, cheap enough to repeat 100 times within a second even
       under valgrind; a slower machine just needs more rounds */
    for (int i = 0; i < 50 * REPLAY_LOOP_REPEATS && !refused; i++) {
        s_answer_t got = {.fail_at = -1};
        s_ask_router(w, router, looper, (uint64_t) w->head, &got, &stats);
        const Herald__V1__ReplayEnd *end = s_end(d, &got);
        if (end->error[0]) {
            assert_non_null(strstr(end->error, "the same request"));
            assert_true(answered >= REPLAY_LOOP_REPEATS);
            assert_int_equal(got.count, 1);
            refused = true;
        } else {
            answered++;
        }
        s_answer_free(&got);
    }
    assert_true(refused);
    assert_true(stats.refused >= 1);
    s_answer_t got = {.fail_at = -1};
    s_ask_router(w, router, other, (uint64_t) w->head, &got, &stats);
    assert_string_equal(s_end(d, &got)->error, "");
    s_answer_free(&got);
    codec_decoder_destroy(&d);
    for (int i = 0; i < 3; i++) {
        zmq_close(sockets[i]);
    }
    zmq_ctx_term(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batched_equals_plain),
        cmocka_unit_test(test_from_ring),
        cmocka_unit_test(test_batch_split),
        cmocka_unit_test(test_cut),
        cmocka_unit_test(test_router),
        cmocka_unit_test(test_paging_ends),
        cmocka_unit_test(test_loop_guard),
        cmocka_unit_test(test_as_of_states),
        cmocka_unit_test(test_as_of_refused),
        cmocka_unit_test(test_compacted_refused),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
