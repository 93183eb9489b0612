/*  main.c -- herald-sub: options and environment, signals, run, exit status.

    Every flag can also come from the environment: HERALD_ and the flag upper-cased with '-'
    as '_' (HERALD_CONNECT, HERALD_MIRROR_DB, ...); repeatable flags take a comma-separated
    list there. A flag wins over its variable. Exit status: 0 stopped by a signal, 1 runtime
    failure, 2 usage.
*/
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "config.h"
#include "curve.h"
#include "log.h"
#include "mail_config.h"
#include "metrics.h"
#include "sink.h"
#include "subscriber.h"

#define S_EXIT_OK 0
#define S_EXIT_FAILURE 1
#define S_EXIT_USAGE 2

static const char *s_usage =
    "usage: herald-sub --connect ENDPOINT [--connect ...] [--replay ENDPOINT]\n"
    "                  [--topic PREFIX ...] [--state PATH]\n"
    "                  [--from start|latest|snapshot|SEQ|TIME]\n"
    "                  --sink log|mirror|mail|webhook|nats\n"
    "                  [--out FILE] [--format json|text] [--mirror-db PATH] [--rcvhwm N]\n"
    "                  [mail options] [webhook options] [nats options]\n"
    "                  [--log-level debug|info|warn|error]\n"
    "                  [--log-format json|text] [--help]\n"
    "                  [--metrics ADDR] [--print-config]\n"
    "       herald-sub health [--metrics ADDR]\n"
    "       herald-sub mail-dead list --state PATH\n"
    "       herald-sub mail-dead retry --state PATH --smtp URL --mail-from ADDR [...]\n"
    "       herald-sub webhook-dead list --state PATH\n"
    "       herald-sub webhook-dead retry --state PATH --webhook-url URL [...]\n"
    "\n"
    "Follows a Herald publisher's live feed and hands every change, in order and once, to a\n"
    "sink; gaps and history are fetched from the publisher's replay endpoint.\n"
    "\n"
    "  --connect ENDPOINT  live PUB endpoint (repeatable), e.g. tcp://127.0.0.1:7700\n"
    "  --replay ENDPOINT   replay endpoint, e.g. tcp://127.0.0.1:7701; without it, gaps\n"
    "                      and history are only logged\n"
    "  --topic PREFIX      follow topics starting with PREFIX (repeatable; default all):\n"
    "                      event.<kind>.<country>. or press.\n"
    "  --state PATH        SQLite file keeping the position across restarts\n"
    "  --from WHERE        without a position: start (every change), latest (default for\n"
    "                      log), snapshot (default for mirror), SEQ (changes after SEQ),\n"
    "                      TIME (RFC 3339, e.g. 2026-11-28T10:00:00Z)\n"
    "  --sink log|mirror|mail  log: one line per change; mirror: a copy of the catalogue;\n"
    "                      mail: digests by e-mail (needs --state); webhook: one signed\n"
    "                      HTTP POST per change (needs --state)\n"
    "  --out FILE          log: append to FILE (default stdout)\n"
    "  --format json|text  log: line format (default json)\n"
    "  --mirror-db PATH    mirror: the store file (created when missing)\n"
    "  --rcvhwm N          live messages queued at most (default 5000)\n"
    "mail:\n"
    "  --smtp URL          smtp://HOST:PORT or smtps://HOST:PORT\n"
    "  --smtp-starttls M   required, opportunistic (default) or off\n"
    "  --smtp-user USER    SMTP AUTH user; the password from HERALD_SMTP_PASSWORD or\n"
    "  --smtp-password-file FILE  (its first line), never from the command line\n"
    "  --smtp-ca-file FILE CA certificates (PEM) to trust for the server's certificate\n"
    "                      instead of the system's (verification always on)\n"
    "  --mail-from ADDR    sender (envelope and From:)\n"
    "  --mail-to ADDR      recipient (repeatable)\n"
    "  --mail-to-file FILE recipients, one a line, # comments\n"
    "  --list-id ID        List-Id (default herald.<hostname>)\n"
    "  --unsubscribe URL   List-Unsubscribe (default mailto:<mail-from>?subject=unsubscribe)\n"
    "  --digest-every D    send what waits every D: 30s, 15m (default), 1h, 1d; 0: one mail\n"
    "                      per announcement\n"
    "  --digest-at HH:MM   send what waits every day at HH:MM (local time, TZ)\n"
    "  --digest-max N      send as soon as N items wait\n"
    "webhook:\n"
    "  --webhook-url URL   http(s)://... receiving a CloudEvents JSON POST per change\n"
    "  --webhook-secret-file FILE  Standard Webhooks signing secret(s), whsec_..., space-\n"
    "                      separated during a rotation (first line); or HERALD_WEBHOOK_SECRET,\n"
    "                      never on the command line\n"
    "  --webhook-ca-file FILE  CA certificates (PEM) to trust for the receiver instead of\n"
    "                      the system's (verification always on)\n"
    "  --webhook-timeout S seconds one request may take (default 10)\n"
    "nats (JetStream; the position is the stream's last message, --state not needed):\n"
    "  --nats-url URL      nats://HOST:PORT, comma-separated (default nats://127.0.0.1:4222)\n"
    "  --nats-stream NAME  stream (default HERALD; created with subjects herald.>)\n"
    "  --nats-creds-file FILE  NATS credentials (.creds), optional\n"
    "  --nats-token-file FILE  token (first line), optional; or HERALD_NATS_TOKEN\n"
    "  --curve-secret-file FILE  CURVE: our secret key (from herald-keygen), or the key\n"
    "                      itself in HERALD_CURVE_SECRET (never on the command line); with\n"
    "  --server-key FILE   CURVE: the publisher's public key file (its NAME.pub)\n"
    "  --log-level L       debug, info (default), warn, error\n"
    "  --log-format F      json (default) or text, on stderr\n"
    "  --metrics ADDR      serve /metrics, /healthz, /readyz on HOST:PORT (a bare PORT is\n"
    "                      127.0.0.1:PORT); default off\n"
    "  --print-config      print the effective configuration as JSON (secrets as ***), exit\n"
    "health:               exit 0 if the running subscriber at --metrics ADDR is ready, 1 not\n"
    "\n"
    "Every flag also from the environment: HERALD_CONNECT, HERALD_REPLAY, HERALD_TOPIC,\n"
    "HERALD_STATE, HERALD_FROM, HERALD_SINK, HERALD_OUT, HERALD_FORMAT, HERALD_MIRROR_DB,\n"
    "HERALD_RCVHWM, HERALD_SMTP, HERALD_MAIL_TO, HERALD_DIGEST_EVERY, ... (the flag's name\n"
    "upper-cased, - as _), HERALD_LOG_LEVEL, HERALD_LOG_FORMAT; lists comma-separated.\n"
    "Exit status: 0 stopped by SIGINT/SIGTERM, 1 runtime failure, 2 usage.\n";

typedef enum {
    O_CONNECT,
    O_REPLAY,
    O_TOPIC,
    O_STATE,
    O_FROM,
    O_SINK,
    O_OUT,
    O_FORMAT,
    O_MIRROR_DB,
    O_RCVHWM,
    O_SMTP,
    O_SMTP_STARTTLS,
    O_SMTP_USER,
    O_SMTP_PASSWORD_FILE,
    O_SMTP_CA_FILE,
    O_MAIL_FROM,
    O_MAIL_TO,
    O_MAIL_TO_FILE,
    O_LIST_ID,
    O_UNSUBSCRIBE,
    O_DIGEST_EVERY,
    O_DIGEST_AT,
    O_DIGEST_MAX,
    O_LOG_LEVEL,
    O_LOG_FORMAT,
    O_METRICS,
    O_CURVE_SECRET_FILE,
    O_SERVER_KEY,
    O_WEBHOOK_URL,
    O_WEBHOOK_SECRET_FILE,
    O_WEBHOOK_CA_FILE,
    O_WEBHOOK_TIMEOUT,
    O_NATS_URL,
    O_NATS_STREAM,
    O_NATS_CREDS_FILE,
    O_NATS_TOKEN_FILE,
    O_COUNT
} s_opt_id_t;

static const struct {
    const char *flag;
    const char *env;
    bool repeat;
} s_opts[O_COUNT] = {
    [O_CONNECT] = {"--connect", "HERALD_CONNECT", true},
    [O_REPLAY] = {"--replay", "HERALD_REPLAY", false},
    [O_TOPIC] = {"--topic", "HERALD_TOPIC", true},
    [O_STATE] = {"--state", "HERALD_STATE", false},
    [O_FROM] = {"--from", "HERALD_FROM", false},
    [O_SINK] = {"--sink", "HERALD_SINK", false},
    [O_OUT] = {"--out", "HERALD_OUT", false},
    [O_FORMAT] = {"--format", "HERALD_FORMAT", false},
    [O_MIRROR_DB] = {"--mirror-db", "HERALD_MIRROR_DB", false},
    [O_RCVHWM] = {"--rcvhwm", "HERALD_RCVHWM", false},
    [O_SMTP] = {"--smtp", "HERALD_SMTP", false},
    [O_SMTP_STARTTLS] = {"--smtp-starttls", "HERALD_SMTP_STARTTLS", false},
    [O_SMTP_USER] = {"--smtp-user", "HERALD_SMTP_USER", false},
    [O_SMTP_PASSWORD_FILE] = {"--smtp-password-file", "HERALD_SMTP_PASSWORD_FILE", false},
    [O_SMTP_CA_FILE] = {"--smtp-ca-file", "HERALD_SMTP_CA_FILE", false},
    [O_MAIL_FROM] = {"--mail-from", "HERALD_MAIL_FROM", false},
    [O_MAIL_TO] = {"--mail-to", "HERALD_MAIL_TO", true},
    [O_MAIL_TO_FILE] = {"--mail-to-file", "HERALD_MAIL_TO_FILE", false},
    [O_LIST_ID] = {"--list-id", "HERALD_LIST_ID", false},
    [O_UNSUBSCRIBE] = {"--unsubscribe", "HERALD_UNSUBSCRIBE", false},
    [O_DIGEST_EVERY] = {"--digest-every", "HERALD_DIGEST_EVERY", false},
    [O_DIGEST_AT] = {"--digest-at", "HERALD_DIGEST_AT", false},
    [O_DIGEST_MAX] = {"--digest-max", "HERALD_DIGEST_MAX", false},
    [O_LOG_LEVEL] = {"--log-level", "HERALD_LOG_LEVEL", false},
    [O_LOG_FORMAT] = {"--log-format", "HERALD_LOG_FORMAT", false},
    [O_METRICS] = {"--metrics", "HERALD_METRICS", false},
    [O_CURVE_SECRET_FILE] = {"--curve-secret-file", "HERALD_CURVE_SECRET_FILE", false},
    [O_SERVER_KEY] = {"--server-key", "HERALD_SERVER_KEY", false},
    [O_WEBHOOK_URL] = {"--webhook-url", "HERALD_WEBHOOK_URL", false},
    [O_WEBHOOK_SECRET_FILE] = {"--webhook-secret-file", "HERALD_WEBHOOK_SECRET_FILE", false},
    [O_WEBHOOK_CA_FILE] = {"--webhook-ca-file", "HERALD_WEBHOOK_CA_FILE", false},
    [O_WEBHOOK_TIMEOUT] = {"--webhook-timeout", "HERALD_WEBHOOK_TIMEOUT", false},
    [O_NATS_URL] = {"--nats-url", "HERALD_NATS_URL", false},
    [O_NATS_STREAM] = {"--nats-stream", "HERALD_NATS_STREAM", false},
    [O_NATS_CREDS_FILE] = {"--nats-creds-file", "HERALD_NATS_CREDS_FILE", false},
    [O_NATS_TOKEN_FILE] = {"--nats-token-file", "HERALD_NATS_TOKEN_FILE", false},
};

static bool s_print_config_flag; /* --print-config was given */

/*  The raw values, each with where it came from (a flag or a variable), for the messages. */
typedef struct {
    const char *value[O_COUNT][SUB_MAX_LIST]; /* borrowed from argv or env_copies */
    size_t count[O_COUNT];                    /* values of each option */
    const char *source[O_COUNT];              /* "--from" or "HERALD_FROM" */
    char *env_copies[O_COUNT];                /* split copies of list variables (ours) */
} s_args_t;

/*  Prints "herald-sub: <message>" and a hint to stderr; returns the usage exit status. */
static int s_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int s_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "herald-sub: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n(herald-sub --help for usage)\n");
    va_end(ap);
    return S_EXIT_USAGE;
}

static int s_add(s_args_t *args, s_opt_id_t id, const char *value, const char *source)
{
    if (args->count[id] == SUB_MAX_LIST) {
        return s_usage_error("%s: more than %d values", source, SUB_MAX_LIST);
    }
    args->value[id][args->count[id]++] = value;
    args->source[id] = source;
    return 0;
}

static int s_read_env(s_args_t *args)
{
    for (int id = 0; id < O_COUNT; id++) {
        const char *env = getenv(s_opts[id].env);
        if (!env || !env[0]) {
            continue;
        }
        if (!s_opts[id].repeat) {
            s_add(args, id, env, s_opts[id].env);
            continue;
        }
        char *copy = strdup(env);
        if (!copy) {
            return s_usage_error("%s: out of memory", s_opts[id].env);
        }
        args->env_copies[id] = copy;
        char *save = NULL;
        for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
            if (s_add(args, id, item, s_opts[id].env) != 0) {
                return S_EXIT_USAGE;
            }
        }
    }
    return 0;
}

static int s_read_flags(s_args_t *args, int argc, char **argv, bool *help)
{
    bool from_flag[O_COUNT] = {false};
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            *help = true;
            return 0;
        }
        if (strcmp(arg, "--print-config") == 0) {
            s_print_config_flag = true;
            continue;
        }
        const char *eq = strchr(arg, '=');
        size_t name_len = eq ? (size_t) (eq - arg) : strlen(arg);
        int id = 0;
        while (id < O_COUNT && (strlen(s_opts[id].flag) != name_len ||
                                strncmp(s_opts[id].flag, arg, name_len) != 0)) {
            id++;
        }
        if (id == O_COUNT && name_len == strlen("--smtp-password") &&
            strncmp(arg, "--smtp-password", name_len) == 0) {
            return s_usage_error("--smtp-password is not taken on the command line (others "
                                 "could read it): set HERALD_SMTP_PASSWORD or use "
                                 "--smtp-password-file FILE");
        }
        if (id == O_COUNT && name_len == strlen("--curve-secret") &&
            strncmp(arg, "--curve-secret", name_len) == 0) {
            return s_usage_error("--curve-secret is not taken on the command line (others "
                                 "could read it): set HERALD_CURVE_SECRET or use "
                                 "--curve-secret-file FILE");
        }
        if (id == O_COUNT && name_len == strlen("--webhook-secret") &&
            strncmp(arg, "--webhook-secret", name_len) == 0) {
            return s_usage_error("--webhook-secret is not taken on the command line (others "
                                 "could read it): set HERALD_WEBHOOK_SECRET or use "
                                 "--webhook-secret-file FILE");
        }
        if (id == O_COUNT) {
            return s_usage_error("unknown option '%s'", arg);
        }
        const char *value = eq ? eq + 1 : NULL;
        if (!value) {
            if (i + 1 >= argc) {
                return s_usage_error("%s needs a value", s_opts[id].flag);
            }
            value = argv[++i];
        }
        if (!from_flag[id]) {
            args->count[id] = 0; /* flags win over the environment */
            from_flag[id] = true;
        }
        if (!s_opts[id].repeat) {
            args->count[id] = 0;
        }
        if (s_add(args, id, value, s_opts[id].flag) != 0) {
            return S_EXIT_USAGE;
        }
    }
    return 0;
}

static const char *s_get(const s_args_t *args, s_opt_id_t id)
{
    return args->count[id] ? args->value[id][0] : NULL;
}

static bool s_endpoint_valid(const char *endpoint)
{
    const char *sep = strstr(endpoint, "://");
    return sep && sep != endpoint && sep[3] != '\0';
}

/*  Parses an RFC 3339 timestamp (2026-11-28T10:00:00Z, fractions and offsets allowed) into
    milliseconds since the epoch. 0 or -1. */
static int s_parse_time(const char *s, int64_t *ms)
{
    int year, mon, day, hour, min, sec, used = 0;
    if (sscanf(s, "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &year, &mon, &day, &hour, &min, &sec,
               &used) != 6 ||
        used != 19) {
        return -1;
    }
    if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60) {
        return -1;
    }
    const char *p = s + used;
    int64_t frac_ms = 0;
    if (*p == '.') {
        int digits = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, digits++) {
            if (digits < 3) {
                frac_ms = frac_ms * 10 + (*p - '0');
            }
        }
        if (digits == 0) {
            return -1;
        }
        for (; digits < 3; digits++) {
            frac_ms *= 10;
        }
    }
    int64_t offset_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om, n = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &n) != 2 || n != 5 || oh > 23 || om > 59) {
            return -1;
        }
        offset_s = (int64_t) (oh * 3600 + om * 60) * (*p == '+' ? 1 : -1);
        p += 6;
    } else {
        return -1;
    }
    if (*p) {
        return -1;
    }
    struct tm tm = {0};
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    if (tm.tm_mday != day) {
        return -1; /* 2026-02-30 */
    }
    *ms = ((int64_t) t - offset_s) * 1000 + frac_ms;
    return 0;
}

static int s_parse_from(const char *value, sub_options_t *o)
{
    if (strcmp(value, "start") == 0) {
        o->from = SUB_FROM_START;
    } else if (strcmp(value, "latest") == 0) {
        o->from = SUB_FROM_LATEST;
    } else if (strcmp(value, "snapshot") == 0) {
        o->from = SUB_FROM_SNAPSHOT;
    } else if (value[0] >= '0' && value[0] <= '9' && strspn(value, "0123456789") == strlen(value)) {
        errno = 0;
        long long seq = strtoll(value, NULL, 10);
        if (errno) {
            return -1;
        }
        o->from = SUB_FROM_SEQ;
        o->from_seq = seq;
    } else if (s_parse_time(value, &o->from_ms) == 0) {
        o->from = SUB_FROM_TIME;
    } else {
        return -1;
    }
    return 0;
}

/*  The mail settings from the raw values: 0 with *mail set, or the usage exit status. */
static int s_mail_options(s_args_t *args, bool no_recipients, mail_config_t **mail)
{
    mail_args_t m;
    memset(&m, 0, sizeof m);
    m.smtp = s_get(args, O_SMTP);
    m.starttls = s_get(args, O_SMTP_STARTTLS);
    m.user = s_get(args, O_SMTP_USER);
    m.password_file = s_get(args, O_SMTP_PASSWORD_FILE);
    m.ca_file = s_get(args, O_SMTP_CA_FILE);
    m.from = s_get(args, O_MAIL_FROM);
    for (size_t i = 0; i < args->count[O_MAIL_TO] && i < MAIL_MAX_LIST; i++) {
        m.to[m.to_count++] = args->value[O_MAIL_TO][i];
    }
    m.to_file = s_get(args, O_MAIL_TO_FILE);
    m.list_id = s_get(args, O_LIST_ID);
    m.unsubscribe = s_get(args, O_UNSUBSCRIBE);
    m.digest_every = s_get(args, O_DIGEST_EVERY);
    m.digest_at = s_get(args, O_DIGEST_AT);
    m.digest_max = s_get(args, O_DIGEST_MAX);
    m.state_path = s_get(args, O_STATE);
    m.no_recipients = no_recipients;
    char err[1024];
    *mail = mail_config_new(&m, err, sizeof err);
    return *mail ? 0 : s_usage_error("%s", err);
}

/*  The options of the sink type (each sink's own struct in sink_options_t) from the raw
    values, checked; for the mail sink (or its mail-dead retry, no_recipients) *mail is set,
    the caller's. 0, or the exit status of a usage error.

    Until each sink parses its own options (with the options table), they are read here, and
    a sink's are told apart by its entry in the table of sinks, never by its name. */
static int s_sink_options(s_args_t *args, const sink_type_t *type, sub_options_t *o,
                          bool no_recipients, mail_config_t **mail)
{
    o->sink_options.log.out = s_get(args, O_OUT);
    o->sink_options.log.format = s_get(args, O_FORMAT);
    o->sink_options.mirror.db = s_get(args, O_MIRROR_DB);
    o->sink_options.webhook = (sink_webhook_options_t){
        .url = s_get(args, O_WEBHOOK_URL),
        .secret_file = s_get(args, O_WEBHOOK_SECRET_FILE),
        .ca_file = s_get(args, O_WEBHOOK_CA_FILE),
        .timeout = s_get(args, O_WEBHOOK_TIMEOUT),
    };
    o->sink_options.nats = (sink_nats_options_t){
        .url = s_get(args, O_NATS_URL),
        .stream = s_get(args, O_NATS_STREAM),
        .creds_file = s_get(args, O_NATS_CREDS_FILE),
        .token_file = s_get(args, O_NATS_TOKEN_FILE),
    };
    if (type == &sink_mirror_type) {
        if (!o->sink_options.mirror.db) {
            return s_usage_error("--sink mirror needs --mirror-db PATH (or HERALD_MIRROR_DB)");
        }
        if (o->topic_count) {
            return s_usage_error("%s: a mirror holds the whole catalogue, it takes no topic",
                                 args->source[O_TOPIC]);
        }
    }
    if (type->needs_state && !s_get(args, O_STATE)) {
        return s_usage_error("%s needs --state PATH (or HERALD_STATE): %s", type->name,
                             type->needs_state);
    }
    if (type == &sink_mail_type) {
        int status = s_mail_options(args, no_recipients, mail);
        if (status != 0) {
            return status;
        }
        o->sink_options.mail = *mail;
    }
    char err[1024];
    if (type->check && type->check(&o->sink_options, err, sizeof err) != 0) {
        return s_usage_error("%s", err);
    }
    return 0;
}

/*  Checks the raw values and fills options (*mail: the mail sink's settings, the caller's,
    NULL for other sinks). 0, or the exit status of a usage error. */
static int s_options(s_args_t *args, sub_options_t *o, int *log_level, int *log_text,
                     mail_config_t **mail)
{
    memset(o, 0, sizeof *o);
    if (args->count[O_CONNECT] == 0) {
        return s_usage_error("--connect (or HERALD_CONNECT) is required");
    }
    for (size_t i = 0; i < args->count[O_CONNECT]; i++) {
        const char *endpoint = args->value[O_CONNECT][i];
        if (!s_endpoint_valid(endpoint)) {
            return s_usage_error("%s: '%s' is not an endpoint like tcp://host:port",
                                 args->source[O_CONNECT], endpoint);
        }
        o->connect[o->connect_count++] = endpoint;
    }
    o->replay = s_get(args, O_REPLAY);
    if (o->replay && !s_endpoint_valid(o->replay)) {
        return s_usage_error("%s: '%s' is not an endpoint like tcp://host:port",
                             args->source[O_REPLAY], o->replay);
    }
    bool everything = false;
    for (size_t i = 0; i < args->count[O_TOPIC]; i++) {
        const char *topic = args->value[O_TOPIC][i];
        if (strlen(topic) > CODEC_MAX_TOPIC) {
            return s_usage_error("%s: topic '%s' is too long", args->source[O_TOPIC], topic);
        }
        everything = everything || topic[0] == '\0';
        o->topics[o->topic_count++] = topic;
    }
    if (everything) {
        o->topic_count = 0; /* "" matches every topic: no filter */
    }
    o->state_path = s_get(args, O_STATE);
    const char *from = s_get(args, O_FROM);
    if (from && s_parse_from(from, o) != 0) {
        return s_usage_error("%s: '%s' is not start, latest, snapshot, a seq or an RFC 3339 "
                             "time like 2026-11-28T10:00:00Z",
                             args->source[O_FROM], from);
    }
    o->sink = s_get(args, O_SINK);
    char names[128];
    if (!o->sink) {
        return s_usage_error("--sink (or HERALD_SINK) is required: %s",
                             sink_names(names, sizeof names, " or "));
    }
    const sink_type_t *type = sink_type_find(o->sink);
    if (!type) {
        return s_usage_error("%s: '%s' is not a sink (%s)", args->source[O_SINK], o->sink,
                             sink_names(names, sizeof names, ", "));
    }
    const char *format = s_get(args, O_FORMAT);
    if (format && strcmp(format, "json") != 0 && strcmp(format, "text") != 0) {
        return s_usage_error("%s: '%s' is not json or text", args->source[O_FORMAT], format);
    }
    int status = s_sink_options(args, type, o, false, mail);
    if (status != 0) {
        return status;
    }
    o->rcvhwm = 5000;
    const char *hwm = s_get(args, O_RCVHWM);
    if (hwm) {
        char *end = NULL;
        errno = 0;
        long value = strtol(hwm, &end, 10);
        if (errno || end == hwm || *end || value < 0 || value > INT_MAX) {
            return s_usage_error("%s: '%s' is not a number of messages (0 or more)",
                                 args->source[O_RCVHWM], hwm);
        }
        o->rcvhwm = (int) value;
    }
    const char *level = s_get(args, O_LOG_LEVEL);
    *log_level = LOG_INFO;
    if (level && (*log_level = log_level_parse(level)) < 0) {
        return s_usage_error("%s: '%s' is not debug, info, warn or error",
                             args->source[O_LOG_LEVEL], level);
    }
    const char *log_format = s_get(args, O_LOG_FORMAT);
    *log_text = log_format && strcmp(log_format, "text") == 0;
    if (log_format && !*log_text && strcmp(log_format, "json") != 0) {
        return s_usage_error("%s: '%s' is not json or text", args->source[O_LOG_FORMAT],
                             log_format);
    }
    const char *metrics = s_get(args, O_METRICS);
    char host[256], err[256];
    int port = 0;
    if (metrics && metrics_parse_addr(metrics, host, sizeof host, &port, err, sizeof err) != 0) {
        return s_usage_error("%s: %s", args->source[O_METRICS], err);
    }
    return 0;
}

/*  --print-config: every option given (flag or variable) under its flag's name with '_' for
    '-', the defaults that matter, and secrets only as "***". Returns the exit status. */
static int s_print_config(const s_args_t *args, const sub_options_t *o)
{
    json_t *config = json_object();
    for (int id = 0; config && id < O_COUNT; id++) {
        char key[64];
        snprintf(key, sizeof key, "%s", s_opts[id].flag + 2);
        for (char *p = key; *p; p++) {
            *p = *p == '-' ? '_' : *p;
        }
        if (args->count[id] == 0) {
            continue;
        }
        if (!s_opts[id].repeat) {
            json_object_set_new(config, key, json_string(args->value[id][0]));
            continue;
        }
        json_t *list = json_array();
        for (size_t i = 0; i < args->count[id]; i++) {
            json_array_append_new(list, json_string(args->value[id][i]));
        }
        json_object_set_new(config, key, list);
    }
    if (!config) {
        return S_EXIT_FAILURE;
    }
    json_object_set_new(config, "rcvhwm", json_integer(o->rcvhwm));
    if (!json_object_get(config, "from")) {
        json_object_set_new(config, "from", json_string(sink_type_find(o->sink)->default_from));
    }
    if (!json_object_get(config, "log_level")) {
        json_object_set_new(config, "log_level", json_string("info"));
    }
    if (!json_object_get(config, "log_format")) {
        json_object_set_new(config, "log_format", json_string("json"));
    }
    if (config_secret_set("HERALD_SMTP_PASSWORD") || args->count[O_SMTP_PASSWORD_FILE]) {
        json_object_set_new(config, "smtp_password", json_string(CONFIG_REDACTED));
    }
    if (config_secret_set(SINK_WEBHOOK_SECRET_VAR) || args->count[O_WEBHOOK_SECRET_FILE]) {
        json_object_set_new(config, "webhook_secret", json_string(CONFIG_REDACTED));
    }
    if (config_secret_set(SINK_NATS_TOKEN_VAR) || args->count[O_NATS_TOKEN_FILE]) {
        json_object_set_new(config, "nats_token", json_string(CONFIG_REDACTED));
    }
    if (o->curve) {
        json_object_set_new(config, "curve_secret", json_string(CONFIG_REDACTED));
    }
    return config_print(config) == 0 ? S_EXIT_OK : S_EXIT_FAILURE;
}

/*  What a sink's subcommand reads of the command line (sink_cli_t's arg). */
typedef struct {
    s_args_t *args;          /* the raw values */
    const sink_type_t *type; /* the sink the command belongs to */
    sub_options_t options;   /* where its options are built */
    mail_config_t *mail;     /* the mail settings built, NULL before */
} s_cli_t;

static int s_cli_options(const sink_cli_t *cli, sink_options_t *out)
{
    s_cli_t *c = cli->arg;
    memset(&c->options, 0, sizeof c->options);
    int status = s_sink_options(c->args, c->type, &c->options, true, &c->mail);
    *out = c->options.sink_options;
    return status;
}

/*  herald-sub COMMAND ACTION [options]: a sink's subcommand (mail-dead list|retry), from the
    table of sinks. */
static int s_sink_command(const sink_command_t *command, const sink_type_t *type, int argc,
                          char **argv)
{
    const char *action = argc > 2 ? argv[2] : "";
    size_t known = 0;
    char actions[128] = "";
    for (size_t i = 0; command->actions[i]; i++) {
        size_t used = strlen(actions);
        snprintf(actions + used, sizeof actions - used, "%s%s",
                 i == 0                    ? ""
                 : command->actions[i + 1] ? ", "
                                           : " or ",
                 command->actions[i]);
        known += strcmp(action, command->actions[i]) == 0;
    }
    if (!known) {
        return s_usage_error("%s needs %s, not '%s'", command->name, actions, action);
    }
    s_args_t args;
    memset(&args, 0, sizeof args);
    bool help = false;
    int status = s_read_env(&args);
    if (status == 0) {
        status = s_read_flags(&args, argc - 2, argv + 2, &help); /* argv[2] is skipped */
    }
    if (status == 0 && help) {
        fputs(s_usage, stdout);
    } else if (status == 0 && command->needs_state && !s_get(&args, O_STATE)) {
        status = s_usage_error("%s %s needs --state PATH (or HERALD_STATE)", command->name, action);
    } else if (status == 0) {
        const char *level_name = s_get(&args, O_LOG_LEVEL);
        const char *format = s_get(&args, O_LOG_FORMAT);
        int level = level_name ? log_level_parse(level_name) : LOG_INFO;
        log_setup(level < 0 ? LOG_INFO : (log_level_t) level, format && !strcmp(format, "text"));
        s_cli_t c = {.args = &args, .type = type};
        sink_cli_t cli = {.state_path = s_get(&args, O_STATE), .options = s_cli_options, .arg = &c};
        char err[1024] = "";
        status = command->run(action, &cli, err, sizeof err);
        if (err[0]) {
            fprintf(stderr, "herald-sub: %s\n", err);
        }
        mail_config_destroy(&c.mail);
    }
    for (int id = 0; id < O_COUNT; id++) {
        free(args.env_copies[id]);
    }
    return status;
}

/*  Subcommands: the sinks' (herald-sub mail-dead list|retry), herald-sub health. */
static int s_command(int argc, char **argv)
{
    const sink_type_t *type = NULL;
    const sink_command_t *command = sink_command_find(argv[1], &type);
    if (command) {
        return s_sink_command(command, type, argc, argv);
    }
    if (strcmp(argv[1], "health") == 0) {
        return metrics_health_main("herald-sub", argc - 1, argv + 1);
    }
    return s_usage_error("unknown command '%s'", argv[1]);
}

/*  Starts the metrics server of subscriber on addr. Returns it, or NULL (logged). */
static metrics_t *s_metrics_start(subscriber_t *subscriber, const sub_options_t *options,
                                  const char *addr)
{
    metrics_t *metrics = metrics_new();
    char err[512] = "out of memory";
    const sink_type_t *type = sink_type_find(options->sink);
    if (!metrics || sub_metrics_register(subscriber_metrics(subscriber), metrics, type) != 0 ||
        metrics_start(metrics, addr, err, sizeof err) != 0) {
        log_error("sub.metrics_failed", "{s:s, s:s}", "metrics", addr, "error", err);
        metrics_destroy(&metrics);
        return NULL;
    }
    log_info("sub.metrics", "{s:s}", "metrics", addr);
    return metrics;
}

static int s_run(sub_options_t *options, const char *metrics_addr)
{
    /*  Blocked before zmq starts its threads, so that they inherit the mask and the signals
        reach the signalfd only. */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0) {
        log_error("sub.start_failed", "{s:s}", "error", strerror(errno));
        return S_EXIT_FAILURE;
    }
    signal(SIGPIPE, SIG_IGN); /* a closed stdout is a write error, not a silent death */
    options->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (options->signal_fd < 0) {
        log_error("sub.start_failed", "{s:s}", "error", strerror(errno));
        return S_EXIT_FAILURE;
    }
    char err[1024];
    subscriber_t *subscriber = subscriber_new(options, err, sizeof err);
    if (!subscriber) {
        log_error("sub.start_failed", "{s:s}", "error", err);
        close(options->signal_fd);
        return S_EXIT_FAILURE;
    }
    metrics_t *metrics = NULL;
    int rc = -1;
    if (!metrics_addr || (metrics = s_metrics_start(subscriber, options, metrics_addr))) {
        rc = subscriber_run(subscriber);
    }
    metrics_destroy(&metrics);
    subscriber_destroy(&subscriber);
    close(options->signal_fd);
    return rc == 0 ? S_EXIT_OK : S_EXIT_FAILURE;
}

/*  --curve-secret-file and --server-key: both or neither. Loads the keys into *curve and
    points options at it. 0, or an exit status (the message printed). */
static int s_curve_options(const s_args_t *args, sub_options_t *options, curve_client_t *curve)
{
    const char *server = s_get(args, O_SERVER_KEY);
    char secret[CURVE_Z85_LEN + 1];
    char err[1024];
    /* HERALD_CURVE_SECRET's value, or the file of --curve-secret-file (or its variable). */
    int given = curve_secret_load(s_get(args, O_CURVE_SECRET_FILE), secret, err, sizeof err);
    if (given == -1) {
        return s_usage_error("%s", err);
    }
    if (!given != !server) {
        return s_usage_error("--curve-secret-file (or HERALD_CURVE_SECRET) and --server-key go "
                             "together (or neither)");
    }
    if (!given) {
        return 0;
    }
    int rc = curve_client_load(curve, secret, server, err, sizeof err);
    memset(secret, 0, sizeof secret);
    if (rc != 0) {
        fprintf(stderr, "herald-sub: %s\n", err);
        return S_EXIT_FAILURE;
    }
    options->curve = curve;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && argv[1][0] != '-') {
        return s_command(argc, argv);
    }
    s_args_t args;
    memset(&args, 0, sizeof args);
    bool help = false;
    int status = s_read_env(&args);
    if (status == 0) {
        status = s_read_flags(&args, argc, argv, &help);
    }
    if (status == 0 && help) {
        fputs(s_usage, stdout);
    }
    sub_options_t options;
    int log_level = LOG_INFO, log_text = 0;
    mail_config_t *mail = NULL;
    if (status == 0 && !help) {
        status = s_options(&args, &options, &log_level, &log_text, &mail);
    }
    curve_client_t curve;
    if (status == 0 && !help) {
        status = s_curve_options(&args, &options, &curve);
    }
    if (status == 0 && !help && s_print_config_flag) {
        status = s_print_config(&args, &options);
    } else if (status == 0 && !help) {
        log_setup((log_level_t) log_level, log_text);
        status = s_run(&options, s_get(&args, O_METRICS));
    }
    mail_config_destroy(&mail);
    for (int id = 0; id < O_COUNT; id++) {
        free(args.env_copies[id]);
    }
    return status;
}
