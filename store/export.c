/*  export.c -- store_export: the whole catalogue as canonical JSON.

    Canonical means the same catalogue always prints the same bytes: lists sorted by id, keys
    in a fixed order, two-space indentation, UTF-8 as is (no \u escapes). store_import reads
    it back, so export, import elsewhere, export gives the same text but for the stream id.
*/
#include "store_private.h"

#include <jansson.h>
#include <stdio.h>

static int s_set(json_t *o, const char *key, json_t *value)
{
    return json_object_set_new(o, key, value);
}

/*  An event's fields, in export order, set in o. 0 or -1. */
static int s_event_fields(json_t *o, const store_event_t *ev)
{
    int rc = 0;
    rc |= s_set(o, "id", json_string(ev->id));
    rc |= s_set(o, "kind", json_string(ev->kind));
    rc |= s_set(o, "title", json_string(ev->title));
    rc |= s_set(o, "start_date", json_string(ev->start_date));
    rc |= s_set(o, "end_date", json_string(ev->end_date));
    rc |= s_set(o, "city", json_string(ev->city));
    rc |= s_set(o, "country", json_string(ev->country));
    rc |= s_set(o, "summary", json_string(ev->summary));
    rc |= s_set(o, "url", json_string(ev->url));
    rc |= s_set(o, "status", json_string(ev->status));
    if (ev->cancel_reason && *ev->cancel_reason) {
        rc |= s_set(o, "cancel_reason", json_string(ev->cancel_reason));
    }
    json_t *people = json_array();
    rc |= s_set(o, "people", people);
    for (size_t i = 0; people && i < ev->people_count; i++) {
        json_t *p = json_object();
        rc |= json_array_append_new(people, p);
        rc |= s_set(p, "name", json_string(ev->people[i].name));
        rc |= s_set(p, "role", json_string(ev->people[i].role));
    }
    return rc ? -1 : 0;
}

/*  A press release's fields, in export order, set in o. 0 or -1. */
static int s_press_fields(json_t *o, const store_press_t *pr)
{
    int rc = 0;
    rc |= s_set(o, "id", json_string(pr->id));
    rc |= s_set(o, "event_id", *pr->event_id ? json_string(pr->event_id) : json_null());
    rc |= s_set(o, "title", json_string(pr->title));
    rc |= s_set(o, "published_on", json_string(pr->published_on));
    rc |= s_set(o, "url", json_string(pr->url));
    rc |= s_set(o, "summary", json_string(pr->summary));
    return rc ? -1 : 0;
}

/*  A new object appended to list, or NULL when out of memory. */
static json_t *s_append(json_t *list)
{
    json_t *o = json_object();
    return o && json_array_append_new(list, o) == 0 ? o : NULL;
}

static int s_add_event(const store_event_t *ev, void *arg)
{
    json_t *o = s_append(arg);
    return o ? s_event_fields(o, ev) : -1;
}

static int s_add_press(const store_press_t *pr, void *arg)
{
    json_t *o = s_append(arg);
    return o ? s_press_fields(o, pr) : -1;
}

int store_export(store_t *self, FILE *out)
{
    json_t *root = json_object();
    json_t *events = json_array();
    json_t *press = json_array();
    if (!root || !events || !press) {
        json_decref(root);
        json_decref(events);
        json_decref(press);
        store_set_error(self, STORE_ERR_NOMEM, "export: out of memory");
        return -1;
    }
    json_object_set_new(root, "stream_id", json_string(store_stream_id(self)));
    json_object_set_new(root, "events", events);
    json_object_set_new(root, "press_releases", press);
    /* One read transaction, so that events and press releases are from the same moment. */
    bool own = !store_in_transaction(self);
    if (own && store_begin_read(self) != 0) {
        json_decref(root);
        return -1;
    }
    int rc = store_list_events(self, s_add_event, events);
    if (rc == 0) {
        rc = store_list_press(self, s_add_press, press);
    }
    if (own) {
        store_rollback(self);
    }
    if (rc != 0) {
        if (!*store_error(self)) {
            store_set_error(self, STORE_ERR_NOMEM, "export: out of memory");
        }
        json_decref(root);
        return -1;
    }
    rc = json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (rc != 0 || fputc('\n', out) == EOF || fflush(out) != 0 || ferror(out)) {
        store_set_error(self, STORE_ERR_IO, "export: write error");
        return -1;
    }
    return 0;
}

/*  Prints the one record list holds, as export does, compact on one line or indented. */
static int s_write_one(json_t *list, FILE *out, bool line)
{
    json_t *o = json_array_get(list, 0);
    int rc =
        o ? json_dumpf(o, out, (line ? JSON_COMPACT : JSON_INDENT(2)) | JSON_PRESERVE_ORDER) : -1;
    if (rc != 0 || fputc('\n', out) == EOF || ferror(out)) {
        rc = -1;
    }
    json_decref(list);
    return rc;
}

int store_write_event(const store_event_t *event, FILE *out, bool line)
{
    json_t *list = json_array();
    if (!list || s_add_event(event, list) != 0) {
        json_decref(list);
        return -1;
    }
    return s_write_one(list, out, line);
}

int store_write_press(const store_press_t *press, FILE *out, bool line)
{
    json_t *list = json_array();
    if (!list || s_add_press(press, list) != 0) {
        json_decref(list);
        return -1;
    }
    return s_write_one(list, out, line);
}

int store_write_change(const store_change_t *change, FILE *out)
{
    json_t *list = json_array();
    json_t *o = list ? s_append(list) : NULL;
    bool press = change->type == STORE_PRESS;
    if (!o || s_set(o, "type", json_string(press ? "press_release" : "event")) != 0 ||
        (press ? s_press_fields(o, &change->press) : s_event_fields(o, &change->event)) != 0) {
        json_decref(list);
        return -1;
    }
    return s_write_one(list, out, true);
}
