//! Bandwidth limits towards the guest: a TBF qdisc at the root of the port's tap (traffic
//! the tap sends is traffic the guest receives). Limits from the guest are policed in the
//! port's bridge-family chain (`firewall`), because this kernel has no tc police action.

use common_error::Result;
use network_model::dataplane::Bandwidth;

use crate::cmd::{self, Ns};

/// Makes the root qdisc of `dev` a TBF of `limit`, or removes our TBF when there is none.
pub(crate) async fn ensure(ns: Ns<'_>, dev: &str, limit: Option<Bandwidth>) -> Result<()> {
    let out = cmd::run(ns, "tc", &["-j", "qdisc", "show", "dev", dev, "root"], None).await?;
    let qdiscs: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap_or_default();
    let root = qdiscs.iter().find(|q| q["root"].as_bool() == Some(true));
    let kind = root.and_then(|q| q["kind"].as_str()).unwrap_or("");
    match limit {
        None if kind == "tbf" => {
            cmd::run(ns, "tc", &["qdisc", "del", "dev", dev, "root"], None).await?;
        }
        None => {}
        Some(bw) => {
            let rate_bytes = bw.max_kbps.max(1) * 125;
            let burst_kbit = if bw.max_burst_kbps > 0 {
                bw.max_burst_kbps
            } else {
                bw.max_kbps * 8 / 10
            };
            let burst = (burst_kbit * 125).max(3000);
            let same = kind == "tbf"
                && root.is_some_and(|q| {
                    q["options"]["rate"].as_u64() == Some(rate_bytes)
                        && q["options"]["burst"].as_u64() == Some(burst)
                });
            if !same {
                let rate = format!("{}kbit", bw.max_kbps.max(1));
                let burst = burst.to_string();
                let args = [
                    "qdisc", "replace", "dev", dev, "root", "tbf", "rate", &rate, "burst", &burst,
                    "latency", "50ms",
                ];
                cmd::run(ns, "tc", &args, None).await?;
            }
        }
    }
    Ok(())
}
