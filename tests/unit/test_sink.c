/* The writer's sink: ordered writes on its own thread, O_DIRECT where the
 * file system takes it, the page cache for unaligned pieces. Checked on a
 * real file in build/ (ext4 or whatever the checkout is on) for every
 * mix of write sizes and start offsets that changes which path a byte
 * takes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/internal.h"

static char path[128];

static int _setup(void **state)
{
	int fd;

	(void)state;
	mkdir("build", 0755);
	snprintf(path, sizeof(path), "build/sink-test-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	return 0;
}

static int _teardown(void **state)
{
	(void)state;
	return unlink(path);
}

static void _fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (unsigned char)(seed >> 16);
	}
}

static void _digest(const void *p, size_t n, unsigned char out[32])
{
	unsigned int len;

	assert_int_equal(EVP_Digest(p, n, out, &len, EVP_sha256(), NULL), 1);
}

/* Writes want[start..size) through a sink in pieces of the given sizes
 * (cycled), after start bytes already in the file (and in the digest, as
 * the writer's resume does), and checks the file and the digest. */
static int64_t _roundtrip(size_t size, size_t start, const size_t *pieces, size_t npieces,
			  bool direct)
{
	unsigned char *want = malloc(size), *got = malloc(size);
	int fd = open(path, O_RDWR | O_TRUNC);
	int dfd = direct ? open(path, O_WRONLY | O_DIRECT) : -1;
	struct storage_sink *k;
	int64_t direct_bytes;
	size_t off = start;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char got_md[32], want_md[32];
	unsigned int mdlen;

	assert_non_null(want);
	assert_non_null(got);
	assert_true(fd >= 0);
	_fill(want, size, (unsigned)(size ^ start));
	assert_int_equal(pwrite(fd, want, start, 0), (ssize_t)start);
	assert_int_equal(EVP_DigestInit_ex(md, EVP_sha256(), NULL), 1);
	EVP_DigestUpdate(md, want, start);
	k = storage_sink_new(fd, dfd, md, (int64_t)start);
	for (size_t i = 0; off < size; i++) {
		size_t n = pieces[i % npieces];
		if (n > size - off)
			n = size - off;
		assert_int_equal(storage_sink_write(k, want + off, n), 0);
		off += n;
	}
	assert_int_equal(storage_sink_flush(k), 0);
	direct_bytes = storage_sink_direct_bytes(k);
	EVP_DigestFinal_ex(md, got_md, &mdlen);
	_digest(want, size, want_md);
	assert_memory_equal(got_md, want_md, 32);
	EVP_MD_CTX_free(md);
	storage_sink_free(k);
	assert_int_equal(pread(fd, got, size, 0), (ssize_t)size);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, (off_t)size);
	assert_memory_equal(got, want, size);
	close(fd);
	free(want);
	free(got);
	return direct_bytes;
}

static bool _direct_supported(void)
{
	int fd = open(path, O_WRONLY | O_DIRECT);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static void test_every_byte_lands_in_place_whatever_the_write_sizes(void **state)
{
	static const size_t odd[] = { 1, 4095, 777777, 3, 65536, 131071 };
	static const size_t big[] = { 3 << 20 };
	static const size_t page[] = { 4096 };

	(void)state;
	for (int direct = 0; direct <= 1; direct++) {
		_roundtrip(0, 0, odd, 6, direct);
		_roundtrip(1, 0, odd, 6, direct);
		_roundtrip(4096, 0, page, 1, direct);
		_roundtrip((5 << 20) + 123, 0, odd, 6, direct);
		_roundtrip((5 << 20) + 123, 0, big, 1, direct);
		_roundtrip(4 << 20, 0, page, 1, direct);
	}
}

static void test_an_unaligned_resume_point_only_costs_its_first_chunk(void **state)
{
	static const size_t odd[] = { 1000, 300001, 7 };
	size_t size = (6 << 20) + 11, start = 1000001;

	(void)state;
	int64_t d = _roundtrip(size, start, odd, 3, _direct_supported());
	if (!_direct_supported()) {
		assert_int_equal(d, 0);
		return;
	}
	/* Everything from the first 1 MiB (chunk) boundary after the start to the
	 * last 4 KiB boundary went around the page cache. */
	int64_t first = ((int64_t)start / (1 << 20) + 1) * (1 << 20);
	int64_t last = (int64_t)size & ~(int64_t)4095;
	assert_int_equal(d, last - first);
}

static void test_buffered_only_when_there_is_no_direct_descriptor(void **state)
{
	static const size_t piece[] = { 100000 };

	(void)state;
	assert_int_equal(_roundtrip(3 << 20, 0, piece, 1, false), 0);
	if (_direct_supported())
		assert_int_equal(_roundtrip(3 << 20, 0, piece, 1, true), 3 << 20);
}

static void test_a_failed_write_is_reported_and_sticks(void **state)
{
	char *buf = calloc(1, 1 << 20);
	int fd = open(path, O_RDONLY);	/* every write fails with EBADF */
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	struct storage_sink *k;

	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	k = storage_sink_new(fd, -1, md, 0);
	int rc = 0;

	(void)state;
	/* The error shows at the write that hands a chunk over once the sink
	 * has failed it, or at the latest at the flush. */
	for (int i = 0; i < 8 && rc == 0; i++)
		rc = storage_sink_write(k, buf, 1 << 20);
	if (rc == 0)
		rc = storage_sink_flush(k);
	assert_int_equal(rc, EBADF);
	assert_int_equal(storage_sink_flush(k), EBADF);
	assert_int_equal(storage_sink_write(k, buf, 1 << 20), EBADF);
	/* reset (a restart from byte 0) forgets it. */
	storage_sink_reset(k, 0);
	assert_int_equal(storage_sink_flush(k), 0);
	storage_sink_free(k);
	EVP_MD_CTX_free(md);
	close(fd);
	free(buf);
}

static void test_free_with_chunks_queued_drops_them_and_returns(void **state)
{
	char *buf = malloc(1 << 20);
	int fd = open(path, O_RDWR | O_TRUNC);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	struct storage_sink *k;

	(void)state;
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	k = storage_sink_new(fd, -1, md, 0);
	memset(buf, 'x', 1 << 20);
	for (int i = 0; i < 4; i++)
		assert_int_equal(storage_sink_write(k, buf, 1 << 20), 0);
	storage_sink_free(k);	/* must neither hang nor write after it returns */
	struct stat st1, st2;
	fstat(fd, &st1);
	usleep(20000);
	fstat(fd, &st2);
	assert_int_equal(st1.st_size, st2.st_size);
	assert_true(st1.st_size <= 4 << 20);
	EVP_MD_CTX_free(md);
	close(fd);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_every_byte_lands_in_place_whatever_the_write_sizes, _setup, _teardown),
		cmocka_unit_test_setup_teardown(test_an_unaligned_resume_point_only_costs_its_first_chunk, _setup, _teardown),
		cmocka_unit_test_setup_teardown(test_buffered_only_when_there_is_no_direct_descriptor, _setup, _teardown),
		cmocka_unit_test_setup_teardown(test_a_failed_write_is_reported_and_sticks, _setup, _teardown),
		cmocka_unit_test_setup_teardown(test_free_with_chunks_queued_drops_them_and_returns, _setup, _teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
