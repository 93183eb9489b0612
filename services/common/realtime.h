/*  realtime.h -- --realtime N: the latency path under SCHED_FIFO, ahead of every ordinary
    process on the machine.

    A commit reaches a subscriber in about 0.15 ms when the cores are free; when other
    processes keep them busy, the kernel's fair scheduler makes the publisher's thread wait
    its turn behind them, milliseconds at a time (docs/performance.md, "Latency under load").
    A thread under SCHED_FIFO runs as soon as it is woken, before any SCHED_OTHER thread.

    Only the threads that carry an announcement get it: the calling (main) thread and
    ZeroMQ's I/O threads. SCHED_RESET_ON_FORK keeps every thread created afterwards (the
    metrics server's, libnats', libcurl's resolver) and any child ordinary. The kernel's
    real-time throttling (kernel.sched_rt_runtime_us, 95 % of each second by default) still
    leaves the other processes a share if a replay or a catch-up keeps a core busy.
*/
#ifndef HERALD_REALTIME_H
#define HERALD_REALTIME_H

#include <stddef.h>

/*  With priority 0, does nothing and returns 0. Otherwise puts the calling thread under
    SCHED_FIFO at priority (1 to 99, Linux's range; OPTION_REALTIME of options.h checks it)
    and tells ctx to put its I/O threads there too; call it before the first socket of ctx
    (libzmq starts its threads then, and aborts if one of them may not take the policy, so
    the calling thread tries it first). Returns 0, or -1 with the reason and the way to
    allow it in err: the process needs CAP_SYS_NICE or an RLIMIT_RTPRIO of at least
    priority. */
int realtime_enter(void *ctx, int priority, char *err, size_t errlen);

#endif
