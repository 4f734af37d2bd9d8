/*
 * sandbox.c - the seccomp-BPF allow-lists of the worker and the
 * aggregator (see sandbox.h).
 *
 * Hand-written BPF, as OpenSSH does it, rather than libseccomp: the
 * filter is a short table and a few argument checks for two little-endian
 * architectures, which plain BPF expresses in a page, with no library to
 * ship in the container image or for packagers to depend on.
 *
 * Every call below is one the role makes once set up (measured with
 * strace -f over the integration, hostile and fault suites; the suites
 * pass with the filter on, which proves the list complete for the paths
 * they take):
 *
 *   read, write, close           connections, the log (stderr), /proc reads
 *   accept4, shutdown            accepting; the write side of an error close
 *   recvfrom, sendto             the fast 503 over the connection cap
 *   getpeername                  the access log's remote address
 *   dup                          the descriptor kept in reserve to refuse
 *                                a connection at EMFILE (of stderr)
 *   epoll_wait, epoll_pwait(2), epoll_ctl   libevent's loop (aarch64 has
 *                                only epoll_pwait)
 *   getdents64, lseek            counting our own descriptors and reading
 *                                our own stat (worker: on the /proc/self/fd
 *                                and /proc/self/stat it opened before)
 *   brk, mmap, munmap, mremap, madvise   malloc; mmap never executable
 *   mprotect                     only to take rights away (never write or
 *                                exec: the segment's read-only regions
 *                                stay so)
 *   setsockopt                   SO_LINGER only: resetting a connection
 *                                whose client does not read (send_timeout)
 *   getpid, gettid, tgkill       the log's pid; a signal to ourselves only
 *                                (abort, the SIGSYS handler)
 *   rt_sigreturn, rt_sigprocmask, restart_syscall   signal delivery
 *   clock_gettime, gettimeofday  when the vDSO falls back to the kernel
 *   futex                        glibc's locks (the aggregator's thread)
 *   exit, exit_group             leaving
 * and for the aggregator's sampler thread:
 *   openat                       read-only (/proc/PID/stat, /proc/PID/fd)
 *   set_robust_list, rseq        a thread's first calls
 *
 * Not allowed, among others: execve, ptrace, process_vm_*, socket,
 * connect, bind, kill (to another process), open/openat for writing
 * (and any openat in a worker), fork/clone, mmap/mprotect with
 * PROT_EXEC, mprotect with PROT_WRITE, setuid and friends, prctl,
 * seccomp, bpf, ioctl.
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "observd/sandbox.h"

#if defined(__x86_64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define SANDBOX_ARCH		AUDIT_ARCH_X86_64
#define SANDBOX_ARCH_NAME	"x86_64"
#elif defined(__aarch64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define SANDBOX_ARCH		AUDIT_ARCH_AARCH64
#define SANDBOX_ARCH_NAME	"aarch64"
#endif

/* Sanitizer runtimes make calls of their own (leak checking at exit
 * stops the world with ptrace from a clone, reads /proc/self/maps, ...):
 * allowed in such builds only. */
#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_SANITIZER	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANDBOX_SANITIZER	1
#endif
#endif

/* The names of this architecture's calls, generated from <sys/syscall.h>
 * at build time: SANDBOX_SYSCALL(nr, "name") lines. */
static const struct {
	int		 nr;
	const char	*name;
} syscall_names[] = {
#define SANDBOX_SYSCALL(nr, name) { nr, name },
#include "observd/syscall_names.h"
#undef SANDBOX_SYSCALL
};

const char *
sandbox_syscall_name(int64_t nr, char *buf, size_t len)
{
	for (size_t i = 0; i < sizeof(syscall_names) / sizeof(syscall_names[0]); i++)
		if (syscall_names[i].nr == nr)
			return syscall_names[i].name;
	snprintf(buf, len, "#%lld", (long long)nr);
	return buf;
}

#ifndef SANDBOX_ARCH

bool
sandbox_supported(void)
{
	return false;
}

const char *
sandbox_description(void)
{
	return "not built in (this architecture has no allow-list)";
}

int
sandbox_enter(enum sandbox_role role, int64_t *violation)
{
	(void)role;
	(void)violation;
	errno = ENOSYS;
	return -1;
}

#else /* SANDBOX_ARCH */

bool
sandbox_supported(void)
{
	return true;
}

const char *
sandbox_description(void)
{
#ifdef SANDBOX_SANITIZER
	return "seccomp-bpf (" SANDBOX_ARCH_NAME ", with the sanitizer runtime's calls)";
#else
	return "seccomp-bpf (" SANDBOX_ARCH_NAME ")";
#endif
}

/* Calls allowed whatever their arguments. */
static const int allow_common[] = {
	/* The hot path first: the filter is a linear list. */
	SYS_read, SYS_write, SYS_epoll_ctl, SYS_accept4, SYS_close,
#ifdef SYS_epoll_wait
	SYS_epoll_wait,
#endif
	SYS_epoll_pwait,
#ifdef SYS_epoll_pwait2
	SYS_epoll_pwait2,
#endif
	SYS_getpid, SYS_gettid, SYS_shutdown, SYS_recvfrom, SYS_sendto, SYS_getpeername, SYS_dup,
	SYS_getdents64, SYS_lseek, SYS_clock_gettime, SYS_gettimeofday,
	SYS_brk, SYS_munmap, SYS_mremap, SYS_madvise, SYS_futex,
	SYS_rt_sigreturn, SYS_rt_sigprocmask, SYS_restart_syscall,
	SYS_exit, SYS_exit_group,
};

static const int allow_aggregator[] = {
	SYS_set_robust_list,
#ifdef SYS_rseq
	SYS_rseq,
#endif
};

#ifdef SANDBOX_SANITIZER
/* The leak check at exit: a clone of the process stops its threads with
 * ptrace (made dumpable for it with prctl), waits for them, and reads
 * /proc/self (openat, read-only as in the aggregator); its report looks
 * at the binary (readlink, newfstatat, fcntl, ioctl); the allocator asks
 * for the CPUs.  Without them a leak would go unreported. */
static const int allow_sanitizer[] = {
	SYS_clone, SYS_ptrace, SYS_prctl, SYS_wait4, SYS_sched_yield, SYS_sigaltstack,
	SYS_rt_sigaction, SYS_getppid, SYS_sched_getaffinity, SYS_fcntl, SYS_ioctl,
#ifdef SYS_readlink
	SYS_readlink,
#endif
#ifdef SYS_newfstatat
	SYS_newfstatat,
#endif
#ifdef SYS_getdents
	SYS_getdents,
#endif
};
#endif

#define ARG_LO(n)	((uint32_t)offsetof(struct seccomp_data, args[n]))	/* little-endian */
#define MAX_INS		160

/*
 * A program under construction.  A jump's target is either a raw forward
 * offset (below V_ALLOW) or one of the verdicts appended by finish(),
 * whose offsets are known only then.
 */
enum verdict { V_ALLOW = 1000, V_TRAP, V_KILL };

struct bpf_prog {
	struct sock_filter	 ins[MAX_INS];
	unsigned		 jt[MAX_INS], jf[MAX_INS];
	unsigned		 n;
};

static void
emit(struct bpf_prog *p, uint16_t code, uint32_t k, unsigned jt, unsigned jf)
{
	if (p->n < MAX_INS) {
		p->ins[p->n] = (struct sock_filter){ code, 0, 0, k };
		p->jt[p->n] = jt;
		p->jf[p->n] = jf;
	}
	p->n++;
}

/* nr: allowed (the accumulator holds the call's number). */
static void
allow(struct bpf_prog *p, int nr)
{
	emit(p, BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, V_ALLOW, 0);
}

/* nr: allowed if the low word of argument arg has none of bits (the
 * word a kernel reads for an int argument); the next check reloads the
 * number, so the block ends in verdicts or skips itself. */
static void
allow_without_bits(struct bpf_prog *p, int nr, unsigned arg, uint32_t bits)
{
	emit(p, BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, 0, 2);
	emit(p, BPF_LD | BPF_W | BPF_ABS, ARG_LO(arg), 0, 0);
	emit(p, BPF_JMP | BPF_JSET | BPF_K, bits, V_TRAP, V_ALLOW);
}

/* nr: allowed if the low word of argument arg is value. */
static void
allow_if_equal(struct bpf_prog *p, int nr, unsigned arg, uint32_t value)
{
	emit(p, BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, 0, 2);
	emit(p, BPF_LD | BPF_W | BPF_ABS, ARG_LO(arg), 0, 0);
	emit(p, BPF_JMP | BPF_JEQ | BPF_K, value, V_ALLOW, V_TRAP);
}

/* Append the verdicts and resolve the jumps to them.  -1 if the program
 * is too long (8-bit jump offsets). */
static int
finish(struct bpf_prog *p)
{
	unsigned body;

	/* Falling off the checks: not allowed. */
	emit(p, BPF_RET | BPF_K, SECCOMP_RET_TRAP, 0, 0);
	body = p->n;
	emit(p, BPF_RET | BPF_K, SECCOMP_RET_ALLOW, 0, 0);	/* body + 0 */
	emit(p, BPF_RET | BPF_K, SECCOMP_RET_TRAP, 0, 0);	/* body + 1 */
	emit(p, BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS, 0, 0);	/* body + 2 */
	if (p->n > MAX_INS)
		return -1;
	for (unsigned i = 0; i < body; i++) {
		unsigned t[2] = { p->jt[i], p->jf[i] };

		for (int j = 0; j < 2; j++) {
			if (t[j] >= V_ALLOW)
				t[j] = body + (t[j] - V_ALLOW) - (i + 1);
			if (t[j] > 255)
				return -1;
		}
		p->ins[i].jt = (uint8_t)t[0];
		p->ins[i].jf = (uint8_t)t[1];
	}
	return 0;
}

static int
build(struct bpf_prog *p, enum sandbox_role role)
{
	memset(p, 0, sizeof(*p));
	/* Another ABI (i386 or x32 calls on x86-64) has other numbers:
	 * kill rather than judge it by ours. */
	emit(p, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch), 0, 0);
	emit(p, BPF_JMP | BPF_JEQ | BPF_K, SANDBOX_ARCH, 0, V_KILL);
	emit(p, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr), 0, 0);
#ifdef __x86_64__
	emit(p, BPF_JMP | BPF_JGE | BPF_K, 0x40000000u /* __X32_SYSCALL_BIT */, V_KILL, 0);
#endif
	for (size_t i = 0; i < sizeof(allow_common) / sizeof(allow_common[0]); i++)
		allow(p, allow_common[i]);
	if (role == SANDBOX_AGGREGATOR)
		for (size_t i = 0; i < sizeof(allow_aggregator) / sizeof(allow_aggregator[0]); i++)
			allow(p, allow_aggregator[i]);
#ifdef SANDBOX_SANITIZER
	for (size_t i = 0; i < sizeof(allow_sanitizer) / sizeof(allow_sanitizer[0]); i++)
		allow(p, allow_sanitizer[i]);
#endif
	/* Memory: never executable; rights only taken away. */
	allow_without_bits(p, SYS_mmap, 2, PROT_EXEC);
	allow_without_bits(p, SYS_mprotect, 2, PROT_WRITE | PROT_EXEC);
	/* Signals to ourselves only. */
	allow_if_equal(p, SYS_tgkill, 0, (uint32_t)getpid());
	/* SO_LINGER only: a connection reset for not reading its answers. */
	allow_if_equal(p, SYS_setsockopt, 2, SO_LINGER);
	/* The aggregator reads /proc; nothing else opens a file.  (O_TMPFILE
	 * needs write access, which O_ACCMODE already refuses.) */
#ifndef SANDBOX_SANITIZER
	if (role == SANDBOX_AGGREGATOR)
#endif
		allow_without_bits(p, SYS_openat, 2, O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND);
#if defined(SANDBOX_SANITIZER) && defined(SYS_open)
	/* The sanitizer runtime opens /proc/self/... with open(2) itself. */
	allow_without_bits(p, SYS_open, 1, O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND);
#endif
	return finish(p);
}

static int64_t *sandbox_violation;

/*
 * A refused call: note its number for the master, then die of SIGSYS
 * (SA_RESETHAND made the action the default one, SA_NODEFER lets it be
 * delivered at once).  The kernel forces this signal through whatever a
 * compromised process did to its mask; rt_sigaction is not allowed, so
 * the handler cannot be replaced.
 */
static void
on_sigsys(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (sandbox_violation != NULL)
		__atomic_store_n(sandbox_violation, (int64_t)si->si_syscall, __ATOMIC_RELAXED);
	syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), sig);
}

int
sandbox_enter(enum sandbox_role role, int64_t *violation)
{
	struct bpf_prog p;
	struct sock_fprog fprog;
	struct sigaction sa;

	if (build(&p, role) < 0) {
		errno = E2BIG;
		return -1;
	}
	sandbox_violation = violation;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO | SA_RESETHAND | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0)
		return -1;
	fprog.len = (unsigned short)p.n;
	fprog.filter = p.ins;
	/* Already set by privsep_drop(); a filter requires it. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -1;
	/* Every thread (the aggregator's sampler too), or none. */
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &fprog) != 0) {
		if (errno == 0)
			errno = EAGAIN;
		return -1;
	}
	return 0;
}

#endif /* SANDBOX_ARCH */
