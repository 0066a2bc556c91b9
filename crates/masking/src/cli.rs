//! `palisade mask` and `palisade unmask`: argument structs for the binary and the functions
//! that run them.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use crate::detect::{Detector, DiscoveryDetector, RegexDetector};
use crate::error::MaskError;
use crate::formats::{self, Format, Options, Progress};
use crate::keys::{Envelope, Keys, envelope_path};
use crate::masker::{Masker, Summary};
use crate::rules::{Rule, RulesFile};
use crate::transform::Direction;

/// Where keys come from (shared by mask and unmask).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct KeyArgs {
    /// Key file (JSON: {"keys": {"name": {"raw"|"hex"|"kms_wrapped"|"kms_key": …}}}).
    #[arg(long, env = "PALISADE_MASKING_KEYS")]
    pub keys: Option<PathBuf>,
    /// Palisade endpoint for KMS keys (GenerateDataKey, Decrypt), e.g. http://127.0.0.1:4566.
    /// Credentials come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, else
    /// from the shared credentials file's profile (AWS_PROFILE, AWS_SHARED_CREDENTIALS_FILE).
    #[arg(long, env = "PALISADE_ENDPOINT")]
    pub kms_endpoint: Option<String>,
    /// CA certificates (PEM) trusted for an https KMS endpoint, e.g. the certificate that
    /// `palisade serve --tls-self-signed` writes.
    #[arg(long, env = "AWS_CA_BUNDLE")]
    pub kms_ca_bundle: Option<PathBuf>,
    /// Region for signing KMS requests [default: AWS_DEFAULT_REGION, else the profile's
    /// region in ~/.aws/config (AWS_CONFIG_FILE, AWS_PROFILE), else us-east-1].
    #[arg(long, env = "AWS_REGION")]
    pub region: Option<String>,
}

/// `palisade mask`.
#[derive(clap::Args, Debug, Clone)]
pub struct MaskArgs {
    /// Input file (CSV, TSV, JSON Lines, Parquet or plain text).
    pub input: PathBuf,
    /// Output file; `-` is standard output (a FIFO or device is written in place).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Rules file (JSON, or YAML for .yaml/.yml).
    #[arg(
        long,
        required_unless_present = "policies",
        conflicts_with = "policies"
    )]
    pub rules: Option<PathBuf>,
    /// Dynamic masking policies file; shows what the principal given with --as would see.
    #[arg(long, requires = "as_principal")]
    pub policies: Option<PathBuf>,
    /// Principal ARN to evaluate --policies for (an IAM user or role, or an STS assumed role).
    #[arg(long = "as", value_name = "ARN", requires = "policies")]
    pub as_principal: Option<String>,
    /// Table or dataset name for --policies attachments (default: the input's file stem).
    #[arg(long, requires = "policies")]
    pub table: Option<String>,
    /// Input format (default: from the extension; unknown extensions are plain text).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Envelope manifest for the `encrypt` transform's wrapped data keys
    /// (default: OUTPUT.keys.json).
    #[arg(long)]
    pub envelope: Option<PathBuf>,
    /// Key sources.
    #[command(flatten)]
    pub key_args: KeyArgs,
    /// Do not draw the progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// Do not print the summary.
    #[arg(long, short)]
    pub quiet: bool,
    /// Also write the summary as JSON to this file.
    #[arg(long)]
    pub summary_json: Option<PathBuf>,
}

/// `palisade unmask`.
#[derive(clap::Args, Debug, Clone)]
pub struct UnmaskArgs {
    /// Masked input file.
    pub input: PathBuf,
    /// Output file; `-` is standard output (a FIFO or device is written in place).
    #[arg(short, long)]
    pub output: PathBuf,
    /// The rules file the input was masked with; reversible rules are inverted.
    #[arg(long)]
    pub rules: PathBuf,
    /// Input format (default: from the extension).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Envelope manifest written by mask (default: INPUT.keys.json, when it exists).
    #[arg(long)]
    pub envelope: Option<PathBuf>,
    /// Key sources.
    #[command(flatten)]
    pub key_args: KeyArgs,
    /// Do not draw the progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// Do not print the summary.
    #[arg(long, short)]
    pub quiet: bool,
}

fn load_keys(args: &KeyArgs) -> Result<Keys, MaskError> {
    let mut keys = match &args.keys {
        Some(p) => Keys::load(p)?,
        None => Keys::new(),
    };
    if let Some(endpoint) = &args.kms_endpoint {
        let region = crate::kms::resolve_region(args.region.as_deref());
        let mut client = crate::kms::KmsClient::from_env(endpoint, &region)?;
        if let Some(ca) = &args.kms_ca_bundle {
            client = client.with_ca_bundle(ca)?;
        }
        keys.set_kms(Box::new(client));
    }
    Ok(keys)
}

/// Runs `palisade mask`, detecting with the discovery engine (the identifiers the rules name),
/// printing the summary to standard error.
pub fn run_mask(args: &MaskArgs) -> Result<Summary, MaskError> {
    mask(args, None)
}

/// Runs `palisade unmask`, printing the summary to standard error.
pub fn run_unmask(args: &UnmaskArgs) -> Result<Summary, MaskError> {
    // Unmasking finds surrogates by their `TYPE(len):` prefix, not by detection.
    run_unmask_with(args, default_detector()?)
}

/// The built-in keyword-free regex detector (email, credit card, US SSN, phone number).
pub fn default_detector() -> Result<Box<dyn Detector>, MaskError> {
    let d = RegexDetector::new().map_err(|e| MaskError::rule("detector", e.to_string()))?;
    Ok(Box::new(d))
}

/// What detects for compiled rules: the discovery engine with the identifiers they name (all
/// of them for a `*` rule), compiled once for the run; none when no rule detects.
#[derive(Debug)]
pub struct DetectorSource {
    engine: Option<palisade_discovery::Engine>,
}

impl DetectorSource {
    /// Compiles the engine the rules need.
    pub fn for_rules(rules: &[Rule]) -> Result<Self, MaskError> {
        let engine = if rules.iter().all(|r| r.identifiers.is_none()) {
            None
        } else {
            let ids = crate::rules::selected_identifiers(rules);
            Some(crate::detect::discovery_engine(ids).map_err(|e| MaskError::rule("detector", e))?)
        };
        Ok(Self { engine })
    }

    /// The detector for one run.
    pub fn detector(&self) -> Result<Box<dyn Detector + '_>, MaskError> {
        match &self.engine {
            None => default_detector(),
            Some(e) => Ok(Box::new(
                DiscoveryDetector::new(e).map_err(|m| MaskError::rule("detector", m))?,
            )),
        }
    }
}

/// Runs `palisade mask` with another [`Detector`] (a custom one; rules still name discovery's
/// identifier IDs).
pub fn run_mask_with(args: &MaskArgs, detector: Box<dyn Detector>) -> Result<Summary, MaskError> {
    mask(args, Some(detector))
}

fn mask(args: &MaskArgs, detector: Option<Box<dyn Detector>>) -> Result<Summary, MaskError> {
    let mut keys = load_keys(&args.key_args)?;
    // A policies view with no rule for the caller (an exempt principal) is the clear data.
    let mut clear_view = false;
    let (rules, strict) = match (&args.rules, &args.policies, &args.as_principal) {
        (Some(r), _, _) => (
            RulesFile::load(r)?.compile(&mut keys, Direction::Mask)?,
            true,
        ),
        (None, Some(p), Some(arn)) => {
            let set = crate::policy::PolicySet::load(p)?;
            let table = args.table.clone().unwrap_or_else(|| {
                args.input
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default()
            });
            // A table no policy names masks nothing, and a clear copy written with exit 0 is
            // the worst way to find out that the file's name is not the table's (bug: the
            // README's own example, people.csv against `table: customers`).
            if !set.covers_table(&table) {
                return Err(MaskError::Usage(format!(
                    "no policy in {} applies to table {table:?} (taken from the input's file \
                     name unless --table gives it)",
                    p.display()
                )));
            }
            let caller = crate::policy::Caller::from_arn(arn)
                .map_err(|m| MaskError::Usage(format!("--as {arn:?}: {m}")))?;
            if let Some(pattern) = set.path_pattern_for_session(&caller) {
                return Err(MaskError::Usage(format!(
                    "--as {arn:?} is a role session, whose ARN does not say the role's path, \
                     and the policies name roles by path ({pattern:?}): give the role's ARN with \
                     its path (arn:aws:iam::ACCOUNT:role/PATH/NAME)"
                )));
            }
            let rules = set
                .rules_for(&caller, &table, folds_columns(args.format, &args.input))
                .compile(&mut keys, Direction::Mask)?;
            clear_view = rules.is_empty();
            (rules, false)
        }
        _ => {
            return Err(MaskError::Usage(
                "give --rules, or --policies with --as".into(),
            ));
        }
    };
    let detection = DetectorSource::for_rules(&rules)?;
    let detector = match detector {
        Some(d) => d,
        None => detection.detector()?,
    };
    let envelope_needed = rules.iter().any(|r| r.transform.is_envelope());
    let manifest = match &args.envelope {
        Some(p) => p.clone(),
        // `/dev/stdout.keys.json` or `-.keys.json` is no place for the data keys.
        None if envelope_needed && is_stream(&args.output) => {
            return Err(MaskError::Usage(format!(
                "output {} is not a regular file: give --envelope for the encrypt rules' \
                 data keys",
                args.output.display()
            )));
        }
        None => envelope_path(&args.output),
    };
    refuse_same_file(&args.input, &args.output)?;
    let created = !manifest.exists();
    if envelope_needed {
        // The data keys were generated when the rules compiled: saved before the run, no
        // output can hold a ciphertext whose key the manifest lacks, whatever happens next.
        keys.envelope().save(&manifest)?;
    }
    let ran = Masker::new(rules, detector, Direction::Mask).and_then(|mut masker| {
        run_with(
            &mut masker,
            &args.input,
            &args.output,
            args.format,
            Options {
                strict_fields: strict,
                clear_output: clear_view,
            },
            !args.no_progress,
        )
        .map(|()| masker)
    });
    let masker = match ran {
        Ok(masker) => masker,
        Err(e) => {
            // A failed run into a file left no output, so its data keys go; one into a stream
            // has sent what it masked as it went, whose keys stay.
            if envelope_needed && !is_stream(&args.output) {
                let _ = keys.envelope().forget(&manifest, created);
            }
            return Err(e);
        }
    };
    let summary = masker.summary();
    report(&summary, args.quiet, args.summary_json.as_deref())?;
    Ok(summary)
}

/// Runs `palisade unmask` with another [`Detector`].
pub fn run_unmask_with(
    args: &UnmaskArgs,
    detector: Box<dyn Detector>,
) -> Result<Summary, MaskError> {
    let mut keys = load_keys(&args.key_args)?;
    let env_path = args
        .envelope
        .clone()
        .unwrap_or_else(|| envelope_path(&args.input));
    if args.envelope.is_some() || env_path.exists() {
        keys.add_envelope(&Envelope::load(&env_path)?)?;
    }
    let file = RulesFile::load(&args.rules)?;
    let (reversible, skipped) = file.reversible();
    for (rule, entity) in &skipped {
        // Reversing with the masked entity would print plausible but wrong dates.
        eprintln!(
            "palisade unmask: rule {rule:?} is not reversed: its date-shift entity {entity:?} was masked irreversibly"
        );
    }
    if reversible.rules.is_empty() {
        return Err(MaskError::Usage(format!(
            "{} has no reversible rule (deterministic_encrypt, encrypt, fpe, date_shift)",
            args.rules.display()
        )));
    }
    let rules = reversible.compile(&mut keys, Direction::Unmask)?;
    let summary = run_detected(
        rules,
        detector,
        &args.input,
        &args.output,
        args.format,
        Direction::Unmask,
        true,
        !args.no_progress,
    )?;
    report(&summary, args.quiet, None)?;
    Ok(summary)
}

fn report(summary: &Summary, quiet: bool, json: Option<&Path>) -> Result<(), MaskError> {
    if !quiet {
        eprint!("{summary}");
    }
    if let Some(p) = json {
        let text = serde_json::to_string_pretty(summary)
            .map_err(|e| MaskError::io(p, std::io::Error::other(e)))?;
        std::fs::write(p, text + "\n").map_err(|e| MaskError::io(p, e))?;
    }
    Ok(())
}

/// Transforms `input` into `output` with compiled rules; the library entry point behind both
/// commands. The output is replaced only when the run succeeds.
pub fn run(
    rules: Vec<Rule>,
    input: &Path,
    output: &Path,
    format: Option<Format>,
    direction: Direction,
    strict_fields: bool,
    progress: bool,
) -> Result<Summary, MaskError> {
    let detection = DetectorSource::for_rules(&rules)?;
    let detector = detection.detector()?;
    run_detected(
        rules,
        detector,
        input,
        output,
        format,
        direction,
        strict_fields,
        progress,
    )
}

/// [`run`] with a given [`Detector`].
#[allow(clippy::too_many_arguments)]
pub fn run_detected(
    rules: Vec<Rule>,
    detector: Box<dyn Detector + '_>,
    input: &Path,
    output: &Path,
    format: Option<Format>,
    direction: Direction,
    strict_fields: bool,
    progress: bool,
) -> Result<Summary, MaskError> {
    refuse_same_file(input, output)?;
    let mut masker = Masker::new(rules, detector, direction)?;
    run_with(
        &mut masker,
        input,
        output,
        format,
        Options {
            strict_fields,
            clear_output: direction == Direction::Unmask,
        },
        progress,
    )?;
    Ok(masker.summary())
}

/// Refuses an output that is the input under another name (`./s.csv`, an absolute path, a
/// symlink or a hard link): writing it would destroy the input before it is read.
fn refuse_same_file(input: &Path, output: &Path) -> Result<(), MaskError> {
    let Ok(out_meta) = std::fs::metadata(output) else {
        // No output yet (or a dangling link, which the rename replaces): nothing to destroy.
        return Ok(());
    };
    let in_meta = std::fs::metadata(input).map_err(|e| MaskError::io(input, e))?;
    #[cfg(unix)]
    let same = {
        use std::os::unix::fs::MetadataExt;
        in_meta.dev() == out_meta.dev() && in_meta.ino() == out_meta.ino()
    };
    #[cfg(not(unix))]
    let same = {
        let _ = (in_meta, out_meta);
        matches!(
            (std::fs::canonicalize(input), std::fs::canonicalize(output)),
            (Ok(a), Ok(b)) if a == b
        )
    };
    if same {
        return Err(MaskError::Usage(format!(
            "output {} is the input file {}; write to another file",
            output.display(),
            input.display()
        )));
    }
    Ok(())
}

/// Whether `output` is written in place rather than through a temporary file renamed over
/// it: `-` (standard output), a path under `/dev/` or `/proc/` (`/dev/stdout`, `/dev/null`),
/// or an existing file that is not a regular one (a FIFO, a device, a socket). Renaming a
/// file over those would replace the device node or pipe itself, and the reader at the other
/// end would get nothing.
/// Whether the input's column names match rules whatever their case (CSV, TSV, Parquet), so
/// that policies on names differing only in case are one field.
fn folds_columns(format: Option<Format>, input: &Path) -> bool {
    matches!(
        format.unwrap_or_else(|| Format::from_path(input)),
        Format::Csv | Format::Tsv | Format::Parquet
    )
}

fn is_stream(output: &Path) -> bool {
    if output == Path::new("-") || output.starts_with("/dev") || output.starts_with("/proc") {
        return true;
    }
    std::fs::metadata(output).is_ok_and(|m| !m.is_file())
}

/// The temporary output of the run under way, for [`remove_pending_output`]. A process
/// killed by a signal skips the removal on drop, and an unmask's temporary file holds clear
/// values.
static PENDING_OUTPUT: std::sync::Mutex<Option<PathBuf>> = std::sync::Mutex::new(None);

fn set_pending_output(path: Option<PathBuf>) {
    *PENDING_OUTPUT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = path;
}

/// Removes the temporary output of the run under way, if any (whether there was one): for a
/// handler of SIGINT and SIGTERM, which then ends the process (the binary installs one for
/// mask and unmask).
pub fn remove_pending_output() -> bool {
    let pending = PENDING_OUTPUT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    match pending {
        Some(path) => {
            // Nothing more can be done about a file that cannot be removed as the process
            // ends.
            let _ = std::fs::remove_file(path);
            true
        }
        None => false,
    }
}

/// Forgets the pending output when a run ends, however it ends (the temporary file is then
/// renamed, or removed on drop).
struct PendingGuard;

impl Drop for PendingGuard {
    fn drop(&mut self) {
        set_pending_output(None);
    }
}

/// Where the output goes.
enum Destination {
    /// A temporary file beside the output, renamed over it on success.
    Replace(tempfile::NamedTempFile),
    /// The output itself, written as the run goes (see [`is_stream`]).
    Stream(File),
}

impl Destination {
    fn open(output: &Path, clear: bool) -> Result<Self, MaskError> {
        if !is_stream(output) {
            let tmp = temporary_output(output, clear)?;
            set_pending_output(Some(tmp.path().to_owned()));
            return Ok(Self::Replace(tmp));
        }
        // Standard output itself (not a new open of /dev/stdout, which would start at offset
        // 0 of a file the shell opened for appending).
        #[cfg(unix)]
        let standard = {
            use std::os::fd::AsFd as _;
            let fd = if output == Path::new("-") || output == Path::new("/dev/stdout") {
                Some(std::io::stdout().as_fd().try_clone_to_owned())
            } else if output == Path::new("/dev/stderr") {
                Some(std::io::stderr().as_fd().try_clone_to_owned())
            } else {
                None
            };
            fd.map(|fd| fd.map(File::from).map_err(|e| MaskError::io(output, e)))
                .transpose()?
        };
        #[cfg(not(unix))]
        let standard: Option<File> = if output == Path::new("-") {
            return Err(MaskError::Usage(
                "-o - (standard output) needs a unix system; give a file".into(),
            ));
        } else {
            None
        };
        let file = if let Some(f) = standard {
            f
        } else {
            // No create, no truncate: a FIFO or device that exists is written as it is.
            File::options()
                .write(true)
                .open(output)
                .map_err(|e| MaskError::io(output, e))?
        };
        Ok(Self::Stream(file))
    }

    fn file(&self) -> &File {
        match self {
            Self::Replace(tmp) => tmp.as_file(),
            Self::Stream(f) => f,
        }
    }

    /// Makes the output final: the temporary file, durable, replaces the destination.
    fn finish(self, output: &Path) -> Result<(), MaskError> {
        match self {
            Self::Replace(tmp) => {
                // Durable before it replaces the destination, so a crash cannot leave an
                // empty file there.
                tmp.as_file()
                    .sync_all()
                    .map_err(|e| MaskError::io(output, e))?;
                tmp.persist(output)
                    .map_err(|e| MaskError::io(output, e.error))?;
                Ok(())
            }
            Self::Stream(_) => Ok(()),
        }
    }
}

/// A temporary file beside `output`, renamed over it only when the run succeeds: a failed run
/// leaves an existing output as it was and no half-written file that could pass for a masked
/// one (the temporary file is removed when dropped).
fn temporary_output(output: &Path, clear: bool) -> Result<tempfile::NamedTempFile, MaskError> {
    let dir = match output.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".palisade-mask-").suffix(".tmp");
    #[cfg(unix)]
    if !clear {
        use std::os::unix::fs::PermissionsExt;
        // The permissions File::create gives (0666 less the umask), not tempfile's 0600. An
        // unmasked output (and the clear view of an exempt principal) keeps tempfile's
        // owner-only 0600: it holds the clear values, and a run killed by a signal (which
        // skips the removal on drop) must not leave them readable by others.
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder.tempfile_in(dir).map_err(|e| MaskError::io(dir, e))
}

/// Runs a prepared [`Masker`] (custom detectors, e.g. palisade-discovery, plug in here).
pub fn run_with(
    masker: &mut Masker,
    input: &Path,
    output: &Path,
    format: Option<Format>,
    opts: Options,
    progress: bool,
) -> Result<(), MaskError> {
    let format = format.unwrap_or_else(|| Format::from_path(input));
    let total = std::fs::metadata(input)
        .map_err(|e| MaskError::io(input, e))?
        .len();
    let mut bar = Progress::new(total, progress);
    let clear = opts.clear_output || masker.direction() == Direction::Unmask;
    let _pending = PendingGuard;
    let tmp = Destination::open(output, clear)?;
    let out = tmp
        .file()
        .try_clone()
        .map_err(|e| MaskError::io(output, e))?;
    if format == Format::Parquet {
        #[cfg(feature = "parquet")]
        {
            formats::parquet::run(masker, input, out, output, opts, &mut bar)?;
        }
        #[cfg(not(feature = "parquet"))]
        {
            drop(out);
            return Err(MaskError::Usage(
                "this build has no parquet support (feature `parquet`)".into(),
            ));
        }
    } else {
        let file = File::open(input).map_err(|e| MaskError::io(input, e))?;
        let reader = BufReader::with_capacity(1 << 16, formats::Counting::new(file, bar.counter()));
        let writer = BufWriter::with_capacity(1 << 16, out);
        match format {
            Format::Csv => formats::csv::run(masker, reader, writer, b',', input, opts, &mut bar)?,
            Format::Tsv => formats::csv::run(masker, reader, writer, b'\t', input, opts, &mut bar)?,
            Format::Jsonl => {
                formats::jsonl::run(masker, reader, writer, input, output, opts, &mut bar)?
            }
            Format::Json => {
                formats::jsonl::run_document(masker, reader, writer, input, output, opts, &mut bar)?
            }
            Format::Text | Format::Parquet => {
                formats::text::run(masker, reader, writer, input, output, &mut bar)?
            }
        }
    }
    masker.unopened_surrogates()?;
    tmp.finish(output)?;
    bar.finish(masker.summary().records);
    Ok(())
}
