/*  mail_config.c -- checks the mail sink's options and reads the files they name. */
#include "mail_config.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*  An address as SMTP and a header take it: local@domain, printable ASCII or UTF-8, no
    space, no control, no <>(),;:"\ that would need quoting. */
static bool s_address_ok(const char *a)
{
    const char *at = strchr(a, '@');
    if (!at || at == a || !at[1] || strchr(at + 1, '@') || strlen(a) > 254) {
        return false;
    }
    for (const unsigned char *p = (const unsigned char *) a; *p; p++) {
        if (*p <= 0x20 || *p == 0x7f || strchr("<>()[],;:\"\\", *p)) {
            return false;
        }
    }
    return true;
}

static char *s_trim(char *s)
{
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n')) {
        s[--n] = '\0';
    }
    return s;
}

static int s_add_to(mail_config_t *self, const char *addr, const char *source, char *err,
                    size_t errlen)
{
    if (!s_address_ok(addr)) {
        snprintf(err, errlen, "%s: '%s' is not an address like name@example.org", source, addr);
        return -1;
    }
    for (size_t i = 0; i < self->to_count; i++) {
        if (strcmp(self->to[i], addr) == 0) {
            return 0;
        }
    }
    if (self->to_count == MAIL_MAX_RECIPIENTS) {
        snprintf(err, errlen, "%s: more than %d recipients", source, MAIL_MAX_RECIPIENTS);
        return -1;
    }
    if (!(self->to[self->to_count] = strdup(addr))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    self->to_count++;
    return 0;
}

static int s_read_to_file(mail_config_t *self, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "--mail-to-file %s: %s", path, strerror(errno));
        return -1;
    }
    char line[1024];
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        char *hash = strchr(line, '#');
        if (hash) {
            *hash = '\0';
        }
        char *addr = s_trim(line);
        if (addr[0]) {
            char source[1100];
            snprintf(source, sizeof source, "--mail-to-file %s", path);
            rc = s_add_to(self, addr, source, err, errlen);
        }
    }
    if (rc == 0 && ferror(f)) {
        snprintf(err, errlen, "--mail-to-file %s: %s", path, strerror(errno));
        rc = -1;
    }
    fclose(f);
    return rc;
}

/*  --smtp: smtp://HOST[:PORT][/...] or smtps://..., HOST not empty (after any user@), PORT
    1-65535: what libcurl would only refuse at the first send, retried forever. */
static int s_check_smtp(void *field, char *why, size_t cap)
{
    const char *url = *(const char **) field;
    const char *rest = !strncmp(url, "smtp://", 7)    ? url + 7
                       : !strncmp(url, "smtps://", 8) ? url + 8
                                                      : NULL;
    if (!rest) {
        snprintf(why, cap, "'%.200s' is not smtp://HOST:PORT or smtps://HOST:PORT", url);
        return -1;
    }
    size_t end = strcspn(rest, "/?#");
    const char *host = rest;
    for (const char *at = rest; at < rest + end; at++) {
        host = *at == '@' ? at + 1 : host; /* after user:password@ */
    }
    size_t hostlen = (size_t) (rest + end - host);
    const char *port = NULL;
    if (hostlen && host[0] == '[') { /* [IPv6] */
        const char *close = memchr(host, ']', hostlen);
        port = close && close + 1 < host + hostlen && close[1] == ':' ? close + 1 : NULL;
        hostlen = close ? (size_t) (close - host) - 1 : 0;
    } else {
        port = memchr(host, ':', hostlen);
        hostlen = port ? (size_t) (port - host) : hostlen;
    }
    if (hostlen == 0) {
        snprintf(why, cap, "'%.200s' names no host (smtp://HOST:PORT)", url);
        return -1;
    }
    if (port) {
        size_t len = (size_t) (rest + end - port - 1);
        long n = 0;
        for (size_t i = 0; i < len && i < 6; i++) {
            n = port[1 + i] >= '0' && port[1 + i] <= '9' ? n * 10 + (port[1 + i] - '0') : -1000000;
        }
        if (len == 0 || len > 5 || n < 1 || n > 65535) {
            snprintf(why, cap, "'%.200s': the port is not a number 1-65535", url);
            return -1;
        }
    }
    return 0;
}

static int s_parse_at(const char *text, int *minute)
{
    int h, m, used = 0;
    if (sscanf(text, "%2d:%2d%n", &h, &m, &used) != 2 || used != 5 ||
        (size_t) used != strlen(text) || h < 0 || h > 23 || m < 0 || m > 59) {
        return -1;
    }
    *minute = h * 60 + m;
    return 0;
}

static char *s_dup_or(const char *value, const char *fallback)
{
    return strdup(value && value[0] ? value : fallback);
}

mail_config_t *mail_config_new(const mail_args_t *args, char *err, size_t errlen)
{
    mail_config_t *self = calloc(1, sizeof *self);
    if (!self || !(self->to = calloc(MAIL_MAX_RECIPIENTS, sizeof *self->to))) {
        free(self);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->every_ms = -1;
    self->at_minute = -1;
    if (!args->smtp ||
        (strncmp(args->smtp, "smtp://", 7) != 0 && strncmp(args->smtp, "smtps://", 8) != 0)) {
        snprintf(err, errlen,
                 "--sink mail needs --smtp smtp://HOST:PORT or smtps://HOST:PORT "
                 "(or HERALD_SMTP)");
        goto fail;
    }
    if (args->user && args->user[0] && !args->password) {
        snprintf(err, errlen,
                 "--smtp-user %s needs its password: HERALD_SMTP_PASSWORD or "
                 "--smtp-password-file FILE (or HERALD_SMTP_PASSWORD_FILE)",
                 args->user);
        goto fail;
    }
    self->tls = (mail_tls_t) args->starttls;
    if (args->ca_file && args->ca_file[0]) {
        /* read now, so a typo is a usage error rather than a retry loop at the first send */
        FILE *f = fopen(args->ca_file, "r");
        if (!f) {
            snprintf(err, errlen, "--smtp-ca-file %s: %s", args->ca_file, strerror(errno));
            goto fail;
        }
        fclose(f);
        if (!(self->ca_file = strdup(args->ca_file))) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
    }
    if (!args->from || !s_address_ok(args->from)) {
        snprintf(err, errlen, "--sink mail needs --mail-from ADDRESS (or HERALD_MAIL_FROM)%s%s",
                 args->from ? ": not an address: " : "", args->from ? args->from : "");
        goto fail;
    }
    for (size_t i = 0; i < args->to.count; i++) {
        if (s_add_to(self, args->to.items[i], "--mail-to", err, errlen) != 0) {
            goto fail;
        }
    }
    if (args->to_file && s_read_to_file(self, args->to_file, err, errlen) != 0) {
        goto fail;
    }
    if (self->to_count == 0 && !args->no_recipients) {
        snprintf(err, errlen,
                 "--sink mail needs --mail-to ADDRESS or --mail-to-file FILE "
                 "(or HERALD_MAIL_TO, HERALD_MAIL_TO_FILE)");
        goto fail;
    }
    if (args->unsubscribe && strncmp(args->unsubscribe, "mailto:", 7) != 0) {
        snprintf(err, errlen, "--unsubscribe: '%s' is not a mailto: URL", args->unsubscribe);
        goto fail;
    }
    if (args->digest_every_given) {
        self->every_ms = args->digest_every;
    }
    if (args->digest_at && s_parse_at(args->digest_at, &self->at_minute) != 0) {
        snprintf(err, errlen, "--digest-at: '%s' is not a time of day HH:MM", args->digest_at);
        goto fail;
    }
    self->max_items = args->digest_max;
    if (self->every_ms < 0 && self->at_minute < 0) {
        self->every_ms = 15 * 60 * 1000; /* the default schedule */
    }
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) != 0 || !host[0]) {
        snprintf(host, sizeof host, "localhost");
    }
    host[strcspn(host, " <>@\"\r\n\t")] = '\0';
    char list_id[400];
    snprintf(list_id, sizeof list_id, "herald.%s", host);
    char unsubscribe[400];
    snprintf(unsubscribe, sizeof unsubscribe, "mailto:%s?subject=unsubscribe", args->from);
    self->smtp_url = strdup(args->smtp);
    self->user = args->user && args->user[0] ? strdup(args->user) : NULL;
    self->from = strdup(args->from);
    self->list_id = s_dup_or(args->list_id, list_id);
    self->unsubscribe = s_dup_or(args->unsubscribe, unsubscribe);
    self->domain = strdup(host);
    self->state_path = args->state_path ? strdup(args->state_path) : NULL;
    if (!self->smtp_url || (args->user && args->user[0] && !self->user) || !self->from ||
        !self->list_id || !self->unsubscribe || !self->domain ||
        (args->state_path && !self->state_path)) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (args->password && !(self->password = strdup(args->password))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    return self;
fail:
    mail_config_destroy(&self);
    return NULL;
}

static const char *const s_starttls[] = {"opportunistic", "required", "off", NULL};

#define S_FIELD(name) .offset = offsetof(mail_args_t, name)

/* clang-format off */
const option_t mail_config_options[] = {
    {.name = "smtp", .kind = OPTION_STRING, S_FIELD(smtp), .arg = "URL",
     .check = s_check_smtp, .help = "smtp://HOST:PORT or smtps://HOST:PORT"},
    {.name = "smtp-starttls", .kind = OPTION_ENUM, S_FIELD(starttls), .arg = "M",
     .words = s_starttls, .def = "opportunistic", .help = "STARTTLS on smtp://"},
    {.name = "smtp-user", .kind = OPTION_STRING, S_FIELD(user), .arg = "USER",
     .help = "SMTP AUTH user"},
    {.name = "smtp-password", .kind = OPTION_SECRET, S_FIELD(password), .arg = "FILE",
     .help = "SMTP AUTH password"},
    {.name = "smtp-ca-file", .kind = OPTION_STRING, S_FIELD(ca_file), .arg = "FILE",
     .help = "CA certificates (PEM) to trust for the server's certificate\n"
             "instead of the system's (verification always on)"},
    {.name = "mail-from", .kind = OPTION_STRING, S_FIELD(from), .arg = "ADDR",
     .help = "sender (envelope and From:)"},
    {.name = "mail-to", .kind = OPTION_LIST, S_FIELD(to), .arg = "ADDR", .max = MAIL_MAX_LIST,
     .help = "recipient (repeatable)"},
    {.name = "mail-to-file", .kind = OPTION_STRING, S_FIELD(to_file), .arg = "FILE",
     .help = "recipients, one a line, # comments"},
    {.name = "list-id", .kind = OPTION_STRING, S_FIELD(list_id), .arg = "ID",
     .help = "List-Id (default herald.<hostname>)"},
    {.name = "unsubscribe", .kind = OPTION_STRING, S_FIELD(unsubscribe), .arg = "URL",
     .help = "List-Unsubscribe (default mailto:<mail-from>?subject=\n"
             "unsubscribe)"},
    {.name = "digest-every", .kind = OPTION_DURATION, S_FIELD(digest_every), .arg = "D",
     .min = 0, .max = 366LL * 86400 * 1000, .def = "15m",
     .help = "send what waits every D; 0: one mail per announcement;\n"
             "with --digest-at, only when given"},
    {.name = "digest-at", .kind = OPTION_STRING, S_FIELD(digest_at), .arg = "HH:MM",
     .help = "send what waits every day at HH:MM (local time, TZ)"},
    {.name = "digest-max", .kind = OPTION_INT, S_FIELD(digest_max), .arg = "N", .min = 1,
     .max = 100000, .what = "a number of items (1 to 100000)",
     .help = "send as soon as N items wait"},
    OPTION_END};
/* clang-format on */

void mail_config_destroy(mail_config_t **self_p)
{
    if (self_p && *self_p) {
        mail_config_t *self = *self_p;
        if (self->password) {
            memset(self->password, 0, strlen(self->password));
            free(self->password);
        }
        for (size_t i = 0; i < self->to_count; i++) {
            free(self->to[i]);
        }
        free(self->to);
        free(self->smtp_url);
        free(self->user);
        free(self->ca_file);
        free(self->from);
        free(self->list_id);
        free(self->unsubscribe);
        free(self->domain);
        free(self->state_path);
        free(self);
        *self_p = NULL;
    }
}
