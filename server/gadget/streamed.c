/* gadget/streamed: a streamed image (stream/) as a LUN's medium of its own.
 * The HTTP API, Redfish and the start-up restore all insert a URL the same
 * way through here, so none of them depends on another. */
#include "gadget.h"

#include <stdlib.h>

#include "../stream/stream.h"

struct gadget_streamed {
	struct gadget *g;
	struct stream *st;
	bool cdrom;
};

static int _open(void *m, char *path, size_t size, struct err *err)
{
	struct gadget_streamed *x = m;

	if (stream_open(x->st, path, size, err) < 0)
		return -1;
	return x->cdrom ? gadget_cd_fits(x->g, "the image", stream_size(x->st), err) : 0;
}

static void _interrupt(void *m)
{
	stream_interrupt(((struct gadget_streamed *)m)->st);
}

static void _close(void *m)
{
	struct gadget_streamed *x = m;

	stream_close(x->st);
	free(x);
}

static json_t *_json(void *m)
{
	return stream_json(((struct gadget_streamed *)m)->st);
}

static const struct gadget_medium_ops _ops = {
	.open = _open, .interrupt = _interrupt, .close = _close, .json = _json,
};

void *gadget_streamed_medium(struct gadget *g, struct stream *st, bool cdrom,
			     const struct gadget_medium_ops **ops)
{
	struct gadget_streamed *x = calloc(1, sizeof(*x));

	if (!x)
		return NULL;
	x->g = g;
	x->st = st;
	x->cdrom = cdrom;
	*ops = &_ops;
	return x;
}

int gadget_insert_stream(struct gadget *g, struct streams *ss, unsigned lun,
			 const struct gadget_stream_req *sr, struct gadget_lun *out,
			 struct err *err)
{
	char name[NAMES_MAX + 1];
	struct stream *st;

	if (!ss)
		return err_set(err, ERR_UNAVAILABLE, "unavailable",
			       "streaming is not available on this box (see the log)");
	if (stream_new(ss, sr->url, false, name, sizeof(name), &st, err) < 0)
		return -1;
	struct gadget_insert_req req = {
		.image = sr->name ? sr->name : name, .ro = true, .reconnect = sr->reconnect,
	};
	req.cdrom = sr->cdrom >= 0 ? sr->cdrom == 1 : names_is_iso(req.image);
	req.medium = gadget_streamed_medium(g, st, req.cdrom, &req.medium_ops);
	if (!req.medium) {
		stream_close(st);
		return err_set(err, ERR_IO, "io_error", "out of memory");
	}
	/* From here the gadget owns the medium, also when it refuses it. */
	return gadget_insert(g, lun, &req, out, err);
}
