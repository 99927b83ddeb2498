/* The one fork+exec host uses, for what posix_spawn cannot do: a child that
 * dies with its parent (PR_SET_PDEATHSIG) and sits in a session of its own. */
#ifndef CCHILDPROCESS_H
#define CCHILDPROCESS_H

#include <sys/types.h>

/* Leave the descriptor as the parent has it (the terminal, say). */
#define CCHILD_INHERIT (-2)

typedef struct cchild_options {
    const char *path;          /* the program, an absolute path */
    char *const *argv;         /* NULL-terminated, argv[0] included */
    char *const *envp;         /* NULL-terminated */
    int stdin_fd, stdout_fd, stderr_fd; /* duplicated onto 0, 1, 2, or CCHILD_INHERIT */
    int new_session;           /* setsid(): Ctrl-C on host's terminal does not reach it */
    int die_with_parent;       /* SIGKILL when the forking thread (host's main thread) dies */
    int keep_signal_mask;      /* 0: an empty mask, as a shell gives */
    const char *directory;     /* where it starts; NULL: where the parent is */
} cchild_options;

/* Starts the child with default signal dispositions and no descriptor but
 * 0, 1 and 2. Returns its pid, or -1 with errno set (exec's own errno when
 * the program could not be run: the child is already reaped then). */
pid_t cchild_spawn(const cchild_options *options);

/* pipe2(fds, O_CLOEXEC), which Swift's Glibc module does not declare. */
int cchild_pipe(int fds[2]);

#endif
