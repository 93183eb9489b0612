/*  webhook_event.h -- an announcement as a CloudEvents 1.0 event in structured JSON mode
    (application/cloudevents+json), the body of a webhook request.

    {"specversion":"1.0","id":ID,"source":"urn:herald:stream:STREAM","type":TYPE,
     "subject":RECORD_ID,"time":COMMIT_TIME,"datacontenttype":"application/json","seq":SEQ,
     "data":RECORD}

    id is the webhook-id too (webhook_event_id): stable for a stream and seq, so a receiver
    drops a resend by it. type is org.herald.<event|press_release>.<created|updated|cancelled|
    deleted>. time is RFC 3339 in UTC with milliseconds. seq (an extension attribute) is the
    announcement's position in the stream. data is the record as `herald-store export` writes
    it, or {"id": ...} alone for a record that is gone (deleted, or deleted since).
*/
#ifndef HERALD_WEBHOOK_EVENT_H
#define HERALD_WEBHOOK_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "codec.h"

#define WEBHOOK_ID_MAX 96   /* room for a webhook-id and its NUL */
#define WEBHOOK_TYPE_MAX 48 /* room for a type and its NUL */

/*  Writes the webhook-id of announcement seq of stream_id ("herald_STREAM_SEQ") to out (cap
    bytes). Returns its length, or -1 if it does not fit. */
int webhook_event_id(const char *stream_id, int64_t seq, char *out, size_t cap);

/*  Writes the CloudEvents type of a record announcement to out (cap bytes). Returns its
    length, or -1 (not a record change, or too small). */
int webhook_event_type(const announcement_t *a, char *out, size_t cap);

/*  The event of a record announcement as compact JSON text. Returns it (the caller's, to
    free()), or NULL when out of memory or a is not a record change. */
char *webhook_event_body(const announcement_t *a);

#endif
