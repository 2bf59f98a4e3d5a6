/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause) */
/* Do not edit directly, auto-generated from: */
/*	Documentation/netlink/specs/vassist.yaml */
/* YNL-GEN uapi header */

#ifndef _UAPI_LINUX_VASSIST_H
#define _UAPI_LINUX_VASSIST_H

#define VASSIST_FAMILY_NAME	"vassist"
#define VASSIST_FAMILY_VERSION	1

/**
 * enum vassist_features - Assists that can be enabled on a port.
 * @VASSIST_FEATURES_ACK_OFFLOAD: Acknowledge in-order TCP segments toward the
 *   guest from the host (vSnoop). Rejected with EOPNOTSUPP by modules built
 *   without it.
 */
enum vassist_features {
	VASSIST_FEATURES_ACK_OFFLOAD = 1,
};

/**
 * enum vassist_detach_reason - Why a port stopped being attached.
 * @VASSIST_DETACH_REASON_USER: port-del request.
 * @VASSIST_DETACH_REASON_UNREGISTERED: The port device was unregistered.
 * @VASSIST_DETACH_REASON_LEFT_BRIDGE: The port device was released from its
 *   bridge.
 */
enum vassist_detach_reason {
	VASSIST_DETACH_REASON_USER,
	VASSIST_DETACH_REASON_UNREGISTERED,
	VASSIST_DETACH_REASON_LEFT_BRIDGE,
};

enum {
	VASSIST_A_PORT_IFINDEX = 1,
	VASSIST_A_PORT_IFNAME,
	VASSIST_A_PORT_MASTER_IFINDEX,
	VASSIST_A_PORT_FEATURES,
	VASSIST_A_PORT_STATS,
	VASSIST_A_PORT_DETACH_REASON,

	__VASSIST_A_PORT_MAX,
	VASSIST_A_PORT_MAX = (__VASSIST_A_PORT_MAX - 1)
};

enum {
	VASSIST_A_PORT_STATS_TO_GUEST_PACKETS = 1,
	VASSIST_A_PORT_STATS_TO_GUEST_BYTES,
	VASSIST_A_PORT_STATS_TO_GUEST_TCP_SEGS,
	VASSIST_A_PORT_STATS_FROM_GUEST_PACKETS,
	VASSIST_A_PORT_STATS_FROM_GUEST_BYTES,
	VASSIST_A_PORT_STATS_FROM_GUEST_TCP_SEGS,

	__VASSIST_A_PORT_STATS_MAX,
	VASSIST_A_PORT_STATS_MAX = (__VASSIST_A_PORT_STATS_MAX - 1)
};

enum {
	VASSIST_CMD_PORT_ADD = 1,
	VASSIST_CMD_PORT_DEL,
	VASSIST_CMD_PORT_GET,
	VASSIST_CMD_PORT_SET,
	VASSIST_CMD_PORT_ADD_NTF,
	VASSIST_CMD_PORT_CHANGE_NTF,
	VASSIST_CMD_PORT_DEL_NTF,

	__VASSIST_CMD_MAX,
	VASSIST_CMD_MAX = (__VASSIST_CMD_MAX - 1)
};

#define VASSIST_MCGRP_MGMT	"mgmt"

#endif /* _UAPI_LINUX_VASSIST_H */
