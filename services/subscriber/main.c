/*  main.c -- herald-sub: options and environment (sub_options.h), signals, run, exit status.

    Exit status: 0 stopped by SIGINT or SIGTERM, 1 runtime failure, 2 usage error.
*/
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "sub_options.h"
#include "subscriber.h"

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

/*  Blocks SIGINT, SIGTERM, SIGHUP and returns their signalfd, or -1 (logged). Called before
    zmq starts its threads, so that they inherit the mask and the signals reach the signalfd
    only. */
static int s_signals(void)
{
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGHUP);
    int fd = -1;
    if (sigprocmask(SIG_BLOCK, &mask, NULL) == 0) {
        fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    }
    if (fd < 0) {
        log_error("sub.start_failed", "{s:s}", "error", strerror(errno));
    }
    signal(SIGPIPE, SIG_IGN); /* a closed stdout is a write error, not a silent death */
    return fd;
}

static int s_run(sub_options_t *options, const char *metrics_addr)
{
    options->signal_fd = s_signals();
    if (options->signal_fd < 0) {
        return 1;
    }
    char err[1024];
    subscriber_t *subscriber = subscriber_new(options, err, sizeof err);
    if (!subscriber) {
        log_error("sub.start_failed", "{s:s}", "error", err);
        close(options->signal_fd);
        return 1;
    }
    metrics_t *metrics = NULL;
    int rc = -1;
    if (!metrics_addr || (metrics = s_metrics_start(subscriber, options, metrics_addr))) {
        rc = subscriber_run(subscriber);
    }
    metrics_destroy(&metrics);
    subscriber_destroy(&subscriber);
    close(options->signal_fd);
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc > 1 && argv[1][0] != '-') {
        return sub_options_command(argc, argv);
    }
    sub_config_t config;
    int status = 0;
    options_t *options = sub_options_read(&config, argc, argv, &status);
    if (!options) {
        return status;
    }
    log_setup((log_level_t) config.log_level, config.log_format == 1);
    status = s_run(&config.service, config.metrics);
    options_destroy(&options);
    return status;
}
