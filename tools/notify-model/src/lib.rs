// SPDX-License-Identifier: GPL-2.0

//! The producer/consumer notification model of Rizzo, Garzarella, Lettieri
//! and Maffione (ANCS'16), a discrete-event simulator of the same system, the
//! control scheme of their section 4.1, and the EVI/EoC engine of vassist run
//! against traffic shapes. Documentation/notify-model.md has the derivations.

pub mod evi_sim;
pub mod model;
pub mod plot;
pub mod sim;

/// Parameters of the system; times in microseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Params {
    /// Queue slots.
    pub l: u32,
    /// P notifies a sleeping C when the queue holds k_p messages.
    pub k_p: u32,
    /// C notifies a sleeping P when k_c slots are free.
    pub k_c: u32,
    pub w_p: f64,
    pub w_c: f64,
    pub n_p: f64,
    pub n_c: f64,
    pub s_p: f64,
    pub s_c: f64,
}

impl Params {
    /// The same system with the roles of producer and consumer swapped: a
    /// free slot is to P what a message is to C.
    pub fn swapped(&self) -> Params {
        Params {
            l: self.l,
            k_p: self.k_c,
            k_c: self.k_p,
            w_p: self.w_c,
            w_c: self.w_p,
            n_p: self.n_c,
            n_c: self.n_p,
            s_p: self.s_c,
            s_c: self.s_p,
        }
    }

    /// The validation set-up of the paper's Figure 4 (W_C = 1.1 us, measured
    /// N and S), with our choice of L = 8, k_P = 1, k_C = 4.
    pub fn figure4(w_p: f64) -> Params {
        Params {
            l: 8,
            k_p: 1,
            k_c: 4,
            w_p,
            w_c: 1.1,
            n_p: 2.4,
            n_c: 0.2,
            s_p: 3.9,
            s_c: 0.2,
        }
    }
}
