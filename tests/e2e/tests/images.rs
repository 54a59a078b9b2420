//! Images through the real CLI: `image create --file` (a fresh qcow2 and the tiny guest image),
//! `image list` filters, `image show`, `image set/unset`, `image save`, sharing with another
//! project (`image add project`, `image set --accept`), `--deactivate`/`--activate`,
//! `--protected`, `image delete`; and `ferrostack up --seed-image tiny=PATH`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use e2e_tests::{field, rows_where, strs, text, Cloud};
use md5::Digest as _;
use serde_json::Value;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn sha256(path: &Path) -> String {
    hex(&sha2::Sha256::digest(read(path)))
}

/// `qemu-img create -f qcow2 <dir>/<name> <size>`: a small but real qcow2.
fn qcow2(dir: &Path, name: &str, size: &str) -> PathBuf {
    let path = dir.join(name);
    let out = Command::new("qemu-img")
        .args(["create", "-f", "qcow2"])
        .arg(&path)
        .arg(size)
        .output()
        .unwrap_or_else(|e| panic!("run qemu-img (install qemu-utils): {e}"));
    assert!(
        out.status.success(),
        "qemu-img: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

/// A qcow2's virtual size, from its header (big-endian u64 at offset 24).
fn qcow2_virtual_size(path: &Path) -> u64 {
    let b = read(path);
    assert_eq!(&b[..4], b"QFI\xfb", "{} is not a qcow2", path.display());
    u64::from_be_bytes(b[24..32].try_into().unwrap())
}

/// `image create --file F --disk-format qcow2 --container-format bare EXTRA.. NAME`.
fn create(c: &Cloud, file: &Path, name: &str, extra: &[&str]) -> Value {
    let file = file.to_string_lossy();
    let mut args = vec![
        "image",
        "create",
        "--file",
        &file,
        "--disk-format",
        "qcow2",
        "--container-format",
        "bare",
    ];
    args.extend(extra);
    args.push(name);
    c.osc_json(&args)
}

fn names(list: &Value) -> Vec<String> {
    let mut v: Vec<String> = list
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| text(r, "Name"))
        .collect();
    v.sort();
    v
}

/// A new project with a user holding `member` on it; returns the user's auth flags.
fn project_member(c: &Cloud, project: &str, user: &str) -> Vec<String> {
    c.osc_json(&["project", "create", "--domain", "default", project]);
    c.osc_json(&[
        "user",
        "create",
        "--domain",
        "default",
        "--password",
        "pw",
        user,
    ]);
    c.osc(&[
        "role",
        "add",
        "--project",
        project,
        "--user",
        user,
        "member",
    ]);
    c.password_auth(user, "pw", Some(project))
}

/// `image save` as `auth` into `out`; asserts success.
fn save_as(c: &Cloud, auth: &[String], image: &str, out: &Path) {
    let o = c.osc_with_output(
        &strs(auth),
        &["image", "save", "--file", &out.to_string_lossy(), image],
    );
    assert!(
        o.status.success(),
        "image save: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn create_show_and_save_what_was_uploaded() {
    let c = Cloud::start();
    let file = qcow2(c.dir(), "small.qcow2", "32M");
    let bytes = read(&file);
    let a = create(
        &c,
        &file,
        "img-a",
        &["--property", "os_distro=alpha", "--tag", "t-a"],
    );
    let id = text(&a, "id");
    assert_eq!(text(&a, "status"), "active", "{a:#}");
    assert_eq!(text(&a, "disk_format"), "qcow2");
    assert_eq!(text(&a, "container_format"), "bare");
    assert_eq!(field(&a, "size"), bytes.len() as u64);
    assert_eq!(field(&a, "virtual_size"), 32u64 << 20);
    assert_eq!(a["tags"], serde_json::json!(["t-a"]));

    // What a user checks after an upload: the hashes of what they sent, the sizes, the format.
    let s = c.osc_json(&["image", "show", "img-a"]);
    assert_eq!(text(&s, "id"), id);
    assert_eq!(
        text(&s, "checksum"),
        hex(&md5::Md5::digest(&bytes)),
        "{s:#}"
    );
    assert_eq!(s["properties"]["os_hash_algo"], "sha512", "{s:#}");
    assert_eq!(
        s["properties"]["os_hash_value"],
        hex(&sha2::Sha512::digest(&bytes)).as_str()
    );
    assert_eq!(s["properties"]["os_distro"], "alpha");
    assert_eq!(field(&s, "size"), bytes.len() as u64);
    assert_eq!(field(&s, "virtual_size"), 32u64 << 20);
    assert_eq!(text(&s, "disk_format"), "qcow2");
    assert_eq!(text(&s, "visibility"), "shared");
    assert_eq!(
        text(&s, "owner"),
        text(&c.osc_json(&["project", "show", "admin"]), "id")
    );

    // The bytes that come back are the bytes that went in.
    let out = c.dir().join("saved.qcow2");
    c.osc(&["image", "save", "--file", &out.to_string_lossy(), "img-a"]);
    assert_eq!(sha256(&out), sha256(&file));
}

#[test]
fn list_filters() {
    let c = Cloud::start();
    let a = qcow2(c.dir(), "a.qcow2", "32M");
    create(
        &c,
        &a,
        "img-a",
        &["--property", "os_distro=alpha", "--tag", "t-a"],
    );
    let b = qcow2(c.dir(), "b.qcow2", "16M");
    create(
        &c,
        &b,
        "img-b",
        &["--property", "os_distro=beta", "--tag", "t-b"],
    );
    // Without data an image stays queued. (Over raw HTTP: `openstack image create` without
    // `--file` uploads its stdin when that is not a terminal, as here.)
    let tok = c.token();
    let body =
        serde_json::json!({"name": "img-q", "disk_format": "qcow2", "container_format": "bare"});
    let r = c.http(
        "POST",
        "/image/v2/images",
        &[("X-Auth-Token", &tok)],
        Some(&body),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["status"], "queued", "{}", r.text);

    let list = |args: &[&str]| names(&c.osc_json(&[&["image", "list"], args].concat()));
    assert_eq!(list(&[]), ["img-a", "img-b", "img-q"]);
    assert_eq!(list(&["--property", "os_distro=alpha"]), ["img-a"]);
    assert_eq!(list(&["--tag", "t-b"]), ["img-b"]);
    assert!(list(&["--tag", "nope"]).is_empty());
    assert_eq!(list(&["--status", "active"]), ["img-a", "img-b"]);
    assert_eq!(list(&["--status", "queued"]), ["img-q"]);
    assert_eq!(list(&["--name", "img-b"]), ["img-b"]);
}

#[test]
fn set_unset_then_delete() {
    let c = Cloud::start();
    let file = qcow2(c.dir(), "s.qcow2", "8M");
    let id = text(&create(&c, &file, "img-a", &["--tag", "t-a"]), "id");
    create(&c, &file, "img-b", &[]);

    c.osc(&[
        "image",
        "set",
        "--property",
        "k=v",
        "--tag",
        "t-new",
        "img-a",
    ]);
    let s = c.osc_json(&["image", "show", "img-a"]);
    assert_eq!(s["properties"]["k"], "v", "{s:#}");
    assert_eq!(s["tags"], serde_json::json!(["t-a", "t-new"]));
    assert_eq!(
        names(&c.osc_json(&["image", "list", "--property", "k=v"])),
        ["img-a"]
    );
    assert_eq!(
        names(&c.osc_json(&["image", "list", "--tag", "t-new"])),
        ["img-a"]
    );

    c.osc(&[
        "image",
        "unset",
        "--property",
        "k",
        "--tag",
        "t-new",
        "img-a",
    ]);
    let s = c.osc_json(&["image", "show", "img-a"]);
    assert!(s["properties"].get("k").is_none(), "{s:#}");
    assert_eq!(s["tags"], serde_json::json!(["t-a"]));
    assert!(names(&c.osc_json(&["image", "list", "--property", "k=v"])).is_empty());

    c.osc(&["image", "delete", "img-a"]);
    assert_eq!(names(&c.osc_json(&["image", "list"])), ["img-b"]);
    let err = c.osc_fails(&["image", "show", &id]);
    assert!(err.contains("No Image found"), "{err}");
}

#[test]
fn the_tiny_guest_image_uploads_and_downloads_intact() {
    let tiny =
        guest_image::ensure_image().unwrap_or_else(|e| panic!("build the guest image: {e:#}"));
    let c = Cloud::start();
    let img = create(&c, &tiny, "tiny", &["--min-disk", "1"]);
    assert_eq!(text(&img, "status"), "active", "{img:#}");
    let s = c.osc_json(&["image", "show", "tiny"]);
    let len = std::fs::metadata(&tiny)
        .map(|m| m.len())
        .unwrap_or_default();
    assert_eq!(field(&s, "size"), len, "{s:#}");
    assert_eq!(
        field(&s, "virtual_size"),
        qcow2_virtual_size(&tiny),
        "{s:#}"
    );
    assert_eq!(field(&s, "min_disk"), 1);
    assert_eq!(s["properties"]["os_hash_algo"], "sha512");
    let out = c.dir().join("tiny-saved.qcow2");
    c.osc(&["image", "save", "--file", &out.to_string_lossy(), "tiny"]);
    assert_eq!(sha256(&out), sha256(&tiny));
}

#[test]
fn sharing_with_another_project() {
    let c = Cloud::start();
    let file = qcow2(c.dir(), "shared.qcow2", "8M");
    let id = text(&create(&c, &file, "img-s", &[]), "id");
    c.osc(&["image", "set", "--shared", "img-s"]);
    assert_eq!(
        text(&c.osc_json(&["image", "show", "img-s"]), "visibility"),
        "shared"
    );

    let member = project_member(&c, "p-member", "u-member");
    let outsider = project_member(&c, "p-out", "u-out");
    assert!(c
        .osc_with_json(&strs(&member), &["image", "list"])
        .as_array()
        .is_some_and(|a| a.is_empty()));

    let m = c.osc_json(&["image", "add", "project", "img-s", "p-member"]);
    let pid = text(&c.osc_json(&["project", "show", "p-member"]), "id");
    assert_eq!(text(&m, "member_id"), pid, "{m:#}");
    assert_eq!(text(&m, "status"), "pending");
    // Pending: not listed for the member yet.
    assert!(names(&c.osc_with_json(&strs(&member), &["image", "list"])).is_empty());

    let o = c.osc_with_output(&strs(&member), &["image", "set", "--accept", &id]);
    assert!(
        o.status.success(),
        "image set --accept: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let members = c.osc_json(&["image", "member", "list", "img-s"]);
    assert_eq!(
        rows_where(&members, "Member ID", &pid).len(),
        1,
        "{members:#}"
    );
    assert_eq!(field(&members[0], "Status"), "accepted", "{members:#}");
    assert_eq!(
        names(&c.osc_with_json(&strs(&member), &["image", "list"])),
        ["img-s"]
    );
    let out = c.dir().join("member-saved.qcow2");
    save_as(&c, &member, &id, &out);
    assert_eq!(sha256(&out), sha256(&file));

    // A project the image was not shared with neither sees nor downloads it.
    assert!(names(&c.osc_with_json(&strs(&outsider), &["image", "list"])).is_empty());
    let err = c.osc_with_fails(&strs(&outsider), &["image", "show", &id]);
    assert!(err.contains("No Image found"), "{err}");
}

#[test]
fn deactivated_image_refuses_download_to_non_admins() {
    let c = Cloud::start();
    let file = qcow2(c.dir(), "d.qcow2", "8M");
    let user = project_member(&c, "p-own", "u-own");
    let id = text(
        &c.osc_with_json(
            &strs(&user),
            &[
                "image",
                "create",
                "--file",
                &file.to_string_lossy(),
                "--disk-format",
                "qcow2",
                "--container-format",
                "bare",
                "img-d",
            ],
        ),
        "id",
    );
    c.osc(&["image", "set", "--deactivate", &id]);
    assert_eq!(
        text(&c.osc_json(&["image", "show", &id]), "status"),
        "deactivated"
    );
    assert_eq!(
        names(&c.osc_with_json(&strs(&user), &["image", "list"])),
        ["img-d"]
    );

    // The owner (not an admin) may not download it: Glance's 403.
    let out = c.dir().join("while-deactivated.qcow2");
    let o = c.osc_with_output(
        &strs(&user),
        &["image", "save", "--file", &out.to_string_lossy(), &id],
    );
    assert!(
        !o.status.success(),
        "image save of a deactivated image succeeded"
    );
    if out.exists() {
        assert_ne!(
            sha256(&out),
            sha256(&file),
            "no image data while deactivated"
        );
    }
    let tok = text(&c.osc_with_json(&strs(&user), &["token", "issue"]), "id");
    let r = c.get_with_token(&format!("/image/v2/images/{id}/file"), &tok);
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(r.text.contains("deactivated"), "{}", r.text);
    // An admin still may.
    let admin_out = c.dir().join("admin-saved.qcow2");
    c.osc(&["image", "save", "--file", &admin_out.to_string_lossy(), &id]);
    assert_eq!(sha256(&admin_out), sha256(&file));

    c.osc(&["image", "set", "--activate", &id]);
    assert_eq!(
        text(&c.osc_json(&["image", "show", &id]), "status"),
        "active"
    );
    let out = c.dir().join("after-activate.qcow2");
    save_as(&c, &user, &id, &out);
    assert_eq!(sha256(&out), sha256(&file));
}

#[test]
fn protected_image_cannot_be_deleted() {
    let c = Cloud::start();
    let file = qcow2(c.dir(), "p.qcow2", "8M");
    let img = create(&c, &file, "img-p", &["--protected"]);
    assert_eq!(field(&img, "protected"), true, "{img:#}");
    let err = c.osc_fails(&["image", "delete", "img-p"]);
    assert!(err.contains("protected"), "{err}");
    assert_eq!(names(&c.osc_json(&["image", "list"])), ["img-p"]);
    assert_eq!(
        text(&c.osc_json(&["image", "show", "img-p"]), "status"),
        "active"
    );

    c.osc(&["image", "set", "--unprotected", "img-p"]);
    c.osc(&["image", "delete", "img-p"]);
    assert!(names(&c.osc_json(&["image", "list"])).is_empty());
}

#[test]
fn up_seeds_the_tiny_image_once() {
    let tiny =
        guest_image::ensure_image().unwrap_or_else(|e| panic!("build the guest image: {e:#}"));
    let seed = format!("tiny={}", tiny.display());
    let mut c = Cloud::start_with_args(&["--seed-image", &seed]);
    let s = c.osc_json(&["image", "show", "tiny"]);
    let id = text(&s, "id");
    assert_eq!(text(&s, "visibility"), "public", "{s:#}");
    assert_eq!(text(&s, "status"), "active");
    assert_eq!(text(&s, "disk_format"), "qcow2");
    assert_eq!(text(&s, "container_format"), "bare");
    assert_eq!(
        text(&s, "owner"),
        text(&c.osc_json(&["project", "show", "admin"]), "id")
    );
    assert_eq!(field(&s, "virtual_size"), qcow2_virtual_size(&tiny));
    let out = c.dir().join("tiny-seeded.qcow2");
    c.osc(&["image", "save", "--file", &out.to_string_lossy(), "tiny"]);
    assert_eq!(sha256(&out), sha256(&tiny));

    // Public: any project's user sees it and can download it.
    let user = project_member(&c, "p-any", "u-any");
    assert_eq!(
        names(&c.osc_with_json(&strs(&user), &["image", "list"])),
        ["tiny"]
    );
    let out = c.dir().join("tiny-user.qcow2");
    save_as(&c, &user, &id, &out);
    assert_eq!(sha256(&out), sha256(&tiny));

    // A restart with the same flag keeps the one image.
    let (status, _) = c.stop(Duration::from_secs(10));
    assert!(status.success(), "{status}");
    c.start_again();
    assert!(
        c.server().log_text().contains("seed image already present"),
        "{}",
        c.server().log_text()
    );
    let list = c.osc_json(&["image", "list", "--name", "tiny"]);
    assert_eq!(rows_where(&list, "Name", "tiny").len(), 1, "{list:#}");
    assert_eq!(text(&list[0], "ID"), id);
}
