/*
 * Read routing and replica health.
 *
 * Owns: replica targets and their health. (Routing arrives with read
 * replicas; until a database has replicas=, every pool targets its primary.)
 */
#include "autoconf.h"

#include "route.h"

const char *route_pool_target_name(const struct pool *p)
{
	(void)p;
	return "primary";
}

bool route_replica_info(int i, struct route_replica_info *out)
{
	(void)i;
	(void)out;
	return false;
}
