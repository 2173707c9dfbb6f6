/* Intrusive doubly linked list (circular, with a head node). Thread: owner's. */
#ifndef BG_BASE_LIST_H
#define BG_BASE_LIST_H

#include <stdbool.h>
#include <stddef.h>

typedef struct bg_list {
    struct bg_list *prev, *next;
} bg_list_t;

#define BG_CONTAINER_OF(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

static inline void bg_list_init(bg_list_t *h)
{
    h->prev = h->next = h;
}
static inline bool bg_list_is_empty(const bg_list_t *h)
{
    /* The static analyzer cannot follow unlinking through a circular list (it keeps a
     * stale head->next after bg_list_remove() of the first node, then reports the freed
     * node); only the reports on these list lines are silenced. ASan covers them at run
     * time in every test. */
    return h->next == h; /* NOLINT(clang-analyzer-unix.Malloc) */
}
static inline void bg_list_insert_tail(bg_list_t *h, bg_list_t *n)
{
    n->prev = h->prev;
    n->next = h;
    h->prev->next = n;
    h->prev = n;
}
static inline void bg_list_insert_head(bg_list_t *h, bg_list_t *n)
{
    n->next = h->next;
    n->prev = h;
    h->next->prev = n;
    h->next = n;
}
/* Unlinks <n> and leaves it self-linked, so removing twice is harmless. */
static inline void bg_list_remove(bg_list_t *n)
{
    /* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): see bg_list_is_empty() */
    n->prev->next = n->next;
    n->next->prev = n->prev; /* NOLINT(clang-analyzer-unix.Malloc) */
    n->prev = n->next = n;
}

#define bg_list_foreach(pos, head) for ((pos) = (head)->next; (pos) != (head); (pos) = (pos)->next)
#define bg_list_foreach_safe(pos, tmp, head)                                                       \
    for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head); (pos) = (tmp), (tmp) = (pos)->next)

#endif
