/*  webhook_http.h -- one signed webhook request (POST) to the receiver's URL with libcurl, on
    one handle whose connection is kept alive and reused; TLS verified (against --webhook-ca-
    file's certificates when given, the system's otherwise), no redirect followed.

    An answer is classified as the Standard Webhooks guidance and the issue say: a 2xx is
    delivered; 408, 429, a 5xx, a timeout or a connection (or TLS) failure is worth a retry
    (with the receiver's Retry-After, if it sent one); any other status (410 Gone, 400, a
    redirect, ...) is a refusal for good.
*/
#ifndef HERALD_WEBHOOK_HTTP_H
#define HERALD_WEBHOOK_HTTP_H

#include <stddef.h>
#include <stdint.h>

typedef struct webhook_http webhook_http_t;

typedef enum {
    WEBHOOK_DELIVERED, /* a 2xx */
    WEBHOOK_RETRY,     /* try again later */
    WEBHOOK_REJECTED   /* refused for good: a dead letter */
} webhook_result_t;

/*  Makes the client for url (http:// or https://) signing with secrets (webhook_sign.h's
    form; borrowed for the call), trusting ca_file (PEM, NULL: the system's CAs), with
    timeout_ms for a whole request. Returns it (the caller's, freed with
    webhook_http_destroy), or NULL with the reason in err (never the secret). */
webhook_http_t *webhook_http_new(const char *url, const char *secrets, const char *ca_file,
                                 int64_t timeout_ms, char *err, size_t errlen);

/*  Closes its connection and frees it; sets *self_p to NULL. Safe on NULL and twice. */
void webhook_http_destroy(webhook_http_t **self_p);

/*  POSTs body (len bytes, a CloudEvents JSON event) with the headers webhook-id (msg_id),
    webhook-timestamp (now_s, Unix seconds) and webhook-signature. Returns how it went; *code
    is the HTTP status (0 without an answer), *retry_after_s the receiver's Retry-After in
    seconds (-1 without one), and err the reason when not delivered. */
webhook_result_t webhook_http_post(webhook_http_t *self, const char *msg_id, const char *body,
                                   size_t len, int64_t now_s, long *code, int64_t *retry_after_s,
                                   char *err, size_t errlen);

#endif
