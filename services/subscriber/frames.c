/*  frames.c -- one [topic][body] message read without blocking; other shapes drained. */
#include "frames.h"

#include <string.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>

#include "codec.h"

int frames_recv_two(void *socket, zmq_msg_t *topic, zmq_msg_t *body, char *why, size_t cap)
{
    if (zmq_msg_recv(topic, socket, ZMQ_DONTWAIT) < 0) {
        return errno == EAGAIN || errno == EINTR ? 0 : -2;
    }
    int frames = 1;
    bool more = zmq_msg_more(topic);
    if (more) {
        zmq_msg_recv(body, socket, 0); /* the rest of a message is there already */
        frames++;
        more = zmq_msg_more(body);
    }
    if (!more && frames == 2 && zmq_msg_size(topic) <= CODEC_MAX_TOPIC) {
        return 1;
    }
    while (more) {
        zmq_msg_t extra;
        zmq_msg_init(&extra);
        zmq_msg_recv(&extra, socket, 0);
        more = zmq_msg_more(&extra);
        zmq_msg_close(&extra);
        frames++;
    }
    if (frames != 2) {
        snprintf(why, cap, "%d frames, not 2", frames);
    } else {
        snprintf(why, cap, "topic of %zu bytes", zmq_msg_size(topic));
    }
    return -1;
}

const char *frames_topic(char *out, const void *data, size_t len)
{
    if (len > FRAMES_TOPIC_CAP - 1) {
        len = FRAMES_TOPIC_CAP - 1;
    }
    memcpy(out, data, len);
    out[len] = '\0';
    return out;
}
