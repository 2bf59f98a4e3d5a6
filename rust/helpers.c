// SPDX-License-Identifier: GPL-2.0
/*
 * Out-of-line forwards to kernel static inlines and macros for the vassist
 * Rust crate. No logic lives here.
 */
#include "helpers.h"

unsigned int vassist_skb_len(const struct sk_buff *skb) { return skb->len; }
u16 vassist_skb_protocol(const struct sk_buff *skb) { return ntohs(skb->protocol); }
u16 vassist_skb_gso_segs(const struct sk_buff *skb)
{
	return skb_is_gso(skb) ? skb_shinfo(skb)->gso_segs : 1;
}
const void *vassist_skb_header_pointer(const struct sk_buff *skb, int offset,
				       int len, void *buffer)
{
	return skb_header_pointer(skb, offset, len, buffer);
}

int vassist_netdev_ifindex(const struct net_device *dev) { return dev->ifindex; }
const char *vassist_netdev_name(const struct net_device *dev) { return dev->name; }
struct net *vassist_netdev_net(const struct net_device *dev) { return dev_net(dev); }
bool vassist_netdev_is_bridge_port(const struct net_device *dev)
{
	return netif_is_bridge_port(dev);
}
int vassist_netdev_master_ifindex(struct net_device *dev)
{
	struct net_device *master = netdev_master_upper_dev_get(dev);

	return master ? master->ifindex : 0;
}
void vassist_netdev_hold(struct net_device *dev) { dev_hold(dev); }
void vassist_netdev_put(struct net_device *dev) { dev_put(dev); }
struct net_device *vassist_netdev_notifier_dev(void *info)
{
	return netdev_notifier_info_to_dev(info);
}
/* Only meaningful for NETDEV_CHANGEUPPER. */
bool vassist_netdev_notifier_unlinked_master(void *info)
{
	struct netdev_notifier_changeupper_info *cu = info;

	return cu->master && !cu->linking;
}
bool vassist_netdev_unregistering(const struct net_device *dev)
{
	return dev->reg_state >= NETREG_UNREGISTERING;
}

struct net *vassist_genl_info_net(const struct genl_info *info) { return genl_info_net(info); }
/*
 * Looked up in the (policy-validated, strictly: no unknown attributes)
 * message rather than in info->attrs[], which ends at the op's maxattr.
 */
const struct nlattr *vassist_genl_info_attr(const struct genl_info *info, int type)
{
	return nlmsg_find_attr(info->nlhdr, GENL_HDRLEN, type);
}
u32 vassist_nla_get_u32(const struct nlattr *nla) { return nla_get_u32(nla); }
const char *vassist_nla_data_str(const struct nlattr *nla) { return nla_data(nla); }
/* NL_SET_ERR_MSG{,_ATTR} want a literal; @msg is static in the Rust crate. */
void vassist_genl_set_err(struct genl_info *info, const char *msg, int attr)
{
	struct netlink_ext_ack *extack = info->extack;

	if (!extack)
		return;
	extack->_msg = msg;
	if (attr > 0)
		extack->bad_attr = vassist_genl_info_attr(info, attr);
}
struct sk_buff *vassist_genlmsg_new(void) { return genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL); }
void *vassist_genlmsg_put(struct sk_buff *skb, u32 portid, u32 seq, int flags, u8 cmd)
{
	return genlmsg_put(skb, portid, seq, &vassist_nl_family, flags, cmd);
}
void *vassist_genlmsg_put_reply(struct sk_buff *skb, const struct genl_info *info, u8 cmd)
{
	return genlmsg_put_reply(skb, (struct genl_info *)info, &vassist_nl_family, 0, cmd);
}
void vassist_genlmsg_end(struct sk_buff *skb, void *hdr) { genlmsg_end(skb, hdr); }
void vassist_genlmsg_cancel(struct sk_buff *skb, void *hdr) { genlmsg_cancel(skb, hdr); }
int vassist_genlmsg_reply(struct sk_buff *skb, const struct genl_info *info)
{
	return genlmsg_reply(skb, (struct genl_info *)info);
}
int vassist_genlmsg_multicast(struct sk_buff *skb, struct net *net, unsigned int group)
{
	return genlmsg_multicast_netns(&vassist_nl_family, net, skb, 0, group, GFP_KERNEL);
}
bool vassist_genl_has_listeners(struct net *net, unsigned int group)
{
	return genl_has_listeners(&vassist_nl_family, net, group);
}
void vassist_nlmsg_free(struct sk_buff *skb) { nlmsg_free(skb); }
int vassist_nla_put_u32(struct sk_buff *skb, int type, u32 value)
{
	return nla_put_u32(skb, type, value);
}
int vassist_nla_put_uint(struct sk_buff *skb, int type, u64 value)
{
	return nla_put_uint(skb, type, value);
}
int vassist_nla_put_string(struct sk_buff *skb, int type, const char *s)
{
	return nla_put_string(skb, type, s);
}
struct nlattr *vassist_nla_nest_start(struct sk_buff *skb, int type)
{
	return nla_nest_start(skb, type);
}
void vassist_nla_nest_end(struct sk_buff *skb, struct nlattr *nest) { nla_nest_end(skb, nest); }
void vassist_nla_nest_cancel(struct sk_buff *skb, struct nlattr *nest)
{
	nla_nest_cancel(skb, nest);
}
unsigned int vassist_skb_msg_len(const struct sk_buff *skb) { return skb->len; }
struct net *vassist_dump_net(struct netlink_callback *cb) { return sock_net(cb->skb->sk); }
u32 vassist_dump_portid(struct netlink_callback *cb) { return NETLINK_CB(cb->skb).portid; }
u32 vassist_dump_seq(struct netlink_callback *cb) { return cb->nlh->nlmsg_seq; }
u64 *vassist_dump_ctx(struct netlink_callback *cb)
{
	BUILD_BUG_ON(sizeof(cb->ctx) < sizeof(u64));
	return (u64 *)cb->ctx;
}
/* Flags the message NLM_F_DUMP_INTR if the table changed between rounds. */
void vassist_dump_check_consistent(struct netlink_callback *cb, void *hdr, u32 generation)
{
	cb->seq = generation;
	genl_dump_check_consistent(cb, hdr);
}
