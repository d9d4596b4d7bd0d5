/*
 * Pool of fixed-size I/O blocks (receive buffers and output queues).
 *
 * Owns: every block, mapped with mmap so a trimmed block really goes back to
 * the kernel. A connection holds a block only while bytes are in flight; an
 * idle connection holds none, and the janitor trims the free list toward
 * what was recently in use, so memory returns to its idle level after a
 * burst. Knows nothing of sockets or Postgres.
 */
#ifndef PGTIDE_BUFPOOL_H
#define PGTIDE_BUFPOOL_H

#include <stddef.h>
#include <stdint.h>

void bufpool_init(size_t block_size);
size_t bufpool_block_size(void);
void *bufpool_get(void);   /* NULL when out of memory */
void bufpool_put(void *block);
/* Free blocks not needed since the last call (janitor, about once a second). */
void bufpool_trim(void);
/* At exit: unmap every free block. */
void bufpool_free_all(void);

struct bufpool_stats {
	size_t block_size;
	size_t used;
	size_t free;
	size_t peak;
};
void bufpool_stats(struct bufpool_stats *st);

#endif
