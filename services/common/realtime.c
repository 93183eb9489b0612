/*  realtime.c -- SCHED_FIFO for the calling thread and a ZeroMQ context's I/O threads. */
#define _GNU_SOURCE /* SCHED_RESET_ON_FORK */
#include "realtime.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <zmq.h>

int realtime_enter(void *ctx, int priority, char *err, size_t errlen)
{
    if (priority <= 0) {
        return 0;
    }
    struct sched_param param = {.sched_priority = priority};
    if (sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &param) != 0) {
        int saved = errno;
        struct rlimit limit = {0};
        getrlimit(RLIMIT_RTPRIO, &limit);
        char allowed[32] = "unlimited";
        if (limit.rlim_cur != RLIM_INFINITY) {
            snprintf(allowed, sizeof allowed, "%llu", (unsigned long long) limit.rlim_cur);
        }
        snprintf(err, errlen,
                 "--realtime %d: the kernel refused SCHED_FIFO (%s); it needs CAP_SYS_NICE or "
                 "an RLIMIT_RTPRIO of at least %d (this process's is %s): systemd "
                 "LimitRTPRIO=%d or AmbientCapabilities=CAP_SYS_NICE, compose cap_add: "
                 "[SYS_NICE] and, with real-time group scheduling, a cpu_rt_runtime "
                 "(docs/operations.md, \"Latency under load\")",
                 priority, strerror(saved), priority, allowed, priority);
        return -1;
    }
    if (zmq_ctx_set(ctx, ZMQ_THREAD_SCHED_POLICY, SCHED_FIFO) != 0 ||
        zmq_ctx_set(ctx, ZMQ_THREAD_PRIORITY, priority) != 0) {
        snprintf(err, errlen, "--realtime %d: ZeroMQ's I/O threads: %s", priority,
                 zmq_strerror(errno));
        return -1;
    }
    return 0;
}
