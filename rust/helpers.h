/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The C interface the vassist Rust crate binds to (bindgen runs over this
 * file): the kernel headers its wrapper layer (rust/sys/) needs, plus
 * out-of-line forms of the static inlines, macros and field accesses Rust
 * cannot reach directly. rust/helpers.c says what each one is.
 */
#ifndef VASSIST_HELPERS_H
#define VASSIST_HELPERS_H

#include <linux/etherdevice.h>
#include <linux/if_bridge.h>
#include <linux/if_vlan.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <net/ip6_checksum.h>
#include <linux/jiffies.h>
#include <linux/module.h>
#include <linux/netdevice.h>
#include <linux/percpu.h>
#include <linux/random.h>
#include <linux/rcupdate.h>
#include <linux/spinlock.h>
#include <linux/timer.h>
#include <linux/hrtimer.h>
#include <net/pkt_sched.h>
#include <net/rtnetlink.h>
#include <linux/netfilter.h>
#include <linux/netfilter_bridge.h>
#include <linux/rtnetlink.h>
#include <linux/skbuff.h>
#include <net/genetlink.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>
#include <net/netlink.h>
#include <linux/netlink.h>
#include <linux/capability.h>
#include <linux/eventfd.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/nsproxy.h>
#include <linux/poll.h>
#include <linux/sched.h>
#include <linux/vmalloc.h>
#include <linux/workqueue.h>
#include <linux/virtio_net.h>
#include <uapi/linux/vassist_zone.h>
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
bool vassist_netif_needs_gso(struct sk_buff *skb, netdev_features_t features);
bool vassist_skb_csum_partial(const struct sk_buff *skb);
void vassist_skb_csum_complete_to_none(struct sk_buff *skb);
void *vassist_skb_writable(struct sk_buff *skb, unsigned int len);
bool vassist_skb_eth_header(const struct sk_buff *skb, u8 *out);
int vassist_skb_iif(const struct sk_buff *skb);
bool vassist_skb_plain_path(const struct sk_buff *skb);
struct net_device *vassist_skb_dev(const struct sk_buff *skb);
void vassist_kfree_skb(struct sk_buff *skb);
void vassist_br_drop_fake_rtable(struct sk_buff *skb);
int vassist_dev_queue_xmit(struct sk_buff *skb);
void vassist_skb_set_dev(struct sk_buff *skb, struct net_device *dev);
bool vassist_skb_inject_rx(struct sk_buff *skb, struct net_device *port, const u8 *dst,
			   const u8 *src);
unsigned int vassist_ll_reserved_space(const struct net_device *dev);
struct sk_buff *vassist_alloc_skb_atomic(unsigned int size);
void vassist_skb_reserve(struct sk_buff *skb, unsigned int len);
void vassist_skb_put_data(struct sk_buff *skb, const void *data, unsigned int len);
void vassist_skb_set_eth_frame(struct sk_buff *skb, struct net_device *dev);
struct sk_buff *vassist_skb_clone_atomic(struct sk_buff *skb);
struct sk_buff *vassist_skb_next(const struct sk_buff *skb);
void vassist_skb_set_next(struct sk_buff *skb, struct sk_buff *next);
void *vassist_skb_cb(struct sk_buff *skb);
u32 vassist_skb_gso_segs(const struct sk_buff *skb);
void vassist_consume_skb(struct sk_buff *skb);
bool vassist_skb_tcp_csum_ok(struct sk_buff *skb, unsigned int off, bool v6);

enum { VASSIST_PTR_RING_CACHE_BATCH = SMP_CACHE_BYTES * 2 / sizeof(void *) };

bool vassist_skb_vlan_tag(const struct sk_buff *skb, u16 *proto, u16 *tci);
bool vassist_skb_vnet_hdr(const struct sk_buff *skb, u8 *out, int head_len);

/* net_device */
int vassist_netdev_ifindex(const struct net_device *dev);
const char *vassist_netdev_name(const struct net_device *dev);
struct net *vassist_netdev_net(const struct net_device *dev);
bool vassist_netdev_is_bridge_port(const struct net_device *dev);
bool vassist_br_vlan_enabled(const struct net_device *br);
bool vassist_netif_running(const struct net_device *dev);
bool vassist_netif_carrier_ok(const struct net_device *dev);
u32 vassist_netdev_tx_queue_len(const struct net_device *dev);
u64 vassist_netdev_ring_out(struct net_device *dev);
const char *vassist_netdev_link_kind(const struct net_device *dev);
void vassist_netdev_hold(struct net_device *dev, netdevice_tracker *tracker);
void vassist_netdev_put(struct net_device *dev, netdevice_tracker *tracker);
struct net_device *vassist_netdev_notifier_dev(void *info);
bool vassist_netdev_notifier_unlinked_master(void *info);
bool vassist_netdev_unregistering(const struct net_device *dev);

/* qdiscs (under RCU) */
struct Qdisc *vassist_netdev_qdisc(const struct net_device *dev);
unsigned int vassist_netdev_real_num_tx_queues(const struct net_device *dev);
struct Qdisc *vassist_netdev_txq_qdisc(const struct net_device *dev, unsigned int i);
bool vassist_qdisc_is_mq_root(const struct Qdisc *q);
const struct Qdisc_ops *vassist_qdisc_ops(const struct Qdisc *q);
const char *vassist_qdisc_ops_id(const struct Qdisc_ops *ops);
bool vassist_qdisc_ops_get(const struct Qdisc_ops *ops);
void vassist_qdisc_ops_put(const struct Qdisc_ops *ops);

/* files of a misc device, their mappings, eventfds */
void *vassist_file_private(const struct file *file);
void vassist_file_set_private(struct file *file, void *p);
bool vassist_file_net_admin(const struct file *file, const struct net *net);
unsigned long vassist_vma_pgoff(const struct vm_area_struct *vma);
unsigned long vassist_vma_len(const struct vm_area_struct *vma);
bool vassist_vma_shared(const struct vm_area_struct *vma);
void vassist_eventfd_signal(struct eventfd_ctx *ctx);
void vassist_init_wait_func(struct wait_queue_entry *wait, wait_queue_func_t fn);
void vassist_init_poll_funcptr(poll_table *pt, poll_queue_proc fn);
__poll_t vassist_vfs_poll(struct file *file, poll_table *pt);
enum { VASSIST_POLLIN = (__force int)EPOLLIN };

/* frames received from a consumer's pages */
struct sk_buff *vassist_netdev_alloc_skb(struct net_device *dev, unsigned int len);
unsigned int vassist_skb_nr_frags(const struct sk_buff *skb);
void vassist_skb_add_page(struct sk_buff *skb, struct page *page, unsigned int off,
			  unsigned int len);
void vassist_ubuf_init(struct ubuf_info *uarg, const struct ubuf_info_ops *ops);
bool vassist_ubuf_put(struct ubuf_info *uarg);
int vassist_skb_receive(struct sk_buff *skb, const struct virtio_net_hdr *hdr,
			struct ubuf_info *uarg);
enum { VASSIST_MAX_SKB_FRAGS = MAX_SKB_FRAGS };

/* workqueues */
struct workqueue_struct *vassist_alloc_workqueue(const char *name, bool bh);

/* RCU, namespaces */
struct net *vassist_current_net_get(void);
void vassist_put_net(struct net *net);
void vassist_rcu_read_lock(void);
void vassist_rcu_read_unlock(void);
void *vassist_net_generic(const struct net *net, unsigned int id);

/* spinlock_t taken with BHs off */
void vassist_spin_lock_bh(spinlock_t *lock);
void vassist_spin_unlock_bh(spinlock_t *lock);

/* per-CPU u64 counters */
u64 *vassist_percpu_alloc(unsigned int n);
void vassist_percpu_free(u64 *counters);
void vassist_percpu_add3(u64 *counters, u64 a, u64 b, u64 c);
u64 vassist_percpu_sum(u64 *counters, unsigned int i);

/* time, randomness, timers */
u64 vassist_jiffies_ms(void);
u64 vassist_random_u64(void);
void vassist_timer_setup(struct timer_list *t, void (*fn)(struct timer_list *));
bool vassist_timer_pending(const struct timer_list *t);
void vassist_timer_arm(struct timer_list *t, unsigned int ms);
void vassist_hrtimer_setup(struct hrtimer *t, enum hrtimer_restart (*fn)(struct hrtimer *));
bool vassist_hrtimer_queued(struct hrtimer *t);
void vassist_hrtimer_arm(struct hrtimer *t, u64 ns);

/* generic netlink */
struct net *vassist_genl_info_net(const struct genl_info *info);
const struct genl_family *vassist_genl_info_family(const struct genl_info *info);
u8 vassist_genl_info_cmd(const struct genl_info *info);
u32 vassist_genl_info_portid(const struct genl_info *info);
void vassist_genl_set_err(struct genl_info *info, const char *msg, const struct nlattr *bad);
void vassist_genl_set_attr_missing(struct genl_info *info, unsigned int type);
const struct genl_dumpit_info *vassist_genl_dumpit_info(struct netlink_callback *cb);
int vassist_nla_len(const struct nlattr *nla);
void *vassist_nla_data(const struct nlattr *nla);
const struct nlattr *vassist_nla_find_nested(const struct nlattr *nest, int type);
struct nlattr *vassist_nla_nest_start(struct sk_buff *skb, int type);
void vassist_nla_nest_end(struct sk_buff *skb, struct nlattr *nest);
void vassist_nla_nest_cancel(struct sk_buff *skb, struct nlattr *nest);
struct sk_buff *vassist_genlmsg_new(void);
void *vassist_genlmsg_put_reply(struct sk_buff *skb, struct genl_info *info, u8 cmd);
void vassist_genlmsg_end(struct sk_buff *skb, void *hdr);
void vassist_genlmsg_cancel(struct sk_buff *skb, void *hdr);
int vassist_genlmsg_reply(struct sk_buff *skb, struct genl_info *info);
int vassist_genlmsg_multicast_netns(const struct genl_family *family, struct net *net,
				    struct sk_buff *skb, unsigned int group);
bool vassist_genl_has_listeners(const struct genl_family *family, struct net *net,
				unsigned int group);
void vassist_nlmsg_free(struct sk_buff *skb);
struct net *vassist_dump_net(struct netlink_callback *cb);
u32 vassist_dump_portid(struct netlink_callback *cb);
u32 vassist_dump_seq(struct netlink_callback *cb);
const struct genl_family *vassist_dump_family(struct netlink_callback *cb);
void *vassist_dump_ctx(struct netlink_callback *cb);
void vassist_dump_check_consistent(struct netlink_callback *cb, void *hdr, u32 generation);

#endif /* VASSIST_HELPERS_H */
