/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The C interface the vassist Rust crate binds to (bindgen runs over this
 * file): the kernel headers it needs plus out-of-line copies of the static
 * inline functions and macros Rust cannot call directly. Each helper is a
 * one-line forward to the kernel's own inline.
 */
#ifndef VASSIST_HELPERS_H
#define VASSIST_HELPERS_H

#include <linux/etherdevice.h>
#include <linux/if_bridge.h>
#include <linux/if_vlan.h>
#include <linux/jiffies.h>
#include <linux/netdevice.h>
#include <linux/percpu.h>
#include <linux/random.h>
#include <linux/spinlock.h>
#include <net/pkt_sched.h>
#include <net/rtnetlink.h>
#include <linux/netfilter.h>
#include <linux/netfilter_bridge.h>
#include <linux/rtnetlink.h>
#include <linux/skbuff.h>
#include <net/genetlink.h>
#include <net/net_namespace.h>
#include <net/netlink.h>
#include "vassist_nl_gen.h"

/* sk_buff */
unsigned int vassist_skb_len(const struct sk_buff *skb);
struct vassist_skb_meta {
	u32 len;	/* skb->len */
	u32 segs;	/* GSO segments, or 1 */
	u32 peeked;	/* header bytes returned: min(max, len) */
	u16 protocol;	/* EtherType, host order */
};
const void *vassist_skb_peek(const struct sk_buff *skb, void *buffer, unsigned int max,
			     struct vassist_skb_meta *meta);

bool vassist_skb_csum_partial(const struct sk_buff *skb);
void vassist_skb_csum_complete_to_none(struct sk_buff *skb);
void *vassist_skb_writable(struct sk_buff *skb, unsigned int len);
bool vassist_skb_eth_header(const struct sk_buff *skb, u8 *out);
int vassist_skb_iif(const struct sk_buff *skb);
bool vassist_skb_plain_path(const struct sk_buff *skb);
int vassist_skb_br_xmit(struct sk_buff *skb);
int vassist_xmit_frame(struct net_device *dev, const void *frame, unsigned int len);

enum { VASSIST_PTR_RING_CACHE_BATCH = SMP_CACHE_BYTES * 2 / sizeof(void *) };

/* net_device, packet path (RCU) */
struct net_device *vassist_netdev_peer_port(const struct net_device *port, int ifindex);
bool vassist_netdev_tap_fifo(struct net_device *dev);
u32 vassist_netdev_tx_queue_len(const struct net_device *dev);
u64 vassist_netdev_ring_out(struct net_device *dev);

/* spinlock_t taken with BHs off */
void vassist_spin_lock_bh(spinlock_t *lock);
void vassist_spin_unlock_bh(spinlock_t *lock);

/* per-CPU u64 counters */
u64 *vassist_percpu_alloc(unsigned int n);
void vassist_percpu_free(u64 *counters);
void vassist_percpu_add(u64 *counters, const u64 *v, unsigned int n);
u64 vassist_percpu_sum(u64 *counters, unsigned int i);

/* time, randomness */
u64 vassist_jiffies_ms(void);
u64 vassist_random_u64(void);

/* net_device */
int vassist_netdev_ifindex(const struct net_device *dev);
const char *vassist_netdev_name(const struct net_device *dev);
struct net *vassist_netdev_net(const struct net_device *dev);
bool vassist_netdev_is_bridge_port(const struct net_device *dev);
int vassist_netdev_master_ifindex(struct net_device *dev);
void vassist_netdev_hold(struct net_device *dev);
void vassist_netdev_put(struct net_device *dev);
struct net_device *vassist_netdev_notifier_dev(void *info);
bool vassist_netdev_notifier_unlinked_master(void *info);
bool vassist_netdev_unregistering(const struct net_device *dev);

/* generic netlink */
struct net *vassist_genl_info_net(const struct genl_info *info);
const struct nlattr *vassist_genl_info_attr(const struct genl_info *info, int type);
u32 vassist_nla_get_u32(const struct nlattr *nla);
const struct nlattr *vassist_nla_find_nested(const struct nlattr *nest, int type);
const struct nlattr *vassist_dump_attr(struct netlink_callback *cb, int type);
int vassist_nla_put_u16(struct sk_buff *skb, int type, u16 value);
int vassist_nla_put_flag(struct sk_buff *skb, int type);
int vassist_nla_put(struct sk_buff *skb, int type, int len, const void *data);
const char *vassist_nla_data_str(const struct nlattr *nla);
void vassist_genl_set_err(struct genl_info *info, const char *msg, int attr);
struct sk_buff *vassist_genlmsg_new(void);
void *vassist_genlmsg_put(struct sk_buff *skb, u32 portid, u32 seq, int flags, u8 cmd);
void *vassist_genlmsg_put_reply(struct sk_buff *skb, const struct genl_info *info, u8 cmd);
void vassist_genlmsg_end(struct sk_buff *skb, void *hdr);
void vassist_genlmsg_cancel(struct sk_buff *skb, void *hdr);
int vassist_genlmsg_reply(struct sk_buff *skb, const struct genl_info *info);
int vassist_genlmsg_multicast(struct sk_buff *skb, struct net *net, unsigned int group);
bool vassist_genl_has_listeners(struct net *net, unsigned int group);
void vassist_nlmsg_free(struct sk_buff *skb);
int vassist_nla_put_u32(struct sk_buff *skb, int type, u32 value);
int vassist_nla_put_uint(struct sk_buff *skb, int type, u64 value);
int vassist_nla_put_string(struct sk_buff *skb, int type, const char *s);
struct nlattr *vassist_nla_nest_start(struct sk_buff *skb, int type);
void vassist_nla_nest_end(struct sk_buff *skb, struct nlattr *nest);
void vassist_nla_nest_cancel(struct sk_buff *skb, struct nlattr *nest);
unsigned int vassist_skb_msg_len(const struct sk_buff *skb);
struct net *vassist_dump_net(struct netlink_callback *cb);
u32 vassist_dump_portid(struct netlink_callback *cb);
u32 vassist_dump_seq(struct netlink_callback *cb);
u64 *vassist_dump_ctx(struct netlink_callback *cb);
void vassist_dump_check_consistent(struct netlink_callback *cb, void *hdr, u32 generation);

#endif /* VASSIST_HELPERS_H */
