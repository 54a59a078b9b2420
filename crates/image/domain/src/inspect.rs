//! Disk format inspection while data streams in: which format the bytes really are, their
//! virtual size, and the safety checks Glance's format inspector makes (a qcow2 must not
//! point at a backing file or an external data file; a VMDK must be a single sparse extent).
//! Only the head of the stream is kept.

use common_error::{Error, Result};

/// Bytes of the stream's head kept for inspection (an ISO's descriptor is at 32 KiB).
const HEAD_MAX: usize = 64 * 1024;
const QCOW2_MAGIC: &[u8] = b"QFI\xfb";
const VMDK_MAGIC: &[u8] = b"KDMV";
const ISO_PVD: usize = 0x8000;
/// Formats whose header we read; other claimed formats are accepted if the data does not
/// look like one of these.
const INSPECTED: &[&str] = &["raw", "qcow2", "vmdk", "iso"];
/// VMDK create types Glance allows (`vmdk_allowed_types`).
const VMDK_ALLOWED: &[&str] = &["streamOptimized", "monolithicSparse"];

/// Collects the head of a stream.
#[derive(Debug, Default)]
pub struct Inspector {
    head: Vec<u8>,
}

/// What the bytes turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    /// `qcow2`, `vmdk`, `iso` or `raw`.
    pub format: &'static str,
    /// The format's own virtual size (raw: the data size).
    pub virtual_size: Option<i64>,
    /// Why the data fails the safety checks, if it does.
    pub unsafe_reason: Option<String>,
}

fn be64(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_be_bytes)
}

fn le64(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_le_bytes)
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_le_bytes)
}

fn le16(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at + 2)
        .and_then(|s| s.try_into().ok())
        .map(u16::from_le_bytes)
}

fn to_i64(v: u64) -> Option<i64> {
    i64::try_from(v).ok()
}

impl Inspector {
    pub fn feed(&mut self, chunk: &[u8]) {
        if self.head.len() < HEAD_MAX {
            let take = (HEAD_MAX - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
        }
    }

    /// The verdict once all `total` bytes went through.
    pub fn finish(&self, total: u64) -> Inspection {
        let h = &self.head;
        if h.starts_with(QCOW2_MAGIC) {
            return qcow2(h);
        }
        if h.starts_with(VMDK_MAGIC) {
            return vmdk(h);
        }
        if h.get(ISO_PVD + 1..ISO_PVD + 6) == Some(b"CD001") {
            let blocks = le32(h, ISO_PVD + 80).unwrap_or(0) as u64;
            let block_size = le16(h, ISO_PVD + 128).unwrap_or(0) as u64;
            let vs = blocks
                .checked_mul(block_size)
                .filter(|v| *v > 0)
                .unwrap_or(total);
            return Inspection {
                format: "iso",
                virtual_size: to_i64(vs),
                unsafe_reason: None,
            };
        }
        Inspection {
            format: "raw",
            virtual_size: to_i64(total),
            unsafe_reason: None,
        }
    }
}

fn qcow2(h: &[u8]) -> Inspection {
    let version = h
        .get(4..8)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_be_bytes)
        .unwrap_or(0);
    let backing = be64(h, 8).unwrap_or(0);
    let size = be64(h, 24);
    let mut unsafe_reason = None;
    if !(2..=3).contains(&version) {
        unsafe_reason = Some(format!("qcow2 version {version} is not supported"));
    } else if backing != 0 {
        unsafe_reason = Some("qcow2 image has a backing file".to_string());
    } else if version == 3 && be64(h, 72).unwrap_or(0) & 0b100 != 0 {
        unsafe_reason = Some("qcow2 image has an external data file".to_string());
    }
    Inspection {
        format: "qcow2",
        virtual_size: size.and_then(to_i64),
        unsafe_reason,
    }
}

fn vmdk(h: &[u8]) -> Inspection {
    let capacity = le64(h, 12)
        .and_then(|sectors| sectors.checked_mul(512))
        .and_then(to_i64);
    let desc_off = le64(h, 28).unwrap_or(0).saturating_mul(512) as usize;
    let desc_len = le64(h, 36).unwrap_or(0).saturating_mul(512) as usize;
    let desc = h.get(desc_off..desc_off.saturating_add(desc_len).min(h.len()));
    let unsafe_reason = match desc.filter(|d| desc_off > 0 && !d.is_empty()) {
        None => Some("vmdk descriptor not found".to_string()),
        Some(d) => {
            let text = String::from_utf8_lossy(d);
            let create_type = text
                .lines()
                .find_map(|l| l.trim().strip_prefix("createType="))
                .map(|v| v.trim().trim_matches('"').to_string());
            let extents = text
                .lines()
                .filter(|l| {
                    let l = l.trim_start();
                    l.starts_with("RW ") || l.starts_with("RDONLY ") || l.starts_with("NOACCESS ")
                })
                .count();
            match create_type {
                Some(t) if VMDK_ALLOWED.contains(&t.as_str()) && extents <= 1 => None,
                Some(t) if !VMDK_ALLOWED.contains(&t.as_str()) => {
                    Some(format!("vmdk create type {t} is not allowed"))
                }
                Some(_) => Some("vmdk has more than one extent".to_string()),
                None => Some("vmdk descriptor has no createType".to_string()),
            }
        }
    };
    Inspection {
        format: "vmdk",
        virtual_size: capacity,
        unsafe_reason,
    }
}

/// Glance's upload verdict: the virtual size to record, or why the data is refused (an
/// `InvalidImageData` message, answered 415).
pub fn verdict(
    disk_format: &str,
    container_format: &str,
    ins: &Inspection,
    size: i64,
) -> std::result::Result<Option<i64>, String> {
    if container_format != "bare" {
        return Ok(None);
    }
    if ins.unsafe_reason.is_some() {
        return Err("Image failed safety checks".into());
    }
    if ins.format == disk_format {
        return Ok(ins.virtual_size);
    }
    if disk_format == "raw" {
        // Data claimed raw is served raw, whatever it looks like.
        return Ok(Some(size));
    }
    if ins.format == "raw" && !INSPECTED.contains(&disk_format) {
        return Ok(None);
    }
    Err(format!(
        "Image disk_format {disk_format} does not match stream data {}",
        ins.format
    ))
}

/// Checks that both formats are set before data may be saved (Glance's 400).
pub fn require_formats(disk_format: Option<&str>, container_format: Option<&str>) -> Result<()> {
    let missing: Vec<&str> = [
        ("disk_format", disk_format),
        ("container_format", container_format),
    ]
    .into_iter()
    .filter(|(_, v)| v.is_none_or(str::is_empty))
    .map(|(k, _)| k)
    .collect();
    match missing.len() {
        0 => Ok(()),
        1 => Err(Error::bad_request(format!(
            "Property {} must be set prior to saving data.",
            missing[0]
        ))),
        _ => Err(Error::bad_request(format!(
            "Properties {} must be set prior to saving data.",
            missing.join(", ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qcow2_header(size: u64, backing: u64, version: u32) -> Vec<u8> {
        let mut h = vec![0u8; 512];
        h[..4].copy_from_slice(QCOW2_MAGIC);
        h[4..8].copy_from_slice(&version.to_be_bytes());
        h[8..16].copy_from_slice(&backing.to_be_bytes());
        h[24..32].copy_from_slice(&size.to_be_bytes());
        h
    }

    fn inspect(bytes: &[u8]) -> Inspection {
        let mut i = Inspector::default();
        for c in bytes.chunks(7) {
            i.feed(c);
        }
        i.finish(bytes.len() as u64)
    }

    #[test]
    fn qcow2_virtual_size_and_backing_file() {
        let ins = inspect(&qcow2_header(64 << 20, 0, 3));
        assert_eq!(
            ins,
            Inspection {
                format: "qcow2",
                virtual_size: Some(64 << 20),
                unsafe_reason: None
            }
        );
        assert_eq!(verdict("qcow2", "bare", &ins, 512), Ok(Some(64 << 20)));
        assert_eq!(verdict("raw", "bare", &ins, 512), Ok(Some(512)));
        let bad = inspect(&qcow2_header(1 << 20, 0x200, 2));
        assert!(bad.unsafe_reason.is_some());
        assert_eq!(
            verdict("qcow2", "bare", &bad, 512),
            Err("Image failed safety checks".into())
        );
    }

    #[test]
    fn mismatches_are_refused_and_uninspected_formats_pass() {
        let raw = inspect(b"just some bytes");
        assert_eq!(raw.format, "raw");
        assert_eq!(verdict("raw", "bare", &raw, 15), Ok(Some(15)));
        assert_eq!(
            verdict("qcow2", "bare", &raw, 15),
            Err("Image disk_format qcow2 does not match stream data raw".into())
        );
        assert_eq!(verdict("ami", "bare", &raw, 15), Ok(None));
        assert_eq!(verdict("qcow2", "ovf", &raw, 15), Ok(None));
    }

    #[test]
    fn iso_and_vmdk_headers() {
        let mut iso = vec![0u8; 40 * 1024];
        iso[ISO_PVD + 1..ISO_PVD + 6].copy_from_slice(b"CD001");
        iso[ISO_PVD + 80..ISO_PVD + 84].copy_from_slice(&100u32.to_le_bytes());
        iso[ISO_PVD + 128..ISO_PVD + 130].copy_from_slice(&2048u16.to_le_bytes());
        assert_eq!(inspect(&iso).virtual_size, Some(204800));
        let mut v = vec![0u8; 2048];
        v[..4].copy_from_slice(VMDK_MAGIC);
        v[12..20].copy_from_slice(&2048u64.to_le_bytes());
        v[28..36].copy_from_slice(&1u64.to_le_bytes());
        v[36..44].copy_from_slice(&1u64.to_le_bytes());
        let d = b"createType=\"monolithicSparse\"\nRW 2048 SPARSE \"x.vmdk\"\n";
        v[512..512 + d.len()].copy_from_slice(d);
        let ins = inspect(&v);
        assert_eq!(
            (ins.format, ins.virtual_size, ins.unsafe_reason.clone()),
            ("vmdk", Some(1 << 20), None)
        );
        let d = b"createType=\"vmfs\"\n";
        v[512..512 + d.len()].copy_from_slice(d);
        assert!(inspect(&v).unsafe_reason.is_some());
    }

    #[test]
    fn formats_must_be_set() {
        assert!(require_formats(Some("raw"), Some("bare")).is_ok());
        assert_eq!(
            require_formats(None, None).unwrap_err().to_string(),
            "Properties disk_format, container_format must be set prior to saving data."
        );
    }
}
