/*  fuzz_replay_request.c -- libFuzzer target: the publisher's replay request handling
    (replay_answer: decoding, bounds, grants, the answer) on a sample store, with the answer
    checked instead of sent.

    The first byte picks who asks: a client without CURVE, an agency without grants, one
    granted "press." and "event.conference.", or an agency no longer in the directory. The
    rest is the ReplayRequest frame. Every answer must end with exactly one replay.end, and a
    restricted agency must never be sent a topic outside its grants.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clients.h"
#include "codec.h"
#include "log.h"
#include "replay.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static store_t *s_store;
static replay_t *s_replay;
static clients_t *s_clients;

typedef struct {
    int ends;       /* replay.end messages */
    int after_end;  /* messages after the replay.end */
    bool press_only; /* the asker is granted press. and event.conference. only */
} s_answer_t;

static int s_send(void *arg, const char *topic, const uint8_t *body, size_t len)
{
    s_answer_t *answer = arg;
    (void) body;
    (void) len;
    if (answer->ends) {
        answer->after_end++;
    }
    if (strcmp(topic, CODEC_REPLAY_END_TOPIC) == 0) {
        answer->ends++;
    } else if (answer->press_only && strncmp(topic, "press.", 6) != 0 &&
               strncmp(topic, "event.conference.", 17) != 0) {
        fprintf(stderr, "topic %s sent outside the grants\n", topic);
        abort();
    }
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
    s_answer_t answer = {0, 0, who == 2};
    replay_stats_t stats = {0};
    replay_answer(s_replay, data + 1, size - 1, s_store, store_stream_id(s_store),
                  agencies[who], s_send, &answer, &stats);
    if (answer.ends != 1 || answer.after_end != 0 || stats.requests != 1) {
        fprintf(stderr, "fuzz: %d replay.end, %d after it\n", answer.ends, answer.after_end);
        abort();
    }
    return 0;
}
