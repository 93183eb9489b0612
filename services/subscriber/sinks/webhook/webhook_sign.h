/*  webhook_sign.h -- Standard Webhooks 1.0 signatures: the secrets (whsec_ and base64, several
    space-separated during a rotation) and the webhook-signature header of a request.

    The signed content is "<webhook-id>.<webhook-timestamp>.<body>"; each secret gives
    "v1," and the base64 of its HMAC-SHA256 over that content, and the header holds them all,
    space-separated, so a receiver that knows either the old or the new secret accepts the
    request during a rotation. HMAC and base64 are OpenSSL's libcrypto.
*/
#ifndef HERALD_WEBHOOK_SIGN_H
#define HERALD_WEBHOOK_SIGN_H

#include <stddef.h>
#include <stdint.h>

#define WEBHOOK_SIGN_MAX_KEYS 4     /* secrets at once (a rotation needs two) */
#define WEBHOOK_SIGN_KEY_MIN 24     /* bytes of a decoded secret, as the standard asks */
#define WEBHOOK_SIGN_KEY_MAX 64     /* ... */
#define WEBHOOK_SIGN_ONE_LEN 47     /* "v1," + 44 characters of base64 of 32 bytes */
#define WEBHOOK_SIGN_HEADER_MAX 256 /* room for every signature, spaces and the NUL */

typedef struct webhook_signer webhook_signer_t;

/*  Parses secrets ("whsec_BASE64 [whsec_BASE64 ...]"; the whsec_ prefix may be left out) and
    makes a signer with each. Returns it (the caller's, freed with webhook_signer_destroy), or
    NULL with the reason in err (which never quotes the secret). */
webhook_signer_t *webhook_signer_new(const char *secrets, char *err, size_t errlen);

/*  Frees the signer (its keys cleared first); sets *self_p to NULL. Safe on NULL and twice. */
void webhook_signer_destroy(webhook_signer_t **self_p);

/*  How many secrets it signs with (1 or more). */
size_t webhook_signer_count(const webhook_signer_t *self);

/*  Writes the webhook-signature header's value for the request (msg_id, timestamp in Unix
    seconds, body of len bytes) to out (cap bytes, WEBHOOK_SIGN_HEADER_MAX is enough): one
    "v1,BASE64" per secret, space-separated, in the order given. Returns its length, or -1
    (out too small, or libcrypto failed). */
int webhook_signer_sign(webhook_signer_t *self, const char *msg_id, int64_t timestamp,
                        const char *body, size_t len, char *out, size_t cap);

#endif
