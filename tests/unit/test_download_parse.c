/* Download helpers: URL redaction and where an image name comes from. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
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

static void test_content_range_accepts_a_consistent_range(void **state)
{
	struct download_content_range r;

	(void)state;
	assert_true(download_content_range(" bytes 100-199/200", 100, &r));
	assert_int_equal(r.start, 100);
	assert_int_equal(r.end, 199);
	assert_int_equal(r.total, 200);
	assert_true(download_content_range("bytes 0-0/*", -1, &r));
	assert_int_equal(r.total, -1);
	assert_true(download_content_range("Bytes 5-9/10", 5, &r));
	/* The largest range that fits: the last byte of an INT64_MAX-byte file. */
	assert_true(download_content_range("bytes 9223372036854775806-9223372036854775806/"
					   "9223372036854775807", 1, &r));
	assert_int_equal(r.start, INT64_MAX - 1);
}

static void test_content_range_refuses_what_would_overflow(void **state)
{
	struct download_content_range r = { .start = 7, .end = 7, .total = 7 };

	(void)state;
	/* Found by the audit: start + Content-Length past INT64_MAX. */
	assert_false(download_content_range("bytes 9223372036854775800-9223372036854775809/*",
					    10, &r));
	assert_false(download_content_range("bytes 9223372036854775800-9223372036854775807/*",
					    10, &r));
	assert_false(download_content_range("bytes 0-9223372036854775808/*", -1, &r));
	assert_false(download_content_range("bytes 99999999999999999999-1/*", -1, &r));
	assert_false(download_content_range("bytes 0-1/9223372036854775808", 2, &r));
	assert_int_equal(r.start, 7);	/* untouched */
}

static void test_content_range_refuses_malformed_values(void **state)
{
	static const char *bad[] = {
		NULL, "", "bytes", "bytes ", "bytes 1-", "bytes -5/10", "bytes 1-2", "bytes 1-2/",
		"bytes 1-2/3 ", "bytes 1-2/3x", "bytes +1-2/3", "bytes 1--2/3", "bytes 0x1-2/3",
		"bytes */10", "bytes  1-2/3", "bytes\t1-2/3", "items 1-2/3", "bytes 2-1/3",
		"bytes 1-3/3", "bytes 1 -2/3", "bytes 1-2/**",
	};
	struct download_content_range r;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (download_content_range(bad[i], -1, &r))
			fail_msg("accepted \"%s\"", bad[i]);
}

static void test_content_range_must_match_content_length(void **state)
{
	struct download_content_range r;

	(void)state;
	assert_true(download_content_range("bytes 10-19/100", 10, &r));
	assert_false(download_content_range("bytes 10-19/100", 11, &r));
	assert_false(download_content_range("bytes 10-19/100", 9, &r));
	assert_false(download_content_range("bytes 10-19/100", 0, &r));
	assert_false(download_content_range("bytes 10-19/100", -2, &r));
	assert_true(download_content_range("bytes 10-19/100", -1, &r));
}

static const char *_local(const char *ip)
{
	struct sockaddr_in v4 = { .sin_family = AF_INET };
	struct sockaddr_in6 v6 = { .sin6_family = AF_INET6 };

	if (inet_pton(AF_INET, ip, &v4.sin_addr) == 1)
		return download_local_address((struct sockaddr *)&v4);
	assert_int_equal(inet_pton(AF_INET6, ip, &v6.sin6_addr), 1);
	return download_local_address((struct sockaddr *)&v6);
}

static void test_local_addresses_are_loopback_and_link_local(void **state)
{
	static const char *loopback[] = { "127.0.0.1", "127.255.255.254", "0.0.0.0", "::1", "::",
					  "::ffff:127.0.0.1", "::ffff:0.0.0.1" };
	static const char *link_local[] = { "169.254.169.254", "169.254.0.0", "fe80::1",
					    "febf:ffff::1", "::ffff:169.254.1.1" };
	static const char *other[] = { "10.0.0.1", "192.168.1.1", "128.0.0.1", "169.253.255.255",
				       "169.255.0.0", "8.8.8.8", "fec0::1", "fd00::2", "2001:db8::1",
				       "::ffff:10.0.0.1", "::2" };

	(void)state;
	for (size_t i = 0; i < sizeof(loopback) / sizeof(loopback[0]); i++)
		assert_string_equal(_local(loopback[i]), "loopback");
	for (size_t i = 0; i < sizeof(link_local) / sizeof(link_local[0]); i++)
		assert_string_equal(_local(link_local[i]), "link-local");
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++)
		if (_local(other[i]))
			fail_msg("%s counted as %s", other[i], _local(other[i]));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_credentials_are_redacted),
		cmocka_unit_test(test_content_disposition_names),
		cmocka_unit_test(test_url_names),
		cmocka_unit_test(test_content_range_accepts_a_consistent_range),
		cmocka_unit_test(test_content_range_refuses_what_would_overflow),
		cmocka_unit_test(test_content_range_refuses_malformed_values),
		cmocka_unit_test(test_content_range_must_match_content_length),
		cmocka_unit_test(test_local_addresses_are_loopback_and_link_local),
	};
	return cmocka_run_group_tests_name("download_parse", tests, NULL, NULL);
}
