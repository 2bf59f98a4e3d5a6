/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause) */
/* Do not edit directly, auto-generated from: */
/*	Documentation/netlink/specs/vassist.yaml */
/* YNL-GEN kernel header */

#ifndef _LINUX_VASSIST_GEN_H
#define _LINUX_VASSIST_GEN_H

#include <net/netlink.h>
#include <net/genetlink.h>

#include <uapi/linux/vassist.h>

/* Common nested types */
extern const struct nla_policy vassist_ack_offload_params_nl_policy[VASSIST_A_ACK_OFFLOAD_PARAMS_WINDOW_GROWTH + 1];
extern const struct nla_policy vassist_zone_params_nl_policy[VASSIST_A_ZONE_PARAMS_COALESCE_USECS + 1];

int vassist_nl_port_add_doit(struct sk_buff *skb, struct genl_info *info);
int vassist_nl_port_del_doit(struct sk_buff *skb, struct genl_info *info);
int vassist_nl_port_get_doit(struct sk_buff *skb, struct genl_info *info);
int vassist_nl_port_get_dumpit(struct sk_buff *skb,
			       struct netlink_callback *cb);
int vassist_nl_port_set_doit(struct sk_buff *skb, struct genl_info *info);
int vassist_nl_flow_get_dumpit(struct sk_buff *skb,
			       struct netlink_callback *cb);
int vassist_nl_pipe_add_doit(struct sk_buff *skb, struct genl_info *info);
int vassist_nl_pipe_set_doit(struct sk_buff *skb, struct genl_info *info);
int vassist_nl_pipe_del_doit(struct sk_buff *skb, struct genl_info *info);
int vassist_nl_pipe_get_dumpit(struct sk_buff *skb,
			       struct netlink_callback *cb);

enum {
	VASSIST_NLGRP_MGMT,
};

extern struct genl_family vassist_nl_family;

#endif /* _LINUX_VASSIST_GEN_H */
