/*  webhook_options.c -- the webhook sink's options: their table, and the secrets' check, which
    reads their form (whsec_ and the base64 of 24 to 64 bytes, space-separated) without
    decoding them. Apart from the sink because herald-sub reads every sink's options, and
    this file needs no library: herald-sub itself links no HTTP or crypto library (the sink
    runs in herald-sub-webhook, handover.h).
*/
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "options.h"
#include "sink_webhook.h"
#include "webhook_sign.h"

const char *webhook_secret_next(const char *p, const char **b64, size_t *len)
{
    p += strspn(p, " \t\r\n");
    size_t n = strcspn(p, " \t\r\n");
    if (n == 0) {
        return NULL;
    }
    *b64 = p;
    *len = n;
    if (n > 6 && strncmp(p, "whsec_", 6) == 0) {
        *b64 += 6;
        *len -= 6;
    }
    return p + n;
}

int webhook_base64_size(const char *text, size_t len)
{
    if (len == 0 || len % 4 != 0 || len / 4 * 3 > (size_t) WEBHOOK_SIGN_KEY_MAX + 3) {
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '+' || c == '/' || (c == '=' && i >= len - 2);
        if (!ok || (c != '=' && i > 0 && text[i - 1] == '=')) {
            return -1;
        }
    }
    return (int) (len / 4 * 3) - (text[len - 1] == '=') - (text[len - 2] == '=');
}

int webhook_secrets_check(const char *secrets, char *err, size_t errlen)
{
    const char *p = secrets ? secrets : "";
    const char *b64 = NULL;
    size_t len = 0;
    size_t count = 0;
    while ((p = webhook_secret_next(p, &b64, &len))) {
        if (count == WEBHOOK_SIGN_MAX_KEYS) {
            snprintf(err, errlen, "more than %d secrets", WEBHOOK_SIGN_MAX_KEYS);
            return -1;
        }
        int n = webhook_base64_size(b64, len);
        if (n < WEBHOOK_SIGN_KEY_MIN || n > WEBHOOK_SIGN_KEY_MAX) {
            snprintf(err, errlen, "secret %zu is not whsec_ and the base64 of %d to %d bytes",
                     count + 1, WEBHOOK_SIGN_KEY_MIN, WEBHOOK_SIGN_KEY_MAX);
            return -1;
        }
        count++;
    }
    if (count == 0) {
        snprintf(err, errlen, "no secret (whsec_ and base64)");
        return -1;
    }
    return 0;
}

/*  The secret: whsec_ and base64, or several space-separated (never shown). */
static int s_check_secret(void *field, char *why, size_t cap)
{
    return webhook_secrets_check(*(const char **) field, why, cap);
}

#define S_FIELD(name) .offset = offsetof(sink_webhook_options_t, name)

/* clang-format off */
const option_t sink_webhook_options[] = {
    {.name = "webhook-url", .kind = OPTION_STRING, S_FIELD(url), .arg = "URL",
     .help = "http(s)://... receiving a CloudEvents JSON POST per change"},
    {.name = "webhook-secret", .kind = OPTION_SECRET, S_FIELD(secret), .arg = "FILE",
     .check = s_check_secret,
     .help = "Standard Webhooks signing secret(s), whsec_...; several,\n"
             "space-separated, during a rotation"},
    {.name = "webhook-ca-file", .kind = OPTION_STRING, S_FIELD(ca_file), .arg = "FILE",
     .help = "CA certificates (PEM) to trust for the receiver instead of\n"
             "the system's (verification always on)"},
    {.name = "webhook-timeout", .kind = OPTION_INT, S_FIELD(timeout), .arg = "S", .min = 1,
     .max = SINK_WEBHOOK_TIMEOUT_MAX_S, .def = "10", .what = "a number of seconds (1 to 600)",
     .help = "seconds one request may take"},
    OPTION_END};
/* clang-format on */
