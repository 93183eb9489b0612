/*  main.c -- herald-sub and herald-sub-NAME (the same main, a table of sinks each,
    sink_table.c): options and environment (sub_options.h), signals, run, exit status;
    herald-sub hands a sink it does not link over to the sink's program (handover.h).

    Exit status: 0 stopped by SIGINT or SIGTERM, 1 runtime failure, 2 usage error.
*/
#include <limits.h>
#include <unistd.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "handover.h"
#include "log.h"
#include "metrics.h"
#include "signals.h"
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

static int s_run(sub_options_t *options, const char *metrics_addr)
{
    char err[1024];
    options->signal_fd = signals_open(err, sizeof err);
    if (options->signal_fd < 0) {
        log_error("sub.start_failed", "{s:s}", "error", err);
        return 1;
    }
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

/*  A replay arrives in messages of 64 KiB that libzmq's I/O thread allocates and the main
    thread frees; with glibc's default trim threshold each free handed the pages back to the
    kernel and the next message faulted them in again (12,000 page faults on a replay of
    300,000 changes, 1,700 with this). The peak memory is the same: what malloc keeps is
    what the replay had in use anyway. */
static void s_malloc_setup(void)
{
#if defined(__GLIBC__)
    mallopt(M_TRIM_THRESHOLD, 16 * 1024 * 1024);
#endif
}

int main(int argc, char **argv)
{
    s_malloc_setup();
    if (argc > 1 && argv[1][0] != '-') {
        return sub_options_command(argc, argv);
    }
    sub_config_t config;
    int status = 0;
    options_t *options = sub_options_read(&config, argc, argv, &status);
    if (config.handover) {
        /* a runtime failure, logged as the others are (the sink's program was not run) */
        log_setup((log_level_t) config.log_level, config.log_format == 1);
        options_destroy(&options);
        char err[PATH_MAX + 256] = "";
        status = sub_handover(argv, config.handover, "--sink", err, sizeof err);
        log_error("sub.start_failed", "{s:s}", "error", err);
        return status;
    }
    if (!options) {
        return status;
    }
    log_setup((log_level_t) config.log_level, config.log_format == 1);
    status = s_run(&config.service, config.metrics);
    options_destroy(&options);
    return status;
}
