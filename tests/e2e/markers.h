/* e2e: the instances a daemon started, found the way bluegreen finds them (the
 * BLUEGREEN_STATE_DIR marker in their environment), to assert that none is orphaned: every
 * process carrying the marker of a state_dir is a target the daemon lists. Test code only.
 */
#ifndef BG_TESTS_E2E_MARKERS_H
#define BG_TESTS_E2E_MARKERS_H

#include <stdbool.h>
#include <sys/types.h>

#include "e2e/deploy_fixture.h"

/* Pids of live processes whose environment has BLUEGREEN_STATE_DIR=<state_dir>, sorted
 * ascending; returns how many (at most <max>). */
int mk_pids(const char *state_dir, pid_t *pids, int max);
/* Waits up to <timeout_ms> until the marked processes of <f>'s state_dir are exactly the
 * pids of the targets the daemon lists (both slots). False (with both lists in <why>) if
 * not. */
bool mk_wait_no_orphans(dfx_t *f, int timeout_ms, char *why, size_t why_size);
/* SIGKILL to the process group of every marked process of <state_dir> (test clean-up). */
void mk_kill_all(const char *state_dir);

#endif
