/* Range header parsing (RFC 9110 single byte ranges). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http/range.h"

static uint64_t s, l;

static void test_absent_header_means_whole_resource(void **state)
{
	(void)state;
	assert_int_equal(range_parse(NULL, 100, &s, &l), RANGE_NONE);
}

static void test_closed_range(void **state)
{
	(void)state;
	assert_int_equal(range_parse("bytes=10-19", 100, &s, &l), RANGE_OK);
	assert_int_equal(s, 10);
	assert_int_equal(l, 10);
}

static void test_open_range_runs_to_the_end(void **state)
{
	(void)state;
	assert_int_equal(range_parse("bytes=90-", 100, &s, &l), RANGE_OK);
	assert_int_equal(s, 90);
	assert_int_equal(l, 10);
}

static void test_last_byte_is_clamped_to_the_size(void **state)
{
	(void)state;
	assert_int_equal(range_parse("bytes=50-1000", 100, &s, &l), RANGE_OK);
	assert_int_equal(s, 50);
	assert_int_equal(l, 50);
}

static void test_suffix_range(void **state)
{
	(void)state;
	assert_int_equal(range_parse("bytes=-5", 100, &s, &l), RANGE_OK);
	assert_int_equal(s, 95);
	assert_int_equal(l, 5);
	assert_int_equal(range_parse("bytes=-500", 100, &s, &l), RANGE_OK);
	assert_int_equal(s, 0);
	assert_int_equal(l, 100);
}

static void test_unsatisfiable_ranges(void **state)
{
	(void)state;
	assert_int_equal(range_parse("bytes=100-", 100, &s, &l), RANGE_UNSATISFIABLE);
	assert_int_equal(range_parse("bytes=200-300", 100, &s, &l), RANGE_UNSATISFIABLE);
	assert_int_equal(range_parse("bytes=-0", 100, &s, &l), RANGE_UNSATISFIABLE);
	assert_int_equal(range_parse("bytes=0-", 0, &s, &l), RANGE_UNSATISFIABLE);
}

/* Positions beyond 64 bits are past the end of any file, not malformed. */
static void test_huge_positions_saturate(void **state)
{
	uint64_t s, l;

	(void)state;
	assert_int_equal(range_parse("bytes=0-18446744073709551615", 100, &s, &l), RANGE_OK);
	assert_true(s == 0 && l == 100);
	assert_int_equal(range_parse("bytes=0-99999999999999999999999", 100, &s, &l), RANGE_OK);
	assert_true(s == 0 && l == 100);
	assert_int_equal(range_parse("bytes=18446744073709551615-", 100, &s, &l),
			 RANGE_UNSATISFIABLE);
	assert_int_equal(range_parse("bytes=99999999999999999999999-", 100, &s, &l),
			 RANGE_UNSATISFIABLE);
	assert_int_equal(range_parse("bytes=-99999999999999999999999", 100, &s, &l), RANGE_OK);
	assert_true(s == 0 && l == 100);
	assert_int_equal(range_parse("bytes=18446744073709551614-18446744073709551615", 100, &s,
				     &l), RANGE_UNSATISFIABLE);
}

static void test_malformed_or_multiple_ranges_are_ignored(void **state)
{
	(void)state;
	assert_int_equal(range_parse("bytes=5-1", 100, &s, &l), RANGE_NONE);
	assert_int_equal(range_parse("bytes=a-b", 100, &s, &l), RANGE_NONE);
	assert_int_equal(range_parse("items=0-1", 100, &s, &l), RANGE_NONE);
	assert_int_equal(range_parse("bytes=0-1,5-6", 100, &s, &l), RANGE_NONE);
	assert_int_equal(range_parse("bytes=", 100, &s, &l), RANGE_NONE);
	assert_int_equal(range_parse("bytes=-", 100, &s, &l), RANGE_NONE);
}

static void test_whitespace_around_tokens_is_allowed(void **state)
{
	(void)state;
	assert_int_equal(range_parse(" bytes = 1-2 ", 100, &s, &l), RANGE_OK);
	assert_int_equal(s, 1);
	assert_int_equal(l, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_absent_header_means_whole_resource),
		cmocka_unit_test(test_closed_range),
		cmocka_unit_test(test_open_range_runs_to_the_end),
		cmocka_unit_test(test_last_byte_is_clamped_to_the_size),
		cmocka_unit_test(test_suffix_range),
		cmocka_unit_test(test_unsatisfiable_ranges),
		cmocka_unit_test(test_huge_positions_saturate),
		cmocka_unit_test(test_malformed_or_multiple_ranges_are_ignored),
		cmocka_unit_test(test_whitespace_around_tokens_is_allowed),
	};
	return cmocka_run_group_tests_name("range", tests, NULL, NULL);
}
