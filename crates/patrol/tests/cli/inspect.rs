use std::io::Write;
use std::process::{Command, Stdio};

use crate::support::bin;

const VALID: &[&str] = &[
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaJQQJ99CKAAAAAAAAAAAAAAAAAZDOb85G",
    "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZJQQJ99CKAAAAAAAAAAAAAAAAAZDOAHBB",
    "7777777777777777777777777777777777777777777777777777JQQJ99CKAAAAAAAAAAAAAAAAAZDO5pRh",
    "SyntheticTestKeyForPatServiceDoNotUse0123456789abcdeJQQJ99BFACAAAAASNFZ4AAASAZDO10AW",
    "SyntheticTestKeyForPatServiceDoNotUse0123456789abcdeJQQJ99BFACAAAAASNFZ4AAASAZDO10AWOg==",
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAJQQJ99AAAAAAAAAAAAAAAAAAAZDO4PXM",
];

fn inspect(arg: &str) -> (i32, String) {
    let out = Command::new(bin())
        .args(["token", "inspect", arg])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn inspect_stdin(input: &str) -> (i32, String) {
    let mut child = Command::new(bin())
        .args(["token", "inspect", "-", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn accepts_every_valid_vector() {
    for v in VALID {
        let (code, out) = inspect(v);
        assert_eq!(code, 0, "{v}: {out}");
        assert!(out.contains("AZDO"), "{out}");
        assert!(!out.contains(v), "inspect must not echo the token");
    }
    let (_, out) = inspect(VALID[0]);
    assert!(out.contains("2026-11"), "{out}");
    assert!(out.contains("raw-base64"), "{out}");
    let (_, out) = inspect(VALID[3]);
    assert!(out.contains("2025-06") && out.contains("base62"), "{out}");
}

#[test]
fn rejects_one_character_corruptions_and_look_alikes() {
    let base = VALID[3];
    // A sample of positions across every field, each changed to another alphanumeric.
    for pos in [0, 10, 51, 52, 56, 57, 58, 59, 65, 73, 76, 79, 80, 83] {
        let mut b = base.as_bytes().to_vec();
        b[pos] = if b[pos] == b'x' { b'y' } else { b'x' };
        let t = String::from_utf8(b).unwrap();
        let (code, out) = inspect(&t);
        assert_eq!(code, 1, "flip at {pos} accepted: {out}");
    }
    let look_alikes = [
        base[..83].to_owned(),      // too short
        format!("{base}A"),         // too long
        base.replacen('S', "+", 1), // non-alphanumeric
        base.replacen('S', "-", 1),
        base.replace("AZDO", "AZD0"), // signature look-alike
        base.to_lowercase(),          // case-folded
        "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB".to_owned(), // someone else's format
        String::new(),
    ];
    for t in look_alikes {
        let (code, _) = inspect(&t);
        assert_eq!(code, 1, "look-alike accepted: {t}");
    }
}

#[test]
fn reads_from_stdin_ignoring_surrounding_whitespace() {
    let (code, out) = inspect_stdin(&format!("  {}\n", VALID[3]));
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["signature"], "AZDO");
    assert_eq!(v["minted"], "2025-06");
    let (code, out) = inspect_stdin("not a token\n");
    assert_eq!(code, 1);
    assert!(out.contains("\"valid\":false"));
}

#[test]
fn a_freshly_minted_token_passes_inspect() {
    // Mint through the library the server uses, check through the binary.
    let t = patrol_core::token::mint_default(chrono::Utc::now()).unwrap();
    let (code, out) = inspect_stdin(t.expose());
    assert_eq!(code, 0, "{out}");
}
