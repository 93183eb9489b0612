/*  webhook_dead.h -- herald-sub webhook-dead list|retry: the dead letters of a webhook sink's
    --state file (requests the receiver refused for good), listed as JSON lines or sent again.
*/
#ifndef HERALD_WEBHOOK_DEAD_H
#define HERALD_WEBHOOK_DEAD_H

#include <stddef.h>
#include <stdio.h>

#include "sink_webhook.h"

/*  Writes one JSON object a line to out for every dead letter of the state file at path: id,
    webhook_id, stream_id, seq, type, code, error, failed_at_ms. 0, or -1 with the reason in
    err. */
int webhook_dead_list(const char *state_path, FILE *out, char *err, size_t errlen);

/*  Sends every dead letter of the state file at state_path again to options' URL, with its
    body and webhook-id as they were (a new timestamp and signature); removes each one the
    receiver accepts (logged as sub.webhook_delivered; a refusal as sub.webhook_dead, a
    failure as sub.webhook_retry). Returns how many are left (0: all delivered), or -1 with
    the reason in err. */
int webhook_dead_retry(const char *state_path, const sink_webhook_options_t *options, char *err,
                       size_t errlen);

#endif
