/*
 * For Check programs that decide about bare connections: the database
 * "app", its user "alice" and their pool, made from ini text (loaded into
 * g.cfg by check_load_config). No socket, no server: the structs only.
 */
#ifndef PGTIDE_CHECK_POOL_H
#define PGTIDE_CHECK_POOL_H

#include <string.h>

#include "check_load.h"

static struct database db;
static struct pool pool;
static struct user user;

static void check_pool_setup(const char *ini)
{
	check_load_config(ini);
	memset(&db, 0, sizeof(db));
	db.name = (char *)"app";
	db.cfg = (struct db_config *)config_find_db(g.cfg, "app");
	ck_assert_ptr_nonnull(db.cfg);
	memset(&user, 0, sizeof(user));
	user.name = (char *)"alice";
	user.pool_mode = -1;
	memset(&pool, 0, sizeof(pool));
	pool.db = &db;
	pool.user = &user;
}

#endif
