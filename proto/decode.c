/*  decode.c -- Herald announcements back to store records, and the validation of
    everything that comes from the network: the decoder and its arena, Announcements,
    ReplayRequests, walking a ReplayBatch, and the fuzz entry.

    protobuf-c allocates through a ProtobufCAllocator; ours hands out 16-byte aligned slices
    of one block (the arena) made in codec_decoder_new and rewound before each decode, and
    its free does nothing. A message whose decoding needs more than the arena (many tiny
    fields, repeated merges) makes an allocation fail, which protobuf-c turns into a failed
    unpack: the message is rejected as too complex and nothing overflows. Every decoded
    message is then validated before the caller sees it; nothing on the wire is trusted,
    including enum values (proto3 enums are open: protobuf-c keeps unknown numbers).
    A record announcement of the common shape is decoded by hand into the same structs from
    the same arena, and any other bytes by protobuf-c (see "The hand decoder" below).
    Encoding: encode.c.
*/
#include "codec.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 16

struct codec_decoder {
    ProtobufCAllocator allocator; /* protobuf-c's view of the arena; allocator_data is self */
    uint8_t *arena;               /* one block of CODEC_ARENA_SIZE bytes */
    size_t size;                  /* bytes in arena */
    size_t used;                  /* bytes handed out since the last reset */
    size_t high_water;            /* most bytes one decode has used */
    bool exhausted;               /* an allocation failed during this decode */
};

static const uint8_t s_empty_input[1] = {0};

//  --------------------------------------------------------------------------
//  Small helpers

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void
s_why(char *why, size_t whylen, const char *fmt, ...)
{
    if (why == NULL || whylen == 0) {
        return;
    }
    va_list args;
    va_start(args, fmt);
    vsnprintf(why, whylen, fmt, args);
    va_end(args);
}

static const char *s_str(const char *s)
{
    return s != NULL ? s : "";
}

//  --------------------------------------------------------------------------
//  ReplayBatch: a repeated field of length-delimited Announcements, walked by hand so that
//  each item is decoded (into the arena) only when its turn comes.

/*  Reads a varint at data[*pos..len). 0, or -1 when truncated or longer than 10 bytes. */
static int s_varint(const uint8_t *data, size_t len, size_t *pos, uint64_t *value)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (*pos >= len) {
            return -1;
        }
        uint8_t byte = data[(*pos)++];
        v |= (uint64_t) (byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *value = v;
            return 0;
        }
    }
    return -1;
}

static int s_bad_batch(char *why, size_t whylen, const char *what, size_t at)
{
    s_why(why, whylen, "not a ReplayBatch: %s at byte %zu", what, at);
    return -1;
}

int codec_batch_next(const uint8_t *data, size_t len, size_t *pos, const uint8_t **item,
                     size_t *item_len, char *why, size_t whylen)
{
    assert(pos && item && item_len && (data || len == 0));
    while (*pos < len) {
        size_t at = *pos;
        uint64_t key, size;
        if (s_varint(data, len, pos, &key) != 0 || key >> 3 == 0 || key >> 3 > 0x1fffffff) {
            return s_bad_batch(why, whylen, "a bad field key", at);
        }
        if (key >> 3 == 1 && key != CODEC_BATCH_ITEM_KEY) {
            return s_bad_batch(why, whylen, "field 1 not length-delimited", at);
        }
        switch (key & 7) {
        case 0: /* varint */
            if (s_varint(data, len, pos, &size) != 0) {
                return s_bad_batch(why, whylen, "a bad varint", at);
            }
            break;
        case 1: /* 64-bit */
        case 5: /* 32-bit */
            size = (key & 7) == 1 ? 8 : 4;
            if (len - *pos < size) {
                return s_bad_batch(why, whylen, "a truncated field", at);
            }
            *pos += (size_t) size;
            break;
        case 2: /* length-delimited */
            if (s_varint(data, len, pos, &size) != 0 || size > len - *pos) {
                return s_bad_batch(why, whylen, "a bad length", at);
            }
            if (key == CODEC_BATCH_ITEM_KEY) {
                *item = data + *pos;
                *item_len = (size_t) size;
                *pos += (size_t) size;
                return 1;
            }
            *pos += (size_t) size;
            break;
        default:
            return s_bad_batch(why, whylen, "an unknown wire type", at);
        }
    }
    return 0;
}

int codec_batch_topic(const uint8_t *data, size_t len, size_t *pos, const char **topic,
                      size_t *topic_len, char *why, size_t whylen)
{
    assert(pos && topic && topic_len && (data || len == 0));
    while (*pos < len) {
        size_t at = *pos;
        uint64_t key, size;
        if (s_varint(data, len, pos, &key) != 0 || key >> 3 == 0 || key >> 3 > 0x1fffffff) {
            return s_bad_batch(why, whylen, "a bad field key", at);
        }
        if (key >> 3 == 2 && key != CODEC_BATCH_TOPIC_KEY) {
            return s_bad_batch(why, whylen, "field 2 not length-delimited", at);
        }
        switch (key & 7) {
        case 0:
            if (s_varint(data, len, pos, &size) != 0) {
                return s_bad_batch(why, whylen, "a bad varint", at);
            }
            break;
        case 1:
        case 5:
            size = (key & 7) == 1 ? 8 : 4;
            if (len - *pos < size) {
                return s_bad_batch(why, whylen, "a truncated field", at);
            }
            *pos += (size_t) size;
            break;
        case 2:
            if (s_varint(data, len, pos, &size) != 0 || size > len - *pos) {
                return s_bad_batch(why, whylen, "a bad length", at);
            }
            if (key == CODEC_BATCH_TOPIC_KEY) {
                if (size > CODEC_MAX_TOPIC) {
                    return s_bad_batch(why, whylen, "a topic longer than 256 bytes", at);
                }
                *topic = (const char *) data + *pos;
                *topic_len = (size_t) size;
                *pos += (size_t) size;
                return 1;
            }
            *pos += (size_t) size;
            break;
        default:
            return s_bad_batch(why, whylen, "an unknown wire type", at);
        }
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  The decoder and its arena

static void *s_arena_alloc(void *data, size_t size)
{
    codec_decoder_t *self = (codec_decoder_t *) data;
    size_t room = self->size - self->used;
    if (size > room) {
        self->exhausted = true;
        return NULL;
    }
    //  Round up to keep every slice aligned; room is a multiple of ARENA_ALIGN.
    size_t take = (size + (ARENA_ALIGN - 1)) & ~(size_t) (ARENA_ALIGN - 1);
    if (take == 0) {
        take = ARENA_ALIGN;
    }
    if (take > room) {
        self->exhausted = true;
        return NULL;
    }
    void *ptr = self->arena + self->used;
    self->used += take;
    if (self->used > self->high_water) {
        self->high_water = self->used;
    }
    return ptr;
}

//  Everything goes at once when the arena is rewound.
static void s_arena_free(void *data, void *ptr)
{
    (void) data;
    (void) ptr;
}

codec_decoder_t *codec_decoder_new(void)
{
    codec_decoder_t *self = (codec_decoder_t *) calloc(1, sizeof(*self));
    if (self == NULL) {
        return NULL;
    }
    self->size = CODEC_ARENA_SIZE;
    self->arena = (uint8_t *) aligned_alloc(ARENA_ALIGN, self->size);
    if (self->arena == NULL) {
        free(self);
        return NULL;
    }
    self->allocator.alloc = s_arena_alloc;
    self->allocator.free = s_arena_free;
    self->allocator.allocator_data = self;
    return self;
}

//  Forgets the previous message and rewinds the arena. protobuf_c_message_free_unpacked
//  would only walk the message to call our free, which does nothing: the rewind frees all.
static void s_reset(codec_decoder_t *self)
{
    self->used = 0;
    self->exhausted = false;
}

void codec_decoder_destroy(codec_decoder_t **self_p)
{
    assert(self_p);
    if (*self_p == NULL) {
        return;
    }
    codec_decoder_t *self = *self_p;
    s_reset(self);
    free(self->arena);
    free(self);
    *self_p = NULL;
}

size_t codec_decoder_high_water(const codec_decoder_t *self)
{
    assert(self);
    return self->high_water;
}

//  --------------------------------------------------------------------------
//  The hand decoder: the common shape of a record announcement, in one pass

/*  protobuf-c unpacks in two passes, looking every field up in its descriptor, and was a
    fifth of a replaying subscriber's time. An Event or PressRelease announcement as our
    publisher encodes it (each field once, one-byte keys, short varints) is decoded here
    straight into the same structs, from the same arena; anything else (a field it does not
    know, a field twice, another body, a long varint, too many people, a full arena) makes it
    give up, and protobuf-c decodes the message as before. So whatever it accepts is decoded
    exactly as protobuf-c decodes it (codec_fuzz_one checks that on every input). */

typedef struct {
    const uint8_t *at;  /* the next byte */
    const uint8_t *end; /* the end of the message */
} s_wire_t;

#define S_FAST_MAX_PEOPLE 64 /* more, and protobuf-c decodes (validation refuses them) */

/*  A varint of at most max bytes: false when longer or cut short. Bits beyond the 64th are
    dropped, as protobuf-c drops them. */
static bool s_fast_varint(s_wire_t *w, unsigned max, uint64_t *value)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < max && w->at < w->end; i++) {
        uint8_t byte = *w->at++;
        v |= (uint64_t) (byte & 0x7f) << (7 * i);
        if (!(byte & 0x80)) {
            *value = v;
            return true;
        }
    }
    return false;
}

/*  A one-byte key: its field number and wire type. */
static bool s_fast_key(s_wire_t *w, unsigned *field, unsigned *type)
{
    uint8_t key = *w->at++;
    *field = key >> 3;
    *type = key & 7;
    return !(key & 0x80) && *field != 0;
}

/*  The bytes of a length-delimited field (a length of at most three bytes). */
static bool s_fast_bytes(s_wire_t *w, unsigned type, s_wire_t *inner)
{
    uint64_t len;
    if (type != 2 || !s_fast_varint(w, 3, &len) || len > (uint64_t) (w->end - w->at)) {
        return false;
    }
    inner->at = w->at;
    inner->end = w->at + len;
    w->at += len;
    return true;
}

/*  A string field: its bytes copied into the arena and NUL-terminated, as protobuf-c does. */
static bool s_fast_string(codec_decoder_t *self, s_wire_t *w, unsigned type, char **out)
{
    s_wire_t s;
    if (!s_fast_bytes(w, type, &s)) {
        return false;
    }
    size_t len = (size_t) (s.end - s.at);
    char *copy = s_arena_alloc(self, len + 1);
    if (copy == NULL) {
        return false;
    }
    memcpy(copy, s.at, len);
    copy[len] = '\0';
    *out = copy;
    return true;
}

/*  An enum field: a varint of at most four bytes (protobuf-c reads longer ones its own way),
    stored as the int protobuf-c stores. */
static bool s_fast_enum(s_wire_t *w, unsigned type, void *out)
{
    uint64_t v;
    if (type != 0 || !s_fast_varint(w, 4, &v)) {
        return false;
    }
    int value = (int) v;
    memcpy(out, &value, sizeof value);
    return true;
}

static bool s_fast_u64(s_wire_t *w, unsigned type, uint64_t *out)
{
    return type == 0 && s_fast_varint(w, 10, out);
}

/*  Marks field as seen; false if it was already (protobuf-c would keep the last, or merge). */
static bool s_fast_once(uint32_t *seen, unsigned field)
{
    if (*seen & (UINT32_C(1) << field)) {
        return false;
    }
    *seen |= UINT32_C(1) << field;
    return true;
}

static Herald__V1__Person *s_fast_person(codec_decoder_t *self, s_wire_t w)
{
    Herald__V1__Person *p = s_arena_alloc(self, sizeof *p);
    if (p == NULL) {
        return NULL;
    }
    *p = (Herald__V1__Person) HERALD__V1__PERSON__INIT;
    uint32_t seen = 0;
    while (w.at < w.end) {
        unsigned field, type;
        if (!s_fast_key(&w, &field, &type) || field > 2 || !s_fast_once(&seen, field) ||
            !s_fast_string(self, &w, type, field == 1 ? &p->name : &p->role)) {
            return NULL;
        }
    }
    return p;
}

static Herald__V1__Event *s_fast_event(codec_decoder_t *self, s_wire_t w)
{
    Herald__V1__Event *e = s_arena_alloc(self, sizeof *e);
    if (e == NULL) {
        return NULL;
    }
    *e = (Herald__V1__Event) HERALD__V1__EVENT__INIT;
    char **texts[] = {NULL,           &e->id,       &e->kind, &e->title,
                      &e->start_date, &e->end_date, &e->city, &e->country,
                      &e->summary,    &e->url,      NULL,     &e->cancel_reason};
    Herald__V1__Person *people[S_FAST_MAX_PEOPLE];
    size_t n_people = 0;
    uint32_t seen = 0;
    while (w.at < w.end) {
        unsigned field, type;
        if (!s_fast_key(&w, &field, &type)) {
            return NULL;
        }
        bool ok = false;
        if (field == 12) {
            s_wire_t inner;
            ok = n_people < S_FAST_MAX_PEOPLE && s_fast_bytes(&w, type, &inner) &&
                 (people[n_people] = s_fast_person(self, inner)) != NULL;
            n_people += ok;
        } else if (field > 13 || !s_fast_once(&seen, field)) {
            ok = false;
        } else if (field == 10) {
            ok = s_fast_enum(&w, type, &e->status);
        } else if (field == 13) {
            uint64_t v = 0;
            ok = s_fast_u64(&w, type, &v);
            e->version = (int64_t) v;
        } else {
            ok = s_fast_string(self, &w, type, texts[field]);
        }
        if (!ok) {
            return NULL;
        }
    }
    if (n_people > 0) {
        e->people = s_arena_alloc(self, n_people * sizeof *e->people);
        if (e->people == NULL) {
            return NULL;
        }
        memcpy(e->people, people, n_people * sizeof *e->people);
        e->n_people = n_people;
    }
    return e;
}

static Herald__V1__PressRelease *s_fast_press(codec_decoder_t *self, s_wire_t w)
{
    Herald__V1__PressRelease *p = s_arena_alloc(self, sizeof *p);
    if (p == NULL) {
        return NULL;
    }
    *p = (Herald__V1__PressRelease) HERALD__V1__PRESS_RELEASE__INIT;
    char **texts[] = {NULL,    &p->id,     &p->event_id, &p->title, &p->published_on,
                      &p->url, &p->summary};
    uint32_t seen = 0;
    while (w.at < w.end) {
        unsigned field, type;
        if (!s_fast_key(&w, &field, &type) || field > 6 || !s_fast_once(&seen, field) ||
            !s_fast_string(self, &w, type, texts[field])) {
            return NULL;
        }
    }
    return p;
}

/*  An Event or PressRelease announcement, or NULL: leave it to protobuf-c. */
static announcement_t *s_fast_announcement(codec_decoder_t *self, const uint8_t *data, size_t len)
{
    announcement_t *a = s_arena_alloc(self, sizeof *a);
    if (a == NULL) {
        return NULL;
    }
    *a = (announcement_t) HERALD__V1__ANNOUNCEMENT__INIT;
    s_wire_t w = {data, data + len};
    uint32_t seen = 0;
    while (w.at < w.end) {
        unsigned field, type;
        s_wire_t inner;
        uint64_t v = 0;
        if (!s_fast_key(&w, &field, &type) || field > 6 || !s_fast_once(&seen, field)) {
            return NULL;
        }
        bool ok = false;
        switch (field) {
        case 1:
            ok = s_fast_string(self, &w, type, &a->stream_id);
            break;
        case 2:
            ok = s_fast_u64(&w, type, &a->seq);
            break;
        case 3:
            ok = s_fast_u64(&w, type, &v);
            a->committed_at_ms = (int64_t) v;
            break;
        case 4:
            ok = s_fast_enum(&w, type, &a->change);
            break;
        case 5:
            ok = a->body_case == HERALD__V1__ANNOUNCEMENT__BODY__NOT_SET &&
                 s_fast_bytes(&w, type, &inner) && (a->event = s_fast_event(self, inner)) != NULL;
            a->body_case = HERALD__V1__ANNOUNCEMENT__BODY_EVENT;
            break;
        case 6:
            ok = a->body_case == HERALD__V1__ANNOUNCEMENT__BODY__NOT_SET &&
                 s_fast_bytes(&w, type, &inner) &&
                 (a->press_release = s_fast_press(self, inner)) != NULL;
            a->body_case = HERALD__V1__ANNOUNCEMENT__BODY_PRESS_RELEASE;
            break;
        }
        if (!ok) {
            return NULL;
        }
    }
    return a;
}

//  --------------------------------------------------------------------------
//  Decoding and validation

static ProtobufCMessage *s_unpack(codec_decoder_t *self, const ProtobufCMessageDescriptor *desc,
                                  const uint8_t *data, size_t len, char *why, size_t whylen)
{
    s_reset(self);
    if (len > CODEC_MAX_FRAME) {
        s_why(why, whylen, "frame: %zu bytes, more than %d", len, CODEC_MAX_FRAME);
        return NULL;
    }
    if (data == NULL) {
        if (len > 0) {
            s_why(why, whylen, "frame: no data");
            return NULL;
        }
        data = s_empty_input;
    }
    ProtobufCMessage *m = NULL;
    if (desc == &herald__v1__announcement__descriptor) {
        m = (ProtobufCMessage *) s_fast_announcement(self, data, len);
        if (m == NULL) {
            s_reset(self); /* not the common shape: protobuf-c decodes it */
        }
    }
    if (m == NULL) {
        m = protobuf_c_message_unpack(desc, &self->allocator, len, data);
    }
    if (m == NULL) {
        if (self->exhausted) {
            s_why(why, whylen, "%s: too complex (needs more than %d bytes to decode)",
                  desc->short_name, CODEC_ARENA_SIZE);
        } else {
            s_why(why, whylen, "%s: not a valid protobuf encoding", desc->short_name);
        }
        s_reset(self);
        return NULL;
    }
    return m;
}

const announcement_t *codec_decode(codec_decoder_t *self, const uint8_t *data, size_t len,
                                   char *why, size_t whylen)
{
    assert(self);
    ProtobufCMessage *m =
        s_unpack(self, &herald__v1__announcement__descriptor, data, len, why, whylen);
    if (m == NULL) {
        return NULL;
    }
    const announcement_t *a = (const announcement_t *) m;
    if (codec_validate(a, why, whylen) != 0) {
        s_reset(self);
        return NULL;
    }
    return a;
}

//  --------------------------------------------------------------------------
//  Validation

//  A string field: valid UTF-8 and at most max bytes (protobuf-c NUL-terminates them).
static int s_check_text(const char *name, const char *s, size_t max, char *why, size_t whylen)
{
    s = s_str(s);
    size_t len = strnlen(s, max + 1);
    if (len > max) {
        s_why(why, whylen, "%s: longer than %zu bytes", name, max);
        return -1;
    }
    if (!store_utf8_valid(s, len)) {
        s_why(why, whylen, "%s: not valid UTF-8", name);
        return -1;
    }
    return 0;
}

static bool s_uuid_valid(const char *s)
{
    s = s_str(s);
    for (size_t i = 0; i < 36; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-') {
                return false;
            }
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false; // also stops at the terminating NUL of a short string
        }
    }
    return s[36] == '\0';
}

//  An enum field as the int protobuf-c stored: the wire may carry any number, and loading an
//  out-of-range value through the enum type is what -fsanitize=enum (clang) traps on.
static int s_enum_value(const void *field)
{
    int value;
    memcpy(&value, field, sizeof(value));
    return value;
}
_Static_assert(sizeof(Herald__V1__Change) == sizeof(int), "protobuf-c enums are int-sized");
_Static_assert(sizeof(Herald__V1__EventStatus) == sizeof(int), "protobuf-c enums are int-sized");

static bool s_empty(const char *s)
{
    return s == NULL || *s == '\0';
}

//  The id of an id-only body, checked by the store's own rule for ids: a press release that is
//  valid but for its id fails on "id" exactly when the id is bad.
static int s_check_id(const char *name, const char *id, char *why, size_t whylen)
{
    store_press_t probe = {id, "", "-", "2000-01-01", "", ""};
    const char *field = NULL;
    char reason[256] = "";
    if (store_press_check(&probe, &field, reason, sizeof(reason)) != 0 && field != NULL &&
        strcmp(field, "id") == 0) {
        s_why(why, whylen, "%s: %s", name, reason);
        return -1;
    }
    return 0;
}

bool codec_is_id_only(const announcement_t *a)
{
    if (a == NULL) {
        return false;
    }
    if (a->body_case == HERALD__V1__ANNOUNCEMENT__BODY_EVENT && a->event != NULL) {
        const Herald__V1__Event *e = a->event;
        return !s_empty(e->id) && s_empty(e->kind) && s_empty(e->title) && s_empty(e->start_date) &&
               s_empty(e->end_date) && s_empty(e->city) && s_empty(e->country) &&
               s_empty(e->summary) && s_empty(e->url) && s_empty(e->cancel_reason) &&
               e->n_people == 0 && e->version == 0 &&
               e->status == HERALD__V1__EVENT_STATUS__EVENT_STATUS_UNSPECIFIED;
    }
    if (a->body_case == HERALD__V1__ANNOUNCEMENT__BODY_PRESS_RELEASE && a->press_release != NULL) {
        const Herald__V1__PressRelease *p = a->press_release;
        return !s_empty(p->id) && s_empty(p->event_id) && s_empty(p->title) &&
               s_empty(p->published_on) && s_empty(p->url) && s_empty(p->summary);
    }
    return false;
}

//  The record header shared by events and press releases: seq and change.
static int s_check_record_header(const announcement_t *a, char *why, size_t whylen)
{
    if (a->seq < 1 || a->seq > INT64_MAX) {
        s_why(why, whylen, "seq: %" PRIu64 " out of range for a record", a->seq);
        return -1;
    }
    if (a->change == HERALD__V1__CHANGE__CHANGE_UNSPECIFIED) {
        s_why(why, whylen, "change: unspecified in a record announcement");
        return -1;
    }
    return 0;
}

/*  A text field of a record and its size limit, checked by s_check_texts. */
typedef struct {
    const char *name;  /* for the reason, e.g. "event.title" */
    const char *value; /* the decoded text */
    size_t max;        /* bytes at most */
} s_text_rule_t;

static int s_check_texts(const s_text_rule_t *rules, size_t count, char *why, size_t whylen)
{
    for (size_t i = 0; i < count; i++) {
        if (s_check_text(rules[i].name, rules[i].value, rules[i].max, why, whylen) != 0) {
            return -1;
        }
    }
    return 0;
}

/*  An event's texts one by one, each naming its field; people included. */
static int s_check_event_texts(const Herald__V1__Event *e, char *why, size_t whylen)
{
    const s_text_rule_t texts[] = {
        {"event.id", e->id, STORE_MAX_FIELD},
        {"event.kind", e->kind, STORE_MAX_FIELD},
        {"event.title", e->title, STORE_MAX_FIELD},
        {"event.start_date", e->start_date, STORE_MAX_FIELD},
        {"event.end_date", e->end_date, STORE_MAX_FIELD},
        {"event.city", e->city, STORE_MAX_FIELD},
        {"event.country", e->country, STORE_MAX_FIELD},
        {"event.summary", e->summary, STORE_MAX_SUMMARY},
        {"event.url", e->url, STORE_MAX_FIELD},
        {"event.cancel_reason", e->cancel_reason, STORE_MAX_FIELD},
    };
    if (s_check_texts(texts, sizeof texts / sizeof texts[0], why, whylen) != 0) {
        return -1;
    }
    for (size_t i = 0; i < e->n_people; i++) {
        char inner[200];
        if (e->people[i] == NULL) {
            s_why(why, whylen, "event.people[%zu]: missing", i);
            return -1;
        }
        if (s_check_text("name", e->people[i]->name, STORE_MAX_FIELD, inner, sizeof inner) != 0 ||
            s_check_text("role", e->people[i]->role, STORE_MAX_FIELD, inner, sizeof inner) != 0) {
            s_why(why, whylen, "event.people[%zu].%s", i, inner);
            return -1;
        }
    }
    return 0;
}

/*  A full event is checked by the store's own rules, which cover every text (UTF-8, length,
    control characters) in one pass; the field-by-field pass runs first only for an id alone,
    and after a refusal, to name the field the way the codec does. */
static int s_check_event(const announcement_t *a, char *why, size_t whylen)
{
    const Herald__V1__Event *e = a->event;
    if (s_check_record_header(a, why, whylen) != 0) {
        return -1;
    }
    if (e->n_people > STORE_MAX_PEOPLE) {
        s_why(why, whylen, "event.people: %zu people, more than %d", e->n_people, STORE_MAX_PEOPLE);
        return -1;
    }
    int status = s_enum_value(&e->status);
    if (status < HERALD__V1__EVENT_STATUS__EVENT_STATUS_UNSPECIFIED ||
        status > HERALD__V1__EVENT_STATUS__EVENT_STATUS_CANCELLED) {
        s_why(why, whylen, "event.status: unknown value %d", status);
        return -1;
    }
    if (a->change == HERALD__V1__CHANGE__DELETED || codec_is_id_only(a)) {
        if (s_check_event_texts(e, why, whylen) != 0) {
            return -1;
        }
        return s_check_id("event.id", e->id, why, whylen);
    }
    for (size_t i = 0; i < e->n_people; i++) {
        if (e->people[i] == NULL) {
            s_why(why, whylen, "event.people[%zu]: missing", i);
            return -1;
        }
    }
    if (e->status == HERALD__V1__EVENT_STATUS__EVENT_STATUS_UNSPECIFIED) {
        s_why(why, whylen, "event.status: unspecified");
        return -1;
    }
    if (a->change == HERALD__V1__CHANGE__CANCELLED &&
        e->status != HERALD__V1__EVENT_STATUS__EVENT_STATUS_CANCELLED) {
        s_why(why, whylen, "event.status: not cancelled in a cancelled announcement");
        return -1;
    }
    if (e->version < 1) {
        s_why(why, whylen, "event.version: %" PRId64 ", must be at least 1", e->version);
        return -1;
    }
    store_event_t record;
    store_person_t people[STORE_MAX_PEOPLE];
    if (codec_to_event(e, &record, people, STORE_MAX_PEOPLE) != 0) {
        s_why(why, whylen, "event.people: more than %d", STORE_MAX_PEOPLE);
        return -1;
    }
    const char *field = NULL;
    char reason[256] = "";
    if (store_event_check(&record, &field, reason, sizeof(reason)) != 0) {
        if (s_check_event_texts(e, why, whylen) == 0) {
            s_why(why, whylen, "event.%s: %s", field != NULL ? field : "?", reason);
        }
        return -1;
    }
    return 0;
}

/*  A press release's texts one by one, each naming its field (see s_check_event). */
static int s_check_press_texts(const Herald__V1__PressRelease *p, char *why, size_t whylen)
{
    const s_text_rule_t texts[] = {
        {"press_release.id", p->id, STORE_MAX_FIELD},
        {"press_release.event_id", p->event_id, STORE_MAX_FIELD},
        {"press_release.title", p->title, STORE_MAX_FIELD},
        {"press_release.published_on", p->published_on, STORE_MAX_FIELD},
        {"press_release.url", p->url, STORE_MAX_FIELD},
        {"press_release.summary", p->summary, STORE_MAX_SUMMARY},
    };
    return s_check_texts(texts, sizeof texts / sizeof texts[0], why, whylen);
}

static int s_check_press(const announcement_t *a, char *why, size_t whylen)
{
    const Herald__V1__PressRelease *p = a->press_release;
    if (s_check_record_header(a, why, whylen) != 0) {
        return -1;
    }
    if (a->change == HERALD__V1__CHANGE__CANCELLED) {
        s_why(why, whylen, "change: a press release cannot be cancelled");
        return -1;
    }
    if (a->change == HERALD__V1__CHANGE__DELETED || codec_is_id_only(a)) {
        if (s_check_press_texts(p, why, whylen) != 0) {
            return -1;
        }
        return s_check_id("press_release.id", p->id, why, whylen);
    }
    store_press_t record;
    codec_to_press(p, &record);
    const char *field = NULL;
    char reason[256] = "";
    if (store_press_check(&record, &field, reason, sizeof(reason)) != 0) {
        if (s_check_press_texts(p, why, whylen) == 0) {
            s_why(why, whylen, "press_release.%s: %s", field != NULL ? field : "?", reason);
        }
        return -1;
    }
    return 0;
}

int codec_validate(const announcement_t *a, char *why, size_t whylen)
{
    assert(a);
    /* A refusal from a publisher that cannot read its store has no stream to name. */
    bool refusal = a->body_case == HERALD__V1__ANNOUNCEMENT__BODY_REPLAY_END && a->replay_end &&
                   a->replay_end->error && a->replay_end->error[0] &&
                   !(a->stream_id && a->stream_id[0]);
    if (!refusal && !s_uuid_valid(a->stream_id)) {
        s_why(why, whylen, "stream_id: not a canonical lower-case UUID");
        return -1;
    }
    int change = s_enum_value(&a->change);
    if (change < HERALD__V1__CHANGE__CHANGE_UNSPECIFIED || change > HERALD__V1__CHANGE__DELETED) {
        s_why(why, whylen, "change: unknown value %d", change);
        return -1;
    }
    switch (a->body_case) {
    case HERALD__V1__ANNOUNCEMENT__BODY_EVENT:
        if (a->event == NULL) {
            break;
        }
        return s_check_event(a, why, whylen);
    case HERALD__V1__ANNOUNCEMENT__BODY_PRESS_RELEASE:
        if (a->press_release == NULL) {
            break;
        }
        return s_check_press(a, why, whylen);
    case HERALD__V1__ANNOUNCEMENT__BODY_HEARTBEAT:
        if (a->heartbeat == NULL) {
            break;
        }
        if (a->change != HERALD__V1__CHANGE__CHANGE_UNSPECIFIED) {
            s_why(why, whylen, "change: %s in a heartbeat", codec_change_name(a->change));
            return -1;
        }
        if (a->heartbeat->head_seq > INT64_MAX) {
            s_why(why, whylen, "heartbeat.head_seq: out of range");
            return -1;
        }
        if (a->seq != a->heartbeat->head_seq) {
            s_why(why, whylen, "seq: %" PRIu64 " differs from heartbeat.head_seq %" PRIu64, a->seq,
                  a->heartbeat->head_seq);
            return -1;
        }
        return 0;
    case HERALD__V1__ANNOUNCEMENT__BODY_REPLAY_END: {
        const Herald__V1__ReplayEnd *end = a->replay_end;
        if (end == NULL) {
            break;
        }
        if (a->change != HERALD__V1__CHANGE__CHANGE_UNSPECIFIED) {
            s_why(why, whylen, "change: %s in a replay end", codec_change_name(a->change));
            return -1;
        }
        if (s_check_text("replay_end.error", end->error, STORE_MAX_FIELD, why, whylen) != 0) {
            return -1;
        }
        if (end->last_seq > INT64_MAX || end->head_seq > INT64_MAX) {
            s_why(why, whylen, "replay_end: seq out of range");
            return -1;
        }
        if (s_empty(end->error) && end->last_seq > end->head_seq) {
            s_why(why, whylen, "replay_end.last_seq: %" PRIu64 " beyond head_seq %" PRIu64,
                  end->last_seq, end->head_seq);
            return -1;
        }
        if (a->seq != end->last_seq) {
            s_why(why, whylen, "seq: %" PRIu64 " differs from replay_end.last_seq %" PRIu64, a->seq,
                  end->last_seq);
            return -1;
        }
        return 0;
    }
    default:
        break;
    }
    s_why(why, whylen, "body: none (or of an unknown type)");
    return -1;
}

//  --------------------------------------------------------------------------
//  Replay requests

static int s_check_request(const Herald__V1__ReplayRequest *r, char *why, size_t whylen)
{
    if (r->n_topics > CODEC_MAX_TOPICS) {
        s_why(why, whylen, "topics: %zu, more than %d", r->n_topics, CODEC_MAX_TOPICS);
        return -1;
    }
    for (size_t i = 0; i < r->n_topics; i++) {
        char name[32];
        snprintf(name, sizeof(name), "topics[%zu]", i);
        if (s_check_text(name, r->topics[i], CODEC_MAX_TOPIC, why, whylen) != 0) {
            return -1;
        }
    }
    if (r->limit > CODEC_MAX_LIMIT) {
        s_why(why, whylen, "limit: %" PRIu32 ", more than %d", r->limit, CODEC_MAX_LIMIT);
        return -1;
    }
    if (r->after_seq > INT64_MAX) {
        s_why(why, whylen, "after_seq: out of range");
        return -1;
    }
    if (r->since_ms < 0) {
        s_why(why, whylen, "since_ms: negative");
        return -1;
    }
    if (r->snapshot && r->since_ms > 0) {
        s_why(why, whylen, "since_ms: snapshot and since_ms are exclusive");
        return -1;
    }
    if (r->as_of_seq > INT64_MAX) {
        s_why(why, whylen, "as_of_seq: out of range");
        return -1;
    }
    if (r->as_of_seq > 0 && !r->snapshot) {
        s_why(why, whylen, "as_of_seq: only with snapshot (the catalogue as it stood at a seq)");
        return -1;
    }
    return 0;
}

const Herald__V1__ReplayRequest *codec_decode_request(codec_decoder_t *self, const uint8_t *data,
                                                      size_t len, char *why, size_t whylen)
{
    assert(self);
    ProtobufCMessage *m =
        s_unpack(self, &herald__v1__replay_request__descriptor, data, len, why, whylen);
    if (m == NULL) {
        return NULL;
    }
    const Herald__V1__ReplayRequest *r = (const Herald__V1__ReplayRequest *) m;
    if (s_check_request(r, why, whylen) != 0) {
        s_reset(self);
        return NULL;
    }
    return r;
}

//  --------------------------------------------------------------------------
//  Back to store records

int codec_to_event(const Herald__V1__Event *e, store_event_t *out, store_person_t *people,
                   size_t cap)
{
    assert(e);
    assert(out);
    if (e->n_people > cap) {
        return -1;
    }
    out->id = s_str(e->id);
    out->kind = s_str(e->kind);
    out->title = s_str(e->title);
    out->start_date = s_str(e->start_date);
    out->end_date = s_str(e->end_date);
    out->city = s_str(e->city);
    out->country = s_str(e->country);
    out->summary = s_str(e->summary);
    out->url = s_str(e->url);
    out->status =
        e->status == HERALD__V1__EVENT_STATUS__EVENT_STATUS_CANCELLED ? "cancelled" : "scheduled";
    out->cancel_reason = s_str(e->cancel_reason);
    for (size_t i = 0; i < e->n_people; i++) {
        const Herald__V1__Person *person = e->people[i];
        people[i].name = person != NULL ? s_str(person->name) : "";
        people[i].role = person != NULL ? s_str(person->role) : "";
    }
    out->people = e->n_people > 0 ? people : NULL;
    out->people_count = e->n_people;
    out->version = e->version;
    return 0;
}

void codec_to_press(const Herald__V1__PressRelease *p, store_press_t *out)
{
    assert(p);
    assert(out);
    out->id = s_str(p->id);
    out->event_id = s_str(p->event_id);
    out->title = s_str(p->title);
    out->published_on = s_str(p->published_on);
    out->url = s_str(p->url);
    out->summary = s_str(p->summary);
}

//  --------------------------------------------------------------------------
//  Fuzzing

/*  Packs m into a new buffer (the caller frees) of *len bytes; NULL when out of memory. */
static uint8_t *s_packed(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *out = (uint8_t *) malloc(*len + 1);
    if (out != NULL) {
        protobuf_c_message_pack(m, out);
    }
    return out;
}

/*  Whatever the hand decoder accepts, protobuf-c accepts too, without unknown fields, and
    decodes into the same message (packed the same). Aborts when not. */
static void s_fuzz_fast(codec_decoder_t *fast, codec_decoder_t *slow, const uint8_t *data,
                        size_t size)
{
    if (size > CODEC_MAX_FRAME || data == NULL) {
        return;
    }
    s_reset(fast);
    const announcement_t *a = s_fast_announcement(fast, data, size);
    if (a == NULL) {
        return;
    }
    s_reset(slow);
    ProtobufCMessage *m = protobuf_c_message_unpack(&herald__v1__announcement__descriptor,
                                                    &slow->allocator, size, data);
    if (m == NULL || m->n_unknown_fields != 0) {
        abort(); // the hand decoder accepted what protobuf-c refuses, or reads otherwise
    }
    size_t fast_len = 0, slow_len = 0;
    uint8_t *fast_bytes = s_packed(&a->base, &fast_len);
    uint8_t *slow_bytes = s_packed(m, &slow_len);
    if (fast_bytes != NULL && slow_bytes != NULL &&
        (fast_len != slow_len || memcmp(fast_bytes, slow_bytes, fast_len) != 0)) {
        abort(); // decoded differently
    }
    free(fast_bytes);
    free(slow_bytes);
    s_reset(fast);
    s_reset(slow);
}

int codec_fuzz_one(const uint8_t *data, size_t size)
{
    static codec_decoder_t *decoder = NULL;
    static codec_decoder_t *other = NULL; /* protobuf-c's side of s_fuzz_fast */
    if (data == NULL && size == 0) {
        codec_decoder_destroy(&decoder);
        codec_decoder_destroy(&other);
        return 0;
    }
    if (decoder == NULL || other == NULL) {
        codec_decoder_destroy(&decoder);
        codec_decoder_destroy(&other);
        decoder = codec_decoder_new();
        other = codec_decoder_new();
        if (decoder == NULL || other == NULL) {
            return 0;
        }
    }
    char why[256];
    s_fuzz_fast(decoder, other, data, size);
    const announcement_t *a = codec_decode(decoder, data, size, why, sizeof(why));
    if (a != NULL && codec_validate(a, why, sizeof(why)) != 0) {
        abort(); // accepted but invalid: a bug in codec_decode
    }
    (void) codec_decode_request(decoder, data, size, why, sizeof(why));
    size_t pos = 0, item_len = 0;
    const uint8_t *item = NULL;
    for (int rc;
         (rc = codec_batch_next(data, size, &pos, &item, &item_len, why, sizeof(why))) == 1;) {
        if (item < data || item_len > size || item + item_len > data + size || pos > size) {
            abort(); // an item outside the batch: a bug in codec_batch_next
        }
        s_fuzz_fast(decoder, other, item, item_len);
        a = codec_decode(decoder, item, item_len, why, sizeof(why));
        if (a != NULL && codec_validate(a, why, sizeof(why)) != 0) {
            abort();
        }
    }
    const char *topic = NULL;
    size_t topic_len = 0;
    pos = 0;
    for (int rc;
         (rc = codec_batch_topic(data, size, &pos, &topic, &topic_len, why, sizeof(why))) == 1;) {
        if (topic_len > CODEC_MAX_TOPIC || topic + topic_len > (const char *) data + size) {
            abort(); // a topic outside the batch: a bug in codec_batch_topic
        }
    }
    return 0;
}
