/*  vectors_gen.c -- writes Herald's wire test vectors (tests/vectors/) for client authors.

    `vectors_gen DIR` writes, for every valid vector NAME, DIR/NAME.bin (one frame, encoded by
    the C codec as the publisher encodes it) and DIR/NAME.json (its topic frame and its
    expected decoding, made by protobuf-c from the bytes, not from what was encoded); and for
    every invalid one, DIR/invalid/NAME.bin and DIR/invalid/NAME.json (the rule it breaks and
    the C codec's reason for refusing it). Everything is deterministic: the test suite
    regenerates the folder and compares it with the one in the repository, so the vectors
    cannot drift from the codec. Exits 1 if the codec refuses a valid vector or accepts an
    invalid one. The format is described in tests/vectors/README.md.
*/
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "codec.h"

#define STREAM "3f2b8c1e-9a4d-4e6f-8b1a-0c2d3e4f5a6b"
#define AT_MS INT64_C(1767225600000) /* 2026-01-01T00:00:00Z */

static const char *s_dir;
static codec_decoder_t *s_decoder;
static uint8_t s_buf[CODEC_MAX_BATCH];
static int s_failed;

//  ---------------------------------------------------------------------------------------
//  Decoded messages as JSON: every field, proto names, integers as numbers, enums by name

static json_t *s_enum(const ProtobufCEnumDescriptor *d, int value)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(d, value);
    return v ? json_string(v->name) : json_integer(value);
}

static json_t *s_event(const Herald__V1__Event *e)
{
    json_t *people = json_array();
    for (size_t i = 0; i < e->n_people; i++) {
        json_array_append_new(
            people, json_pack("{s:s,s:s}", "name", e->people[i]->name, "role", e->people[i]->role));
    }
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:s,s:o,s:I}", "id", e->id, "kind",
                     e->kind, "title", e->title, "start_date", e->start_date, "end_date",
                     e->end_date, "city", e->city, "country", e->country, "summary", e->summary,
                     "url", e->url, "status",
                     s_enum(&herald__v1__event_status__descriptor, e->status), "cancel_reason",
                     e->cancel_reason, "people", people, "version", (json_int_t) e->version);
}

static json_t *s_announcement(const Herald__V1__Announcement *a)
{
    json_t *out = json_pack("{s:s,s:I,s:I,s:o}", "stream_id", a->stream_id, "seq",
                            (json_int_t) a->seq, "committed_at_ms", (json_int_t) a->committed_at_ms,
                            "change", s_enum(&herald__v1__change__descriptor, a->change));
    switch (a->body_case) {
    case HERALD__V1__ANNOUNCEMENT__BODY_EVENT:
        json_object_set_new(out, "event", s_event(a->event));
        break;
    case HERALD__V1__ANNOUNCEMENT__BODY_PRESS_RELEASE: {
        const Herald__V1__PressRelease *p = a->press_release;
        json_object_set_new(out, "press_release",
                            json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "id", p->id, "event_id",
                                      p->event_id, "title", p->title, "published_on",
                                      p->published_on, "url", p->url, "summary", p->summary));
        break;
    }
    case HERALD__V1__ANNOUNCEMENT__BODY_HEARTBEAT:
        json_object_set_new(out, "heartbeat",
                            json_pack("{s:I,s:I}", "head_seq", (json_int_t) a->heartbeat->head_seq,
                                      "sent_at_ms", (json_int_t) a->heartbeat->sent_at_ms));
        break;
    case HERALD__V1__ANNOUNCEMENT__BODY_REPLAY_END:
        json_object_set_new(
            out, "replay_end",
            json_pack("{s:I,s:I,s:s}", "last_seq", (json_int_t) a->replay_end->last_seq, "head_seq",
                      (json_int_t) a->replay_end->head_seq, "error", a->replay_end->error));
        break;
    default:
        break;
    }
    return out;
}

//  ---------------------------------------------------------------------------------------
//  Files

static void s_write(const char *sub, const char *name, const char *ext, const void *data,
                    size_t len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s%s/%s.%s", s_dir, sub, name, ext);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "vectors_gen: %s: %s\n", path, strerror(errno));
        exit(1);
    }
}

static void s_write_json(const char *sub, const char *name, json_t *doc)
{
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    size_t len = strlen(text);
    text = realloc(text, len + 2);
    text[len] = '\n';
    s_write(sub, name, "json", text, len + 1);
    free(text);
    json_decref(doc);
}

/*  A valid Announcement frame: refused by the codec is a failure of the generator. */
static void s_valid(const char *name, const char *description, const char *topic,
                    const uint8_t *data, int len)
{
    char why[256];
    if (len < 0) {
        fprintf(stderr, "vectors_gen: %s: does not encode\n", name);
        exit(1);
    }
    const announcement_t *checked = codec_decode(s_decoder, data, (size_t) len, why, sizeof why);
    if (!checked) {
        fprintf(stderr, "vectors_gen: %s: refused by the codec: %s\n", name, why);
        s_failed = 1;
        return;
    }
    bool record = checked->body_case == HERALD__V1__ANNOUNCEMENT__BODY_EVENT ||
                  checked->body_case == HERALD__V1__ANNOUNCEMENT__BODY_PRESS_RELEASE;
    bool id_only = record && codec_is_id_only(checked);
    Herald__V1__Announcement *a = herald__v1__announcement__unpack(NULL, (size_t) len, data);
    json_t *doc =
        json_pack("{s:s,s:s,s:s,s:o,s:o}", "description", description, "message", "Announcement",
                  "topic", topic, "id_only", record ? json_boolean(id_only) : json_null(),
                  "decoded", s_announcement(a));
    herald__v1__announcement__free_unpacked(a, NULL);
    s_write("", name, "bin", data, (size_t) len);
    s_write_json("", name, doc);
}

/*  An invalid Announcement: accepted by the codec is a failure of the generator. */
static void s_invalid(const char *name, const char *rule, const char *topic, const uint8_t *data,
                      size_t len)
{
    char why[256] = "";
    if (codec_decode(s_decoder, data, len, why, sizeof why)) {
        fprintf(stderr, "vectors_gen: invalid/%s: accepted by the codec\n", name);
        s_failed = 1;
        return;
    }
    s_write("/invalid", name, "bin", data, len);
    s_write_json("/invalid", name,
                 json_pack("{s:s,s:s,s:s,s:s}", "message", "Announcement", "topic", topic, "rule",
                           rule, "c_error", why));
}

//  ---------------------------------------------------------------------------------------
//  Records

static const store_person_t s_people[] = {
    {"Jürgen Stock", "INTERPOL Secretary General"},
    {"Valdecy Urquiza", ""},
};

static store_event_t s_event_record(void)
{
    return (store_event_t){
        .id = "ev-2026-lyon-01",
        .kind = "conference",
        .title = "Global Counter-Nuclear Smuggling Conference",
        .start_date = "2026-03-10",
        .end_date = "2026-03-12",
        .city = "Lyon",
        .country = "FR",
        .summary = "Three days in Lyon.\n\tPanels on detection and cooperation.",
        .url = "https://www.interpol.int/en/News-and-Events/Events",
        .status = "scheduled",
        .cancel_reason = "",
        .people = s_people,
        .people_count = 2,
        .version = 1,
    };
}

static store_press_t s_press_record(void)
{
    return (store_press_t){
        .id = "pr-2026-001",
        .event_id = "ev-2026-lyon-01",
        .title = "Countries meet in Lyon against nuclear smuggling",
        .published_on = "2026-03-13",
        .url = "https://www.interpol.int/en/News-and-Events/News",
        .summary = "",
    };
}

static store_change_t s_change(int64_t seq, store_change_kind_t kind, const store_event_t *e)
{
    return (store_change_t){.seq = seq,
                            .type = STORE_EVENT,
                            .change = kind,
                            .record_id = e->id,
                            .committed_at_ms = AT_MS + seq,
                            .topic = NULL,
                            .present = true,
                            .event = *e};
}

static void s_valid_change(const char *name, const char *description, store_change_t c)
{
    char topic[CODEC_MAX_TOPIC];
    if (codec_topic(topic, sizeof topic, c.type, c.event.kind, c.event.country) < 0) {
        snprintf(topic, sizeof topic, "%s", c.type == STORE_PRESS ? "press." : "?");
    }
    c.topic = topic;
    s_valid(name, description, topic, s_buf, codec_encode_change(&c, STREAM, s_buf, sizeof s_buf));
}

static void s_valid_vectors(void)
{
    store_event_t e = s_event_record();
    s_valid_change("event_created", "a new event, with people and a multi-line summary",
                   s_change(1, STORE_CREATED, &e));
    e.version = 2;
    e.title = "Global Counter-Nuclear Smuggling Conference 2026";
    s_valid_change("event_updated", "an event changed", s_change(2, STORE_UPDATED, &e));
    e.version = 3;
    e.status = "cancelled";
    e.cancel_reason = "postponed to 2027";
    s_valid_change("event_cancelled", "an event cancelled, with its reason",
                   s_change(3, STORE_CANCELLED, &e));
    store_change_t gone = s_change(4, STORE_DELETED, &e);
    gone.present = false;
    s_valid_change("event_deleted", "an event deleted: the id alone", gone);
    gone = s_change(3, STORE_CANCELLED, &e);
    gone.present = false;
    s_valid_change("event_cancelled_id_only",
                   "an older CANCELLED change of an event deleted since (a replay): the id "
                   "alone, status EVENT_STATUS_UNSPECIFIED; not a record, and not invalid",
                   gone);
    gone = s_change(1, STORE_CREATED, &e);
    gone.present = false;
    s_valid_change("event_created_id_only",
                   "an older CREATED change of an event deleted since: the id alone", gone);

    e = s_event_record();
    e.id = "ev-utf8";
    e.title = "Jürgen (2 bytes), € (3 bytes), 𝄞 (4 bytes), การประชุม";
    e.city = "Zürich";
    e.country = "CH";
    e.kind = "working-group-meeting";
    e.summary = "C1 controls are text: \xc2\x85 (U+0085)";
    s_valid_change("event_utf8", "UTF-8 of 2, 3 and 4 bytes; U+0085 is allowed",
                   s_change(5, STORE_CREATED, &e));

    static char id[201], kind[65], line[4097], summary[65537];
    memset(id, 'i', 200);
    memset(kind, 'k', 64);
    memset(line, 'x', 4096);
    memset(summary, 's', 65536);
    static store_person_t many[STORE_MAX_PEOPLE];
    for (int i = 0; i < STORE_MAX_PEOPLE; i++) {
        many[i] = (store_person_t){"A name", "A role"};
    }
    many[0] = (store_person_t){line, line};
    e = s_event_record();
    e.id = id;
    e.kind = kind;
    e.title = line;
    e.city = line;
    e.summary = summary;
    e.url = "https://example.org/";
    e.people = many;
    e.people_count = STORE_MAX_PEOPLE;
    e.status = "cancelled";
    e.cancel_reason = line;
    s_valid_change("event_largest",
                   "the largest fields: id 200 bytes, kind 64, one-line fields 4096, summary "
                   "65536, 64 people",
                   s_change(6, STORE_CANCELLED, &e));

    store_change_t p = {.seq = 7,
                        .type = STORE_PRESS,
                        .change = STORE_CREATED,
                        .record_id = "pr-2026-001",
                        .committed_at_ms = AT_MS + 7,
                        .present = true,
                        .press = s_press_record()};
    s_valid_change("press_created", "a press release", p);
    p.seq = 8;
    p.change = STORE_UPDATED;
    p.press.event_id = "";
    p.press.summary = "No event any more.";
    s_valid_change("press_updated", "a press release changed, no longer tied to an event", p);
    p.seq = 9;
    p.change = STORE_DELETED;
    p.present = false;
    s_valid_change("press_deleted", "a press release deleted: the id alone", p);

    s_valid("heartbeat", "a heartbeat: seq = head_seq", CODEC_HEARTBEAT_TOPIC, s_buf,
            codec_encode_heartbeat(STREAM, 9, AT_MS + 1000, s_buf, sizeof s_buf));
    s_valid("heartbeat_empty_store", "a heartbeat of an empty store", CODEC_HEARTBEAT_TOPIC, s_buf,
            codec_encode_heartbeat(STREAM, 0, AT_MS, s_buf, sizeof s_buf));
    s_valid("replay_end", "the end of a replay answer that covered up to seq 9 of 12",
            CODEC_REPLAY_END_TOPIC, s_buf,
            codec_encode_replay_end(STREAM, 9, 12, "", s_buf, sizeof s_buf));
    s_valid("replay_end_refused", "a refusal: error set, nothing else was sent",
            CODEC_REPLAY_END_TOPIC, s_buf,
            codec_encode_replay_end(STREAM, 0, 12, "limit: 20000, more than 10000", s_buf,
                                    sizeof s_buf));
    s_valid("replay_end_no_store",
            "a refusal of a publisher that cannot read its store: the stream id empty (exempt "
            "from the UUID rule)",
            CODEC_REPLAY_END_TOPIC, s_buf,
            codec_encode_replay_end("", 5, 0, "store unavailable", s_buf, sizeof s_buf));
}

/*  A ReplayBatch of three announcements and their topics, as the publisher writes it. */
static void s_batch_vector(void)
{
    store_event_t e = s_event_record();
    store_event_t moved = s_event_record();
    moved.country = "DE";
    moved.city = "Berlin";
    store_change_t changes[3] = {s_change(10, STORE_CREATED, &e),
                                 s_change(11, STORE_UPDATED, &moved),
                                 s_change(12, STORE_DELETED, &e)};
    /* seq 10 was announced in FR; the record has moved to DE since: the topic is the
       change's, the body the record's now */
    changes[0].event = moved;
    changes[0].topic = "event.conference.FR.";
    changes[1].topic = "event.conference.DE.";
    changes[2].topic = "event.conference.DE.";
    changes[2].present = false;
    size_t used = 0;
    for (int i = 0; i < 3; i++) {
        if (codec_batch_append_change(s_buf, CODEC_BATCH_BYTES, &used, &changes[i], STREAM) <= 0) {
            fprintf(stderr, "vectors_gen: the batch does not encode\n");
            exit(1);
        }
    }
    Herald__V1__ReplayBatch *b = herald__v1__replay_batch__unpack(NULL, used, s_buf);
    json_t *items = json_array(), *topics = json_array();
    for (size_t i = 0; i < b->n_announcements; i++) {
        json_array_append_new(items, s_announcement(b->announcements[i]));
    }
    for (size_t i = 0; i < b->n_topics; i++) {
        json_array_append_new(topics, json_string(b->topics[i]));
    }
    herald__v1__replay_batch__free_unpacked(b, NULL);
    s_write("", "replay_batch", "bin", s_buf, used);
    s_write_json("", "replay_batch",
                 json_pack("{s:s,s:s,s:s,s:{s:o,s:o}}", "description",
                           "a ReplayBatch of three announcements, each followed by its topic; "
                           "seq 10 was a change in FR of an event in DE now (replayed from the "
                           "store: the topic as of the change, the body as of now)",
                           "message", "ReplayBatch", "topic", CODEC_REPLAY_BATCH_TOPIC, "decoded",
                           "announcements", items, "topics", topics));
}

/*  A ReplayRequest as a client would send it: for encoders. */
static void s_request_vector(void)
{
    Herald__V1__ReplayRequest r = HERALD__V1__REPLAY_REQUEST__INIT;
    char *topics[] = {"event.conference.", "press."};
    r.after_seq = 1200;
    r.topics = topics;
    r.n_topics = 2;
    r.limit = 500;
    r.batch = true;
    size_t len = herald__v1__replay_request__pack(&r, s_buf);
    s_write("", "replay_request", "bin", s_buf, len);
    s_write_json("", "replay_request",
                 json_pack("{s:s,s:s,s:n,s:{s:i,s:i,s:[s,s],s:i,s:b,s:b,s:i}}", "description",
                           "a request (one frame from a DEALER): conferences and press releases "
                           "after seq 1200, 500 at most, batched",
                           "message", "ReplayRequest", "topic", "decoded", "after_seq", 1200,
                           "since_ms", 0, "topics", topics[0], topics[1], "limit", 500, "snapshot",
                           0, "batch", 1, "as_of_seq", 0));
    Herald__V1__ReplayRequest as_of = HERALD__V1__REPLAY_REQUEST__INIT;
    as_of.snapshot = true;
    as_of.as_of_seq = 1200;
    as_of.batch = true;
    len = herald__v1__replay_request__pack(&as_of, s_buf);
    s_write("", "replay_request_as_of", "bin", s_buf, len);
    s_write_json("", "replay_request_as_of",
                 json_pack("{s:s,s:s,s:n,s:{s:i,s:i,s:[],s:i,s:b,s:b,s:i}}", "description",
                           "the first page of a snapshot of the catalogue as it stood at seq 1200 "
                           "(page on with after_seq = last_seq and the same as_of_seq), batched",
                           "message", "ReplayRequest", "topic", "decoded", "after_seq", 0,
                           "since_ms", 0, "topics", "limit", 0, "snapshot", 1, "batch", 1,
                           "as_of_seq", 1200));
}

//  ---------------------------------------------------------------------------------------
//  Invalid announcements, packed by protobuf-c without any check

static Herald__V1__Event s_ev;
static Herald__V1__PressRelease s_pr;
static Herald__V1__Heartbeat s_hb;
static Herald__V1__ReplayEnd s_end;

static Herald__V1__Announcement s_bad_event(void)
{
    s_ev = (Herald__V1__Event) HERALD__V1__EVENT__INIT;
    s_ev.id = "ev-1";
    s_ev.kind = "course";
    s_ev.title = "A course";
    s_ev.start_date = "2026-05-04";
    s_ev.end_date = "2026-05-08";
    s_ev.city = "Lyon";
    s_ev.country = "FR";
    s_ev.status = HERALD__V1__EVENT_STATUS__EVENT_STATUS_SCHEDULED;
    s_ev.version = 1;
    Herald__V1__Announcement a = HERALD__V1__ANNOUNCEMENT__INIT;
    a.stream_id = STREAM;
    a.seq = 5;
    a.committed_at_ms = AT_MS;
    a.change = HERALD__V1__CHANGE__CREATED;
    a.body_case = HERALD__V1__ANNOUNCEMENT__BODY_EVENT;
    a.event = &s_ev;
    return a;
}

static void s_bad(const char *name, const char *rule, const char *topic,
                  const Herald__V1__Announcement *a)
{
    size_t len = herald__v1__announcement__pack(a, s_buf);
    s_invalid(name, rule, topic, s_buf, len);
}

static void s_invalid_vectors(void)
{
    const char *ev = "event.course.FR.";
    Herald__V1__Announcement a = s_bad_event();
    a.stream_id = "3F2B8C1E-9A4D-4E6F-8B1A-0C2D3E4F5A6B";
    s_bad("stream_id_upper_case", "stream_id: a canonical lower-case UUID", ev, &a);
    a = s_bad_event();
    a.stream_id = "";
    s_bad("stream_id_empty", "stream_id: a canonical UUID (only a refusal may have none)", ev, &a);
    a = s_bad_event();
    a.body_case = HERALD__V1__ANNOUNCEMENT__BODY__NOT_SET;
    s_bad("no_body", "exactly one body: a record announcement without one", ev, &a);
    a = s_bad_event();
    a.change = HERALD__V1__CHANGE__CHANGE_UNSPECIFIED;
    s_bad("record_change_unspecified", "a record announcement has change 1..4", ev, &a);
    a = s_bad_event();
    a.change = 9;
    s_bad("change_unknown", "an unknown Change value: skip the announcement (not an error)", ev,
          &a);
    a = s_bad_event();
    a.seq = 0;
    s_bad("record_seq_zero", "a record announcement has seq >= 1", ev, &a);
    a = s_bad_event();
    a.change = HERALD__V1__CHANGE__CANCELLED;
    s_bad("cancelled_but_scheduled",
          "a CANCELLED event with a full body has status EVENT_STATUS_CANCELLED", ev, &a);
    a = s_bad_event();
    s_ev.status = 7;
    s_bad("status_unknown", "an unknown EventStatus value: skip the announcement", ev, &a);
    a = s_bad_event();
    s_ev.status = HERALD__V1__EVENT_STATUS__EVENT_STATUS_UNSPECIFIED;
    s_bad("status_unspecified_full_body", "status 0 only in an id-only body", ev, &a);
    a = s_bad_event();
    s_ev.title = "";
    s_bad("title_empty", "event.title is required (a body with more than the id is a record)", ev,
          &a);
    a = s_bad_event();
    s_ev.title = "bad \xc3\x28 UTF-8";
    s_bad("title_bad_utf8", "every string is valid UTF-8", ev, &a);
    a = s_bad_event();
    s_ev.title = "an \xed\xa0\x80 encoded surrogate";
    s_bad("title_surrogate", "every string is valid UTF-8 (no surrogates, RFC 3629)", ev, &a);
    a = s_bad_event();
    s_ev.title = "a C0 control \x01 in a title";
    s_bad("title_c0_control", "one-line fields: no C0 control (U+0000..U+001F)", ev, &a);
    a = s_bad_event();
    s_ev.title = "a DEL \x7f in a title";
    s_bad("title_del", "one-line fields: no DEL (U+007F)", ev, &a);
    a = s_bad_event();
    s_ev.title = "a tab\tin a title";
    s_bad("title_tab", "only a summary may hold \\n and \\t", ev, &a);
    a = s_bad_event();
    s_ev.summary = "a carriage return\r\nin a summary";
    s_bad("summary_carriage_return", "a summary may hold \\n and \\t, no other control (\\r)", ev,
          &a);
    static char long_title[4098];
    memset(long_title, 'x', 4097);
    a = s_bad_event();
    s_ev.title = long_title;
    s_bad("title_too_long", "one-line fields hold at most 4096 bytes", ev, &a);
    a = s_bad_event();
    s_ev.start_date = "2026-02-30";
    s_bad("date_not_a_day", "dates are real days, YYYY-MM-DD", ev, &a);
    a = s_bad_event();
    s_ev.end_date = "2026-05-01";
    s_bad("end_before_start", "end_date is not before start_date", ev, &a);
    a = s_bad_event();
    s_ev.country = "fr";
    s_bad("country_lower_case", "country: two upper-case letters", ev, &a);
    a = s_bad_event();
    s_ev.id = "ev 1";
    s_bad("id_space", "ids: letters, digits and . _ ~ : - only", ev, &a);
    a = s_bad_event();
    s_ev.url = "ftp://example.org/";
    s_bad("url_scheme", "url: empty or http:// or https://", ev, &a);
    a = s_bad_event();
    s_ev.version = 0;
    s_bad("version_zero", "event.version is at least 1 in a record", ev, &a);

    a = s_bad_event();
    s_pr = (Herald__V1__PressRelease) HERALD__V1__PRESS_RELEASE__INIT;
    s_pr.id = "pr-1";
    s_pr.title = "A release";
    s_pr.published_on = "2026-05-09";
    a.body_case = HERALD__V1__ANNOUNCEMENT__BODY_PRESS_RELEASE;
    a.press_release = &s_pr;
    a.change = HERALD__V1__CHANGE__CANCELLED;
    s_bad("press_cancelled", "a press release cannot be CANCELLED", "press.", &a);

    a = s_bad_event();
    s_hb = (Herald__V1__Heartbeat) HERALD__V1__HEARTBEAT__INIT;
    s_hb.head_seq = 9;
    s_hb.sent_at_ms = AT_MS;
    a.body_case = HERALD__V1__ANNOUNCEMENT__BODY_HEARTBEAT;
    a.heartbeat = &s_hb;
    a.seq = 9;
    s_bad("heartbeat_with_change", "a heartbeat has change CHANGE_UNSPECIFIED", "hb", &a);
    a.change = HERALD__V1__CHANGE__CHANGE_UNSPECIFIED;
    a.seq = 8;
    s_bad("heartbeat_seq_differs", "a heartbeat's seq equals its head_seq", "hb", &a);

    a = s_bad_event();
    s_end = (Herald__V1__ReplayEnd) HERALD__V1__REPLAY_END__INIT;
    s_end.last_seq = 13;
    s_end.head_seq = 12;
    s_end.error = "";
    a.body_case = HERALD__V1__ANNOUNCEMENT__BODY_REPLAY_END;
    a.replay_end = &s_end;
    a.change = HERALD__V1__CHANGE__CHANGE_UNSPECIFIED;
    a.seq = 13;
    s_bad("replay_end_beyond_head", "a replay end without error has last_seq <= head_seq",
          "replay.end", &a);

    static const uint8_t truncated[] = {0x0a, 0x24, '3', 'f', '2', 'b'};
    s_invalid("truncated", "not a protobuf message: a length beyond the end", ev, truncated,
              sizeof truncated);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: vectors_gen DIR\n");
        return 2;
    }
    s_dir = argv[1];
    char sub[1024];
    snprintf(sub, sizeof sub, "%s/invalid", s_dir);
    mkdir(s_dir, 0755);
    mkdir(sub, 0755);
    s_decoder = codec_decoder_new();
    if (!s_decoder) {
        return 1;
    }
    s_valid_vectors();
    s_batch_vector();
    s_request_vector();
    s_invalid_vectors();
    codec_decoder_destroy(&s_decoder);
    return s_failed;
}
