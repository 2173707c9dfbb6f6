/* sample-app WebSocket handshake: only the accept key (RFC 6455 §4.2.2); after the 101 the
 * connection echoes raw bytes, which is all the proxy's Upgrade tunnel tests need. */
#include "sampleapp/internal.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

void sa_ws_accept(const char *key, char *out, size_t size)
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char digest[SHA_DIGEST_LENGTH];
    unsigned char b64[4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1];
    char *joined = bg_asprintf("%s%s", key, guid);
    SHA1((const unsigned char *)joined, strlen(joined), digest);
    free(joined);
    EVP_EncodeBlock(b64, digest, SHA_DIGEST_LENGTH);
    snprintf(out, size, "%s", (const char *)b64);
}
