/* bqueue.h - a bounded blocking queue of void * items (the contract).
 *
 * A fixed-capacity FIFO shared by producer and consumer threads, modelled on Python's
 * queue.Queue (3.13, with shutdown): put blocks while the queue is full, get blocks while it is
 * empty, task_done/join let a producer wait until every item has been processed, and shutdown
 * ends the queue's life so that every blocked caller wakes up.
 *
 * The usual sequence:
 *
 *     bqueue_t *q;
 *     bqueue_create(&q, 64, free);              // once, before any thread uses q
 *
 *     // producers                              // consumers
 *     bqueue_put(q, item, -1);                  void *item;
 *                                               while (bqueue_get(q, &item, -1) == 0) {
 *                                                       work(item);
 *                                                       bqueue_task_done(q);
 *                                               }   // ESHUTDOWN: shut down and drained
 *
 *     bqueue_join(q, -1);                       // every item put has been processed
 *     bqueue_shutdown(q, false);                // consumers drain what is left, then stop
 *     ... join the consumer threads ...
 *     bqueue_destroy(q);                        // once, after every other call has returned
 *
 * Conventions (the same for every threadlab exercise):
 * - Functions return 0 or a positive errno value; results come back through out-parameters.
 *   They never return -1 and never set errno.
 * - timeout_ms: -1 waits as long as needed, 0 tries once without blocking, a positive value waits
 *   at most that many milliseconds (measured on CLOCK_MONOTONIC). Any other negative value is
 *   EINVAL. A call that fails leaves the queue as it was (except where a comment says otherwise).
 * - Items are opaque pointers. NULL is a valid item: it is stored, counted and returned like any
 *   other. The queue never dereferences an item; it only passes it to free_item.
 * - Only put, get and join block. size, capacity, task_done, shutdown and destroy never wait for
 *   another thread (they may take the queue's lock briefly).
 * - Every function except bqueue_create and bqueue_destroy may be called from any number of
 *   threads at the same time. Passing NULL for q or for an out-parameter (other than as allowed
 *   below) is undefined behaviour.
 *
 * Shutdown in one place: after bqueue_shutdown(q, false) every put fails with ESHUTDOWN, gets
 * keep returning the items that are left and then fail with ESHUTDOWN, and every caller blocked
 * in put or get wakes up (put with ESHUTDOWN, get with ESHUTDOWN since its queue was empty).
 * bqueue_shutdown(q, true) does the same and also drops the items left in the queue (calling
 * free_item on each) and counts them as done for join.
 */
#ifndef BQUEUE_H
#define BQUEUE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct bqueue bqueue_t;

/* Creates an empty queue that holds at most capacity items and stores it in *out.
 * free_item (may be NULL) is called on each item the queue drops: the items left at
 * bqueue_destroy and those dropped by bqueue_shutdown(q, true). It is called once per dropped
 * item, NULL items included, and must not call back into the queue.
 * Returns 0; EINVAL if out is NULL or capacity is 0; ENOMEM if memory ran out (*out is then
 * untouched). Never blocks. */
int bqueue_create(bqueue_t **out, size_t capacity, void (*free_item)(void *));

/* Destroys q: calls free_item (if not NULL) exactly once on each item still in the queue, then
 * frees the queue. q may be NULL (nothing happens). Undefined if any other call
 * on q is in progress or is made afterwards: join the threads that use q first. */
void bqueue_destroy(bqueue_t *q);

/* Appends item at the tail. Blocks while the queue is full, for at most timeout_ms.
 * Returns 0 when the item is in the queue (the queue now owns it until a get returns it);
 *   EAGAIN     timeout_ms was 0 and the queue was full;
 *   ETIMEDOUT  the queue stayed full for timeout_ms milliseconds (at least);
 *   ESHUTDOWN  the queue is shut down, whether it was before the call or while it waited
 *              (this takes precedence over EAGAIN);
 *   EINVAL     timeout_ms < -1.
 * On any error the item was not added and the caller still owns it. */
int bqueue_put(bqueue_t *q, void *item, long timeout_ms);

/* Removes the item at the head and stores it in *item (the caller now owns it). Blocks while the
 * queue is empty, for at most timeout_ms. Every successful get should be followed, once the item
 * has been processed, by one bqueue_task_done.
 * Returns 0 with the oldest item in *item;
 *   EAGAIN     timeout_ms was 0 and the queue was empty;
 *   ETIMEDOUT  the queue stayed empty for timeout_ms milliseconds (at least);
 *   ESHUTDOWN  the queue is shut down and empty (after a normal shutdown, gets first drain the
 *              items that are left);
 *   EINVAL     timeout_ms < -1.
 * On any error *item is not written. */
int bqueue_get(bqueue_t *q, void **item, long timeout_ms);

/* The number of items in the queue right now, between 0 and the capacity. Other threads may
 * change it as soon as it returns: use it for monitoring, never to decide whether a get or a
 * put would block. Never blocks. */
size_t bqueue_size(bqueue_t *q);

/* The capacity given to bqueue_create. Never changes. Never blocks. */
size_t bqueue_capacity(bqueue_t *q);

/* Marks one item returned by bqueue_get as processed. When every item ever put has been marked
 * done (or dropped by an immediate shutdown), the callers blocked in bqueue_join return.
 * Returns 0; EINVAL if no item is waiting to be marked: task_done has already been called once
 * for every item got so far (the count is left unchanged). Never blocks; works after shutdown. */
int bqueue_task_done(bqueue_t *q);

/* Waits until every item put so far has been marked done with bqueue_task_done (items dropped
 * by bqueue_shutdown(q, true) count as done). Returns at once if nothing is outstanding.
 * Blocks for at most timeout_ms.
 * Returns 0 when nothing is outstanding;
 *   EAGAIN     timeout_ms was 0 and work is outstanding;
 *   ETIMEDOUT  work was still outstanding after timeout_ms milliseconds;
 *   EINVAL     timeout_ms < -1.
 * A normal shutdown does not end a join by itself: the consumers still drain and mark the items
 * left. */
int bqueue_join(bqueue_t *q, long timeout_ms);

/* Shuts the queue down, for good. From now on every put fails with ESHUTDOWN and a get on an
 * empty queue fails with ESHUTDOWN instead of blocking. Every thread blocked in put or get wakes
 * up and returns ESHUTDOWN; joiners re-check their condition.
 * immediate == false: the items in the queue stay; gets drain them first.
 * immediate == true:  the items in the queue are removed and free_item (if not NULL) is called
 *   once on each before this returns; they count as done for join, so joiners return as soon as
 *   every item that was got has been marked done. Items already got stay the getter's.
 * Idempotent: calling it again is harmless, and an immediate shutdown after a normal one still
 * drops the items left. Never blocks waiting for other threads. */
void bqueue_shutdown(bqueue_t *q, bool immediate);

#endif
