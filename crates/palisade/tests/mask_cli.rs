//! `palisade mask` and `unmask` run as the real binary: where the output goes and the exit
//! statuses (review defects 5 and 12).
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
#![cfg(unix)]

use std::os::unix::fs::FileTypeExt as _;
use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_palisade");

/// A directory with `rules.yaml` (redact `email`, replace identifiers in free text) and
/// `people.csv`.
fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rules.yaml"),
        "rules:\n  - {column: email, transform: redact}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("people.csv"), "id,email\n1,ann@x.com\n").unwrap();
    dir
}

fn mask(dir: &Path, output: &str) -> Output {
    Command::new(BIN)
        .current_dir(dir)
        .args(["mask", "--rules", "rules.yaml", "people.csv", "-o", output])
        .output()
        .unwrap()
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".palisade-mask-"))
        .collect()
}

/// Review defect 5: `-o /dev/stdout` (or a FIFO, or /dev/null) was replaced by a rename of
/// a temporary file; the output now goes to the stream, and `-` is standard output.
#[test]
fn defect_5_stdout_and_devices_are_written_in_place() {
    let dir = fixture();
    for output in ["-", "/dev/stdout"] {
        let out = mask(dir.path(), output);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "id,email\n1,\n");
    }
    let out = mask(dir.path(), "/dev/null");
    assert_eq!(out.status.code(), Some(0));
    assert!(Path::new("/dev/null").exists());
    assert!(
        std::fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device()
    );
    assert!(leftovers(dir.path()).is_empty());
}

/// A FIFO stays a FIFO, and its reader gets the masked rows.
#[cfg(target_os = "linux")]
#[test]
fn defect_5_a_fifo_is_written_not_replaced() {
    let dir = fixture();
    let fifo = dir.path().join("pipe");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    let out = mask(dir.path(), "pipe");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(reader.join().unwrap(), "id,email\n1,\n");
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
}

/// Review defect 12: every mask and unmask error exited 1, where scan and audit use 2 for
/// errors; the message names the command once.
#[test]
fn defect_12_errors_exit_2() {
    let dir = fixture();
    std::fs::write(dir.path().join("people.csv"), "id,email\n1,\"ann@x.com\n").unwrap();
    let out = mask(dir.path(), "masked.csv");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with("palisade mask: ") && stderr.contains("not closed"),
        "{stderr}"
    );
    assert!(!stderr.contains("ann@x.com"), "{stderr}");
    assert!(!dir.path().join("masked.csv").exists());
    assert!(leftovers(dir.path()).is_empty());
}

/// Review defect 8: Ctrl-C (or SIGTERM) during a run left the hidden temporary output beside
/// the destination, with partial clear values for unmask. The run is stopped while it waits
/// for more input from a FIFO.
#[cfg(target_os = "linux")]
#[test]
fn defect_8_an_interrupted_run_leaves_no_temporary_output() {
    use std::io::Write as _;
    for (signal, status) in [("-INT", 130), ("-TERM", 143)] {
        let dir = fixture();
        let input = dir.path().join("in.csv");
        assert!(
            Command::new("mkfifo")
                .arg(&input)
                .status()
                .unwrap()
                .success()
        );
        let child = Command::new(BIN)
            .current_dir(dir.path())
            .args(["mask", "--rules", "rules.yaml", "in.csv", "-o", "out.csv"])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The writer keeps the FIFO open: the run waits for the rest of the input.
        let mut writer = std::fs::OpenOptions::new()
            .write(true)
            .open(&input)
            .unwrap();
        writer.write_all(b"id,email\n1,ann@x.com\n").unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while leftovers(dir.path()).is_empty() {
            assert!(std::time::Instant::now() < deadline, "no temporary output");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        let killed = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let out = child.wait_with_output().unwrap();
        drop(writer);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(status), "{stderr}");
        assert!(stderr.contains("interrupted"), "{stderr}");
        assert!(
            leftovers(dir.path()).is_empty(),
            "{:?}",
            leftovers(dir.path())
        );
        assert!(!dir.path().join("out.csv").exists());
    }
}
