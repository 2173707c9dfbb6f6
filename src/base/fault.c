/* Fault points: see fault.h. A small fixed table guarded by a mutex: faults are a test
 * facility and are never hit on the request path of a release build. */
#include "base/fault.h"

#ifdef BG_FAULT_ENABLED
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAULT_MAX 32

static struct {
    char name[64];
    unsigned nth, hits;
    bool sticky;
} faults[FAULT_MAX];
static unsigned n_faults;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

bool bg_fault(const char *name)
{
    bool fail = false;

    if (__atomic_load_n(&n_faults, __ATOMIC_RELAXED) == 0)
        return false;
    pthread_mutex_lock(&lock);
    for (unsigned i = 0; i < n_faults; i++) {
        if (strcmp(faults[i].name, name) != 0)
            continue;
        faults[i].hits++;
        fail = faults[i].hits == faults[i].nth || (faults[i].sticky && faults[i].hits > faults[i].nth);
    }
    pthread_mutex_unlock(&lock);
    return fail;
}

void bg_fault_arm(const char *name, unsigned nth, bool sticky)
{
    pthread_mutex_lock(&lock);
    if (n_faults < FAULT_MAX) {
        snprintf(faults[n_faults].name, sizeof(faults[n_faults].name), "%s", name);
        faults[n_faults].nth = nth;
        faults[n_faults].hits = 0;
        faults[n_faults].sticky = sticky;
        __atomic_store_n(&n_faults, n_faults + 1, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&lock);
}

void bg_fault_reset(void)
{
    pthread_mutex_lock(&lock);
    __atomic_store_n(&n_faults, 0, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&lock);
}

void bg_fault_init(void)
{
    const char *env = getenv("BLUEGREEN_FAULTS");
    char copy[512], *save = NULL;

    if (env == NULL)
        return;
    snprintf(copy, sizeof(copy), "%s", env);
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(tok, ':');
        unsigned long nth = 1;
        bool sticky = false;
        if (colon != NULL) {
            *colon = '\0';
            nth = strtoul(colon + 1, NULL, 10);
            sticky = strchr(colon + 1, '+') != NULL;
        }
        bg_fault_arm(tok, nth ? (unsigned)nth : 1, sticky);
    }
}
#endif
