/*  sink_webhook.h -- the webhook sink (sinks/webhook/): one signed HTTP POST per announcement,
    in seq order, to an agency's endpoint; the body a CloudEvents event (webhook_event.h),
    signed per Standard Webhooks (webhook_sign.h), queued in the --state file
    (webhook_queue.h) and delivered with retries (webhook_http.h); `herald-sub webhook-dead
    list|retry` (webhook_dead.h) is its subcommand. Opened through the table of sinks (sink.h).
*/
#ifndef HERALD_SINK_WEBHOOK_H
#define HERALD_SINK_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "options.h"

#define SINK_WEBHOOK_TIMEOUT_S 10      /* --webhook-timeout's default */
#define SINK_WEBHOOK_TIMEOUT_MAX_S 600 /* ... and its largest value */
#define SINK_WEBHOOK_SECRET_VAR "HERALD_WEBHOOK_SECRET"

/*  The webhook sink's options (its table, sink_webhook_options, fills them; strings borrowed,
    NULL when not given). The secret never comes from the command line: HERALD_WEBHOOK_SECRET,
    or the first line of --webhook-secret-file (HERALD_WEBHOOK_SECRET_FILE), not both; it
    holds one whsec_ secret or several space-separated (a rotation: each signs). */
typedef struct {
    const char *url;     /* --webhook-url: http://... or https://..., required */
    const char *secret;  /* the signing secret(s), required */
    const char *ca_file; /* --webhook-ca-file FILE: PEM CAs trusted instead of the system's */
    int timeout;         /* --webhook-timeout: seconds for one request, 0: the default (10) */
} sink_webhook_options_t;

/*  The options' table (webhook_options.c), for the table of sinks. */
extern const option_t sink_webhook_options[];

/*  Checks the form of secrets (what webhook_sign.h parses): one to WEBHOOK_SIGN_MAX_KEYS
    whitespace-separated secrets, each whsec_ (may be left out) and the base64 of
    WEBHOOK_SIGN_KEY_MIN to _MAX bytes. 0, or -1 with the reason in err (never the secret). */
int webhook_secrets_check(const char *secrets, char *err, size_t errlen);

/*  The secret after p (whitespace skipped): its base64 in *b64 and *len, whsec_ left out.
    Returns where the next one starts, or NULL when there is none. */
const char *webhook_secret_next(const char *p, const char **b64, size_t *len);

/*  The length of what text[0..len), standard base64 with its padding, decodes to (at most
    WEBHOOK_SIGN_KEY_MAX + 3), or -1 if it is not base64 or longer. */
int webhook_base64_size(const char *text, size_t len);

/*  Checks the options as the sink will use them: the URL, the secrets (parsed), the CA file,
    the timeout (*timeout_ms, may be NULL). 0, or -1 with a message naming the flag
    or variable in err (never a secret). */
int sink_webhook_check(const sink_webhook_options_t *options, int64_t *timeout_ms, char *err,
                       size_t errlen);

/*  The HTTP client (webhook_http.h) for the options, checked as sink_webhook_check does.
    Returns it (the caller's, freed with webhook_http_destroy), or NULL with the reason in
    err. */
struct webhook_http *sink_webhook_client(const sink_webhook_options_t *options, char *err,
                                         size_t errlen);

/*  Its entry in the table of sinks (sink.c): name "webhook", --from latest by default, needs
    --state, four metrics (deliveries, failed attempts, requests waiting, dead letters) and
    the webhook-dead subcommand. */
extern const struct sink_type sink_webhook_type;

#endif
