// SPDX-License-Identifier: GPL-2.0

//! The ABI's numbers, without their prefixes: the netlink family's
//! (include/uapi/linux/vassist.h, generated from
//! Documentation/netlink/specs/vassist.yaml) and the zone device's
//! (include/uapi/linux/vassist_zone.h, whose layouts `policy::zone::abi`
//! encodes: checked against the C structures here). The only place above
//! the wrapper layer that reads the bindings.

use crate::bindings as b;

macro_rules! consts {
    ($ty:ty; $($name:ident = $c:ident),* $(,)?) => {
        $(pub(crate) const $name: $ty = b::$c as $ty;)*
    };
}

/// Commands (`vassist-cmd`).
pub(crate) mod cmd {
    use super::b;
    consts!(u8;
        PORT_ADD = VASSIST_CMD_PORT_ADD,
        PORT_DEL = VASSIST_CMD_PORT_DEL,
        PORT_GET = VASSIST_CMD_PORT_GET,
        PORT_SET = VASSIST_CMD_PORT_SET,
        FLOW_GET = VASSIST_CMD_FLOW_GET,
        PORT_ADD_NTF = VASSIST_CMD_PORT_ADD_NTF,
        PORT_CHANGE_NTF = VASSIST_CMD_PORT_CHANGE_NTF,
        PORT_DEL_NTF = VASSIST_CMD_PORT_DEL_NTF,
        PIPE_ADD = VASSIST_CMD_PIPE_ADD,
        PIPE_SET = VASSIST_CMD_PIPE_SET,
        PIPE_DEL = VASSIST_CMD_PIPE_DEL,
        PIPE_GET = VASSIST_CMD_PIPE_GET,
        PIPE_DEL_NTF = VASSIST_CMD_PIPE_DEL_NTF,
    );
}

/// Multicast groups.
pub(crate) mod group {
    use super::b;
    consts!(u32; MGMT = VASSIST_NLGRP_MGMT);
}

/// The `features` flags.
pub(crate) mod features {
    use super::b;
    consts!(u32;
        ACK_OFFLOAD = vassist_features_VASSIST_FEATURES_ACK_OFFLOAD,
        ZONE = vassist_features_VASSIST_FEATURES_ZONE,
    );
}

/// The `detach-reason` enum.
pub(crate) mod detach_reason {
    use super::b;
    consts!(u32;
        USER = vassist_detach_reason_VASSIST_DETACH_REASON_USER,
        UNREGISTERED = vassist_detach_reason_VASSIST_DETACH_REASON_UNREGISTERED,
        LEFT_BRIDGE = vassist_detach_reason_VASSIST_DETACH_REASON_LEFT_BRIDGE,
    );
}

/// The `flow-mode` enum.
pub(crate) mod flow_mode {
    use super::b;
    consts!(u32;
        ACTIVE = vassist_flow_mode_VASSIST_FLOW_MODE_ACTIVE,
        UNEXPECTED_SEQ = vassist_flow_mode_VASSIST_FLOW_MODE_UNEXPECTED_SEQ,
        NO_BUF = vassist_flow_mode_VASSIST_FLOW_MODE_NO_BUF,
        WINDOW = vassist_flow_mode_VASSIST_FLOW_MODE_WINDOW,
        FLAGS = vassist_flow_mode_VASSIST_FLOW_MODE_FLAGS,
        CLOSING = vassist_flow_mode_VASSIST_FLOW_MODE_CLOSING,
        BUFFER_FULL = vassist_flow_mode_VASSIST_FLOW_MODE_BUFFER_FULL,
    );
}

/// The `port` attribute set.
pub(crate) mod pipe_state {
    use super::b;
    consts!(u32;
        HOLD = vassist_pipe_state_VASSIST_PIPE_STATE_HOLD,
        HOST = vassist_pipe_state_VASSIST_PIPE_STATE_HOST,
    );
}

/// The `pipe-del-reason` enum.
pub(crate) mod pipe_del_reason {
    use super::b;
    consts!(u32;
        USER = vassist_pipe_del_reason_VASSIST_PIPE_DEL_REASON_USER,
        OWNER_GONE = vassist_pipe_del_reason_VASSIST_PIPE_DEL_REASON_OWNER_GONE,
        SHADOW_GONE = vassist_pipe_del_reason_VASSIST_PIPE_DEL_REASON_SHADOW_GONE,
    );
}

pub(crate) mod pipe {
    use super::b;
    consts!(u32;
        IFINDEX = VASSIST_A_PIPE_IFINDEX,
        IFNAME = VASSIST_A_PIPE_IFNAME,
        SHADOW_IFINDEX = VASSIST_A_PIPE_SHADOW_IFINDEX,
        GUEST_ADDR = VASSIST_A_PIPE_GUEST_ADDR,
        GUEST_PORT = VASSIST_A_PIPE_GUEST_PORT,
        PEER_ADDR = VASSIST_A_PIPE_PEER_ADDR,
        PEER_PORT = VASSIST_A_PIPE_PEER_PORT,
        GUEST_MAC = VASSIST_A_PIPE_GUEST_MAC,
        PEER_MAC = VASSIST_A_PIPE_PEER_MAC,
        STATE = VASSIST_A_PIPE_STATE,
        TO_SHADOW_PACKETS = VASSIST_A_PIPE_TO_SHADOW_PACKETS,
        TO_SHADOW_BYTES = VASSIST_A_PIPE_TO_SHADOW_BYTES,
        FROM_SHADOW_PACKETS = VASSIST_A_PIPE_FROM_SHADOW_PACKETS,
        FROM_SHADOW_BYTES = VASSIST_A_PIPE_FROM_SHADOW_BYTES,
        GUEST_DROPPED = VASSIST_A_PIPE_GUEST_DROPPED,
        SHADOW_DROPPED = VASSIST_A_PIPE_SHADOW_DROPPED,
        HOLD_DROPPED = VASSIST_A_PIPE_HOLD_DROPPED,
        HELD = VASSIST_A_PIPE_HELD,
        SOCKET_OWNER = VASSIST_A_PIPE_SOCKET_OWNER,
        DEL_REASON = VASSIST_A_PIPE_DEL_REASON,
        RESET = VASSIST_A_PIPE_RESET,
    );
}

pub(crate) mod port {
    use super::b;
    consts!(u32;
        IFINDEX = VASSIST_A_PORT_IFINDEX,
        IFNAME = VASSIST_A_PORT_IFNAME,
        MASTER_IFINDEX = VASSIST_A_PORT_MASTER_IFINDEX,
        FEATURES = VASSIST_A_PORT_FEATURES,
        STATS = VASSIST_A_PORT_STATS,
        DETACH_REASON = VASSIST_A_PORT_DETACH_REASON,
        ACK_OFFLOAD = VASSIST_A_PORT_ACK_OFFLOAD,
        FEATURES_MASK = VASSIST_A_PORT_FEATURES_MASK,
        ZONE = VASSIST_A_PORT_ZONE,
        ZONE_STATS = VASSIST_A_PORT_ZONE_STATS,
    );
}

/// The `zone-params` attribute set.
pub(crate) mod zone_params {
    use super::b;
    consts!(u32;
        ZONE_SIZE = VASSIST_A_ZONE_PARAMS_ZONE_SIZE,
        ZONES_MAX = VASSIST_A_ZONE_PARAMS_ZONES_MAX,
        RING = VASSIST_A_ZONE_PARAMS_RING,
        NOTIFY = VASSIST_A_ZONE_PARAMS_NOTIFY,
        COALESCE_USECS = VASSIST_A_ZONE_PARAMS_COALESCE_USECS,
    );
}

/// The `zone-notify` enum.
pub(crate) mod zone_notify {
    use super::b;
    consts!(u32;
        EVI_EOC = vassist_zone_notify_VASSIST_ZONE_NOTIFY_EVI_EOC,
        EVERY_FRAME = vassist_zone_notify_VASSIST_ZONE_NOTIFY_EVERY_FRAME,
        TIMER = vassist_zone_notify_VASSIST_ZONE_NOTIFY_TIMER,
    );
}

/// The `zone-stats` attribute set.
pub(crate) mod zone_stats {
    use super::b;
    consts!(u32;
        ZONES = VASSIST_A_ZONE_STATS_ZONES,
        CONSUMER = VASSIST_A_ZONE_STATS_CONSUMER,
        BUFFERS_FREE = VASSIST_A_ZONE_STATS_BUFFERS_FREE,
        BUFFERS_CONSUMER = VASSIST_A_ZONE_STATS_BUFFERS_CONSUMER,
        FRAMES = VASSIST_A_ZONE_STATS_FRAMES,
        BYTES = VASSIST_A_ZONE_STATS_BYTES,
        NO_CONSUMER = VASSIST_A_ZONE_STATS_NO_CONSUMER,
        NO_BUFFER = VASSIST_A_ZONE_STATS_NO_BUFFER,
        RING_FULL = VASSIST_A_ZONE_STATS_RING_FULL,
        UNSUPPORTED = VASSIST_A_ZONE_STATS_UNSUPPORTED,
        RETURNED = VASSIST_A_ZONE_STATS_RETURNED,
        BAD_DESC = VASSIST_A_ZONE_STATS_BAD_DESC,
        NOTIFICATIONS = VASSIST_A_ZONE_STATS_NOTIFICATIONS,
        GROW_FAILED = VASSIST_A_ZONE_STATS_GROW_FAILED,
        BUFFERS_SENT = VASSIST_A_ZONE_STATS_BUFFERS_SENT,
        TX_FRAMES = VASSIST_A_ZONE_STATS_TX_FRAMES,
        TX_BYTES = VASSIST_A_ZONE_STATS_TX_BYTES,
        TX_COPIED_BYTES = VASSIST_A_ZONE_STATS_TX_COPIED_BYTES,
        TX_DROPPED = VASSIST_A_ZONE_STATS_TX_DROPPED,
        COMPLETIONS = VASSIST_A_ZONE_STATS_COMPLETIONS,
        KICKS = VASSIST_A_ZONE_STATS_KICKS,
        EVI_SENT = VASSIST_A_ZONE_STATS_EVI_SENT,
        EVI_FAILED = VASSIST_A_ZONE_STATS_EVI_FAILED,
        EVI_COALESCED = VASSIST_A_ZONE_STATS_EVI_COALESCED,
        PREMATURE = VASSIST_A_ZONE_STATS_PREMATURE,
        EOC_SENT = VASSIST_A_ZONE_STATS_EOC_SENT,
        EOC_COLD = VASSIST_A_ZONE_STATS_EOC_COLD,
        EOC_HOT = VASSIST_A_ZONE_STATS_EOC_HOT,
        EOC_PENDING = VASSIST_A_ZONE_STATS_EOC_PENDING,
        BATCHES = VASSIST_A_ZONE_STATS_BATCHES,
    );
}

/// The `ack-offload-params` attribute set.
pub(crate) mod ack_offload {
    use super::b;
    consts!(u32;
        BUF_SIZE = VASSIST_A_ACK_OFFLOAD_PARAMS_BUF_SIZE,
        RING_MARGIN = VASSIST_A_ACK_OFFLOAD_PARAMS_RING_MARGIN,
        WINDOW_GROWTH = VASSIST_A_ACK_OFFLOAD_PARAMS_WINDOW_GROWTH,
        MAX_FLOWS = VASSIST_A_ACK_OFFLOAD_PARAMS_MAX_FLOWS,
        IDLE_TIMEOUT = VASSIST_A_ACK_OFFLOAD_PARAMS_IDLE_TIMEOUT,
        BUFFER_MAX = VASSIST_A_ACK_OFFLOAD_PARAMS_BUFFER_MAX,
    );
}

/// The `port-stats` attribute set.
pub(crate) mod stats {
    use super::b;
    consts!(u32;
        TO_GUEST_PACKETS = VASSIST_A_PORT_STATS_TO_GUEST_PACKETS,
        TO_GUEST_BYTES = VASSIST_A_PORT_STATS_TO_GUEST_BYTES,
        TO_GUEST_TCP_SEGS = VASSIST_A_PORT_STATS_TO_GUEST_TCP_SEGS,
        FROM_GUEST_PACKETS = VASSIST_A_PORT_STATS_FROM_GUEST_PACKETS,
        FROM_GUEST_BYTES = VASSIST_A_PORT_STATS_FROM_GUEST_BYTES,
        FROM_GUEST_TCP_SEGS = VASSIST_A_PORT_STATS_FROM_GUEST_TCP_SEGS,
        EARLY_ACKS = VASSIST_A_PORT_STATS_EARLY_ACKS,
        EARLY_ACK_ERRORS = VASSIST_A_PORT_STATS_EARLY_ACK_ERRORS,
        ACK_INELIGIBLE = VASSIST_A_PORT_STATS_ACK_INELIGIBLE,
        GUEST_ACKS_DROPPED = VASSIST_A_PORT_STATS_GUEST_ACKS_DROPPED,
        ACKS_REWRITTEN = VASSIST_A_PORT_STATS_ACKS_REWRITTEN,
        WINDOWS_CAPPED = VASSIST_A_PORT_STATS_WINDOWS_CAPPED,
        OFFLINE_UNEXPECTED_SEQ = VASSIST_A_PORT_STATS_OFFLINE_UNEXPECTED_SEQ,
        OFFLINE_NO_BUF = VASSIST_A_PORT_STATS_OFFLINE_NO_BUF,
        OFFLINE_WINDOW = VASSIST_A_PORT_STATS_OFFLINE_WINDOW,
        OFFLINE_FLAGS = VASSIST_A_PORT_STATS_OFFLINE_FLAGS,
        FLOWS_CREATED = VASSIST_A_PORT_STATS_FLOWS_CREATED,
        FLOWS_ENDED = VASSIST_A_PORT_STATS_FLOWS_ENDED,
        FLOWS_EXPIRED = VASSIST_A_PORT_STATS_FLOWS_EXPIRED,
        TABLE_FULL = VASSIST_A_PORT_STATS_TABLE_FULL,
        RING_ESTIMATE = VASSIST_A_PORT_STATS_RING_ESTIMATE,
        RING_DROPS = VASSIST_A_PORT_STATS_RING_DROPS,
        OFFLINE_BUFFER_FULL = VASSIST_A_PORT_STATS_OFFLINE_BUFFER_FULL,
        HELD_BYTES = VASSIST_A_PORT_STATS_HELD_BYTES,
        RESENDS = VASSIST_A_PORT_STATS_RESENDS,
        BAD_CHECKSUMS = VASSIST_A_PORT_STATS_BAD_CHECKSUMS,
        FLOWS_RESET = VASSIST_A_PORT_STATS_FLOWS_RESET,
        EARLY_ACKED_BYTES = VASSIST_A_PORT_STATS_EARLY_ACKED_BYTES,
        HELD_GAPS = VASSIST_A_PORT_STATS_HELD_GAPS,
        PARKED = VASSIST_A_PORT_STATS_PARKED,
        RELEASED = VASSIST_A_PORT_STATS_RELEASED,
    );
}

/// The `flow` attribute set.
pub(crate) mod flow {
    use super::b;
    consts!(u32;
        IFINDEX = VASSIST_A_FLOW_IFINDEX,
        GUEST_ADDR = VASSIST_A_FLOW_GUEST_ADDR,
        GUEST_PORT = VASSIST_A_FLOW_GUEST_PORT,
        PEER_ADDR = VASSIST_A_FLOW_PEER_ADDR,
        PEER_PORT = VASSIST_A_FLOW_PEER_PORT,
        MODE = VASSIST_A_FLOW_MODE,
        HANDSHAKE = VASSIST_A_FLOW_HANDSHAKE,
        NEXT_SEQ = VASSIST_A_FLOW_NEXT_SEQ,
        ACKED = VASSIST_A_FLOW_ACKED,
        VM_ACK = VASSIST_A_FLOW_VM_ACK,
        RCV_WIN = VASSIST_A_FLOW_RCV_WIN,
        WSCALE = VASSIST_A_FLOW_WSCALE,
        MSS = VASSIST_A_FLOW_MSS,
        TIMESTAMPS = VASSIST_A_FLOW_TIMESTAMPS,
        IDLE_MS = VASSIST_A_FLOW_IDLE_MS,
        EARLY_ACKS = VASSIST_A_FLOW_EARLY_ACKS,
        ACKS_DROPPED = VASSIST_A_FLOW_ACKS_DROPPED,
        ACKS_REWRITTEN = VASSIST_A_FLOW_ACKS_REWRITTEN,
        HELD_BYTES = VASSIST_A_FLOW_HELD_BYTES,
        RESENDS = VASSIST_A_FLOW_RESENDS,
        PARKED_BYTES = VASSIST_A_FLOW_PARKED_BYTES,
    );
}

/// The zone device (`include/uapi/linux/vassist_zone.h`).
pub(crate) mod zone {
    use super::b;
    use crate::policy::zone::{abi, BUF_SIZE};
    use core::mem::{offset_of, size_of};
    use kernel::ioctl::{_IO, _IOR, _IOW};

    pub(crate) const IOC_BIND: u32 = _IOW::<b::vassist_zone_bind>(b::VASSIST_ZONE_IOC, 1);
    pub(crate) const IOC_INFO: u32 = _IOR::<b::vassist_zone_info>(b::VASSIST_ZONE_IOC, 2);
    pub(crate) const IOC_ALLOC: u32 = _IO(b::VASSIST_ZONE_IOC, 3);

    const _: () = {
        assert!(b::VASSIST_ZONE_BUF_SIZE == BUF_SIZE);
        assert!(size_of::<b::vassist_ring_head>() == abi::HEAD_SIZE as usize);
        assert!(offset_of!(b::vassist_ring_head, status) == abi::HEAD_STATUS as usize);
        assert!(offset_of!(b::vassist_ring_head, consumer) == abi::HEAD_CONSUMER as usize);
        assert!(offset_of!(b::vassist_ring_head, flags) == abi::HEAD_FLAGS as usize);
        assert!(b::VASSIST_RING_WAITING == abi::RING_WAITING);
        assert!(b::VASSIST_RING_DETACHED == abi::RING_DETACHED);
        assert!(b::VASSIST_RING_NEED_KICK == abi::RING_NEED_KICK);
        assert!(b::VASSIST_BIND_TX == abi::BIND_TX);
        assert!(b::VASSIST_ZONE_TX_BUFS_MAX as usize == crate::policy::zone::TX_BUFS_MAX);
        assert!(crate::policy::zone::TX_BUFS_MAX == crate::sys::zerocopy::MAX_FRAGS);
        assert!(size_of::<b::vassist_zone_desc>() == abi::DESC_SIZE as usize);
        assert!(offset_of!(b::vassist_zone_desc, len) == 8);
        assert!(offset_of!(b::vassist_zone_desc, vnet) == 16);
        assert!(b::VASSIST_DESC_MORE == abi::DESC_MORE as u32);
        assert!(size_of::<b::vassist_zone_addr>() == abi::ADDR_SIZE as usize);
        assert!(size_of::<b::vassist_zone_bind>() == abi::BIND_SIZE);
        assert!(size_of::<b::vassist_zone_info>() == abi::INFO_SIZE);
        assert!(offset_of!(b::vassist_zone_info, ret_addrs) == 28);
        assert!(offset_of!(b::vassist_zone_info, comp_addrs) == 44);
        assert!(offset_of!(b::vassist_zone_bind, tx_eventfd) == 12);
        assert!(b::VASSIST_MMAP_ZONES == abi::MMAP_ZONES);
        // The header the wrapper layer reads from a frame is the one a
        // descriptor carries.
        assert!(crate::sys::skb::VNET_HDR_LEN == abi::VNET_LEN);
    };
}
