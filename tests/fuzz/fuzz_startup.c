/* libFuzzer: the first packet of a client connection (proto_read_startup). */
#include "autoconf.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct startup_packet sp;
	enum proto_result r = proto_read_startup(data, size, &sp);
	if (r == PROTO_OK && sp.kind == SP_STARTUP) {
		/* every parameter is a NUL-terminated string inside the input */
		for (int i = 0; i < sp.nparams; i++) {
			size_t n = strlen(sp.params[i].name) + strlen(sp.params[i].value);
			if (n > size || (const uint8_t *)sp.params[i].name < data ||
			    (const uint8_t *)sp.params[i].name >= data + size)
				__builtin_trap();
		}
		(void)startup_param(&sp, "user");
		(void)startup_param(&sp, "database");
	}
	return 0;
}
