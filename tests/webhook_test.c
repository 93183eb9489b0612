/*  webhook_test.c -- tests of the webhook sink's modules (sinks/webhook/), and an example of
    their use: Standard Webhooks signatures against the standard's published test vector and
    a rotation (webhook_sign.h), the CloudEvents body of each kind of change
    (webhook_event.h), the outbox and dead letters in a state file (webhook_queue.h), and the
    option checks (sink_webhook.h). Delivery itself is tested against a real receiver in
    tests/integration/test_webhook.py.

    Scratch files under $HERALD_TEST_TMP (or /tmp), removed at the end.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_fixtures.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"
#include "sink.h"
#include "state.h"
#include "webhook_event.h"
#include "webhook_queue.h"
#include "webhook_sign.h"

#define STREAM FIXTURE_STREAM

/*  The Standard Webhooks specification's example (and its reference libraries' test). */
#define SPEC_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define SPEC_ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define SPEC_TS 1614265330
#define SPEC_BODY "{\"test\": 2432232314}"
#define SPEC_SIGNATURE "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

/*  A second secret (32 bytes "herald-rotated-secret-0123456789") and its signature of the
    same request, computed with Python's hmac:
    base64(hmac.new(key, b"msg_p5jX...ek.1614265330.{\"test\": 2432232314}", sha256)). */
#define NEW_SECRET "whsec_aGVyYWxkLXJvdGF0ZWQtc2VjcmV0LTAxMjM0NTY3ODk="

static void s_path(char *out, size_t len, const char *name)
{
    fixture_path(out, len, "webhook_test", name);
}

static void test_sign_spec_vector(void **unused)
{
    (void) unused;
    char err[256];
    webhook_signer_t *signer = webhook_signer_new(SPEC_SECRET, err, sizeof err);
    assert_non_null(signer);
    assert_int_equal(webhook_signer_count(signer), 1);
    char out[WEBHOOK_SIGN_HEADER_MAX];
    int n = webhook_signer_sign(signer, SPEC_ID, SPEC_TS, SPEC_BODY, strlen(SPEC_BODY), out,
                                sizeof out);
    assert_int_equal(n, (int) strlen(SPEC_SIGNATURE));
    assert_string_equal(out, SPEC_SIGNATURE);
    /* the same again: the MAC context is re-keyed, not spent */
    assert_int_equal(webhook_signer_sign(signer, SPEC_ID, SPEC_TS, SPEC_BODY, strlen(SPEC_BODY),
                                         out, sizeof out),
                     n);
    assert_string_equal(out, SPEC_SIGNATURE);
    /* a different timestamp or body signs differently */
    webhook_signer_sign(signer, SPEC_ID, SPEC_TS + 1, SPEC_BODY, strlen(SPEC_BODY), out,
                        sizeof out);
    assert_string_not_equal(out, SPEC_SIGNATURE);
    /* too small a buffer */
    assert_int_equal(
        webhook_signer_sign(signer, SPEC_ID, SPEC_TS, SPEC_BODY, strlen(SPEC_BODY), out, 20), -1);
    webhook_signer_destroy(&signer);
    assert_null(signer);
    webhook_signer_destroy(&signer);

    /* without the whsec_ prefix: the same key */
    signer = webhook_signer_new(&SPEC_SECRET[6], err, sizeof err);
    assert_non_null(signer);
    webhook_signer_sign(signer, SPEC_ID, SPEC_TS, SPEC_BODY, strlen(SPEC_BODY), out, sizeof out);
    assert_string_equal(out, SPEC_SIGNATURE);
    webhook_signer_destroy(&signer);
}

static void test_sign_rotation(void **unused)
{
    (void) unused;
    char err[256], one[WEBHOOK_SIGN_HEADER_MAX], both[WEBHOOK_SIGN_HEADER_MAX];
    webhook_signer_t *signer = webhook_signer_new(NEW_SECRET, err, sizeof err);
    assert_non_null(signer);
    webhook_signer_sign(signer, SPEC_ID, SPEC_TS, SPEC_BODY, strlen(SPEC_BODY), one, sizeof one);
    webhook_signer_destroy(&signer);
    assert_string_equal(one, "v1,SiPMFGFlupkdedP3/IP+QbP3BwC6mFFjQHkb1YkGIy0=");

    signer = webhook_signer_new("  " SPEC_SECRET "  " NEW_SECRET "\n", err, sizeof err);
    assert_non_null(signer);
    assert_int_equal(webhook_signer_count(signer), 2);
    int n = webhook_signer_sign(signer, SPEC_ID, SPEC_TS, SPEC_BODY, strlen(SPEC_BODY), both,
                                sizeof both);
    char want[2 * WEBHOOK_SIGN_HEADER_MAX];
    snprintf(want, sizeof want, "%s %s", SPEC_SIGNATURE, one);
    assert_string_equal(both, want);
    assert_int_equal(n, (int) strlen(want));
    webhook_signer_destroy(&signer);
}

static void test_sign_bad_secrets(void **unused)
{
    (void) unused;
    const char *bad[] = {
        "",
        "   ",
        "whsec_",
        "whsec_c2hvcnQ=",                          /* "short": under 24 bytes */
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS!",  /* not base64 */
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw=", /* not a multiple of 4 */
        SPEC_SECRET " whsec_bad",                  /* the second one bad */
        SPEC_SECRET " " SPEC_SECRET " " SPEC_SECRET " " SPEC_SECRET " " SPEC_SECRET, /* 5 */
        NULL,
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[256] = "";
        webhook_signer_t *signer = webhook_signer_new(bad[i], err, sizeof err);
        assert_null(signer);
        assert_true(err[0] != '\0');
        assert_null(strstr(err, "MfKQ9r8GKYqr")); /* never the secret in a message */
        /* herald-sub's check of --webhook-secret (no libcrypto) says the same */
        char why[256] = "";
        assert_int_equal(webhook_secrets_check(bad[i], why, sizeof why), -1);
        assert_string_equal(why, err);
    }
    char why[256] = "";
    assert_int_equal(webhook_secrets_check(SPEC_SECRET " " NEW_SECRET, why, sizeof why), 0);
}

/*  An event announcement; strings borrowed from the caller. */
static void s_event(announcement_t *a, Herald__V1__Event *e, Herald__V1__Change change, int64_t seq)
{
    herald__v1__announcement__init(a);
    a->stream_id = STREAM;
    a->seq = (uint64_t) seq;
    a->committed_at_ms = 1796517662216; /* 2026-12-06T00:41:02.216Z */
    a->change = change;
    a->body_case = HERALD__V1__ANNOUNCEMENT__BODY_EVENT;
    a->event = e;
}

static json_t *s_parse(char *text)
{
    assert_non_null(text);
    json_error_t jerr;
    json_t *o = json_loads(text, 0, &jerr);
    assert_non_null(o);
    free(text);
    return o;
}

static void test_event_body(void **unused)
{
    (void) unused;
    Herald__V1__Person p = HERALD__V1__PERSON__INIT;
    p.name = "Jürgen Stock";
    p.role = "INTERPOL Secretary General";
    Herald__V1__Person *people[] = {&p};
    Herald__V1__Event e = HERALD__V1__EVENT__INIT;
    e.id = "ev-1";
    e.kind = "conference";
    e.title = "A \"quoted\" title";
    e.start_date = "2026-12-01";
    e.end_date = "2026-12-03";
    e.city = "Lyon";
    e.country = "FR";
    e.summary = "Line one\nLine two";
    e.url = "https://example.org/a?b=1&c=2";
    e.status = HERALD__V1__EVENT_STATUS__EVENT_STATUS_CANCELLED;
    e.cancel_reason = "venue closed";
    e.n_people = 1;
    e.people = people;
    e.version = 3;
    announcement_t a;
    s_event(&a, &e, HERALD__V1__CHANGE__CANCELLED, 42);

    char id[WEBHOOK_ID_MAX], type[WEBHOOK_TYPE_MAX];
    assert_int_equal(webhook_event_id(STREAM, 42, id, sizeof id),
                     (int) strlen("herald_" STREAM "_42"));
    assert_string_equal(id, "herald_" STREAM "_42");
    assert_int_equal(webhook_event_id(STREAM, 42, id, 10), -1);
    assert_true(webhook_event_type(&a, type, sizeof type) > 0);
    assert_string_equal(type, "org.herald.event.cancelled");

    json_t *o = s_parse(webhook_event_body(&a));
    json_t *want = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, "
        "s:s, s:s, s:s, s:[{s:s, s:s}]}}",
        "specversion", "1.0", "id", "herald_" STREAM "_42", "source", "urn:herald:stream:" STREAM,
        "type", "org.herald.event.cancelled", "subject", "ev-1", "time", "2026-12-06T00:41:02.216Z",
        "datacontenttype", "application/json", "seq", 42, "data", "id", "ev-1", "kind",
        "conference", "title", "A \"quoted\" title", "start_date", "2026-12-01", "end_date",
        "2026-12-03", "city", "Lyon", "country", "FR", "summary", "Line one\nLine two", "url",
        "https://example.org/a?b=1&c=2", "status", "cancelled", "cancel_reason", "venue closed",
        "people", "name", "Jürgen Stock", "role", "INTERPOL Secretary General");
    assert_non_null(want);
    assert_true(json_equal(o, want));
    json_decref(o);
    json_decref(want);

    /* a scheduled event without a reason: no cancel_reason key, as the export */
    e.status = HERALD__V1__EVENT_STATUS__EVENT_STATUS_SCHEDULED;
    e.cancel_reason = "";
    a.change = HERALD__V1__CHANGE__CREATED;
    o = s_parse(webhook_event_body(&a));
    json_t *data = json_object_get(o, "data");
    assert_string_equal(json_string_value(json_object_get(data, "status")), "scheduled");
    assert_null(json_object_get(data, "cancel_reason"));
    assert_string_equal(json_string_value(json_object_get(o, "type")), "org.herald.event.created");
    json_decref(o);

    /* deleted: the id alone */
    Herald__V1__Event gone = HERALD__V1__EVENT__INIT;
    gone.id = "ev-1";
    s_event(&a, &gone, HERALD__V1__CHANGE__DELETED, 43);
    o = s_parse(webhook_event_body(&a));
    want = json_pack("{s:s}", "id", "ev-1");
    assert_true(json_equal(json_object_get(o, "data"), want));
    assert_string_equal(json_string_value(json_object_get(o, "type")), "org.herald.event.deleted");
    json_decref(want);
    json_decref(o);

    /* a press release without an event: event_id null */
    Herald__V1__PressRelease pr = HERALD__V1__PRESS_RELEASE__INIT;
    pr.id = "pr-1";
    pr.event_id = "";
    pr.title = "Press release über Lyon";
    pr.published_on = "2026-12-02";
    pr.url = "";
    pr.summary = "Said";
    a.change = HERALD__V1__CHANGE__UPDATED;
    a.body_case = HERALD__V1__ANNOUNCEMENT__BODY_PRESS_RELEASE;
    a.press_release = &pr;
    o = s_parse(webhook_event_body(&a));
    want = json_pack("{s:s, s:n, s:s, s:s, s:s, s:s}", "id", "pr-1", "event_id", "title",
                     "Press release über Lyon", "published_on", "2026-12-02", "url", "", "summary",
                     "Said");
    assert_true(json_equal(json_object_get(o, "data"), want));
    assert_string_equal(json_string_value(json_object_get(o, "type")),
                        "org.herald.press_release.updated");
    assert_string_equal(json_string_value(json_object_get(o, "subject")), "pr-1");
    json_decref(want);
    json_decref(o);

    /* a heartbeat is no record change */
    Herald__V1__Heartbeat hb = HERALD__V1__HEARTBEAT__INIT;
    a.change = HERALD__V1__CHANGE__CHANGE_UNSPECIFIED;
    a.body_case = HERALD__V1__ANNOUNCEMENT__BODY_HEARTBEAT;
    a.heartbeat = &hb;
    assert_int_equal(webhook_event_type(&a, type, sizeof type), -1);
    assert_null(webhook_event_body(&a));
}

typedef struct {
    int count;
    int64_t id;
} s_walk_t;

static int s_dead_seen(void *arg, const void *letter)
{
    const webhook_dead_t *d = letter;
    s_walk_t *w = arg;
    w->count++;
    w->id = d->id;
    assert_string_equal(d->webhook_id, "herald_" STREAM "_2");
    assert_int_equal(d->seq, 2);
    assert_int_equal(d->code, 410);
    assert_string_equal(d->error, "HTTP 410");
    assert_string_equal(d->type, "org.herald.event.created");
    assert_string_equal(d->body, "{\"n\":2}");
    return 0;
}

static void test_queue(void **unused)
{
    (void) unused;
    char path[1024], err[512];
    s_path(path, sizeof path, "queue.db");
    state_t *state = state_new(path, err, sizeof err);
    assert_non_null(state);
    outbox_t *q = outbox_new(state, &webhook_queue_tables, err, sizeof err);
    assert_non_null(q);
    webhook_item_t item;
    assert_int_equal(webhook_queue_head(q, &item), 0);

    /* a batch: three requests and the cursor, together */
    assert_int_equal(outbox_begin(q), 0);
    const char *type = "org.herald.event.created";
    assert_int_equal(webhook_queue_add(q, STREAM, 1, type, "{\"n\":1}", 1000), 1);
    assert_int_equal(webhook_queue_add(q, STREAM, 2, type, "{\"n\":2}", 1000), 1);
    assert_int_equal(webhook_queue_add(q, STREAM, 3, type, "{\"n\":3}", 1000), 1);
    assert_int_equal(webhook_queue_add(q, STREAM, 2, type, "{\"again\":2}", 1000), 0);
    assert_int_equal(state_put(state, STREAM, 3, 1000), 0);
    assert_int_equal(outbox_commit(q), 0);
    int64_t count = 0;
    assert_int_equal(webhook_queue_count(q, &count), 0);
    assert_int_equal(count, 3);

    /* a rolled back batch leaves nothing */
    assert_int_equal(outbox_begin(q), 0);
    assert_int_equal(webhook_queue_add(q, STREAM, 4, type, "{}", 1000), 1);
    outbox_rollback(q);
    assert_int_equal(webhook_queue_count(q, &count), 0);
    assert_int_equal(count, 3);

    /* the head, retried, then delivered */
    assert_int_equal(webhook_queue_head(q, &item), 1);
    assert_int_equal(item.seq, 1);
    assert_string_equal(item.body, "{\"n\":1}");
    assert_int_equal(item.body_len, 7);
    assert_string_equal(item.stream_id, STREAM);
    assert_string_equal(item.type, type);
    assert_int_equal(item.attempts, 0);
    assert_int_equal(webhook_queue_retry_later(q, item.id, 1, 5000, "HTTP 500"), 0);
    assert_int_equal(webhook_queue_head(q, &item), 1);
    assert_int_equal(item.attempts, 1);
    assert_int_equal(item.next_attempt_ms, 5000);
    assert_int_equal(webhook_queue_done(q, item.id), 0);

    /* the next one refused for good */
    assert_int_equal(webhook_queue_head(q, &item), 1);
    assert_int_equal(item.seq, 2);
    assert_int_equal(webhook_queue_dead(q, &item, "herald_" STREAM "_2", 410, "HTTP 410", 2000), 0);
    assert_int_equal(outbox_dead_count(q, &count), 0);
    assert_int_equal(count, 1);
    s_walk_t walk = {0};
    assert_int_equal(outbox_dead_each(q, s_dead_seen, &walk), 0);
    assert_int_equal(walk.count, 1);
    assert_int_equal(webhook_queue_head(q, &item), 1);
    assert_int_equal(item.seq, 3);
    assert_int_equal(webhook_queue_done(q, item.id), 0);
    assert_int_equal(webhook_queue_head(q, &item), 0);

    assert_int_equal(outbox_dead_remove(q, walk.id), 0);
    assert_int_equal(outbox_dead_count(q, &count), 0);
    assert_int_equal(count, 0);
    assert_string_equal(outbox_error(q), "");
    outbox_destroy(&q);
    assert_null(q);
    outbox_destroy(&q);
    state_destroy(&state);

    /* the dead-letter commands' way in: the file must exist, and the queue then owns it */
    q = outbox_open(path, &webhook_queue_tables, err, sizeof err);
    assert_non_null(q);
    assert_int_equal(webhook_queue_count(q, &count), 0);
    assert_int_equal(count, 0);
    outbox_destroy(&q);
    char missing[1040];
    snprintf(missing, sizeof missing, "%s.missing", path);
    assert_null(outbox_open(missing, &webhook_queue_tables, err, sizeof err));
    assert_non_null(strstr(err, "no such file"));
    fixture_remove(path);
}

static void test_options(void **unused)
{
    (void) unused;
    char err[512];
    int64_t timeout_ms = 0;
    sink_webhook_options_t o = {.url = "https://hooks.example.org/herald", .secret = SPEC_SECRET};
    assert_int_equal(sink_webhook_check(&o, &timeout_ms, err, sizeof err), 0);
    assert_int_equal(timeout_ms, SINK_WEBHOOK_TIMEOUT_S * 1000);
    o.timeout = 3;
    assert_int_equal(sink_webhook_check(&o, &timeout_ms, err, sizeof err), 0);
    assert_int_equal(timeout_ms, 3000);
    o.timeout = 601;
    assert_int_equal(sink_webhook_check(&o, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "--webhook-timeout"));
    o.timeout = 0;
    o.url = "ftp://example.org/";
    assert_int_equal(sink_webhook_check(&o, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "--webhook-url"));
    o.url = NULL;
    assert_int_equal(sink_webhook_check(&o, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "--webhook-url"));
    o.url = "http://127.0.0.1:1/";
    o.secret = "whsec_c2hvcnQ=";
    assert_int_equal(sink_webhook_check(&o, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "HERALD_WEBHOOK_SECRET"));
    o.secret = NULL;
    assert_int_equal(sink_webhook_check(&o, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "HERALD_WEBHOOK_SECRET"));

    /* the sink in the table: its name, --state, metrics, subcommand, check */
    const sink_type_t *type = sink_type_find("webhook");
    assert_ptr_equal(type, &sink_webhook_type);
    assert_non_null(type->needs_state);
    assert_int_equal(type->metric_count, 4);
    const sink_type_t *owner = NULL;
    assert_non_null(sink_command_find("webhook-dead", &owner));
    assert_ptr_equal(owner, type);
    sink_options_t options;
    memset(&options, 0, sizeof options);
    assert_int_equal(type->check(&options, err, sizeof err), -1);
    assert_null(sink_new("webhook", &options, err, sizeof err)); /* no --state */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_spec_vector),
        cmocka_unit_test(test_sign_rotation),
        cmocka_unit_test(test_sign_bad_secrets),
        cmocka_unit_test(test_event_body),
        cmocka_unit_test(test_queue),
        cmocka_unit_test(test_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
