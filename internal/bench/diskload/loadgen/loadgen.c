/*
 * loadgen: a small libiscsi load client for netboot's iSCSI benchmarks
 * (internal/bench/diskload and the iscsi package's BenchmarkLoad).
 *
 *   loadgen URL MODE BLOCKSIZE QUEUEDEPTH COUNT [SECONDS]
 *
 * MODE is seqread, seqwrite, randread or randwrite. It logs in with
 * libiscsi, reads the capacity (READ CAPACITY(16)) and keeps QUEUEDEPTH
 * READ(16)/WRITE(16) commands of BLOCKSIZE bytes in flight (libiscsi's
 * asynchronous API, one session, one connection) until COUNT commands have
 * completed or, when SECONDS is given and > 0, until SECONDS have passed
 * (COUNT 0 = no count limit); then it waits for the commands in flight.
 * Sequential modes walk the LUN from LBA 0 and wrap at the end; random modes
 * pick BLOCKSIZE-aligned LBAs with a fixed seed, so every target sees the
 * same offsets. Writes carry a constant pattern, no FUA.
 *
 * It prints one line:
 *
 *   ops seconds lat_avg_us lat_p99_us errors
 *
 * ops = commands completed, seconds = wall time from the first submission
 * to the last completion, latencies = submission to completion of each
 * command (microseconds), errors = commands that did not end GOOD.
 * Exit status 0 when errors is 0.
 *
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

struct cmd {
	struct state *s;
	double start;
};

struct state {
	struct iscsi_context *iscsi;
	int lun, write, rnd;
	uint32_t bs, blksz;
	uint64_t blocks, next;
	long issued, done, total, errors;
	double deadline;
	unsigned char *buf;
	int fatal;
	double *lat;
	size_t nlat, caplat;
};

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void submit(struct state *s);

static void record(struct state *s, double us)
{
	if (s->nlat == s->caplat) {
		size_t n = s->caplat ? s->caplat * 2 : 65536;
		double *p = realloc(s->lat, n * sizeof *p);
		if (p == NULL)
			return; /* keep counting, lose the sample */
		s->lat = p;
		s->caplat = n;
	}
	s->lat[s->nlat++] = us;
}

static void cb(struct iscsi_context *iscsi, int status, void *data, void *priv)
{
	struct cmd *c = priv;
	struct state *s = c->s;
	(void)iscsi;
	if (status != SCSI_STATUS_GOOD) {
		if (s->errors == 0)
			fprintf(stderr, "command failed: status %d: %s\n", status, iscsi_get_error(s->iscsi));
		s->errors++;
	}
	record(s, (now() - c->start) * 1e6);
	free(c);
	scsi_free_scsi_task(data);
	s->done++;
	submit(s);
}

static void submit(struct state *s)
{
	struct scsi_task *t;
	struct cmd *c;
	uint64_t n = s->bs / s->blksz, lba;

	if (s->fatal || (s->total > 0 && s->issued >= s->total))
		return;
	if (s->deadline > 0 && now() >= s->deadline)
		return;
	if (s->rnd) {
		lba = ((uint64_t)random() % (s->blocks / n)) * n;
	} else {
		if (s->next + n > s->blocks)
			s->next = 0;
		lba = s->next;
		s->next += n;
	}
	c = malloc(sizeof *c);
	if (c == NULL) {
		s->fatal = 1;
		return;
	}
	c->s = s;
	c->start = now();
	if (s->write)
		t = iscsi_write16_task(s->iscsi, s->lun, lba, s->buf, s->bs, s->blksz, 0, 0, 0, 0, 0, cb, c);
	else
		t = iscsi_read16_task(s->iscsi, s->lun, lba, s->bs, s->blksz, 0, 0, 0, 0, 0, cb, c);
	if (t == NULL) {
		fprintf(stderr, "submit: %s\n", iscsi_get_error(s->iscsi));
		free(c);
		s->fatal = 1;
		return;
	}
	s->issued++;
}

static int cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	struct state s;
	struct iscsi_url *url;
	struct scsi_task *task;
	struct scsi_readcapacity16 *rc16;
	double t0, t1, sum = 0, p99 = 0;
	int qd, i;
	size_t k;

	if (argc != 6 && argc != 7) {
		fprintf(stderr, "usage: loadgen URL MODE BLOCKSIZE QUEUEDEPTH COUNT [SECONDS]\n");
		return 2;
	}
	memset(&s, 0, sizeof s);
	s.write = strstr(argv[2], "write") != NULL;
	s.rnd = strncmp(argv[2], "rand", 4) == 0;
	s.bs = atoi(argv[3]);
	qd = atoi(argv[4]);
	s.total = atol(argv[5]);
	if (argc == 7 && atof(argv[6]) > 0)
		s.deadline = atof(argv[6]); /* relative until the start */
	if (qd < 1 || s.bs == 0 || (s.total <= 0 && s.deadline <= 0)) {
		fprintf(stderr, "loadgen: need QUEUEDEPTH >= 1, BLOCKSIZE > 0 and a COUNT or SECONDS\n");
		return 2;
	}
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
	if (s.blksz == 0 || s.bs % s.blksz != 0 || s.bs / s.blksz > s.blocks) {
		fprintf(stderr, "block size %u does not fit the LUN (%u-byte blocks)\n", s.bs, s.blksz);
		return 1;
	}
	s.buf = malloc(s.bs);
	memset(s.buf, 0xA5, s.bs);
	srandom(1);

	t0 = now();
	if (s.deadline > 0)
		s.deadline += t0;
	for (i = 0; i < qd; i++)
		submit(&s);
	while (s.done < s.issued && !s.fatal) {
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
	t1 = now();
	if (s.nlat > 0) {
		for (k = 0; k < s.nlat; k++)
			sum += s.lat[k];
		qsort(s.lat, s.nlat, sizeof *s.lat, cmpd);
		p99 = s.lat[(s.nlat * 99 + 99) / 100 - 1];
	}
	printf("%ld %.6f %.1f %.1f %ld\n", s.done, t1 - t0, s.nlat ? sum / s.nlat : 0.0, p99, s.errors);
	iscsi_logout_sync(s.iscsi);
	iscsi_destroy_context(s.iscsi);
	return s.errors != 0 || s.fatal;
}
