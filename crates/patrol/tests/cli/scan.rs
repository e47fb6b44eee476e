//! `patrol scan` end to end: planted tokens in files, nested directories,
//! ignored and binary files, stdin and git history; look-alikes; redaction;
//! exit codes.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use patrol_core::token::ProviderSignature;
use patrol_scan::synth::{self, Kind};
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::support::bin;

fn tokens(seed: u64) -> Vec<(Kind, String)> {
    let mut rng = StdRng::seed_from_u64(seed);
    Kind::ALL
        .iter()
        .map(|&k| {
            (
                k,
                synth::token(k, ProviderSignature::DEFAULT, &mut rng).unwrap(),
            )
        })
        .collect()
}

fn corrupted(seed: u64) -> Vec<String> {
    let mut rng = StdRng::seed_from_u64(seed);
    tokens(seed)
        .iter()
        .map(|(_, t)| synth::corrupt(t, &mut rng))
        .collect()
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run_in(dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> Run {
    let mut child = Command::new(bin())
        .arg("scan")
        .args(args)
        .current_dir(dir)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().unwrap();
    let run = Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8(stdout).unwrap(),
        stderr: String::from_utf8(stderr).unwrap(),
    };
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    run
}

/// No token, and no 16-character piece of its random part, in the output.
fn assert_redacted(run: &Run, secrets: &[String]) {
    for s in secrets {
        for piece in s.as_bytes()[..52].chunks(16) {
            let piece = std::str::from_utf8(piece).unwrap();
            assert!(!run.stdout.contains(piece), "stdout leaks {piece}");
            assert!(!run.stderr.contains(piece), "stderr leaks {piece}");
        }
    }
}

fn write(path: &Path, content: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

#[test]
fn finds_planted_tokens_at_their_positions_in_nested_directories() {
    let dir = tempfile::tempdir().unwrap();
    let toks = tokens(1);
    let t = |k: Kind| toks.iter().find(|(kind, _)| *kind == k).unwrap().1.clone();
    write(
        &dir.path().join("top.env"),
        format!("A=1\nAZURE_DEVOPS_EXT_PAT={}\n", t(Kind::Cask84Base62)).as_bytes(),
    );
    write(
        &dir.path().join("src/deep/er/config.yaml"),
        format!(
            "pat: \"{}\"\n\n  url: https://x:{}@dev.azure.com/o\n",
            t(Kind::Cask88Raw),
            t(Kind::LegacyUser)
        )
        .as_bytes(),
    );
    write(
        &dir.path().join("src/.hidden/old.txt"),
        format!("{} {}", t(Kind::Cask84Raw), t(Kind::LegacyApp)).as_bytes(),
    );
    write(&dir.path().join("src/clean.rs"), b"fn main() {}\n");

    let run = run_in(dir.path(), &["src", "top.env"], None);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    let want_prefixes = [
        "src/.hidden/old.txt:1:1  cask-84  ",
        "src/.hidden/old.txt:1:86  legacy-52  ",
        "src/deep/er/config.yaml:1:7  cask-88  ",
        "src/deep/er/config.yaml:3:18  legacy-52  ",
        "top.env:2:22  cask-84  ",
    ];
    assert_eq!(lines.len(), want_prefixes.len(), "{}", run.stdout);
    for (line, want) in lines.iter().zip(want_prefixes) {
        assert!(line.starts_with(want), "{line:?} vs {want:?}");
    }
    assert!(
        lines[0].contains("…JQQJ99") && lines[0].ends_with("…AZDO"),
        "{}",
        lines[0]
    );
    assert!(run.stderr.contains("5 tokens found"), "{}", run.stderr);
    let secrets: Vec<String> = toks.into_iter().map(|(_, s)| s).collect();
    assert_redacted(&run, &secrets);
}

#[test]
fn json_output_is_one_object_per_hit() {
    let dir = tempfile::tempdir().unwrap();
    let toks = tokens(2);
    let body: String = toks.iter().map(|(_, t)| format!("key={t}\n")).collect();
    write(&dir.path().join("keys.txt"), body.as_bytes());
    let run = run_in(dir.path(), &["--json", "keys.txt"], None);
    assert_eq!(run.code, 1);
    let objs: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objs.len(), toks.len());
    for (i, (o, (_, t))) in objs.iter().zip(&toks).enumerate() {
        assert_eq!(o["path"], "keys.txt");
        assert_eq!(o["line"], i + 1);
        assert_eq!(o["column"], 5);
        assert_eq!(o["offset"], body.find(t.as_str()).unwrap());
        assert!(o["fingerprint"].as_str().unwrap().starts_with("sha256:"));
    }
    let formats: Vec<&str> = objs.iter().map(|o| o["format"].as_str().unwrap()).collect();
    assert_eq!(
        formats,
        [
            "cask-84",
            "cask-84",
            "cask-88",
            "cask-88",
            "legacy-52",
            "legacy-52"
        ]
    );
    assert_eq!(objs[1]["checksum"], "marvin32-raw-base64");
    assert_eq!(objs[5]["checksum"], "crc32-app");
    assert_eq!(objs[0]["signature"], "AZDO");
    assert!(objs[4]["signature"].is_null());
    let secrets: Vec<String> = toks.into_iter().map(|(_, s)| s).collect();
    assert_redacted(&run, &secrets);
}

#[test]
fn look_alikes_are_never_reported_and_exit_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut body = String::new();
    for seed in 10..20 {
        for c in corrupted(seed) {
            body.push_str(&format!("token = \"{c}\"\n"));
        }
    }
    // A valid token glued into a longer alphanumeric string is not a token.
    let t = &tokens(3)[0].1;
    body.push_str(&format!("x{t}\n{t}yz\n"));
    write(&dir.path().join("fakes.txt"), body.as_bytes());
    let run = run_in(dir.path(), &["."], None);
    assert_eq!((run.code, run.stdout.as_str()), (0, ""), "{}", run.stderr);
}

#[test]
fn gitignored_files_are_skipped_unless_no_ignore() {
    let dir = tempfile::tempdir().unwrap();
    let t = &tokens(4)[0].1;
    write(&dir.path().join(".gitignore"), b"secrets/\n*.log\n");
    write(&dir.path().join("secrets/a.txt"), t.as_bytes());
    write(&dir.path().join("build.log"), t.as_bytes());
    write(&dir.path().join("kept.txt"), b"nothing here\n");
    let run = run_in(dir.path(), &["."], None);
    assert_eq!((run.code, run.stdout.as_str()), (0, ""), "{}", run.stderr);
    let run = run_in(dir.path(), &["--no-ignore", "."], None);
    assert_eq!(run.code, 1);
    assert_eq!(run.stdout.lines().count(), 2, "{}", run.stdout);
    // A file named on the command line is scanned even when ignored.
    let run = run_in(dir.path(), &["build.log"], None);
    assert_eq!(run.code, 1);
}

#[test]
fn binary_files_are_skipped_unless_asked_or_named() {
    let dir = tempfile::tempdir().unwrap();
    let t = &tokens(5)[0].1;
    let mut blob = vec![0u8, 1, 2, 3];
    blob.extend_from_slice(b"\n");
    blob.extend_from_slice(t.as_bytes());
    write(&dir.path().join("d/app.bin"), &blob);
    let run = run_in(dir.path(), &["d"], None);
    assert_eq!((run.code, run.stdout.as_str()), (0, ""));
    let run = run_in(dir.path(), &["--binary", "d"], None);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.starts_with("d/app.bin:2:1  cask-84  "),
        "{}",
        run.stdout
    );
    let run = run_in(dir.path(), &["d/app.bin"], None);
    assert_eq!(run.code, 1);
}

#[test]
fn stdin_is_scanned_with_dash() {
    let dir = tempfile::tempdir().unwrap();
    let toks = tokens(6);
    let input = format!("diff --git\n+PAT={}\n-old {}\n", toks[2].1, toks[4].1);
    let run = run_in(dir.path(), &["-"], Some(input.as_bytes()));
    assert_eq!(run.code, 1);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines[0].starts_with("<stdin>:2:6  cask-88  "), "{lines:?}");
    assert!(
        lines[1].starts_with("<stdin>:3:6  legacy-52  "),
        "{lines:?}"
    );
    let run = run_in(dir.path(), &["-"], Some(b"nothing to see\n"));
    assert_eq!((run.code, run.stdout.as_str()), (0, ""));
    // A named pipe, as bash's process substitution makes: `patrol scan <(…)`.
    let script = format!(
        "'{}' scan <(printf 'x %s\\n' '{}')",
        bin().display(),
        toks[0].1
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains(":1:3  cask-84  "), "{stdout}");
}

#[test]
fn only_and_signature_select_what_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let toks = tokens(7);
    let mut rng = StdRng::seed_from_u64(7);
    let abcd = ProviderSignature::parse("ABCD").unwrap();
    let custom = synth::token(Kind::Cask84Base62, abcd, &mut rng).unwrap();
    let body = format!("{}\n{}\n{custom}\n", toks[0].1, toks[4].1);
    write(&dir.path().join("f.txt"), body.as_bytes());
    let count = |args: &[&str]| run_in(dir.path(), args, None).stdout.lines().count();
    assert_eq!(count(&["f.txt"]), 2);
    assert_eq!(count(&["--only", "cask", "f.txt"]), 1);
    assert_eq!(count(&["--only", "legacy", "f.txt"]), 1);
    assert_eq!(count(&["--signature", "ABCD", "f.txt"]), 2); // ABCD key + legacy
    assert_eq!(
        count(&["--signature", "AZDO", "--signature", "abcd", "f.txt"]),
        3
    );
}

#[test]
fn exit_codes_and_clean_errors() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("ok.txt"), b"fine\n");
    let run = run_in(dir.path(), &["ok.txt"], None);
    assert_eq!(
        (run.code, run.stdout.as_str(), run.stderr.as_str()),
        (0, "", "")
    );

    let run = run_in(dir.path(), &["ok.txt", "missing.txt"], None);
    assert_eq!(run.code, 2);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("missing.txt"));

    let run = run_in(
        dir.path(),
        &["--report", "https://patrol.example", "."],
        None,
    );
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("not available yet"), "{}", run.stderr);

    let run = run_in(dir.path(), &["--git", "."], None);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("not a git repository"),
        "{}",
        run.stderr
    );

    for bad in [&["--only", "github"][..], &["--signature", "1BAD"][..]] {
        let run = run_in(dir.path(), bad, None);
        assert_eq!(run.code, 2, "{bad:?}");
    }
}

// ------------------------------------------------------------------ git

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn git_out(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn git_history_finds_a_token_added_then_removed() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    let toks = tokens(8);
    let (cask, legacy) = (&toks[0].1, &toks[5].1);
    git(repo, &["init", "-q", "-b", "main"]);
    write(&repo.join("README.md"), b"# demo\n");
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-qm", "start"]);
    write(
        &repo.join("ci/pipeline.yml"),
        format!("steps:\n  - env:\n      PAT: {cask}\n").as_bytes(),
    );
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-qm", "add pipeline"]);
    let added = git_out(repo, &["rev-parse", "HEAD"]);
    write(
        &repo.join("ci/pipeline.yml"),
        b"steps:\n  - env:\n      PAT: $(PAT)\n",
    );
    git(repo, &["commit", "-qam", "remove the token"]);
    // A token only on another branch, in a binary blob, and in a clean file.
    git(repo, &["checkout", "-qb", "feature"]);
    write(
        &repo.join("notes.txt"),
        format!("old token {legacy}\n").as_bytes(),
    );
    let mut bin = b"\0\0\0".to_vec();
    bin.extend_from_slice(cask.as_bytes());
    write(&repo.join("data.bin"), &bin);
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-qm", "feature"]);
    let feature = git_out(repo, &["rev-parse", "HEAD"]);
    git(repo, &["checkout", "-q", "main"]);

    // The working tree is clean now…
    let run = run_in(repo, &["."], None);
    assert_eq!((run.code, run.stdout.as_str()), (0, ""), "{}", run.stderr);
    // …but history is not.
    let run = run_in(repo, &["--git", "."], None);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stdout);
    assert!(
        lines[0].starts_with(&format!("{}:ci/pipeline.yml:3:12  cask-84  ", &added[..12])),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with(&format!("{}:notes.txt:1:11  legacy-52  ", &feature[..12])),
        "{lines:?}"
    );
    assert_redacted(&run, &[cask.clone(), legacy.clone()]);

    let run = run_in(repo, &["--git", "--json", "--binary", "."], None);
    let objs: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objs.len(), 3, "{}", run.stdout);
    assert_eq!(objs[0]["commit"], added.as_str());
    assert_eq!(objs[0]["path"], "ci/pipeline.yml");
    assert_eq!(objs[0]["blob"].as_str().unwrap().len(), 40);
    assert!(objs.iter().any(|o| o["path"] == "data.bin"));

    // A repository without commits has nothing to report.
    let empty = tempfile::tempdir().unwrap();
    git(empty.path(), &["init", "-q"]);
    let run = run_in(empty.path(), &["--git", "."], None);
    assert_eq!((run.code, run.stdout.as_str()), (0, ""), "{}", run.stderr);
}

#[test]
fn git_history_includes_a_token_written_while_resolving_a_merge() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    let token = &tokens(9)[1].1;
    git(repo, &["init", "-q", "-b", "main"]);
    write(&repo.join("app.cfg"), b"pat = none\n");
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-qm", "base"]);
    git(repo, &["checkout", "-qb", "other"]);
    write(&repo.join("app.cfg"), b"pat = other\n");
    git(repo, &["commit", "-qam", "other"]);
    git(repo, &["checkout", "-q", "main"]);
    write(&repo.join("app.cfg"), b"pat = main\n");
    git(repo, &["commit", "-qam", "main"]);
    // The merge conflicts; its resolution is content neither parent has.
    let _ = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["merge", "-q", "other"])
        .output()
        .unwrap();
    write(&repo.join("app.cfg"), format!("pat = {token}\n").as_bytes());
    git(repo, &["add", "app.cfg"]);
    git(repo, &["commit", "-qm", "merge"]);
    let merge = git_out(repo, &["rev-parse", "HEAD"]);
    // Later the token is replaced again.
    write(&repo.join("app.cfg"), b"pat = $(PAT)\n");
    git(repo, &["commit", "-qam", "fix"]);

    let run = run_in(repo, &["--git", "."], None);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(
        run.stdout.lines().collect::<Vec<_>>().len(),
        1,
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .starts_with(&format!("{}:app.cfg:1:7  cask-84  ", &merge[..12])),
        "{}",
        run.stdout
    );
}
