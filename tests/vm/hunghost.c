/*
 * hunghost: play a USB host that hangs in the middle of a mass-storage READ.
 *
 * Runs inside the test VM, on the host side of dummy_hcd.  Through usbfs it
 * takes the gadget's mass-storage interface away from usb-storage, speaks
 * Bulk-Only Transport itself, sends a CBW for a large READ(10) to one LUN and
 * then never reads the data, which leaves f_mass_storage's thread asleep in
 * the data stage holding filesem.  After SIGUSR1 it "wakes up", reads the
 * bulk-IN pipe as a well-behaved host would (clearing a halt if there is
 * one) and reports the CSW and the sense data, to show whether the broken
 * command was ended properly.  SIGTERM makes it exit without reading.
 *
 * Output lines start with "hunghost:" and carry key=value pairs the scenario
 * scripts match on.  Exit status: 0 when every step it was asked for worked.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/usbdevice_fs.h>
#include <sys/ioctl.h>

#define HH_BLOCK	512
#define HH_CBW_LEN	31
#define HH_CSW_LEN	13
#define HH_IO_TIMEOUT	3000	/* ms, for every bulk transfer */

struct hh_dev {
	int		fd;
	unsigned int	intf;
	unsigned int	ep_in;
	unsigned int	ep_out;
	uint32_t	tag;
};

struct hh_csw {
	uint32_t	tag;
	uint32_t	residue;
	int		status;
};

static volatile sig_atomic_t _wake;
static volatile sig_atomic_t _quit;

static void _on_usr1(int sig)
{
	(void)sig;
	_wake = 1;
}

static void _on_term(int sig)
{
	(void)sig;
	_quit = 1;
}

static void _put_le32(uint8_t *p, uint32_t v)
{
	p[0] = v;
	p[1] = v >> 8;
	p[2] = v >> 16;
	p[3] = v >> 24;
}

static uint32_t _get_le32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static int _bulk(struct hh_dev *dev, unsigned int ep, void *buf, unsigned int len)
{
	struct usbdevfs_bulktransfer bt = {
		.ep = ep, .len = len, .timeout = HH_IO_TIMEOUT, .data = buf,
	};

	return ioctl(dev->fd, USBDEVFS_BULK, &bt);
}

/*
 * Find the interface of class 8 (mass storage) and its bulk endpoints in the
 * descriptors usbfs returns on read(): device descriptor, then the active
 * configuration.
 */
static int _parse_descriptors(struct hh_dev *dev)
{
	uint8_t buf[4096];
	ssize_t len = read(dev->fd, buf, sizeof(buf));
	int in_msc = 0;

	dev->ep_in = dev->ep_out = 0;
	for (ssize_t off = 0; off + 2 <= len && buf[off] >= 2; off += buf[off]) {
		const uint8_t *d = buf + off;

		if (d[1] == 4 && d[0] >= 9) {		/* interface */
			in_msc = (d[5] == 8 && d[7] == 0x50);
			if (in_msc)
				dev->intf = d[2];
		} else if (d[1] == 5 && d[0] >= 7 && in_msc && (d[3] & 3) == 2) {
			if (d[2] & 0x80)
				dev->ep_in = d[2];
			else
				dev->ep_out = d[2];
		}
	}
	return (dev->ep_in && dev->ep_out) ? 0 : -1;
}

/* Open the usbfs node of the device with this vendor:product ID. */
static int _open_device(struct hh_dev *dev, unsigned int vid, unsigned int pid)
{
	char path[600];
	DIR *bus_dir = opendir("/dev/bus/usb");
	struct dirent *bus;

	if (bus_dir == NULL)
		return -1;
	dev->fd = -1;
	while (dev->fd < 0 && (bus = readdir(bus_dir)) != NULL) {
		DIR *dev_dir;
		struct dirent *node;

		if (bus->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/dev/bus/usb/%s", bus->d_name);
		if ((dev_dir = opendir(path)) == NULL)
			continue;
		while (dev->fd < 0 && (node = readdir(dev_dir)) != NULL) {
			uint8_t desc[18];
			int fd;

			if (node->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "/dev/bus/usb/%s/%s", bus->d_name, node->d_name);
			if ((fd = open(path, O_RDWR)) < 0)
				continue;
			if (read(fd, desc, sizeof(desc)) == sizeof(desc)
					&& (unsigned int)(desc[8] | desc[9] << 8) == vid
					&& (unsigned int)(desc[10] | desc[11] << 8) == pid) {
				lseek(fd, 0, SEEK_SET);
				dev->fd = fd;
			} else {
				close(fd);
			}
		}
		closedir(dev_dir);
	}
	closedir(bus_dir);
	return dev->fd < 0 ? -1 : 0;
}

/* Take the interface away from usb-storage so that we speak BOT ourselves. */
static int _claim(struct hh_dev *dev)
{
	struct usbdevfs_ioctl cmd = {
		.ifno = dev->intf, .ioctl_code = USBDEVFS_DISCONNECT, .data = NULL,
	};

	if (ioctl(dev->fd, USBDEVFS_IOCTL, &cmd) < 0 && errno != ENODATA) {
		fprintf(stderr, "hunghost: detach usb-storage: %s\n", strerror(errno));
		return -1;
	}
	if (ioctl(dev->fd, USBDEVFS_CLAIMINTERFACE, &dev->intf) < 0) {
		fprintf(stderr, "hunghost: claim interface %u: %s\n", dev->intf, strerror(errno));
		return -1;
	}
	return 0;
}

/* Give the interface back to usb-storage, as a host recovering would. */
static int _release(struct hh_dev *dev)
{
	struct usbdevfs_ioctl cmd = {
		.ifno = dev->intf, .ioctl_code = USBDEVFS_CONNECT, .data = NULL,
	};

	if (ioctl(dev->fd, USBDEVFS_RELEASEINTERFACE, &dev->intf) < 0
			|| ioctl(dev->fd, USBDEVFS_IOCTL, &cmd) < 0) {
		fprintf(stderr, "hunghost: give interface back: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static int _send_cbw(struct hh_dev *dev, unsigned int lun, uint32_t data_len, int dir_in,
		const uint8_t *cdb, unsigned int cdb_len)
{
	uint8_t cbw[HH_CBW_LEN] = {'U', 'S', 'B', 'C'};

	_put_le32(cbw + 4, ++dev->tag);
	_put_le32(cbw + 8, data_len);
	cbw[12] = dir_in ? 0x80 : 0;
	cbw[13] = lun;
	cbw[14] = cdb_len;
	memcpy(cbw + 15, cdb, cdb_len);
	if (_bulk(dev, dev->ep_out, cbw, sizeof(cbw)) != sizeof(cbw)) {
		fprintf(stderr, "hunghost: send CBW to LUN %u: %s\n", lun, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Read the rest of a command's data stage into buf (up to max bytes; the
 * excess is discarded), then its CSW.  A halted bulk-IN pipe ends the data
 * stage (BOT 6.7.2): clear it and read the CSW.  Returns the number of data
 * bytes, or -1 if no valid CSW came.
 */
static long _finish_command(struct hh_dev *dev, uint8_t *buf, size_t max, struct hh_csw *csw,
		int *stalled)
{
	static uint8_t chunk[16384];
	long got = 0;
	int n;

	*stalled = 0;
	for (;;) {
		n = _bulk(dev, dev->ep_in, chunk, sizeof(chunk));
		if (n < 0 && errno == EPIPE) {
			*stalled = 1;
			if (ioctl(dev->fd, USBDEVFS_CLEAR_HALT, &dev->ep_in) < 0) {
				fprintf(stderr, "hunghost: clear halt: %s\n", strerror(errno));
				return -1;
			}
			n = _bulk(dev, dev->ep_in, chunk, sizeof(chunk));
		}
		if (n < 0) {
			printf("hunghost: no-csw errno=%s data=%ld\n", strerrorname_np(errno), got);
			return -1;
		}
		if (n == HH_CSW_LEN && memcmp(chunk, "USBS", 4) == 0)
			break;
		if (buf != NULL && (size_t)got < max)
			memcpy(buf + got, chunk, (size_t)n < max - got ? (size_t)n : max - got);
		got += n;
	}
	csw->tag = _get_le32(chunk + 4);
	csw->residue = _get_le32(chunk + 8);
	csw->status = chunk[12];
	if (csw->tag != dev->tag) {
		printf("hunghost: csw-tag-mismatch got=%u want=%u\n", csw->tag, dev->tag);
		return -1;
	}
	return got;
}

static int _request_sense(struct hh_dev *dev, unsigned int lun)
{
	uint8_t cdb[6] = {0x03, 0, 0, 0, 18, 0};
	uint8_t sense[18] = {0};
	struct hh_csw csw;
	int stalled;

	if (_send_cbw(dev, lun, sizeof(sense), 1, cdb, sizeof(cdb)) < 0
			|| _finish_command(dev, sense, sizeof(sense), &csw, &stalled) < 0)
		return -1;
	printf("hunghost: sense lun=%u key=%02x asc=%02x ascq=%02x\n",
			lun, sense[2] & 0x0f, sense[12], sense[13]);
	return 0;
}

static int _simple_command(struct hh_dev *dev, unsigned int lun, const uint8_t *cdb,
		unsigned int cdb_len, const char *what)
{
	struct hh_csw csw;
	int stalled;

	if (_send_cbw(dev, lun, 0, 0, cdb, cdb_len) < 0
			|| _finish_command(dev, NULL, 0, &csw, &stalled) < 0)
		return -1;
	printf("hunghost: %s lun=%u status=%d\n", what, lun, csw.status);
	return 0;
}

/* READ(10) blocks [0, count) of a LUN and write them to a file. */
static int _read_to_file(struct hh_dev *dev, unsigned int lun, unsigned int count,
		const char *path)
{
	uint8_t cdb[10] = {0x28, 0, 0, 0, 0, 0, 0, count >> 8, count & 0xff, 0};
	size_t len = (size_t)count * HH_BLOCK;
	uint8_t *buf = calloc(1, len);
	struct hh_csw csw;
	int stalled, rc = -1;
	long got;
	FILE *out;

	if (buf == NULL)
		return -1;
	if (_send_cbw(dev, lun, len, 1, cdb, sizeof(cdb)) < 0)
		goto out_free;
	if ((got = _finish_command(dev, buf, len, &csw, &stalled)) < 0)
		goto out_free;
	printf("hunghost: read lun=%u bytes=%ld status=%d\n", lun, got, csw.status);
	if ((out = fopen(path, "w")) == NULL)
		goto out_free;
	if (fwrite(buf, 1, got, out) == (size_t)got && csw.status == 0)
		rc = 0;
	fclose(out);
out_free:
	free(buf);
	return rc;
}

static void _usage(void)
{
	fprintf(stderr,
		"usage: hunghost -i VID:PID [-p LUN] -l LUN [-n BLOCKS] [-r LUN:BLOCKS:FILE] [-a]\n"
		"  -p LUN   send PREVENT MEDIUM REMOVAL to LUN first (may repeat)\n"
		"  -l LUN   hang in a READ(10) of BLOCKS (default 2048) on LUN\n"
		"  then wait: SIGTERM exits; SIGUSR1 reads the data/CSW, REQUEST SENSE,\n"
		"  -r       READ(10) BLOCKS of LUN into FILE, -a give the device back\n"
		"  to usb-storage.\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct hh_dev dev = {.fd = -1};
	unsigned int vid = 0, pid = 0, hang_lun = 0, blocks = 2048;
	unsigned int prevent[8], n_prevent = 0, read_lun = 0, read_blocks = 0;
	char read_path[256] = "";
	int have_lun = 0, give_back = 0, opt;
	struct sigaction sa = {0};
	struct hh_csw csw;
	int stalled;
	long got;

	while ((opt = getopt(argc, argv, "i:p:l:n:r:a")) != -1) {
		switch (opt) {
		case 'i':
			if (sscanf(optarg, "%x:%x", &vid, &pid) != 2)
				_usage();
			break;
		case 'p':
			if (n_prevent < 8)
				prevent[n_prevent++] = atoi(optarg);
			break;
		case 'l':
			hang_lun = atoi(optarg);
			have_lun = 1;
			break;
		case 'n':
			blocks = atoi(optarg);
			break;
		case 'r':
			if (sscanf(optarg, "%u:%u:%255s", &read_lun, &read_blocks, read_path) != 3)
				_usage();
			break;
		case 'a':
			give_back = 1;
			break;
		default:
			_usage();
		}
	}
	if (!vid || !have_lun || blocks == 0 || blocks > 0xffff)
		_usage();

	sa.sa_handler = _on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = _on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	if (_open_device(&dev, vid, pid) < 0) {
		fprintf(stderr, "hunghost: no usbfs device %04x:%04x\n", vid, pid);
		return 1;
	}
	if (_parse_descriptors(&dev) < 0) {
		fprintf(stderr, "hunghost: no Bulk-Only mass-storage interface\n");
		return 1;
	}
	if (_claim(&dev) < 0)
		return 1;

	for (unsigned int i = 0; i < n_prevent; i++) {
		const uint8_t cdb[6] = {0x1e, 0, 0, 0, 1, 0};

		if (_simple_command(&dev, prevent[i], cdb, sizeof(cdb), "prevent") < 0)
			return 1;
	}

	/* The hang: ask for the data, then do not read it. */
	{
		const uint8_t cdb[10] = {0x28, 0, 0, 0, 0, 0, 0, blocks >> 8, blocks & 0xff, 0};

		if (_send_cbw(&dev, hang_lun, blocks * HH_BLOCK, 1, cdb, sizeof(cdb)) < 0)
			return 1;
	}
	printf("hunghost: hung lun=%u blocks=%u\n", hang_lun, blocks);
	fflush(stdout);

	while (!_wake && !_quit)
		pause();
	if (_quit)
		return 0;

	got = _finish_command(&dev, NULL, 0, &csw, &stalled);
	if (got < 0)
		return 1;
	printf("hunghost: csw lun=%u status=%d residue=%u data=%ld stalled=%d\n",
			hang_lun, csw.status, csw.residue, got, stalled);
	if (_request_sense(&dev, hang_lun) < 0)
		return 1;
	if (read_blocks > 0 && _read_to_file(&dev, read_lun, read_blocks, read_path) < 0)
		return 1;
	if (give_back && _release(&dev) < 0)
		return 1;
	fflush(stdout);
	return 0;
}
