//! The block storage service's vocabulary: volumes, volume types, snapshots, attachments,
//! backups and transfers as the domain and API layers share them, Cinder's status values, and
//! the volume driver contract ([`driver`]).

pub mod driver;
