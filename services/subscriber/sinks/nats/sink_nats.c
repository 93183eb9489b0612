/*  sink_nats.c -- the NATS JetStream sink: each record announcement published to a stream,
    in seq order, the position advanced only on JetStream's acknowledgement.

    apply() packs the announcement (the bytes the live feed carries) into the batch's buffer
    and publishes it asynchronously on its subject with two headers: Nats-Msg-Id
    "<stream_id>:<seq>" (JetStream drops a second copy within the stream's duplicate window)
    and Nats-Expected-Last-Msg-Id, the id of the message published before it (JetStream
    refuses a message whose predecessor is not the stream's last, so a message lost in flight
    can never be overtaken by its successor: the stream stays in seq order). flush() waits
    for every acknowledgement of the batch. When one is missing or refused (the server
    restarted, the connection broke), the batch is resent from its buffer: the stream's last
    message says how far it got, and what follows is published again, one at a time, until
    it is all acknowledged or S_RECOVER_MS has passed (then the sink fails and the
    subscriber stops; a restart resumes from the stream).

    The position is the stream's last message (position()): its Nats-Msg-Id names the
    announcement it carries, so a subscriber killed at any point resumes right after what
    JetStream holds, and nothing reaches the stream twice or out of order. One herald-sub
    writes a stream; nothing else may publish to its subjects.
*/
#include "sink_nats.h"

#include <errno.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "log.h"
#include "sink.h"

#define S_ID_MAX (SINK_MAX_STREAM_ID + 24) /* "<stream_id>:<seq>" and its NUL */
#define S_ACK_WAIT_MS 5000                 /* a batch's acknowledgements, at most */
#define S_RECOVER_MS 60000                 /* resending a batch, at most */
#define S_RETRY_MS 250                     /* between two attempts at resending */
#define S_MAX_PENDING 65536                /* asynchronous publishes in flight at most */
#define S_RECONNECT_BUF (64 * 1024 * 1024) /* bytes kept while reconnecting */

/*  One announcement of the batch, kept until the batch is acknowledged. */
typedef struct {
    int64_t seq;     /* its seq */
    size_t subject;  /* offset of its subject (NUL-terminated) in the batch's bytes */
    size_t data;     /* offset of its Announcement */
    size_t data_len; /* its length */
} s_item_t;

typedef struct {
    natsOptions *opts;      /* connection options (URL, credentials, reconnection) */
    natsConnection *nc;     /* the connection, reconnecting by itself */
    jsCtx *js;              /* its JetStream context */
    char stream[64];        /* the JetStream stream's name */
    char last_id[S_ID_MAX]; /* Nats-Msg-Id of the stream's last message as far as we know */
    char batch_stream[SINK_MAX_STREAM_ID]; /* the Herald stream of the batch's announcements */
    uint8_t *bytes;                        /* the batch's subjects and Announcements */
    size_t bytes_len, bytes_cap;
    s_item_t *items; /* the batch's announcements, in seq order */
    size_t item_count, item_cap;
    bool broken;          /* a publish of the batch failed: flush resends it */
    bool async_used;      /* an asynchronous publish was made: libnats has its pending list */
    pthread_mutex_t lock; /* guards the fields below, written by libnats' threads */
    int64_t acked;        /* messages acknowledged (stored) */
    int64_t duplicates;   /* acknowledged as duplicates (a resend of what the stream held) */
    int64_t refused;      /* publishes refused or unanswered (then resent) */
    int64_t resends;      /* batches resent */
    int64_t batch_errors; /* refusals in the current batch */
    char ack_error[256];  /* the first refusal of the batch */
    char error[512];      /* reason of the last failure */
} sink_nats_t;

static int64_t s_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *s_status(natsStatus s)
{
    const char *last = nats_GetLastError(NULL);
    return last && last[0] ? last : natsStatus_GetText(s);
}

//  ---------------------------------------------------------------------------------------
//  Options

int sink_nats_check(const sink_nats_options_t *o, char *err, size_t errlen)
{
    const char *url = o->url ? o->url : SINK_NATS_DEFAULT_URL;
    if (strncmp(url, "nats://", 7) != 0 && strncmp(url, "tls://", 6) != 0) {
        snprintf(err, errlen, "--nats-url: '%s' is not nats://HOST:PORT or tls://HOST:PORT", url);
        return -1;
    }
    const char *stream = o->stream ? o->stream : SINK_NATS_DEFAULT_STREAM;
    size_t len = strlen(stream);
    if (len == 0 || len >= 64 ||
        strspn(stream, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != len) {
        snprintf(err, errlen,
                 "--nats-stream: '%s' is not a stream name (letters, digits, - and _, at most 63)",
                 stream);
        return -1;
    }
    if (o->creds_file && access(o->creds_file, R_OK) != 0) {
        snprintf(err, errlen, "--nats-creds-file %s: %s", o->creds_file, strerror(errno));
        return -1;
    }
    return 0;
}

/*  Appends token (or "_" when empty) to buf at *used, with the characters a NATS token may
    not hold as '_'. */
static void s_token(char *buf, size_t cap, size_t *used, const char *token)
{
    const char *t = token && token[0] ? token : "_";
    for (; *t && *used + 1 < cap; t++) {
        char c = *t;
        bool bad =
            c == '.' || c == '*' || c == '>' || c == ' ' || c == '\t' || c == '\r' || c == '\n';
        buf[(*used)++] = bad ? '_' : c;
    }
    if (*t) {
        *used = cap; /* did not fit */
    }
}

int sink_nats_subject(char *buf, size_t cap, int type, const char *kind, const char *country)
{
    const char *prefix = type == STORE_PRESS ? "herald.press" : "herald.event.";
    size_t used = strlen(prefix);
    if (used + 1 > cap) {
        return -1;
    }
    memcpy(buf, prefix, used);
    if (type != STORE_PRESS) {
        bool full = kind && kind[0] && country && country[0];
        s_token(buf, cap, &used, full ? kind : NULL);
        if (used + 1 < cap) {
            buf[used++] = '.';
        } else {
            used = cap;
        }
        s_token(buf, cap, &used, full ? country : NULL);
    }
    if (used >= cap) {
        return -1;
    }
    buf[used] = '\0';
    return (int) used;
}

//  ---------------------------------------------------------------------------------------
//  The stream

/*  libnats' thread: the answer to one asynchronous publish. */
static void s_on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
    (void) js;
    sink_nats_t *self = closure;
    pthread_mutex_lock(&self->lock);
    if (pa) {
        self->acked++;
        self->duplicates += pa->Duplicate;
    } else {
        self->refused++;
        if (self->batch_errors++ == 0) {
            snprintf(self->ack_error, sizeof self->ack_error, "%s (%d)",
                     pae && pae->ErrText ? pae->ErrText : natsStatus_GetText(pae ? pae->Err : 0),
                     pae ? (int) pae->ErrCode : 0);
        }
    }
    pthread_mutex_unlock(&self->lock);
    natsMsg_Destroy(msg);
}

/*  Reads the stream's last message: 1 with its Herald stream id and seq (from its
    Nats-Msg-Id; id_out the whole id), 0 when the stream is empty, -1 on failure (in error). */
static int s_last(sink_nats_t *self, char *stream_id, size_t cap, int64_t *seq, char *id_out)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetStreamInfo(&si, self->js, self->stream, NULL, &jerr);
    if (s != NATS_OK) {
        snprintf(self->error, sizeof self->error, "stream %s: %s", self->stream, s_status(s));
        return -1;
    }
    uint64_t last = si->State.LastSeq;
    uint64_t count = si->State.Msgs;
    jsStreamInfo_Destroy(si);
    if (last == 0 || count == 0) {
        return 0;
    }
    natsMsg *msg = NULL;
    s = js_GetMsg(&msg, self->js, self->stream, last, NULL, &jerr);
    if (s != NATS_OK) {
        snprintf(self->error, sizeof self->error, "stream %s, message %llu: %s", self->stream,
                 (unsigned long long) last, s_status(s));
        return -1;
    }
    const char *id = NULL;
    const char *colon = NULL;
    char *end = NULL;
    long long n = -1;
    if (natsMsgHeader_Get(msg, "Nats-Msg-Id", &id) == NATS_OK && id && (colon = strrchr(id, ':')) &&
        colon != id && (size_t) (colon - id) < cap && strlen(id) < S_ID_MAX) {
        errno = 0;
        n = strtoll(colon + 1, &end, 10);
        n = errno || end == colon + 1 || *end ? -1 : n;
    }
    if (n < 1) {
        snprintf(self->error, sizeof self->error,
                 "stream %s: its last message (%llu) is not a Herald announcement (Nats-Msg-Id "
                 "'%s'); give herald-sub a stream of its own",
                 self->stream, (unsigned long long) last, id ? id : "");
        natsMsg_Destroy(msg);
        return -1;
    }
    snprintf(stream_id, cap, "%.*s", (int) (colon - id), id);
    snprintf(id_out, S_ID_MAX, "%s", id);
    *seq = n;
    natsMsg_Destroy(msg);
    return 1;
}

/*  Creates the stream when it is missing. 0 or -1 (in err). */
static int s_stream_ensure(sink_nats_t *self, char *err, size_t errlen)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetStreamInfo(&si, self->js, self->stream, NULL, &jerr);
    if (s == NATS_OK) {
        jsStreamInfo_Destroy(si);
        return 0;
    }
    if (s != NATS_NOT_FOUND && jerr != JSStreamNotFoundErr) {
        snprintf(err, errlen, "stream %s: %s", self->stream, s_status(s));
        return -1;
    }
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    const char *subjects[] = {SINK_NATS_SUBJECTS};
    cfg.Name = self->stream;
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    cfg.Duplicates = (int64_t) SINK_NATS_DUPLICATES_S * 1000 * 1000 * 1000; /* ns */
    s = js_AddStream(&si, self->js, &cfg, NULL, &jerr);
    if (s != NATS_OK) {
        snprintf(err, errlen, "creating stream %s: %s", self->stream, s_status(s));
        return -1;
    }
    jsStreamInfo_Destroy(si);
    log_info("sub.nats_stream_created", "{s:s, s:s, s:i}", "stream", self->stream, "subjects",
             SINK_NATS_SUBJECTS, "duplicate_window_s", SINK_NATS_DUPLICATES_S);
    return 0;
}

//  ---------------------------------------------------------------------------------------
//  The batch

static int s_reserve(sink_nats_t *self, size_t more)
{
    if (self->bytes_len + more > self->bytes_cap) {
        size_t cap = self->bytes_cap ? self->bytes_cap : 64 * 1024;
        while (cap < self->bytes_len + more) {
            cap *= 2;
        }
        uint8_t *bytes = realloc(self->bytes, cap);
        if (!bytes) {
            return -1;
        }
        self->bytes = bytes;
        self->bytes_cap = cap;
    }
    if (self->item_count == self->item_cap) {
        size_t cap = self->item_cap ? self->item_cap * 2 : 1024;
        s_item_t *items = realloc(self->items, cap * sizeof *items);
        if (!items) {
            return -1;
        }
        self->items = items;
        self->item_cap = cap;
    }
    return 0;
}

static void s_msg_id(char *buf, const char *stream_id, int64_t seq)
{
    snprintf(buf, S_ID_MAX, "%s:%lld", stream_id, (long long) seq);
}

/*  Publishes item i of the batch: asynchronously (sync false) or waiting for its
    acknowledgement. Moves last_id to it on success. 0 or -1 (in error). */
static int s_publish(sink_nats_t *self, size_t i, bool sync)
{
    const s_item_t *item = &self->items[i];
    char id[S_ID_MAX];
    s_msg_id(id, self->batch_stream, item->seq);
    natsMsg *msg = NULL;
    natsStatus s = natsMsg_Create(&msg, (const char *) self->bytes + item->subject, NULL,
                                  (const char *) self->bytes + item->data, (int) item->data_len);
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = id;
    po.ExpectLastMsgId = self->last_id[0] ? self->last_id : NULL;
    if (s == NATS_OK && !sync) {
        self->async_used = true;
        s = js_PublishMsgAsync(self->js, &msg, &po);
    } else if (s == NATS_OK) {
        jsPubAck *pa = NULL;
        jsErrCode jerr = 0;
        po.MaxWait = S_ACK_WAIT_MS;
        s = js_PublishMsg(&pa, self->js, msg, &po, &jerr);
        if (pa) {
            pthread_mutex_lock(&self->lock);
            self->acked++;
            self->duplicates += pa->Duplicate;
            pthread_mutex_unlock(&self->lock);
        }
        jsPubAck_Destroy(pa);
    }
    natsMsg_Destroy(msg); /* NULL when the library took it */
    if (s != NATS_OK) {
        snprintf(self->error, sizeof self->error, "publish %s: %s", id, s_status(s));
        return -1;
    }
    memcpy(self->last_id, id, sizeof id);
    return 0;
}

/*  The kind and country of an event topic, "event.<kind>.<country>." (each cap bytes at
    most with its NUL). 0, or -1 when topic is not one (NULL, "", or another form). */
static int s_topic_route(const char *topic, char *kind, char *country, size_t cap)
{
    size_t prefix = strlen(CODEC_EVENT_TOPIC);
    if (!topic || strncmp(topic, CODEC_EVENT_TOPIC, prefix) != 0) {
        return -1;
    }
    const char *k = topic + prefix;
    const char *dot = strchr(k, '.');
    if (!dot || dot == k || (size_t) (dot - k) >= cap) {
        return -1;
    }
    const char *c = dot + 1;
    const char *end = strchr(c, '.');
    if (!end || end == c || end[1] != '\0' || (size_t) (end - c) >= cap) {
        return -1;
    }
    memcpy(kind, k, (size_t) (dot - k));
    kind[dot - k] = '\0';
    memcpy(country, c, (size_t) (end - c));
    country[end - c] = '\0';
    return 0;
}

static int s_apply(void *self_, const announcement_t *a, const char *topic)
{
    sink_nats_t *self = self_;
    char subject[SINK_NATS_MAX_SUBJECT];
    int subject_len;
    if (a->body_case == HERALD__V1__ANNOUNCEMENT__BODY_EVENT) {
        const char *kind = a->event->kind, *country = a->event->country;
        char from_topic[2][SINK_NATS_MAX_SUBJECT];
        if ((!kind || !kind[0] || !country || !country[0]) &&
            s_topic_route(topic, from_topic[0], from_topic[1], sizeof from_topic[0]) == 0) {
            kind = from_topic[0]; /* an id-only body: the topic it came on routes it */
            country = from_topic[1];
        }
        subject_len = sink_nats_subject(subject, sizeof subject, STORE_EVENT, kind, country);
    } else if (a->body_case == HERALD__V1__ANNOUNCEMENT__BODY_PRESS_RELEASE) {
        subject_len = sink_nats_subject(subject, sizeof subject, STORE_PRESS, NULL, NULL);
    } else {
        return 0; /* not a record change */
    }
    size_t len = herald__v1__announcement__get_packed_size(a);
    if (subject_len < 0 || s_reserve(self, (size_t) subject_len + 1 + len) != 0) {
        snprintf(self->error, sizeof self->error, "seq %llu: %s", (unsigned long long) a->seq,
                 subject_len < 0 ? "subject too long" : "out of memory");
        return -1;
    }
    if (self->item_count == 0) {
        snprintf(self->batch_stream, sizeof self->batch_stream, "%s", a->stream_id);
    }
    s_item_t *item = &self->items[self->item_count++];
    item->seq = (int64_t) a->seq;
    item->subject = self->bytes_len;
    memcpy(self->bytes + self->bytes_len, subject, (size_t) subject_len + 1);
    self->bytes_len += (size_t) subject_len + 1;
    item->data = self->bytes_len;
    item->data_len = herald__v1__announcement__pack(a, self->bytes + self->bytes_len);
    self->bytes_len += item->data_len;
    if (!self->broken && s_publish(self, self->item_count - 1, false) != 0) {
        /* the batch is resent at flush, from the buffer */
        log_warn("sub.nats_publish_failed", "{s:s}", "error", self->error);
        self->broken = true;
    }
    return 0;
}

/*  Drops what libnats still waits an acknowledgement for: the batch is resent instead. */
static void s_drop_pending(sink_nats_t *self)
{
    natsMsgList pending;
    memset(&pending, 0, sizeof pending);
    if (self->async_used && js_PublishAsyncGetPendingList(&pending, self->js) == NATS_OK) {
        natsMsgList_Destroy(&pending);
    }
}

/*  Publishes again, one at a time, whatever of the batch the stream does not hold, until
    done or S_RECOVER_MS passed. 0 or -1 (in error). */
static int s_resend(sink_nats_t *self)
{
    self->resends++;
    s_drop_pending(self);
    int64_t until = s_mono_ms() + S_RECOVER_MS;
    int attempts = 0;
    for (;;) {
        char stream_id[SINK_MAX_STREAM_ID] = "";
        char id[S_ID_MAX] = "";
        int64_t seq = 0;
        int found = s_last(self, stream_id, sizeof stream_id, &seq, id);
        if (found >= 0) {
            snprintf(self->last_id, sizeof self->last_id, "%s", found ? id : "");
            bool same = found == 1 && strcmp(stream_id, self->batch_stream) == 0;
            size_t i = 0;
            while (i < self->item_count && same && self->items[i].seq <= seq) {
                i++; /* held by the stream already */
            }
            while (i < self->item_count && s_publish(self, i, true) == 0) {
                i++;
            }
            if (i == self->item_count) {
                log_info("sub.nats_resent", "{s:s, s:i}", "stream", self->stream, "attempts",
                         attempts + 1);
                return 0;
            }
        }
        if (attempts++ == 0) {
            log_warn("sub.nats_resending", "{s:s, s:s}", "stream", self->stream, "error",
                     self->error);
        }
        if (s_mono_ms() >= until) {
            return -1;
        }
        usleep(S_RETRY_MS * 1000);
    }
}

static void s_batch_clear(sink_nats_t *self)
{
    self->bytes_len = 0;
    self->item_count = 0;
    self->broken = false;
    pthread_mutex_lock(&self->lock);
    self->batch_errors = 0;
    self->ack_error[0] = '\0';
    pthread_mutex_unlock(&self->lock);
}

static int s_flush(void *self_, const char *stream_id, int64_t last_seq)
{
    (void) stream_id;
    (void) last_seq; /* the position is the stream's last message */
    sink_nats_t *self = self_;
    if (self->item_count == 0) {
        return 0;
    }
    if (!self->broken) {
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MaxWait = S_ACK_WAIT_MS;
        natsStatus s = js_PublishAsyncComplete(self->js, &po);
        pthread_mutex_lock(&self->lock);
        int64_t errors = self->batch_errors;
        if (errors) {
            snprintf(self->error, sizeof self->error, "refused: %s", self->ack_error);
        }
        pthread_mutex_unlock(&self->lock);
        if (s != NATS_OK) {
            snprintf(self->error, sizeof self->error, "acknowledgements: %s", s_status(s));
        }
        self->broken = s != NATS_OK || errors > 0;
    }
    if (self->broken && s_resend(self) != 0) {
        char why[256];
        snprintf(why, sizeof why, "%.255s", self->error);
        snprintf(self->error, sizeof self->error, "stream %s: not acknowledged within %d s: %s",
                 self->stream, S_RECOVER_MS / 1000, why);
        return -1;
    }
    s_batch_clear(self);
    return 0;
}

static int s_position(void *self_, char *stream_id_out, size_t cap, int64_t *seq_out)
{
    sink_nats_t *self = self_;
    return s_last(self, stream_id_out, cap, seq_out, self->last_id);
}

static int s_reset(void *self_)
{
    /*  A new Herald stream: its ids differ from the old one's, whose messages stay in the
        JetStream stream, before the new ones. Nothing to forget. */
    (void) self_;
    return 0;
}

/*  In the order of s_metrics. */
static void s_stats(void *self_, int64_t *values)
{
    sink_nats_t *self = self_;
    pthread_mutex_lock(&self->lock);
    values[0] = self->acked;
    values[1] = self->duplicates;
    values[2] = self->refused;
    values[3] = self->resends;
    pthread_mutex_unlock(&self->lock);
}

static const char *s_error(void *self_)
{
    sink_nats_t *self = self_;
    return self->error;
}

static void s_destroy(void **self_p)
{
    if (self_p && *self_p) {
        sink_nats_t *self = *self_p;
        if (self->js) {
            s_drop_pending(self); /* a batch never flushed is not waited for */
            log_info("sub.nats_stopped", "{s:s, s:I, s:I, s:I}", "stream", self->stream, "acked",
                     (json_int_t) self->acked, "duplicates", (json_int_t) self->duplicates,
                     "resends", (json_int_t) self->resends);
        }
        jsCtx_Destroy(self->js);
        natsConnection_Destroy(self->nc);
        natsOptions_Destroy(self->opts);
        pthread_mutex_destroy(&self->lock);
        free(self->bytes);
        free(self->items);
        free(self);
        *self_p = NULL;
        nats_CloseAndWait(2000); /* libnats' threads and memory; one sink per process */
    }
}

/*  Connects and creates the stream if missing. 0 or -1 (in err). */
static int s_connect(sink_nats_t *self, const sink_nats_options_t *o, char *err, size_t errlen)
{
    const char *url = o->url ? o->url : SINK_NATS_DEFAULT_URL;
    const char *token = o->token;
    natsStatus s = natsOptions_Create(&self->opts);
    s = s == NATS_OK ? natsOptions_SetURL(self->opts, url) : s;
    s = s == NATS_OK ? natsOptions_SetName(self->opts, "herald-sub") : s;
    s = s == NATS_OK ? natsOptions_SetMaxReconnect(self->opts, -1) : s;
    s = s == NATS_OK ? natsOptions_SetReconnectWait(self->opts, S_RETRY_MS) : s;
    s = s == NATS_OK ? natsOptions_SetReconnectBufSize(self->opts, S_RECONNECT_BUF) : s;
    if (s == NATS_OK && token) {
        s = natsOptions_SetToken(self->opts, token);
    }
    if (s == NATS_OK && o->creds_file) {
        s = natsOptions_SetUserCredentialsFromFiles(self->opts, o->creds_file, NULL);
    }
    if (s == NATS_OK) {
        s = natsConnection_Connect(&self->nc, self->opts);
    }
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = S_MAX_PENDING;
    jo.PublishAsync.AckHandler = s_on_ack;
    jo.PublishAsync.AckHandlerClosure = self;
    jo.PublishAsync.StallWait = S_ACK_WAIT_MS;
    if (s == NATS_OK) {
        s = natsConnection_JetStream(&self->js, self->nc, &jo);
    }
    if (s != NATS_OK) {
        snprintf(err, errlen, "%s: %s", url, s_status(s));
        return -1;
    }
    return s_stream_ensure(self, err, errlen);
}

static sink_t *s_open_sink(const sink_options_t *options, char *err, size_t errlen)
{
    const sink_nats_options_t *o = &options->nats;
    if (sink_nats_check(o, err, errlen) != 0) {
        return NULL;
    }
    sink_t *sink = calloc(1, sizeof *sink);
    sink_nats_t *self = calloc(1, sizeof *self);
    if (!sink || !self) {
        snprintf(err, errlen, "out of memory");
        free(sink);
        free(self);
        return NULL;
    }
    pthread_mutex_init(&self->lock, NULL);
    snprintf(self->stream, sizeof self->stream, "%s",
             o->stream ? o->stream : SINK_NATS_DEFAULT_STREAM);
    char why[512];
    if (s_connect(self, o, why, sizeof why) != 0) {
        snprintf(err, errlen, "--sink nats: %s", why);
        void *p = self;
        s_destroy(&p);
        free(sink);
        return NULL;
    }
    log_info("sub.nats_connected", "{s:s, s:s}", "url", o->url ? o->url : SINK_NATS_DEFAULT_URL,
             "stream", self->stream);
    *sink = (sink_t){.name = "nats",
                     .self = self,
                     .apply = s_apply,
                     .flush = s_flush,
                     .position = s_position,
                     .reset = s_reset,
                     .stats = s_stats,
                     .error = s_error,
                     .destroy = s_destroy};
    return sink;
}

static int s_check(const sink_options_t *options, char *err, size_t errlen)
{
    return sink_nats_check(&options->nats, err, errlen);
}

static const sink_metric_t s_metrics[] = {
    {"herald_sub_nats_acked_total", "Announcements acknowledged by JetStream.", METRICS_COUNTER, 0},
    {"herald_sub_nats_duplicates_total",
     "Announcements JetStream already held (a resend dropped by its duplicate window).",
     METRICS_COUNTER, 0},
    {"herald_sub_nats_refused_total", "Publishes refused or not acknowledged in time (resent).",
     METRICS_COUNTER, 0},
    {"herald_sub_nats_resends_total", "Batches resent after a missing acknowledgement.",
     METRICS_COUNTER, 0},
};

const sink_type_t sink_nats_type = {
    .name = "nats",
    .options = sink_nats_options,
    .options_offset = offsetof(sink_options_t, nats),
    .default_from = "start",
    .needs_state = NULL,
    .open = s_open_sink,
    .metrics = s_metrics,
    .metric_count = sizeof s_metrics / sizeof s_metrics[0],
    .check = s_check,
};
