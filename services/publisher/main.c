/*  main.c -- herald-pub: options from flags and the environment, signals, run, exit status.

    Exit status: 0 after a clean stop (SIGINT, SIGTERM), 1 on a runtime failure, 2 on a usage
    error. Every flag can also come from the environment: HERALD_ and the flag's name upper
    cased with '-' as '_' (HERALD_DB, HERALD_HEARTBEAT_MS, ...), except --bind and
    --replay-bind, which are HERALD_PUB_BIND and HERALD_REPLAY_BIND. Flags win.
*/
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "config.h"
#include "curve.h"
#include "log.h"
#include "metrics.h"
#include "publisher.h"

#define S_USAGE_EXIT 2

typedef struct {
    const char *db;          /* --db */
    const char *bind;        /* --bind */
    const char *replay_bind; /* --replay-bind */
    int heartbeat_ms;        /* --heartbeat-ms */
    int batch;               /* --batch */
    int log_level;           /* --log-level */
    int log_text;            /* --log-format text */
    bool insecure;           /* --insecure */
    int sndhwm;              /* --sndhwm */
    const char *metrics;     /* --metrics: HOST:PORT of /metrics, /healthz, /readyz */
    bool print_config;       /* --print-config */
    const char *curve_secret_file; /* --curve-secret-file: the publisher's CURVE secret key */
    const char *clients;           /* --clients: the agencies' public keys and grants */
} s_options_t;

/* One option: its flag, its environment variable, and whether it takes a value. */
typedef struct {
    const char *flag;
    const char *env;
    bool value;
} s_option_t;

static const s_option_t s_option_list[] = {
    {"--db", "HERALD_DB", true},
    {"--bind", "HERALD_PUB_BIND", true},
    {"--replay-bind", "HERALD_REPLAY_BIND", true},
    {"--heartbeat-ms", "HERALD_HEARTBEAT_MS", true},
    {"--batch", "HERALD_BATCH", true},
    {"--log-level", "HERALD_LOG_LEVEL", true},
    {"--log-format", "HERALD_LOG_FORMAT", true},
    {"--insecure", "HERALD_INSECURE", false},
    {"--sndhwm", "HERALD_SNDHWM", true},
    {"--metrics", "HERALD_METRICS", true},
    {"--curve-secret-file", "HERALD_CURVE_SECRET_FILE", true},
    {"--clients", "HERALD_CLIENTS", true},
};
#define S_OPTIONS (sizeof s_option_list / sizeof s_option_list[0])

static void s_help(FILE *out)
{
    fprintf(out, "usage: herald-pub --db PATH [--bind ENDPOINT] [--replay-bind ENDPOINT]\n"
                 "                  [--heartbeat-ms N] [--batch N] [--log-level L]\n"
                 "                  [--log-format json|text] [--sndhwm N] [--insecure] [--help]\n"
                 "\n"
                 "Announces every change committed to the Herald store at PATH on a ZeroMQ PUB\n"
                 "socket, and answers replay requests on a ROUTER socket.\n"
                 "\n"
                 "  --db PATH              the store (HERALD_DB), required\n"
                 "  --bind ENDPOINT        PUB endpoint (HERALD_PUB_BIND), default "
                 "tcp://127.0.0.1:7700\n"
                 "  --replay-bind ENDPOINT replay endpoint (HERALD_REPLAY_BIND), default "
                 "tcp://127.0.0.1:7701\n"
                 "  --heartbeat-ms N       heartbeat interval, 10..3600000 (HERALD_HEARTBEAT_MS), "
                 "default 1000\n"
                 "  --batch N              changes per store scan, 1..100000 (HERALD_BATCH), "
                 "default 1024\n"
                 "  --sndhwm N             live messages queued per subscriber before the\n"
                 "                         slowest ones are dropped (and healed by replay),\n"
                 "                         1..1000000 (HERALD_SNDHWM), default 10000\n"
                 "  --log-level L          debug, info, warn or error (HERALD_LOG_LEVEL), default "
                 "info\n"
                 "  --log-format F         json or text (HERALD_LOG_FORMAT), default json\n"
                 "  --insecure             allow tcp binds to non-loopback addresses without\n"
                 "                         CURVE (HERALD_INSECURE=1)\n"
                 "  --curve-secret-file F  CURVE: the publisher's secret key file, from\n"
                 "                         herald-keygen, with --clients\n"
                 "                         (HERALD_CURVE_SECRET_FILE; or the key itself in\n"
                 "                         HERALD_CURVE_SECRET, never on the command line)\n"
                 "  --clients DIR          CURVE: one AGENCY.pub per admitted agency: its key on\n"
                 "                         the first line, then optional 'grant PREFIX' lines;\n"
                 "                         re-read on SIGHUP (HERALD_CLIENTS)\n"
                 "  --metrics ADDR         serve /metrics, /healthz, /readyz on HOST:PORT (a bare\n"
                 "                         PORT is 127.0.0.1:PORT) (HERALD_METRICS), default off\n"
                 "  --print-config         print the effective configuration as JSON and exit\n"
                 "  --help                 this text\n"
                 "\n"
                 "       herald-pub health [--metrics ADDR]   exit 0 if the running service\n"
                 "                         is ready (its /readyz), 1 if not\n"
                 "\n"
                 "Flags win over the environment. Exit status: 0 stopped by SIGINT/SIGTERM,\n"
                 "1 runtime failure, 2 usage error.\n");
}

/*  Reports a usage error on stderr. Returns -1. */
static int s_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int s_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "herald-pub: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry 'herald-pub --help'.\n");
    va_end(ap);
    return -1;
}

static int s_parse_int(const char *name, const char *text, long lo, long hi, int *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end != '\0' || v < lo || v > hi) {
        return s_usage("%s: '%s' is not a number in %ld..%ld", name, text, lo, hi);
    }
    *out = (int) v;
    return 0;
}

/*  Applies one option's value; name is the flag or the variable, for the messages. */
static int s_apply(s_options_t *opts, size_t index, const char *name, const char *value)
{
    switch (index) {
    case 0:
        opts->db = value;
        return 0;
    case 1:
        opts->bind = value;
        return 0;
    case 2:
        opts->replay_bind = value;
        return 0;
    case 3:
        return s_parse_int(name, value, 10, 3600000, &opts->heartbeat_ms);
    case 4:
        return s_parse_int(name, value, 1, 100000, &opts->batch);
    case 5:
        opts->log_level = log_level_parse(value);
        if (opts->log_level < 0) {
            return s_usage("%s: '%s' is not one of debug, info, warn, error", name, value);
        }
        return 0;
    case 6:
        if (strcmp(value, "json") && strcmp(value, "text")) {
            return s_usage("%s: '%s' is not json or text", name, value);
        }
        opts->log_text = strcmp(value, "text") == 0;
        return 0;
    case 7:
        if (!strcmp(value, "1") || !strcmp(value, "true") || !strcmp(value, "yes")) {
            opts->insecure = true;
        } else if (!strcmp(value, "0") || !strcmp(value, "false") || !strcmp(value, "no")) {
            opts->insecure = false;
        } else {
            return s_usage("%s: '%s' is not 1/0, true/false or yes/no", name, value);
        }
        return 0;
    case 8:
        return s_parse_int(name, value, 1, 1000000, &opts->sndhwm);
    case 9: {
        char host[256], err[256];
        int port = 0;
        if (metrics_parse_addr(value, host, sizeof host, &port, err, sizeof err) != 0) {
            return s_usage("%s: %s", name, err);
        }
        opts->metrics = value;
        return 0;
    }
    case 10:
        opts->curve_secret_file = value;
        return 0;
    case 11:
        opts->clients = value;
        return 0;
    default:
        return -1;
    }
}

/*  Parses the environment, then the flags. Returns 0, 1 for --help, -1 on a usage error
    (reported). */
static int s_parse(s_options_t *opts, int argc, char **argv)
{
    for (size_t i = 0; i < S_OPTIONS; i++) {
        const char *value = getenv(s_option_list[i].env);
        if (value && *value && s_apply(opts, i, s_option_list[i].env, value) == -1) {
            return -1;
        }
    }
    for (int a = 1; a < argc; a++) {
        const char *arg = argv[a];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            return 1;
        }
        if (!strcmp(arg, "--print-config")) {
            opts->print_config = true;
            continue;
        }
        const char *eq = strchr(arg, '=');
        size_t len = eq ? (size_t) (eq - arg) : strlen(arg);
        size_t i = 0;
        while (i < S_OPTIONS && !(strlen(s_option_list[i].flag) == len &&
                                  strncmp(arg, s_option_list[i].flag, len) == 0)) {
            i++;
        }
        if (i == S_OPTIONS && len == strlen("--curve-secret") &&
            strncmp(arg, "--curve-secret", len) == 0) {
            /* not echoed: it may hold the key */
            return s_usage("--curve-secret is not taken on the command line (others could "
                           "read it): set HERALD_CURVE_SECRET or use --curve-secret-file FILE");
        }
        if (i == S_OPTIONS) {
            return s_usage("unknown option '%s'", arg);
        }
        const char *flag = s_option_list[i].flag;
        const char *value = NULL;
        if (!s_option_list[i].value) {
            value = eq ? eq + 1 : "1";
        } else if (eq) {
            value = eq + 1;
        } else if (a + 1 < argc) {
            value = argv[++a];
        } else {
            return s_usage("%s needs a value", flag);
        }
        if (s_apply(opts, i, flag, value) == -1) {
            return -1;
        }
    }
    return 0;
}

/*  true if a bind to endpoint stays on this machine: tcp:// to a loopback address, ipc://,
    inproc://. A wildcard (*, 0.0.0.0, ::) or any other address or interface is not. */
static bool s_endpoint_local(const char *endpoint)
{
    if (!strncmp(endpoint, "ipc://", 6) || !strncmp(endpoint, "inproc://", 9)) {
        return true;
    }
    if (strncmp(endpoint, "tcp://", 6) != 0) {
        return false;
    }
    const char *host = endpoint + 6;
    const char *colon = strrchr(host, ':');
    if (!colon || strchr(host, ';')) {
        return false;
    }
    size_t len = (size_t) (colon - host);
    if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
        host++;
        len -= 2;
    }
    char name[64];
    if (len == 0 || len >= sizeof name) {
        return false;
    }
    memcpy(name, host, len);
    name[len] = '\0';
    return !strcmp(name, "localhost") || !strcmp(name, "::1") || !strcmp(name, "127.0.0.1") ||
           (!strncmp(name, "127.", 4) && strspn(name, "0123456789.") == len);
}

static int s_check_endpoint(const s_options_t *opts, const char *flag, const char *endpoint)
{
    if (s_endpoint_local(endpoint)) {
        return 0;
    }
    if (opts->curve_secret_file) {
        return 0; /* encrypted, and only the agencies in --clients get in */
    }
    if (!opts->insecure) {
        fprintf(stderr,
                "herald-pub: %s %s is not a loopback address; announcements would travel in\n"
                "clear text to anyone who can connect. Bind to 127.0.0.1, use CURVE\n"
                "(--curve-secret-file and --clients), or pass --insecure.\n",
                flag, endpoint);
        return -1;
    }
    log_error("pub.insecure", "{s:s,s:s,s:s}", "option", flag, "endpoint", endpoint, "warning",
              "NO ENCRYPTION, NO AUTHENTICATION: anyone who can reach this address reads "
              "every announcement; use --curve-secret-file and --clients");
    return 0;
}

/*  --print-config: the effective settings as JSON, secrets as "***" (secret: one is given). */
static int s_print_config(const s_options_t *opts, bool secret)
{
    json_t *config = json_pack("{s:s?,s:s,s:s,s:i,s:i,s:i,s:s,s:s,s:b,s:s?,s:s?,s:s?}", "db",
                               opts->db,
                               "bind", opts->bind, "replay_bind", opts->replay_bind,
                               "heartbeat_ms", opts->heartbeat_ms, "batch", opts->batch,
                               "sndhwm", opts->sndhwm, "log_level",
                               opts->log_level == LOG_DEBUG  ? "debug"
                               : opts->log_level == LOG_WARN ? "warn"
                               : opts->log_level == LOG_ERROR ? "error"
                                                              : "info",
                               "log_format", opts->log_text ? "text" : "json", "insecure",
                               opts->insecure, "metrics", opts->metrics, "curve_secret_file",
                               opts->curve_secret_file, "clients", opts->clients);
    if (config) {
        json_object_set_new(config, "curve_secret",
                            secret ? json_string(CONFIG_REDACTED) : json_null());
    }
    return config_print(config) == 0 ? 0 : 1;
}

/*  Starts the metrics server on opts->metrics, if set. 0, or -1 (logged). */
static int s_metrics_start(const s_options_t *opts, publisher_t *publisher, metrics_t **out)
{
    *out = NULL;
    if (!opts->metrics) {
        return 0;
    }
    metrics_t *metrics = metrics_new();
    char err[512] = "out of memory";
    if (!metrics || pub_metrics_register(publisher_metrics(publisher), metrics) != 0 ||
        metrics_start(metrics, opts->metrics, err, sizeof err) != 0) {
        log_error("pub.metrics_failed", "{s:s,s:s}", "metrics", opts->metrics, "error", err);
        metrics_destroy(&metrics);
        return -1;
    }
    log_info("pub.metrics", "{s:s}", "metrics", opts->metrics);
    *out = metrics;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "health")) {
        return metrics_health_main("herald-pub", argc - 1, argv + 1);
    }
    s_options_t opts = {
        .bind = "tcp://127.0.0.1:7700",
        .replay_bind = "tcp://127.0.0.1:7701",
        .heartbeat_ms = 1000,
        .batch = 1024,
        .sndhwm = 10000,
        .log_level = LOG_INFO,
    };
    int rc = s_parse(&opts, argc, argv);
    if (rc == 1) {
        s_help(stdout);
        return 0;
    }
    if (rc == -1) {
        return S_USAGE_EXIT;
    }
    if (!opts.db || !*opts.db) {
        s_usage("--db (or HERALD_DB) is required");
        return S_USAGE_EXIT;
    }
    /* The secret: HERALD_CURVE_SECRET's value, or the file of --curve-secret-file (or
       HERALD_CURVE_SECRET_FILE); never from the command line itself. */
    char secret[CURVE_Z85_LEN + 1] = "";
    char key_err[1024];
    int have_secret = curve_secret_load(opts.curve_secret_file, secret, key_err, sizeof key_err);
    if (have_secret == -1) {
        s_usage("%s", key_err);
        return S_USAGE_EXIT;
    }
    if (!have_secret != !opts.clients) {
        s_usage("--curve-secret-file (or HERALD_CURVE_SECRET) and --clients go together "
                "(or neither)");
        return S_USAGE_EXIT;
    }
    if (opts.print_config) {
        memset(secret, 0, sizeof secret);
        return s_print_config(&opts, have_secret == 1);
    }
    log_setup((log_level_t) opts.log_level, opts.log_text);
    if (s_check_endpoint(&opts, "--bind", opts.bind) == -1 ||
        s_check_endpoint(&opts, "--replay-bind", opts.replay_bind) == -1) {
        return S_USAGE_EXIT;
    }

    /* Blocked before ZeroMQ starts its io thread, so that every thread has them blocked
       and they reach us only through the signalfd, in the poll loop. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &set, NULL) == -1) {
        log_error("pub.signals_failed", "{s:s}", "error", strerror(errno));
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    int sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd == -1) {
        log_error("pub.signals_failed", "{s:s}", "error", strerror(errno));
        return 1;
    }

    publisher_config_t config = {
        .db_path = opts.db,
        .bind = opts.bind,
        .replay_bind = opts.replay_bind,
        .heartbeat_ms = opts.heartbeat_ms,
        .batch = opts.batch,
        .sndhwm = opts.sndhwm,
        .signal_fd = sfd,
        .curve_secret = have_secret == 1 ? secret : NULL,
        .clients_dir = opts.clients,
    };
    publisher_t *publisher = publisher_new(&config);
    memset(secret, 0, sizeof secret); /* the sockets have it now */
    if (!publisher) {
        close(sfd);
        return 1;
    }
    metrics_t *metrics = NULL;
    rc = s_metrics_start(&opts, publisher, &metrics);
    if (rc == 0) {
        rc = publisher_run(publisher);
    }
    metrics_destroy(&metrics);
    publisher_destroy(&publisher);
    close(sfd);
    return rc == 0 ? 0 : 1;
}
