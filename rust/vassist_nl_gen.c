// SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause)
/* Do not edit directly, auto-generated from: */
/*	Documentation/netlink/specs/vassist.yaml */
/* YNL-GEN kernel source */

#include <net/netlink.h>
#include <net/genetlink.h>

#include "vassist_nl_gen.h"

#include <uapi/linux/vassist.h>

/* Integer value ranges */
static const struct netlink_range_validation vassist_a_zone_params_zone_size_range = {
	.min	= 65536ULL,
	.max	= 67108864ULL,
};

static const struct netlink_range_validation vassist_a_zone_params_coalesce_usecs_range = {
	.min	= 1ULL,
	.max	= 1000000ULL,
};

static const struct netlink_range_validation vassist_a_ack_offload_params_buf_size_range = {
	.min	= 4096ULL,
	.max	= 1073741824ULL,
};

static const struct netlink_range_validation vassist_a_ack_offload_params_ring_margin_range = {
	.max	= 65535ULL,
};

static const struct netlink_range_validation vassist_a_ack_offload_params_max_flows_range = {
	.min	= 1ULL,
	.max	= 65536ULL,
};

static const struct netlink_range_validation vassist_a_ack_offload_params_idle_timeout_range = {
	.min	= 100ULL,
	.max	= 86400000ULL,
};

static const struct netlink_range_validation vassist_a_ack_offload_params_buffer_max_range = {
	.min	= 65536ULL,
};

/* Common nested types */
const struct nla_policy vassist_ack_offload_params_nl_policy[VASSIST_A_ACK_OFFLOAD_PARAMS_WINDOW_GROWTH + 1] = {
	[VASSIST_A_ACK_OFFLOAD_PARAMS_BUF_SIZE] = NLA_POLICY_FULL_RANGE(NLA_U32, &vassist_a_ack_offload_params_buf_size_range),
	[VASSIST_A_ACK_OFFLOAD_PARAMS_RING_MARGIN] = NLA_POLICY_FULL_RANGE(NLA_U32, &vassist_a_ack_offload_params_ring_margin_range),
	[VASSIST_A_ACK_OFFLOAD_PARAMS_MAX_FLOWS] = NLA_POLICY_FULL_RANGE(NLA_U32, &vassist_a_ack_offload_params_max_flows_range),
	[VASSIST_A_ACK_OFFLOAD_PARAMS_IDLE_TIMEOUT] = NLA_POLICY_FULL_RANGE(NLA_U32, &vassist_a_ack_offload_params_idle_timeout_range),
	[VASSIST_A_ACK_OFFLOAD_PARAMS_BUFFER_MAX] = NLA_POLICY_FULL_RANGE(NLA_U32, &vassist_a_ack_offload_params_buffer_max_range),
	[VASSIST_A_ACK_OFFLOAD_PARAMS_WINDOW_GROWTH] = NLA_POLICY_MAX(NLA_U32, 1),
};

const struct nla_policy vassist_zone_params_nl_policy[VASSIST_A_ZONE_PARAMS_COALESCE_USECS + 1] = {
	[VASSIST_A_ZONE_PARAMS_ZONE_SIZE] = NLA_POLICY_FULL_RANGE(NLA_U32, &vassist_a_zone_params_zone_size_range),
	[VASSIST_A_ZONE_PARAMS_ZONES_MAX] = NLA_POLICY_RANGE(NLA_U32, 1, 64),
	[VASSIST_A_ZONE_PARAMS_RING] = NLA_POLICY_RANGE(NLA_U32, 64, 16384),
	[VASSIST_A_ZONE_PARAMS_NOTIFY] = NLA_POLICY_MAX(NLA_U32, 2),
	[VASSIST_A_ZONE_PARAMS_COALESCE_USECS] = NLA_POLICY_FULL_RANGE(NLA_U32, &vassist_a_zone_params_coalesce_usecs_range),
};

/* VASSIST_CMD_PORT_ADD - do */
static const struct nla_policy vassist_port_add_nl_policy[VASSIST_A_PORT_ZONE + 1] = {
	[VASSIST_A_PORT_IFINDEX] = NLA_POLICY_MIN(NLA_U32, 1),
	[VASSIST_A_PORT_IFNAME] = { .type = NLA_NUL_STRING, .len = 15, },
	[VASSIST_A_PORT_FEATURES] = NLA_POLICY_MASK(NLA_U32, 0x3),
	[VASSIST_A_PORT_ACK_OFFLOAD] = NLA_POLICY_NESTED(vassist_ack_offload_params_nl_policy),
	[VASSIST_A_PORT_ZONE] = NLA_POLICY_NESTED(vassist_zone_params_nl_policy),
};

/* VASSIST_CMD_PORT_DEL - do */
static const struct nla_policy vassist_port_del_nl_policy[VASSIST_A_PORT_IFNAME + 1] = {
	[VASSIST_A_PORT_IFINDEX] = NLA_POLICY_MIN(NLA_U32, 1),
	[VASSIST_A_PORT_IFNAME] = { .type = NLA_NUL_STRING, .len = 15, },
};

/* VASSIST_CMD_PORT_GET - do */
static const struct nla_policy vassist_port_get_nl_policy[VASSIST_A_PORT_IFNAME + 1] = {
	[VASSIST_A_PORT_IFINDEX] = NLA_POLICY_MIN(NLA_U32, 1),
	[VASSIST_A_PORT_IFNAME] = { .type = NLA_NUL_STRING, .len = 15, },
};

/* VASSIST_CMD_PORT_SET - do */
static const struct nla_policy vassist_port_set_nl_policy[VASSIST_A_PORT_ZONE + 1] = {
	[VASSIST_A_PORT_IFINDEX] = NLA_POLICY_MIN(NLA_U32, 1),
	[VASSIST_A_PORT_IFNAME] = { .type = NLA_NUL_STRING, .len = 15, },
	[VASSIST_A_PORT_FEATURES] = NLA_POLICY_MASK(NLA_U32, 0x3),
	[VASSIST_A_PORT_FEATURES_MASK] = NLA_POLICY_MASK(NLA_U32, 0x3),
	[VASSIST_A_PORT_ACK_OFFLOAD] = NLA_POLICY_NESTED(vassist_ack_offload_params_nl_policy),
	[VASSIST_A_PORT_ZONE] = NLA_POLICY_NESTED(vassist_zone_params_nl_policy),
};

/* VASSIST_CMD_FLOW_GET - dump */
static const struct nla_policy vassist_flow_get_nl_policy[VASSIST_A_FLOW_IFINDEX + 1] = {
	[VASSIST_A_FLOW_IFINDEX] = NLA_POLICY_MIN(NLA_U32, 1),
};

/* VASSIST_CMD_PIPE_ADD - do */
static const struct nla_policy vassist_pipe_add_nl_policy[VASSIST_A_PIPE_SOCKET_OWNER + 1] = {
	[VASSIST_A_PIPE_IFINDEX] = NLA_POLICY_MIN(NLA_U32, 1),
	[VASSIST_A_PIPE_IFNAME] = { .type = NLA_NUL_STRING, .len = 15, },
	[VASSIST_A_PIPE_SHADOW_IFINDEX] = NLA_POLICY_MIN(NLA_U32, 1),
	[VASSIST_A_PIPE_GUEST_ADDR] = { .type = NLA_BINARY, },
	[VASSIST_A_PIPE_GUEST_PORT] = { .type = NLA_U16, },
	[VASSIST_A_PIPE_PEER_ADDR] = { .type = NLA_BINARY, },
	[VASSIST_A_PIPE_PEER_PORT] = { .type = NLA_U16, },
	[VASSIST_A_PIPE_GUEST_MAC] = NLA_POLICY_EXACT_LEN(6),
	[VASSIST_A_PIPE_PEER_MAC] = NLA_POLICY_EXACT_LEN(6),
	[VASSIST_A_PIPE_STATE] = NLA_POLICY_MAX(NLA_U32, 1),
	[VASSIST_A_PIPE_SOCKET_OWNER] = { .type = NLA_FLAG, },
};

/* VASSIST_CMD_PIPE_SET - do */
static const struct nla_policy vassist_pipe_set_nl_policy[VASSIST_A_PIPE_STATE + 1] = {
	[VASSIST_A_PIPE_IFINDEX] = NLA_POLICY_MIN(NLA_U32, 1),
	[VASSIST_A_PIPE_IFNAME] = { .type = NLA_NUL_STRING, .len = 15, },
	[VASSIST_A_PIPE_GUEST_ADDR] = { .type = NLA_BINARY, },
	[VASSIST_A_PIPE_GUEST_PORT] = { .type = NLA_U16, },
	[VASSIST_A_PIPE_PEER_ADDR] = { .type = NLA_BINARY, },
	[VASSIST_A_PIPE_PEER_PORT] = { .type = NLA_U16, },
	[VASSIST_A_PIPE_STATE] = NLA_POLICY_MAX(NLA_U32, 1),
};

/* VASSIST_CMD_PIPE_DEL - do */
static const struct nla_policy vassist_pipe_del_nl_policy[VASSIST_A_PIPE_PEER_PORT + 1] = {
	[VASSIST_A_PIPE_IFINDEX] = NLA_POLICY_MIN(NLA_U32, 1),
	[VASSIST_A_PIPE_IFNAME] = { .type = NLA_NUL_STRING, .len = 15, },
	[VASSIST_A_PIPE_GUEST_ADDR] = { .type = NLA_BINARY, },
	[VASSIST_A_PIPE_GUEST_PORT] = { .type = NLA_U16, },
	[VASSIST_A_PIPE_PEER_ADDR] = { .type = NLA_BINARY, },
	[VASSIST_A_PIPE_PEER_PORT] = { .type = NLA_U16, },
};

/* VASSIST_CMD_PIPE_GET - dump */
static const struct nla_policy vassist_pipe_get_nl_policy[VASSIST_A_PIPE_IFINDEX + 1] = {
	[VASSIST_A_PIPE_IFINDEX] = NLA_POLICY_MIN(NLA_U32, 1),
};

/* Ops table for vassist */
static const struct genl_split_ops vassist_nl_ops[] = {
	{
		.cmd		= VASSIST_CMD_PORT_ADD,
		.doit		= vassist_nl_port_add_doit,
		.policy		= vassist_port_add_nl_policy,
		.maxattr	= VASSIST_A_PORT_ZONE,
		.flags		= GENL_ADMIN_PERM | GENL_CMD_CAP_DO,
	},
	{
		.cmd		= VASSIST_CMD_PORT_DEL,
		.doit		= vassist_nl_port_del_doit,
		.policy		= vassist_port_del_nl_policy,
		.maxattr	= VASSIST_A_PORT_IFNAME,
		.flags		= GENL_ADMIN_PERM | GENL_CMD_CAP_DO,
	},
	{
		.cmd		= VASSIST_CMD_PORT_GET,
		.doit		= vassist_nl_port_get_doit,
		.policy		= vassist_port_get_nl_policy,
		.maxattr	= VASSIST_A_PORT_IFNAME,
		.flags		= GENL_CMD_CAP_DO,
	},
	{
		.cmd	= VASSIST_CMD_PORT_GET,
		.dumpit	= vassist_nl_port_get_dumpit,
		.flags	= GENL_CMD_CAP_DUMP,
	},
	{
		.cmd		= VASSIST_CMD_PORT_SET,
		.doit		= vassist_nl_port_set_doit,
		.policy		= vassist_port_set_nl_policy,
		.maxattr	= VASSIST_A_PORT_ZONE,
		.flags		= GENL_ADMIN_PERM | GENL_CMD_CAP_DO,
	},
	{
		.cmd		= VASSIST_CMD_FLOW_GET,
		.dumpit		= vassist_nl_flow_get_dumpit,
		.policy		= vassist_flow_get_nl_policy,
		.maxattr	= VASSIST_A_FLOW_IFINDEX,
		.flags		= GENL_CMD_CAP_DUMP,
	},
	{
		.cmd		= VASSIST_CMD_PIPE_ADD,
		.doit		= vassist_nl_pipe_add_doit,
		.policy		= vassist_pipe_add_nl_policy,
		.maxattr	= VASSIST_A_PIPE_SOCKET_OWNER,
		.flags		= GENL_ADMIN_PERM | GENL_CMD_CAP_DO,
	},
	{
		.cmd		= VASSIST_CMD_PIPE_SET,
		.doit		= vassist_nl_pipe_set_doit,
		.policy		= vassist_pipe_set_nl_policy,
		.maxattr	= VASSIST_A_PIPE_STATE,
		.flags		= GENL_ADMIN_PERM | GENL_CMD_CAP_DO,
	},
	{
		.cmd		= VASSIST_CMD_PIPE_DEL,
		.doit		= vassist_nl_pipe_del_doit,
		.policy		= vassist_pipe_del_nl_policy,
		.maxattr	= VASSIST_A_PIPE_PEER_PORT,
		.flags		= GENL_ADMIN_PERM | GENL_CMD_CAP_DO,
	},
	{
		.cmd		= VASSIST_CMD_PIPE_GET,
		.dumpit		= vassist_nl_pipe_get_dumpit,
		.policy		= vassist_pipe_get_nl_policy,
		.maxattr	= VASSIST_A_PIPE_IFINDEX,
		.flags		= GENL_CMD_CAP_DUMP,
	},
};

static const struct genl_multicast_group vassist_nl_mcgrps[] = {
	[VASSIST_NLGRP_MGMT] = { "mgmt", },
};

struct genl_family vassist_nl_family __ro_after_init = {
	.name		= VASSIST_FAMILY_NAME,
	.version	= VASSIST_FAMILY_VERSION,
	.netnsok	= true,
	.parallel_ops	= true,
	.module		= THIS_MODULE,
	.split_ops	= vassist_nl_ops,
	.n_split_ops	= ARRAY_SIZE(vassist_nl_ops),
	.mcgrps		= vassist_nl_mcgrps,
	.n_mcgrps	= ARRAY_SIZE(vassist_nl_mcgrps),
};
