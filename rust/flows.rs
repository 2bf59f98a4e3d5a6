// SPDX-License-Identifier: GPL-2.0

//! The flow table of an ack offload port: open addressing over slots
//! allocated when offload is enabled (no allocation on the packet path),
//! each tagged with its flow's key hash so lookups probe without locks.
//! The slot whose tag matches is locked (spin_lock_bh) and its key checked;
//! the flow's state is then used and updated under that lock, which also
//! keeps the acks of one flow in order across CPUs. Inserts are serialised
//! by one lock. Flows idle longer than the port's timeout are removed when
//! met: on lookup, on insert, and skipped by dumps. The slots are one
//! allocation, made before the table is published (outside RTNL where the
//! caller can). Each flow keeps its delivery buffer: the frames acked early
//! that the guest has not acked yet; the table counts their bytes.

use crate::policy::snoop::{Flow, FlowKey};
use crate::policy::tcp::{before, seq_max};
use crate::sys::bhlock::{new_bh_spinlock, BhSpinLock};
use crate::sys::pinned::PinnedSlice;
use crate::sys::skb::{Frame, HeldSkb, HeldSkbs};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use kernel::prelude::*;

/// Slots probed for a key: bounds the lookup cost whatever the hashes.
const PROBE: usize = 8;
/// Tag of a slot that was never used: probing stops there.
const EMPTY: u64 = 0;
/// Tag of a slot whose flow was removed: probing goes on (tags of live
/// flows are odd).
const REMOVED: u64 = 2;

/// A flow and what it did.
pub(crate) struct Entry {
    pub(crate) key: FlowKey,
    pub(crate) flow: Flow,
    /// Jiffies clock (ms) of its last segment.
    pub(crate) last_ms: u64,
    /// ... and of the guest's last one.
    pub(crate) guest_ms: u64,
    pub(crate) early_acks: u64,
    pub(crate) acks_dropped: u64,
    pub(crate) acks_rewritten: u64,
    /// A segment of the flow is being handed to the device, its early ack
    /// to follow: other segments of the flow pass unjudged meanwhile, so
    /// that no ack covers bytes whose delivery is not known.
    pub(crate) busy: bool,
    /// Segments re-sent to the guest from the delivery buffer.
    pub(crate) resends: u64,
    /// The guest's MAC address, from its own frames: a frame toward it
    /// with another (flooded after a corrupted address) is not for it.
    pub(crate) guest_mac: Option<[u8; 6]>,
    /// The delivery buffer: frames acked early and handed to the guest,
    /// each with its sequence range, oldest first ...
    held: HeldSkbs,
    /// ... then those parked past its window (window growth), to be
    /// handed in order.
    parked: HeldSkbs,
    /// Their bytes, both lists.
    held_bytes: u32,
}

impl Entry {
    /// Idle past the timeout, and holding nothing: a flow whose guest has
    /// not acked what was acked early for it is reset instead (by the
    /// port's timer), never dropped silently.
    fn expired(&self, now_ms: u64, idle_ms: u64) -> bool {
        self.held_bytes == 0 && self.idle(now_ms, idle_ms)
    }

    /// No segment for longer than `idle_ms`.
    pub(crate) fn idle(&self, now_ms: u64, idle_ms: u64) -> bool {
        now_ms.saturating_sub(self.last_ms) > idle_ms
    }

    /// Keeps the frame of the segment `seq..end`, acked early, until the
    /// guest acks it, handed or `parked`; `table` counts the bytes. Says
    /// whether every byte from the guest's ack to `end` is now held: a gap
    /// would be bytes acked early that nothing can re-send.
    pub(crate) fn hold(
        &mut self,
        skb: HeldSkb,
        seq: u32,
        end: u32,
        parked: bool,
        table: &FlowTable,
    ) -> bool {
        let from = self.flow.held_from();
        let last = self.parked.back_tag().or(self.held.back_tag());
        let covered = last.map_or(from, |[_, last]| seq_max(last, from));
        let bytes = end.wrapping_sub(seq);
        if parked {
            self.parked.push_back(skb, [seq, end]);
        } else {
            self.held.push_back(skb, [seq, end]);
        }
        self.held_bytes = self.held_bytes.saturating_add(bytes);
        table.held.fetch_add(u64::from(bytes), Ordering::Relaxed);
        !before(covered, seq)
    }

    /// Lets go of the held frames the guest has acked in full (parked
    /// ones too: it may have got their bytes from the sender's own
    /// retransmission).
    pub(crate) fn release(&mut self, table: &FlowTable) {
        let acked = self.flow.held_from();
        let mut bytes = 0u32;
        for list in [&mut self.held, &mut self.parked] {
            while let Some([seq, end]) = list.front_tag() {
                if before(acked, end) {
                    break;
                }
                list.pop_front();
                bytes = bytes.wrapping_add(end.wrapping_sub(seq));
            }
        }
        self.held_bytes = self.held_bytes.saturating_sub(bytes);
        table.held.fetch_sub(u64::from(bytes), Ordering::Relaxed);
    }

    /// Hands the parked frames from `from` on that start before `to`, in
    /// order, while `room` takes each: moved to the handed ones, a copy of
    /// each into `out` to send. Returns where the last one ends (`from` if
    /// none).
    pub(crate) fn hand_parked(
        &mut self,
        from: u32,
        to: u32,
        mut room: impl FnMut(&Frame) -> bool,
        out: &mut HeldSkbs,
    ) -> u32 {
        // Frames handed from `from` on go back to the parked ones first:
        // the guest dropped them, they are handed again in order.
        if self
            .held
            .back_tag()
            .is_some_and(|[_, end]| before(from, end))
        {
            let mut back = self.held.split_off(|[_, end]| before(from, end));
            back.append(core::mem::replace(&mut self.parked, HeldSkbs::new()));
            self.parked = back;
        }
        let mut at = from;
        while let Some([seq, end]) = self.parked.front_tag() {
            // One that `at` cuts (the guest's ack reached into it) goes
            // whole; one above it would leave a gap.
            if before(at, seq) || !before(seq, to) {
                break;
            }
            let Some(copy) = self
                .parked
                .front()
                .filter(|f| room(f))
                .and_then(Frame::clone_ref)
            else {
                break;
            };
            if let Some(skb) = self.parked.pop_front() {
                self.held.push_back(skb, [seq, end]);
            }
            out.push_back(copy, [0; 2]);
            at = end;
        }
        at
    }

    /// Whether bytes from the guest's ack on were acked early yet the
    /// held frames start above them: what nothing can re-send.
    pub(crate) fn head_gap(&self) -> bool {
        let from = self.flow.held_from();
        let first = self.held.front_tag().or(self.parked.front_tag());
        self.flow.held() != 0 && first.map_or(true, |[seq, _]| before(from, seq))
    }

    /// Lets go of every held frame: the flow was reset.
    pub(crate) fn forget_held(&mut self, table: &FlowTable) {
        self.held = HeldSkbs::new();
        self.parked = HeldSkbs::new();
        table
            .held
            .fetch_sub(u64::from(self.held_bytes), Ordering::Relaxed);
        self.held_bytes = 0;
    }

    /// Every frame handed to the guest and held, with its sequence range,
    /// oldest first: what may be re-sent.
    pub(crate) fn held_frames(&self) -> impl Iterator<Item = (&Frame, u32, u32)> {
        self.held.iter().map(|(f, [seq, end])| (f, seq, end))
    }

    /// The oldest frame held, handed or parked.
    pub(crate) fn first_held(&self) -> Option<&Frame> {
        self.held.front().or(self.parked.front())
    }

    pub(crate) fn held_bytes(&self) -> u32 {
        self.held_bytes
    }
}

#[pin_data]
struct Slot {
    tag: AtomicU64,
    #[pin]
    entry: BhSpinLock<Option<Entry>>,
}

/// What a lookup found.
pub(crate) enum Found<R, A> {
    /// The flow, and what the closure returned.
    Flow(R),
    /// No such flow; `A` is handed back.
    Missing(A),
    /// The flow had been idle too long and was removed; `A` is handed back.
    Expired(A),
}

/// A new flow could not be added.
pub(crate) enum InsertError {
    /// Another CPU added the same flow meanwhile.
    Exists,
    /// max-flows reached, or no free slot among the key's probes.
    Full,
}

/// Whether the closure of [`FlowTable::with`] ends the flow.
pub(crate) enum Keep {
    Yes,
    Remove,
}

pub(crate) struct FlowTable {
    slots: PinnedSlice<Slot>,
    mask: usize,
    seed: u64,
    max: u32,
    live: AtomicU32,
    /// Bytes in the flows' delivery buffers.
    held: AtomicU64,
    /// Of them, parked (window growth): kept in step with the flows' own
    /// count around each change under a slot's lock.
    parked: AtomicU64,
    insert: Pin<KBox<BhSpinLock<()>>>,
}

impl FlowTable {
    /// A table for `max` flows, with twice as many slots so that probes
    /// stay short.
    pub(crate) fn new(max: u32, seed: u64) -> Result<FlowTable> {
        let n = (max as usize * 2).next_power_of_two().max(PROBE);
        let slots = PinnedSlice::new(n, GFP_KERNEL, |_| {
            try_pin_init!(Slot {
                tag: AtomicU64::new(EMPTY),
                entry <- new_bh_spinlock!(None, "vassist_flow"),
            }? Error)
        })?;
        Ok(FlowTable {
            slots,
            mask: n - 1,
            seed,
            max,
            live: AtomicU32::new(0),
            held: AtomicU64::new(0),
            parked: AtomicU64::new(0),
            insert: KBox::pin_init(new_bh_spinlock!((), "vassist_flow_insert"), GFP_KERNEL)?,
        })
    }

    /// Bytes the flows' delivery buffers hold.
    pub(crate) fn held_bytes(&self) -> u64 {
        self.held.load(Ordering::Relaxed)
    }

    /// Bytes the flows have parked.
    pub(crate) fn parked_bytes(&self) -> u64 {
        self.parked.load(Ordering::Relaxed)
    }

    /// Runs `f` on `e`, counting the change it makes to the bytes parked.
    fn changing<R>(&self, e: &mut Entry, f: impl FnOnce(&mut Entry) -> R) -> R {
        let before = e.flow.parked();
        let r = f(e);
        let after = e.flow.parked();
        if after > before {
            self.parked
                .fetch_add(u64::from(after - before), Ordering::Relaxed);
        } else if before > after {
            self.parked
                .fetch_sub(u64::from(before - after), Ordering::Relaxed);
        }
        r
    }

    /// The number of flows the table was made for.
    pub(crate) fn capacity(&self) -> u32 {
        self.max
    }

    fn probes(&self, hash: u64) -> impl Iterator<Item = Pin<&Slot>> {
        (0..PROBE).filter_map(move |i| self.slots.get((hash as usize).wrapping_add(i) & self.mask))
    }

    /// Runs `f` on the flow of `key` under its lock, with `arg`, and
    /// removes the flow if `f` says so. A flow found idle past `idle_ms` is
    /// removed instead.
    pub(crate) fn with<A, R>(
        &self,
        key: &FlowKey,
        now_ms: u64,
        idle_ms: u64,
        arg: A,
        f: impl FnOnce(&mut Entry, A) -> (R, Keep),
    ) -> Found<R, A> {
        let hash = key.hash(self.seed);
        for slot in self.probes(hash) {
            // Acquire pairs with the Release that published the entry.
            match slot.tag.load(Ordering::Acquire) {
                EMPTY => break,
                t if t != hash => continue,
                _ => {}
            }
            let mut guard = slot.entry.lock();
            let Some(entry) = guard.as_mut().filter(|e| e.key == *key) else {
                // Reused for another flow since the tag was read.
                continue;
            };
            if entry.expired(now_ms, idle_ms) {
                self.remove(slot, &mut guard);
                return Found::Expired(arg);
            }
            entry.last_ms = now_ms;
            let (r, keep) = self.changing(entry, |e| f(e, arg));
            if let Keep::Remove = keep {
                self.remove(slot, &mut guard);
            }
            return Found::Flow(r);
        }
        Found::Missing(arg)
    }

    fn remove(&self, slot: Pin<&Slot>, entry: &mut Option<Entry>) {
        if let Some(e) = entry.take() {
            self.held
                .fetch_sub(u64::from(e.held_bytes), Ordering::Relaxed);
            self.parked
                .fetch_sub(u64::from(e.flow.parked()), Ordering::Relaxed);
        }
        slot.tag.store(REMOVED, Ordering::Release);
        self.live.fetch_sub(1, Ordering::Relaxed);
    }

    /// Adds `flow` for `key`, whose guest has `guest_mac`. Expired flows
    /// met among the probes are removed (and counted by `on_expire`) to
    /// make room.
    pub(crate) fn insert(
        &self,
        key: &FlowKey,
        flow: Flow,
        guest_mac: Option<[u8; 6]>,
        now_ms: u64,
        idle_ms: u64,
        mut on_expire: impl FnMut(),
    ) -> Result<(), InsertError> {
        let hash = key.hash(self.seed);
        let _serialised = self.insert.lock();
        let mut free = None;
        for slot in self.probes(hash) {
            let tag = slot.tag.load(Ordering::Acquire);
            if tag == EMPTY {
                free = free.or(Some(slot));
                break;
            }
            if tag == REMOVED {
                free = free.or(Some(slot));
                continue;
            }
            let mut guard = slot.entry.lock();
            match guard.as_ref() {
                Some(e) if e.expired(now_ms, idle_ms) => {
                    self.remove(slot, &mut guard);
                    on_expire();
                    free = free.or(Some(slot));
                }
                Some(e) if e.key == *key => return Err(InsertError::Exists),
                _ => {}
            }
        }
        let slot = free.ok_or(InsertError::Full)?;
        if self.live.load(Ordering::Relaxed) >= self.max {
            return Err(InsertError::Full);
        }
        let mut guard = slot.entry.lock();
        *guard = Some(Entry {
            key: *key,
            flow,
            last_ms: now_ms,
            guest_ms: now_ms,
            early_acks: 0,
            acks_dropped: 0,
            acks_rewritten: 0,
            busy: false,
            resends: 0,
            guest_mac,
            held: HeldSkbs::new(),
            parked: HeldSkbs::new(),
            held_bytes: 0,
        });
        self.live.fetch_add(1, Ordering::Relaxed);
        // Release: a lookup that reads the tag sees the entry (it locks
        // the slot before reading it anyway).
        slot.tag.store(hash, Ordering::Release);
        Ok(())
    }

    /// The live flows from slot `start` on, each under its lock, until `f`
    /// returns false; returns the slot to resume at.
    pub(crate) fn for_each_from(
        &self,
        start: usize,
        now_ms: u64,
        idle_ms: u64,
        mut f: impl FnMut(&mut Entry) -> bool,
    ) -> Option<usize> {
        for (i, slot) in self.slots.iter().enumerate().skip(start) {
            let slot = slot.get_ref();
            if slot.tag.load(Ordering::Acquire) & 1 == 0 {
                continue;
            }
            let mut guard = slot.entry.lock();
            if let Some(e) = guard.as_mut().filter(|e| !e.expired(now_ms, idle_ms)) {
                if !self.changing(e, &mut f) {
                    return Some(i);
                }
            }
        }
        None
    }
}
