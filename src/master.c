/*
 * master.c - the master process.
 *
 * It binds the sockets and creates the segment (while it may still be
 * privileged), forks one worker per position and the aggregator, and then
 * only reacts: to a child's death (respawn into the same slot, with
 * backoff), to SIGHUP (validate the new configuration; start a new worker
 * per position in a free slot, and retire the old one once the new one
 * serves, so no request fails), to SIGTERM/SIGINT (drain, then exit 0).
 *
 * Signals are blocked and read from a signalfd, so every reaction runs in
 * the main loop and nothing happens in a signal handler.
 */
#include "config.h"

#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "observd/aggregator.h"
#include "observd/clock.h"
#include "observd/http_response.h"
#include "observd/listener.h"
#include "observd/log.h"
#include "observd/master.h"
#include "observd/notify.h"
#include "observd/privsep.h"
#include "observd/procstat.h"
#include "observd/shm.h"
#include "observd/worker.h"

#define SLOTS_PER_POSITION	3	/* active, its replacement, one retiring */
#define BACKOFF_MIN_MS		100
#define BACKOFF_MAX_MS		10000
#define STABLE_MS		5000	/* a child that lived this long was healthy */
#define POLL_BUSY_MS		20	/* while waiting for a child to serve */
#define KILL_GRACE_MS		1000	/* after the drain timeout, then SIGKILL */
#define STARTUP_TIMEOUT_MS	10000	/* a worker not serving by then is killed */
#define LOG_RETRY_MS		250	/* while log lines wait for stderr */

/* A worker position: what should run, and what runs. */
struct position {
	pid_t		 active;	/* serving (or starting, first time) */
	int		 active_slot;
	pid_t		 pending;	/* replacement being started (reload) */
	int		 pending_slot;
	int		 last_slot;	/* slot of the last worker, for respawn */
	bool		 replace;	/* a reload asked for a new worker */
	unsigned	 failures;	/* quick deaths in a row */
	uint64_t	 respawn_at_ms;
	uint64_t	 started_ms;	/* of the newest worker */
	bool		 start_killed;	/* it hung in start-up and was killed */
};

/* A worker stopping after a reload: it keeps its slot until reaped. */
struct retiring {
	pid_t		 pid;
	int		 slot;
};

static struct master {
	struct config		 cfg;
	struct http_responses	 rs;
	const struct config_overrides *overrides;
	char *const		*envp;
	struct listeners	 ls;
	struct shm_segment	*seg;
	pid_t			 pid;
	int			 sigfd;
	struct position		 pos[CONFIG_MAX_WORKERS];
	struct retiring		 retiring[CONFIG_MAX_WORKERS * SLOTS_PER_POSITION];
	pid_t			 aggregator;
	bool			 aggregator_restart;	/* reload: replace it */
	unsigned		 aggregator_failures;
	uint64_t		 aggregator_at_ms;
	uint64_t		 aggregator_started_ms;
	bool			 ready_logged;
	bool			 reloading;
	bool			 reload_queued;
	bool			 stopping;
	int			 exit_status;
	uint64_t		 kill_at_ms;
	uint64_t		 generation;
} m;


static uint64_t
backoff_ms(unsigned failures)
{
	uint64_t ms = BACKOFF_MIN_MS;

	/* The first quick death is retried at once; then 100 ms, 200 ms, ... */
	if (failures <= 1)
		return 0;
	while (--failures > 1 && ms < BACKOFF_MAX_MS)
		ms *= 2;
	return ms < BACKOFF_MAX_MS ? ms : BACKOFF_MAX_MS;
}

/* No process uses the slot: never used, or its worker was reaped (the
 * master releases a slot only when it reaps the slot's worker). */
static bool
slot_usable(int i)
{
	uint64_t st = SHM_LOAD(&m.seg->slot[i].state);

	return st == SHM_SLOT_UNUSED || st == SHM_SLOT_IDLE;
}

static int
slot_free(void)
{
	for (unsigned i = 0; i < m.seg->hdr.nslots; i++)
		if (slot_usable((int)i))
			return (int)i;
	return -1;
}

/* ------------------------------------------------------------------ fork */

/* Everything a child does before it becomes a worker or the aggregator. */
static void
child_setup(const char *role, int index)
{
	sigset_t all;

	close(m.sigfd);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	signal(SIGCHLD, SIG_DFL);
	log_init(m.cfg.log_level, role, index);
	if (privsep_drop(&m.cfg, m.pid) < 0)
		exit(EXIT_CONFIG);
}

static pid_t
spawn_worker(unsigned index, int slot_index)
{
	struct shm_slot *slot = shm_slot_get(m.seg, (unsigned)slot_index);
	pid_t pid;

	shm_slot_claim(slot, m.generation);
	if ((pid = fork()) < 0) {
		log_warn("fork worker %u", index);
		shm_slot_release(slot);
		return -1;
	}
	if (pid == 0) {
		struct worker_ctx ctx = {
			.cfg = &m.cfg,
			.responses = &m.rs,
			.seg = m.seg,
			.slot = slot,
			.index = index,
			.listen_fds = m.ls.app[index],
			.nlisten = m.ls.napp_addrs,
		};

		listeners_keep_only(&m.ls, (int)index, 0);
		child_setup("worker", (int)index);
		prctl(PR_SET_NAME, "observd-worker", 0, 0, 0);
		worker_main(&ctx);
	}
	SHM_STORE(&slot->pid, (int64_t)pid);
	m.pos[index].started_ms = clock_mono_ms();
	m.pos[index].start_killed = false;
	if (m.ready_logged)	/* a respawn or a replacement: worth a line */
		log_info("worker %u started: pid %ld, slot %d", index, (long)pid, slot_index);
	else
		log_debug("worker %u started: pid %ld, slot %d", index, (long)pid, slot_index);
	return pid;
}

static void
spawn_aggregator(void)
{
	pid_t pid;

	if (m.ls.nmetrics == 0)
		return;
	if ((pid = fork()) < 0) {
		log_warn("fork aggregator");
		m.aggregator_failures++;
		m.aggregator_at_ms = clock_mono_ms() + backoff_ms(m.aggregator_failures);
		return;
	}
	if (pid == 0) {
		struct aggregator_ctx ctx = {
			.cfg = &m.cfg,
			.responses = &m.rs,
			.seg = m.seg,
			.listen_fds = m.ls.metrics,
			.nlisten = m.ls.nmetrics,
		};

		listeners_keep_only(&m.ls, -1, 1);
		child_setup("aggregator", -1);
		prctl(PR_SET_NAME, "observd-metrics", 0, 0, 0);
		aggregator_main(&ctx);
	}
	m.aggregator = pid;
	m.aggregator_started_ms = clock_mono_ms();
	SHM_STORE(&m.seg->master.aggregator_pid, (int64_t)pid);
	log_debug("aggregator started: pid %ld", (long)pid);
}

/* ------------------------------------------------------------------ reap */

static const char *
describe_status(int status, char *buf, size_t len)
{
	if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d (%s)%s", WTERMSIG(status),
		    strsignal(WTERMSIG(status)), WCOREDUMP(status) ? ", core dumped" : "");
	else
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
	return buf;
}

static void master_stop(int exit_status);

/* A child exited with EXIT_CONFIG: restarting it cannot help. */
static bool
fatal_child(pid_t pid, int status, const char *what)
{
	if (!WIFEXITED(status) || WEXITSTATUS(status) != EXIT_CONFIG || m.stopping)
		return false;
	log_errorx("%s (pid %ld) exited with status %d: fatal configuration or setup error (see its log above); stopping",
	    what, (long)pid, EXIT_CONFIG);
	master_stop(1);
	return true;
}

/* Schedule a respawn: at once after a healthy life, with growing delays
 * after quick deaths, so a crash loop cannot spin the CPU. */
static uint64_t
respawn_time(unsigned *failures, uint64_t started_ms)
{
	uint64_t now = clock_mono_ms();

	if (now - started_ms >= STABLE_MS)
		*failures = 0;
	else
		(*failures)++;
	return now + backoff_ms(*failures);
}

static void
reap_worker(unsigned index, pid_t pid, int status)
{
	struct position *p = &m.pos[index];
	enum shm_restart_reason reason = WIFSIGNALED(status) ? SHM_RESTART_CRASH : SHM_RESTART_EXIT;
	char why[96];
	int slot;

	if (p->active == pid) {
		slot = p->active_slot;
		p->active = 0;
	} else {
		slot = p->pending_slot;
		p->pending = 0;
	}
	shm_slot_release(shm_slot_get(m.seg, (unsigned)slot));
	p->last_slot = slot;
	if (m.stopping)
		return;
	if (fatal_child(pid, status, "worker"))
		return;
	SHM_ADD(&m.seg->master.worker_restarts[reason], 1);
	p->respawn_at_ms = respawn_time(&p->failures, p->started_ms);
	log_warnx("worker %u (pid %ld) %s; restarting in %llu ms", index, (long)pid,
	    describe_status(status, why, sizeof(why)),
	    (unsigned long long)(p->respawn_at_ms - clock_mono_ms()));
}

static void
master_reap(void)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		bool found = false;

		for (unsigned i = 0; i < m.cfg.workers && !found; i++) {
			if (m.pos[i].active == pid || m.pos[i].pending == pid) {
				reap_worker(i, pid, status);
				found = true;
			}
		}
		for (size_t i = 0; i < sizeof(m.retiring) / sizeof(m.retiring[0]) && !found; i++) {
			if (m.retiring[i].pid == pid) {
				shm_slot_release(shm_slot_get(m.seg, (unsigned)m.retiring[i].slot));
				m.retiring[i].pid = 0;
				found = true;
				if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
					char why[96];
					log_warnx("retired worker (pid %ld) %s", (long)pid,
					    describe_status(status, why, sizeof(why)));
				}
			}
		}
		if (!found && pid == m.aggregator) {
			char why[96];

			m.aggregator = 0;
			SHM_STORE(&m.seg->master.aggregator_pid, 0);
			found = true;
			if (m.stopping || fatal_child(pid, status, "aggregator"))
				continue;
			if (m.aggregator_restart) {	/* replaced by a reload */
				m.aggregator_restart = false;
				m.aggregator_at_ms = clock_mono_ms();
				continue;
			}
			m.aggregator_at_ms = respawn_time(&m.aggregator_failures, m.aggregator_started_ms);
			log_warnx("aggregator (pid %ld) %s; restarting in %llu ms", (long)pid,
			    describe_status(status, why, sizeof(why)),
			    (unsigned long long)(m.aggregator_at_ms - clock_mono_ms()));
		}
		if (!found)
			log_debug("reaped unknown child %ld", (long)pid);
	}
}

/* ---------------------------------------------------------------- reload */

/* Stop a worker that has been replaced; it keeps its slot until reaped.
 * A pid of 0 is refused: kill(0, ...) would signal our whole group. */
static void
retire(pid_t pid, int slot)
{
	if (pid <= 0)
		return;
	for (size_t i = 0; i < sizeof(m.retiring) / sizeof(m.retiring[0]); i++) {
		if (m.retiring[i].pid == 0) {
			m.retiring[i].pid = pid;
			m.retiring[i].slot = slot;
			kill(pid, SIGTERM);
			return;
		}
	}
	/* cannot happen: there are as many entries as slots */
	log_warnx("no room to track retiring worker %ld; stopping it anyway", (long)pid);
	kill(pid, SIGTERM);
}

static void
master_reload(void)
{
	char err[CONFIG_ERR_MAX];
	struct config next;
	struct http_responses rs;

	if (m.reloading) {
		log_info("reload requested while one is in progress; queued");
		m.reload_queued = true;
		return;
	}
	log_info("reloading configuration");
	notify_send("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
	    (unsigned long long)clock_mono_ms() * 1000);
	if (config_load(&next, m.overrides, m.envp, err, sizeof(err)) < 0 ||
	    config_reload_compatible(&m.cfg, &next, err, sizeof(err)) < 0 ||
	    http_responses_build(&rs, &next, err, sizeof(err)) < 0) {
		log_errorx("reload failed, keeping the running configuration: %s", err);
		SHM_ADD(&m.seg->master.reload_failures, 1);
		notify_send("READY=1\nSTATUS=reload failed (%s); serving the previous configuration", err);
		return;
	}
	if (config_fit_descriptors(&next, false, err, sizeof(err)) > 0)
		log_warnx("%s", err);
	http_responses_free(&m.rs);
	m.rs = rs;
	explicit_bzero(m.cfg.metrics_token, sizeof(m.cfg.metrics_token));
	m.cfg = next;
	log_set_level(m.cfg.log_level);
	config_log(&m.cfg);
	m.generation++;
	SHM_STORE(&m.seg->master.config_generation, m.generation);
	for (unsigned i = 0; i < m.cfg.workers; i++) {
		m.pos[i].replace = true;
		m.pos[i].failures = 0;
		m.pos[i].respawn_at_ms = 0;
		if (m.pos[i].pending) {		/* an older replacement: stop it */
			retire(m.pos[i].pending, m.pos[i].pending_slot);
			m.pos[i].pending = 0;
		}
	}
	if (m.aggregator) {
		m.aggregator_restart = true;
		kill(m.aggregator, SIGTERM);
	}
	m.reloading = true;
}

/* ------------------------------------------------------------------ loop */

/* Start, replace and promote workers as needed; returns true while some
 * child is starting (the loop then polls its slot). */
static bool
master_tend(void)
{
	uint64_t now = clock_mono_ms();
	bool busy = false, all_serving = true;

	for (unsigned i = 0; i < m.cfg.workers; i++) {
		struct position *p = &m.pos[i];
		int slot;

		if (p->active == 0 && p->pending == 0 && now >= p->respawn_at_ms) {
			/* A respawned worker continues in its own slot. */
			slot = p->last_slot >= 0 && slot_usable(p->last_slot) ? p->last_slot : slot_free();
			if (slot >= 0) {
				p->active_slot = slot;
				if ((p->active = spawn_worker(i, slot)) < 0) {
					p->active = 0;
					p->respawn_at_ms = now + backoff_ms(++p->failures);
				}
				p->replace = false;
			}
		} else if (p->replace && p->active && p->pending == 0 && now >= p->respawn_at_ms) {
			if ((slot = slot_free()) >= 0) {
				p->pending_slot = slot;
				if ((p->pending = spawn_worker(i, slot)) < 0) {
					p->pending = 0;
					p->respawn_at_ms = now + backoff_ms(++p->failures);
				}
			}
		}
		/* A worker that hangs in start-up is killed, and then restarted
		 * like any that died (with backoff). */
		if (!p->start_killed && now > p->started_ms + STARTUP_TIMEOUT_MS) {
			pid_t hung = p->pending ? p->pending : p->active;
			int hung_slot = p->pending ? p->pending_slot : p->active_slot;

			if (hung && SHM_LOAD(&m.seg->slot[hung_slot].state) == SHM_SLOT_STARTING) {
				log_warnx("worker %u (pid %ld) not serving after %d ms: killing it",
				    i, (long)hung, STARTUP_TIMEOUT_MS);
				kill(hung, SIGKILL);
				p->start_killed = true;
			}
		}
		if (p->pending &&
		    SHM_LOAD(&m.seg->slot[p->pending_slot].state) == SHM_SLOT_SERVING) {
			/* The replacement serves: the old worker may go (unless
			 * it died meanwhile and was reaped). */
			if (p->active != 0) {
				retire(p->active, p->active_slot);
				SHM_ADD(&m.seg->master.worker_restarts[SHM_RESTART_RELOAD], 1);
			}
			p->active = p->pending;
			p->active_slot = p->pending_slot;
			p->pending = 0;
			p->replace = false;
		}
		if (p->active == 0 || p->pending || p->replace ||
		    SHM_LOAD(&m.seg->slot[p->active_slot].state) != SHM_SLOT_SERVING)
			all_serving = false;
		if (p->pending || (p->active &&
		    SHM_LOAD(&m.seg->slot[p->active_slot].state) == SHM_SLOT_STARTING))
			busy = true;
	}
	if (m.aggregator == 0 && !m.aggregator_restart && m.ls.nmetrics > 0 && now >= m.aggregator_at_ms)
		spawn_aggregator();
	/* A reload is complete once no old worker accepts any more: until a
	 * retiring worker has seen its SIGTERM, a new connection may still
	 * reach it on the socket it shares with its replacement. */
	for (size_t i = 0; i < sizeof(m.retiring) / sizeof(m.retiring[0]); i++) {
		if (m.retiring[i].pid != 0 &&
		    SHM_LOAD(&m.seg->slot[m.retiring[i].slot].state) == SHM_SLOT_SERVING) {
			all_serving = false;
			busy = true;
		}
	}

	if (all_serving && !m.ready_logged) {
		m.ready_logged = true;
		log_info("ready: %u workers serving", m.cfg.workers);
		notify_send("READY=1\nSTATUS=serving with %u workers\nMAINPID=%ld",
		    m.cfg.workers, (long)m.pid);
	}
	if (all_serving && m.reloading) {
		m.reloading = false;
		SHM_ADD(&m.seg->master.reloads, 1);
		log_info("reload complete: generation %llu, %u workers serving",
		    (unsigned long long)m.generation, m.cfg.workers);
		notify_send("READY=1\nSTATUS=serving with %u workers, configuration %llu",
		    m.cfg.workers, (unsigned long long)m.generation);
		if (m.reload_queued) {
			m.reload_queued = false;
			master_reload();
		}
	}
	return busy || m.reloading;
}

static unsigned
children_alive(void)
{
	unsigned n = m.aggregator != 0;

	for (unsigned i = 0; i < m.cfg.workers; i++)
		n += (m.pos[i].active != 0) + (m.pos[i].pending != 0);
	for (size_t i = 0; i < sizeof(m.retiring) / sizeof(m.retiring[0]); i++)
		n += m.retiring[i].pid != 0;
	return n;
}

static void
signal_children(int sig)
{
	if (m.aggregator)
		kill(m.aggregator, sig);
	for (unsigned i = 0; i < m.cfg.workers; i++) {
		if (m.pos[i].active)
			kill(m.pos[i].active, sig);
		if (m.pos[i].pending)
			kill(m.pos[i].pending, sig);
	}
	for (size_t i = 0; i < sizeof(m.retiring) / sizeof(m.retiring[0]); i++)
		if (m.retiring[i].pid)
			kill(m.retiring[i].pid, sig);
}

static void
master_stop(int exit_status)
{
	if (m.stopping)
		return;
	m.stopping = true;
	m.exit_status = exit_status;
	m.kill_at_ms = clock_mono_ms() + m.cfg.drain_timeout_ms + KILL_GRACE_MS;
	SHM_STORE(&m.seg->master.draining, 1);
	log_info("stopping: draining for up to %u ms", m.cfg.drain_timeout_ms);
	notify_send("STOPPING=1\nSTATUS=draining");
	signal_children(SIGTERM);
	/* Each worker takes what is queued on its sockets, then closes them;
	 * once ours are closed too, new connections are refused instead of
	 * waiting in a backlog nobody will accept from. */
	listeners_close(&m.ls);
}

static int
master_loop(void)
{
	for (;;) {
		struct signalfd_siginfo si;
		struct pollfd pfd = { .fd = m.sigfd, .events = POLLIN };
		int timeout = -1;
		uint64_t now;

		if (!m.stopping) {
			uint64_t next = UINT64_MAX;

			if (master_tend())
				timeout = POLL_BUSY_MS;
			now = clock_mono_ms();
			for (unsigned i = 0; i < m.cfg.workers; i++)
				if (m.pos[i].active == 0 && m.pos[i].pending == 0 && m.pos[i].respawn_at_ms < next)
					next = m.pos[i].respawn_at_ms;
			if (m.aggregator == 0 && m.ls.nmetrics > 0 && m.aggregator_at_ms < next)
				next = m.aggregator_at_ms;
			if (next != UINT64_MAX) {
				int t = next > now ? (int)(next - now) : 0;
				if (timeout < 0 || t < timeout)
					timeout = t < POLL_BUSY_MS ? POLL_BUSY_MS : t;
			}
		} else {
			if (children_alive() == 0)
				break;
			now = clock_mono_ms();
			if (now >= m.kill_at_ms) {
				log_warnx("drain timeout passed: killing %u remaining children", children_alive());
				signal_children(SIGKILL);
				m.kill_at_ms = UINT64_MAX;
			}
			timeout = m.kill_at_ms == UINT64_MAX ? 100 : (int)(m.kill_at_ms - now);
		}
		/* Our descriptors change only in this loop: count them before
		 * waiting, for the sampler (which may not read ours). */
		SHM_STORE(&m.seg->master.open_fds, procstat_count_fds(getpid()));
		/* Log lines stderr did not take: try again soon. */
		log_flush();
		if (log_pending() && (timeout < 0 || timeout > LOG_RETRY_MS))
			timeout = LOG_RETRY_MS;
		if (poll(&pfd, 1, timeout) < 0 && errno != EINTR)
			fatal("poll");
		if (!(pfd.revents & POLLIN))
			continue;
		while (read(m.sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
			switch (si.ssi_signo) {
			case SIGCHLD:
				master_reap();
				break;
			case SIGHUP:
				if (!m.stopping)
					master_reload();
				break;
			case SIGTERM:
			case SIGINT:
				log_info("received %s", strsignal((int)si.ssi_signo));
				master_stop(0);
				break;
			default:
				break;
			}
		}
		master_reap();	/* SIGCHLDs coalesce; reap whatever is ready */
	}
	listeners_close(&m.ls);
	log_info("stopped");
	return m.exit_status;
}

int
master_main(struct config *cfg, const struct config_overrides *overrides,
    char *const *envp)
{
	char err[CONFIG_ERR_MAX];
	sigset_t set;

	m.cfg = *cfg;
	m.overrides = overrides;
	m.envp = envp;
	m.pid = getpid();
	m.generation = 0;	/* one more per applied reload */
	for (unsigned i = 0; i < CONFIG_MAX_WORKERS; i++)
		m.pos[i].last_slot = -1;

	if (http_responses_build(&m.rs, &m.cfg, err, sizeof(err)) < 0) {
		log_errorx("%s", err);
		return 1;
	}
	/* Signals become events of the loop; children unblock them. */
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0 ||
	    (m.sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
		log_error("signalfd");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	if (listeners_open(&m.ls, &m.cfg, err, sizeof(err)) < 0) {
		log_errorx("%s", err);
		return 1;
	}
	if ((m.seg = shm_create(m.cfg.workers * SLOTS_PER_POSITION)) == NULL) {
		log_error("cannot create the metrics segment");
		return 1;
	}
	log_count_drops(&m.seg->master.log_lines_dropped);
	if (privsep_master_limit() < 0) {
		log_error("cannot limit the master's capabilities");
		return 1;
	}
	SHM_STORE(&m.seg->master.workers_configured, m.cfg.workers);
	SHM_STORE(&m.seg->master.config_generation, m.generation);
	if (m.cfg.drop_privileges)
		log_info("workers run as %s (uid %ld)", m.cfg.user, (long)m.cfg.uid);
	else if (geteuid() == 0)
		log_warnx("serving as root (allow_root is set)");
	log_info("observd %s starting %u workers", PACKAGE_VERSION, m.cfg.workers);
	return master_loop();
}
