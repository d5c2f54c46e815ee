/* Download helpers: URL redaction and where an image name comes from. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "download/download.h"

static void test_credentials_are_redacted(void **state)
{
	char out[256];

	(void)state;
	download_redact_url("https://alice:pw@example.com/a.iso", out, sizeof(out));
	assert_string_equal(out, "https://***@example.com/a.iso");
	download_redact_url("http://u:p@ss@host:8080/x?y=@z", out, sizeof(out));
	assert_string_equal(out, "http://***@host:8080/x?y=@z");
	download_redact_url("http://host/path@x", out, sizeof(out));
	assert_string_equal(out, "http://host/path@x");
	download_redact_url("http://host", out, sizeof(out));
	assert_string_equal(out, "http://host");
	/* Found by the fuzzer: libcurl accepts one slash, or backslashes. */
	download_redact_url("http:/u:pw@host/", out, sizeof(out));
	assert_string_equal(out, "http://***@host/");
	download_redact_url("http:\\\\u:pw@host/", out, sizeof(out));
	assert_null(strstr(out, "pw"));
}

static void test_content_disposition_names(void **state)
{
	char out[NAMES_MAX + 1];

	(void)state;
	assert_true(download_disposition_name(" attachment; filename=\"debian.iso\"", out));
	assert_string_equal(out, "debian.iso");
	assert_true(download_disposition_name("attachment; filename=plain.img; size=3", out));
	assert_string_equal(out, "plain.img");
	assert_true(download_disposition_name("attachment; filename=\"a.iso\"; "
					      "filename*=UTF-8''b%20c.iso", out));
	assert_string_equal(out, "b_c.iso");
	assert_true(download_disposition_name("attachment; filename=\"../../etc/passwd\"", out));
	assert_string_equal(out, "passwd");
	assert_true(download_disposition_name("attachment; filename=\"C:\\\\x\\\\win.iso\"", out));
	assert_string_equal(out, "win.iso");
	assert_false(download_disposition_name("inline", out));
	assert_false(download_disposition_name("attachment; filename=\"..\"", out));
	assert_false(download_disposition_name(NULL, out));
}

static void test_url_names(void **state)
{
	char out[NAMES_MAX + 1];

	(void)state;
	assert_true(download_url_name("https://h/pub/debian-12.iso?x=1#f", out));
	assert_string_equal(out, "debian-12.iso");
	assert_true(download_url_name("http://h/dir/my%20file.img/", out));
	assert_string_equal(out, "my_file.img");
	assert_true(download_url_name("http://h/a%2F..%2Fb.iso", out));
	assert_string_equal(out, "b.iso");
	assert_false(download_url_name("http://h/", out));
	assert_false(download_url_name("http://h", out));
	assert_false(download_url_name("http://h/%00", out) && out[0] == '\0');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_credentials_are_redacted),
		cmocka_unit_test(test_content_disposition_names),
		cmocka_unit_test(test_url_names),
	};
	return cmocka_run_group_tests_name("download_parse", tests, NULL, NULL);
}
