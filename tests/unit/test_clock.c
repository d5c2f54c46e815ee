/* The time helpers of core/clock: ISO 8601 as every reply and log line
 * writes it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/clock.h"

static void test_iso8601_is_utc_with_or_without_milliseconds(void **state)
{
	char buf[CLOCK_ISO8601_SIZE];

	(void)state;
	clock_iso8601(buf, sizeof(buf), 1795968131, -1);
	assert_string_equal(buf, "2026-11-29T16:02:11Z");
	clock_iso8601(buf, sizeof(buf), 1795968131, 412);
	assert_string_equal(buf, "2026-11-29T16:02:11.412Z");
	clock_iso8601(buf, sizeof(buf), 0, 7);
	assert_string_equal(buf, "1970-01-01T00:00:00.007Z");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_iso8601_is_utc_with_or_without_milliseconds),
	};
	return cmocka_run_group_tests_name("clock", tests, NULL, NULL);
}
