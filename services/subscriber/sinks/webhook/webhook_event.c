/*  webhook_event.c -- the CloudEvents body of a webhook request, built with jansson; the
    record under data in the form of store/export.c (the same keys in the same order).
*/
#include "webhook_event.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "record_json.h"

int webhook_event_id(const char *stream_id, int64_t seq, char *out, size_t cap)
{
    int n = snprintf(out, cap, "herald_%s_%lld", stream_id, (long long) seq);
    return n < 0 || (size_t) n >= cap ? -1 : n;
}

int webhook_event_type(const announcement_t *a, char *out, size_t cap)
{
    const char *change = codec_change_name(a->change);
    const char *record = a->body_case == HERALD__V1__ANNOUNCEMENT__BODY_EVENT ? "event"
                         : a->body_case == HERALD__V1__ANNOUNCEMENT__BODY_PRESS_RELEASE
                             ? "press_release"
                             : NULL;
    if (!record || !change[0]) {
        return -1;
    }
    int n = snprintf(out, cap, "org.herald.%s.%s", record, change);
    return n < 0 || (size_t) n >= cap ? -1 : n;
}

/*  The record as store_export writes it (store/export.c). */
static json_t *s_data(const announcement_t *a)
{
    bool is_event = a->body_case == HERALD__V1__ANNOUNCEMENT__BODY_EVENT;
    json_t *o = json_object();
    if (!o) {
        return NULL;
    }
    json_object_set_new(o, "id", record_json_str(is_event ? a->event->id : a->press_release->id));
    if (codec_is_id_only(a)) {
        return o;
    }
    if (is_event) {
        const Herald__V1__Event *e = a->event;
        record_json_event(o, e);
        json_object_set_new(
            o, "status",
            json_string(e->status == HERALD__V1__EVENT_STATUS__EVENT_STATUS_CANCELLED
                            ? "cancelled"
                            : "scheduled"));
        if (e->cancel_reason && e->cancel_reason[0]) {
            json_object_set_new(o, "cancel_reason", record_json_str(e->cancel_reason));
        }
        json_object_set_new(o, "people", record_json_people(e));
    } else {
        const Herald__V1__PressRelease *p = a->press_release;
        json_object_set_new(o, "event_id",
                            p->event_id[0] ? record_json_str(p->event_id) : json_null());
        record_json_press(o, p);
    }
    return o;
}

/*  RFC 3339 in UTC with milliseconds: 2026-11-28T10:00:00.123Z. */
static void s_time(int64_t ms, char *out, size_t cap)
{
    time_t t = (time_t) (ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int) (ms % 1000));
}

char *webhook_event_body(const announcement_t *a)
{
    char id[WEBHOOK_ID_MAX], type[WEBHOOK_TYPE_MAX], when[96], source[96];
    if (webhook_event_type(a, type, sizeof type) < 0 ||
        webhook_event_id(a->stream_id, (int64_t) a->seq, id, sizeof id) < 0 ||
        a->committed_at_ms < 0) {
        return NULL;
    }
    bool is_event = a->body_case == HERALD__V1__ANNOUNCEMENT__BODY_EVENT;
    s_time(a->committed_at_ms, when, sizeof when);
    snprintf(source, sizeof source, "urn:herald:stream:%s", a->stream_id);
    json_t *o = json_object();
    json_t *data = s_data(a);
    if (!o || !data) {
        json_decref(o);
        json_decref(data);
        return NULL;
    }
    json_object_set_new(o, "specversion", json_string("1.0"));
    json_object_set_new(o, "id", json_string(id));
    json_object_set_new(o, "source", record_json_str(source));
    json_object_set_new(o, "type", json_string(type));
    json_object_set_new(o, "subject",
                        record_json_str(is_event ? a->event->id : a->press_release->id));
    json_object_set_new(o, "time", json_string(when));
    json_object_set_new(o, "datacontenttype", json_string("application/json"));
    json_object_set_new(o, "seq", json_integer((json_int_t) a->seq));
    json_object_set_new(o, "data", data);
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return text;
}
