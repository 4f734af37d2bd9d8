/*
 * testhook.c - the test build's injected failures (see testhook.h).
 * Empty unless built with -DOBSERVD_TEST_HOOKS.
 */
#include "config.h"

#include "observd/testhook.h"

#ifdef OBSERVD_TEST_HOOKS
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "observd/clock.h"
#include "observd/log.h"
#include "observd/shm.h"

/* OBSERVD_TESTHOOK_EXIT2 names role: exit as a fatal setup error does. */
static void
testhook_exit2(const char *role)
{
	const char *want = getenv("OBSERVD_TESTHOOK_EXIT2");

	if (want != NULL && strcmp(want, role) == 0) {
		log_errorx("test hook: a fatal setup error in the %s", role);
		exit(EXIT_CONFIG);
	}
}

void
testhook_aggregator_start(void)
{
	testhook_exit2("aggregator");
}

void
testhook_worker_start(void)
{
	const char *path = getenv("OBSERVD_TESTHOOK_WORKER_FAIL");
	const char *delay = getenv("OBSERVD_TESTHOOK_WORKER_DELAY_MS");

	testhook_exit2("worker");
	if (path != NULL && access(path, F_OK) == 0) {
		log_warnx("test hook: %s exists: failing at start", path);
		exit(EXIT_RESPAWN);
	}
	if (delay != NULL) {
		long ms = strtol(delay, NULL, 10);
		struct timespec ts = { ms / 1000, (long)((uint64_t)(ms % 1000) * CLOCK_NS_PER_MS) };

		log_info("test hook: waiting %ld ms before serving", ms);
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
}

void
testhook_request(const char *path, size_t len, void *segment, bool aggregator)
{
	static const char prefix[] = "/testhook/";
	char call[32] = "", *arg;
	long rv = 0, pid;

	if (len <= sizeof(prefix) - 1 || len - (sizeof(prefix) - 1) >= sizeof(call) ||
	    memcmp(path, prefix, sizeof(prefix) - 1) != 0)
		return;
	memcpy(call, path + sizeof(prefix) - 1, len - (sizeof(prefix) - 1));
	pid = (arg = strchr(call, '/')) != NULL ? strtol(arg + 1, NULL, 10) : 0;
	if (arg != NULL)
		*arg = '\0';
	log_warnx("test hook: trying %s", call);
	if (strcmp(call, "execve") == 0) {
		char *const argv[] = { (char *)"observd-testhook", NULL };

		rv = execve("/nonexistent/observd-testhook", argv, NULL);
	} else if (strcmp(call, "open") == 0) {
		rv = open(aggregator ? "/dev/null" : "/etc/passwd",
		    (aggregator ? O_WRONLY : O_RDONLY) | O_CLOEXEC);
		if (rv >= 0)
			close((int)rv);
	} else if (strcmp(call, "ptrace") == 0) {
		rv = ptrace(PTRACE_ATTACH, (pid_t)pid, NULL, NULL);
	} else if (strcmp(call, "connect") == 0) {
		struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)pid),
		    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		rv = fd < 0 ? -1 : connect(fd, (struct sockaddr *)&sin, sizeof(sin));
		if (fd >= 0)
			close(fd);
	} else if (strcmp(call, "mprotect") == 0) {
		rv = mprotect(segment, (size_t)sysconf(_SC_PAGESIZE), PROT_READ | PROT_WRITE);
#ifdef __x86_64__
	} else if (strcmp(call, "int80") == 0) {	/* getpid, i386 ABI */
		long nr = 20;

		__asm__ volatile("int $0x80" : "+a"(nr) : : "memory");
		rv = nr;
#endif
	} else if (strcmp(call, "leak") == 0) {	/* for the leak checker to find */
		static char *volatile lost;

		lost = malloc(64);
		if (lost != NULL)
			lost[0] = 1;
		rv = lost != NULL ? 0 : -1;
	} else if (strcmp(call, "slot-write") == 0 && !aggregator) {
		/* Another worker's slot (pid is its index): a plain store,
		 * as code running here would do. */
		struct shm_segment *seg = segment;

		if (pid < 0 || pid >= (long)SHM_LOAD(&seg->hdr.nslots))
			return;
		SHM_ADD(&seg->slot[pid].connections_accepted, 1);
		rv = 0;
	} else if (strcmp(call, "mmap-exec") == 0) {
		void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		rv = p == MAP_FAILED ? -1 : 0;
		if (p != MAP_FAILED)
			munmap(p, 4096);
	} else
		return;
	log_warnx("test hook: %s returned %ld (%s)", call, rv, rv < 0 ? strerror(errno) : "allowed");
}
#else
/* ISO C wants a translation unit to declare something. */
typedef int testhook_empty;
#endif
