/*
 * Pool of fixed-size I/O blocks.
 *
 * Owns: the blocks and the free list. Blocks are linked through their first
 * bytes while free. Steady state costs no system call: get/put are list
 * operations, and mmap/munmap happen only when the working set changes.
 */
#include "autoconf.h"

#include "bufpool.h"

#include <sys/mman.h>
#include <unistd.h>

/* Under AddressSanitizer every block is its own malloc, so a block used
 * after it was given back, or given back twice, is reported instead of
 * quietly corrupting the free list. */
#if defined(__SANITIZE_ADDRESS__)
#define BUFPOOL_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BUFPOOL_MALLOC 1
#endif
#endif
#ifdef BUFPOOL_MALLOC
#include <stdlib.h>
#endif

struct free_block {
	struct free_block *next;
};

static size_t block_size = 16384;
static struct free_block *free_list;
static size_t n_free, n_used, peak_used, low_free;

void bufpool_init(size_t size)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	block_size = (size + page - 1) / page * page;
}

size_t bufpool_block_size(void)
{
	return block_size;
}

void *bufpool_get(void)
{
	void *b;
#ifdef BUFPOOL_MALLOC
	b = malloc(block_size);
	if (!b)
		return NULL;
	n_used++;
	if (n_used > peak_used)
		peak_used = n_used;
	return b;
#endif
	if (free_list) {
		b = free_list;
		free_list = free_list->next;
		n_free--;
		if (n_free < low_free)
			low_free = n_free;
	} else {
		b = mmap(NULL, block_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (b == MAP_FAILED)
			return NULL;
	}
	n_used++;
	if (n_used > peak_used)
		peak_used = n_used;
	return b;
}

void bufpool_put(void *block)
{
#ifdef BUFPOOL_MALLOC
	free(block);
	n_used--;
	return;
#endif
	struct free_block *f = block;
	f->next = free_list;
	free_list = f;
	n_free++;
	n_used--;
}

void bufpool_trim(void)
{
	/* Blocks that stayed free for a whole period were not needed: give
	 * half of them back, keeping a few for the next burst. */
	size_t excess = low_free > 8 ? (low_free - 8 + 1) / 2 : 0;
	while (excess-- > 0 && free_list) {
		struct free_block *f = free_list;
		free_list = f->next;
		n_free--;
		munmap(f, block_size);
	}
	low_free = n_free;
}

void bufpool_stats(struct bufpool_stats *st)
{
	st->block_size = block_size;
	st->used = n_used;
	st->free = n_free;
	st->peak = peak_used;
}

void bufpool_free_all(void)
{
	while (free_list) {
		struct free_block *f = free_list;
		free_list = f->next;
		n_free--;
		munmap(f, block_size);
	}
}
