/*
 * podlab-nsexec: run a command inside a running container, as `runc exec`
 * does, without going through the container engine.
 *
 *   podlab-nsexec [--container ID] [--cgroup FILE]... [--user UID:GID[:G1,G2...]]
 *                 [--cwd DIR] PID -- CMD [ARG...]
 *
 * The node agent runs exec probes and exec hooks with it: through the engine
 * one exec costs ~70 ms of CPU (dockerd, containerd, shim, runc, two Go
 * start-ups); entering the namespaces directly costs ~3 ms.
 *
 * With --container, PID must still be that container's process (its
 * /proc/PID/cgroup names ID), checked after everything of PID is opened: a
 * container that died and whose pid was reused is never entered.
 *
 * What the command gets, from the container's main process PID:
 *   - its cgroups: each --cgroup FILE (a cgroup.procs the agent resolved) is
 *     joined first, so the command is accounted and limited as the container;
 *   - its namespaces: ipc, uts, net, pid, cgroup, mnt (and no other user
 *     namespace: a PID in a different one is refused);
 *   - its root, and --cwd (default: the process's working directory), as
 *     docker exec uses the container's WorkingDir;
 *   - its capability bounding, inheritable, permitted and effective sets, and
 *     its no_new_privs flag; ambient capabilities are cleared;
 *   - the user and groups given with --user (default 0:0);
 *   - the environment this helper was started with (the agent passes the
 *     container's).
 * Not copied: the seccomp filter and LSM profile (see the README).
 *
 * The helper forks once inside the pid namespace and waits: its exit status
 * is the command's (128+N for signal N). A failure before the command starts
 * exits 125 with one line on stderr; a command that cannot be executed exits
 * 126 (or 127 when not found), as a shell would. Killing the helper kills
 * the command (PR_SET_PDEATHSIG); SIGTERM or SIGINT kills the command's whole
 * process group and the helper exits 137.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_CGROUPS 32
#define MAX_GROUPS 64

static const char *const NAMESPACES[] = {"ipc", "uts", "net", "pid", "cgroup", "mnt"};
#define N_NAMESPACES (sizeof NAMESPACES / sizeof NAMESPACES[0])

static pid_t child = -1;

static void die(const char *fmt, ...)
{
    va_list ap;
    fputs("podlab-nsexec: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(125);
}

static void usage(void)
{
    die("usage: podlab-nsexec [--container ID] [--cgroup FILE]... [--user UID:GID[:G1,G2...]] "
        "[--cwd DIR] PID -- CMD [ARG...]");
}

struct caps {
    uint64_t inh, prm, eff, bnd;
    int no_new_privs;
};

/* The capability sets and no_new_privs of /proc/PID/status. */
static void read_caps(int pid, struct caps *c)
{
    char path[64], line[256];
    int seen = 0;
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "re");
    if (!f)
        die("%s: %s", path, strerror(errno));
    memset(c, 0, sizeof *c);
    while (fgets(line, sizeof line, f)) {
        unsigned long long v;
        if (sscanf(line, "CapInh: %llx", &v) == 1) c->inh = v, seen++;
        else if (sscanf(line, "CapPrm: %llx", &v) == 1) c->prm = v, seen++;
        else if (sscanf(line, "CapEff: %llx", &v) == 1) c->eff = v, seen++;
        else if (sscanf(line, "CapBnd: %llx", &v) == 1) c->bnd = v, seen++;
        else if (sscanf(line, "NoNewPrivs: %llu", &v) == 1) c->no_new_privs = v != 0;
    }
    fclose(f);
    if (seen != 4)
        die("%s: capability sets not found", path);
}

static int open_at_proc(int pid, const char *what, int flags)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", pid, what);
    int fd = open(path, flags | O_CLOEXEC);
    if (fd < 0 && !(errno == ENOENT && strncmp(what, "ns/", 3) == 0))
        die("%s: %s", path, strerror(errno));
    return fd;
}

static int same_file(int fd, const char *path)
{
    struct stat a, b;
    return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* Whether /proc/PID/cgroup names `id`. */
static int belongs_to(int pid, const char *id)
{
    char path[64], line[4096];
    int found = 0;
    snprintf(path, sizeof path, "/proc/%d/cgroup", pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, id) != NULL;
    fclose(f);
    return found;
}

static void join_cgroup(const char *file)
{
    int fd = open(file, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, "0", 1) != 1)
        die("join cgroup %s: %s", file, strerror(errno));
    close(fd);
}

/* Limit the bounding set to the container's and clear ambient capabilities. */
static void limit_bounding(const struct caps *c)
{
    for (int cap = 0; cap <= 63; cap++) {
        if (c->bnd & (1ULL << cap))
            continue;
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL)
            die("drop capability %d: %s", cap, strerror(errno));
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
        die("clear ambient capabilities: %s", strerror(errno));
}

/* Take the container's effective, permitted and inheritable sets (as root). */
static void set_caps(const struct caps *c)
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2] = {
        {(uint32_t)c->eff, (uint32_t)c->prm, (uint32_t)c->inh},
        {(uint32_t)(c->eff >> 32), (uint32_t)(c->prm >> 32), (uint32_t)(c->inh >> 32)},
    };
    if (syscall(SYS_capset, &hdr, data) != 0)
        die("capset: %s", strerror(errno));
}

/* SIGTERM or SIGINT: the caller gave up (a probe's timeout); kill the command's
   whole process group, as nothing of it is wanted any more. */
static void stop(int sig)
{
    (void)sig;
    if (child > 0 && kill(-child, SIGKILL) != 0)
        kill(child, SIGKILL);
}

int main(int argc, char **argv)
{
    const char *cgroups[MAX_CGROUPS], *container = NULL, *workdir = NULL;
    int n_cgroups = 0, i = 1;
    uid_t uid = 0;
    gid_t gid = 0, groups[MAX_GROUPS];
    int n_groups = 0;

    /* Nothing but stdin, stdout and stderr may reach the container, whatever the
       caller left open. */
    if (syscall(SYS_close_range, 3U, ~0U, 0U) != 0)
        for (int fd = 3; fd < 1024; fd++)
            close(fd);

    for (; i < argc && strncmp(argv[i], "--", 2) == 0 && argv[i][2]; i += 2) {
        if (i + 1 >= argc)
            usage();
        if (strcmp(argv[i], "--cgroup") == 0) {
            if (n_cgroups == MAX_CGROUPS)
                die("too many --cgroup");
            cgroups[n_cgroups++] = argv[i + 1];
        } else if (strcmp(argv[i], "--cwd") == 0) {
            workdir = argv[i + 1];
        } else if (strcmp(argv[i], "--container") == 0) {
            container = argv[i + 1];
        } else if (strcmp(argv[i], "--user") == 0) {
            char *end, *p = argv[i + 1];
            uid = (uid_t)strtoul(p, &end, 10);
            if (end == p || *end != ':')
                usage();
            p = end + 1;
            gid = (gid_t)strtoul(p, &end, 10);
            if (end == p || (*end && *end != ':'))
                usage();
            while (*end) {
                p = end + 1;
                if (n_groups == MAX_GROUPS)
                    die("too many groups");
                groups[n_groups++] = (gid_t)strtoul(p, &end, 10);
                if (end == p || (*end && *end != ','))
                    usage();
            }
        } else {
            usage();
        }
    }
    if (i + 2 >= argc || strcmp(argv[i + 1], "--") != 0)
        usage();
    char *end;
    long pid = strtol(argv[i], &end, 10);
    if (*end || pid <= 0)
        usage();
    char **command = &argv[i + 2];

    /* Everything under /proc/PID is opened before the first setns. */
    struct caps caps;
    read_caps((int)pid, &caps);
    int user_ns = open_at_proc((int)pid, "ns/user", O_RDONLY);
    if (user_ns >= 0 && !same_file(user_ns, "/proc/self/ns/user"))
        die("process %ld is in another user namespace", pid);
    int ns_fds[N_NAMESPACES];
    for (size_t k = 0; k < N_NAMESPACES; k++) {
        char what[16];
        snprintf(what, sizeof what, "ns/%s", NAMESPACES[k]);
        ns_fds[k] = open_at_proc((int)pid, what, O_RDONLY);
    }
    int root = open_at_proc((int)pid, "root", O_RDONLY | O_DIRECTORY);
    int cwd = open_at_proc((int)pid, "cwd", O_RDONLY | O_DIRECTORY);
    if (container && !belongs_to((int)pid, container))
        die("process %ld is not container %s", pid, container);

    for (int k = 0; k < n_cgroups; k++)
        join_cgroup(cgroups[k]);
    for (size_t k = 0; k < N_NAMESPACES; k++) {
        if (ns_fds[k] >= 0 && setns(ns_fds[k], 0) != 0)
            die("enter %s namespace of %ld: %s", NAMESPACES[k], pid, strerror(errno));
    }
    if (fchdir(root) != 0 || chroot(".") != 0)
        die("enter the root of %ld: %s", pid, strerror(errno));
    if (workdir ? chdir(workdir) != 0 : fchdir(cwd) != 0)
        die("chdir %s: %s", workdir ? workdir : "to the process's directory", strerror(errno));

    child = fork();
    if (child < 0)
        die("fork: %s", strerror(errno));
    if (child == 0) {
        /* The parent lives outside this pid namespace: getppid() is 0 while it
           lives, the reaper's pid once it has died. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0 || getppid() != 0)
            _exit(125);
        setpgid(0, 0); /* its own process group, for stop() */
        if (setgroups((size_t)n_groups, groups) != 0 || setgid(gid) != 0)
            die("set groups: %s", strerror(errno));
        limit_bounding(&caps);
        if (uid == 0)
            set_caps(&caps);
        else if (setuid(uid) != 0) /* leaving uid 0 clears the permitted and effective sets */
            die("setuid %u: %s", (unsigned)uid, strerror(errno));
        if (caps.no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
            die("no_new_privs: %s", strerror(errno));
        execvp(command[0], command);
        int code = errno == ENOENT ? 127 : 126;
        fprintf(stderr, "exec: \"%s\": %s\n", command[0],
                errno == ENOENT ? "executable file not found in $PATH" : strerror(errno));
        _exit(code);
    }
    setpgid(child, child); /* as the child does: whichever runs first */
    signal(SIGTERM, stop);
    signal(SIGINT, stop);
    int status;
    while (waitpid(child, &status, 0) < 0) {
        if (errno != EINTR)
            die("wait: %s", strerror(errno));
    }
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}
