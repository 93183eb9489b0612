/*  frames.h -- reading one [topic][body] message of the publisher's without blocking, with
    every other shape of message drained and named (the SUB and the replay DEALER alike).
*/
#ifndef HERALD_SUB_FRAMES_H
#define HERALD_SUB_FRAMES_H

#include <stddef.h>
#include <zmq.h>

/*  Reads one message of exactly two frames (a topic of at most CODEC_MAX_TOPIC bytes) from
    socket without blocking into topic and body (initialized by the caller). Returns 1 read,
    0 nothing there, -1 a bad message (all its frames dropped, the reason in why), -2 a zmq
    failure (errno). */
int frames_recv_two(void *socket, zmq_msg_t *topic, zmq_msg_t *body, char *why, size_t cap);

/*  Copies a topic of len bytes into out (FRAMES_TOPIC_CAP bytes), NUL-terminated (a topic
    longer than CODEC_MAX_TOPIC is cut, frames_recv_two never reads one). Returns out. */
#define FRAMES_TOPIC_CAP 257 /* CODEC_MAX_TOPIC and the NUL */
const char *frames_topic(char *out, const void *data, size_t len);

#endif
