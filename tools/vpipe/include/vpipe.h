/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vPipe, the guest's side: let the host move bytes between two of this
 * guest's TCP connections. Link with -lvpipe (the vpipe crate's cdylib or
 * staticlib). Needs CAP_NET_ADMIN (TCP_REPAIR) and the host's vassistd.
 */
#ifndef VPIPE_H
#define VPIPE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Moves @len bytes (0: until @in_fd's peer ends its stream) from the
 * connected TCP socket @in_fd to @out_fd. The host does it when its agent
 * takes the connections (the host's CID and port: VPIPE_HOST_CID, default
 * 2, and VPIPE_PORT, default 5253); otherwise, or if the agent refuses,
 * this call copies the bytes itself. Freezing a connection (TCP_REPAIR)
 * needs CAP_NET_ADMIN; a process without it has the guest's repair helper
 * (vpipe-repair, listening at the path VPIPE_REPAIR_SOCKET names) do
 * those calls, or copies. Both connections stay usable under
 * the same descriptors; when @in_fd's stream ended, reads of it return 0.
 * Returns the bytes moved, or a negative errno: a connection was lost, or
 * one failed on the way (-ECONNRESET, -EPIPE: its peer reset it), as a
 * copy would fail; the other stays usable.
 */
int64_t vpipe_socket_to_socket(int in_fd, int out_fd, uint64_t len);

#ifdef __cplusplus
}
#endif

#endif /* VPIPE_H */
