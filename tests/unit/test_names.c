/* Image names: what is accepted, what is refused, and why. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/names.h"

static bool _valid(const char *s)
{
	return names_valid(s, strlen(s), NULL, 0);
}

static void test_ordinary_names_are_accepted(void **state)
{
	(void)state;
	assert_true(_valid("debian-12.5.0-amd64-netinst.iso"));
	assert_true(_valid("a"));
	assert_true(_valid("disk_image+v2.img"));
	assert_true(_valid("A.B.C"));
}

static void test_empty_and_dot_names_are_refused(void **state)
{
	char why[128];

	(void)state;
	assert_false(names_valid("", 0, why, sizeof(why)));
	assert_non_null(strstr(why, "empty"));
	assert_false(_valid("."));
	assert_false(_valid(".."));
	assert_false(_valid(".hidden"));
	assert_false(_valid("-rf"));
}

static void test_slashes_and_odd_bytes_are_refused(void **state)
{
	char why[128];

	(void)state;
	assert_false(names_valid("a/b", 3, why, sizeof(why)));
	assert_non_null(strstr(why, "/"));
	assert_false(_valid("../etc/passwd"));
	assert_false(_valid("a b"));
	assert_false(_valid("a%00b"));
	assert_false(_valid("caf\xc3\xa9.iso"));	/* valid UTF-8, still not allowed */
	assert_false(_valid("\xff\xfe"));		/* bad UTF-8 */
	assert_false(names_valid("a\0b", 3, why, sizeof(why)));
	assert_non_null(strstr(why, "0x00"));
	assert_false(_valid("a\\b"));
	assert_false(_valid("<script>"));
}

static void test_length_limit_is_255_bytes(void **state)
{
	char name[300];

	(void)state;
	memset(name, 'x', sizeof(name));
	assert_true(names_valid(name, 255, NULL, 0));
	assert_false(names_valid(name, 256, NULL, 0));
}

static void test_iso_suffix_is_detected_in_any_case(void **state)
{
	(void)state;
	assert_true(names_is_iso("x.iso"));
	assert_true(names_is_iso("X.ISO"));
	assert_false(names_is_iso("x.img"));
	assert_false(names_is_iso("iso"));
}

static void test_sanitize_makes_a_valid_name_or_fails(void **state)
{
	char out[NAMES_MAX + 1];

	(void)state;
	assert_true(names_sanitize("my file (1).iso", out));
	assert_string_equal(out, "my_file__1_.iso");
	assert_true(names_sanitize("..hidden", out));
	assert_string_equal(out, "hidden");
	assert_false(names_sanitize("...", out));
	assert_false(names_sanitize("", out));
}

static void test_path_numbers_are_digits_only(void **state)
{
	unsigned long v = 99;

	(void)state;
	assert_true(names_number("0", 10, &v) && v == 0);
	assert_true(names_number("7", 10, &v) && v == 7);
	assert_true(names_number("4294967295", 0xffffffffUL, &v) && v == 0xffffffffUL);
	const char *bad[] = { "", " 1", "1 ", "+1", "-1", "01", "00", "1a", "0x1", "\t1",
			      "4294967296" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(names_number(bad[i], 0xffffffffUL, &v));
	assert_false(names_number("11", 10, &v));
	assert_true(names_number("10", 10, &v) && v == 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ordinary_names_are_accepted),
		cmocka_unit_test(test_empty_and_dot_names_are_refused),
		cmocka_unit_test(test_slashes_and_odd_bytes_are_refused),
		cmocka_unit_test(test_length_limit_is_255_bytes),
		cmocka_unit_test(test_iso_suffix_is_detected_in_any_case),
		cmocka_unit_test(test_sanitize_makes_a_valid_name_or_fails),
		cmocka_unit_test(test_path_numbers_are_digits_only),
	};
	return cmocka_run_group_tests_name("names", tests, NULL, NULL);
}
