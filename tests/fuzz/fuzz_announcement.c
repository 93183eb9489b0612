/*  fuzz_announcement.c -- libFuzzer target: bytes from the network decoded and validated as
    an Announcement and as a ReplayRequest (codec_fuzz_one aborts when the codec accepts
    something its own validation refuses).
*/
#include <stddef.h>
#include <stdint.h>

#include "codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (data == NULL) {
        return 0; /* codec_fuzz_one(NULL, 0) would free its decoder */
    }
    return codec_fuzz_one(data, size);
}
