/*
 * A plain ikcp peer for the raw-conv interop tests: the reference ikcp.c (from the npm package node-kcp) over a UDP
 * socket on loopback, with no handshake of any kind, as a game server or kcp-go user would run it.
 *
 *   kcp_peer send <normal|fast> <conv> <host> <port> <count> <seed>
 *       sends <count> messages of 1..8192 bytes (content from <seed>) to host:port and checks that each comes back
 *       intact and in order; prints "OK <count>" and exits 0, or prints what went wrong and exits non-zero.
 *   kcp_peer echo <normal|fast> <conv>
 *       sends every message it receives back to whoever sent the last datagram; runs until stdin closes.
 *
 * Both print "PORT <n>" first: the loopback UDP port they bound.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "ikcp.h"

#define MAX_MESSAGE 8192
#define TIMEOUT_MS (170 * 1000)

static int sock;
static struct sockaddr_in remote;
static int have_remote;

static IUINT32 now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (IUINT32)((IUINT64)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

static int output(const char *buf, int len, ikcpcb *kcp, void *user)
{
    (void)kcp; (void)user;
    if (have_remote) sendto(sock, buf, (size_t)len, 0, (struct sockaddr *)&remote, sizeof remote);
    return 0;
}

/* Message i: its size and its bytes, from a xorshift generator seeded with (seed, i). */
static IUINT32 next_random(IUINT64 *state)
{
    IUINT64 x = *state;
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    *state = x;
    return (IUINT32)(x >> 32);
}

static int make_message(unsigned seed, int index, char *buffer)
{
    IUINT64 state = ((IUINT64)seed << 32) ^ (IUINT64)(index + 1) * 0x9E3779B97F4A7C15ULL;
    for (int i = 0; i < 4; i++) next_random(&state);
    int size = 1 + (int)(next_random(&state) % MAX_MESSAGE);
    for (int i = 0; i < size; i++) buffer[i] = (char)next_random(&state);
    return size;
}

/* Feeds every datagram waiting on the socket to KCP; waits up to wait_ms for the first. */
static void receive(ikcpcb *kcp, int wait_ms)
{
    struct pollfd pfd = { sock, POLLIN, 0 };
    if (poll(&pfd, 1, wait_ms) <= 0) return;
    char datagram[2048];
    for (;;)
    {
        struct sockaddr_in from;
        socklen_t fromlen = sizeof from;
        ssize_t n = recvfrom(sock, datagram, sizeof datagram, MSG_DONTWAIT, (struct sockaddr *)&from, &fromlen);
        if (n < 0) break;
        if (!have_remote || from.sin_port != remote.sin_port || from.sin_addr.s_addr != remote.sin_addr.s_addr)
        {
            remote = from; /* an echo server answers whoever spoke last */
            have_remote = 1;
        }
        ikcp_input(kcp, datagram, (long)n);
    }
    ikcp_flush(kcp); /* acknowledge at once */
}

int main(int argc, char **argv)
{
    if (argc < 4) { fprintf(stderr, "usage: see the comment at the top\n"); return 64; }
    int sender = strcmp(argv[1], "send") == 0;
    int fast = strcmp(argv[2], "fast") == 0;
    IUINT32 conv = (IUINT32)strtoul(argv[3], NULL, 10);

    sock = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in local = { 0 };
    local.sin_family = AF_INET;
    local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int big = 4 * 1024 * 1024;
    setsockopt(sock, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    if (bind(sock, (struct sockaddr *)&local, sizeof local) != 0) { perror("bind"); return 70; }
    socklen_t len = sizeof local;
    getsockname(sock, (struct sockaddr *)&local, &len);
    printf("PORT %d\n", ntohs(local.sin_port));
    fflush(stdout);

    ikcpcb *kcp = ikcp_create(conv, NULL);
    ikcp_setoutput(kcp, output);
    if (fast) ikcp_nodelay(kcp, 1, 10, 2, 1); else ikcp_nodelay(kcp, 0, 40, 0, 0);
    ikcp_wndsize(kcp, 256, 256);

    static char message[MAX_MESSAGE], expected[MAX_MESSAGE];
    if (sender)
    {
        if (argc < 8) { fprintf(stderr, "send needs host port count seed\n"); return 64; }
        remote.sin_family = AF_INET;
        inet_pton(AF_INET, argv[4], &remote.sin_addr);
        remote.sin_port = htons((unsigned short)atoi(argv[5]));
        have_remote = 1;
        int count = atoi(argv[6]);
        unsigned seed = (unsigned)strtoul(argv[7], NULL, 10);
        int sent = 0, received = 0;
        IUINT32 start = now_ms();
        while (received < count)
        {
            IUINT32 t = now_ms();
            if ((IINT32)(t - start) > TIMEOUT_MS) { printf("TIMEOUT after %d of %d\n", received, count); return 3; }
            while (sent < count && ikcp_waitsnd(kcp) < 512)
            {
                int size = make_message(seed, sent, message);
                if (ikcp_send(kcp, message, size) < 0) { printf("SEND FAILED %d\n", sent); return 4; }
                sent++;
            }
            ikcp_update(kcp, t);
            IUINT32 next = ikcp_check(kcp, t);
            receive(kcp, (int)(next - t) > 0 ? (int)(next - t) : 0);
            ikcp_update(kcp, now_ms());
            int n;
            while ((n = ikcp_recv(kcp, message, sizeof message)) >= 0)
            {
                int size = make_message(seed, received, expected);
                if (n != size || memcmp(message, expected, (size_t)n) != 0)
                {
                    printf("MISMATCH at %d: %d bytes, expected %d\n", received, n, size);
                    return 2;
                }
                received++;
            }
        }
        /* Let the last acknowledgements out before leaving. */
        for (int i = 0; i < 20; i++) { ikcp_update(kcp, now_ms()); receive(kcp, 10); }
        printf("OK %d\n", received);
        return 0;
    }

    struct pollfd in = { STDIN_FILENO, POLLIN, 0 };
    for (;;)
    {
        if (poll(&in, 1, 0) > 0)
        {
            char c;
            if (read(STDIN_FILENO, &c, 1) <= 0) return 0;
        }
        IUINT32 t = now_ms();
        ikcp_update(kcp, t);
        IUINT32 next = ikcp_check(kcp, t);
        int wait = (int)(next - t);
        receive(kcp, wait > 0 ? (wait < 50 ? wait : 50) : 0);
        ikcp_update(kcp, now_ms());
        int n;
        while ((n = ikcp_recv(kcp, message, sizeof message)) >= 0) ikcp_send(kcp, message, n);
        ikcp_flush(kcp);
    }
}
