/* The credentials file's line format (auth_parse_line), including files
 * saved with CRLF line ends. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "auth/auth.h"

#define HASH "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define SALT "0011223344556677"

static int _parse(const char *line, char *kind, char *name)
{
	struct err e;

	*kind = 'x';
	name[0] = '\0';
	return auth_parse_line(line, kind, name, &e);
}

static void test_blank_and_comment_lines_count_for_nothing(void **state)
{
	static const char *lines[] = { "", "\n", "\r\n", "   \t\n", "# users\n", "  # x\r\n",
				       "\v\f\n" };
	char kind, name[64];

	(void)state;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		assert_int_equal(_parse(lines[i], &kind, name), 0);
		assert_int_equal(kind, 0);
	}
}

static void test_users_and_tokens_with_either_line_end(void **state)
{
	char kind, name[64];

	(void)state;
	assert_int_equal(_parse("user alice pbkdf2-sha256 100000 " SALT " " HASH "\n", &kind,
				name), 0);
	assert_int_equal(kind, 'u');
	assert_string_equal(name, "alice");
	assert_int_equal(_parse("user bob pbkdf2-sha256 100000 " SALT " " HASH "\r\n", &kind,
				name), 0);
	assert_int_equal(kind, 'u');
	assert_string_equal(name, "bob");
	assert_int_equal(_parse("\ttoken ci@lab sha256 " HASH "\r\n", &kind, name), 0);
	assert_int_equal(kind, 't');
	assert_string_equal(name, "ci@lab");
}

static void test_malformed_lines_are_refused_with_a_reason(void **state)
{
	static const char *lines[] = {
		"user alice pbkdf2-sha256 999 " SALT " " HASH "\n",	/* too few iterations */
		"user alice pbkdf2-sha256 100000 00 " HASH "\n",	/* salt too short */
		"token t sha256 0x" HASH "\n",				/* not hex */
		"token t sha256 " HASH " extra\n",			/* a field too many */
		"token bad/name sha256 " HASH "\n",
		"password alice plain secret\n",
		"user\r\n",
	};
	char kind, name[64];
	struct err e;

	(void)state;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		memset(&e, 0, sizeof(e));
		assert_int_equal(auth_parse_line(lines[i], &kind, name, &e), -1);
		assert_true(strlen(e.message) > 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blank_and_comment_lines_count_for_nothing),
		cmocka_unit_test(test_users_and_tokens_with_either_line_end),
		cmocka_unit_test(test_malformed_lines_are_refused_with_a_reason),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
