/*  webhook_sign.c -- Standard Webhooks signatures with libcrypto's HMAC-SHA256 (EVP_MAC).

    Each secret has its own MAC context, keyed once; a signature re-initialises it with the
    same key (EVP_MAC_init with a NULL key), so signing allocates nothing of ours.
*/
#include "webhook_sign.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sink_webhook.h"

struct webhook_signer {
    EVP_MAC *mac;                            /* HMAC */
    EVP_MAC_CTX *ctx[WEBHOOK_SIGN_MAX_KEYS]; /* one context per secret, keyed */
    size_t count;                            /* secrets */
};

webhook_signer_t *webhook_signer_new(const char *secrets, char *err, size_t errlen)
{
    if (webhook_secrets_check(secrets, err, errlen) != 0) {
        return NULL; /* from here on, each secret is base64 of a key of the right length */
    }
    webhook_signer_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (!self->mac) {
        snprintf(err, errlen, "libcrypto: no HMAC");
        webhook_signer_destroy(&self);
        return NULL;
    }
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    const char *p = secrets;
    const char *b64 = NULL;
    size_t len = 0;
    while ((p = webhook_secret_next(p, &b64, &len))) {
        unsigned char key[WEBHOOK_SIGN_KEY_MAX + 3]; /* EVP_DecodeBlock decodes the padding */
        int n = webhook_base64_size(b64, len);
        EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(self->mac);
        int ok = ctx && EVP_DecodeBlock(key, (const unsigned char *) b64, (int) len) >= n &&
                 EVP_MAC_init(ctx, key, (size_t) n, params);
        OPENSSL_cleanse(key, sizeof key);
        if (!ok) {
            EVP_MAC_CTX_free(ctx);
            snprintf(err, errlen, "libcrypto: cannot key HMAC-SHA256");
            webhook_signer_destroy(&self);
            return NULL;
        }
        self->ctx[self->count++] = ctx;
    }
    return self;
}

void webhook_signer_destroy(webhook_signer_t **self_p)
{
    if (self_p && *self_p) {
        webhook_signer_t *self = *self_p;
        for (size_t i = 0; i < self->count; i++) {
            EVP_MAC_CTX_free(self->ctx[i]); /* libcrypto clears the key it holds */
        }
        EVP_MAC_free(self->mac);
        free(self);
        *self_p = NULL;
    }
}

size_t webhook_signer_count(const webhook_signer_t *self)
{
    return self->count;
}

int webhook_signer_sign(webhook_signer_t *self, const char *msg_id, int64_t timestamp,
                        const char *body, size_t len, char *out, size_t cap)
{
    char ts[32];
    int ts_len = snprintf(ts, sizeof ts, ".%lld.", (long long) timestamp);
    size_t used = 0;
    for (size_t i = 0; i < self->count; i++) {
        unsigned char mac[EVP_MAX_MD_SIZE];
        size_t mac_len = 0;
        EVP_MAC_CTX *ctx = self->ctx[i];
        if (!EVP_MAC_init(ctx, NULL, 0, NULL) ||
            !EVP_MAC_update(ctx, (const unsigned char *) msg_id, strlen(msg_id)) ||
            !EVP_MAC_update(ctx, (const unsigned char *) ts, (size_t) ts_len) ||
            !EVP_MAC_update(ctx, (const unsigned char *) body, len) ||
            !EVP_MAC_final(ctx, mac, &mac_len, sizeof mac)) {
            return -1;
        }
        size_t need = (i ? 1 : 0) + 3 + 4 * ((mac_len + 2) / 3) + 1;
        if (used + need > cap) {
            return -1;
        }
        if (i) {
            out[used++] = ' ';
        }
        memcpy(out + used, "v1,", 3);
        used += 3;
        used += (size_t) EVP_EncodeBlock((unsigned char *) out + used, mac, (int) mac_len);
        out[used] = '\0';
    }
    return (int) used;
}
