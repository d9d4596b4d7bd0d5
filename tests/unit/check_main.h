/*
 * The main() every Check program shares: run the file's suite() and exit 1
 * when a test failed, which is what `make check` looks at.
 */
#ifndef PGTIDE_CHECK_MAIN_H
#define PGTIDE_CHECK_MAIN_H

#include <check.h>

static Suite *suite(void);

int main(void)
{
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

#endif
