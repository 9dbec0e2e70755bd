//! Criterion benches of the core parser on single files of each size class.
//!
//! The files are `benches/data/{small,mean,large}.xml` (about 8, 22 and 60 KB of synthetic status XML
//! made by `benches/gen_fleet.py`; see `benches/README.md` to regenerate them). Set
//! `VIRTAUDIT_BENCH_DATA` to a directory holding files of the same names to bench others.
//!
//! Groups (each reports bytes/s for the file):
//! - `parse/<class>`: `parse_document` alone, the figure the parser work is judged on;
//! - `tables/<class>`: parse + `TableBuilder::push_document` for 100 copies + `finish` (amortised Arrow cost);
//! - `floor_memchr/<class>`: find every `<` (the floor for anything that visits every tag);
//! - `floor_tokenize/<class>`: quick-xml, every event, no attribute decoding (practical tokenize floor).
//!
//! Run: `cargo bench -p virtaudit-core --bench parse` (add `-- parse/` to run one group).

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use quick_xml::events::Event;
use quick_xml::reader::Reader;
use virtaudit_core::{Limits, TableBuilder, parse_document};

const CLASSES: [&str; 3] = ["small", "mean", "large"];
const TABLE_COPIES: usize = 100;

fn data_dir() -> PathBuf {
    match std::env::var_os("VIRTAUDIT_BENCH_DATA") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("benches")
            .join("data"),
    }
}

fn fixtures() -> Vec<(&'static str, Vec<u8>)> {
    let dir = data_dir();
    CLASSES
        .iter()
        .map(|class| {
            let path = dir.join(format!("{class}.xml"));
            let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            // A fixture that does not parse would bench the error path: refuse it up front.
            if let Err(e) = parse_document(&data, &Limits::default()) {
                panic!("{}: does not parse: {}", path.display(), e.message);
            }
            (*class, data)
        })
        .collect()
}

fn count_tags(data: &[u8]) -> usize {
    memchr::memchr_iter(b'<', data).count()
}

fn tokenize(data: &[u8]) -> usize {
    let mut reader = Reader::from_reader(data);
    let mut events = 0usize;
    loop {
        match reader.read_event() {
            Ok(Event::Eof) => return events,
            Ok(_) => events += 1,
            Err(e) => panic!("tokenize: {e}"),
        }
    }
}

fn benches(c: &mut Criterion) {
    let files = fixtures();
    let limits = Limits::default();

    let mut group = c.benchmark_group("parse");
    for (class, data) in &files {
        group.throughput(Throughput::Bytes(data.len() as u64));
        group.bench_function(*class, |b| {
            b.iter(|| {
                let doc = parse_document(black_box(data), &limits).expect("parses");
                black_box(doc.devices.len() + doc.caps.len())
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("tables");
    for (class, data) in &files {
        group.throughput(Throughput::Bytes((data.len() * TABLE_COPIES) as u64));
        group.bench_function(*class, |b| {
            b.iter(|| {
                let mut builder = TableBuilder::new();
                for i in 0..TABLE_COPIES {
                    let doc = parse_document(black_box(data), &limits).expect("parses");
                    let path = format!("/fleet/host{}/guest{i}.xml", i % 10);
                    builder.push_document(&path, "host", data.len() as u64, &doc);
                }
                black_box(builder.finish().expect("tables"))
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("floor_memchr");
    for (class, data) in &files {
        group.throughput(Throughput::Bytes(data.len() as u64));
        group.bench_function(*class, |b| b.iter(|| count_tags(black_box(data))));
    }
    group.finish();

    let mut group = c.benchmark_group("floor_tokenize");
    for (class, data) in &files {
        group.throughput(Throughput::Bytes(data.len() as u64));
        group.bench_function(*class, |b| b.iter(|| tokenize(black_box(data))));
    }
    group.finish();
}

criterion_group!(parse_benches, benches);
criterion_main!(parse_benches);
