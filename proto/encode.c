/*  encode.c -- store records to Herald announcements: topics, the change (written by hand,
    the publisher's hot path), heartbeats and replay ends (through protobuf-c), and writing
    ReplayBatch frames.

    An Announcement other than a change is built on the stack with the protobuf-c _INIT
    macros, its strings pointing at the caller's (const) text, and packed into the caller's
    buffer after its packed size has been checked against the buffer. protobuf-c only reads
    through those pointers when packing, so casting const away is safe. Nothing is allocated.
    Decoding and validation: decode.c.
*/
#include "codec.h"

#include <assert.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

//  --------------------------------------------------------------------------
//  Small helpers

//  protobuf-c never writes through the strings of a message it packs.
static char *s_text(const char *s)
{
    return (char *) (s != NULL ? s : "");
}

static const char *s_str(const char *s)
{
    return s != NULL ? s : "";
}

static int s_pack(const ProtobufCMessage *message, uint8_t *buf, size_t cap)
{
    size_t size = protobuf_c_message_get_packed_size(message);
    if (size > cap || size > INT_MAX) {
        return -1;
    }
    if (size == 0) {
        return 0;
    }
    return (int) protobuf_c_message_pack(message, buf);
}

//  --------------------------------------------------------------------------
//  Topics and enums

int codec_topic(char *buf, size_t cap, store_type_t type, const char *kind, const char *country)
{
    assert(buf != NULL || cap == 0);
    int n;
    if (type == STORE_PRESS) {
        n = snprintf(buf, cap, "%s", CODEC_PRESS_TOPIC);
    } else if (type == STORE_EVENT) {
        if (kind == NULL || country == NULL || *kind == '\0' || *country == '\0' ||
            strchr(kind, '.') != NULL || strchr(country, '.') != NULL) {
            return -1;
        }
        n = snprintf(buf, cap, "%s%s.%s.", CODEC_EVENT_TOPIC, kind, country);
    } else {
        return -1;
    }
    if (n < 0 || (size_t) n >= cap) {
        return -1;
    }
    return n;
}

store_change_kind_t codec_change_from_wire(Herald__V1__Change c)
{
    switch (c) {
    case HERALD__V1__CHANGE__CREATED:
        return STORE_CREATED;
    case HERALD__V1__CHANGE__UPDATED:
        return STORE_UPDATED;
    case HERALD__V1__CHANGE__CANCELLED:
        return STORE_CANCELLED;
    case HERALD__V1__CHANGE__DELETED:
        return STORE_DELETED;
    default:
        return (store_change_kind_t) 0;
    }
}

Herald__V1__Change codec_change_to_wire(store_change_kind_t c)
{
    switch (c) {
    case STORE_CREATED:
        return HERALD__V1__CHANGE__CREATED;
    case STORE_UPDATED:
        return HERALD__V1__CHANGE__UPDATED;
    case STORE_CANCELLED:
        return HERALD__V1__CHANGE__CANCELLED;
    case STORE_DELETED:
        return HERALD__V1__CHANGE__DELETED;
    default:
        return HERALD__V1__CHANGE__CHANGE_UNSPECIFIED;
    }
}

const char *codec_change_name(Herald__V1__Change c)
{
    switch (c) {
    case HERALD__V1__CHANGE__CREATED:
        return "created";
    case HERALD__V1__CHANGE__UPDATED:
        return "updated";
    case HERALD__V1__CHANGE__CANCELLED:
        return "cancelled";
    case HERALD__V1__CHANGE__DELETED:
        return "deleted";
    default:
        return "";
    }
}

//  --------------------------------------------------------------------------
//  Encoding

/*  A change is the one message on the hot path, so it is written here, straight from the
    store's row, rather than through protobuf-c's generic packer, which walks the message's
    descriptors twice (once to size it, once to write it, sizing each nested message again)
    and takes every string's strlen both times: a fifth of the publisher's cost a change.
    The bytes are exactly protobuf-c's (codec_test repacks what this writes with protobuf-c
    and compares, and fails if the .proto gains a field this does not know): fields in number
    order, proto3 defaults (empty texts, zeros) left out, a oneof body and every person
    written even when empty. Every field number is below 16, so every key is one byte. */

enum { S_WIRE_VARINT = 0, S_WIRE_BYTES = 2 };

static size_t s_varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint8_t *s_varint_put(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t) (v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t) v;
    return p;
}

/*  Sizes of a field on the wire: a nested message (always written), a text and an integer
    (left out when empty or zero). */
static size_t s_nested_len(size_t len)
{
    return 1 + s_varint_len(len) + len;
}

static size_t s_text_len(size_t len)
{
    return len ? s_nested_len(len) : 0;
}

static size_t s_int_len(uint64_t v)
{
    return v ? 1 + s_varint_len(v) : 0;
}

static uint8_t *s_key_put(uint8_t *p, unsigned field, unsigned wire)
{
    *p++ = (uint8_t) (field << 3 | wire);
    return p;
}

static uint8_t *s_nested_put(uint8_t *p, unsigned field, size_t len)
{
    return s_varint_put(s_key_put(p, field, S_WIRE_BYTES), len);
}

static uint8_t *s_text_put(uint8_t *p, unsigned field, const char *text, size_t len)
{
    if (len == 0) {
        return p;
    }
    p = s_nested_put(p, field, len);
    memcpy(p, text, len);
    return p + len;
}

static uint8_t *s_int_put(uint8_t *p, unsigned field, uint64_t v)
{
    return v ? s_varint_put(s_key_put(p, field, S_WIRE_VARINT), v) : p;
}

#define S_MAX_TEXTS 11 /* text fields of a record, by field number less one */

/*  A change measured for writing: texts[i] is field i + 1 of the record (NULL: none). */
typedef struct {
    const char *stream_id;
    size_t stream_len;
    uint64_t seq;
    uint64_t committed_at_ms; /* int64 on the wire: two's complement, as protobuf does */
    uint64_t change;
    unsigned body; /* field of the oneof: event (5) or press_release (6) */
    const char *texts[S_MAX_TEXTS];
    size_t lens[S_MAX_TEXTS];
    uint64_t status;  /* event field 10 */
    uint64_t version; /* event field 13 */
    const store_person_t *people;
    size_t people_count;
    size_t person_lens[STORE_MAX_PEOPLE][2]; /* name, role */
    size_t body_len;
    size_t len; /* the whole Announcement */
} s_plan_t;

static void s_plan_text(s_plan_t *plan, unsigned field, const char *text)
{
    plan->texts[field - 1] = text;
    plan->lens[field - 1] = text ? strlen(text) : 0;
}

static size_t s_person_len(const size_t lens[2])
{
    return s_text_len(lens[0]) + s_text_len(lens[1]);
}

/*  Measures change as an Announcement of stream_id. 0, or -1 if it cannot be encoded. */
static int s_plan(s_plan_t *plan, const store_change_t *change, const char *stream_id)
{
    memset(plan->texts, 0, sizeof plan->texts);
    memset(plan->lens, 0, sizeof plan->lens);
    plan->status = 0;
    plan->version = 0;
    plan->people_count = 0;
    if (change->seq < 1) {
        return -1;
    }
    plan->change = (uint64_t) codec_change_to_wire(change->change);
    if (plan->change == HERALD__V1__CHANGE__CHANGE_UNSPECIFIED) {
        return -1;
    }
    plan->stream_id = s_str(stream_id);
    plan->stream_len = strlen(plan->stream_id);
    plan->seq = (uint64_t) change->seq;
    plan->committed_at_ms = (uint64_t) change->committed_at_ms;
    //  The record's state is gone (or is being removed): the id alone says which one.
    bool id_only = change->change == STORE_DELETED || !change->present;
    const char *record_id = s_str(change->record_id);

    if (change->type == STORE_EVENT) {
        const store_event_t *e = &change->event;
        plan->body = HERALD__V1__ANNOUNCEMENT__BODY_EVENT; /* the case is the field number */
        if (id_only) {
            s_plan_text(plan, 1, *record_id ? record_id : e->id);
        } else {
            const char *status = s_str(e->status);
            if (strcmp(status, "scheduled") == 0) {
                plan->status = HERALD__V1__EVENT_STATUS__EVENT_STATUS_SCHEDULED;
            } else if (strcmp(status, "cancelled") == 0) {
                plan->status = HERALD__V1__EVENT_STATUS__EVENT_STATUS_CANCELLED;
            } else {
                return -1;
            }
            if (e->people_count > STORE_MAX_PEOPLE) {
                return -1;
            }
            const char *texts[] = {e->id,   e->kind,    e->title,   e->start_date, e->end_date,
                                   e->city, e->country, e->summary, e->url};
            for (unsigned i = 0; i < sizeof texts / sizeof texts[0]; i++) {
                s_plan_text(plan, i + 1, texts[i]);
            }
            s_plan_text(plan, 11, e->cancel_reason);
            plan->version = (uint64_t) e->version;
            plan->people = e->people;
            plan->people_count = e->people_count;
        }
    } else if (change->type == STORE_PRESS) {
        const store_press_t *p = &change->press;
        plan->body = HERALD__V1__ANNOUNCEMENT__BODY_PRESS_RELEASE;
        if (id_only) {
            s_plan_text(plan, 1, *record_id ? record_id : p->id);
        } else {
            const char *texts[] = {p->id,           p->event_id, p->title,
                                   p->published_on, p->url,      p->summary};
            for (unsigned i = 0; i < sizeof texts / sizeof texts[0]; i++) {
                s_plan_text(plan, i + 1, texts[i]);
            }
        }
    } else {
        return -1;
    }
    size_t body = 0;
    for (unsigned i = 0; i < S_MAX_TEXTS; i++) {
        body += s_text_len(plan->lens[i]);
    }
    body += s_int_len(plan->status) + s_int_len(plan->version);
    for (size_t i = 0; i < plan->people_count; i++) {
        plan->person_lens[i][0] = strlen(s_str(plan->people[i].name));
        plan->person_lens[i][1] = strlen(s_str(plan->people[i].role));
        body += s_nested_len(s_person_len(plan->person_lens[i]));
    }
    plan->body_len = body;
    plan->len = s_text_len(plan->stream_len) + s_int_len(plan->seq) +
                s_int_len(plan->committed_at_ms) + s_int_len(plan->change) + s_nested_len(body);
    return 0;
}

/*  Writes the measured change at p (plan->len bytes). */
static void s_plan_put(const s_plan_t *plan, uint8_t *p)
{
    p = s_text_put(p, 1, plan->stream_id, plan->stream_len);
    p = s_int_put(p, 2, plan->seq);
    p = s_int_put(p, 3, plan->committed_at_ms);
    p = s_int_put(p, 4, plan->change);
    p = s_nested_put(p, plan->body, plan->body_len);
    for (unsigned field = 1; field <= 9; field++) {
        p = s_text_put(p, field, plan->texts[field - 1], plan->lens[field - 1]);
    }
    p = s_int_put(p, 10, plan->status);
    p = s_text_put(p, 11, plan->texts[10], plan->lens[10]);
    for (size_t i = 0; i < plan->people_count; i++) {
        const size_t *lens = plan->person_lens[i];
        p = s_nested_put(p, 12, s_person_len(lens));
        p = s_text_put(p, 1, plan->people[i].name, lens[0]);
        p = s_text_put(p, 2, plan->people[i].role, lens[1]);
    }
    s_int_put(p, 13, plan->version);
}

int codec_encode_change(const store_change_t *change, const char *stream_id, uint8_t *buf,
                        size_t cap)
{
    assert(change);
    assert(buf != NULL || cap == 0);
    s_plan_t plan;
    if (s_plan(&plan, change, stream_id) != 0 || plan.len > cap || plan.len > INT_MAX) {
        return -1;
    }
    s_plan_put(&plan, buf);
    return (int) plan.len;
}

/*  Packs a, an announcement without a change (its body set: a heartbeat, a replay end), for
    stream_id at seq. As s_pack. */
static int s_pack_control(Herald__V1__Announcement *a, const char *stream_id, uint64_t seq,
                          uint8_t *buf, size_t cap)
{
    assert(buf != NULL || cap == 0);
    a->stream_id = s_text(stream_id);
    a->seq = seq;
    a->change = HERALD__V1__CHANGE__CHANGE_UNSPECIFIED;
    return s_pack(&a->base, buf, cap);
}

int codec_encode_heartbeat(const char *stream_id, uint64_t head_seq, int64_t now_ms, uint8_t *buf,
                           size_t cap)
{
    Herald__V1__Heartbeat hb = HERALD__V1__HEARTBEAT__INIT;
    hb.head_seq = head_seq;
    hb.sent_at_ms = now_ms;
    Herald__V1__Announcement a = HERALD__V1__ANNOUNCEMENT__INIT;
    a.body_case = HERALD__V1__ANNOUNCEMENT__BODY_HEARTBEAT;
    a.heartbeat = &hb;
    return s_pack_control(&a, stream_id, head_seq, buf, cap);
}

int codec_encode_replay_end(const char *stream_id, uint64_t last_seq, uint64_t head_seq,
                            const char *error, uint8_t *buf, size_t cap)
{
    Herald__V1__ReplayEnd end = HERALD__V1__REPLAY_END__INIT;
    end.last_seq = last_seq;
    end.head_seq = head_seq;
    end.error = s_text(error);
    Herald__V1__Announcement a = HERALD__V1__ANNOUNCEMENT__INIT;
    a.body_case = HERALD__V1__ANNOUNCEMENT__BODY_REPLAY_END;
    a.replay_end = &end;
    return s_pack_control(&a, stream_id, last_seq, buf, cap);
}

//  --------------------------------------------------------------------------
//  ReplayBatch: length-delimited Announcements (CODEC_BATCH_ITEM_KEY), each followed by its
//  topic (CODEC_BATCH_TOPIC_KEY), written by hand so that a change is encoded straight into
//  the batch.

/*  The key and length of a batch entry of len bytes into head (11 bytes); returns their
    size. */
static size_t s_batch_key(uint8_t *head, uint8_t key, size_t len)
{
    size_t n = 0;
    head[n++] = key;
    size_t v = len;
    do {
        head[n++] = (uint8_t) ((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    return n;
}

/*  Writes the topic entry that follows an item (field 2, parallel to field 1) at buf. */
static size_t s_batch_put_topic(uint8_t *buf, const char *topic, size_t topic_len)
{
    size_t n = s_batch_key(buf, CODEC_BATCH_TOPIC_KEY, topic_len);
    memcpy(buf + n, topic, topic_len);
    return n + topic_len;
}

int codec_batch_append(uint8_t *buf, size_t cap, size_t *used, const uint8_t *item, size_t len,
                       const char *topic)
{
    assert(buf && used && (item || len == 0));
    topic = topic ? topic : "";
    size_t topic_len = strlen(topic);
    uint8_t head[1 + 10];
    size_t n = s_batch_key(head, CODEC_BATCH_ITEM_KEY, len);
    size_t tail = 1 + (topic_len > 0x7f ? 2 : 1) + topic_len; /* the topic's key, length, text */
    if (topic_len > CODEC_MAX_TOPIC || *used > cap || cap - *used < n || cap - *used - n < len ||
        cap - *used - n - len < tail) {
        return -1;
    }
    memcpy(buf + *used, head, n);
    memcpy(buf + *used + n, item, len);
    *used += n + len;
    *used += s_batch_put_topic(buf + *used, topic, topic_len);
    return 0;
}

int codec_batch_append_change(uint8_t *buf, size_t cap, size_t *used, const store_change_t *change,
                              const char *stream_id)
{
    assert(buf && used && change);
    s_plan_t plan;
    if (s_plan(&plan, change, stream_id) != 0 || plan.len > CODEC_MAX_FRAME) {
        return -1;
    }
    const char *topic = change->topic ? change->topic : "";
    size_t topic_len = strlen(topic);
    if (topic_len > CODEC_MAX_TOPIC) {
        return -1;
    }
    uint8_t head[1 + 10];
    size_t n = s_batch_key(head, CODEC_BATCH_ITEM_KEY, plan.len);
    size_t tail = 1 + (topic_len > 0x7f ? 2 : 1) + topic_len;
    if (*used > cap || cap - *used < n || cap - *used - n < plan.len ||
        cap - *used - n - plan.len < tail) {
        return 0;
    }
    memcpy(buf + *used, head, n);
    s_plan_put(&plan, buf + *used + n);
    *used += n + plan.len;
    *used += s_batch_put_topic(buf + *used, topic, topic_len);
    return (int) plan.len;
}
