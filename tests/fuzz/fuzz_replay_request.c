/*  fuzz_replay_request.c -- libFuzzer target: the publisher's replay request handling
    (replay_answer: decoding, bounds, grants, the answer) on a sample store, with the answer
    checked instead of sent.

    The first byte picks who asks (its two low bits): a client without CURVE, an agency
    without grants, one granted "press." and "event.conference.", or an agency no longer in
    the directory; and (bit 2) whether the publisher holds its announcements in the recent ring
    or reads them from the store. The rest is the ReplayRequest frame. Every answer must end
    with exactly one replay.end, and a restricted agency must never be sent a topic outside
    its grants, alone or inside a ReplayBatch (whose items must decode).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clients.h"
#include "codec.h"
#include "log.h"
#include "recent.h"
#include "replay.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static store_t *s_store;
static replay_t *s_replay;
static recent_t *s_recent;
static codec_decoder_t *s_decoder;
static clients_t *s_clients;

typedef struct {
    int ends;        /* replay.end messages */
    int after_end;   /* messages after the replay.end */
    bool press_only; /* the asker is granted press. and event.conference. only */
} s_answer_t;

static void s_check_topic(const s_answer_t *answer, const char *topic)
{
    if (answer->press_only && strncmp(topic, "press.", 6) != 0 &&
        strncmp(topic, "event.conference.", 17) != 0) {
        fprintf(stderr, "topic %s sent outside the grants\n", topic);
        abort();
    }
}

/*  Every item of a ReplayBatch decodes, and its topic is within the grants. */
static void s_check_batch(const s_answer_t *answer, const uint8_t *body, size_t len)
{
    size_t pos = 0, item_len = 0;
    const uint8_t *item = NULL;
    char why[256], topic[CODEC_MAX_TOPIC];
    int rc;
    while ((rc = codec_batch_next(body, len, &pos, &item, &item_len, why, sizeof why)) == 1) {
        const announcement_t *a = codec_decode(s_decoder, item, item_len, why, sizeof why);
        if (!a) {
            fprintf(stderr, "a batched announcement does not decode: %s\n", why);
            abort();
        }
        bool event = a->body_case == HERALD__V1__ANNOUNCEMENT__BODY_EVENT;
        if (codec_is_id_only(a)) {
            continue; /* its topic is the change's, not derivable from an id */
        }
        if (codec_topic(topic, sizeof topic, event ? STORE_EVENT : STORE_PRESS,
                        event ? a->event->kind : "", event ? a->event->country : "") < 0) {
            abort();
        }
        s_check_topic(answer, topic);
    }
    if (rc != 0) {
        fprintf(stderr, "not a ReplayBatch: %s\n", why);
        abort();
    }
}

static int s_send(void *arg, const char *topic, const uint8_t *body, size_t len)
{
    s_answer_t *answer = arg;
    if (answer->ends) {
        answer->after_end++;
    }
    if (strcmp(topic, CODEC_REPLAY_END_TOPIC) == 0) {
        answer->ends++;
    } else if (strcmp(topic, CODEC_REPLAY_BATCH_TOPIC) == 0) {
        s_check_batch(answer, body, len);
    } else {
        s_check_topic(answer, topic);
    }
    return 0;
}

/*  Fills the ring with the store's changes, encoded as the publisher would publish them. */
static int s_hold(const store_change_t *change, void *arg)
{
    static uint8_t frame[CODEC_MAX_FRAME];
    (void) arg;
    int len = codec_encode_change(change, store_stream_id(s_store), frame, sizeof frame);
    if (len < 0) {
        abort();
    }
    recent_put(s_recent, change->seq, change->topic, frame, (size_t) len);
    return 0;
}

static void s_setup(void)
{
    char err[512];
    log_setup(LOG_ERROR, 0);
    s_store = store_new(":memory:", STORE_CREATE, err, sizeof err);
    if (!s_store || store_load_sample(s_store) != 0) {
        fprintf(stderr, "fuzz: store: %s\n", s_store ? store_error(s_store) : err);
        abort();
    }
    char dir[] = "/tmp/herald-fuzz-XXXXXX";
    if (!mkdtemp(dir)) {
        abort();
    }
    char path[256];
    const char *files[][2] = {
        {"all.pub", "0xRzWr46o-9NVTa0XEEZMYr}c}:(CTvHz{Y<j6A5\n"},
        {"press.pub", "y:>kYhR-ve1-c[J!bE8v2Q[xlKcTSAv{0+*bS+Ny\ngrant press.\n"
                      "grant event.conference.\n"},
    };
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i][0]);
        FILE *f = fopen(path, "w");
        if (!f) {
            abort();
        }
        fputs(files[i][1], f);
        fclose(f);
    }
    s_clients = clients_new(dir, err, sizeof err);
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i][0]);
        unlink(path);
    }
    rmdir(dir);
    s_replay = replay_new();
    s_recent = recent_new();
    s_decoder = codec_decoder_new();
    if (!s_recent || !s_decoder || store_changes(s_store, 0, 0, 0, s_hold, NULL) < 0) {
        abort();
    }
    if (!s_clients || clients_count(s_clients) != 2 || !s_replay) {
        fprintf(stderr, "fuzz: setup failed: %s\n", err);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!s_store) {
        s_setup();
    }
    if (size == 0) {
        return 0;
    }
    static const char *const agencies[] = {NULL, "all", "press", "left"};
    int who = data[0] & 3;
    replay_set_clients(s_replay, who == 0 ? NULL : s_clients);
    replay_set_recent(s_replay, data[0] & 4 ? s_recent : NULL, NULL, NULL);
    s_answer_t answer = {0, 0, who == 2};
    replay_stats_t stats = {0};
    replay_answer(s_replay, data + 1, size - 1, s_store, store_stream_id(s_store), agencies[who],
                  s_send, &answer, &stats);
    if (answer.ends != 1 || answer.after_end != 0 || stats.requests != 1) {
        fprintf(stderr, "fuzz: %d replay.end, %d after it\n", answer.ends, answer.after_end);
        abort();
    }
    return 0;
}
