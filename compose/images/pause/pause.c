/*
 * podlab pause: the pod sandbox's first process, like Kubernetes' pause.
 *
 * It holds the pod's network, IPC and UTS namespaces open by doing nothing:
 * it sleeps in pause(2) forever, reaps any zombie that gets re-parented to it
 * (it is PID 1 in its PID namespace), and exits 0 on SIGINT or SIGTERM so a
 * graceful sandbox stop is immediate.
 *
 * Built static (gcc -static -Os) so the image can be FROM scratch.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define VERSION "podlab-pause-3.9"

static void on_exit_signal(int signo) {
    (void)signo;
    _exit(0);
}

static void on_sigchld(int signo) {
    (void)signo;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "-v") == 0) {
        printf("%s\n", VERSION);
        return 0;
    }
    if (getpid() != 1) {
        /* Not an error: still useful outside a PID namespace (tests, debugging). */
        fprintf(stderr, "pause: warning: not running as PID 1\n");
    }

    struct sigaction exit_action;
    memset(&exit_action, 0, sizeof exit_action);
    exit_action.sa_handler = on_exit_signal;
    sigemptyset(&exit_action.sa_mask);
    if (sigaction(SIGINT, &exit_action, NULL) < 0 || sigaction(SIGTERM, &exit_action, NULL) < 0) {
        perror("pause: sigaction");
        return 1;
    }

    struct sigaction chld_action;
    memset(&chld_action, 0, sizeof chld_action);
    chld_action.sa_handler = on_sigchld;
    chld_action.sa_flags = SA_NOCLDSTOP | SA_RESTART;
    sigemptyset(&chld_action.sa_mask);
    if (sigaction(SIGCHLD, &chld_action, NULL) < 0) {
        perror("pause: sigaction");
        return 1;
    }

    for (;;) {
        pause();
    }
    /* not reached */
    return 42;
}
