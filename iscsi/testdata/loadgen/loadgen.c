/*
 * loadgen: a small libiscsi load client for the iscsi package's benchmarks.
 *
 *   loadgen URL MODE BLOCKSIZE QUEUEDEPTH COUNT
 *
 * MODE is seqread, seqwrite, randread or randwrite. It issues COUNT
 * READ(16)/WRITE(16) commands of BLOCKSIZE bytes with QUEUEDEPTH in flight
 * (libiscsi's asynchronous API) and prints "ops seconds".
 * Build: gcc -O2 -o loadgen loadgen.c -liscsi   (Debian package libiscsi-dev)
 */
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

struct state {
	struct iscsi_context *iscsi;
	int lun, write, rnd;
	uint32_t bs, blksz;
	uint64_t blocks, next;
	long issued, done, total;
	unsigned char *buf;
	int err;
};

static void submit(struct state *s);

static void cb(struct iscsi_context *iscsi, int status, void *data, void *priv)
{
	struct state *s = priv;
	(void)iscsi;
	if (status != SCSI_STATUS_GOOD) {
		fprintf(stderr, "command failed: %s\n", iscsi_get_error(s->iscsi));
		s->err = 1;
	}
	scsi_free_scsi_task(data);
	s->done++;
	submit(s);
}

static void submit(struct state *s)
{
	struct scsi_task *t;
	uint64_t n = s->bs / s->blksz, lba;

	if (s->err || s->issued >= s->total)
		return;
	if (s->rnd) {
		lba = ((uint64_t)random() % (s->blocks / n)) * n;
	} else {
		lba = s->next;
		s->next += n;
		if (s->next + n > s->blocks)
			s->next = 0;
	}
	if (s->write)
		t = iscsi_write16_task(s->iscsi, s->lun, lba, s->buf, s->bs, s->blksz, 0, 0, 0, 0, 0, cb, s);
	else
		t = iscsi_read16_task(s->iscsi, s->lun, lba, s->bs, s->blksz, 0, 0, 0, 0, 0, cb, s);
	if (t == NULL) {
		fprintf(stderr, "submit: %s\n", iscsi_get_error(s->iscsi));
		s->err = 1;
		return;
	}
	s->issued++;
}

int main(int argc, char **argv)
{
	struct state s;
	struct iscsi_url *url;
	struct scsi_task *task;
	struct scsi_readcapacity16 *rc16;
	struct timespec t0, t1;
	int qd, i;

	if (argc != 6) {
		fprintf(stderr, "usage: loadgen URL MODE BLOCKSIZE QUEUEDEPTH COUNT\n");
		return 2;
	}
	memset(&s, 0, sizeof s);
	s.write = strstr(argv[2], "write") != NULL;
	s.rnd = strncmp(argv[2], "rand", 4) == 0;
	s.bs = atoi(argv[3]);
	qd = atoi(argv[4]);
	s.total = atol(argv[5]);
	s.iscsi = iscsi_create_context("iqn.2026-01.org.netboot:loadgen");
	url = iscsi_parse_full_url(s.iscsi, argv[1]);
	if (url == NULL) {
		fprintf(stderr, "bad URL: %s\n", iscsi_get_error(s.iscsi));
		return 1;
	}
	iscsi_set_targetname(s.iscsi, url->target);
	iscsi_set_session_type(s.iscsi, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(s.iscsi, ISCSI_HEADER_DIGEST_NONE);
	if (iscsi_full_connect_sync(s.iscsi, url->portal, url->lun) != 0) {
		fprintf(stderr, "login: %s\n", iscsi_get_error(s.iscsi));
		return 1;
	}
	s.lun = url->lun;
	task = iscsi_readcapacity16_sync(s.iscsi, s.lun);
	if (task == NULL || task->status != SCSI_STATUS_GOOD) {
		fprintf(stderr, "readcapacity16 failed\n");
		return 1;
	}
	rc16 = scsi_datain_unmarshall(task);
	s.blocks = rc16->returned_lba + 1;
	s.blksz = rc16->block_length;
	scsi_free_scsi_task(task);
	s.buf = malloc(s.bs);
	memset(s.buf, 0xA5, s.bs);
	srandom(1);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < qd; i++)
		submit(&s);
	while (s.done < s.issued && !s.err) {
		struct pollfd pfd;
		pfd.fd = iscsi_get_fd(s.iscsi);
		pfd.events = iscsi_which_events(s.iscsi);
		if (poll(&pfd, 1, 10000) <= 0) {
			fprintf(stderr, "timeout waiting for responses\n");
			return 1;
		}
		if (iscsi_service(s.iscsi, pfd.revents) < 0) {
			fprintf(stderr, "service: %s\n", iscsi_get_error(s.iscsi));
			return 1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%ld %.6f\n", s.done, (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	iscsi_logout_sync(s.iscsi);
	iscsi_destroy_context(s.iscsi);
	return s.err;
}
