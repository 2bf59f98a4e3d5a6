// SPDX-License-Identifier: GPL-2.0

//! The `vassist` family as its netlink spec describes it: the tables are
//! generated from Documentation/netlink/specs/vassist.yaml at build time
//! (`build.rs`); this file says what they mean.

/// An enum or flags definition.
#[derive(Debug)]
pub struct Enum {
    /// Flags: entry `i` is bit `start + i`; an enum: value `start + i`.
    pub flags: bool,
    pub start: i64,
    pub entries: &'static [&'static str],
}

impl Enum {
    /// The name of `value` (an enum).
    pub fn name(&self, value: u64) -> Option<&'static str> {
        let i = usize::try_from(i64::try_from(value).ok()? - self.start).ok()?;
        self.entries.get(i).copied()
    }

    /// The names of the bits set in `value` (flags).
    pub fn names(&self, value: u64) -> Vec<&'static str> {
        (0..self.entries.len())
            .filter(|&i| value >> (self.start as usize + i) & 1 != 0)
            .map(|i| self.entries[i])
            .collect()
    }

    /// The value of the entry `name` (an enum).
    pub fn value(&self, name: &str) -> Option<u32> {
        let i = self.entries.iter().position(|e| *e == name)?;
        u32::try_from(self.start + i as i64).ok()
    }

    /// The bit of the flag `name`.
    pub fn bit(&self, name: &str) -> Option<u32> {
        let i = self.entries.iter().position(|e| *e == name)?;
        Some(1 << (self.start as usize + i))
    }
}

/// An attribute's payload type.
#[derive(Debug)]
pub enum Type {
    U16,
    U32,
    Uint,
    Flag,
    String,
    Binary,
    Nest(&'static AttrSet),
}

/// An attribute of a set.
#[derive(Debug)]
pub struct Attr {
    pub name: &'static str,
    pub value: u16,
    pub ty: Type,
    /// The enum (or flags) its value is.
    pub enumeration: Option<&'static Enum>,
}

/// An attribute set.
#[derive(Debug)]
pub struct AttrSet {
    pub name: &'static str,
    pub attrs: &'static [Attr],
}

impl AttrSet {
    /// The attribute called `name`; the tool names only attributes of the
    /// spec, so a missing one is a bug.
    pub fn attr(&self, name: &str) -> &Attr {
        self.attrs
            .iter()
            .find(|a| a.name == name)
            .unwrap_or_else(|| panic!("attribute set {} has no {name}", self.name))
    }

    pub fn by_value(&self, value: u16) -> Option<&Attr> {
        self.attrs.iter().find(|a| a.value == value)
    }
}

include!(concat!(env!("OUT_DIR"), "/spec.rs"));
