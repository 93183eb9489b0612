/*  nats_read.c -- reads a JetStream stream back for tests/integration/test_nats.py (Debian
    packages no NATS client for Python nor the nats CLI): every message from the first to the
    last, one line each, "<stream seq> <subject> <Nats-Msg-Id> <data as hex>".

    usage: nats_read URL STREAM. Exit status 0, 1 on a failure (the reason on stderr).
*/
#include <nats/nats.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: nats_read URL STREAM\n");
        return 2;
    }
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = natsConnection_ConnectTo(&nc, argv[1]);
    s = s == NATS_OK ? natsConnection_JetStream(&js, nc, NULL) : s;
    s = s == NATS_OK ? js_GetStreamInfo(&si, js, argv[2], NULL, &jerr) : s;
    for (uint64_t seq = si ? si->State.FirstSeq : 1;
         s == NATS_OK && si && si->State.Msgs && seq <= si->State.LastSeq; seq++) {
        natsMsg *msg = NULL;
        s = js_GetMsg(&msg, js, argv[2], seq, NULL, &jerr);
        if (s == NATS_NOT_FOUND || jerr == JSNoMessageFoundErr) {
            s = NATS_OK; /* deleted: not ours to judge here */
            continue;
        }
        if (s != NATS_OK) {
            break;
        }
        const char *id = NULL;
        natsMsgHeader_Get(msg, "Nats-Msg-Id", &id);
        printf("%llu %s %s ", (unsigned long long) seq, natsMsg_GetSubject(msg), id ? id : "-");
        const unsigned char *data = (const unsigned char *) natsMsg_GetData(msg);
        for (int i = 0; i < natsMsg_GetDataLength(msg); i++) {
            printf("%02x", data[i]);
        }
        printf("\n");
        natsMsg_Destroy(msg);
    }
    if (s != NATS_OK) {
        fprintf(stderr, "nats_read: %s (%d)\n", nats_GetLastError(NULL), (int) jerr);
    }
    jsStreamInfo_Destroy(si);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    nats_Close();
    return s == NATS_OK ? 0 : 1;
}
