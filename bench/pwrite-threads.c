/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bench/pwrite-threads.c — the kernel's ceiling for 4k random buffered
 * writes into one file, from 1..N threads with no daemon in between.
 *
 *   pwrite-threads FILE [THREADS] [SECONDS]
 *
 * Why the export runs writes on its I/O thread instead of the worker pool:
 * buffered writes to one file serialize on its inode lock, and on this
 * project's VM two threads made fewer IOPS than one.  Prints one line per
 * thread count from 1 to THREADS (default 2), each run SECONDS (default 2).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 64

typedef struct Worker {
    pthread_t thread;
    int fd;
    uint64_t blocks;
    double seconds;
    unsigned seed;
    uint64_t ops;
    int error;
} Worker;

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *worker_main(void *opaque)
{
    Worker *w = opaque;
    char buf[4096];
    double end = now() + w->seconds;

    memset(buf, 0x5a, sizeof(buf));
    do {
        for (int i = 0; i < 256; i++) {
            w->seed = w->seed * 1103515245u + 12345u;
            if (pwrite(w->fd, buf, sizeof(buf), (off_t)(w->seed % w->blocks) * 4096) != 4096) {
                w->error = errno ? errno : EIO;
                return NULL;
            }
            w->ops++;
        }
    } while (now() < end);
    return NULL;
}

int main(int argc, char **argv)
{
    int max = argc > 2 ? atoi(argv[2]) : 2;
    double seconds = argc > 3 ? atof(argv[3]) : 2.0;
    Worker w[MAX_THREADS];
    int fd;
    off_t size;

    if (argc < 2 || max < 1 || max > MAX_THREADS || seconds <= 0) {
        fprintf(stderr, "usage: pwrite-threads FILE [THREADS 1..%d] [SECONDS]\n", MAX_THREADS);
        return 2;
    }
    fd = open(argv[1], O_RDWR);
    size = fd < 0 ? -1 : lseek(fd, 0, SEEK_END);
    if (size < 4096) {
        fprintf(stderr, "pwrite-threads: %s: %s\n", argv[1],
                fd < 0 ? strerror(errno) : "smaller than 4 KiB");
        return 1;
    }
    for (int n = 1; n <= max; n++) {
        uint64_t total = 0;
        double start = now();

        for (int i = 0; i < n; i++) {
            w[i] = (Worker){ .fd = fd, .blocks = size / 4096, .seconds = seconds, .seed = i + 1 };
            if (pthread_create(&w[i].thread, NULL, worker_main, &w[i])) {
                fprintf(stderr, "pwrite-threads: cannot start a thread\n");
                return 1;
            }
        }
        for (int i = 0; i < n; i++) {
            pthread_join(w[i].thread, NULL);
            if (w[i].error) {
                fprintf(stderr, "pwrite-threads: write: %s\n", strerror(w[i].error));
                return 1;
            }
            total += w[i].ops;
        }
        printf("%d thread%s: %.0f IOPS\n", n, n > 1 ? "s" : "", total / (now() - start));
    }
    close(fd);
    return 0;
}
