/*  record_json.h -- the fields of an announcement's record as jansson values, in the order
    the sinks' JSON forms share: the mail sink's queued item (mail_render.h) and the webhook's
    data (store/export.c's form). Each sink sets the keys it alone has around them.
*/
#ifndef HERALD_SUB_RECORD_JSON_H
#define HERALD_SUB_RECORD_JSON_H

#include <jansson.h>

#include "codec.h"

/*  A JSON string of s, text the codec validated as UTF-8 (so jansson's check is skipped). A
    new reference, NULL when out of memory. */
json_t *record_json_str(const char *s);

/*  Sets the event's kind, title, start_date, end_date, city, country, summary and url on o,
    in that order. */
void record_json_event(json_t *o, const Herald__V1__Event *e);

/*  The event's people as an array of {"name", "role"} objects: a new reference, NULL when
    out of memory. */
json_t *record_json_people(const Herald__V1__Event *e);

/*  Sets the press release's title, published_on, url and summary on o, in that order. */
void record_json_press(json_t *o, const Herald__V1__PressRelease *p);

#endif
