// SPDX-License-Identifier: GPL-2.0

//! The `vassist` family over neli: requests and dumps with their extended
//! acks, notifications, and messages read and written by the spec's
//! attribute names.

use crate::spec::{self, AttrSet, Type};
use neli::{
    consts::{
        genl::{CtrlAttr, CtrlAttrMcastGrp, CtrlCmd, Index},
        nl::{GenlId, NlType, NlmF, Nlmsg, NlmsgerrAttr},
        socket::NlFamily,
    },
    err::Nlmsgerr,
    genl::{AttrTypeBuilder, Genlmsghdr, GenlmsghdrBuilder, Nlattr, NlattrBuilder, NoUserHeader},
    nl::{NlPayload, Nlmsghdr, NlmsghdrBuilder},
    socket::synchronous::NlSocketHandle,
    types::{Buffer, GenlBuffer},
    utils::Groups,
    FromBytesWithInput, Size, ToBytes,
};
use serde_json::{json, Map, Value};
use std::cell::Cell;
use std::collections::VecDeque;
use std::fmt::{Debug, Display};

type Genl = Genlmsghdr<u8, u16, NoUserHeader>;

/// Attributes of a set, to send.
pub struct Attrs {
    set: &'static AttrSet,
    attrs: Vec<Nlattr<u16, Buffer>>,
}

fn attr(value: u16, payload: Vec<u8>) -> Nlattr<u16, Buffer> {
    NlattrBuilder::default()
        .nla_type(
            AttrTypeBuilder::default()
                .nla_type(value)
                .build()
                .expect("type"),
        )
        .nla_payload(payload)
        .build()
        .expect("attribute")
}

impl Attrs {
    pub fn new(set: &'static AttrSet) -> Attrs {
        Attrs {
            set,
            attrs: Vec::new(),
        }
    }

    pub fn u32(&mut self, name: &str, v: u32) {
        let a = self.set.attr(name);
        self.attrs.push(attr(a.value, v.to_ne_bytes().to_vec()));
    }

    pub fn u16(&mut self, name: &str, v: u16) {
        let a = self.set.attr(name);
        self.attrs.push(attr(a.value, v.to_ne_bytes().to_vec()));
    }

    pub fn flag(&mut self, name: &str) {
        let a = self.set.attr(name);
        self.attrs.push(attr(a.value, Vec::new()));
    }

    pub fn bytes(&mut self, name: &str, b: &[u8]) {
        let a = self.set.attr(name);
        self.attrs.push(attr(a.value, b.to_vec()));
    }

    /// A NUL-terminated string.
    pub fn str(&mut self, name: &str, s: &str) {
        let a = self.set.attr(name);
        let mut b = s.as_bytes().to_vec();
        b.push(0);
        self.attrs.push(attr(a.value, b));
    }

    pub fn nest(&mut self, name: &str, inner: Attrs) {
        let a = self.set.attr(name);
        let nest = inner
            .attrs
            .iter()
            .try_fold(attr(a.value, Vec::new()), |n, i| n.nest(i))
            .expect("nested attribute");
        self.attrs.push(nest);
    }
}

/// A message of the family.
pub struct Msg(Genl);

impl Msg {
    pub fn cmd(&self) -> u8 {
        *self.0.cmd()
    }

    /// The message as JSON keyed by the spec's names; `addr` shows the
    /// binary attributes (addresses, in this family).
    pub fn json(&self, set: &'static AttrSet, addr: fn(&[u8]) -> Value) -> Value {
        attrs_json(self.0.attrs().iter(), set, addr)
    }
}

fn uint(b: &[u8]) -> Option<u64> {
    match b.len() {
        2 => Some(u64::from(u16::from_ne_bytes(b.try_into().ok()?))),
        4 => Some(u64::from(u32::from_ne_bytes(b.try_into().ok()?))),
        8 => Some(u64::from_ne_bytes(b.try_into().ok()?)),
        _ => None,
    }
}

fn attrs_json<'a>(
    attrs: impl Iterator<Item = &'a Nlattr<u16, Buffer>>,
    set: &'static AttrSet,
    addr: fn(&[u8]) -> Value,
) -> Value {
    let mut o = Map::new();
    for a in attrs {
        let Some(def) = set.by_value(*a.nla_type().nla_type()) else {
            continue;
        };
        let b = a.nla_payload().as_ref();
        let v = match (&def.ty, def.enumeration) {
            (Type::Flag, _) => json!(true),
            (Type::String, _) => json!(String::from_utf8_lossy(
                b.split(|&c| c == 0).next().unwrap_or(b)
            )),
            (Type::Binary, _) => addr(b),
            (Type::Nest(inner), _) => match a.get_attr_handle::<u16>() {
                Ok(h) => attrs_json(h.iter(), inner, addr),
                Err(_) => Value::Null,
            },
            (_, Some(e)) if e.flags => json!(uint(b).map(|v| e.names(v))),
            (_, Some(e)) => json!(uint(b).and_then(|v| e.name(v))),
            (Type::U16 | Type::U32 | Type::Uint, None) => json!(uint(b)),
        };
        o.insert(def.name.into(), v);
    }
    Value::Object(o)
}

/// A netlink error as the user should read it: the kernel's extended-ack
/// message and the errno.
fn error_text<M>(e: &Nlmsgerr<M>) -> String {
    let os = std::io::Error::from_raw_os_error(-e.error());
    let msg = e
        .ext_ack()
        .iter()
        .find(|a| *a.nla_type().nla_type() == NlmsgerrAttr::Msg)
        .map(|a| {
            let b = a.nla_payload().as_ref();
            String::from_utf8_lossy(b.split(|&c| c == 0).next().unwrap_or(b)).into_owned()
        });
    match msg {
        Some(m) => format!("{m} ({os})"),
        None => os.to_string(),
    }
}

fn text(e: impl Display) -> String {
    e.to_string()
}

/// A connection to the family. neli's socket handle, not its router: the
/// router drops the extended ack when it converts an error to the
/// request's types.
pub struct Ctl {
    sock: NlSocketHandle,
    family: u16,
    seq: Cell<u32>,
}

/// How often a dump is tried again when the kernel says the ports changed
/// while it ran (NLM_F_DUMP_INTR).
const DUMP_TRIES: usize = 3;

impl Ctl {
    pub fn open() -> Result<Ctl, String> {
        let mut ctl = Ctl::connect()?;
        let (family, _) = ctl.resolve(spec::FAMILY).map_err(|_| {
            format!(
                "generic netlink family '{}' not found: is vassist.ko loaded?",
                spec::FAMILY
            )
        })?;
        ctl.family = family;
        Ok(ctl)
    }

    /// A generic netlink socket, no family resolved yet.
    fn connect() -> Result<Ctl, String> {
        let sock =
            NlSocketHandle::connect(NlFamily::Generic, None, Groups::empty()).map_err(text)?;
        sock.enable_ext_ack(true).map_err(text)?;
        sock.enable_strict_checking(true).map_err(text)?;
        Ok(Ctl {
            sock,
            family: 0,
            seq: Cell::new(0),
        })
    }

    fn send<T: NlType + Debug, P: Size + ToBytes + Debug>(
        &self,
        ty: T,
        flags: NlmF,
        payload: P,
    ) -> Result<u32, String> {
        let seq = self.seq.get().wrapping_add(1);
        self.seq.set(seq);
        let msg = NlmsghdrBuilder::default()
            .nl_type(ty)
            .nl_flags(flags | NlmF::REQUEST)
            .nl_seq(seq)
            .nl_payload(NlPayload::Payload(payload))
            .build()
            .map_err(text)?;
        self.sock.send(&msg).map_err(text)?;
        Ok(seq)
    }

    /// The replies to request `seq`, until its ack or the end of its dump;
    /// an error reply is the error.
    fn replies<T, P>(&self, seq: u32) -> Result<(Vec<Nlmsghdr<T, P>>, bool), String>
    where
        T: NlType + Debug,
        P: Size + FromBytesWithInput<Input = usize> + Debug,
    {
        let mut out = Vec::new();
        let mut interrupted = false;
        loop {
            let (msgs, _) = self.sock.recv::<T, P>().map_err(text)?;
            for m in msgs {
                let m = m.map_err(text)?;
                if *m.nl_seq() != seq {
                    continue;
                }
                interrupted |= m.nl_flags().contains(NlmF::DUMP_INTR);
                match m.nl_payload() {
                    NlPayload::Err(e) => return Err(error_text(e)),
                    NlPayload::Ack(_) | NlPayload::DumpExtAck(_) => return Ok((out, interrupted)),
                    NlPayload::Empty => {
                        // NLMSG_DONE without an extack ends a dump.
                        if u16::from(Nlmsg::Done) == (*m.nl_type()).into() {
                            return Ok((out, interrupted));
                        }
                    }
                    NlPayload::Payload(_) => out.push(m),
                }
            }
        }
    }

    /// Family `family`'s id and multicast groups (name, id), from the
    /// controller.
    fn resolve(&self, family: &str) -> Result<(u16, Vec<(String, u32)>), String> {
        let name = NlattrBuilder::default()
            .nla_type(
                AttrTypeBuilder::default()
                    .nla_type(CtrlAttr::FamilyName)
                    .build()
                    .map_err(text)?,
            )
            .nla_payload(family)
            .build()
            .map_err(text)?;
        let req = GenlmsghdrBuilder::<CtrlCmd, CtrlAttr, NoUserHeader>::default()
            .cmd(CtrlCmd::Getfamily)
            .version(2)
            .attrs(std::iter::once(name).collect::<GenlBuffer<_, _>>())
            .build()
            .map_err(text)?;
        let seq = self.send(GenlId::Ctrl, NlmF::ACK, req)?;
        let (replies, _) = self.replies::<GenlId, Genlmsghdr<CtrlCmd, CtrlAttr>>(seq)?;
        let p = replies
            .first()
            .and_then(|r| r.get_payload())
            .ok_or("no reply")?;
        let attrs = p.attrs().get_attr_handle();
        let id = attrs
            .get_attr_payload_as::<u16>(CtrlAttr::FamilyId)
            .map_err(text)?;
        let mut groups = Vec::new();
        if let Ok(g) = attrs.get_nested_attributes::<Index>(CtrlAttr::McastGroups) {
            for item in g.iter() {
                let Ok(grp) = item.get_attr_handle::<CtrlAttrMcastGrp>() else {
                    continue;
                };
                if let (Ok(n), Ok(i)) = (
                    grp.get_attr_payload_as_with_len::<String>(CtrlAttrMcastGrp::Name),
                    grp.get_attr_payload_as::<u32>(CtrlAttrMcastGrp::Id),
                ) {
                    groups.push((n, i));
                }
            }
        }
        Ok((id, groups))
    }

    /// Sends command `cmd` (a dump when `dump`) with `attrs`; returns the
    /// replies. A dump the kernel marks interrupted is run again.
    pub fn call(&self, cmd: u8, dump: bool, attrs: Attrs) -> Result<Vec<Msg>, String> {
        let flags = if dump { NlmF::DUMP } else { NlmF::ACK };
        for attempt in 1..=DUMP_TRIES {
            let genl = GenlmsghdrBuilder::<u8, u16, NoUserHeader>::default()
                .cmd(cmd)
                .version(spec::VERSION)
                .attrs(attrs.attrs.iter().cloned().collect::<GenlBuffer<_, _>>())
                .build()
                .map_err(text)?;
            let seq = self.send(self.family, flags, genl)?;
            let (replies, interrupted) = self.replies::<u16, Genl>(seq)?;
            let replies = replies
                .into_iter()
                .filter_map(|r| r.get_payload().cloned().map(Msg))
                .collect();
            if !interrupted {
                return Ok(replies);
            }
            if attempt == DUMP_TRIES {
                eprintln!("vassistctl: the dump was interrupted by changes {DUMP_TRIES} times; showing the last");
                return Ok(replies);
            }
        }
        unreachable!("the last try returns")
    }

    /// Joins multicast group `group` of the family `family`'s `groups`.
    fn join(&self, groups: &[(String, u32)], group: &str) -> Result<(), String> {
        let id = groups
            .iter()
            .find(|(n, _)| n == group)
            .map(|g| g.1)
            .ok_or_else(|| format!("the family has no '{group}' group"))?;
        self.sock
            .add_mcast_membership(Groups::new_groups(&[id]))
            .map_err(text)
    }

    /// The notifications of multicast group `group`, as they come, also
    /// across vassist's unload and load: the controller's notifications
    /// say when the family goes and comes back (its group is joined
    /// again). Whether or not vassist is loaded when it starts.
    pub fn follow(group: &str) -> Result<Follow, String> {
        let mut ctl = Ctl::connect()?;
        let (ctrl, groups) = ctl.resolve(CTRL_FAMILY)?;
        ctl.join(&groups, CTRL_NOTIFY)?;
        // Joined first: a family that comes from now on is told there.
        let family = match ctl.resolve(spec::FAMILY) {
            Ok((id, groups)) => {
                ctl.join(&groups, group)?;
                Some(id)
            }
            Err(_) => None,
        };
        ctl.family = family.unwrap_or(0);
        // Said once subscribed, so a script knows no event is missed after.
        eprintln!("vassistctl: monitoring {group}");
        Ok(Follow {
            ctl,
            ctrl,
            group: group.to_string(),
            present: family.is_some(),
            queue: VecDeque::new(),
        })
    }
}

/// The generic netlink controller, and its group that tells of families
/// as they come and go.
const CTRL_FAMILY: &str = "nlctrl";
const CTRL_NOTIFY: &str = "notify";

/// What following the family's notifications shows.
pub enum Notice {
    /// One of its notifications.
    Msg(Msg),
    /// The family went (vassist unloaded), and all it held with it.
    Gone,
    /// The family came (vassist loaded); its group is followed again.
    Back,
}

/// The notifications [`Ctl::follow`] sees, as they come.
pub struct Follow {
    ctl: Ctl,
    /// The controller's family id.
    ctrl: u16,
    group: String,
    /// The family is there (`ctl.family` is its id).
    present: bool,
    queue: VecDeque<Result<Notice, String>>,
}

impl Follow {
    /// What a controller's message says of the family, if anything.
    fn controller(&mut self, m: &Genl) -> Option<Result<Notice, String>> {
        let attrs = m.attrs().get_attr_handle();
        let name = attrs
            .get_attr_payload_as_with_len::<String>(CtrlAttr::FamilyName.into())
            .ok()?;
        if name != spec::FAMILY {
            return None;
        }
        let cmd = CtrlCmd::from(*m.cmd());
        if cmd == CtrlCmd::Delfamily && self.present {
            self.present = false;
            return Some(Ok(Notice::Gone));
        }
        if cmd != CtrlCmd::Newfamily || self.present {
            return None;
        }
        let id = attrs
            .get_attr_payload_as::<u16>(CtrlAttr::FamilyId.into())
            .ok()?;
        let mut groups = Vec::new();
        if let Ok(g) = attrs.get_nested_attributes::<u16>(CtrlAttr::McastGroups.into()) {
            for item in g.iter() {
                let Ok(grp) = item.get_attr_handle::<u16>() else {
                    continue;
                };
                if let (Ok(n), Ok(i)) = (
                    grp.get_attr_payload_as_with_len::<String>(CtrlAttrMcastGrp::Name.into()),
                    grp.get_attr_payload_as::<u32>(CtrlAttrMcastGrp::Id.into()),
                ) {
                    groups.push((n, i));
                }
            }
        }
        self.ctl.family = id;
        self.present = true;
        Some(self.ctl.join(&groups, &self.group).map(|()| Notice::Back))
    }
}

impl Iterator for Follow {
    type Item = Result<Notice, String>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.queue.is_empty() {
            let msgs = match self.ctl.sock.recv::<u16, Genl>() {
                Ok((msgs, _)) => msgs.collect::<Vec<_>>(),
                Err(e) => return Some(Err(text(e))),
            };
            for m in msgs {
                let Ok(m) = m else { continue };
                let Some(p) = m.get_payload() else { continue };
                let notice = if *m.nl_type() == self.ctrl {
                    self.controller(p)
                } else if self.present && *m.nl_type() == self.ctl.family {
                    Some(Ok(Notice::Msg(Msg(p.clone()))))
                } else {
                    None
                };
                self.queue.extend(notice);
            }
        }
        self.queue.pop_front()
    }
}

/// A binary attribute as text: an IP address, or a MAC address.
pub fn binary_text(b: &[u8]) -> Value {
    match b.len() {
        4 => {
            json!(std::net::Ipv4Addr::from(<[u8; 4]>::try_from(b).unwrap_or_default()).to_string())
        }
        16 => {
            json!(std::net::Ipv6Addr::from(<[u8; 16]>::try_from(b).unwrap_or_default()).to_string())
        }
        6 => json!(b
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect::<Vec<_>>()
            .join(":")),
        _ => json!("?"),
    }
}
