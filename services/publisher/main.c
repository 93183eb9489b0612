/*  main.c -- herald-pub: options (pub_options.h), signals, run, exit status.

    Exit status: 0 after a clean stop (SIGINT, SIGTERM), 1 on a runtime failure, 2 on a usage
    error.
*/
#include <string.h>
#include <unistd.h>

#include "health.h"
#include "log.h"
#include "metrics.h"
#include "pub_lock.h"
#include "pub_options.h"
#include "publisher.h"
#include "signals.h"

/*  Starts the metrics server on config->metrics, if set. 0, or -1 (logged). */
static int s_metrics_start(const pub_config_t *config, publisher_t *publisher, metrics_t **out)
{
    *out = NULL;
    if (!config->metrics) {
        return 0;
    }
    metrics_t *metrics = metrics_new();
    char err[512] = "out of memory";
    if (!metrics || pub_metrics_register(publisher_metrics(publisher), metrics) != 0 ||
        metrics_start(metrics, config->metrics, err, sizeof err) != 0) {
        log_error("pub.metrics_failed", "{s:s,s:s}", "metrics", config->metrics, "error", err);
        metrics_destroy(&metrics);
        return -1;
    }
    log_info("pub.metrics", "{s:s}", "metrics", config->metrics);
    *out = metrics;
    return 0;
}

/*  Runs the service with config until a signal stops it, the store locked meanwhile;
    options is destroyed (the secret wiped) once the sockets have the secret. The exit
    status. */
static int s_run(pub_config_t *config, options_t **options_p)
{
    char err[1024];
    int lock = pub_lock_acquire(config->service.db_path, err, sizeof err);
    if (lock == -1) {
        log_error("pub.store_locked", "{s:s,s:s}", "path", config->service.db_path, "error", err);
        options_destroy(options_p);
        return 1;
    }
    config->service.signal_fd = signals_open(err, sizeof err);
    if (config->service.signal_fd == -1) {
        log_error("pub.signals_failed", "{s:s}", "error", err);
        options_destroy(options_p);
        close(lock);
        return 1;
    }
    publisher_t *publisher = publisher_new(&config->service);
    options_destroy(options_p); /* wipes the secret: the sockets have it now */
    metrics_t *metrics = NULL;
    int rc = -1;
    if (publisher && s_metrics_start(config, publisher, &metrics) == 0) {
        rc = publisher_run(publisher);
    }
    metrics_destroy(&metrics);
    publisher_destroy(&publisher);
    close(config->service.signal_fd);
    close(lock); /* last: the store is ours until everything is closed */
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "health")) {
        return health_main("herald-pub", argc - 1, argv + 1);
    }
    pub_config_t config;
    int status = 0;
    options_t *options = pub_options_read(&config, argc, argv, &status);
    if (!options) {
        return status;
    }
    log_setup((log_level_t) config.log_level, config.log_format == 1);
    publisher_raise_nofile();
    if (pub_options_check_binds(&config, options) == -1) {
        options_destroy(&options);
        return OPTIONS_EXIT_USAGE;
    }
    return s_run(&config, &options);
}
