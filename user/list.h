/* SPDX-License-Identifier: GPL-2.0 */
/* list: an intrusive doubly linked circular list; a head is a link that is its own
 * neighbour when empty. */
#ifndef XS_LIST_H
#define XS_LIST_H

#include <stdbool.h>
#include <stddef.h>

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

struct xs_link {
	struct xs_link *prev, *next;
};

static inline void xs_link_init(struct xs_link *h)
{
	h->prev = h;
	h->next = h;
}

/* Inserts n right after h (at the front of list h). */
static inline void xs_link_add(struct xs_link *h, struct xs_link *n)
{
	n->next = h->next;
	n->prev = h;
	h->next->prev = n;
	h->next = n;
}

/* Inserts n right before h (at the back of list h). */
static inline void xs_link_add_tail(struct xs_link *h, struct xs_link *n)
{
	n->prev = h->prev;
	n->next = h;
	h->prev->next = n;
	h->prev = n;
}

/* Unlinks n; it is left an empty list of its own. */
static inline void xs_link_del(struct xs_link *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n;
	n->next = n;
}

static inline bool xs_link_empty(const struct xs_link *h)
{
	return h->next == h;
}

#endif
