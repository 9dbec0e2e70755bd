//! The scan data of restart hazards (job, D-Bus helper, iothreads, TPM backend, volume and nbdkit disks)
//! on tests/fixtures/restart, by the fast parser and the checked one. The same expectations, worked out by
//! hand, are held to the tables and the reference extractor in tests/test_scan_restart_columns.py.

use std::path::PathBuf;

use virtaudit_core::{Document, Limits, parse_document, parse_document_checked};

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/restart")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `(volume_actual_type, nbdkit)` of every device, in order.
fn disks(doc: &Document<'_>) -> Vec<(String, Option<String>, Option<bool>)> {
    doc.devices
        .iter()
        .map(|d| {
            let actual = d.volume_actual_type.as_deref().map(str::to_string);
            (d.element.to_string(), actual, d.nbdkit)
        })
        .collect()
}

fn both(data: &[u8], check: impl Fn(&Document<'_>)) {
    check(&parse_document(data, &Limits::default()).expect("parses"));
    check(&parse_document_checked(data, &Limits::default()).expect("parses"));
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

#[test]
fn status_file_with_every_hazard() {
    both(&fixture("restart-status.xml"), |doc| {
        let d = &doc.domain;
        assert_eq!(d.job_async.as_deref(), Some("migration out"));
        assert_eq!(d.job_phase.as_deref(), Some("postcopy_failed"));
        assert_eq!(d.dbus_daemon, Some(true));
        assert_eq!(d.iothreads, Some(4));
        let tpm: Vec<_> = doc
            .devices
            .iter()
            .filter_map(|d| d.tpm_backend.clone())
            .collect();
        assert_eq!(tpm, [Some("emulator".into()), Some("passthrough".into())]);
        assert_eq!(
            disks(doc),
            [
                ("disk".into(), s("file"), Some(false)),
                ("disk".into(), None, Some(true)),
                ("disk".into(), None, Some(true)),
                ("disk".into(), None, Some(false)),
                ("interface".into(), None, None),
                ("tpm".into(), None, None),
                ("tpm".into(), None, None),
            ]
        );
    });
}

#[test]
fn domain_file_and_odd_values() {
    both(&fixture("restart-domain.xml"), |doc| {
        let d = &doc.domain;
        assert_eq!(
            (d.job_async.as_deref(), d.job_phase.as_deref()),
            (None, None)
        );
        assert_eq!(d.dbus_daemon, None, "no private data in plain domain XML");
        assert_eq!(d.iothreads, Some(3));
        let tpm: Vec<_> = doc.devices.iter().map(|d| d.tpm_backend.clone()).collect();
        assert_eq!(tpm, [None, Some(Some("emulator".into())), None]);
    });
    both(&fixture("restart-odd-status.xml"), |doc| {
        let d = &doc.domain;
        assert_eq!(
            (d.job_async.as_deref(), d.job_phase.as_deref()),
            (None, None)
        );
        assert_eq!(d.dbus_daemon, Some(false));
        assert_eq!(d.iothreads, None, "0x10 is not a decimal count");
    });
}
