/*  mail_config.c -- checks the mail sink's options and reads the files they name. */
#include "mail_config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_ENV_PASSWORD "HERALD_SMTP_PASSWORD"
#define S_ENV_PASSWORD_FILE "HERALD_SMTP_PASSWORD_FILE"

int mail_config_duration(const char *text, int64_t *ms)
{
    if (!text || !text[0]) {
        return -1;
    }
    if (strcmp(text, "0") == 0) {
        *ms = 0;
        return 0;
    }
    char *end = NULL;
    errno = 0;
    long long n = strtoll(text, &end, 10);
    if (errno || end == text || n <= 0 || text[0] == '-' || text[0] == '+' || strlen(end) != 1) {
        return -1;
    }
    int64_t unit;
    switch (*end) {
    case 's':
        unit = 1000;
        break;
    case 'm':
        unit = 60 * 1000;
        break;
    case 'h':
        unit = 3600 * 1000;
        break;
    case 'd':
        unit = 86400 * 1000;
        break;
    default:
        return -1;
    }
    if (n > 366LL * 86400 * 1000 / unit) {
        return -1; /* more than a year: surely a typo */
    }
    *ms = (int64_t) n * unit;
    return 0;
}

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

static int s_read_password(mail_config_t *self, const mail_args_t *args, char *err, size_t errlen)
{
    const char *value = getenv(S_ENV_PASSWORD);
    const char *file = args->password_file;
    if (value && value[0] && file && file[0]) {
        snprintf(err, errlen,
                 "%s and %s (--smtp-password-file) are both set: give the password one way",
                 S_ENV_PASSWORD, S_ENV_PASSWORD_FILE);
        return -1;
    }
    if (value && value[0]) {
        self->password = strdup(value);
    } else if (file && file[0]) {
        FILE *f = fopen(file, "r");
        if (!f) {
            snprintf(err, errlen, "--smtp-password-file %s: %s", file, strerror(errno));
            return -1;
        }
        char line[1024] = "";
        if (!fgets(line, sizeof line, f)) {
            line[0] = '\0';
        }
        fclose(f);
        size_t n = strcspn(line, "\r\n");
        line[n] = '\0';
        self->password = strdup(line);
        memset(line, 0, sizeof line);
    } else {
        return 0;
    }
    if (!self->password) {
        snprintf(err, errlen, "out of memory");
        return -1;
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
    self->tls = MAIL_TLS_OPPORTUNISTIC;
    if (args->starttls) {
        if (strcmp(args->starttls, "required") == 0) {
            self->tls = MAIL_TLS_REQUIRED;
        } else if (strcmp(args->starttls, "opportunistic") == 0) {
            self->tls = MAIL_TLS_OPPORTUNISTIC;
        } else if (strcmp(args->starttls, "off") == 0) {
            self->tls = MAIL_TLS_OFF;
        } else {
            snprintf(err, errlen, "--smtp-starttls: '%s' is not required, opportunistic or off",
                     args->starttls);
            goto fail;
        }
    }
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
    for (size_t i = 0; i < args->to_count; i++) {
        if (s_add_to(self, args->to[i], "--mail-to", err, errlen) != 0) {
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
    if (args->digest_every && mail_config_duration(args->digest_every, &self->every_ms) != 0) {
        snprintf(err, errlen, "--digest-every: '%s' is not 0 or a duration like 30s, 15m, 1h, 1d",
                 args->digest_every);
        goto fail;
    }
    if (args->digest_at && s_parse_at(args->digest_at, &self->at_minute) != 0) {
        snprintf(err, errlen, "--digest-at: '%s' is not a time of day HH:MM", args->digest_at);
        goto fail;
    }
    if (args->digest_max) {
        char *end = NULL;
        errno = 0;
        long long n = strtoll(args->digest_max, &end, 10);
        if (errno || end == args->digest_max || *end || n < 1 || n > 100000) {
            snprintf(err, errlen, "--digest-max: '%s' is not a number of items (1 to 100000)",
                     args->digest_max);
            goto fail;
        }
        self->max_items = n;
    }
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
    if (s_read_password(self, args, err, errlen) != 0) {
        goto fail;
    }
    return self;
fail:
    mail_config_destroy(&self);
    return NULL;
}

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
