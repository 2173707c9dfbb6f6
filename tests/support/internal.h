/* Helpers shared by the files of tests/support; not part of support.h. */
#ifndef BG_TESTS_SUPPORT_INTERNAL_H
#define BG_TESTS_SUPPORT_INTERNAL_H

/* Sleeps <ms> milliseconds, resuming after signals. Only for polling loops with a
 * deadline, never to wait for something to happen. */
void bgt_sleep_ms(int ms);

#endif
