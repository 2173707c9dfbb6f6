/* Fault points (SQLite test_malloc.c style). Code calls `if (bg_fault("store.commit"))` at
 * a place that can fail; in builds with BG_FAULT_ENABLED a test arms a point to fail its
 * Nth hit (and optionally every hit after it). Release builds compile the check away.
 * Arming can also come from env BLUEGREEN_FAULTS="name:N[+],name2:M" read by
 * bg_fault_init(), so e2e tests can arm faults in a spawned daemon. Thread: any.
 */
#ifndef BG_BASE_FAULT_H
#define BG_BASE_FAULT_H

#include <stdbool.h>

#ifdef BG_FAULT_ENABLED
bool bg_fault(const char *name);
/* Arms <name> to fail on hit number <nth> (1-based); <sticky> keeps failing after it. */
void bg_fault_arm(const char *name, unsigned nth, bool sticky);
void bg_fault_reset(void);
void bg_fault_init(void);
#else
static inline bool bg_fault(const char *name)
{
    (void)name;
    return false;
}
static inline void bg_fault_arm(const char *name, unsigned nth, bool sticky)
{
    (void)name, (void)nth, (void)sticky;
}
static inline void bg_fault_reset(void)
{
}
static inline void bg_fault_init(void)
{
}
#endif

#endif
