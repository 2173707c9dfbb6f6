/* The HTTP-01 challenge table (tls.h): pending token -> key authorization, written by the
 * ACME client's thread, read by proxy workers under a mutex. A few entries at a time (one
 * per host of an order), so a linear search is enough.
 */
#include "tls/tls.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/compat.h"

typedef struct chal_entry {
    char *token, *keyauth;
} chal_entry_t;

struct bg_tls_challenges {
    pthread_mutex_t lock;
    chal_entry_t *v;
    size_t n;
};

bg_tls_challenges_t *bg_tls_challenges_new(void)
{
    bg_tls_challenges_t *c = BG_NEW(bg_tls_challenges_t);

    pthread_mutex_init(&c->lock, NULL);
    return c;
}

void bg_tls_challenges_free(bg_tls_challenges_t *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n; i++) {
        free(c->v[i].token);
        free(c->v[i].keyauth);
    }
    free(c->v);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static size_t find(const bg_tls_challenges_t *c, const char *token, size_t len)
{
    for (size_t i = 0; i < c->n; i++)
        if (strlen(c->v[i].token) == len && memcmp(c->v[i].token, token, len) == 0)
            return i;
    return SIZE_MAX;
}

void bg_tls_challenges_set(bg_tls_challenges_t *c, const char *token, const char *keyauth)
{
    size_t i;

    pthread_mutex_lock(&c->lock);
    i = find(c, token, strlen(token));
    if (i == SIZE_MAX) {
        c->v = bg_xrealloc(c->v, (c->n + 1) * sizeof(*c->v));
        i = c->n++;
        c->v[i].token = bg_strdup(token);
    } else {
        free(c->v[i].keyauth);
    }
    c->v[i].keyauth = bg_strdup(keyauth);
    pthread_mutex_unlock(&c->lock);
}

void bg_tls_challenges_remove(bg_tls_challenges_t *c, const char *token)
{
    size_t i;

    pthread_mutex_lock(&c->lock);
    i = find(c, token, strlen(token));
    if (i != SIZE_MAX) {
        free(c->v[i].token);
        free(c->v[i].keyauth);
        c->v[i] = c->v[--c->n];
    }
    pthread_mutex_unlock(&c->lock);
}

size_t bg_tls_challenges_get(bg_tls_challenges_t *c, const char *token, size_t len, char *out,
                             size_t size)
{
    size_t i, n = 0;

    pthread_mutex_lock(&c->lock);
    i = find(c, token, len);
    if (i != SIZE_MAX && (n = strlen(c->v[i].keyauth)) < size)
        memcpy(out, c->v[i].keyauth, n + 1);
    else
        n = 0;
    pthread_mutex_unlock(&c->lock);
    return n;
}
