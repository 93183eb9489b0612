/*  publisher.c -- the herald-pub service: one struct, one zmq_poll loop, and an s_handle_*
    function for each thing it reacts to (a signal, an inotify event, a replay request, a
    timer).

    Publishing is a scan of the change log after the cursor (the last published seq), batch by
    batch, each row encoded into the service's one frame buffer and sent as [topic][body].
    The cursor is kept in memory and written back to the store at most every S_PERSIST_MS,
    at the end of a backlog and at shutdown, because each write is a transaction with an
    fsync. After a crash a restart may therefore announce a few changes again; subscribers
    drop seqs they have already applied.
*/
#include "publisher.h"

#include <assert.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "clients.h"
#include "clock.h"
#include "codec.h"
#include "curve.h"
#include "grants.h"
#include "log.h"
#include "monitor.h"
#include "pub_metrics.h"
#include "realtime.h"
#include "recent.h"
#include "replay.h"
#include "sockopt.h"
#include "store.h"
#include "watch.h"
#include "zap.h"

#define S_CURSOR_NAME "publisher" /* the store cursor holding the last published seq */
#define S_SAFETY_MS 500           /* look at the store even when inotify said nothing */
#define S_PERSIST_MS 200          /* write the cursor back at most this often */
#define S_MISSING_RETRY_MS 1000   /* look for a missing store this often */
#define S_BUSY_RETRY_MS 100       /* retry a busy store after this */
#define S_SETTLE_RETRY_MS 200     /* open a store this long after its file appeared */
#define S_REOPEN_RW_MS 5000       /* reopen a read-only store made writable at most so often */
#define S_RECHECK_FIRST_MS 2      /* first re-check of a commit inotify announced */
#define S_RECHECK_LAST_MS 128     /* ... doubling up to this; then the safety poll */
#define S_REPLAYS_PER_WAKE 16     /* replay requests answered per wake before publishing */
#define S_LINGER_MS 500           /* bounded linger of both sockets at close */
/* Connections the kernel queues before the I/O thread accepts them. libzmq's 100 turned a
   storm of 1,000 agencies into dropped SYNs, each retried a second later (docs/performance.md,
   "Fan-out"); the kernel caps it at net.core.somaxconn (4096 on Debian 12). */
#define S_BACKLOG 4096
#define S_TCP_MAXRT_MS 30000 /* without ZMTP heartbeats: unacknowledged data closes a peer */
#define S_SUBSCRIPTIONS_PER_WAKE 1024 /* subscription messages read per wake */
#define S_BUSY_MS 0                   /* never wait for another writer's lock in the loop */
#define S_CURSOR_RETRY_MS 10          /* a cursor write that found the store locked retries */
#define S_BUSY_STOP_MS 2000           /* the last cursor write, at exit, may wait this long */
#define S_CACHE_KIB 512 /* SQLite's page cache: the log is read in order, each page once */
#define S_ROUTER_SNDHWM (2 * (CODEC_MAX_LIMIT + 2)) /* two full answers per peer */

struct publisher {
    char *db_path;                      /* the store file */
    char *bind;                         /* PUB endpoint */
    char *replay_bind;                  /* replay ROUTER endpoint */
    int heartbeat_ms;                   /* heartbeat interval */
    int batch;                          /* change rows per scan */
    int sndhwm;                         /* live messages queued per subscriber before dropping */
    int zmtp_heartbeat_ms;              /* ZMTP PING interval per connection, 0: none */
    int signal_fd;                      /* signalfd for SIGINT/SIGTERM/SIGHUP (main's) */
    void *ctx;                          /* the one ZeroMQ context, one io thread */
    void *pub;                          /* XPUB (manual): live announcements, subscriptions */
    clients_t *clients;                 /* --clients: agencies and grants; NULL without CURVE */
    zap_t *zap;                         /* the ZAP handler; NULL without CURVE */
    grants_live_t grants_live;          /* subscriptions applied, narrowed, refused */
    void *router;                       /* ROUTER: replay requests and their answers */
    watch_t *watch;                     /* inotify on the store's directory (NULL: polling only) */
    replay_t *replay;                   /* decoder and buffer for replay answers */
    recent_t *recent;                   /* the last announcements published, for replays */
    replay_stats_t replay_stats;        /* replay requests and announcements answered */
    store_t *store;                     /* our connection; NULL while missing or unusable */
    char stream_id[64];                 /* the store's stream id ("" before the first open) */
    char public_key[CURVE_Z85_LEN + 1]; /* CURVE: our public key, for pub.started ("": none) */
    dev_t dev;                          /* device of the store file we opened */
    ino_t ino;                          /* its inode: a new one means the file was replaced */
    watch_logs_t logs;                  /* the -wal and -shm our connection uses */
    watch_logs_t old_logs;              /* a replaced store's, held until they are gone */
    store_probe_t *probe;               /* notices a restore (a new stream id in the file) */
    int64_t data_version;               /* PRAGMA data_version when we last looked */
    int64_t cursor;                     /* the last published seq */
    int64_t persisted;                  /* the cursor as last written to the store */
    uint64_t published;                 /* announcements published since start */
    int64_t heartbeat_at;               /* monotonic ms of the next heartbeat */
    int64_t safety_at;                  /* monotonic ms of the next safety poll */
    int64_t retry_at;                   /* monotonic ms of the next store retry; 0: none */
    int64_t persist_at;                 /* monotonic ms of a deferred cursor write; 0: none */
    int64_t persisted_at;               /* monotonic ms of the last cursor write */
    int64_t recheck_at;                 /* monotonic ms to look again for an announced commit */
    int recheck_ms;                     /* the current re-check step; 0: none pending */
    int send_errno;                     /* set by the publish callback when a send failed */
    bool opened_once;                   /* the store was opened before (pub.started was logged) */
    bool stopping;                      /* SIGINT or SIGTERM received */
    bool failed;                        /* a fatal error: run returns -1 */
    bool reopen_writable;               /* opened read-only, writable now: reopen at the timers */
    int64_t reopened_at;                /* when it was last reopened so (at most every 5 s) */
    char problem[512];                  /* the store problem last logged, to log each once */
    char cursor_problem[512];           /* the same for cursor writes */
    char topic[CODEC_MAX_TOPIC];        /* a topic computed when a change row has none */
    uint8_t frame[CODEC_MAX_FRAME];     /* the announcement being sent */
    pub_metrics_t metrics;              /* what --metrics shows, updated every loop turn */
    monitor_t *live_monitor;            /* the live socket's one monitor: connections, handshakes */
    monitor_t *replay_monitor;          /* the replay socket's: failed handshakes */
};

static int64_t s_now(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}

/*  Logs a store problem once: the same event with the same message is not repeated until
    the problem clears, so a store missing for an hour is one line, not 3600. */
static void s_problem_in(publisher_t *self, char *last, size_t cap, log_level_t level,
                         const char *event, const char *error)
{
    char key[sizeof self->problem];
    snprintf(key, sizeof key, "%s %s", event, error ? error : "");
    if (strcmp(key, last) == 0) {
        return;
    }
    snprintf(last, cap, "%s", key);
    log_emit(level, event, "{s:s,s:s}", "path", self->db_path, "error", error ? error : "");
}

static void s_problem(publisher_t *self, log_level_t level, const char *event, const char *error)
{
    s_problem_in(self, self->problem, sizeof self->problem, level, event, error);
}

static void s_problem_clear(publisher_t *self)
{
    if (self->problem[0]) {
        log_info("pub.store_ok", "{s:s}", "path", self->db_path);
        self->problem[0] = '\0';
    }
}

/*  true if the store's last failure was another writer's lock: normal under load. */
static bool s_busy(const store_t *store)
{
    return store_errcode(store) == STORE_ERR_BUSY;
}

/*  true if we may write the store file and its -wal and -shm (those that exist). */
static bool s_writable(const char *db_path)
{
    char path[PATH_MAX];
    const char *suffixes[] = {"-wal", "-shm"};
    if (access(db_path, W_OK) != 0) {
        return false;
    }
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        snprintf(path, sizeof path, "%s%s", db_path, suffixes[i]);
        if (access(path, F_OK) == 0 && access(path, W_OK) != 0) {
            return false;
        }
    }
    return true;
}

/*  Writes the cursor to the store if it moved. A failure (a long write holding the lock) is
    logged and retried later. */
static void s_persist(publisher_t *self)
{
    if (!self->store || self->cursor == self->persisted) {
        self->persist_at = 0;
        return;
    }
    int64_t now = s_now();
    if (store_cursor_set(self->store, S_CURSOR_NAME, self->cursor, self->stream_id) == -1) {
        /* Locked by another writer: normal under load, so retried soon and not logged, as
           the loop must never wait for a lock (that would delay every announcement). */
        bool busy = s_busy(self->store);
        if (!busy) {
            s_problem_in(self, self->cursor_problem, sizeof self->cursor_problem, LOG_WARN,
                         "pub.cursor_failed", store_error(self->store));
        }
        self->persist_at = now + (busy ? S_CURSOR_RETRY_MS : S_PERSIST_MS);
        /* Not here: s_persist runs inside a replay answer, which holds the store. */
        if (store_errcode(self->store) == STORE_ERR_READONLY && s_writable(self->db_path)) {
            self->reopen_writable = true;
        }
        return;
    }
    if (self->cursor_problem[0]) {
        log_info("pub.cursor_ok", "{s:I}", "cursor", (json_int_t) self->cursor);
        self->cursor_problem[0] = '\0';
    }
    self->persisted = self->cursor;
    self->persisted_at = now;
    self->persist_at = 0;
    if (self->watch) {
        watch_caught_up(self->watch); /* our own write must not start a wait for a commit */
    }
}

/*  At the end of a backlog: persists now, or when S_PERSIST_MS has passed since the last
    write, so a trickle of single commits does not cost an fsync each. */
static void s_persist_soon(publisher_t *self)
{
    if (s_now() - self->persisted_at >= S_PERSIST_MS) {
        s_persist(self);
    } else if (!self->persist_at) {
        self->persist_at = self->persisted_at + S_PERSIST_MS;
    }
}

/*  Opens the store if it is there and loads its stream id and our cursor.
    Returns 0 when open, 1 to retry later, -1 when it must not be used (a newer schema). */
static int s_store_open(publisher_t *self)
{
    struct stat st;
    if (stat(self->db_path, &st) == -1) {
        s_problem(self, LOG_WARN, errno == ENOENT ? "pub.store_missing" : "pub.store_unavailable",
                  strerror(errno));
        return 1;
    }
    if (st.st_size == 0) {
        /* Being created right now: let its creator finish before we touch it. */
        s_problem(self, LOG_WARN, "pub.store_missing", "empty file");
        return 1;
    }
    char err[512] = "";
    pid_t holder = 0;
    int left = watch_logs_left(self->db_path, &self->old_logs, &holder);
    if (left != 0) {
        /* Opened now, the new file would be read through the old store's log. */
        if (left == 1) {
            snprintf(err, sizeof err,
                     "the replaced store's -wal and -shm are still in use (pid %ld):"
                     " the new store is opened when its last connection closes",
                     (long) holder);
        } else {
            snprintf(err, sizeof err, "the replaced store's -wal and -shm: %s", strerror(errno));
        }
        s_problem(self, LOG_WARN, "pub.store_replaced_wait", err);
        return 1;
    }
    store_err_t code = STORE_ERR_NONE;
    store_t *store = store_open(self->db_path, STORE_OPEN, &code, err, sizeof err);
    if (!store) {
        if (code == STORE_ERR_NEWER) {
            /* Retrying will not help: the service stops. */
            log_error("pub.store_refused", "{s:s,s:s}", "path", self->db_path, "error", err);
            return -1;
        }
        s_problem(self, LOG_WARN,
                  code == STORE_ERR_BUSY ? "pub.store_busy" : "pub.store_open_failed", err);
        return 1;
    }
    /* The loop must stay responsive while an operator holds a long write lock, and the
       cursor is cheap to lose (subscribers drop what they already have): no fsync for it. */
    store_probe_t *probe = NULL;
    if (stat(self->db_path, &st) == -1 || store_set_busy_timeout(store, S_BUSY_MS) != 0 ||
        store_set_durable(store, false) != 0 || store_set_cache_kib(store, S_CACHE_KIB) != 0 ||
        !(probe = store_probe_new(store))) {
        store_destroy(&store);
        return 1;
    }
    char old[sizeof self->stream_id];
    snprintf(old, sizeof old, "%s", self->stream_id);
    const char *stream_id = store_stream_id(store);
    char fresh[sizeof self->stream_id];
    snprintf(fresh, sizeof fresh, "%s", stream_id ? stream_id : "");
    int64_t cursor = 0;
    const char *cursor_stream = NULL;
    int found = store_cursor_get(store, S_CURSOR_NAME, &cursor, &cursor_stream);
    if (found == -1) {
        s_problem(self, LOG_WARN, "pub.store_busy", store_error(store));
        store_probe_destroy(&probe);
        store_destroy(&store);
        return 1;
    }
    if (found == 0) {
        cursor = 0;
    } else if (cursor_stream && *cursor_stream && strcmp(cursor_stream, fresh) != 0) {
        /* A cursor of another stream (a copied file): its seqs mean nothing here. */
        log_warn("pub.cursor_reset", "{s:s,s:s,s:I}", "cursor_stream_id", cursor_stream,
                 "stream_id", fresh, "cursor", (json_int_t) cursor);
        cursor = 0;
    }
    int64_t dv = store_data_version(store);
    int64_t head = store_head_seq(store);

    self->store = store;
    self->probe = probe;
    /* The -wal and -shm exist now (the reads above): hold them, so that a replacement of
       the file is opened only once they are gone. */
    if (watch_logs_hold(self->db_path, &self->logs) == -1) {
        log_warn("pub.watch_failed", "{s:s,s:s}", "path", self->db_path, "error", strerror(errno));
    }
    snprintf(self->stream_id, sizeof self->stream_id, "%s", fresh);
    recent_clear(self->recent); /* they may be of another stream */
    self->dev = st.st_dev;
    self->ino = st.st_ino;
    self->data_version = dv;
    self->cursor = cursor;
    self->persisted = cursor;
    self->retry_at = 0;
    if (!self->watch) {
        self->watch = watch_new(self->db_path);
        if (!self->watch) {
            log_warn("pub.watch_failed", "{s:s,s:s}", "path", self->db_path, "error",
                     strerror(errno));
        } else if (watch_commits_errno(self->watch)) {
            log_warn("pub.commit_watch_failed", "{s:s,s:s}", "path", self->db_path, "error",
                     strerror(watch_commits_errno(self->watch)));
        }
    }
    s_problem_clear(self);
    if (!self->opened_once) {
        log_info("pub.started", "{s:s,s:s,s:s,s:I,s:I,s:s?}", "bind", self->bind, "replay_bind",
                 self->replay_bind, "stream_id", self->stream_id, "cursor", (json_int_t) cursor,
                 "head", (json_int_t) head, "public_key",
                 self->public_key[0] ? self->public_key : NULL);
    } else {
        log_info(strcmp(old, fresh) ? "pub.stream_changed" : "pub.store_reopened",
                 "{s:s,s:s,s:s,s:I,s:I}", "path", self->db_path, "old_stream_id", old, "stream_id",
                 fresh, "cursor", (json_int_t) cursor, "head", (json_int_t) head);
    }
    self->opened_once = true;
    return 0;
}

/*  Closes our connection: at shutdown (S_CLOSE_PERSIST) after writing the cursor; after a
    restore (S_CLOSE_RESTORED) without writing it (the cursor is of the old stream); and when
    the file was replaced or removed (S_CLOSE_REPLACED) without a write, a checkpoint or a
    deletion, since SQLite finds the -wal and -shm by name and these may be another store's
    by now (store_abandon). Our -wal and -shm are then kept in old_logs, so that the next
    open waits until they are gone. */
typedef enum { S_CLOSE_PERSIST, S_CLOSE_RESTORED, S_CLOSE_REPLACED } s_close_t;

static void s_store_close(publisher_t *self, s_close_t how)
{
    if (self->store) {
        if (how == S_CLOSE_PERSIST) {
            s_persist(self);
        }
        store_probe_destroy(&self->probe);
        if (how == S_CLOSE_REPLACED) {
            watch_logs_release(&self->old_logs);
            self->old_logs = self->logs;
            self->logs = WATCH_LOGS_NONE;
            store_abandon(&self->store);
        } else {
            store_destroy(&self->store);
        }
    }
    watch_logs_release(&self->logs);
    self->persist_at = 0;
}

/*  Reopens the store after s_store_close; or retries later. */
static void s_store_reopen(publisher_t *self)
{
    int rc = s_store_open(self);
    if (rc == -1) {
        self->failed = true;
    } else if (rc == 1) {
        self->retry_at = s_now() + S_SETTLE_RETRY_MS;
    }
}

/*  The store was opened read-only (SQLite falls back to it when the file is not writable)
    and is writable now: a connection stays read-only, so it is reopened; the cursor in
    memory is kept if the stream is the same, so nothing is announced twice. */
static void s_store_reopen_writable(publisher_t *self)
{
    int64_t cursor = self->cursor;
    char stream[sizeof self->stream_id];
    snprintf(stream, sizeof stream, "%s", self->stream_id);
    s_store_close(self, S_CLOSE_RESTORED);
    s_store_reopen(self);
    if (self->store && strcmp(stream, self->stream_id) == 0 && self->cursor < cursor) {
        self->cursor = cursor;
        self->persist_at = s_now() + S_PERSIST_MS;
    }
}

/*  A store whose reads fail as damaged (truncated or overwritten in place, not a database any
    more) is closed like a replaced one (no write, no checkpoint: its -wal is not to be
    trusted), so that /readyz reports it and the file is free for a replacement; reopened when
    it reads as a store again. */
static void s_store_damaged(publisher_t *self, const char *error)
{
    log_error("pub.store_damaged", "{s:s,s:s}", "path", self->db_path, "error", error);
    s_store_close(self, S_CLOSE_REPLACED);
    snprintf(self->problem, sizeof self->problem, "pub.store_damaged");
    self->retry_at = s_now() + S_SETTLE_RETRY_MS;
}

/*  After a failed read: true if it failed as damaged, and then the store is closed. */
static bool s_check_damaged(publisher_t *self)
{
    store_err_t code = store_errcode(self->store);
    if (code != STORE_ERR_CORRUPT && code != STORE_ERR_NOT_STORE) {
        return false;
    }
    s_store_damaged(self, store_error(self->store));
    return true;
}

/*  Notices the store file being removed or replaced by another (a recreated store, a file
    moved onto the path): closes ours and opens the new one, or waits for one to appear. */
static void s_check_replaced(publisher_t *self)
{
    if (!self->store) {
        return;
    }
    struct stat st;
    bool gone = stat(self->db_path, &st) == -1;
    if (!gone && st.st_dev == self->dev && st.st_ino == self->ino) {
        if (st.st_size == 0) { /* truncated in place: our -wal and -shm are stale now */
            s_store_damaged(self, "the file was truncated to 0 bytes");
        }
        return;
    }
    log_warn("pub.store_replaced", "{s:s,s:s}", "path", self->db_path, "how",
             gone ? "removed" : "replaced");
    s_store_close(self, S_CLOSE_REPLACED);
    s_store_reopen(self);
}

/*  After a commit of another connection: true if it was a restore (herald-store restore
    gives the store a new stream id), and then the store is reopened as a new stream. */
static bool s_check_restored(publisher_t *self)
{
    int changed = store_probe_stream_changed(self->probe);
    if (changed != 1) {
        return false; /* an error shows in the scan that follows */
    }
    log_warn("pub.store_restored", "{s:s,s:s}", "path", self->db_path, "old_stream_id",
             self->stream_id);
    s_store_close(self, S_CLOSE_RESTORED);
    s_store_reopen(self);
    return true;
}

/*  Sends [topic][body] on the PUB socket, which never blocks (at its high-water mark a slow
    subscriber loses messages, and heals the gap by replay). 0, or -1 with errno. */
static int s_send(publisher_t *self, const char *topic, const uint8_t *body, size_t len)
{
    if (zmq_send(self->pub, topic, strlen(topic), ZMQ_SNDMORE) == -1 ||
        zmq_send(self->pub, body, len, 0) == -1) {
        return -1;
    }
    return 0;
}

/*  Publishes one change row: [topic][Announcement]. Called by store_changes. */
static int s_on_change(const store_change_t *change, void *arg)
{
    publisher_t *self = arg;
    if (change->seq <= self->cursor) {
        return 0;
    }
    const char *topic = change->topic;
    if (!topic) {
        /* The store computes the topic as of the change; this is only a fallback. */
        const char *kind = change->present ? change->event.kind : NULL;
        const char *country = change->present ? change->event.country : NULL;
        if (codec_topic(self->topic, sizeof self->topic, change->type, kind ? kind : "",
                        country ? country : "") < 0) {
            self->topic[0] = '\0';
        }
        topic = self->topic;
    }
    int len = codec_encode_change(change, self->stream_id, self->frame, sizeof self->frame);
    if (len < 0) {
        /* Cannot be announced at all; stopping here would stop the stream for good. */
        log_error("pub.encode_failed", "{s:I,s:s}", "seq", (json_int_t) change->seq, "record",
                  change->record_id ? change->record_id : "");
        self->cursor = change->seq;
        return 0;
    }
    if (s_send(self, topic, self->frame, (size_t) len) == -1) {
        self->send_errno = errno;
        return 1;
    }
    self->cursor = change->seq;
    self->published++;
    recent_put(self->recent, change->seq, topic, self->frame, (size_t) len);
    return 0;
}

static void s_heartbeat(publisher_t *self, int64_t now)
{
    self->heartbeat_at = now + self->heartbeat_ms;
    if (!self->store) {
        return; /* silence tells subscribers something is wrong */
    }
    int64_t head = store_head_seq(self->store);
    if (head >= 0) {
        metrics_set(&self->metrics.head_seq, head);
    }
    /* head_seq is what we have published, not the store's head: while a backlog is going
       out the store is ahead, and a subscriber must not think it missed those. */
    int len = codec_encode_heartbeat(self->stream_id, (uint64_t) self->cursor,
                                     clock_ms(CLOCK_REALTIME), self->frame, sizeof self->frame);
    if (len < 0) {
        return;
    }
    if (s_send(self, CODEC_HEARTBEAT_TOPIC, self->frame, (size_t) len) == -1) {
        log_warn("pub.send_failed", "{s:s}", "error", zmq_strerror(errno));
    }
}

/*  The monitors' counters of both sockets, summed into m (a socket without a monitor adds 0). */
static void s_monitor_metrics(publisher_t *self, pub_metrics_t *m)
{
    uint64_t accepts = 0, early = 0, handshakes = 0;
    monitor_t *monitors[] = {self->live_monitor, self->replay_monitor};
    for (size_t i = 0; i < sizeof monitors / sizeof monitors[0]; i++) {
        if (monitors[i]) {
            const monitor_stats_t *st = monitor_stats(monitors[i]);
            accepts += st->accepts_failed;
            early += st->closed_early;
            handshakes += st->handshakes_failed;
        }
    }
    metrics_set(&m->accepts_failed, (int64_t) accepts);
    metrics_set(&m->closed_early, (int64_t) early);
    metrics_set(&m->handshakes_failed, (int64_t) handshakes);
}

/*  Reads the sockets' monitors (failed handshakes logged, held-back lines written when due),
    copies the loop's counters into the metrics (a few relaxed stores per turn, not per
    message) and stamps the turn for /healthz. */
static void s_metrics_turn(publisher_t *self)
{
    pub_metrics_t *m = &self->metrics;
    monitor_handle(self->live_monitor);
    monitor_handle(self->replay_monitor);
    metrics_set(&m->subscribers, monitor_connected(self->live_monitor));
    s_monitor_metrics(self, m);
    metrics_set(&m->published, (int64_t) self->published);
    metrics_set(&m->replay_requests, (int64_t) self->replay_stats.requests);
    metrics_set(&m->replay_announcements, (int64_t) self->replay_stats.announcements);
    metrics_set(&m->replay_recent, (int64_t) self->replay_stats.recent);
    metrics_set(&m->replay_errors, (int64_t) self->replay_stats.cut);
    metrics_set(&m->bad_requests, (int64_t) self->replay_stats.refused);
    metrics_set(&m->cursor_seq, self->cursor);
    if (metrics_get(&m->head_seq) < self->cursor) {
        metrics_set(&m->head_seq, self->cursor);
    }
    metrics_set(&m->store_open, self->store != NULL);
    metrics_set(&m->turn_ms, s_now());
}

/*  SIGHUP: reads the client directory again (a key removed is refused on its next
    connection; connections already admitted stay). */
static void s_reload(publisher_t *self)
{
    if (!self->clients) {
        log_info("pub.reload", "{s:s}", "note", "nothing to reload");
        return;
    }
    char err[512];
    if (clients_reload(self->clients, err, sizeof err) != 0) {
        log_error("pub.reload_failed", "{s:s,s:s}", "error", err, "note",
                  "the previous client directory stays in force");
        return;
    }
    log_info("pub.reload", "{s:i}", "clients", (int) clients_count(self->clients));
}

/*  CURVE handshakes waiting for the ZAP handler, and subscriptions waiting on the live XPUB
    (ZMQ_XPUB_MANUAL: none is applied until read here). Never blocks. */
static void s_handle_access(publisher_t *self)
{
    if (self->zap) {
        zap_handle(self->zap);
    }
    if (grants_handle_xpub(self->pub, self->clients, &self->grants_live,
                           S_SUBSCRIPTIONS_PER_WAKE) == -1) {
        log_warn("pub.subscription_recv_failed", "{s:s}", "error", zmq_strerror(errno));
    }
}

static void s_handle_signal(publisher_t *self)
{
    struct signalfd_siginfo si;
    while (read(self->signal_fd, &si, sizeof si) == (ssize_t) sizeof si) {
        if (si.ssi_signo == SIGHUP) {
            s_reload(self);
        } else {
            log_info("pub.stopping", "{s:s}", "signal",
                     si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
            self->stopping = true;
        }
    }
}

/*  Answers up to max waiting replay requests. Returns the number answered. */
static int s_handle_replay(publisher_t *self, int max)
{
    for (int i = 0; i < max; i++) {
        int rc = replay_handle(self->replay, self->router, self->store,
                               self->store ? self->stream_id : "", &self->replay_stats);
        if (rc == 0) {
            return i;
        }
        if (rc == -1) {
            log_warn("pub.replay_recv_failed", "{s:s}", "error", zmq_strerror(errno));
            return i;
        }
    }
    return max;
}

/*  Between two batches of a backlog: answers waiting replay requests, notices signals, and
    keeps the heartbeat and the cursor going, so a long backlog starves nothing. */
static void s_between_batches(publisher_t *self)
{
    zmq_pollitem_t items[] = {
        {self->router, 0, ZMQ_POLLIN, 0},
        {NULL, self->signal_fd, ZMQ_POLLIN, 0},
    };
    if (zmq_poll(items, 2, 0) > 0) {
        if (items[1].revents & ZMQ_POLLIN) {
            s_handle_signal(self);
        }
        if (items[0].revents & ZMQ_POLLIN) {
            s_handle_replay(self, 1); /* one per batch: fair to both */
        }
    }
    s_handle_access(self);
    int64_t now = s_now();
    if (now >= self->heartbeat_at) {
        s_heartbeat(self, now);
    }
    if (now - self->persisted_at >= S_PERSIST_MS) {
        s_persist(self);
    }
    s_metrics_turn(self);
}

/*  Publishes up to max changes after the cursor. Returns the number of rows read, or -1 if
    the store failed (logged, retried later) or a send failed (fatal). */
static int64_t s_publish_batch(publisher_t *self, int max)
{
    self->send_errno = 0;
    int64_t n = store_changes(self->store, self->cursor, 0, max, s_on_change, self);
    if (self->send_errno) {
        log_error("pub.send_failed", "{s:s}", "error", zmq_strerror(self->send_errno));
        self->failed = true;
        return -1;
    }
    if (n < 0) {
        s_problem(self, LOG_WARN, s_busy(self->store) ? "pub.store_busy" : "pub.store_error",
                  store_error(self->store));
        self->retry_at = s_now() + S_BUSY_RETRY_MS;
        return -1;
    }
    s_problem_clear(self);
    return n;
}

/*  Publishes every change after the cursor. Returns the number of rows published, or -1
    if the store failed (logged, retried later). A signal ends it after the current batch. */
static int64_t s_publish(publisher_t *self)
{
    int64_t total = 0;
    while (self->store && !self->stopping && !self->failed) {
        int64_t before = self->cursor;
        int64_t n = s_publish_batch(self, self->batch);
        if (n < 0) {
            /* Not in s_publish_batch: a replay answer calls it with the store in hand. */
            if (!self->failed) {
                s_check_damaged(self);
            }
            total = total ? total : -1;
            break;
        }
        total += n;
        if (n < self->batch || self->cursor == before) {
            break;
        }
        s_between_batches(self);
    }
    if (total > 0) {
        s_persist_soon(self);
    }
    return total;
}

/*  A replay request reaches from `from` to `to` beyond what was published: publish that far
    first (replay_more_fn), so that the answer comes from the recent ring and the store is
    read once. Only from within what was published, so one request cannot make it publish a
    long backlog in one go; the loop publishes the rest batch by batch. */
static void s_publish_upto(void *arg, int64_t from, int64_t to)
{
    publisher_t *self = arg;
    bool published = false;
    while (self->store && !self->failed && from <= self->cursor && self->cursor < to) {
        int64_t before = self->cursor;
        int want = to - self->cursor < self->batch ? (int) (to - self->cursor) : self->batch;
        int64_t n = s_publish_batch(self, want);
        if (n <= 0 || self->cursor == before) {
            break;
        }
        published = true;
        if (n < want) {
            break;
        }
    }
    if (published) {
        s_persist_soon(self);
    }
}

/*  A wake: publishes what is there. inotify fires on the write to the -wal, which comes
    before its fsync and before the commit is visible, so a wake may find nothing yet (or
    only an earlier commit). When inotify announced a write and nothing is visible,
    watch_settle waits for data_version to move a couple of milliseconds; and after any
    write or find, re-checks follow at 2, 4, 8 ... 128 ms, so that a slow fsync or the last
    commit of a burst costs its own time and not a safety poll. */
static void s_handle_wake(publisher_t *self, bool written)
{
    if (!self->store) {
        return;
    }
    int64_t now = s_now();
    bool recheck = self->recheck_at && now >= self->recheck_at;
    /* Read before the scan: a commit that moved it is visible to the scan that follows. */
    int64_t dv = store_data_version(self->store);
    if (dv == -1) {
        if (s_check_damaged(self)) {
            return;
        }
        s_problem(self, LOG_WARN, "pub.store_error", store_error(self->store));
        self->retry_at = now + S_BUSY_RETRY_MS;
        return;
    }
    /* Another connection committed: a restore (a new stream) is taken before the scan. */
    if (dv != self->data_version && s_check_restored(self)) {
        if (!self->store) {
            return;
        }
        dv = self->data_version;
    }
    int64_t n = s_publish(self);
    if (n == 0 && written && self->store && !self->stopping) {
        int64_t later = dv;
        if (self->watch && watch_settle(self->watch, self->store, dv, &later) == 1) {
            dv = later;
            if (s_check_restored(self)) {
                if (!self->store) {
                    return;
                }
                dv = self->data_version;
            }
            n = s_publish(self);
        }
    }
    if (self->store) {
        self->data_version = dv;
    }
    if (n > 0 && self->watch) {
        watch_caught_up(self->watch); /* what is queued now was written before it */
    }
    if (!written && !recheck) {
        return; /* a timer or a replay request: leave a pending re-check as it is */
    }
    if (written || n > 0) {
        self->recheck_ms = S_RECHECK_FIRST_MS;
    } else if (self->recheck_ms * 2 <= S_RECHECK_LAST_MS) {
        self->recheck_ms *= 2;
    } else {
        self->recheck_ms = 0; /* the safety poll takes over */
    }
    self->recheck_at = self->recheck_ms ? s_now() + self->recheck_ms : 0;
}

/*  inotify: returns true if the store or its -wal was written. */
static bool s_handle_watch(publisher_t *self)
{
    int bits = watch_drain(self->watch);
    if (bits == -1) {
        log_warn("pub.watch_failed", "{s:s,s:s}", "path", self->db_path, "error", strerror(errno));
        watch_destroy(&self->watch); /* the safety poll carries on alone */
        return false;
    }
    if (bits & WATCH_REPLACED) {
        if (self->store) {
            s_check_replaced(self);
        } else {
            int64_t soon = s_now() + S_SETTLE_RETRY_MS;
            if (!self->retry_at || soon < self->retry_at) {
                self->retry_at = soon;
            }
        }
    }
    return (bits & WATCH_CHANGED) != 0;
}

static void s_handle_timers(publisher_t *self)
{
    int64_t now = s_now();
    if (self->reopen_writable) {
        self->reopen_writable = false;
        /* Rate-limited: a file SQLite still opens read-only (a directory it may not write
           its -wal into) must not be reopened at every cursor write. */
        if (self->store && now - self->reopened_at >= S_REOPEN_RW_MS) {
            self->reopened_at = now;
            s_store_reopen_writable(self);
        }
    }
    if (self->retry_at && now >= self->retry_at) {
        self->retry_at = 0;
        if (!self->store) {
            int rc = s_store_open(self);
            if (rc == -1) {
                self->failed = true;
                return;
            }
            if (rc == 1) {
                self->retry_at = now + S_MISSING_RETRY_MS;
            }
        }
        /* With the store open the retry is the wake itself: s_handle_wake publishes. */
    }
    if (now >= self->safety_at) {
        self->safety_at = now + S_SAFETY_MS;
        s_check_replaced(self);
    }
    if (self->persist_at && now >= self->persist_at) {
        s_persist(self);
    }
}

static long s_timeout(const publisher_t *self)
{
    int64_t next = self->heartbeat_at < self->safety_at ? self->heartbeat_at : self->safety_at;
    if (self->retry_at && self->retry_at < next) {
        next = self->retry_at;
    }
    if (self->persist_at && self->persist_at < next) {
        next = self->persist_at;
    }
    if (self->recheck_at && self->recheck_at < next) {
        next = self->recheck_at;
    }
    monitor_t *monitors[] = {self->live_monitor, self->replay_monitor};
    for (size_t i = 0; i < sizeof monitors / sizeof monitors[0]; i++) {
        int64_t due = monitor_due_ms(monitors[i]);
        if (due && due < next) {
            next = due;
        }
    }
    int64_t now = s_now();
    return next <= now ? 0 : (long) (next - now);
}

/*  Sets the options of a socket and binds it. 0, or -1 logged.
    A connection that stops answering is closed, so that its queue and its descriptor go:
    by ZMTP's PING and PONG when zmtp_hb_ms > 0, else by the kernel, once data sent on it has
    gone S_TCP_MAXRT_MS unacknowledged (ZMQ_TCP_MAXRT, TCP_USER_TIMEOUT on Linux). libzmq 4.3
    cancels a timer by walking all of its I/O thread's timers, and a PONG cancels one, so
    ZMTP's heartbeats cost that thread O(N) per connection per interval: at 10,000
    connections they keep it from accepting the storm (docs/performance.md, "Fan-out"). */
static int s_bind(void *socket, const char *endpoint, int sndhwm, int zmtp_hb_ms)
{
    int rc = sockopt_set_int(socket, ZMQ_SNDHWM, sndhwm);
    rc = rc ? rc : sockopt_set_int(socket, ZMQ_LINGER, S_LINGER_MS);
    rc = rc ? rc : sockopt_set_int(socket, ZMQ_BACKLOG, S_BACKLOG);
    if (zmtp_hb_ms > 0) {
        rc = rc ? rc : sockopt_set_int(socket, ZMQ_HEARTBEAT_IVL, zmtp_hb_ms);
        rc = rc ? rc : sockopt_set_int(socket, ZMQ_HEARTBEAT_TIMEOUT, 3 * zmtp_hb_ms);
        rc = rc ? rc : sockopt_set_int(socket, ZMQ_HEARTBEAT_TTL, 3 * zmtp_hb_ms);
    } else {
        rc = rc ? rc : sockopt_set_int(socket, ZMQ_TCP_MAXRT, S_TCP_MAXRT_MS);
    }
    if (strchr(endpoint, '[')) {
        rc = rc ? rc : sockopt_set_int(socket, ZMQ_IPV6, 1);
    }
    if (rc == 0) {
        rc = zmq_bind(socket, endpoint);
    }
    if (rc == -1) {
        log_error("pub.bind_failed", "{s:s,s:s}", "endpoint", endpoint, "error",
                  zmq_strerror(errno));
    }
    return rc;
}

/*  The live socket as an XPUB that hands us its subscriptions (grants.c applies them), and
    with CURVE: the client directory, the ZAP handler (bound before anyone can connect), and
    both sockets as CURVE servers. 0, or -1 logged. */
static int s_access_new(publisher_t *self, const publisher_config_t *config)
{
    int64_t maxsub = GRANTS_MAX_SUBSCRIPTION;
    if (sockopt_set_int(self->pub, ZMQ_XPUB_MANUAL, 1) == -1 ||
        zmq_setsockopt(self->pub, ZMQ_MAXMSGSIZE, &maxsub, sizeof maxsub) == -1) {
        log_error("pub.socket_failed", "{s:s}", "error", zmq_strerror(errno));
        return -1;
    }
    if (!config->curve_secret) {
        return 0;
    }
    char err[512];
    self->clients = clients_new(config->clients_dir, err, sizeof err);
    if (!self->clients) {
        log_error("pub.clients_failed", "{s:s}", "error", err);
        return -1;
    }
    self->zap = zap_new(self->ctx, self->clients);
    if (!self->zap) {
        return -1;
    }
    if (curve_server_apply(self->pub, config->curve_secret) == -1 ||
        curve_server_apply(self->router, config->curve_secret) == -1) {
        log_error("pub.curve_failed", "{s:s}", "error", zmq_strerror(errno));
        return -1;
    }
    replay_set_clients(self->replay, self->clients);
    if (zmq_curve_public(self->public_key, config->curve_secret) != 0) {
        self->public_key[0] = '\0';
    }
    log_info("pub.curve", "{s:s,s:i}", "clients_dir", config->clients_dir, "clients",
             (int) clients_count(self->clients));
    return 0;
}

/*  A socket's monitor, or NULL (logged: the service runs on without it). */
static monitor_t *s_monitor_new(publisher_t *self, void *socket, const char *name)
{
    monitor_t *monitor = monitor_new(self->ctx, socket, name);
    if (!monitor) {
        log_warn("pub.monitor_failed", "{s:s,s:s}", "socket", name, "error", zmq_strerror(errno));
    }
    return monitor;
}

publisher_t *publisher_new(const publisher_config_t *config)
{
    assert(config);
    assert(config->db_path && config->bind && config->replay_bind);
    assert(config->heartbeat_ms > 0 && config->batch > 0);
    publisher_t *self = calloc(1, sizeof *self);
    if (!self) {
        log_error("pub.out_of_memory", NULL);
        return NULL;
    }
    self->db_path = strdup(config->db_path);
    self->bind = strdup(config->bind);
    self->replay_bind = strdup(config->replay_bind);
    self->heartbeat_ms = config->heartbeat_ms;
    self->sndhwm = config->sndhwm > 0 ? config->sndhwm : 10000;
    self->zmtp_heartbeat_ms = config->zmtp_heartbeat_ms;
    self->batch = config->batch;
    self->signal_fd = config->signal_fd;
    self->logs = self->old_logs = WATCH_LOGS_NONE;
    self->replay = replay_new();
    self->recent = recent_new();
    self->ctx = zmq_ctx_new();
    if (!self->db_path || !self->bind || !self->replay_bind || !self->replay || !self->recent ||
        !self->ctx) {
        log_error("pub.out_of_memory", NULL);
        goto fail;
    }
    replay_set_recent(self->replay, self->recent, s_publish_upto, self);
    zmq_ctx_set(self->ctx, ZMQ_IO_THREADS, config->io_threads > 0 ? config->io_threads : 1);
    char err[512];
    if (realtime_enter(self->ctx, config->realtime, err, sizeof err) != 0) {
        log_error("pub.realtime_failed", "{s:s}", "error", err);
        goto fail;
    }
    self->pub = zmq_socket(self->ctx, ZMQ_XPUB);
    self->router = zmq_socket(self->ctx, ZMQ_ROUTER);
    if (!self->pub || !self->router) {
        log_error("pub.socket_failed", "{s:s}", "error", zmq_strerror(errno));
        goto fail;
    }
    int64_t maxmsg = CODEC_MAX_FRAME + 1024;
    if (zmq_setsockopt(self->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) == -1 ||
        sockopt_set_int(self->router, ZMQ_ROUTER_MANDATORY, 1) == -1) {
        log_error("pub.socket_failed", "{s:s}", "error", zmq_strerror(errno));
        goto fail;
    }
    if (s_access_new(self, config) == -1) {
        goto fail;
    }
    /* libzmq allows one monitor per socket: each serves the metrics and the logs. Started
       before binding, so that no connection is missed. */
    self->live_monitor = s_monitor_new(self, self->pub, "live");
    self->replay_monitor = s_monitor_new(self, self->router, "replay");
    if (s_bind(self->pub, self->bind, self->sndhwm, self->zmtp_heartbeat_ms) == -1 ||
        s_bind(self->router, self->replay_bind, S_ROUTER_SNDHWM, self->zmtp_heartbeat_ms) == -1) {
        goto fail;
    }
    int64_t now = s_now();
    self->heartbeat_at = now + self->heartbeat_ms;
    self->safety_at = now; /* the first wake publishes the backlog at once */
    self->persisted_at = now - S_PERSIST_MS;
    int rc = s_store_open(self);
    if (rc == -1) {
        goto fail;
    }
    if (rc == 1) {
        self->retry_at = now + S_MISSING_RETRY_MS;
    }
    return self;
fail:
    publisher_destroy(&self);
    return NULL;
}

int publisher_run(publisher_t *self)
{
    assert(self);
    while (!self->stopping && !self->failed) {
        zmq_pollitem_t items[4 + 2 + ZAP_MAX_ITEMS] = {
            {self->router, 0, ZMQ_POLLIN, 0},
            {NULL, self->signal_fd, ZMQ_POLLIN, 0},
            {NULL, self->watch ? watch_fd(self->watch) : -1, ZMQ_POLLIN, 0},
            {self->pub, 0, ZMQ_POLLIN, 0}, /* subscriptions */
        };
        int count = 4;
        void *monitors[] = {monitor_pollable(self->live_monitor),
                            monitor_pollable(self->replay_monitor)};
        for (int i = 0; i < 2; i++) {
            if (monitors[i]) {
                items[count++] = (zmq_pollitem_t){monitors[i], 0, ZMQ_POLLIN, 0};
            }
        }
        count += self->zap ? zap_pollitems(self->zap, items + count, ZAP_MAX_ITEMS) : 0;
        if (zmq_poll(items, count, s_timeout(self)) == -1) {
            if (errno == EINTR) {
                continue;
            }
            log_error("pub.poll_failed", "{s:s}", "error", zmq_strerror(errno));
            self->failed = true;
            break;
        }
        if (items[1].revents & ZMQ_POLLIN) {
            s_handle_signal(self);
            if (self->stopping) {
                break;
            }
        }
        for (int i = 3; i < count; i++) {
            if (items[i].revents & ZMQ_POLLIN) {
                s_handle_access(self);
                break;
            }
        }
        bool written = false;
        if (self->watch && (items[2].revents & ZMQ_POLLIN)) {
            written = s_handle_watch(self);
        }
        s_handle_timers(self);
        s_handle_wake(self, written);
        /* Replays and live publishing take turns: a burst of requests (each up to
           CODEC_MAX_LIMIT rows) must not hold back a fresh commit. */
        for (int i = 0; i < S_REPLAYS_PER_WAKE && (items[0].revents & ZMQ_POLLIN); i++) {
            if (s_handle_replay(self, 1) == 0) {
                break;
            }
            s_handle_wake(self, false);
        }
        int64_t now = s_now();
        if (now >= self->heartbeat_at) {
            s_heartbeat(self, now);
        }
        s_metrics_turn(self);
    }
    if (self->store) {
        store_set_busy_timeout(self->store, S_BUSY_STOP_MS);
    }
    s_persist(self);
    log_info("pub.stopped", "{s:I,s:I,s:I,s:I,s:I,s:I}", "cursor", (json_int_t) self->cursor,
             "published", (json_int_t) self->published, "replay_requests",
             (json_int_t) self->replay_stats.requests, "replayed",
             (json_int_t) self->replay_stats.announcements, "replayed_recent",
             (json_int_t) self->replay_stats.recent, "replay_cut",
             (json_int_t) self->replay_stats.cut);
    return self->failed ? -1 : 0;
}

pub_metrics_t *publisher_metrics(publisher_t *self)
{
    assert(self);
    return &self->metrics;
}

void publisher_destroy(publisher_t **self_p)
{
    assert(self_p);
    publisher_t *self = *self_p;
    if (!self) {
        return;
    }
    s_store_close(self, S_CLOSE_PERSIST);
    watch_logs_release(&self->old_logs);
    watch_destroy(&self->watch);
    replay_destroy(&self->replay);
    recent_destroy(&self->recent);
    monitor_destroy(&self->live_monitor);
    monitor_destroy(&self->replay_monitor);
    if (self->pub) {
        zmq_close(self->pub);
    }
    if (self->router) {
        zmq_close(self->router);
    }
    zap_destroy(&self->zap);
    clients_destroy(&self->clients);
    if (self->ctx) {
        zmq_ctx_term(self->ctx);
    }
    free(self->db_path);
    free(self->bind);
    free(self->replay_bind);
    free(self);
    *self_p = NULL;
}

void publisher_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        log_warn("pub.nofile_unknown", "{s:s}", "error", strerror(errno));
        return;
    }
    rlim_t was = rl.rlim_cur;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            log_warn("pub.nofile_not_raised", "{s:I, s:I, s:s}", "soft", (json_int_t) was, "hard",
                     (json_int_t) rl.rlim_max, "error", strerror(errno));
            rl.rlim_cur = was;
        }
    }
    /* a few descriptors are the store, inotify, the sockets' own; two per agency */
    json_int_t agencies = rl.rlim_cur > 64 ? (json_int_t) (rl.rlim_cur - 64) / 2 : 0;
    log_info("pub.nofile", "{s:I, s:I, s:I, s:I}", "soft", (json_int_t) rl.rlim_cur, "was",
             (json_int_t) was, "hard", (json_int_t) rl.rlim_max, "agencies_with_replay", agencies);
}
