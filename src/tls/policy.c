/* Security policies: protocol versions and cipher lists by name, as ALB's
 * ELBSecurityPolicy-* (docs/tls.md has the mapping). Only TLS 1.2 and 1.3; only ECDHE key
 * exchange (forward secrecy) and AEAD ciphers, except "compatible", which adds the
 * ECDHE CBC-SHA256/384 suites some old TLS 1.2 clients still need.
 */
#include <string.h>

#include "base/base.h"
#include "tls/internal.h"
#include "base/compat.h"

#define AEAD12                                                                              \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                            \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                            \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define SUITES13 "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
#define GROUPS "X25519:P-256:P-384"

static const tls_policy_t policies[] = {
    /* ELBSecurityPolicy-TLS13-1-2-Res-2021-06 */
    {"recommended", TLS1_2_VERSION, TLS1_3_VERSION, AEAD12, SUITES13, GROUPS},
    /* ELBSecurityPolicy-TLS13-1-3-2021-06 */
    {"tls13-only", TLS1_3_VERSION, TLS1_3_VERSION, AEAD12, SUITES13, GROUPS},
    /* ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06 */
    {"compatible", TLS1_2_VERSION, TLS1_3_VERSION,
     AEAD12 ":ECDHE-ECDSA-AES128-SHA256:ECDHE-RSA-AES128-SHA256:"
            "ECDHE-ECDSA-AES256-SHA384:ECDHE-RSA-AES256-SHA384",
     SUITES13, GROUPS},
};

const tls_policy_t *tls_policy_find(const char *name)
{
    for (size_t i = 0; i < BG_ARRAY_LEN(policies); i++)
        if (strcmp(policies[i].name, name) == 0)
            return &policies[i];
    return NULL;
}
