/*
 * check_master.c - the master's process model against the real binary:
 * a hostile worker that scribbles over the shared segment, worker
 * identities that survive reloads and respawns, reloads that finish
 * whatever a retired worker does, and connections queued on a stopped
 * worker's socket that are answered on stop and on reload.
 *
 * The hostile-worker test writes a worker's memory through
 * /proc/PID/mem, as code running in that worker could: it needs root
 * (the workers are not dumpable) and is skipped, saying so, without.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ftest.h"
#include "itest.h"
#include "observd/shm.h"

#define MAX_PIDS	64

static struct itest_server srv;
static struct itest_response r1;

static void
teardown(void)
{
	itest_stop_all();
}

/* --------------------------------------------------------------- helpers */

/* Where the segment is mapped in pid: the start of its control region
 * (the sealed memfd), or 0. */
static uintptr_t
segment_base(pid_t pid)
{
	char path[64], line[512];
	uintptr_t base = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/maps", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, "/memfd:observd-shm") != NULL) {
			base = (uintptr_t)strtoull(line, NULL, 16);
			break;
		}
	fclose(f);
	return base;
}

/* Write (or read) pid's memory at addr as a debugger would: what code
 * running in pid could do to its own mappings.  Bytes written, or -1. */
static ssize_t
mem_io(pid_t pid, uintptr_t addr, void *buf, size_t len, bool write)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/mem", (long)pid);
	if ((fd = open(path, O_RDWR | O_CLOEXEC)) < 0)
		return -1;
	n = write ? pwrite(fd, buf, len, (off_t)addr) : pread(fd, buf, len, (off_t)addr);
	close(fd);
	return n;
}

static void
fill_random(void *buf, size_t len, unsigned *seed)
{
	for (size_t i = 0; i < len; i++)
		((unsigned char *)buf)[i] = (unsigned char)rand_r(seed);
}

/*
 * What a compromised worker would do to the slots: random bytes, then
 * slot magics, every state SERVING, gauges out of range, and the pids of
 * the master, of init and of a bystander in every other word.  Returns
 * how many slots it could write: its own only, the others being
 * read-only in it.
 */
static unsigned
scribble_slots(pid_t worker, uintptr_t base, unsigned nslots, pid_t canary,
    unsigned *seed)
{
	static struct shm_slot fake;
	const int64_t forged[] = { canary, srv.pid, 1, -1, 0 };
	unsigned written = 0;

	for (unsigned i = 0; i < nslots; i++) {
		uintptr_t at = base + offsetof(struct shm_segment, slot) + i * sizeof(struct shm_slot);

		fill_random(&fake, sizeof(fake), seed);
		if (rand_r(seed) % 2) {
			int64_t *w = (int64_t *)(void *)&fake;

			for (size_t k = 0; k < sizeof(fake) / sizeof(*w); k++)
				w[k] = forged[k % (sizeof(forged) / sizeof(forged[0]))];
		}
		fake.magic = SHM_SLOT_MAGIC;
		fake.state = rand_r(seed) % 4 ? SHM_SLOT_SERVING : (uint64_t)rand_r(seed);
		fake.connections_open = -(int64_t)(rand_r(seed) % 1000);
		if (mem_io(worker, at, &fake, sizeof(fake), true) == (ssize_t)sizeof(fake))
			written++;
	}
	return written;
}

/* A child of ours that only waits: its pid is forged into the slots, and
 * it must never be signalled. */
static pid_t
canary_start(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		for (;;)
			pause();
	}
	ck_assert_int_gt(pid, 0);
	return pid;
}

static bool
canary_alive(pid_t pid)
{
	return waitpid(pid, NULL, WNOHANG) == 0;
}

/* Wait until the master logged want lines with either message. */
static bool
log_wait_either(const struct itest_server *s, const char *a, const char *b, int want,
    int timeout_ms)
{
	uint64_t end = itest_now_ms() + (uint64_t)timeout_ms;

	do {
		if (itest_log_count(s, "master", a) + itest_log_count(s, "master", b) >= want)
			return true;
		itest_sleep_ms(50);
	} while (itest_now_ms() < end);
	return false;
}

/* ------------------------------------------------------- a hostile worker */

START_TEST(test_hostile_worker)
{
	struct ftest_load load;
	struct ftest_client_stats before, after;
	char stats[256], garbage[4096];
	pid_t workers[MAX_PIDS], agg[4], canary;
	unsigned seed = (unsigned)getpid(), nslots = 0;
	uint64_t end, hup_at, kill_at;
	uintptr_t base;
	int64_t forged_pids[CONFIG_MAX_WORKERS];
	bool hup_sent = false, kill_sent = false;
	int status, n, scribbles = 0;

	if (geteuid() != 0)
		CRUNNER_SKIP("needs root to write the workers' memory");
	canary = canary_start();
	ck_assert_msg(itest_start_ex(&srv, ITEST_METRICS, ARGS("--user", "nobody", "--drain-timeout", "2s"),
	    NULL) == 0, "observd did not start");
	ck_assert_int_eq(ftest_load_start(&load, 4, srv.port, "/health", 2000, 3000, 60000), 0);
	ck_assert_int_eq(ftest_children(srv.pid, "observd-worker", workers, MAX_PIDS), 2);
	ck_assert_int_eq(ftest_children(srv.pid, "observd-metrics", agg, 4), 1);
	{
		/* A root without CAP_SYS_PTRACE (a container's build step)
		 * may not open another user's memory. */
		char path[64];
		int fd;

		snprintf(path, sizeof(path), "/proc/%ld/mem", (long)workers[0]);
		if ((fd = open(path, O_RDWR | O_CLOEXEC)) < 0 && (errno == EACCES || errno == EPERM)) {
			crunner_skip(__func__, "cannot open %s (%s): needs CAP_SYS_PTRACE", path, strerror(errno));
			ftest_load_stop(&load, 5000);
			kill(canary, SIGKILL);
			waitpid(canary, NULL, 0);
			return;
		}
		if (fd >= 0)
			close(fd);
	}
	ITEST_CHECK(&srv, (base = segment_base(workers[0])) != 0, "no segment in worker %ld's maps",
	    (long)workers[0]);
	ck_assert_int_eq(mem_io(workers[0], base + offsetof(struct shm_segment, hdr.nslots),
	    &nslots, sizeof(nslots), false), (ssize_t)sizeof(nslots));
	ck_assert_uint_eq(nslots, 2 * SHM_SLOTS_PER_POSITION);

	/* What a worker must not be able to write: the header (geometry),
	 * the master's table, the aggregator's section. */
	fill_random(garbage, sizeof(garbage), &seed);
	ck_assert_msg(mem_io(workers[0], base, garbage, sizeof(garbage), true) < 0,
	    "a worker could overwrite the segment header");
	nslots = 0xffffffffu;
	ck_assert_msg(mem_io(workers[0], base + offsetof(struct shm_segment, hdr.nslots), &nslots,
	    sizeof(nslots), true) < 0, "a worker could change the slot count");
	for (int i = 0; i < CONFIG_MAX_WORKERS; i++)
		forged_pids[i] = i % 2 ? canary : 1;
	ck_assert_msg(mem_io(workers[0], base + offsetof(struct shm_segment, master.worker_pid),
	    forged_pids, sizeof(forged_pids), true) < 0, "a worker could forge the master's pid table");
	ck_assert_msg(mem_io(workers[0], base + offsetof(struct shm_segment, aggregator), garbage,
	    sizeof(garbage), true) < 0, "a worker could write the aggregator's section");
	/* ... nor the aggregator the slots or the header. */
	ck_assert_msg(mem_io(agg[0], base + offsetof(struct shm_segment, slot), garbage,
	    sizeof(garbage), true) < 0, "the aggregator could write the slots");
	ck_assert_msg(mem_io(agg[0], base, garbage, sizeof(garbage), true) < 0,
	    "the aggregator could write the segment header");
	/* What they can write is input the others must survive. */
	ck_assert_msg(mem_io(agg[0], base + offsetof(struct shm_segment, aggregator), garbage,
	    sizeof(garbage), true) == (ssize_t)sizeof(garbage), "cannot write the aggregator's own section");
	nslots = 2 * SHM_SLOTS_PER_POSITION;
	n = (int)scribble_slots(workers[0], base, nslots, canary, &seed);
	ck_assert_msg(n == 1, "a worker could write %d of the %u slots, not its own only", n, nslots);

	/* Keep scribbling through a SIGHUP and a SIGKILL of a worker. */
	ftest_load_sum(&load, &before);
	hup_at = itest_now_ms() + 500;
	kill_at = hup_at + 2000;
	end = kill_at + 3000;
	while (itest_now_ms() < end) {
		if ((n = ftest_children(srv.pid, "observd-worker", workers, MAX_PIDS)) > 0 &&
		    scribble_slots(workers[rand_r(&seed) % (unsigned)n], base, nslots, canary, &seed) > 0)
			scribbles++;
		if (!hup_sent && itest_now_ms() >= hup_at) {
			ck_assert_int_eq(itest_signal(&srv, SIGHUP), 0);
			hup_sent = true;
		}
		if (!kill_sent && itest_now_ms() >= kill_at && n > 0) {
			kill(workers[0], SIGKILL);
			kill_sent = true;
		}
		itest_sleep_ms(20);
	}
	ITEST_CHECK(&srv, itest_alive(&srv), "the master died");
	ck_assert_msg(canary_alive(canary), "a process whose pid was forged into the slots was signalled");
	ck_assert_int_gt(scribbles, 10);
	/* The reload finishes one way or the other, bounded. */
	ITEST_CHECK(&srv, log_wait_either(&srv, "reload complete", "reload failed", 1, 20000),
	    "the reload neither completed nor failed");
	for (int tries = 0; tries < 150 && ftest_children(srv.pid, "observd-worker", workers, MAX_PIDS) != 2; tries++)
		itest_sleep_ms(100);
	ITEST_CHECK(&srv, ftest_children(srv.pid, "observd-worker", workers, MAX_PIDS) == 2,
	    "the workers did not come back");
	/* The app port answers; clients were served during the attack. */
	ITEST_CHECK(&srv, itest_wait_ready(&srv, 10000) == 0, "/ready no longer answers 200");
	ITEST_CHECK(&srv, itest_get(&srv, "/health", &r1) == 0 && r1.status == 200, "/health: %s", r1.error);
	ftest_load_sum(&load, &after);
	ITEST_CHECK(&srv, after.ok > before.ok + 50, "clients stalled during the attack: %s",
	    ftest_stats_str(&after, stats, sizeof(stats)));
	/* Scrapes succeed (bad slots counted) or fail cleanly, never hang. */
	for (int i = 0; i < 3; i++) {
		struct ftest_http res;

		ITEST_CHECK(&srv, ftest_http_get(srv.mport, "/metrics", NULL, false, 5000, &res) == 0,
		    "scrape %d: %s", i, res.error);
		ITEST_CHECK(&srv, res.status == 200 || res.status == 500, "scrape %d: status %d", i, res.status);
		ftest_http_free(&res);
	}
	ftest_load_stop(&load, 5000);
	/* Nothing crashed on what it read: the only death was our SIGKILL. */
	ITEST_CHECK(&srv, itest_log_count(&srv, "master", "killed by signal") <= 1 &&
	    itest_log_count(&srv, "master", "aggregator (pid") == 0,
	    "a child died of what it read from the segment");
	ITEST_CHECK(&srv, canary_alive(canary), "the bystander was signalled");
	status = itest_stop(&srv);
	ck_assert_msg(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "the master did not exit 0 on SIGTERM (status 0x%x)", status);
	ck_assert_msg(canary_alive(canary), "the bystander was signalled at stop");
	kill(canary, SIGKILL);
	waitpid(canary, NULL, 0);
	fprintf(stderr, "test_hostile_worker: %d rounds of scribbling over every slot; served %llu requests meanwhile\n",
	    scribbles, (unsigned long long)(after.ok - before.ok));
}
END_TEST

/* ------------------------------------------------- identities of workers */

/* The worker labels of observd_process_start_time_seconds, with their
 * values; how many. */
static int
worker_starts(uint16_t port, double *start, int max)
{
	static const char series[] = "observd_process_start_time_seconds{role=\"worker\",worker=\"";
	struct ftest_http res;
	int n = 0;

	for (int i = 0; i < max; i++)
		start[i] = -1;
	if (ftest_http_get(port, "/metrics", NULL, false, 5000, &res) < 0 || res.status != 200) {
		ftest_http_free(&res);
		return -1;
	}
	for (const char *p = res.body; (p = strstr(p, series)) != NULL; p++) {
		char *end;
		long w = strtol(p + sizeof(series) - 1, &end, 10);

		ck_assert_msg(w >= 0 && w < max && strncmp(end, "\"} ", 3) == 0,
		    "worker label out of range: %.80s", p);
		start[w] = strtod(end + 3, NULL);
		n++;
	}
	ftest_http_free(&res);
	return n;
}

/* Every label 0..n-1 present (and no other: worker_starts checks the
 * range), started after since. */
static bool
labels_are(uint16_t port, int n, double since, double *start)
{
	if (worker_starts(port, start, CONFIG_MAX_WORKERS) != n)
		return false;
	for (int i = 0; i < n; i++)
		if (start[i] < since)
			return false;
	return true;
}

static void
labels_stable(int nworkers)
{
	char workers[16];
	double start[CONFIG_MAX_WORKERS], first[CONFIG_MAX_WORKERS], t_reload;
	pid_t pids[MAX_PIDS];
	uint16_t port;
	bool ok = false;

	snprintf(workers, sizeof(workers), "%d", nworkers);
	ck_assert_msg(itest_start_ex(&srv, ITEST_METRICS, ARGS("--workers", workers, "--drain-timeout", "1s"),
	    NULL) == 0, "observd did not start");
	port = srv.mport;
	/* The sampler runs at the aggregator's start and then every 5 s. */
	for (int tries = 0; tries < 150 && !ok; tries++) {
		if (tries)
			itest_sleep_ms(100);
		ok = labels_are(port, nworkers, 0, first);
	}
	ITEST_CHECK(&srv, ok, "worker labels are not 0..%d at start", nworkers - 1);
	t_reload = (double)clock_real_ns() / 1e9;
	for (int i = 1; i <= 3; i++) {
		ck_assert_int_eq(itest_signal(&srv, SIGHUP), 0);
		ITEST_CHECK(&srv, itest_log_wait(&srv, "master", "reload complete", i, 30000),
		    "reload %d did not complete", i);
	}
	/* The retired workers finish (drain timeout 1 s) and exit. */
	for (int tries = 0; tries < 300 &&
	    ftest_children(srv.pid, "observd-worker", pids, MAX_PIDS) != nworkers; tries++)
		itest_sleep_ms(100);
	ck_assert_int_eq(ftest_children(srv.pid, "observd-worker", pids, MAX_PIDS), nworkers);
	ck_assert_int_eq(kill(pids[nworkers / 2], SIGKILL), 0);
	ITEST_CHECK(&srv, itest_log_wait(&srv, "master", "restarting in", 1, 10000), "no respawn logged");
	/* Every position's process is a new one, under the same label. */
	ok = false;
	for (int tries = 0; tries < 200 && !ok; tries++) {
		if (tries)
			itest_sleep_ms(100);
		ok = labels_are(port, nworkers, t_reload, start);
	}
	for (int i = 0; i < nworkers && !ok; i++)
		fprintf(stderr, "worker=\"%d\": started %.3f (first %.3f, reloads from %.3f)\n",
		    i, start[i], first[i], t_reload);
	ITEST_CHECK(&srv, ok, "after 3 reloads and a kill, the worker labels are not 0..%d, each a new process",
	    nworkers - 1);
	fprintf(stderr, "labels_stable: %d workers keep labels 0..%d through 3 reloads and a kill\n",
	    nworkers, nworkers - 1);
}

START_TEST(test_labels_stable_2)
{
	labels_stable(2);
}
END_TEST

START_TEST(test_labels_stable_40)
{
	labels_stable(40);
}
END_TEST

/* ------------------------------------------------------- bounded reloads */

/* A retired worker that never finishes (stopped) is killed once the
 * drain timeout and a second have passed: the reload completes, and a
 * SIGHUP sent meanwhile is applied after it. */
START_TEST(test_reload_stopped_retiree)
{
	pid_t pids[MAX_PIDS], old;
	long long commit, killed, done;

	ck_assert_msg(itest_start(&srv, ARGS("--workers", "1", "--drain-timeout", "2s"), NULL) == 0,
	    "observd did not start");
	ck_assert_int_eq(ftest_children(srv.pid, "observd-worker", pids, MAX_PIDS), 1);
	old = pids[0];
	ck_assert_int_eq(kill(old, SIGSTOP), 0);
	ck_assert_int_eq(itest_signal(&srv, SIGHUP), 0);
	ITEST_CHECK(&srv, itest_log_wait(&srv, "master", "retiring the old ones", 1, 15000),
	    "the new worker never served");
	ck_assert_int_eq(itest_signal(&srv, SIGHUP), 0);	/* queued behind the first */
	ITEST_CHECK(&srv, itest_log_wait(&srv, "master", "reload complete", 1, 15000),
	    "the reload with a stopped retired worker did not complete");
	/* On the master's own clock: the kill comes drain_timeout + 1 s after
	 * the retirement (not before; later only as late as the machine lets
	 * the master run), and the reload completes as soon as the killed
	 * worker is reaped. */
	commit = itest_log_ts_ms(&srv, "retiring the old ones");
	killed = itest_log_ts_ms(&srv, "still running 3000 ms after it was asked to stop: killing it");
	done = itest_log_ts_ms(&srv, "reload complete");
	ITEST_CHECK(&srv, commit >= 0 && killed >= 0 && done >= 0,
	    "the stopped worker was not killed as overstaying its drain timeout + 1 s");
	if (killed < commit)
		killed += (long long)(86400 * CLOCK_MS_PER_S);	/* past midnight */
	if (done < commit)
		done += (long long)(86400 * CLOCK_MS_PER_S);
	ITEST_CHECK(&srv, killed - commit >= 3000 - 10, "killed %lld ms after retiring, before its time",
	    killed - commit);
	ITEST_CHECK(&srv, done - killed <= 1000, "the reload completed %lld ms after the kill", done - killed);
	ITEST_CHECK(&srv, itest_log_count(&srv, "master", "still running") == 1,
	    "more than the stopped worker was killed");
	ITEST_CHECK(&srv, itest_log_wait(&srv, "master", "reload complete: generation 2", 1, 20000),
	    "the SIGHUP sent during the reload was not applied");
	ITEST_CHECK(&srv, !ftest_pid_alive(old), "the stopped worker is still there");
	ITEST_CHECK(&srv, itest_get(&srv, "/health", &r1) == 0 && r1.status == 200, "%s", r1.error);
	fprintf(stderr, "test_reload_stopped_retiree: killed %lld ms after retiring (drain 2 s), complete %lld ms later\n",
	    killed - commit, done - killed);
}
END_TEST

/* A new worker that cannot start fails the reload: the old ones keep
 * serving, with the old configuration, and the next reload works. */
START_TEST(test_reload_new_worker_dies)
{
	const char *conf = itest_write_file("observd.conf", "service_name = before\n");
	char dir[] = "/tmp/observd-hook-XXXXXX", fail[64];
	char env_conf[PATH_MAX + 32], env_fail[PATH_MAX + 40];
	pid_t pids[MAX_PIDS], old[MAX_PIDS];
	FILE *f;

	/* Where the workers' user can look (our temporary directory is
	 * ours alone). */
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(chmod(dir, 0755), 0);
	snprintf(fail, sizeof(fail), "%s/fail", dir);

	snprintf(env_conf, sizeof(env_conf), "OBSERVD_CONFIG=%s", conf);
	snprintf(env_fail, sizeof(env_fail), "OBSERVD_TESTHOOK_WORKER_FAIL=%s", fail);
	ck_assert_msg(itest_start_ex(&srv, ITEST_HOOKS, NULL, ARGS(env_conf, env_fail)) == 0,
	    "observd-hooks did not start");
	ck_assert_int_eq(ftest_children(srv.pid, "observd-worker", old, MAX_PIDS), 2);
	itest_write_file("observd.conf", "service_name = after\n");
	ck_assert_ptr_nonnull(f = fopen(fail, "w"));	/* new workers now fail */
	fclose(f);
	ck_assert_int_eq(itest_signal(&srv, SIGHUP), 0);
	ITEST_CHECK(&srv, itest_log_wait(&srv, "master", "reload failed", 1, 15000),
	    "a reload whose new worker died did not fail");
	ITEST_CHECK(&srv, itest_get(&srv, "/health", &r1) == 0 && r1.status == 200 &&
	    strstr(r1.body, "\"before\"") != NULL, "not served by the old configuration: %s", r1.body);
	ck_assert_int_eq(ftest_children(srv.pid, "observd-worker", pids, MAX_PIDS), 2);
	ck_assert(pids[0] == old[0] && pids[1] == old[1]);
	ITEST_CHECK(&srv, itest_log_count(&srv, "master", "reload complete") == 0, "a reload completed");
	/* The next reload, with workers that start, works. */
	ck_assert_int_eq(unlink(fail), 0);
	ck_assert_int_eq(itest_signal(&srv, SIGHUP), 0);
	ITEST_CHECK(&srv, itest_log_wait(&srv, "master", "reload complete", 1, 15000), "the next reload failed");
	ITEST_CHECK(&srv, itest_get(&srv, "/health", &r1) == 0 && strstr(r1.body, "\"after\"") != NULL,
	    "not served by the new configuration: %s", r1.body);
	rmdir(dir);
}
END_TEST

/* ------------------------------------------------- queued on a stopped worker */

/* More than a worker accepts per wakeup (64), so that some are still
 * queued when the worker sees its SIGTERM. */
#define QUEUED	200

/* Connections with a request each, queued on the stopped worker's socket,
 * are all answered after stop (SIGTERM) or reload (SIGHUP). */
static void
queued_answered(int sig)
{
	static const char req[] = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
	struct itest_conn *c[QUEUED];
	pid_t pids[MAX_PIDS];
	int answered = 0;

	ck_assert_msg(itest_start(&srv, ARGS("--workers", "1", "--drain-timeout", "3s"), NULL) == 0,
	    "observd did not start");
	ck_assert_int_eq(ftest_children(srv.pid, "observd-worker", pids, MAX_PIDS), 1);
	ck_assert_int_eq(kill(pids[0], SIGSTOP), 0);
	for (int i = 0; i < QUEUED; i++) {
		ck_assert_ptr_nonnull(c[i] = itest_connect_server(&srv));
		ck_assert_int_eq(itest_sends(c[i], req), 0);
	}
	ck_assert_int_eq(itest_signal(&srv, sig), 0);
	if (sig == SIGHUP)	/* the replacement takes them meanwhile */
		ITEST_CHECK(&srv, itest_log_wait(&srv, "master", "retiring the old ones", 1, 15000),
		    "the new worker never served");
	else
		itest_sleep_ms(200);	/* the master closed its sockets */
	ck_assert_int_eq(kill(pids[0], SIGCONT), 0);
	for (int i = 0; i < QUEUED; i++) {
		if (itest_read_response(c[i], &r1, false, 10000) == 0 && r1.status == 200)
			answered++;
		else
			fprintf(stderr, "queued connection %d: %s\n", i, r1.error);
		itest_close(c[i]);
	}
	ITEST_CHECK(&srv, answered == QUEUED, "%d of %d queued requests answered after %s", answered,
	    QUEUED, sig == SIGHUP ? "SIGHUP" : "SIGTERM");
	if (sig == SIGTERM) {
		ITEST_CHECK(&srv, itest_wait_exit(&srv, 10000) == 0 && itest_exit_code(&srv) == 0,
		    "the master did not exit 0");
	}
}

START_TEST(test_queued_answered_on_stop)
{
	queued_answered(SIGTERM);
}
END_TEST

START_TEST(test_queued_answered_on_reload)
{
	queued_answered(SIGHUP);
}
END_TEST

/* ----------------------------------------------------- signals at start */

/*
 * A signal that reaches a worker between its fork and its event loop is
 * kept pending and then handled: SIGHUP ignored, SIGTERM a drain and a
 * clean exit, never death by the default action.  The hook holds the
 * worker in that window.
 */
START_TEST(test_signal_before_loop)
{
	pid_t pids[MAX_PIDS], fresh = 0;

	ck_assert_msg(itest_start_ex(&srv, ITEST_HOOKS, ARGS("--workers", "1"),
	    ARGS("OBSERVD_TESTHOOK_WORKER_DELAY_MS=1500")) == 0, "observd-hooks did not start");
	for (int round = 0; round < 2; round++) {
		int sig = round == 0 ? SIGHUP : SIGTERM;
		int waits = itest_log_count(&srv, "worker", "test hook: waiting");

		ck_assert_int_eq(ftest_children(srv.pid, "observd-worker", pids, MAX_PIDS), 1);
		ck_assert_int_eq(kill(pids[0], SIGKILL), 0);
		/* The respawned worker is in its window for 1.5 s. */
		ITEST_CHECK(&srv, itest_log_wait(&srv, "worker", "test hook: waiting", waits + 1, 10000),
		    "no respawn");
		for (int tries = 0; tries < 100 && fresh == 0; tries++) {
			if (ftest_children(srv.pid, "observd-worker", pids, MAX_PIDS) == 1 && pids[0] != fresh)
				fresh = pids[0];
			else
				itest_sleep_ms(10);
		}
		ck_assert_int_gt(fresh, 0);
		ck_assert_int_eq(kill(fresh, sig), 0);
		ITEST_CHECK(&srv, itest_log_wait(&srv, "master", sig == SIGHUP ? "ready" : "restarting in",
		    round == 0 ? 1 : 3, 10000), "nothing happened after the signal");
		itest_sleep_ms(2000);
		ITEST_CHECK(&srv, itest_log_count(&srv, "master", "killed by signal 1 ") == 0 &&
		    itest_log_count(&srv, "master", "killed by signal 15 ") == 0,
		    "a worker died of %s sent before its event loop ran", strsignal(sig));
		if (sig == SIGHUP)
			ITEST_CHECK(&srv, ftest_pid_alive(fresh), "the worker did not survive SIGHUP");
		else
			ITEST_CHECK(&srv, itest_log_count(&srv, "master", "exited with status 0") == 1,
			    "the worker did not drain and exit 0 on SIGTERM");
		fresh = 0;
	}
}
END_TEST

static Suite *
master_suite(void)
{
	Suite *s = suite_create("master");
	TCase *tc;

	tc = tcase_create("hostile");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 90);
	tcase_add_test(tc, test_hostile_worker);
	suite_add_tcase(s, tc);

	tc = tcase_create("identity");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_labels_stable_2);
	tcase_add_test(tc, test_labels_stable_40);
	suite_add_tcase(s, tc);

	tc = tcase_create("reload");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_reload_stopped_retiree);
	tcase_add_test(tc, test_reload_new_worker_dies);
	tcase_add_test(tc, test_queued_answered_on_stop);
	tcase_add_test(tc, test_queued_answered_on_reload);
	tcase_add_test(tc, test_signal_before_loop);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return itest_run_heavy_suite("check_master", master_suite());
}
