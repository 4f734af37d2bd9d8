/*
 * master.c - the master process.
 *
 * It binds the sockets and creates the segment (while it may still be
 * privileged), forks one worker per position and the aggregator, and then
 * only reacts: to a child's death (respawn at the same position, with
 * backoff), to SIGHUP (validate the new configuration; start a new worker
 * at every position, and once all of them serve retire the old ones, so no
 * request fails; or, if one of them cannot start, stop the new ones and
 * keep the old configuration), to SIGTERM/SIGINT (drain, then exit 0).
 *
 * Signals are blocked and read from a signalfd, so every reaction runs in
 * the main loop and nothing happens in a signal handler.
 *
 * The master trusts nothing its children write (see the trust rule in
 * shm.h): which pid runs in which slot at which position, and the
 * segment's geometry, live here, in its own memory.  From the segment it
 * reads only the state of a slot it gave to a child of its own, and every
 * pid it signals comes from its own tables.  Every wait is bounded: a
 * worker that does not serve within STARTUP_TIMEOUT_MS is killed, a
 * retired worker or aggregator still running KILL_GRACE_MS after the drain
 * timeout is killed, and a reload completes or fails by a deadline.
 */
#include "config.h"

#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
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
#include "observd/sandbox.h"
#include "observd/shm.h"
#include "observd/worker.h"

#define BACKOFF_MIN_MS		100
#define BACKOFF_MAX_MS		10000
#define STABLE_MS		5000	/* a child that lived this long was healthy */
#define POLL_BUSY_MS		20	/* while waiting for a child to serve */
#define KILL_GRACE_MS		1000	/* after the drain timeout, then SIGKILL */
#define STARTUP_TIMEOUT_MS	10000	/* a worker not serving by then is killed */
#define NO_DEADLINE		UINT64_MAX
#define LOG_RETRY_MS		250	/* while log lines wait for stderr */

/* A worker position: what should run, and what runs. */
struct position {
	pid_t		 active;	/* serving (or starting) */
	int		 active_slot;
	uint64_t	 active_generation;	/* configuration it was started with */
	pid_t		 pending;	/* replacement being started */
	int		 pending_slot;
	int		 last_slot;	/* slot of the last worker, for respawn */
	bool		 replace;	/* the active worker is to be replaced */
	unsigned	 failures;	/* quick deaths in a row */
	uint64_t	 respawn_at_ms;
	uint64_t	 started_ms;	/* of the newest worker */
	bool		 start_killed;	/* it hung in start-up and was killed */
};

/* A process stopping on its own after SIGTERM; killed at kill_at_ms.  A
 * retired worker keeps its slot until reaped. */
struct retiring {
	pid_t		 pid;
	int		 slot;
	uint64_t	 kill_at_ms;
};

/* The reload in progress.  New workers are started at every position
 * beside the old ones; only when all of them serve are the old ones
 * retired (committed), so a reload that cannot start its workers leaves
 * the old ones serving and the old configuration in place. */
struct reload {
	bool			 active;
	bool			 committed;
	uint64_t		 deadline_ms;
	struct config		 prev_cfg;
	struct http_responses	 prev_rs;
	uint64_t		 prev_generation;
};

static struct master {
	struct config		 cfg;
	struct http_responses	 rs;
	const struct config_overrides *overrides;
	char *const		*envp;
	struct listeners	 ls;
	struct shm_map		 map;		/* geometry: ours, not the segment's */
	pid_t			 pid;
	int			 sigfd;
	struct position		 pos[CONFIG_MAX_WORKERS];
	pid_t			 slot_pid[SHM_MAX_SLOTS];	/* 0: free */
	struct retiring		 retiring[SHM_MAX_SLOTS];
	pid_t			 aggregator;
	bool			 aggregator_restart;	/* reload: replace it */
	uint64_t		 aggregator_kill_at_ms;
	unsigned		 aggregator_failures;
	uint64_t		 aggregator_at_ms;
	uint64_t		 aggregator_started_ms;
	bool			 ready_logged;
	struct reload		 reload;
	bool			 reload_queued;
	bool			 stopping;
	bool			 aggregator_stopped;	/* sent SIGTERM, after the workers */
	int			 exit_status;
	uint64_t		 kill_at_ms;
	uint64_t		 generation;
} m;

#define NRETIRING	(sizeof(m.retiring) / sizeof(m.retiring[0]))

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

/* Signal a child from our own tables; never 0 (our process group), a
 * negative pid (a group) or ourselves. */
static void
master_kill(pid_t pid, int sig)
{
	if (pid <= 0 || pid == m.pid)
		return;
	if (kill(pid, sig) < 0 && errno != ESRCH)
		log_warn("kill %ld", (long)pid);
}

/* ----------------------------------------------------------------- slots */

static struct shm_slot *
master_slot(int index)
{
	return shm_map_slot(&m.map, (unsigned)index);
}

/* The state of a slot we gave to a child: what the child says of itself
 * (validated), which is all a slot can tell. */
static bool
slot_serving(int index)
{
	return shm_slot_state(master_slot(index)) == SHM_SLOT_SERVING;
}

/* A free slot of position index, preferring want; -1 if all are taken. */
static int
slot_free(unsigned index, int want)
{
	if (want >= 0 && m.slot_pid[want] == 0)
		return want;
	for (int k = 0; k < SHM_SLOTS_PER_POSITION; k++) {
		int slot = (int)index * SHM_SLOTS_PER_POSITION + k;

		if (m.slot_pid[slot] == 0)
			return slot;
	}
	return -1;
}

/* The slot's process was reaped: zero its gauges, free it. */
static void
slot_release(int slot)
{
	shm_slot_release(master_slot(slot));
	m.slot_pid[slot] = 0;
}

/* Tell readers (the sampler, the renderers) who serves at position i. */
static void
publish_position(unsigned index)
{
	const struct position *p = &m.pos[index];

	SHM_STORE(&m.map.seg->master.worker_pid[index], p->active ? (int64_t)p->active : 0);
	SHM_STORE(&m.map.seg->master.worker_slot[index], p->active ? (int64_t)p->active_slot : -1);
}

/* ------------------------------------------------------------------ fork */

/* Everything a child does before it becomes a worker or the aggregator. */
static void
child_setup(const char *role, int index, enum shm_role shm_role, const struct shm_slot *slot)
{
	sigset_t keep;

	close(m.sigfd);
	/* The master's count of dropped log lines is in its section, which
	 * the child is about to map read-only: the role sets its own. */
	log_count_drops(NULL);
	/* Every signal but the ones the role's event loop handles, which
	 * stay blocked (pending, not lost) until it does: unblocked now, a
	 * SIGTERM or SIGHUP would kill the child with the default action. */
	sigemptyset(&keep);
	sigaddset(&keep, SIGTERM);
	sigaddset(&keep, SIGINT);
	sigaddset(&keep, SIGHUP);
	sigprocmask(SIG_SETMASK, &keep, NULL);
	signal(SIGCHLD, SIG_DFL);
	log_init(m.cfg.log_level, role, index);
	if (shm_map_confine(&m.map, shm_role, slot) < 0) {
		log_error("cannot protect the shared segment");
		exit(EXIT_CONFIG);
	}
	if (privsep_drop(&m.cfg, m.pid) < 0)
		exit(EXIT_CONFIG);
}

static pid_t
spawn_worker(unsigned index, int slot_index)
{
	struct shm_slot *slot = master_slot(slot_index);
	pid_t pid;

	shm_slot_claim(slot);
	if ((pid = fork()) < 0) {
		log_warn("fork worker %u", index);
		shm_slot_release(slot);
		return -1;
	}
	if (pid == 0) {
		struct worker_ctx ctx = {
			.cfg = &m.cfg,
			.responses = &m.rs,
			.seg = m.map.seg,
			.slot = slot,
			.index = index,
			.listen_fds = m.ls.app[index],
			.nlisten = m.ls.napp_addrs,
		};

		listeners_keep_only(&m.ls, (int)index, 0);
		child_setup("worker", (int)index, SHM_ROLE_WORKER, slot);
		prctl(PR_SET_NAME, "observd-worker", 0, 0, 0);
		worker_main(&ctx);
	}
	m.slot_pid[slot_index] = pid;
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
	/* Its section is free to write while no aggregator runs. */
	SHM_STORE(&m.map.seg->aggregator.sandbox_violation, -1);
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
			.seg = m.map.seg,
			.listen_fds = m.ls.metrics,
			.nlisten = m.ls.nmetrics,
		};

		listeners_keep_only(&m.ls, -1, 1);
		child_setup("aggregator", -1, SHM_ROLE_AGGREGATOR, NULL);
		prctl(PR_SET_NAME, "observd-metrics", 0, 0, 0);
		aggregator_main(&ctx);
	}
	m.aggregator = pid;
	m.aggregator_started_ms = clock_mono_ms();
	m.aggregator_kill_at_ms = NO_DEADLINE;
	SHM_STORE(&m.map.seg->master.aggregator_pid, (int64_t)pid);
	log_debug("aggregator started: pid %ld", (long)pid);
}

/* Stop a worker that has been replaced: it finishes its requests and
 * keeps its slot until reaped, or is killed once the drain timeout and
 * a grace period have passed. */
static void
retire(pid_t pid, int slot)
{
	if (pid <= 0)
		return;
	for (size_t i = 0; i < NRETIRING; i++) {
		if (m.retiring[i].pid == 0) {
			m.retiring[i].pid = pid;
			m.retiring[i].slot = slot;
			m.retiring[i].kill_at_ms = clock_mono_ms() + m.cfg.drain_timeout_ms + KILL_GRACE_MS;
			master_kill(pid, SIGTERM);
			return;
		}
	}
	/* cannot happen: there are as many entries as slots */
	log_warnx("no room to track retiring worker %ld; killing it", (long)pid);
	master_kill(pid, SIGKILL);
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
static void reload_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

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

/* Died of its system call filter: say which call, from what the child's
 * SIGSYS handler stored (untrusted: any value only picks a name). */
static bool
sandbox_death(int status, const int64_t *violation, char *why, size_t len)
{
	char buf[32];

	int64_t nr;

	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGSYS)
		return false;
	if ((nr = SHM_LOAD(violation)) < 0)	/* killed before any handler */
		snprintf(why, len, "killed by its system call filter (SIGSYS): a call of another ABI");
	else
		snprintf(why, len, "killed by its system call filter (SIGSYS): %s is not allowed",
		    sandbox_syscall_name(nr, buf, sizeof(buf)));
	return true;
}

static void
reap_worker(unsigned index, pid_t pid, int status)
{
	struct position *p = &m.pos[index];
	enum shm_restart_reason reason = WIFSIGNALED(status) ? SHM_RESTART_CRASH : SHM_RESTART_EXIT;
	bool was_pending = p->pending == pid;
	char why[160];
	int slot;

	if (was_pending) {
		slot = p->pending_slot;
		p->pending = 0;
	} else {
		slot = p->active_slot;
		p->active = 0;
		publish_position(index);
	}
	if (sandbox_death(status, &master_slot(slot)->sandbox_violation, why, sizeof(why)))
		reason = SHM_RESTART_SECCOMP;
	else
		describe_status(status, why, sizeof(why));
	slot_release(slot);
	p->last_slot = slot;
	if (m.stopping)
		return;
	if (was_pending && m.reload.active && !m.reload.committed) {
		/* The new configuration cannot run: keep the old one. */
		reload_fail("new worker %u (pid %ld) %s", index, (long)pid, why);
		return;
	}
	if (fatal_child(pid, status, "worker"))
		return;
	SHM_ADD(&m.map.seg->master.worker_restarts[reason], 1);
	p->respawn_at_ms = respawn_time(&p->failures, p->started_ms);
	log_warnx("worker %u (pid %ld) %s; restarting in %llu ms", index, (long)pid, why,
	    (unsigned long long)(p->respawn_at_ms - clock_mono_ms()));
}

static void
reap_aggregator(pid_t pid, int status)
{
	char why[160];

	m.aggregator = 0;
	SHM_STORE(&m.map.seg->master.aggregator_pid, 0);
	if (m.stopping || fatal_child(pid, status, "aggregator"))
		return;
	if (m.aggregator_restart) {	/* replaced by a reload */
		m.aggregator_restart = false;
		m.aggregator_at_ms = clock_mono_ms();
		return;
	}
	m.aggregator_at_ms = respawn_time(&m.aggregator_failures, m.aggregator_started_ms);
	if (!sandbox_death(status, &m.map.seg->aggregator.sandbox_violation, why, sizeof(why)))
		describe_status(status, why, sizeof(why));
	log_warnx("aggregator (pid %ld) %s; restarting in %llu ms", (long)pid, why,
	    (unsigned long long)(m.aggregator_at_ms - clock_mono_ms()));
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
		for (size_t i = 0; i < NRETIRING && !found; i++) {
			if (m.retiring[i].pid == pid) {
				struct shm_slot *slot = master_slot(m.retiring[i].slot);
				char why[160];

				if (!sandbox_death(status, &slot->sandbox_violation, why, sizeof(why)))
					describe_status(status, why, sizeof(why));
				slot_release(m.retiring[i].slot);
				m.retiring[i].pid = 0;
				found = true;
				if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
					log_warnx("retired worker (pid %ld) %s", (long)pid, why);
			}
		}
		if (!found && pid == m.aggregator) {
			reap_aggregator(pid, status);
			found = true;
		}
		if (!found)
			log_debug("reaped unknown child %ld", (long)pid);
	}
}

/* ---------------------------------------------------------------- reload */

static void
master_reload(void)
{
	char err[CONFIG_ERR_MAX];
	struct config next;
	struct http_responses rs;

	if (m.reload.active) {
		log_info("reload requested while one is in progress; queued");
		m.reload_queued = true;
		return;
	}
	log_info("reloading configuration");
	notify_send("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
	    (unsigned long long)(clock_mono_ns() / CLOCK_NS_PER_US));
	if (config_load(&next, m.overrides, m.envp, err, sizeof(err)) < 0 ||
	    config_reload_compatible(&m.cfg, &next, err, sizeof(err)) < 0 ||
	    http_responses_build(&rs, &next, err, sizeof(err)) < 0) {
		log_errorx("reload failed, keeping the running configuration: %s", err);
		SHM_ADD(&m.map.seg->master.reload_failures, 1);
		SHM_STORE(&m.map.seg->master.last_reload_successful, 0);
		notify_send("READY=1\nSTATUS=reload failed (%s); serving the previous configuration", err);
		return;
	}
	if (config_fit_descriptors(&next, false, err, sizeof(err)) > 0)
		log_warnx("%s", err);
	/* Kept until the reload commits, to go back to if it fails. */
	m.reload.prev_cfg = m.cfg;
	m.reload.prev_rs = m.rs;
	m.reload.prev_generation = m.generation;
	m.rs = rs;
	m.cfg = next;
	log_set_level(m.cfg.log_level);
	config_log(&m.cfg);
	m.generation++;
	for (unsigned i = 0; i < m.cfg.workers; i++) {
		m.pos[i].replace = true;
		m.pos[i].failures = 0;
		m.pos[i].respawn_at_ms = 0;
		if (m.pos[i].pending) {		/* an older replacement: stop it */
			retire(m.pos[i].pending, m.pos[i].pending_slot);
			m.pos[i].pending = 0;
		}
	}
	m.reload.active = true;
	m.reload.committed = false;
	/* Long enough for a replacement to wait for a retired worker's slot
	 * (drain timeout and grace) and then start. */
	m.reload.deadline_ms = clock_mono_ms() + m.cfg.drain_timeout_ms + KILL_GRACE_MS +
	    STARTUP_TIMEOUT_MS + KILL_GRACE_MS;
}

/* A reload ended: apply one that was asked for meanwhile. */
static void
reload_end(void)
{
	m.reload.active = false;
	if (m.reload_queued && !m.stopping) {
		m.reload_queued = false;
		master_reload();
	}
}

/* Every new worker serves: retire the old ones, restart the aggregator. */
static void
reload_commit(void)
{
	log_info("reload: the new workers serve; retiring the old ones");
	for (unsigned i = 0; i < m.cfg.workers; i++) {
		struct position *p = &m.pos[i];

		if (p->pending == 0)
			continue;
		if (p->active != 0) {
			retire(p->active, p->active_slot);
			SHM_ADD(&m.map.seg->master.worker_restarts[SHM_RESTART_RELOAD], 1);
		}
		p->active = p->pending;
		p->active_slot = p->pending_slot;
		p->active_generation = m.generation;
		p->last_slot = p->pending_slot;
		p->pending = 0;
		p->replace = false;
		publish_position(i);
	}
	explicit_bzero(m.reload.prev_cfg.metrics_token, sizeof(m.reload.prev_cfg.metrics_token));
	http_responses_free(&m.reload.prev_rs);
	SHM_STORE(&m.map.seg->master.config_generation, m.generation);
	if (m.aggregator) {
		m.aggregator_restart = true;
		m.aggregator_kill_at_ms = clock_mono_ms() + m.cfg.drain_timeout_ms + KILL_GRACE_MS;
		master_kill(m.aggregator, SIGTERM);
	}
	m.reload.committed = true;
}

/* The new workers cannot all serve: stop them, keep the old ones and the
 * old configuration. */
static void
reload_fail(const char *fmt, ...)
{
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	for (unsigned i = 0; i < m.cfg.workers; i++) {
		struct position *p = &m.pos[i];

		if (p->pending) {
			retire(p->pending, p->pending_slot);
			p->pending = 0;
		}
		p->replace = false;
	}
	explicit_bzero(m.cfg.metrics_token, sizeof(m.cfg.metrics_token));
	http_responses_free(&m.rs);
	m.cfg = m.reload.prev_cfg;
	m.rs = m.reload.prev_rs;
	m.generation = m.reload.prev_generation;
	log_set_level(m.cfg.log_level);
	/* A worker that died meanwhile was restarted with the new
	 * configuration: replace it too. */
	for (unsigned i = 0; i < m.cfg.workers; i++)
		if (m.pos[i].active && m.pos[i].active_generation != m.generation)
			m.pos[i].replace = true;
	SHM_ADD(&m.map.seg->master.reload_failures, 1);
	log_errorx("reload failed, keeping the running configuration (generation %llu): %s",
	    (unsigned long long)m.generation, why);
	notify_send("READY=1\nSTATUS=reload failed (%s); serving the previous configuration", why);
	reload_end();
}

/* ------------------------------------------------------------------ loop */

/* Start, replace and promote workers as needed, kill what overstays;
 * returns true while something is starting or stopping (the loop then
 * polls the slots). */
static bool
master_tend(void)
{
	uint64_t now = clock_mono_ms();
	bool busy = false, all_serving = true, reload_ready = m.reload.active;

	for (unsigned i = 0; i < m.cfg.workers; i++) {
		struct position *p = &m.pos[i];
		int slot;

		if (p->active == 0 && p->pending == 0 && now >= p->respawn_at_ms) {
			/* A respawned worker continues in its own slot. */
			if ((slot = slot_free(i, p->last_slot)) >= 0) {
				p->active_slot = slot;
				p->active_generation = m.generation;
				if ((p->active = spawn_worker(i, slot)) < 0) {
					p->active = 0;
					p->respawn_at_ms = now + backoff_ms(++p->failures);
				}
				p->replace = false;
				publish_position(i);
			}
		} else if (p->replace && p->active && p->pending == 0 && now >= p->respawn_at_ms) {
			if ((slot = slot_free(i, -1)) >= 0) {
				p->pending_slot = slot;
				if ((p->pending = spawn_worker(i, slot)) < 0) {
					p->pending = 0;
					p->respawn_at_ms = now + backoff_ms(++p->failures);
				}
			}
		}
		/* A worker that hangs in start-up is killed, and then handled
		 * like any that died. */
		if (!p->start_killed && now > p->started_ms + STARTUP_TIMEOUT_MS) {
			pid_t hung = p->pending ? p->pending : p->active;
			int hung_slot = p->pending ? p->pending_slot : p->active_slot;
			enum shm_slot_state st = hung ? shm_slot_state(master_slot(hung_slot)) : SHM_SLOT_IDLE;

			if (hung && (st == SHM_SLOT_STARTING || st == SHM_SLOT_INVALID)) {
				log_warnx("worker %u (pid %ld) not serving after %d ms: killing it",
				    i, (long)hung, STARTUP_TIMEOUT_MS);
				master_kill(hung, SIGKILL);
				p->start_killed = true;
			}
		}
		/* Outside a reload (a replacement after a failed one), a new
		 * worker takes over as soon as it serves. */
		if (!m.reload.active && p->pending && slot_serving(p->pending_slot)) {
			if (p->active != 0)
				retire(p->active, p->active_slot);
			p->active = p->pending;
			p->active_slot = p->last_slot = p->pending_slot;
			p->active_generation = m.generation;
			p->pending = 0;
			p->replace = false;
			publish_position(i);
		}
		if (p->pending ? !slot_serving(p->pending_slot) :
		    p->replace || p->active == 0 || !slot_serving(p->active_slot) ||
		    p->active_generation != m.generation)
			reload_ready = false;
		if (p->active == 0 || p->pending || p->replace || !slot_serving(p->active_slot))
			all_serving = false;
		if (p->pending || (p->active && !slot_serving(p->active_slot)))
			busy = true;
	}
	if (m.aggregator == 0 && !m.aggregator_restart && m.ls.nmetrics > 0 && now >= m.aggregator_at_ms)
		spawn_aggregator();
	if (m.aggregator && m.aggregator_kill_at_ms <= now) {
		log_warnx("aggregator (pid %ld) still running %u ms after it was asked to stop: killing it",
		    (long)m.aggregator, m.cfg.drain_timeout_ms + KILL_GRACE_MS);
		master_kill(m.aggregator, SIGKILL);
		m.aggregator_kill_at_ms = NO_DEADLINE;
	}
	/* A retired worker stops accepting when it sees its SIGTERM; until
	 * then a new connection may still reach it on the socket it shares
	 * with its replacement.  One that never stops is killed. */
	for (size_t i = 0; i < NRETIRING; i++) {
		struct retiring *r = &m.retiring[i];

		if (r->pid == 0)
			continue;
		if (r->kill_at_ms <= now) {
			log_warnx("retired worker (pid %ld) still running %u ms after it was asked to stop: killing it",
			    (long)r->pid, m.cfg.drain_timeout_ms + KILL_GRACE_MS);
			master_kill(r->pid, SIGKILL);
			r->kill_at_ms = NO_DEADLINE;
		}
		if (slot_serving(r->slot)) {
			all_serving = false;
			busy = true;
		}
	}

	if (m.reload.active && !m.reload.committed && reload_ready)
		reload_commit();
	else if (m.reload.active && !m.reload.committed && now >= m.reload.deadline_ms)
		reload_fail("new workers did not all serve within %llu ms",
		    (unsigned long long)(m.cfg.drain_timeout_ms + 2 * KILL_GRACE_MS + STARTUP_TIMEOUT_MS));
	if (all_serving && !m.ready_logged) {
		m.ready_logged = true;
		log_info("ready: %u workers serving", m.cfg.workers);
		notify_send("READY=1\nSTATUS=serving with %u workers\nMAINPID=%ld",
		    m.cfg.workers, (long)m.pid);
	}
	if (all_serving && m.reload.active && m.reload.committed) {
		SHM_ADD(&m.map.seg->master.reloads, 1);
		SHM_STORE(&m.map.seg->master.last_reload_successful, 1);
		log_info("reload complete: generation %llu, %u workers serving",
		    (unsigned long long)m.generation, m.cfg.workers);
		notify_send("READY=1\nSTATUS=serving with %u workers, configuration %llu",
		    m.cfg.workers, (unsigned long long)m.generation);
		reload_end();
	}
	return busy || m.reload.active;
}

static unsigned
workers_alive(void)
{
	unsigned n = 0;

	for (unsigned i = 0; i < m.cfg.workers; i++)
		n += (m.pos[i].active != 0) + (m.pos[i].pending != 0);
	for (size_t i = 0; i < NRETIRING; i++)
		n += m.retiring[i].pid != 0;
	return n;
}

static unsigned
children_alive(void)
{
	return workers_alive() + (m.aggregator != 0);
}

static void
signal_workers(int sig)
{
	for (unsigned i = 0; i < m.cfg.workers; i++) {
		master_kill(m.pos[i].active, sig);
		master_kill(m.pos[i].pending, sig);
	}
	for (size_t i = 0; i < NRETIRING; i++)
		master_kill(m.retiring[i].pid, sig);
}

static void
signal_children(int sig)
{
	master_kill(m.aggregator, sig);
	signal_workers(sig);
}

static void
master_stop(int exit_status)
{
	if (m.stopping)
		return;
	m.stopping = true;
	m.exit_status = exit_status;
	m.kill_at_ms = clock_mono_ms() + m.cfg.drain_timeout_ms + KILL_GRACE_MS;
	SHM_STORE(&m.map.seg->master.draining, 1);
	log_info("stopping: draining for up to %u ms", m.cfg.drain_timeout_ms);
	notify_send("STOPPING=1\nSTATUS=draining");
	/* The aggregator keeps serving the metrics of the drain (draining,
	 * requests in flight) and is stopped once the workers are gone. */
	signal_workers(SIGTERM);
	/* Each worker takes what is queued on its sockets, then closes them;
	 * once ours are closed too, new connections are refused instead of
	 * waiting in a backlog nobody will accept from. */
	listeners_close(&m.ls);
}

/* The earliest of the deadlines the loop must wake up for. */
static uint64_t
next_deadline(void)
{
	uint64_t next = NO_DEADLINE;

	for (unsigned i = 0; i < m.cfg.workers; i++)
		if (m.pos[i].active == 0 && m.pos[i].pending == 0 && m.pos[i].respawn_at_ms < next)
			next = m.pos[i].respawn_at_ms;
	if (m.aggregator == 0 && m.ls.nmetrics > 0 && m.aggregator_at_ms < next)
		next = m.aggregator_at_ms;
	if (m.aggregator && m.aggregator_kill_at_ms < next)
		next = m.aggregator_kill_at_ms;
	for (size_t i = 0; i < NRETIRING; i++)
		if (m.retiring[i].pid && m.retiring[i].kill_at_ms < next)
			next = m.retiring[i].kill_at_ms;
	if (m.reload.active && !m.reload.committed && m.reload.deadline_ms < next)
		next = m.reload.deadline_ms;
	return next;
}

static int
master_loop(void)
{
	for (;;) {
		struct signalfd_siginfo si;
		struct pollfd pfd = { .fd = m.sigfd, .events = POLLIN };
		int timeout = -1, self_stat;
		uint64_t now, next;

		if (!m.stopping) {
			if (master_tend())
				timeout = POLL_BUSY_MS;
			now = clock_mono_ms();
			if ((next = next_deadline()) != NO_DEADLINE) {
				int t = next > now ? (int)(next - now) : 0;
				if (timeout < 0 || t < timeout)
					timeout = t < POLL_BUSY_MS ? POLL_BUSY_MS : t;
			}
		} else {
			if (children_alive() == 0)
				break;
			if (m.aggregator != 0 && !m.aggregator_stopped && workers_alive() == 0) {
				master_kill(m.aggregator, SIGTERM);
				m.aggregator_stopped = true;
			}
			now = clock_mono_ms();
			if (now >= m.kill_at_ms) {
				log_warnx("drain timeout passed: killing %u remaining children", children_alive());
				signal_children(SIGKILL);
				m.kill_at_ms = NO_DEADLINE;
			}
			timeout = m.kill_at_ms == NO_DEADLINE ? 100 : (int)(m.kill_at_ms - now);
		}
		/* Our descriptors change, and our CPU time grows, only in
		 * this loop: read them before waiting, for the sampler (which
		 * may not read ours).  Opened each time, so that no child
		 * inherits a descriptor of ours. */
		SHM_STORE(&m.map.seg->master.open_fds, procstat_count_fds(getpid()));
		if ((self_stat = procstat_self_open()) >= 0) {
			procstat_self_store(self_stat, &m.map.seg->master.self);
			close(self_stat);
		}
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
	m.aggregator_kill_at_ms = NO_DEADLINE;
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
	if (shm_map_create(&m.map, m.cfg.workers * SHM_SLOTS_PER_POSITION) < 0) {
		log_error("cannot create the metrics segment");
		return 1;
	}
	if (m.map.control_fd < 0)
		log_warnx("this kernel cannot seal memfds: children protect the segment's control region with mprotect");
	if (!sandbox_supported())
		log_warnx("sandbox: %s; children run without a system call filter", sandbox_description());
	log_count_drops(&m.map.seg->master.log_lines_dropped);
	if (privsep_master_limit() < 0) {
		log_error("cannot limit the master's privileges");
		return 1;
	}
	SHM_STORE(&m.map.seg->master.workers_configured, m.cfg.workers);
	SHM_STORE(&m.map.seg->master.config_generation, m.generation);
	SHM_STORE(&m.map.seg->master.last_reload_successful, 1);
	if (m.cfg.drop_privileges)
		log_info("workers run as %s (uid %ld)", m.cfg.user, (long)m.cfg.uid);
	else if (geteuid() == 0)
		log_warnx("serving as root (allow_root is set)");
	log_info("observd %s starting %u workers", PACKAGE_VERSION, m.cfg.workers);
	return master_loop();
}
