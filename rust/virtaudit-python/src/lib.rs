//! `virtaudit._core`: converts arguments, runs the core scan with the GIL released, hands the tables to
//! Python through the Arrow PyCapsule stream interface, and maps errors. Besides that, only the
//! application's process-wide allocator tuning lives here (`allocator`).

mod allocator;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::ffi_stream::FFI_ArrowArrayStream;
use arrow_array::{RecordBatch, RecordBatchIterator};
use arrow_schema::SchemaRef;
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyDict};
use regex::Regex;
use virtaudit_core::{
    Batch, CapsRows, HostFrom, Limits, LiveRows, ScanError, ScanOptions, Scanner, TABLE_NAMES,
};

create_exception!(
    _core,
    VirtauditError,
    PyException,
    "A scan could not run at all (per-file problems are error rows)."
);

fn map_error(err: ScanError) -> PyErr {
    VirtauditError::new_err(err.to_string())
}

/// One scan table: a list of Arrow record batches exposed through `__arrow_c_stream__`.
#[pyclass(module = "virtaudit._core", frozen)]
struct ArrowTable {
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
}

#[pymethods]
impl ArrowTable {
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        // The interface allows ignoring a requested schema we cannot cast to; our schema is fixed.
        let _ = requested_schema;
        let reader = RecordBatchIterator::new(
            self.batches.clone().into_iter().map(Ok),
            self.schema.clone(),
        );
        let stream = FFI_ArrowArrayStream::new(Box::new(reader));
        // polars takes the stream out of the capsule; dropping an unconsumed one releases it.
        PyCapsule::new_with_value(py, stream, c"arrow_array_stream")
    }

    #[getter]
    fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    fn __len__(&self) -> usize {
        self.num_rows()
    }

    fn __repr__(&self) -> String {
        format!(
            "<ArrowTable rows={} batches={}>",
            self.num_rows(),
            self.batches.len()
        )
    }
}

/// `{table name: ArrowTable}` for a list of batches.
fn tables<'py>(py: Python<'py>, batches: &[Batch]) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for name in TABLE_NAMES {
        let schema = virtaudit_core::schema_of(name).expect("known table");
        let table_batches = batches
            .iter()
            .filter_map(|b| b.table(name).cloned())
            .collect();
        dict.set_item(
            name,
            ArrowTable {
                schema,
                batches: table_batches,
            },
        )?;
    }
    Ok(dict)
}

/// The scan limits, passed as the keyword arguments `max_file_size`, `max_depth` and `max_elements` (all
/// required), as one [`Limits`]. They arrive as `**limits` so that the functions keep their keyword
/// interface while the core gets the limits as a single value.
fn limits(kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Limits> {
    const NAMES: [&str; 3] = ["max_file_size", "max_depth", "max_elements"];
    let mut limits = Limits::default();
    let mut given = [false; 3];
    for (key, value) in kwargs.into_iter().flat_map(|d| d.iter()) {
        let key: String = key.extract()?;
        match key.as_str() {
            "max_file_size" => limits.max_file_size = value.extract()?,
            "max_depth" => limits.max_depth = value.extract()?,
            "max_elements" => limits.max_elements = value.extract()?,
            other => {
                return Err(PyTypeError::new_err(format!(
                    "unexpected keyword argument {other:?}"
                )));
            }
        }
        given[NAMES.iter().position(|n| *n == key).expect("matched above")] = true;
    }
    let missing: Vec<&str> = NAMES
        .iter()
        .zip(given)
        .filter(|(_, given)| !given)
        .map(|(name, _)| *name)
        .collect();
    if !missing.is_empty() {
        return Err(PyTypeError::new_err(format!(
            "missing required keyword arguments: {}",
            missing.join(", ")
        )));
    }
    Ok(limits)
}

fn options(
    jobs: Option<usize>,
    host_mode: &str,
    host_value: Option<String>,
    limits: Limits,
) -> PyResult<ScanOptions> {
    let host_from = match (host_mode, host_value) {
        ("parent", _) => HostFrom::Parent,
        ("grandparent", _) => HostFrom::Grandparent,
        ("fixed", Some(name)) => HostFrom::Fixed(name),
        ("regex", Some(pattern)) => {
            let re = Regex::new(&pattern)
                .map_err(|e| PyValueError::new_err(format!("host_from regex: {e}")))?;
            if re.captures_len() < 2 {
                return Err(PyValueError::new_err(
                    "host_from regex needs one capture group",
                ));
            }
            HostFrom::Regex(re)
        }
        (mode, _) => return Err(PyValueError::new_err(format!("unknown host mode {mode:?}"))),
    };
    if jobs == Some(0) {
        return Err(PyValueError::new_err("jobs must be at least 1"));
    }
    Ok(ScanOptions {
        jobs,
        host_from,
        limits,
        caps_rows: CapsRows::All,
        live_rows: LiveRows::All,
        first_doc_id: 0,
    })
}

/// Scans files, directories and glob patterns; returns `{table: ArrowTable}`.
#[pyfunction]
#[pyo3(signature = (paths, *, jobs, host_mode, host_value, **limits))]
fn scan<'py>(
    py: Python<'py>,
    paths: Vec<PathBuf>,
    jobs: Option<usize>,
    host_mode: &str,
    host_value: Option<String>,
    limits: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyDict>> {
    let options = options(jobs, host_mode, host_value, self::limits(limits)?)?;
    let batches = py
        .detach(|| virtaudit_core::scan(&paths, &options))
        .map_err(map_error)?;
    tables(py, &batches)
}

/// Scans in-memory documents (archive members) given as `(path, host, bytes)`; their document ids start at
/// `first_doc_id`, so that a caller combining them with other scans can keep the ids unique.
#[pyfunction]
#[pyo3(signature = (items, *, jobs, first_doc_id=0, **limits))]
fn scan_buffers<'py>(
    py: Python<'py>,
    items: Vec<(String, String, Vec<u8>)>,
    jobs: Option<usize>,
    first_doc_id: u32,
    limits: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyDict>> {
    let mut options = options(jobs, "parent", None, self::limits(limits)?)?;
    options.first_doc_id = first_doc_id;
    let batch = py
        .detach(|| virtaudit_core::scan_buffers(&items, &options))
        .map_err(map_error)?;
    tables(py, &[batch])
}

/// Batch-by-batch scan with bounded memory.
#[pyclass(module = "virtaudit._core", name = "Scanner")]
struct PyScanner {
    inner: Scanner,
}

#[pymethods]
impl PyScanner {
    #[new]
    #[allow(clippy::too_many_arguments)] // (Python keyword arguments, each converted once here)
    #[pyo3(signature = (paths, *, jobs, host_mode, host_value, caps_flags=None, caps_except=None, unmatched_live_only=false, **limits))]
    fn new(
        py: Python<'_>,
        paths: Vec<PathBuf>,
        jobs: Option<usize>,
        host_mode: &str,
        host_value: Option<String>,
        caps_flags: Option<Vec<String>>,
        caps_except: Option<HashSet<String>>,
        unmatched_live_only: bool,
        limits: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let mut options = options(jobs, host_mode, host_value, self::limits(limits)?)?;
        options.caps_rows = match (caps_flags, caps_except) {
            (None, None) => CapsRows::All,
            (Some(only), None) => CapsRows::Only(only.into()),
            (None, Some(except)) => CapsRows::Except(Arc::new(except)),
            (Some(_), Some(_)) => {
                return Err(PyValueError::new_err(
                    "caps_flags and caps_except exclude each other",
                ));
            }
        };
        if unmatched_live_only {
            options.live_rows = LiveRows::Unmatched;
        }
        allocator::map_large_blocks();
        let inner = py
            .detach(|| Scanner::new(&paths, options))
            .map_err(map_error)?;
        Ok(PyScanner { inner })
    }

    #[getter]
    fn input_count(&self) -> usize {
        self.inner.input_count()
    }

    /// The next `batch_files` inputs as `{table: ArrowTable}`, or None at the end.
    fn next_batch<'py>(
        &mut self,
        py: Python<'py>,
        batch_files: usize,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        let inner = &mut self.inner;
        match py
            .detach(|| {
                // Measured on a million files: peak RSS of the CLI audit 205 MB with this, 262 MB
                // trimming every 8th batch, 257-268 MB never; the price is pages faulted back in, about
                // 15% more CPU in a bare scan_batches loop and nothing measurable in the audit.
                allocator::release_free_memory();
                inner.next_batch(batch_files)
            })
            .map_err(map_error)?
        {
            Some(batches) => Ok(Some(tables(py, &batches)?)),
            None => Ok(None),
        }
    }
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // The one source of both versions: Cargo's package version and the core's schema version (a Python
    // test ties virtaudit.__version__ and virtaudit.SCHEMA_VERSION to these).
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("SCHEMA_VERSION", virtaudit_core::SCHEMA_VERSION)?;
    m.add("TABLE_NAMES", TABLE_NAMES.to_vec())?;
    m.add("DEFAULT_MAX_FILE_SIZE", Limits::default().max_file_size)?;
    m.add("DEFAULT_MAX_DEPTH", Limits::default().max_depth)?;
    m.add("DEFAULT_MAX_ELEMENTS", Limits::default().max_elements)?;
    m.add("VirtauditError", m.py().get_type::<VirtauditError>())?;
    m.add_class::<ArrowTable>()?;
    m.add_class::<PyScanner>()?;
    m.add_function(wrap_pyfunction!(scan, m)?)?;
    m.add_function(wrap_pyfunction!(scan_buffers, m)?)?;
    Ok(())
}
