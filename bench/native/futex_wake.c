// How long a sleeping thread takes to wake on this machine, by how long it slept (docs/performance.md §4).
//
//   gcc -O2 -pthread bench/native/futex_wake.c -o /tmp/futex_wake
//   for gap in 10 100 300 1000 3000; do /tmp/futex_wake $gap; /tmp/futex_wake $gap idle-spinner; done
//
// The main thread busy-waits `gap` µs (the worker sleeps on a futex meanwhile, as a PASSIVE OpenMP worker does between
// parallel regions), then wakes the worker and sleeps until the worker wakes it back: one round trip of two futex
// wake-ups. With `idle-spinner`, a SCHED_IDLE thread keeps the otherwise idle CPU from halting.
#define _GNU_SOURCE
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static atomic_int flag, stop;

static void futex_wait(atomic_int *a, int v) { syscall(SYS_futex, a, FUTEX_WAIT_PRIVATE, v, 0, 0, 0); }
static void futex_wake(atomic_int *a) { syscall(SYS_futex, a, FUTEX_WAKE_PRIVATE, 1, 0, 0, 0); }

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void *worker(void *unused)
{
    (void)unused;
    for (;;)
    {
        while (atomic_load(&flag) == 0) futex_wait(&flag, 0);
        if (atomic_load(&stop)) return 0;
        atomic_store(&flag, 0);
        futex_wake(&flag);
    }
}

static void *idle_spinner(void *unused)
{
    (void)unused;
    struct sched_param p = {0};
    sched_setscheduler(0, SCHED_IDLE, &p);
    while (!atomic_load(&stop)) __builtin_ia32_pause();
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) { fprintf(stderr, "usage: %s GAP_MICROSECONDS [idle-spinner]\n", argv[0]); return 2; }
    double gap = atof(argv[1]) * 1e-6;
    int spinner = argc > 2;
    pthread_t w, s;
    if (spinner) pthread_create(&s, 0, idle_spinner, 0);
    pthread_create(&w, 0, worker, 0);
    int n = (int)(2.0 / (gap + 20e-6));
    double start = now();
    for (int i = 0; i < n; i++)
    {
        atomic_store(&flag, 1);
        futex_wake(&flag);
        while (atomic_load(&flag) == 1) futex_wait(&flag, 1);
        for (double g = now(); now() - g < gap;) { }
    }
    double per = (now() - start) / n - gap;
    printf("gap %.0f us, idle spinner %s: wake-up round trip %.1f us (mean of %d)\n", gap * 1e6, spinner ? "yes" : "no", per * 1e6, n);
    atomic_store(&stop, 1);
    atomic_store(&flag, 1);
    futex_wake(&flag);
    return 0;
}
